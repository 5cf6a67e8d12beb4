"""One (de)serialiser for the whole IR: JSON with a ``type`` tag on each block and event."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

T = TypeVar("T")

_encoder = msgspec.json.Encoder(order="deterministic")


def to_json(value: Any) -> bytes:
    """IR records to JSON (keys sorted, defaults omitted)."""
    return _encoder.encode(value)


def to_builtins(value: Any) -> Any:
    """IR records to plain dicts and lists."""
    return msgspec.to_builtins(value, order="deterministic")


def from_json(data: bytes | str, kind: type[T]) -> T:
    """JSON to IR records of ``kind`` (``Request``, ``Response``, ``list[StreamEvent]``, ...)."""
    return msgspec.json.decode(data, type=kind)
