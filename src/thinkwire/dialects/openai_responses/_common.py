"""Names and tiny helpers shared by the Responses codec modules.

Two conventions run through the whole package:

* ``keep(d, known)`` (``_wire.unmodelled``) gives the fields of a wire object that the IR
  does not model and that must be written back verbatim: unknown keys, **and known keys
  whose value is ``null``**
  (the IR cannot tell ``None`` from absent, so an explicit ``null`` lives in ``extra``).
* Paths are built only when an error is raised, never on the success path: decoding a
  1 MB conversation must stay close to the cost of parsing its JSON.
"""

from __future__ import annotations

from typing import Any

from thinkwire.dialects._wire import join, missing
from thinkwire.dialects._wire import type_error as fail
from thinkwire.dialects._wire import unmodelled as keep
from thinkwire.ir.blocks import Dialect, Extra

__all__ = [
    "DIALECT",
    "EMPTY",
    "as_obj",
    "fail",
    "keep",
    "mine",
    "missing",
    "opt_int",
    "opt_number",
    "opt_str",
    "req_str",
    "tag",
]

DIALECT: Dialect = "openai-responses"

EMPTY: dict[str, Any] = {}
"""Shared read-only empty mapping (never mutate)."""


def tag(fields: dict[str, Any]) -> Extra:
    """``fields`` namespaced under this dialect (``{}`` when there are none)."""
    return {DIALECT: fields} if fields else {}


def mine(extra: Extra) -> dict[str, Any]:
    """This dialect's fields of an ``extra`` mapping."""
    return extra.get(DIALECT, EMPTY)


def req_str(d: dict[str, Any], key: str, path: str) -> str:
    """A required string field."""
    value = d.get(key)
    if type(value) is str:
        return value
    if key not in d:
        raise missing(join(path, key))
    raise fail(join(path, key), "a string", value)


def opt_str(d: dict[str, Any], key: str, path: str) -> str | None:
    """An optional string field (absent or ``null`` gives ``None``)."""
    value = d.get(key)
    if value is None or type(value) is str:
        return value
    raise fail(join(path, key), "a string", value)


def opt_int(d: dict[str, Any], key: str, path: str) -> int | None:
    """An optional integer field (booleans refused)."""
    value = d.get(key)
    if value is None or type(value) is int:
        return value
    raise fail(join(path, key), "an integer", value)


def opt_number(d: dict[str, Any], key: str, path: str) -> float | None:
    """An optional number; an integer stays an integer so it is written back unchanged."""
    value = d.get(key)
    if value is None or type(value) in (int, float):
        return value
    raise fail(join(path, key), "a number", value)


def as_obj(value: Any, path: str) -> dict[str, Any]:
    if type(value) is dict:
        return value
    raise fail(path, "an object", value)
