"""Bad input never escapes as anything but a DecodeError with a path.

Golden fixtures are mutated at a random spot (a value replaced by another JSON value of a
random type, a key deleted) and fed to every decoder. Whatever a decoder accepts must come
back exactly from its own encoder (or with a reported loss) and encode to every dialect
without raising.
"""

from __future__ import annotations

import copy
import json
import re
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


Key = str | int


def _mutate(doc: Any, choices: list[int], replacement: Any, delete: bool) -> tuple[Any, list[Key]]:
    """Walk into ``doc`` following ``choices`` and replace (or delete) what is found there;
    the mutated document and the keys leading to the spot."""
    doc = copy.deepcopy(doc)
    parent: Any = None
    key: Any = None
    node = doc
    where: list[Key] = []
    for choice in choices:
        if isinstance(node, dict) and node:
            parent, key = node, sorted(node)[choice % len(node)]
        elif isinstance(node, list) and node:
            parent, key = node, choice % len(node)
        else:
            break
        where.append(key)
        node = parent[key]
    if parent is None:
        return replacement, where
    if delete and isinstance(parent, dict):
        del parent[key]
    else:
        parent[key] = replacement
    return doc, where


_SEGMENT = re.compile(r"\.?([^.\[\]]+)|\[(\d+)\]")


def _keys(path: str) -> list[Key]:
    """The keys of a JSON path: ``messages[3].content[1].type`` -> messages, 3, content, 1, type."""
    keys: list[Key] = []
    at = 0
    while at < len(path):
        found = _SEGMENT.match(path, at) if keys or path[at] != "." else None
        assert found is not None, f"{path!r} is not a JSON path (at character {at})"
        keys.append(found[1] if found[1] is not None else int(found[2]))
        at = found.end()
    return keys


def _leads_into(doc: Any, keys: list[Key]) -> bool | None:
    """Whether ``keys`` lead through ``doc`` to a value (``True``), to a field absent from an
    object that is there (``None``), or nowhere (``False``)."""
    node = doc
    for depth, key in enumerate(keys):
        if isinstance(node, list) and isinstance(key, int) and key < len(node):
            node = node[key]
            continue
        if isinstance(node, dict) and isinstance(key, str):
            if key in node:
                node = node[key]
                continue
            return None if depth == len(keys) - 1 else False
        return False
    return True


def _assert_points_into(error: DecodeError, doc: Any) -> None:
    """``error.path`` is a non-empty path into ``doc``: to a value, or to an absent field when
    its absence is the fault (missing, or read as null)."""
    keys = _keys(error.path)
    assert keys, f"the fault is inside the document but the error has no path: {error}"
    leads = _leads_into(doc, keys)
    assert leads is not False, f"{error.path!r} is not in the input: {error}"
    if leads is None:
        absent = error.message == "required field is missing" or error.message.endswith("got null")
        assert absent, f"{error.path!r} names a field the input does not have: {error}"


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
    mutated, where = _mutate(doc, choices, replacement, delete)
    assert where  # golden documents are objects with fields: the fault is always inside one
    try:
        ir = _decode(dialect, kind, mutated)
    except DecodeError as error:  # the error type and its one-line message are what the CLI shows
        _assert_points_into(error, mutated)
        return
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
    events = list(parse("\n".join(lines).encode()))
    failed = _failure(dialect, events)  # anything but a DecodeError escaping fails the test
    if failed is None:
        return
    position, error = failed
    if position is None:  # a stream cut short: the fault is its end, in the stream as a whole
        assert error.path == "", error
        return
    assert position >= _corrupted(text, events), f"failed before the corrupted event: {error}"
    assert _names_the_event(error.path, dialect, position, events[position]), (
        f"{error.path!r} does not name the event that failed ({position}: {events[position]}): {error}"
    )


def _failure(dialect: str, events: list[SSEEvent]) -> tuple[int | None, DecodeError] | None:
    """Decode ``events``: ``None`` when they decode, else the position of the event whose
    ``feed`` failed (``None``: ``close`` failed) and the error."""
    decoder = get_codec(dialect).stream_decoder()
    for position, event in enumerate(events):
        try:
            decoder.feed(event)
        except DecodeError as error:
            return position, error
    try:
        decoder.close()
    except DecodeError as error:
        return None, error
    return None


def _corrupted(text: str, events: list[SSEEvent]) -> int:
    """The position of the first event that differs from the golden stream's."""
    golden = list(parse(text.encode()))
    return next(i for i, (a, b) in enumerate(zip(golden, events, strict=False)) if a != b)


def _names_the_event(path: str, dialect: str, position: int, event: SSEEvent) -> bool:
    """Whether ``path`` starts at the SSE event that failed: by its position
    (``events[4].delta.type``) in Anthropic and Chat streams, by its type (or SSE event name)
    in Responses streams (``response.output_text.delta.content_index``)."""
    if dialect == "openai-responses":
        try:
            data = json.loads(event.data)
        except ValueError:
            data = None
        kind = data.get("type") if isinstance(data, dict) else None
        names = [n for n in (kind, event.event, "event") if isinstance(n, str)]
    else:
        names = [f"events[{position}]"]
    return any(path == name or path.startswith((name + ".", name + "[")) for name in names)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_non_json_stream_data_is_a_decode_error(dialect: str) -> None:
    decoder = get_codec(dialect).stream_decoder()
    with pytest.raises(DecodeError):
        decoder.feed(SSEEvent(data="not json", event="message_start"))
