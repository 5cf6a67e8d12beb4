"""Item fields a Responses stream settles late: citations added while a text streams, an item
cut short (``incomplete``). They stay on the block's ``extra`` and a stream settles them with
``BlockStop.extra``. Also vLLM's reasoning part events."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from thinkwire.dialects.openai_responses import CODEC
from thinkwire.dialects.sse import parse
from thinkwire.ir import BlockStart, BlockStop, Response, StreamEvent, Text, ToolCall, fold, response_events

DATA = Path(__file__).parents[2] / "golden" / "openai-responses"


def decode(data: bytes, *, bytewise: bool = False) -> list[StreamEvent]:
    decoder = CODEC.stream_decoder()
    events: list[StreamEvent] = []
    chunks = [data[i : i + 1] for i in range(len(data))] if bytewise else [data]
    for sse in parse(chunks):
        events += decoder.feed(sse)
    return events + decoder.close()


def reencode(events: list[StreamEvent]) -> tuple[bytes, list[Any]]:
    encoder = CODEC.stream_encoder()
    data = b"".join(out for event in events for out in encoder.feed(event)) + b"".join(encoder.close())
    return data, encoder.losses


def _events(lines: list[dict[str, Any]]) -> bytes:
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in lines)


def _sse_types(data: bytes) -> list[str]:
    return [json.loads(line[6:])["type"] for line in data.decode().splitlines() if line.startswith("data: ")]


def test_citations_stay_on_their_text_block() -> None:
    wire = json.loads((DATA / "web_search_citations" / "response.json").read_text())
    response = CODEC.decode_response(wire)
    text = response.blocks[3]
    assert isinstance(text, Text)
    assert text.extra["openai-responses"]["annotations"] == wire["output"][3]["content"][0]["annotations"]
    assert "output_annotations" not in response.extra["openai-responses"]
    assert CODEC.encode_response(response).value == wire
    # other dialects report the citations as a field loss of their block, never silently
    from thinkwire.dialects.anthropic import CODEC as ANTHROPIC
    from thinkwire.dialects.openai_chat import CODEC as CHAT

    for codec in (ANTHROPIC, CHAT):
        losses = codec.encode_response(response).losses
        assert any(loss.path == "blocks[3].annotations" and loss.kind == "field" for loss in losses)


def test_streamed_citations_settle_at_the_block_stop() -> None:
    case = DATA / "web_search_citations"
    response = CODEC.decode_response(json.loads((case / "response.json").read_text()))
    events = decode((case / "stream.sse").read_bytes())
    (start,) = [e.block for e in events if isinstance(e, BlockStart) and e.index == 3]
    assert isinstance(start, Text)
    assert start.extra["openai-responses"]["annotations"] == []  # as the part starts
    (stop,) = [e for e in events if isinstance(e, BlockStop) and e.index == 3]
    assert isinstance(response.blocks[3], Text)
    assert stop.extra == response.blocks[3].extra
    assert [e.index for e in events if isinstance(e, BlockStop) and e.extra is not None] == [3]
    assert fold(events) == response
    # re-encoded: the citation is announced, then written in the final part, item and response
    data, losses = reencode(events)
    assert losses == []
    types = _sse_types(data)
    assert types.index("response.output_text.annotation.added") < types.index("response.output_text.done")
    assert fold(decode(data)) == response


def test_an_item_cut_short_keeps_its_status() -> None:
    golden = DATA / "stream_content_filter"
    wire = json.loads((golden / "response.json").read_text())
    response = CODEC.decode_response(wire)
    assert response.stop_reason == "refusal"
    text = response.blocks[1]
    assert isinstance(text, Text)
    assert text.extra["openai-responses"]["item"]["status"] == "incomplete"
    assert "$item_status" not in response.extra["openai-responses"]
    assert CODEC.encode_response(response).value["output"][1]["status"] == "incomplete"
    events = decode((golden / "stream.sse").read_bytes())
    (start,) = [e.block for e in events if isinstance(e, BlockStart) and e.index == 1]
    assert isinstance(start, Text)
    assert start.extra["openai-responses"]["item"]["status"] == "completed"  # predicted
    (stop,) = [e for e in events if isinstance(e, BlockStop) and e.index == 1]
    assert stop.extra == text.extra
    assert fold(events) == response
    data, _ = reencode(events)
    lines = [json.loads(line[6:]) for line in data.decode().splitlines() if line.startswith("data: ")]
    done = [e["item"] for e in lines if e["type"] == "response.output_item.done" and e["output_index"] == 1]
    assert done[0]["status"] == "incomplete"
    assert lines[-1]["response"]["output"][1]["status"] == "incomplete"
    assert fold(decode(data)) == response


def test_a_function_call_cut_short_keeps_its_status() -> None:
    item = {"id": "fc_1", "type": "function_call", "status": "incomplete", "call_id": "call_1", "name": "f"}
    wire = {"id": "resp_1", "status": "incomplete", "output": [{**item, "arguments": '{"a":'}]}
    response = CODEC.decode_response(wire)
    call = response.blocks[0]
    assert isinstance(call, ToolCall)
    assert call.extra == {"openai-responses": {"id": "fc_1", "status": "incomplete"}}
    assert response.extra == {"openai-responses": {"status": "incomplete"}}
    assert CODEC.encode_response(response).value == wire
    lines: list[dict[str, Any]] = [
        {"type": "response.created", "response": {"id": "resp_1", "status": "in_progress", "output": []}},
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {**item, "status": "in_progress", "arguments": ""},
        },
        {"type": "response.function_call_arguments.delta", "output_index": 0, "delta": '{"a":'},
        {"type": "response.incomplete", "response": wire},
    ]
    events = decode(_events(lines))
    assert [e for e in events if isinstance(e, BlockStop)] == [BlockStop(index=0, extra=call.extra)]
    assert fold(events) == response
    data, losses = reencode(events)
    assert losses == []
    assert fold(decode(data)) == response


def test_a_finished_item_like_its_start_stops_without_extra() -> None:
    item = {"id": "fc_1", "type": "function_call", "status": "completed", "call_id": "c", "name": "f"}
    wire = {"id": "resp_1", "status": "completed", "output": [{**item, "arguments": "{}"}]}
    lines: list[dict[str, Any]] = [
        {"type": "response.output_item.added", "output_index": 0, "item": {**item, "status": "in_progress"}},
        {"type": "response.output_item.done", "output_index": 0, "item": wire["output"][0]},
        {"type": "response.completed", "response": wire},
    ]
    events = decode(_events(lines))
    assert [e for e in events if isinstance(e, BlockStop)] == [BlockStop(index=0)]
    assert fold(events).blocks == CODEC.decode_response(wire).blocks


def test_the_encoder_writes_a_stop_extra_of_any_origin() -> None:
    cite = {"type": "url_citation", "url": "https://x.test", "start_index": 0, "end_index": 1, "title": "x"}
    final: dict[str, dict[str, Any]] = {
        "openai-responses": {"annotations": [cite], "item": {"type": "message", "status": "completed"}}
    }
    events = [
        e if not isinstance(e, BlockStop) else BlockStop(index=0, extra=final)
        for e in response_events(Response(blocks=(Text(text="see x"),), stop_reason="end_turn"))
    ]
    data, losses = reencode(events)
    assert losses == []
    assert "response.output_text.annotation.added" in _sse_types(data)
    folded = fold(decode(data))
    assert folded.blocks == (Text(text="see x", extra={"openai-responses": {**final["openai-responses"]}}),)
    # a stop extra carrying another dialect's field is reported once
    foreign = {**final, "anthropic": {"citations": [{"cited_text": "x"}]}}
    events[-3] = BlockStop(index=0, extra=foreign)
    _, losses = reencode(events)
    assert [(loss.path, loss.kind) for loss in losses] == [("blocks[0].citations", "field")]


def test_vllm_reasoning_part_events_carry_the_text() -> None:
    rs = {
        "id": "rs_1",
        "type": "reasoning",
        "summary": [],
        "content": [{"type": "reasoning_text", "text": "abc"}],
    }
    lines = [
        {"type": "response.output_item.added", "output_index": 0, "item": {**rs, "content": []}},
        {
            "type": "response.reasoning_part.added",
            "output_index": 0,
            "content_index": 0,
            "part": {"type": "reasoning_text", "text": ""},
        },
        {"type": "response.reasoning_text.delta", "output_index": 0, "content_index": 0, "delta": "ab"},
        {
            "type": "response.reasoning_part.done",
            "output_index": 0,
            "content_index": 0,
            "part": {"type": "reasoning_text", "text": "abc"},
        },
    ]
    data = b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in lines)
    decoder = CODEC.stream_decoder()
    events = [out for sse in parse([data]) for out in decoder.feed(sse)]
    texts = [e.delta.text for e in events if hasattr(e, "delta") and hasattr(e.delta, "text")]
    assert "".join(texts) == "abc"  # the part's final text completes what the deltas missed
