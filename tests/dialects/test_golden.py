"""The codec laws on every golden fixture under tests/golden/<dialect>/<case>/.

Set THINKWIRE_UPDATE_GOLDEN=1 to (re)write ir.json from the decoder; review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from thinkwire.dialects.base import Codec, get_codec
from thinkwire.dialects.sse import parse
from thinkwire.ir import DIALECTS, BlockStop, Request, Response, StreamEvent, fold, to_builtins, to_json
from thinkwire.ir.blocks import CARRIERS
from thinkwire.laws import cross_dialect_problems, with_canonical_arguments

GOLDEN = Path(__file__).parent.parent / "golden"
UPDATE = os.environ.get("THINKWIRE_UPDATE_GOLDEN") == "1"


def _cases() -> list[Any]:
    cases = []
    for dialect in DIALECTS:
        root = GOLDEN / dialect
        if root.is_dir():
            for case in sorted(p for p in root.iterdir() if p.is_dir()):
                cases.append(pytest.param(dialect, case, id=f"{dialect}/{case.name}"))
    return cases


CASES = _cases()
STREAM_CASES = [c for c in CASES if (c.values[1] / "stream.sse").exists()]


def _wire(case: Path) -> tuple[str, Any]:
    for kind in ("request", "response"):
        path = case / f"{kind}.json"
        if path.exists():
            return kind, json.loads(path.read_text())
    raise AssertionError(f"{case} has neither request.json nor response.json")


def _decode(codec: Codec, kind: str, wire: Any) -> Request | Response:
    return codec.decode_request(wire) if kind == "request" else codec.decode_response(wire)


def _stream_events(codec: Codec, data: bytes, *, bytewise: bool = False) -> list[StreamEvent]:
    decoder = codec.stream_decoder()
    events: list[StreamEvent] = []
    chunks = [data[i : i + 1] for i in range(len(data))] if bytewise else [data]
    for sse in parse(chunks):
        events += decoder.feed(sse)
    events += decoder.close()
    return events


def _comparable(response: Response, dialect: str) -> Any:
    """Anthropic sends tool input as an object whole but as JSON text when streamed: compare parsed."""
    return to_builtins(with_canonical_arguments(response) if dialect == "anthropic" else response)


REQUIRED = {
    # one Anthropic turn with thinking, tool_use, thinking, tool_use, text; redacted; omitted
    "anthropic": {"interleaved_tools", "redacted", "omitted_thinking", "request_tool_loop"},
    # OpenRouter Claude details with a late signature; MiniMax details and inline <think>;
    # DeepSeek reasoning_content with tool calls (arguments in fragments, usage in the last chunk)
    "openai-chat": {
        "openrouter_claude_details",
        "minimax_details",
        "minimax_think_tags",
        "deepseek_reasoning_content_tools",
        "vllm_reasoning",
        "request_deepseek_history",
    },
    # reasoning with encrypted_content and an empty summary
    "openai-responses": {
        "reasoning_encrypted_empty_summary",
        "reasoning_summary_message",
        "interleaved",
        "incomplete",
        "request_stateless_loop",
        "request_previous_response_id",
    },
}


def test_every_required_shape_has_a_fixture() -> None:
    have = {(c.values[0], c.values[1].name) for c in CASES}
    missing = [(d, name) for d, names in REQUIRED.items() for name in names if (d, name) not in have]
    assert missing == []
    assert {c.values[0] for c in STREAM_CASES} == set(DIALECTS)


@pytest.mark.parametrize(("dialect", "case"), CASES)
def test_decode_matches_golden_ir(dialect: str, case: Path) -> None:
    kind, wire = _wire(case)
    ir = _decode(get_codec(dialect), kind, wire)
    golden = case / "ir.json"
    actual = json.loads(to_json(ir))
    if UPDATE:
        golden.write_text(json.dumps(actual, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    assert actual == json.loads(golden.read_text())


@pytest.mark.parametrize(("dialect", "case"), CASES)
def test_same_dialect_round_trip_reproduces_wire(dialect: str, case: Path) -> None:
    kind, wire = _wire(case)
    codec = get_codec(dialect)
    ir = _decode(codec, kind, wire)
    encoded = codec.encode_request(ir) if isinstance(ir, Request) else codec.encode_response(ir)
    assert encoded.value == wire
    assert encoded.losses == ()


@pytest.mark.parametrize(("dialect", "case"), CASES)
@pytest.mark.parametrize("target", DIALECTS)
def test_cross_dialect_keeps_thinking_or_reports_loss(dialect: str, case: Path, target: str) -> None:
    kind, wire = _wire(case)
    source, dest = get_codec(dialect), get_codec(target)
    carriers = list(CARRIERS) if target == "openai-chat" else [None]
    for carrier in carriers:
        ir = _decode(source, kind, wire)
        if isinstance(ir, Request):
            encoded = dest.encode_request(ir, carrier=carrier)
            back: Request | Response = dest.decode_request(json.loads(json.dumps(encoded.value)))
            before, after = ir.messages, back.messages  # type: ignore[union-attr]
        else:
            encoded = dest.encode_response(ir, carrier=carrier)
            back = dest.decode_response(json.loads(json.dumps(encoded.value)))
            before, after = (ir.to_message(),), (back.to_message(),)
        problems = cross_dialect_problems(before, after, encoded.losses)
        assert problems == [], f"{dialect} -> {target} ({carrier}): {problems}"


@pytest.mark.parametrize(("dialect", "case"), STREAM_CASES)
def test_stream_folds_to_its_non_streamed_twin(dialect: str, case: Path) -> None:
    codec = get_codec(dialect)
    _, wire = _wire(case)
    folded = fold(_stream_events(codec, (case / "stream.sse").read_bytes()))
    assert _comparable(folded, dialect) == _comparable(codec.decode_response(wire), dialect)


@pytest.mark.parametrize(("dialect", "case"), STREAM_CASES)
def test_stream_decoding_does_not_depend_on_chunking(dialect: str, case: Path) -> None:
    codec = get_codec(dialect)
    data = (case / "stream.sse").read_bytes()
    assert _stream_events(codec, data, bytewise=True) == _stream_events(codec, data)


@pytest.mark.parametrize(("dialect", "case"), STREAM_CASES)
@pytest.mark.parametrize("target", DIALECTS)
def test_stream_reencoded_in_any_dialect_folds_to_the_same_response(
    dialect: str, case: Path, target: str
) -> None:
    source, dest = get_codec(dialect), get_codec(target)
    events = _stream_events(source, (case / "stream.sse").read_bytes())
    encoder = dest.stream_encoder()
    data = b"".join(out for event in events for out in encoder.feed(event)) + b"".join(encoder.close())
    before, after = fold(events), fold(_stream_events(dest, data))
    problems = cross_dialect_problems((before.to_message(),), (after.to_message(),), encoder.losses)
    assert problems == []
    if target == dialect:
        assert encoder.losses == []
        assert _comparable(after, dialect) == _comparable(before, dialect)


@pytest.mark.parametrize("target", ["anthropic", "openai-chat"])
def test_citations_settled_at_a_streamed_blocks_end_are_reported_by_other_dialects(target: str) -> None:
    source = get_codec("openai-responses")
    case = GOLDEN / "openai-responses" / "web_search_citations"
    events = _stream_events(source, (case / "stream.sse").read_bytes())
    assert any(isinstance(e, BlockStop) and e.extra for e in events)  # the case settles citations late
    encoder = get_codec(target).stream_encoder()
    for event in events:
        encoder.feed(event)
    encoder.close()
    assert any(loss.path.endswith(".annotations") and loss.kind == "field" for loss in encoder.losses)
