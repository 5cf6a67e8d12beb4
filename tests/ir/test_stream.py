"""Folding stream events into a response."""

from __future__ import annotations

import pytest

from thinkwire.errors import ThinkwireError
from thinkwire.ir import (
    ArgumentsDelta,
    BlockDelta,
    BlockStart,
    BlockStop,
    MessageDelta,
    MessageStart,
    MessageStop,
    Origin,
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
    from_json,
    response_events,
    to_json,
)

ORIGIN = Origin(dialect="anthropic", model="claude-x")

INTERLEAVED = Response(
    id="msg_1",
    model="claude-x",
    blocks=(
        Thinking(text="plan A", signature="sig-1", origin=ORIGIN),
        ToolCall(id="t1", name="f", arguments='{"a": 1}'),
        Thinking(text="", signature="sig-omitted", origin=ORIGIN),
        RedactedThinking(data="opaque==", origin=ORIGIN),
        ToolCall(id="t2", name="g", arguments=""),
        Text(text="done"),
    ),
    stop_reason="tool_use",
    usage=Usage(input_tokens=10, output_tokens=20),
)


def test_response_events_fold_back_to_the_response() -> None:
    assert fold(response_events(INTERLEAVED)) == INTERLEAVED


def test_fold_joins_deltas_in_index_order_whatever_the_arrival_order() -> None:
    events = [
        MessageStart(id="m", model="x", usage=Usage(input_tokens=3)),
        BlockStart(index=0, block=Thinking(text="", origin=ORIGIN)),
        BlockStart(index=1, block=ToolCall(id="c", name="f", arguments="")),
        BlockDelta(index=1, delta=ArgumentsDelta('{"q":')),
        BlockDelta(index=0, delta=ThinkingDelta("first ")),
        BlockDelta(index=1, delta=ArgumentsDelta('"x"}')),
        BlockDelta(index=0, delta=ThinkingDelta("second")),
        BlockDelta(index=0, delta=SignatureDelta("late-signature")),
        BlockStop(index=0),
        BlockStop(index=1),
        MessageDelta(stop_reason="tool_use", usage=Usage(output_tokens=9)),
        MessageStop(),
    ]
    result = fold(events)
    assert result.blocks == (
        Thinking(text="first second", signature="late-signature", origin=ORIGIN),
        ToolCall(id="c", name="f", arguments='{"q":"x"}'),
    )
    assert result.usage == Usage(input_tokens=3, output_tokens=9)
    assert result.stop_reason == "tool_use"


def test_fold_keeps_an_empty_signed_thinking_block() -> None:
    events = [
        MessageStart(id="m"),
        BlockStart(index=0, block=Thinking(text="", origin=ORIGIN)),
        BlockDelta(index=0, delta=SignatureDelta("sig")),
        BlockStop(index=0),
        BlockStart(index=1, block=Text(text="")),
        BlockDelta(index=1, delta=TextDelta("hi")),
        BlockStop(index=1),
        MessageStop(),
    ]
    assert fold(events).blocks == (Thinking(text="", signature="sig", origin=ORIGIN), Text(text="hi"))


def test_error_event_aborts_with_the_partial_response() -> None:
    events = [
        MessageStart(id="m"),
        BlockStart(index=0, block=Text(text="")),
        BlockDelta(index=0, delta=TextDelta("par")),
        StreamError(error={"type": "overloaded_error", "message": "Overloaded"}),
    ]
    with pytest.raises(StreamAborted) as info:
        fold(events)
    assert info.value.error["type"] == "overloaded_error"
    assert info.value.partial.blocks == (Text(text="par"),)


def test_delta_before_start_is_an_error() -> None:
    with pytest.raises(ThinkwireError, match="before its start"):
        fold([BlockDelta(index=3, delta=TextDelta("x"))])


def test_ir_json_round_trip_keeps_every_block_type() -> None:
    assert from_json(to_json(INTERLEAVED), Response) == INTERLEAVED
    events = response_events(INTERLEAVED)
    assert from_json(to_json(events), list[StreamEvent]) == events


def test_a_block_stop_may_settle_details_known_only_at_the_end() -> None:
    late = Origin(dialect="openai-responses", extra={"summary": [{"type": "summary_text", "text": "a"}]})
    cite = {"openai-responses": {"annotations": [{"type": "url_citation", "url": "https://x"}]}}
    events = [
        MessageStart(id="m"),
        BlockStart(index=0, block=Thinking(text="", origin=Origin(dialect="openai-responses"))),
        BlockDelta(index=0, delta=ThinkingDelta("a")),
        BlockStop(index=0, origin=late),
        BlockStart(index=1, block=Text(text="", extra={"openai-responses": {"annotations": []}})),
        BlockDelta(index=1, delta=TextDelta("see x")),
        BlockStop(index=1, extra=cite),
        MessageStop(),
    ]
    assert fold(events).blocks == (Thinking(text="a", origin=late), Text(text="see x", extra=cite))
