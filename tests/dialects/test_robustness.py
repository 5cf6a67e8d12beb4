"""Bad input never escapes as anything but a DecodeError with a path.

Golden fixtures are mutated at a random spot (a value replaced by another JSON value of a
random type, a key deleted) and fed to every decoder. Whatever a decoder accepts must come
back exactly from its own encoder (or with a reported loss) and encode to every dialect
without raising.
"""

from __future__ import annotations

import contextlib
import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from thinkwire.dialects.base import get_codec
from thinkwire.dialects.sse import SSEEvent, parse
from thinkwire.errors import DecodeError
from thinkwire.ir import CARRIERS, DIALECTS, Request

GOLDEN = Path(__file__).parent.parent / "golden"
WIRES = [
    (dialect, path.name.removesuffix(".json"), json.loads(path.read_text()))
    for dialect in DIALECTS
    for path in sorted((GOLDEN / dialect).glob("*/*.json"))
    if path.name in ("request.json", "response.json")
]
STREAMS = [
    (dialect, path.read_text())
    for dialect in DIALECTS
    for path in sorted((GOLDEN / dialect).glob("*/stream.sse"))
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["type", "text", "id"]), inner)
    ),
    max_leaves=5,
)


def _mutate(doc: Any, choices: list[int], replacement: Any, delete: bool) -> Any:
    """Walk into ``doc`` following ``choices`` and replace (or delete) what is found there."""
    doc = copy.deepcopy(doc)
    parent: Any = None
    key: Any = None
    node = doc
    for choice in choices:
        if isinstance(node, dict) and node:
            parent, key = node, sorted(node)[choice % len(node)]
        elif isinstance(node, list) and node:
            parent, key = node, choice % len(node)
        else:
            break
        node = parent[key]
    if parent is None:
        return replacement
    if delete and isinstance(parent, dict):
        del parent[key]
    else:
        parent[key] = replacement
    return doc


def _decode(dialect: str, kind: str, data: Any) -> Any:
    codec = get_codec(dialect)
    return codec.decode_request(data) if kind == "request" else codec.decode_response(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(WIRES),
    st.lists(st.integers(0, 50), min_size=1, max_size=8),
    json_values,
    st.booleans(),
)
def test_mutated_input_decodes_or_fails_with_a_path(
    wire: tuple[str, str, Any], choices: list[int], replacement: Any, delete: bool
) -> None:
    dialect, kind, doc = wire
    mutated = _mutate(doc, choices, replacement, delete)
    try:
        ir = _decode(dialect, kind, mutated)
    except DecodeError:
        return  # the error type and its one-line message are what the CLI shows
    # whatever a decoder accepts comes back exactly from its own encoder, or with a loss
    same = get_codec(dialect)
    again = same.encode_request(ir) if isinstance(ir, Request) else same.encode_response(ir)
    assert again.value == mutated or again.losses, "accepted input changed silently on a round trip"
    for target in DIALECTS:
        codec = get_codec(target)
        for carrier in CARRIERS if target == "openai-chat" else (None,):
            if isinstance(ir, Request):
                codec.encode_request(ir, carrier=carrier)
            else:
                codec.encode_response(ir, carrier=carrier)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(STREAMS), st.integers(0, 10_000), st.sampled_from(["", "{", "[]", '{"type": 3}', "null"])
)
def test_corrupted_stream_decodes_or_fails_with_a_path(
    stream: tuple[str, str], where: int, junk: str
) -> None:
    dialect, text = stream
    lines = text.split("\n")
    data_lines = [i for i, line in enumerate(lines) if line.startswith("data: ")]
    line = data_lines[where % len(data_lines)]
    lines[line] = "data: " + junk
    decoder = get_codec(dialect).stream_decoder()
    with contextlib.suppress(DecodeError):  # anything else escaping fails the test
        for event in parse("\n".join(lines).encode()):
            decoder.feed(event)
        decoder.close()


@pytest.mark.parametrize("dialect", DIALECTS)
def test_non_json_stream_data_is_a_decode_error(dialect: str) -> None:
    decoder = get_codec(dialect).stream_decoder()
    with pytest.raises(DecodeError):
        decoder.feed(SSEEvent(data="not json", event="message_start"))
