"""Reading wire JSON with paths in every error, shared by all codecs.

Decoders call these instead of indexing dicts directly, so a wrong type anywhere gives
``DecodeError("messages[3].content[1].signature", "expected a string, got 42")``.
"""

from __future__ import annotations

from typing import Any, TypeVar, cast

import orjson

from thinkwire.errors import DecodeError, InputTooLarge
from thinkwire.ir.blocks import Extra

DEFAULT_MAX_BYTES = 32 * 1024 * 1024
T = TypeVar("T")

_TYPE_NAMES = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "a boolean",
    dict: "an object",
    list: "an array",
}


def loads(data: bytes | str, *, max_bytes: int = DEFAULT_MAX_BYTES, path: str = "") -> Any:
    """Parse JSON, refusing input over ``max_bytes`` and naming the position of a syntax error
    (``path``: where the JSON sits in a larger input, e.g. a stream's ``events[3]``)."""
    size = len(data)
    if size > max_bytes:
        raise InputTooLarge(size, max_bytes)
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(path, f"malformed JSON: {exc}") from None


def dumps(value: Any) -> bytes:
    """Compact JSON, keys in insertion order."""
    return orjson.dumps(value)


def join(path: str, key: str | int) -> str:
    """Extend a JSON path: ``join("messages", 3) == "messages[3]"``."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def type_error(path: str, expected: str, value: Any) -> DecodeError:
    """The error for a value of the wrong type: ``expected a string, got the number 42``."""
    return DecodeError(path, f"expected {expected}, got {describe(value)}")


def missing(path: str) -> DecodeError:
    """The error for an absent required field."""
    return DecodeError(path, "required field is missing")


def check(value: Any, kind: type[T], path: str) -> T:
    """``value`` if it is of ``kind`` (bool is not an int here), else a DecodeError at ``path``."""
    ok = isinstance(value, kind) and not (kind in (int, float) and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        ok = True
    if not ok:
        raise type_error(path, _TYPE_NAMES.get(kind, kind.__name__), value)
    return cast(T, value)


def obj(value: Any, path: str) -> dict[str, Any]:
    return check(value, dict, path)


def req(d: dict[str, Any], key: str, kind: type[T], path: str) -> T:
    """A required field of type ``kind``."""
    if key not in d:
        raise missing(join(path, key))
    value = d[key]
    if type(value) is kind:  # fast path: build the path only when reporting an error
        return value
    return check(value, kind, join(path, key))


def opt(d: dict[str, Any], key: str, kind: type[T], path: str) -> T | None:
    """An optional field of type ``kind``; absent or ``null`` gives ``None``."""
    value = d.get(key)
    if value is None:
        return None
    if type(value) is kind:
        return value
    return check(value, kind, join(path, key))


def items(d: dict[str, Any], key: str, path: str, *, required: bool = False) -> list[Any]:
    """An array field (absent or null gives ``[]`` unless ``required``)."""
    value = d.get(key)
    if value is None:
        if required:
            raise missing(join(path, key))
        return []
    if type(value) is list:
        return value
    return check(value, list, join(path, key))


def extra_of(d: dict[str, Any], known: frozenset[str], dialect: str) -> Extra:
    """The fields of ``d`` not in ``known``, namespaced under ``dialect`` (empty when none)."""
    if d.keys() <= known:  # the common case, decided in C
        return {}
    return {dialect: {k: v for k, v in d.items() if k not in known}}


def unmodelled(d: dict[str, Any], known: frozenset[str]) -> dict[str, Any]:
    """The fields of ``d`` to keep verbatim in ``extra``: unknown keys, and known keys whose
    value is ``null`` (the IR cannot tell ``None`` from absent, so an explicit ``null`` must be
    kept to come back as ``null``)."""
    if d.keys() <= known and None not in d.values():  # the common case, decided in C
        return {}
    return {k: v for k, v in d.items() if k not in known or v is None}


def put(out: dict[str, Any], key: str, value: Any) -> None:
    """Set ``out[key]`` unless ``value`` is None (absent fields stay absent)."""
    if value is not None:
        out[key] = value
