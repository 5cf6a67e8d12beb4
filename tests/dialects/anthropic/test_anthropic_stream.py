"""Anthropic streams: decoding incrementally, folding to the whole response, encoding back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thinkwire.dialects.anthropic import CODEC
from thinkwire.dialects.sse import SSEEvent, parse
from thinkwire.errors import DecodeError
from thinkwire.ir import (
    ArgumentsDelta,
    BlockDelta,
    BlockStart,
    BlockStop,
    MessageDelta,
    MessageStart,
    MessageStop,
    Opaque,
    Origin,
    Ping,
    RedactedThinking,
    Response,
    SignatureDelta,
    StreamAborted,
    StreamError,
    StreamEvent,
    Text,
    TextDelta,
    Thinking,
    ThinkingDelta,
    ToolCall,
    Usage,
    fold,
    response_events,
)
from thinkwire.laws import with_canonical_arguments

GOLDEN = Path(__file__).parents[2] / "golden" / "anthropic"
STREAM_CASES = sorted(p.name for p in GOLDEN.iterdir() if (p / "stream.sse").exists())

START: dict[str, Any] = {
    "type": "message_start",
    "message": {
        "id": "msg_01Tz6PqR1kXw8vN4mLbJc2Ha",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 20, "output_tokens": 1},
    },
}
END: list[dict[str, Any]] = [
    {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": {"output_tokens": 9},
    },
    {"type": "message_stop"},
]


def _sse(*events: dict[str, Any]) -> bytes:
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


def _start(index: int, block: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_start", "index": index, "content_block": block}


def _delta(index: int, delta: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": delta}


def _stop(index: int) -> dict[str, Any]:
    return {"type": "content_block_stop", "index": index}


def _decode(data: bytes, chunks: list[bytes] | None = None) -> list[StreamEvent]:
    decoder = CODEC.stream_decoder()
    events: list[StreamEvent] = []
    for sse in parse(chunks if chunks is not None else [data]):
        events += decoder.feed(sse)
    return events + decoder.close()


def _encode(events: list[StreamEvent]) -> tuple[bytes, list[Any]]:
    encoder = CODEC.stream_encoder()
    data = b"".join(b for event in events for b in encoder.feed(event)) + b"".join(encoder.close())
    return data, encoder.losses


def _wire_events(data: bytes) -> list[dict[str, Any]]:
    out = []
    for sse in parse(data):
        payload = json.loads(sse.data)
        assert sse.event == payload["type"]
        out.append(payload)
    return out


def _normalised(response: Response) -> Any:
    """Tool input arrives as an object whole but as JSON text when streamed: compare parsed."""
    return with_canonical_arguments(response)


# -- decoding -----------------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(data=st.data())
@pytest.mark.parametrize("case", STREAM_CASES)
def test_any_chunking_gives_the_same_events(case: str, data: st.DataObject) -> None:
    raw = (GOLDEN / case / "stream.sse").read_bytes()
    cuts = sorted(data.draw(st.sets(st.integers(1, len(raw) - 1), max_size=40)))
    chunks = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
    assert _decode(raw, chunks) == _decode(raw)


def test_crlf_line_ends_decode_the_same() -> None:
    raw = (GOLDEN / "interleaved_tools" / "stream.sse").read_bytes()
    assert _decode(raw.replace(b"\n", b"\r\n")) == _decode(raw)


def test_interleaved_blocks_keep_their_order_and_own_signatures() -> None:
    events = _decode((GOLDEN / "interleaved_tools" / "stream.sse").read_bytes())
    starts = [e.block for e in events if isinstance(e, BlockStart)]
    assert [type(b) for b in starts] == [Thinking, ToolCall, Thinking, ToolCall, Text]
    signatures = [
        (e.index, e.delta.signature[:8])
        for e in events
        if isinstance(e, BlockDelta) and isinstance(e.delta, SignatureDelta)
    ]
    assert signatures == [(0, "EqoBCkgI"), (2, "EpMCCkgI")]
    assert sum(isinstance(e, Ping) for e in events) == 2


def test_deltas_are_passed_on_as_they_arrive() -> None:
    decoder = CODEC.stream_decoder(provider="anthropic")
    assert decoder.feed(SSEEvent(json.dumps(START), "message_start")) == [
        MessageStart(
            id="msg_01Tz6PqR1kXw8vN4mLbJc2Ha",
            model="claude-sonnet-4-5",
            usage=Usage(input_tokens=20, output_tokens=1),
        )
    ]
    origin = Origin(dialect="anthropic", provider="anthropic", model="claude-sonnet-4-5")
    start = _start(0, {"type": "thinking", "thinking": "", "signature": ""})
    assert decoder.feed(SSEEvent(json.dumps(start))) == [
        BlockStart(index=0, block=Thinking(text="", origin=origin))
    ]
    delta = _delta(0, {"type": "thinking_delta", "thinking": "first"})
    assert decoder.feed(SSEEvent(json.dumps(delta))) == [BlockDelta(index=0, delta=ThinkingDelta("first"))]


def test_omitted_thinking_is_started_even_with_no_thinking_delta() -> None:
    events = _decode((GOLDEN / "omitted_thinking" / "stream.sse").read_bytes())
    response = fold(events)
    first = response.blocks[0]
    assert isinstance(first, Thinking)
    assert first.text == ""
    assert first.signature is not None
    assert first.signature.startswith("EuYBCkYI")


def test_a_thinking_start_without_signature_placeholder_is_accepted() -> None:
    raw = _sse(
        START,
        _start(0, {"type": "thinking", "thinking": ""}),
        _delta(0, {"type": "thinking_delta", "thinking": "hm"}),
        _delta(0, {"type": "signature_delta", "signature": "c2ln"}),
        _stop(0),
        *END,
    )
    block = fold(_decode(raw)).blocks[0]
    assert isinstance(block, Thinking)
    assert (block.text, block.signature) == ("hm", "c2ln")


def test_unsigned_thinking_with_a_placeholder_signature_stays_unsigned() -> None:
    # ``"signature": ""`` is the start's placeholder; with no ``signature_delta`` (a response
    # cut off inside its thinking, or a server that signs nothing) the block is unsigned, as
    # an unsigned block written by the encoder (which always opens with the placeholder) reads back
    raw = _sse(
        START,
        _start(0, {"type": "thinking", "thinking": "", "signature": ""}),
        _delta(0, {"type": "thinking_delta", "thinking": "x"}),
        _stop(0),
        *END,
    )
    block = fold(_decode(raw)).blocks[0]
    assert isinstance(block, Thinking)
    assert block.signature is None


def test_unsigned_thinking_from_a_compatible_server_stays_unsigned() -> None:
    # DeepSeek's /anthropic stream opens thinking with no signature field at all
    raw = _sse(
        START,
        _start(0, {"type": "thinking", "thinking": ""}),
        _delta(0, {"type": "thinking_delta", "thinking": "x"}),
        _stop(0),
        *END,
    )
    block = fold(_decode(raw)).blocks[0]
    assert isinstance(block, Thinking)
    assert block.signature is None


def test_tool_call_with_no_input_deltas_has_empty_object_arguments() -> None:
    raw = _sse(
        START, _start(0, {"type": "tool_use", "id": "toolu_1", "name": "now", "input": {}}), _stop(0), *END
    )
    assert fold(_decode(raw)).blocks == (ToolCall(id="toolu_1", name="now", arguments="{}"),)


def test_cited_text_is_held_and_emitted_whole_with_its_citations() -> None:
    citation = {
        "type": "web_search_result_location",
        "url": "https://example.com/lisbon",
        "title": "Lisbon weather",
        "encrypted_index": "Eo8BCioIAhgB",
        "cited_text": "Showers are expected Friday morning.",
    }
    raw = _sse(
        START,
        _start(0, {"type": "text", "text": "", "citations": []}),
        _delta(0, {"type": "citations_delta", "citation": citation}),
        _delta(0, {"type": "text_delta", "text": "Expect showers "}),
        _delta(0, {"type": "text_delta", "text": "on Friday morning."}),
        _stop(0),
        *END,
    )
    events = _decode(raw)
    cited = Text(text="Expect showers on Friday morning.", extra={"anthropic": {"citations": [citation]}})
    assert fold(events).blocks == (cited,)
    whole = {
        "id": "msg_01Tz6PqR1kXw8vN4mLbJc2Ha",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [{"type": "text", "text": cited.text, "citations": [citation]}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 20, "output_tokens": 9},
    }
    assert fold(events) == CODEC.decode_response(whole)
    data, losses = _encode(events)
    assert losses == []
    assert [e["delta"]["type"] for e in _wire_events(data) if e["type"] == "content_block_delta"] == [
        "citations_delta",
        "text_delta",
    ]
    assert fold(_decode(data)) == fold(events)


def test_server_tool_use_input_is_assembled_into_the_opaque_block() -> None:
    raw = _sse(
        START,
        _start(0, {"type": "server_tool_use", "id": "srvtoolu_014hJH82", "name": "web_search", "input": {}}),
        _delta(0, {"type": "input_json_delta", "partial_json": ""}),
        _delta(0, {"type": "input_json_delta", "partial_json": '{"query": "lisbon'}),
        _delta(0, {"type": "input_json_delta", "partial_json": ' weather friday"}'}),
        _stop(0),
        _start(1, {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_014hJH82", "content": []}),
        _stop(1),
        *END,
    )
    events = _decode(raw)
    assert fold(events).blocks == (
        Opaque(
            dialect="anthropic",
            data={
                "type": "server_tool_use",
                "id": "srvtoolu_014hJH82",
                "name": "web_search",
                "input": {"query": "lisbon weather friday"},
            },
        ),
        Opaque(
            dialect="anthropic",
            data={"type": "web_search_tool_result", "tool_use_id": "srvtoolu_014hJH82", "content": []},
        ),
    )
    data, losses = _encode(events)
    assert losses == []
    assert fold(_decode(data)) == fold(events)


def test_error_event_mid_stream_is_passed_on_and_fold_reports_what_arrived() -> None:
    raw = _sse(
        START,
        _start(0, {"type": "thinking", "thinking": "", "signature": ""}),
        _delta(0, {"type": "thinking_delta", "thinking": "Let me think about"}),
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
    )
    events = _decode(raw)  # close() does not complain: the stream said why it ended
    assert events[-1] == StreamError(error={"type": "overloaded_error", "message": "Overloaded"})
    with pytest.raises(StreamAborted) as info:
        fold(events)
    assert info.value.partial.blocks[0] == Thinking(
        text="Let me think about", origin=Origin(dialect="anthropic", model="claude-sonnet-4-5")
    )
    data, _ = _encode(events)
    assert _wire_events(data)[-1] == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }


def test_stream_cut_short_is_an_error_at_close() -> None:
    raw = _sse(
        START, _start(0, {"type": "text", "text": ""}), _delta(0, {"type": "text_delta", "text": "Hel"})
    )
    with pytest.raises(DecodeError) as info:
        _decode(raw)
    assert (info.value.path, info.value.message) == ("", "stream ended before message_stop")


def test_unknown_event_types_are_ignored_and_unknown_stop_reason_kept() -> None:
    raw = _sse(
        START,
        {"type": "future_keepalive", "seq": 3},
        _start(0, {"type": "text", "text": ""}),
        _delta(0, {"type": "text_delta", "text": "ok"}),
        _stop(0),
        {
            "type": "message_delta",
            "delta": {"stop_reason": "model_context_window_exceeded", "stop_sequence": None},
            "usage": {"output_tokens": 2},
        },
        {"type": "message_stop"},
    )
    response = fold(_decode(raw))
    assert response.stop_reason is None
    assert response.extra == {"anthropic": {"stop_reason": "model_context_window_exceeded"}}
    data, losses = _encode(_decode(raw))
    assert losses == []
    assert _wire_events(data)[-2]["delta"]["stop_reason"] == "model_context_window_exceeded"


def test_message_stop_closes_blocks_a_sloppy_upstream_left_open() -> None:
    raw = _sse(
        START, _start(0, {"type": "text", "text": ""}), _delta(0, {"type": "text_delta", "text": "hi"}), *END
    )
    events = _decode(raw)
    assert events[-2:] == [BlockStop(index=0), MessageStop()]
    assert fold(events).blocks == (Text(text="hi"),)


@pytest.mark.parametrize(
    ("events", "path", "message"),
    [
        (
            [_start(0, {"type": "text", "text": ""})],
            "events[0].type",
            "content_block_start before message_start",
        ),
        (
            [
                START,
                _start(0, {"type": "text", "text": ""}),
                _delta(0, {"type": "thinking_delta", "thinking": "x"}),
            ],
            "events[2].delta.type",
            "thinking_delta in a text block",
        ),
        (
            [START, _start(0, {"type": "text", "text": ""}), _delta(0, {"type": "sparkle_delta", "x": 1})],
            "events[2].delta.type",
            "unknown delta type 'sparkle_delta'",
        ),
        (
            [
                START,
                _start(0, {"type": "text", "text": ""}),
                _delta(0, {"type": "text_delta", "text": "x"}),
                _delta(0, {"type": "citations_delta", "citation": {}}),
            ],
            "events[3].delta.type",
            "citations_delta after text in a block whose start declared no citations",
        ),
        (
            [START, _delta(4, {"type": "text_delta", "text": "x"})],
            "events[1].index",
            "no open content block with index 4",
        ),
        (
            [
                START,
                _start(0, {"type": "text", "text": ""}),
                _stop(0),
                _start(0, {"type": "text", "text": ""}),
            ],
            "events[3].index",
            "content block 0 started twice",
        ),
        (
            [
                START,
                _start(0, {"type": "thinking", "thinking": ""}),
                _delta(0, {"type": "signature_delta", "signature": 42}),
            ],
            "events[2].delta.signature",
            "expected a string, got the number 42",
        ),
        (
            [START, _start(0, {"type": "tool_use", "id": "t", "name": "f", "input": []})],
            "events[1].content_block.input",
            "expected an object, got an array",
        ),
        (
            [
                START,
                _start(0, {"type": "server_tool_use", "id": "s", "name": "web_search", "input": {}}),
                _delta(0, {"type": "input_json_delta", "partial_json": '{"query": '}),
                _stop(0),
            ],
            "events[3]",
            "malformed input JSON in block 0: unexpected end of data: line 1 column 11 (char 10)",
        ),
        (
            [START, {"type": "message_stop"}, _start(0, {"type": "text", "text": ""})],
            "events[2].type",
            "content_block_start after message_stop",
        ),
        ([START, START], "events[1].type", "a second message_start"),
    ],
)
def test_malformed_streams_name_the_event_and_field(
    events: list[dict[str, Any]], path: str, message: str
) -> None:
    with pytest.raises(DecodeError) as info:
        _decode(_sse(*events))
    assert (info.value.path, info.value.message) == (path, message)


def test_malformed_json_in_an_event() -> None:
    decoder = CODEC.stream_decoder()
    with pytest.raises(DecodeError) as info:
        decoder.feed(SSEEvent('{"type": "ping"', "ping"))
    assert info.value.path == "events[0]"
    assert info.value.message.startswith("malformed JSON")


# -- encoding -----------------------------------------------------------------------------------

ORIGIN = Origin(dialect="anthropic", model="claude-sonnet-4-5")
INTERLEAVED = Response(
    id="msg_01Hv4QxW8nT3mZkR2pLbYc9E",
    model="claude-sonnet-4-5",
    blocks=(
        Thinking(text="plan A", signature="c2lnLTE=", origin=ORIGIN),
        ToolCall(id="toolu_1", name="f", arguments='{"a":1}'),
        Thinking(text="", signature="c2lnLW9taXR0ZWQ=", origin=ORIGIN),
        RedactedThinking(data="cmVkYWN0ZWQ=", origin=ORIGIN),
        ToolCall(id="toolu_2", name="g", arguments="{}"),
        Text(text="done"),
    ),
    stop_reason="tool_use",
    usage=Usage(input_tokens=10, output_tokens=20),
)


def test_response_events_encode_and_decode_back_to_the_response() -> None:
    data, losses = _encode(response_events(INTERLEAVED))
    assert losses == []
    assert fold(_decode(data)) == INTERLEAVED


def test_encoded_stream_follows_the_api_event_sequence() -> None:
    data, _ = _encode(response_events(INTERLEAVED))
    wire = _wire_events(data)
    assert wire[0]["message"] == {
        "id": "msg_01Hv4QxW8nT3mZkR2pLbYc9E",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 0, "output_tokens": 0},
    }
    starts = [e["content_block"] for e in wire if e["type"] == "content_block_start"]
    assert starts[0] == {"type": "thinking", "thinking": "", "signature": ""}
    assert starts[1] == {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}
    assert starts[3] == {"type": "redacted_thinking", "data": "cmVkYWN0ZWQ="}
    block0 = [e["type"] + ":" + e.get("delta", {}).get("type", "") for e in wire if e.get("index") == 0]
    assert block0 == [
        "content_block_start:",
        "content_block_delta:thinking_delta",
        "content_block_delta:signature_delta",
        "content_block_stop:",
    ]
    assert [e["type"] for e in wire[-2:]] == ["message_delta", "message_stop"]
    assert wire[-2] == {
        "type": "message_delta",
        "delta": {"stop_reason": "tool_use", "stop_sequence": None},
        "usage": {"input_tokens": 10, "output_tokens": 20},
    }


def test_signature_pieces_are_sent_as_one_delta_just_before_the_stop() -> None:
    events: list[StreamEvent] = [
        MessageStart(id="m", model="x", usage=Usage(input_tokens=1, output_tokens=1)),
        BlockStart(index=0, block=Thinking(text="", origin=ORIGIN)),
        BlockDelta(index=0, delta=SignatureDelta("c2ln")),
        BlockDelta(index=0, delta=ThinkingDelta("late text")),
        BlockDelta(index=0, delta=SignatureDelta("LTI=")),
        BlockStop(index=0),
        MessageStop(),
    ]
    data, _ = _encode(events)
    deltas = [e["delta"] for e in _wire_events(data) if e["type"] == "content_block_delta"]
    assert deltas == [
        {"type": "thinking_delta", "thinking": "late text"},
        {"type": "signature_delta", "signature": "c2lnLTI="},
    ]


def test_foreign_reasoning_in_a_stream_loses_only_what_anthropic_cannot_hold() -> None:
    responses = Origin(dialect="openai-responses")
    response = Response(
        id="resp_1",
        model="gpt-5",
        blocks=(
            RedactedThinking(data="gAAAAABo-encrypted", origin=responses),
            Thinking(text="think", signature="gAAAAABo-sig", origin=responses),
            Opaque(dialect="openai-responses", data={"type": "web_search_call", "id": "ws_1"}),
            Text(text="answer"),
        ),
        stop_reason="end_turn",
        usage=Usage(input_tokens=3, output_tokens=4),
    )
    data, losses = _encode(response_events(response))
    assert [(loss.path, loss.kind) for loss in losses] == [
        ("blocks[0]", "redacted"),
        ("blocks[1]", "signature"),
        ("blocks[2]", "block"),
    ]
    wire = _wire_events(data)
    assert [e["index"] for e in wire if e["type"] == "content_block_start"] == [0, 1]
    assert "gAAAAABo" not in data.decode()
    assert fold(_decode(data)).blocks == (
        Thinking(text="think", origin=Origin(dialect="anthropic", model="gpt-5")),
        Text(text="answer"),
    )


def test_several_message_deltas_become_one_before_message_stop() -> None:
    events: list[StreamEvent] = [
        MessageStart(id="chatcmpl-1", model="deepseek-reasoner"),
        BlockStart(index=0, block=Text(text="")),
        BlockDelta(index=0, delta=TextDelta("hi")),
        BlockStop(index=0),
        MessageDelta(stop_reason="end_turn"),
        MessageDelta(usage=Usage(input_tokens=5, output_tokens=2)),
        MessageStop(),
    ]
    data, losses = _encode(events)
    assert losses == []
    wire = _wire_events(data)
    assert [e for e in wire if e["type"] == "message_delta"] == [
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"input_tokens": 5, "output_tokens": 2},
        }
    ]


def test_unknown_usage_is_written_as_zero_and_reported() -> None:
    events: list[StreamEvent] = [MessageStart(id="m"), MessageDelta(stop_reason="end_turn"), MessageStop()]
    data, losses = _encode(events)
    assert [(loss.path, loss.kind) for loss in losses] == [
        ("usage.input_tokens", "value"),
        ("usage.output_tokens", "value"),
    ]
    assert _wire_events(data)[-2]["usage"] == {"input_tokens": 0, "output_tokens": 0}


def test_invalid_streamed_tool_arguments_are_reported() -> None:
    events: list[StreamEvent] = [
        MessageStart(id="m", usage=Usage(input_tokens=1, output_tokens=1)),
        BlockStart(index=0, block=ToolCall(id="call_1", name="f", arguments="")),
        BlockDelta(index=0, delta=ArgumentsDelta('{"a": ')),
        BlockStop(index=0),
        MessageStop(),
    ]
    _, losses = _encode(events)
    assert [(loss.path, loss.kind) for loss in losses] == [("blocks[0]", "value")]


def test_a_missing_message_start_is_written_before_the_first_content() -> None:
    data, _ = _encode([Ping(), BlockStart(index=0, block=Text(text="x")), BlockStop(index=0), MessageStop()])
    assert [e["type"] for e in _wire_events(data)] == [
        "ping",
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]


@pytest.mark.parametrize("case", STREAM_CASES)
def test_golden_streams_survive_a_re_encode(case: str) -> None:
    events = _decode((GOLDEN / case / "stream.sse").read_bytes())
    data, losses = _encode(events)
    assert losses == []
    assert _normalised(fold(_decode(data))) == _normalised(fold(events))
    whole = CODEC.decode_response(json.loads((GOLDEN / case / "response.json").read_text()))
    assert _normalised(fold(events)) == _normalised(whole)


def test_events_are_written_exactly_as_sse_format_event_would() -> None:
    from thinkwire.dialects.anthropic.stream_encoder import _event
    from thinkwire.dialects.sse import format_event

    payload = {
        "type": "content_block_delta",
        "index": 3,
        "delta": {"type": "text_delta", "text": "a\nb \u00e9\u2028"},
    }
    assert _event(payload) == format_event(
        json.dumps(payload, ensure_ascii=False, separators=(",", ":")), "content_block_delta"
    )


def test_citations_before_any_text_of_an_undeclared_text_block_join_its_start() -> None:
    # a text block that opens without ``citations`` and gets them before its first text
    citation = {"type": "web_search_result_location", "url": "https://example.org/a", "title": "A"}
    raw = _sse(
        START,
        _start(0, {"type": "text", "text": ""}),
        _delta(0, {"type": "citations_delta", "citation": citation}),
        _delta(0, {"type": "text_delta", "text": "Rain "}),
        _delta(0, {"type": "text_delta", "text": "on Friday."}),
        _stop(0),
        *END,
    )
    events = _decode(raw)
    starts = [e for e in events if isinstance(e, BlockStart)]
    assert starts == [
        BlockStart(index=0, block=Text(text="", extra={"anthropic": {"citations": [citation]}}))
    ]
    # the text still streams delta by delta
    assert [e.delta for e in events if isinstance(e, BlockDelta)] == [
        TextDelta("Rain "),
        TextDelta("on Friday."),
    ]
    assert fold(events).blocks == (
        Text(text="Rain on Friday.", extra={"anthropic": {"citations": [citation]}}),
    )


def test_a_text_block_with_no_deltas_still_starts_and_stops() -> None:
    raw = _sse(START, _start(0, {"type": "text", "text": ""}), _stop(0), *END)
    assert fold(_decode(raw)).blocks == (Text(text=""),)
