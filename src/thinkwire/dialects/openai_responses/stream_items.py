"""The state of a Responses output item being streamed, and small helpers of the stream
decoder (``stream_decode``)."""

from __future__ import annotations

from typing import Any

from thinkwire.errors import DecodeError
from thinkwire.ir.blocks import Extra, Origin
from thinkwire.ir.stream import ArgumentsDelta, BlockDelta, StreamEvent, TextDelta, ThinkingDelta


def source_of(kind: str) -> str:
    """Whether a reasoning event carries ``summary`` or ``content`` (reasoning text)."""
    return "summary" if "summary" in kind else "content"


def predicted(fields: dict[str, Any]) -> dict[str, Any]:
    """An item's fields as its blocks start: ``in_progress`` as the ``completed`` it normally
    ends with (an item cut short stops with its real status)."""
    if fields.get("status") == "in_progress":
        return {**fields, "status": "completed"}
    return fields


class Item:
    """One output item being streamed."""

    def __init__(self, item: dict[str, Any]) -> None:
        self.item = item
        self.kind = item.get("type")
        self.done = False
        self.index: int | None = None  # IR block of a reasoning item or function call
        self.pieces: list[str] = []  # everything streamed into that block
        self.source: str | None = None  # reasoning: "summary" or "content"
        self.parts = 0  # reasoning: parts opened
        self.part: list[str] = []  # reasoning: text of the newest part
        self.texts: dict[int, tuple[int, list[str]]] = {}  # message: content index -> (IR index, pieces)
        self.origin: Origin | None = None  # reasoning: the origin its block started with
        self.final_origin: Origin | None = None  # reasoning: the origin its final item gives
        self.finals: dict[int, Extra] = {}  # IR index -> the extra the final item gives the block


def catch_up(
    pieces: list[str],
    final: str,
    index: int,
    make: type[TextDelta | ThinkingDelta | ArgumentsDelta],
    path: str,
    out: list[StreamEvent],
) -> str:
    """Check streamed ``pieces`` against the ``final`` text; emit and return what did not
    stream. ``pieces`` is collapsed to ``[final]`` so later checks stay cheap."""
    sent = pieces[0] if len(pieces) == 1 else "".join(pieces)
    rest = ""
    if sent != final:
        if not final.startswith(sent):
            raise DecodeError(path, "the final text disagrees with the streamed deltas")
        rest = final[len(sent) :]
        out.append(BlockDelta(index=index, delta=make(rest)))
    pieces[:] = [final]
    return rest
