"""The same-dialect laws on the openai-responses golden fixtures, with this codec alone.

``tests/dialects/test_golden.py`` runs the laws across all dialects; this file also pins the
one documented difference between a stream and its twin: a reasoning item with several
summary parts folds to the same text, but its parts (known only when the item is done) are
not in ``Origin.extra``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from thinkwire.dialects.openai_responses import CODEC
from thinkwire.dialects.sse import parse
from thinkwire.ir import Request, Response, StreamEvent, fold, to_json

GOLDEN = Path(__file__).parents[2] / "golden" / "openai-responses"
CASES = sorted(p.name for p in GOLDEN.iterdir() if p.is_dir())
STREAMS = [c for c in CASES if (GOLDEN / c / "stream.sse").exists()]


def wire(case: str) -> tuple[str, Any]:
    for kind in ("request", "response"):
        path = GOLDEN / case / f"{kind}.json"
        if path.exists():
            return kind, json.loads(path.read_text())
    raise AssertionError(f"{case}: no request.json or response.json")


def decoded(case: str) -> Request | Response:
    kind, value = wire(case)
    return CODEC.decode_request(value) if kind == "request" else CODEC.decode_response(value)


def stream(data: bytes) -> list[StreamEvent]:
    decoder = CODEC.stream_decoder()
    return [e for sse in parse(data) for e in decoder.feed(sse)] + decoder.close()


def test_the_required_cases_exist() -> None:
    assert set(CASES) >= {
        "reasoning_encrypted_empty_summary",
        "reasoning_summary_message",
        "interleaved",
        "request_stateless_loop",
        "request_previous_response_id",
        "incomplete",
    }


@pytest.mark.parametrize("case", CASES)
def test_decoding_gives_the_reviewed_ir(case: str) -> None:
    assert json.loads(to_json(decoded(case))) == json.loads((GOLDEN / case / "ir.json").read_text())


@pytest.mark.parametrize("case", CASES)
def test_encoding_gives_the_wire_back_exactly(case: str) -> None:
    ir = decoded(case)
    encoded = CODEC.encode_request(ir) if isinstance(ir, Request) else CODEC.encode_response(ir)
    assert (encoded.value, encoded.losses) == (wire(case)[1], ())


@pytest.mark.parametrize("case", STREAMS)
def test_the_stream_folds_to_its_twin(case: str) -> None:
    folded, twin = fold(stream((GOLDEN / case / "stream.sse").read_bytes())), decoded(case)
    assert isinstance(twin, Response)
    assert folded == twin


@pytest.mark.parametrize("case", STREAMS)
def test_a_re_encoded_stream_decodes_to_the_same_events(case: str) -> None:
    events = stream((GOLDEN / case / "stream.sse").read_bytes())
    encoder = CODEC.stream_encoder()
    data = b"".join(out for event in events for out in encoder.feed(event)) + b"".join(encoder.close())
    assert encoder.losses == []
    assert fold(stream(data)) == fold(events)
