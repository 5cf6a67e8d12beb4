"""Structured losses: what an encoder could not carry into the target dialect.

A loss is never silent: encoders return their losses beside the wire data, the CLI prints
one line per loss, and ``--strict`` turns any loss into a failure.
"""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

import msgspec

LossKind = Literal[
    "signature",  # a signature / encrypted state the target cannot carry
    "redacted",  # redacted or encrypted-only reasoning the target cannot carry
    "order",  # thinking moved relative to text or tool calls (target has fixed slots)
    "shape",  # thinking blocks merged into one (target has a single reasoning slot)
    "field",  # a wire field of another dialect with no place in the target
    "block",  # a block the target cannot carry (opaque item, image in a tool result, ...)
    "origin",  # re-emission details (ids, formats, summary parts) the target has no place for
    "value",  # a value the target could only approximate
    "missing",  # an assistant turn with no thinking to send (a placeholder went in its place)
]


THINKING_LOSSES: frozenset[LossKind] = frozenset({"signature", "redacted", "order", "shape", "missing"})
"""The kinds that lose or reshape thinking itself (the others lose other fields or details)."""


class Loss(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """One thing the target could not carry: where (a path into the IR), what kind, and why."""

    path: str
    kind: LossKind
    detail: str

    def __str__(self) -> str:
        return f"loss[{self.kind}] {self.path}: {self.detail}"


T = TypeVar("T")


class Encoded(msgspec.Struct, Generic[T], frozen=True):
    """Wire data plus the losses incurred producing it."""

    value: T
    losses: tuple[Loss, ...] = ()


def _empty(value: object) -> bool:
    """True for ``null``, ``""``, and arrays or objects holding nothing but such values."""
    if value is None or value == "":
        return True
    if isinstance(value, dict):
        return all(_empty(v) for v in value.values())
    if isinstance(value, list):
        return all(_empty(v) for v in value)
    return False


class LossLog:
    """Collects losses during one encode call (a whole value or one stream).

    The same loss is recorded once: a stream repeats message-level fields (a Responses stream
    sends the response object when it starts and when it completes).
    """

    def __init__(self) -> None:
        self.items: list[Loss] = []
        self._seen: set[tuple[str, str, str]] = set()

    def add(self, path: str, kind: LossKind, detail: str) -> None:
        key = (path, kind, detail)
        if key not in self._seen:
            self._seen.add(key)
            self.items.append(Loss(path=path, kind=kind, detail=detail))

    def foreign_extra(
        self, path: str, extra: dict[str, dict[str, object]], dialect: str
    ) -> dict[str, object]:
        """Return ``extra``'s fields for ``dialect``; report every other dialect's as lost.

        Keys starting with ``$`` are a codec's private notes on wire shape (not wire fields)
        and are never reported; nor are fields that hold nothing (``null``, ``""``, and
        arrays or objects of only such values), which carry nothing to lose.
        """
        for other, fields in extra.items():
            if other != dialect:
                for key, value in fields.items():
                    if not key.startswith("$") and not _empty(value):
                        where = f"{path}.{key}" if path else key
                        self.add(where, "field", f"{other} field has no place in {dialect}")
        return extra.get(dialect, {})

    def late_extra(
        self, path: str, start: dict[str, dict[str, Any]], stop: dict[str, dict[str, Any]], dialect: str
    ) -> None:
        """Report the fields a ``BlockStop.extra`` settles that a stream of ``dialect``, which
        has already written the block's start, cannot add: another dialect's as ``field``
        losses, its own as ``value`` losses. Fields equal to the start's, or empty, are not."""
        for other, fields in stop.items():
            before = start.get(other, {})
            for key, value in fields.items():
                if key.startswith("$") or _empty(value) or before.get(key) == value:
                    continue
                where = f"{path}.{key}" if path else key
                if other != dialect:
                    self.add(where, "field", f"{other} field has no place in {dialect}")
                else:
                    self.add(where, "value", f"known only at the block's end; a {dialect} stream had sent it")
