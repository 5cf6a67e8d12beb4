"""OpenAI Responses streams: decoding typed events, re-encoding, robustness, chunking."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thinkwire.dialects.openai_responses import CODEC
from thinkwire.dialects.sse import parse
from thinkwire.errors import DecodeError
from thinkwire.ir import (
    BlockDelta,
    BlockStart,
    Origin,
    RedactedThinking,
    Response,
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
)

GOLDEN = Path(__file__).parents[2] / "golden" / "openai-responses"
STREAMS = sorted(p.name for p in GOLDEN.iterdir() if (p / "stream.sse").exists())


def decode(chunks: bytes | list[bytes], provider: str | None = None) -> list[StreamEvent]:
    decoder = CODEC.stream_decoder(provider=provider)
    events: list[StreamEvent] = []
    for sse in parse(chunks):
        events += decoder.feed(sse)
    return events + decoder.close()


def encode(events: list[StreamEvent]) -> tuple[bytes, list[Any]]:
    encoder = CODEC.stream_encoder()
    data = b"".join(out for event in events for out in encoder.feed(event)) + b"".join(encoder.close())
    return data, encoder.losses


def sse(*events: dict[str, Any]) -> bytes:
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


def golden(case: str) -> tuple[bytes, dict[str, Any]]:
    return (GOLDEN / case / "stream.sse").read_bytes(), json.loads(
        (GOLDEN / case / "response.json").read_text()
    )


SHELL = {
    "id": "resp_1",
    "object": "response",
    "created_at": 1,
    "status": "in_progress",
    "model": "gpt-5",
    "output": [],
}


def completed(*output: dict[str, Any], status: str = "completed") -> dict[str, Any]:
    return {"type": f"response.{status}", "response": {**SHELL, "status": status, "output": list(output)}}


CREATED = {"type": "response.created", "response": SHELL}


# ---------------------------------------------------------------- golden streams


@settings(max_examples=40, deadline=None)
@given(case=st.sampled_from(STREAMS), cuts=st.lists(st.integers(min_value=0), max_size=30))
def test_decoding_does_not_depend_on_how_the_bytes_are_chunked(case: str, cuts: list[int]) -> None:
    data, _ = golden(case)
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    chunks = [data[a:b] for a, b in itertools.pairwise(points)]
    assert decode(chunks) == decode(data)


def test_one_byte_at_a_time() -> None:
    data, _ = golden("interleaved")
    assert decode([data[i : i + 1] for i in range(len(data))]) == decode(data)


def test_summary_parts_are_joined_as_in_the_whole_response() -> None:
    data, wire = golden("reasoning_summary_message")
    events = decode(data)
    thinking = fold(events).blocks[0]
    assert isinstance(thinking, Thinking)
    assert thinking.text == CODEC.decode_response(wire).blocks[0].text  # type: ignore[union-attr]
    assert BlockDelta(index=0, delta=ThinkingDelta("\n\n")) in events


@pytest.mark.parametrize("case", STREAMS)
def test_the_encoder_writes_the_api_sequence_and_the_whole_response(case: str) -> None:
    """Streaming a decoded response yields created, in_progress, ..., and a final event that
    carries exactly the response the non-streamed encoder writes."""
    _, wire = golden(case)
    data, losses = encode(response_events(CODEC.decode_response(wire)))
    events = [json.loads(e.data) for e in parse(data)]
    assert [e.event for e in parse(data)] == [e["type"] for e in events]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert [e["type"] for e in events[:2]] == ["response.created", "response.in_progress"]
    assert events[0]["response"]["status"] == "in_progress"
    assert events[0]["response"]["output"] == []
    assert events[-1]["type"] == f"response.{wire['status']}"
    assert events[-1]["response"] == wire
    assert losses == []


def test_several_summary_parts_are_streamed_as_parts() -> None:
    _, wire = golden("reasoning_summary_message")
    data, _ = encode(response_events(CODEC.decode_response(wire)))
    added = [json.loads(e.data) for e in parse(data) if e.event == "response.reasoning_summary_part.added"]
    assert [e["summary_index"] for e in added] == [0, 1]


# ---------------------------------------------------------------- what servers actually send


def test_items_sent_whole_without_deltas() -> None:
    reasoning: dict[str, Any] = {
        "id": "rs_1",
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": "**Plan**\n\nLook up."}],
    }
    call: dict[str, Any] = {
        "id": "fc_1",
        "type": "function_call",
        "status": "completed",
        "call_id": "call_1",
        "name": "f",
        "arguments": '{"q":1}',
    }
    msg: dict[str, Any] = {
        "id": "msg_1",
        "type": "message",
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "annotations": [], "text": "Looking."}],
    }
    items = []
    for n, item in enumerate((reasoning, call, msg)):
        added = {**item, "status": "in_progress"} if "status" in item else item
        items += [
            {"type": "response.output_item.added", "output_index": n, "item": added},
            {"type": "response.output_item.done", "output_index": n, "item": item},
        ]
    final = completed(reasoning, call, msg)
    assert fold(decode(sse(CREATED, *items, final))) == CODEC.decode_response(final["response"])


def test_a_done_event_completes_text_the_deltas_missed() -> None:
    msg = {"id": "msg_1", "type": "message", "status": "completed", "role": "assistant", "content": []}
    part = {"type": "output_text", "annotations": [], "text": ""}
    events = decode(
        sse(
            CREATED,
            {
                "type": "response.output_item.added",
                "output_index": 0,
                "item": {**msg, "status": "in_progress"},
            },
            {
                "type": "response.content_part.added",
                "item_id": "msg_1",
                "output_index": 0,
                "content_index": 0,
                "part": part,
            },
            {
                "type": "response.output_text.delta",
                "item_id": "msg_1",
                "output_index": 0,
                "content_index": 0,
                "delta": "Hel",
            },
            {
                "type": "response.output_text.done",
                "item_id": "msg_1",
                "output_index": 0,
                "content_index": 0,
                "text": "Hello",
            },
            completed(),
        )
    )
    assert fold(events).blocks == (
        Text(
            text="Hello",
            extra={
                "openai-responses": {
                    "annotations": [],
                    "item": {"id": "msg_1", "type": "message", "status": "completed"},
                }
            },
        ),
    )


def test_a_done_event_that_contradicts_the_deltas_is_an_error() -> None:
    call = {
        "id": "fc_1",
        "type": "function_call",
        "status": "in_progress",
        "call_id": "c",
        "name": "f",
        "arguments": "",
    }
    data = sse(
        CREATED,
        {"type": "response.output_item.added", "output_index": 0, "item": call},
        {
            "type": "response.function_call_arguments.delta",
            "item_id": "fc_1",
            "output_index": 0,
            "delta": '{"a":',
        },
        {
            "type": "response.function_call_arguments.done",
            "item_id": "fc_1",
            "output_index": 0,
            "arguments": '{"b":2}',
        },
    )
    with pytest.raises(DecodeError) as info:
        decode(data)
    assert info.value.path == "response.function_call_arguments.done"


def test_the_final_encrypted_content_wins_over_an_early_one() -> None:
    early = {"id": "rs_1", "type": "reasoning", "summary": [], "encrypted_content": "gAAAA-early"}
    final = {**early, "encrypted_content": "gAAAA-final"}
    events = decode(
        sse(
            CREATED,
            {"type": "response.output_item.added", "output_index": 0, "item": early},
            {"type": "response.output_item.done", "output_index": 0, "item": final},
            completed(final),
        )
    )
    block = fold(events).blocks[0]
    assert isinstance(block, RedactedThinking)
    assert block.data == "gAAAA-final"


def test_a_minimal_server_stream_with_raw_reasoning_text() -> None:
    """llama.cpp-style: no output_index, no part events, reasoning as reasoning_text deltas."""
    added = {
        "id": "rs_x",
        "summary": [],
        "type": "reasoning",
        "content": [],
        "encrypted_content": "",
        "status": "in_progress",
    }
    final = {**added, "content": [{"type": "reasoning_text", "text": "Think. More."}], "status": "completed"}
    msg = {"id": "msg_x", "type": "message", "status": "in_progress", "role": "assistant", "content": []}
    events = decode(
        sse(
            {
                "type": "response.created",
                "response": {"id": "resp_x", "object": "response", "status": "in_progress"},
            },
            {"type": "response.output_item.added", "item": added},
            {"type": "response.reasoning_text.delta", "delta": "Think.", "item_id": "rs_x"},
            {"type": "response.reasoning_text.delta", "delta": " More.", "item_id": "rs_x"},
            {"type": "response.output_item.done", "item": final},
            {"type": "response.output_item.added", "item": msg},
            {"type": "response.output_text.delta", "delta": "Hi", "item_id": "msg_x"},
            {
                "type": "response.output_item.done",
                "item": {**msg, "status": "completed", "content": [{"type": "output_text", "text": "Hi"}]},
            },
            {
                "type": "response.completed",
                "response": {"id": "resp_x", "object": "response", "status": "completed"},
            },
        )
    )
    thinking, text = fold(events).blocks
    assert isinstance(thinking, Thinking)
    assert (thinking.text, thinking.signature) == ("Think. More.", "")
    assert thinking.origin is not None
    assert thinking.origin.extra == {
        "id": "rs_x",
        "status": "completed",
        "source": "content",
    }
    assert isinstance(text, Text)
    assert text.text == "Hi"


def test_a_stream_that_only_sends_the_final_response() -> None:
    call = {
        "id": "fc_1",
        "type": "function_call",
        "status": "completed",
        "call_id": "c",
        "name": "f",
        "arguments": "{}",
    }
    final = completed({"id": "rs_1", "type": "reasoning", "summary": [], "encrypted_content": "gAAAA"}, call)
    assert fold(decode(sse(CREATED, final))) == CODEC.decode_response(final["response"])


def test_an_error_event_aborts_the_stream() -> None:
    error = {
        "type": "error",
        "code": "server_error",
        "message": "The server had an error.",
        "param": None,
        "sequence_number": 3,
    }
    events = decode(sse(CREATED, error))
    assert events[-1] == StreamError(
        error={"code": "server_error", "message": "The server had an error.", "param": None}
    )
    with pytest.raises(StreamAborted):
        fold(events)


def test_a_stream_cut_short_is_an_error() -> None:
    with pytest.raises(DecodeError, match=r"stream ended before response\.completed"):
        decode(sse(CREATED))


def test_malformed_event_data_is_an_error() -> None:
    with pytest.raises(DecodeError, match="malformed JSON"):
        decode(b"event: response.created\ndata: {not json\n\n")


def test_unknown_events_and_done_markers_are_ignored() -> None:
    events = decode(
        sse(
            CREATED,
            {"type": "response.web_search_call.searching", "item_id": "ws_1", "output_index": 0},
            completed(),
        )
        + b"data: [DONE]\n\n"
    )
    assert fold(events).blocks == ()


# ---------------------------------------------------------------- encoding other dialects' streams


def test_a_foreign_response_streams_to_what_the_whole_encoding_decodes_to() -> None:
    claude = Origin(dialect="anthropic", model="claude-sonnet-4-5")
    foreign = Response(
        id="msg_01",
        model="claude-sonnet-4-5",
        blocks=(
            Thinking(text="Check Paris first.", signature="EqQBCkYIBxgC", origin=claude),
            ToolCall(id="toolu_1", name="get_weather", arguments='{"city":"Paris"}'),
            RedactedThinking(data="EmwKAhgBEgy3", origin=claude),
            RedactedThinking(
                data="gAAAAB-openai",
                origin=Origin(dialect="openai-chat", extra={"format": "openai-responses-v1"}),
            ),
            Text(text="Checking."),
            Text(text="One moment."),
        ),
        stop_reason="tool_use",
        usage=Usage(input_tokens=10, output_tokens=20),
    )
    data, losses = encode(response_events(foreign))
    whole = CODEC.encode_response(foreign)
    assert fold(decode(data)) == CODEC.decode_response(json.loads(json.dumps(whole.value)))
    assert sorted((x.path, x.kind) for x in losses) == sorted((x.path, x.kind) for x in whole.losses)
    assert {(x.path, x.kind) for x in losses} == {
        ("blocks[0]", "signature"),
        ("blocks[2]", "redacted"),
        ("blocks[3]", "origin"),
    }


def test_blocks_a_response_cannot_hold_are_reported() -> None:
    events: list[StreamEvent] = [
        *response_events(Response(blocks=(Text(text="hi"),))),
    ]
    events.insert(
        1, BlockStart(index=5, block=RedactedThinking(data="x", origin=Origin(dialect="anthropic")))
    )
    _, losses = encode(events)
    assert [(x.path, x.kind) for x in losses] == [("blocks[5]", "redacted")]


def test_an_event_about_an_item_of_another_type_is_an_error() -> None:
    reasoning = {"id": "rs_1", "type": "reasoning", "summary": []}
    data = sse(
        CREATED,
        {"type": "response.output_item.added", "output_index": 0, "item": reasoning},
        {
            "type": "response.function_call_arguments.delta",
            "item_id": "rs_1",
            "output_index": 0,
            "delta": "{",
        },
    )
    with pytest.raises(DecodeError) as info:
        decode(data)
    assert (info.value.path, info.value.message) == (
        "response.function_call_arguments.delta",
        "event for a reasoning item, expected a function_call item",
    )


def test_raw_reasoning_content_streams_as_reasoning_text() -> None:
    item = {
        "id": "rs_9",
        "type": "reasoning",
        "summary": [],
        "content": [{"type": "reasoning_text", "text": "The user asks for 2+2. It is 4."}],
    }
    whole = CODEC.decode_response(completed(item)["response"])
    data, losses = encode(response_events(whole))
    kinds = [e.event for e in parse(data)]
    assert "response.reasoning_text.delta" in kinds
    assert "response.reasoning_summary_text.delta" not in kinds
    assert fold(decode(data)) == whole
    assert losses == []


def test_content_already_in_a_block_start_is_streamed() -> None:
    """Some decoders put the first piece of a block in its start; the fold keeps it."""
    events: list[StreamEvent] = [
        *response_events(Response(id="r", blocks=(Text(text=""),), stop_reason="end_turn")),
    ]
    events[1] = BlockStart(index=0, block=Text(text="Hello"))
    data, _ = encode(events)
    assert fold(decode(data)).blocks[0].text == "Hello"  # type: ignore[union-attr]
