"""Server tools (web search, code execution) and error streams: the Anthropic-side laws.

``golden/anthropic/web_search`` (a turn with ``server_tool_use``, ``web_search_tool_result`` and cited
text, both citation orders) and ``golden/anthropic/pause_turn_container`` (``pause_turn`` with
``container`` and ``context_management``) are checked here rather than under tests/golden:
other dialects drop the server-tool blocks with a ``block`` loss, and the shared law
(``laws.cross_dialect_problems``) does not yet let the text around a dropped block join up.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from thinkwire.dialects.anthropic import CODEC
from thinkwire.dialects.sse import parse
from thinkwire.ir import Opaque, StreamError, StreamEvent, Text, Thinking, fold, to_builtins
from thinkwire.ir.stream import StreamAborted
from thinkwire.laws import with_canonical_arguments

DATA = Path(__file__).parents[2] / "golden" / "anthropic"
CASES = ["web_search", "pause_turn_container"]


def _events(data: bytes, *, bytewise: bool = False) -> list[StreamEvent]:
    decoder = CODEC.stream_decoder()
    chunks = [data[i : i + 1] for i in range(len(data))] if bytewise else [data]
    events: list[StreamEvent] = []
    for sse in parse(chunks):
        events += decoder.feed(sse)
    return events + decoder.close()


def _comparable(response: Any) -> Any:
    return to_builtins(with_canonical_arguments(response))


@pytest.mark.parametrize("case", CASES)
def test_whole_response_round_trips_exactly(case: str) -> None:
    wire = json.loads((DATA / case / "response.json").read_text())
    encoded = CODEC.encode_response(CODEC.decode_response(wire))
    assert encoded.value == wire
    assert encoded.losses == ()


@pytest.mark.parametrize("case", CASES)
def test_stream_folds_to_the_whole_response_in_any_chunking(case: str) -> None:
    wire = json.loads((DATA / case / "response.json").read_text())
    data = (DATA / case / "stream.sse").read_bytes()
    events = _events(data)
    assert _events(data, bytewise=True) == events
    assert _comparable(fold(events)) == _comparable(CODEC.decode_response(wire))


@pytest.mark.parametrize("case", CASES)
def test_stream_re_encodes_to_itself(case: str) -> None:
    events = _events((DATA / case / "stream.sse").read_bytes())
    encoder = CODEC.stream_encoder()
    data = b"".join(out for event in events for out in encoder.feed(event)) + b"".join(encoder.close())
    assert encoder.losses == []
    assert _comparable(fold(_events(data))) == _comparable(fold(events))


def test_web_search_blocks_stay_in_place_with_their_citations() -> None:
    wire = json.loads((DATA / "web_search" / "response.json").read_text())
    blocks = CODEC.decode_response(wire).blocks
    assert [type(b).__name__ for b in blocks] == ["Thinking", "Text", "Opaque", "Opaque", *["Text"] * 5]
    assert [b.data["type"] for b in blocks if isinstance(b, Opaque)] == [
        "server_tool_use",
        "web_search_tool_result",
    ]
    cited = [b for b in blocks if isinstance(b, Text) and b.extra]
    assert [b.extra["anthropic"]["citations"][0]["url"] for b in cited] == [
        "https://www.python.org/downloads/release/python-3140/",
        "https://docs.python.org/3.14/whatsnew/3.14.html",
    ]


def test_pause_turn_keeps_container_and_context_management() -> None:
    wire = json.loads((DATA / "pause_turn_container" / "response.json").read_text())
    response = fold(_events((DATA / "pause_turn_container" / "stream.sse").read_bytes()))
    assert response.stop_reason == "pause_turn"
    assert response.extra["anthropic"]["container"] == wire["container"]
    assert response.extra["anthropic"]["context_management"] == {"applied_edits": []}


OVERLOADED = (
    b"event: message_start\n"
    b'data: {"type":"message_start","message":{"id":"msg_01Ov","type":"message","role":"assistant",'
    b'"model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"stop_sequence":null,'
    b'"usage":{"input_tokens":40,"output_tokens":1}}}\n\n'
    b"event: content_block_start\n"
    b'data: {"type":"content_block_start","index":0,'
    b'"content_block":{"type":"thinking","thinking":"","signature":""}}\n\n'
    b"event: content_block_delta\n"
    b'data: {"type":"content_block_delta","index":0,'
    b'"delta":{"type":"thinking_delta","thinking":"First, the"}}\n\n'
    b"event: error\n"
    b'data: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n'
)


def test_an_overloaded_error_mid_thinking_aborts_with_the_partial_response() -> None:
    events = _events(OVERLOADED)  # close() accepts a stream that reported an error
    assert events[-1] == StreamError(error={"type": "overloaded_error", "message": "Overloaded"})
    with pytest.raises(StreamAborted) as caught:
        fold(events)
    partial = caught.value.partial
    assert partial.id == "msg_01Ov"
    assert [(type(b), b.text) for b in partial.blocks if isinstance(b, Thinking)] == [
        (Thinking, "First, the")
    ]
    assert caught.value.error["type"] == "overloaded_error"


def test_an_error_event_is_passed_on_by_the_encoder() -> None:
    encoder = CODEC.stream_encoder()
    data = b"".join(out for event in _events(OVERLOADED) for out in encoder.feed(event))
    assert b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error"' in data
    assert _events(data)[-1] == StreamError(error={"type": "overloaded_error", "message": "Overloaded"})
