"""Reading wire JSON: every error names its path."""

from __future__ import annotations

import pytest

from thinkwire.dialects._wire import check, extra_of, items, join, loads, opt, req
from thinkwire.errors import DecodeError, InputTooLarge


def test_paths_join_keys_and_indexes() -> None:
    assert join(join(join("", "messages"), 3), "content") == "messages[3].content"


@pytest.mark.parametrize(
    ("value", "kind", "message"),
    [
        (42, str, "expected a string, got the number 42"),
        (True, int, "expected an integer, got a boolean"),
        (None, dict, "expected an object, got null"),
        ("x", list, "expected an array, got a string"),
    ],
)
def test_type_errors_say_what_was_expected_and_found(value: object, kind: type, message: str) -> None:
    with pytest.raises(DecodeError) as info:
        check(value, kind, "messages[3].content[1].signature")
    assert str(info.value) == f"messages[3].content[1].signature: {message}"
    assert info.value.path == "messages[3].content[1].signature"


def test_integers_are_accepted_as_numbers() -> None:
    assert check(1, float, "temperature") == 1


def test_required_optional_and_array_fields() -> None:
    doc = {"a": "x", "b": None, "c": [1]}
    assert req(doc, "a", str, "m") == "x"
    assert opt(doc, "b", str, "m") is None
    assert items(doc, "c", "m") == [1]
    assert items(doc, "zz", "m") == []
    with pytest.raises(DecodeError, match=r"^m\.zz: required field is missing$"):
        req(doc, "zz", str, "m")
    with pytest.raises(DecodeError, match=r"^m\.zz: required field is missing$"):
        items(doc, "zz", "m", required=True)


def test_unknown_fields_are_kept_under_the_dialect() -> None:
    known = frozenset({"type", "text"})
    assert extra_of({"type": "text", "text": "x"}, known, "anthropic") == {}
    assert extra_of(
        {"type": "text", "text": "x", "cache_control": {"type": "ephemeral"}}, known, "anthropic"
    ) == {"anthropic": {"cache_control": {"type": "ephemeral"}}}


def test_loads_refuses_oversized_and_malformed_input() -> None:
    with pytest.raises(InputTooLarge, match="over the limit of 4 bytes"):
        loads(b'{"a": 1}', max_bytes=4)
    with pytest.raises(DecodeError, match="malformed JSON"):
        loads(b'{"a": ')
