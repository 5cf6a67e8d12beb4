"""OpenAI Chat streams: decoding under any chunking, merging rules, endings and errors; the
encoder fed IR events of any origin, read back by the decoder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thinkwire.dialects.openai_chat import CODEC
from thinkwire.dialects.sse import SSEEvent, parse
from thinkwire.errors import DecodeError
from thinkwire.ir import (
    BlockDelta,
    BlockStart,
    BlockStop,
    Image,
    MessageDelta,
    MessageStart,
    MessageStop,
    Opaque,
    Origin,
    RedactedThinking,
    Response,
    SignatureDelta,
    StreamAborted,
    StreamError,
    StreamEvent,
    Text,
    Thinking,
    ThinkingDelta,
    ToolCall,
    Usage,
    fold,
    response_events,
    to_builtins,
)
from thinkwire.laws import cross_dialect_problems

GOLDEN = Path(__file__).parent.parent.parent / "golden" / "openai-chat"
STREAMS = sorted(p.name for p in GOLDEN.iterdir() if (p / "stream.sse").exists())
HEAD = {"id": "chatcmpl-AbC123", "object": "chat.completion.chunk", "created": 1763813340, "model": "gpt-4.1"}


def _decode(chunks: list[bytes]) -> list[StreamEvent]:
    decoder = CODEC.stream_decoder()
    events = [event for sse in parse(chunks) for event in decoder.feed(sse)]
    return events + decoder.close()


def _sse(*chunks: Any) -> bytes:
    return b"".join(f"data: {c if isinstance(c, str) else json.dumps(c)}\n\n".encode() for c in chunks)


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {**HEAD, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


@settings(max_examples=25, deadline=None)
@given(st.sampled_from(STREAMS), st.data())
def test_any_chunking_of_a_golden_stream_gives_the_same_events(case: str, data: st.DataObject) -> None:
    raw = (GOLDEN / case / "stream.sse").read_bytes()
    cuts = sorted(data.draw(st.sets(st.integers(1, len(raw) - 1), max_size=40)))
    chunks = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
    assert _decode(chunks) == _decode([raw])


def test_late_signature_extends_the_block_with_its_index() -> None:
    piece = {"type": "reasoning.text", "format": "anthropic-claude-v1", "index": 0}
    events = _decode(
        [
            _sse(
                _chunk(
                    {
                        "role": "assistant",
                        "reasoning_details": [{**piece, "text": "Let me", "signature": None}],
                    }
                ),
                _chunk({"reasoning_details": [{**piece, "text": " think."}]}),
                _chunk({"reasoning_details": [{**piece, "signature": "EqQBCkgI"}]}),
                _chunk({"content": "Done."}, "stop"),
                "[DONE]",
            )
        ]
    )
    assert BlockDelta(index=0, delta=SignatureDelta("EqQBCkgI")) in events
    thinking, text = fold(events).blocks
    assert isinstance(thinking, Thinking)
    assert (thinking.text, thinking.signature) == ("Let me think.", "EqQBCkgI")
    assert text == Text(text="Done.")


def test_details_with_different_indexes_are_separate_blocks() -> None:
    piece = {"type": "reasoning.text", "format": "google-gemini-v1"}
    events = _decode(
        [
            _sse(
                _chunk(
                    {
                        "reasoning_details": [
                            {**piece, "text": "a", "index": 0},
                            {**piece, "text": "b", "index": 1},
                        ]
                    },
                    "stop",
                )
            )
        ]
    )
    assert [b.text for b in fold(events).blocks if isinstance(b, Thinking)] == ["a", "b"]


def test_parallel_tool_call_fragments_are_keyed_by_index() -> None:
    first = {
        "index": 0,
        "id": "call_a",
        "type": "function",
        "function": {"name": "get_weather", "arguments": ""},
    }
    second = {
        "index": 1,
        "id": "call_b",
        "type": "function",
        "function": {"name": "get_time", "arguments": ""},
    }
    events = _decode(
        [
            _sse(
                _chunk({"role": "assistant", "tool_calls": [first]}),
                _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": '}}]}),
                _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Oslo"}'}}]}),
                _chunk({"tool_calls": [second]}),
                _chunk({"tool_calls": [{"index": 1, "function": {"arguments": '{"tz": "CET"}'}}]}),
                _chunk({}, "tool_calls"),
                "[DONE]",
            )
        ]
    )
    response = fold(events)
    assert response.blocks == (
        ToolCall(id="call_a", name="get_weather", arguments='{"city": "Oslo"}'),
        ToolCall(id="call_b", name="get_time", arguments='{"tz": "CET"}'),
    )
    assert response.stop_reason == "tool_use"


def test_think_tags_cut_across_chunks_give_thinking_then_text() -> None:
    pieces = ["<thi", "nk>\nplan", "</th", "ink>", "\n\nanswer < 3"]
    events = _decode([_sse(*[_chunk({"content": p}) for p in pieces], _chunk({}, "stop"))])
    thinking, text = fold(events).blocks
    assert isinstance(thinking, Thinking)
    assert thinking.text == "\nplan"
    assert thinking.origin is not None
    assert thinking.origin.carrier == "think-tags"
    assert text == Text(text="\n\nanswer < 3")


def test_thinking_resumed_after_a_tool_call_opens_a_new_block() -> None:
    call = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    chunks = [
        _chunk({"content": "<think>abc"}),
        _chunk({"tool_calls": [call]}),
        _chunk({"content": "def</think>ok"}),
        _chunk({}, "stop"),
    ]
    blocks = fold(_decode([_sse(*chunks)])).blocks
    assert [(type(b).__name__, getattr(b, "text", None)) for b in blocks] == [
        ("Thinking", "abc"),
        ("ToolCall", None),
        ("Thinking", "def"),
        ("Text", "ok"),
    ]


def test_reasoning_after_content_starts_a_new_block_in_place() -> None:
    chunks = [
        _chunk({"reasoning": "a"}),
        _chunk({"content": "x"}),
        _chunk({"reasoning": "b"}),
        _chunk({}, "stop"),
    ]
    blocks = fold(_decode([_sse(*chunks)])).blocks
    assert [(type(b).__name__, getattr(b, "text", None)) for b in blocks] == [
        ("Thinking", "a"),
        ("Text", "x"),
        ("Thinking", "b"),
    ]


def test_stream_without_done_is_complete_after_a_finish_reason() -> None:
    events = _decode([_sse(_chunk({"content": "hi"}, "stop"))])
    assert fold(events).blocks == (Text(text="hi"),)


def test_stream_cut_before_any_finish_is_an_error() -> None:
    decoder = CODEC.stream_decoder()
    decoder.feed(SSEEvent(data=json.dumps(_chunk({"content": "partial"}))))
    with pytest.raises(DecodeError, match="stream ended before a finish_reason"):
        decoder.close()


def test_error_chunk_becomes_a_stream_error() -> None:
    error = {"message": "Upstream overloaded", "type": "server_error", "code": 529}
    events = _decode([_sse(_chunk({"content": "par"}), {"error": error})])
    assert events[-1] == StreamError(error=error)
    with pytest.raises(StreamAborted) as caught:
        fold(events)
    assert caught.value.partial.blocks == (Text(text="par"),)


@pytest.mark.parametrize(
    ("data", "path", "message"),
    [
        ("{not json", "events[0]", "malformed JSON"),
        ("[1]", "events[0]", "expected an object"),
        (
            json.dumps({**HEAD, "choices": [{"index": 1, "delta": {"content": "x"}}]}),
            "events[0].choices[0].index",
            "only choice 0",
        ),
        (
            json.dumps(_chunk({"content": 3})),
            "events[0].choices[0].delta.content",
            "expected a string or null",
        ),
        (
            json.dumps(_chunk({"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]})),
            "events[0].choices[0].delta.tool_calls[0].id",
            "required field is missing",
        ),
        (
            json.dumps(_chunk({"reasoning_details": [{"text": "x"}]})),
            "events[0].choices[0].delta.reasoning_details[0].type",
            "required",
        ),
    ],
)
def test_bad_chunks_name_the_event(data: str, path: str, message: str) -> None:
    with pytest.raises(DecodeError) as caught:
        CODEC.stream_decoder().feed(SSEEvent(data=data))
    assert caught.value.path == path
    assert message in caught.value.message


def test_usage_chunk_and_vendor_fields_land_where_the_whole_response_puts_them() -> None:
    usage = {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}
    head = {**HEAD, "system_fingerprint": "fp_44709d6fcb"}
    events = _decode(
        [
            _sse(
                {
                    **head,
                    "choices": [
                        {
                            "index": 0,
                            "delta": {"role": "assistant", "content": ""},
                            "logprobs": None,
                            "finish_reason": None,
                        }
                    ],
                    "usage": None,
                },
                {
                    **head,
                    "choices": [
                        {"index": 0, "delta": {"content": "Hi"}, "logprobs": None, "finish_reason": None}
                    ],
                    "usage": None,
                },
                {
                    **head,
                    "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}],
                    "usage": None,
                },
                {**head, "choices": [], "usage": usage},
                "[DONE]",
            )
        ]
    )
    whole = {
        "id": "chatcmpl-AbC123",
        "object": "chat.completion",
        "created": 1763813340,
        "model": "gpt-4.1",
        "system_fingerprint": "fp_44709d6fcb",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hi"},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": usage,
    }
    assert to_builtins(fold(events)) == to_builtins(CODEC.decode_response(whole))


# ---------------------------------------------------------------------------------------------
# encoding


CLAUDE = Origin(dialect="anthropic", model="claude-sonnet-4-5")
INTERLEAVED = Response(
    id="msg_01",
    model="claude-sonnet-4-5",
    blocks=(
        Thinking(text="Need the forecast.", signature="sigA", origin=CLAUDE),
        ToolCall(id="toolu_1", name="get_forecast", arguments='{"city": "Lisbon"}'),
        Thinking(text="Rain until noon.", signature="sigB", origin=CLAUDE),
        RedactedThinking(data="EmwKAhgB", origin=CLAUDE),
        Text(text="Pack a jacket."),
    ),
    stop_reason="end_turn",
    usage=Usage(input_tokens=20, output_tokens=40),
)


def _reencode(response: Response, carrier: Any) -> tuple[bytes, Response, list[Any]]:
    encoder = CODEC.stream_encoder(carrier=carrier)
    data = b"".join(out for event in response_events(response) for out in encoder.feed(event)) + b"".join(
        encoder.close()
    )
    return data, fold(_decode([data])), list(encoder.losses)


@pytest.mark.parametrize(
    "carrier", [None, "reasoning_content", "reasoning", "reasoning_details", "think-tags"]
)
def test_encoded_stream_reads_back_in_order_with_losses_reported(carrier: Any) -> None:
    _, back, losses = _reencode(INTERLEAVED, carrier)
    problems = cross_dialect_problems((INTERLEAVED.to_message(),), (back.to_message(),), losses)
    assert problems == []
    assert [type(b).__name__ for b in back.blocks if not isinstance(b, RedactedThinking)] == [
        "Thinking",
        "ToolCall",
        "Thinking",
        "Text",
    ]
    kinds = {loss.kind for loss in losses}
    assert kinds == (set() if carrier == "reasoning_details" else {"signature", "redacted"})


def test_details_stream_sends_the_signature_with_the_blocks_index() -> None:
    data, back, losses = _reencode(INTERLEAVED, "reasoning_details")
    assert losses == []
    assert [getattr(b, "signature", None) for b in back.blocks if isinstance(b, Thinking)] == ["sigA", "sigB"]
    chunks = [json.loads(e.data) for e in parse(data) if e.data != "[DONE]"]
    signature_pieces = [
        p
        for c in chunks
        for ch in c["choices"]
        for p in ch["delta"].get("reasoning_details", [])
        if "signature" in p
    ]
    assert [(p["index"], p["signature"]) for p in signature_pieces] == [(0, "sigA"), (1, "sigB")]


def test_encoded_chunks_are_well_formed() -> None:
    data, back, _ = _reencode(INTERLEAVED, None)
    events = list(parse(data))
    assert events[-1].data == "[DONE]"
    chunks = [json.loads(e.data) for e in events[:-1]]
    assert {(c["id"], c["object"], c["model"]) for c in chunks} == {
        ("msg_01", "chat.completion.chunk", "claude-sonnet-4-5")
    }
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant"}
    assert all("role" not in ch["delta"] for c in chunks[1:] for ch in c["choices"])
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {"prompt_tokens": 20, "completion_tokens": 40, "total_tokens": 60}
    assert back.usage == Usage(input_tokens=20, output_tokens=40)


def test_consecutive_thinking_in_one_string_carrier_is_a_shape_loss() -> None:
    response = Response(
        blocks=(Thinking(text="a", origin=CLAUDE), Thinking(text="b", origin=CLAUDE), Text(text="x"))
    )
    _, back, losses = _reencode(response, "reasoning")
    assert [(loss.path, loss.kind) for loss in losses] == [("blocks[1]", "shape")]
    assert [b.text for b in back.blocks if isinstance(b, Thinking)] == ["a\n\nb"]
    whole = CODEC.encode_response(response, carrier="reasoning").value
    assert whole["choices"][0]["message"]["reasoning"] == "a\n\nb"  # streamed and whole agree


def test_thinking_after_a_tool_call_streams_after_a_blank_line_and_reads_back_apart() -> None:
    """A client that accumulates the string reads what the whole response holds; this decoder
    gets the two blocks back as they were."""
    call = ToolCall(id="call_1", name="f", arguments="{}")
    response = Response(blocks=(Thinking(text="a", origin=CLAUDE), call, Thinking(text="b", origin=CLAUDE)))
    wire, back, _ = _reencode(response, "reasoning_content")
    assert [b.text for b in back.blocks if isinstance(b, Thinking)] == ["a", "b"]
    chunks = [json.loads(e.data) for e in parse(wire) if e.data != "[DONE]"]
    accumulated = "".join(
        c["choices"][0]["delta"].get("reasoning_content", "") for c in chunks if c["choices"]
    )
    whole = CODEC.encode_response(response, carrier="reasoning_content").value
    assert accumulated == whole["choices"][0]["message"]["reasoning_content"] == "a\n\nb"


def test_summary_details_stream_back_as_one_summary_block() -> None:
    origin = Origin(
        dialect="openai-chat",
        carrier="reasoning_details",
        model="openai/o4-mini",
        extra={"type": "reasoning.summary", "id": "rs_0a1b", "format": "openai-responses-v1", "index": 0},
    )
    events: list[StreamEvent] = [
        MessageStart(id="gen-1", model="openai/o4-mini"),
        BlockStart(index=0, block=Thinking(text="", origin=origin)),
        BlockDelta(index=0, delta=ThinkingDelta("Compared both plans; ")),
        BlockDelta(index=0, delta=ThinkingDelta("B is cheaper.")),
        BlockStop(index=0),
        MessageDelta(stop_reason="end_turn"),
        MessageStop(),
    ]
    encoder = CODEC.stream_encoder()
    data = b"".join(out for event in events for out in encoder.feed(event))
    assert encoder.losses == []
    assert to_builtins(fold(_decode([data]))) == to_builtins(fold(events))


def test_encoder_writes_a_stream_error() -> None:
    encoder = CODEC.stream_encoder()
    (out,) = encoder.feed(StreamError(error={"message": "overloaded"}))
    assert out == b'data: {"error":{"message":"overloaded"}}\n\n'


def test_blocks_without_a_streamed_form_are_reported() -> None:
    response = Response(
        blocks=(
            Text(text="See:"),
            Image(url="https://example.com/chart.png"),
            Opaque(dialect="anthropic", data={"type": "x"}),
        )
    )
    _, back, losses = _reencode(response, None)
    assert [(loss.path, loss.kind) for loss in losses] == [("blocks[1]", "block"), ("blocks[2]", "block")]
    assert back.blocks == (Text(text="See:"),)


def test_openrouter_mid_stream_error_chunk_with_choices_aborts_with_the_partial_reasoning() -> None:
    error = {"code": "server_error", "message": "Provider disconnected unexpectedly"}
    choice = {"index": 0, "delta": {"content": ""}, "finish_reason": "error"}
    broken = {**HEAD, "error": error, "choices": [choice]}
    thinking = _chunk({"role": "assistant", "reasoning": "Let me think"})
    events = _decode([_sse(thinking, broken, _chunk({"content": "x"}))])
    assert events[-1] == StreamError(error=error)
    with pytest.raises(StreamAborted) as caught:
        fold(events)
    [block] = caught.value.partial.blocks
    assert isinstance(block, Thinking)
    assert block.text == "Let me think"


def test_moonshot_usage_inside_the_last_choice_is_the_usage() -> None:
    usage = {"prompt_tokens": 19, "completion_tokens": 13, "total_tokens": 32, "cached_tokens": 0}
    last = {**HEAD, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop", "usage": usage}]}
    folded = fold(_decode([_sse(_chunk({"role": "assistant", "content": "你好"}), last, "[DONE]")]))
    assert folded.usage is not None
    assert (folded.usage.input_tokens, folded.usage.output_tokens) == (19, 13)
    assert "choices" not in folded.extra.get("openai-chat", {})


def test_choice_usage_that_disagrees_with_the_top_level_usage_is_kept_verbatim() -> None:
    inner = {"prompt_tokens": 19, "completion_tokens": 13, "total_tokens": 32}
    outer = {"prompt_tokens": 19, "completion_tokens": 14, "total_tokens": 33}
    last = {**HEAD, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop", "usage": inner}]}
    trailing = {**HEAD, "choices": [], "usage": outer}
    folded = fold(_decode([_sse(_chunk({"content": "hi"}), last, trailing, "[DONE]")]))
    assert folded.usage is not None
    assert folded.usage.output_tokens == 14
    assert folded.extra["openai-chat"]["choices"] == [{"usage": inner}]
    same = fold(_decode([_sse(_chunk({"content": "hi"}), last, {**trailing, "usage": inner}, "[DONE]")]))
    assert "choices" not in same.extra.get("openai-chat", {})


def test_legacy_function_call_fragments_are_joined() -> None:
    events = _decode(
        [
            _sse(
                _chunk({"content": None, "function_call": {"name": "f", "arguments": ""}}),
                _chunk({"function_call": {"arguments": '{"a"'}}),
                _chunk({"function_call": {"arguments": ": 1}"}}),
                _chunk({}, "function_call"),
            )
        ]
    )
    folded = fold(events)
    assert folded.extra["openai-chat"]["choices"][0]["message"]["function_call"] == {
        "name": "f",
        "arguments": '{"a": 1}',
    }


def test_summary_then_encrypted_with_the_same_index_are_two_blocks() -> None:
    head = {"id": "rs_1", "format": "openai-responses-v1", "index": 0}
    events = _decode(
        [
            _sse(
                _chunk({"reasoning_details": [{"type": "reasoning.summary", "summary": "Compare ", **head}]}),
                _chunk({"reasoning_details": [{"type": "reasoning.summary", "summary": "parts.", **head}]}),
                _chunk({"reasoning_details": [{"type": "reasoning.encrypted", "data": "gAAA", **head}]}),
                _chunk({"content": "9.9"}, "stop"),
            )
        ]
    )
    thinking, redacted, text = fold(events).blocks
    assert isinstance(thinking, Thinking)
    assert thinking.text == "Compare parts."
    assert isinstance(redacted, RedactedThinking)
    assert redacted.data == "gAAA"
    assert text == Text(text="9.9")
