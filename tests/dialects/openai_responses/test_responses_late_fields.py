"""Item fields a Responses stream settles late (``late``): citations added while a text
streams, an item cut short (``incomplete``); and shapes whose golden twins the shared runner
cannot take yet (an Opaque item dropped with a ``block`` loss is also flagged as a reorder
by ``thinkwire.laws``), checked here with the same-dialect laws."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from thinkwire.dialects.openai_responses import CODEC
from thinkwire.dialects.sse import parse
from thinkwire.ir import StreamEvent, Text, fold

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


def test_citations_added_while_a_text_streams_are_kept_on_the_response() -> None:
    wire = json.loads((DATA / "web_search_citations" / "response.json").read_text())
    response = CODEC.decode_response(wire)
    text = response.blocks[3]
    assert isinstance(text, Text)
    assert text.extra["openai-responses"]["annotations"] == []  # as the stream starts it
    notes = response.extra["openai-responses"]["output_annotations"]
    assert notes == {"3": wire["output"][3]["content"][0]["annotations"]}
    # other dialects report the citations as a field loss, never silently
    from thinkwire.dialects.anthropic import CODEC as ANTHROPIC

    losses = ANTHROPIC.encode_response(response).losses
    assert any(loss.path == "output_annotations" and loss.kind == "field" for loss in losses)


def test_an_item_cut_short_keeps_its_status() -> None:
    golden = Path(__file__).parents[2] / "golden" / "openai-responses" / "stream_content_filter"
    wire = json.loads((golden / "response.json").read_text())
    response = CODEC.decode_response(wire)
    assert response.stop_reason == "refusal"
    text = response.blocks[1]
    assert isinstance(text, Text)
    assert text.extra["openai-responses"]["item"]["status"] == "completed"
    assert response.extra["openai-responses"]["$item_status"] == {"1": "incomplete"}
    assert CODEC.encode_response(response).value["output"][1]["status"] == "incomplete"
    assert fold(decode((golden / "stream.sse").read_bytes())) == response


def test_a_function_call_cut_short_keeps_its_status() -> None:
    item = {"id": "fc_1", "type": "function_call", "status": "incomplete", "call_id": "call_1", "name": "f"}
    wire = {"id": "resp_1", "status": "incomplete", "output": [{**item, "arguments": '{"a":'}]}
    response = CODEC.decode_response(wire)
    assert response.extra["openai-responses"]["$item_status"] == {"0": "incomplete"}
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
    data = b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in lines)
    assert fold(decode(data)) == response


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
