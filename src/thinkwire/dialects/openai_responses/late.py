"""Item fields a stream settles only after an item's blocks have started.

A streamed text part starts with ``annotations: []`` and a message / ``function_call`` item
with ``status: "in_progress"``; the citations of a web search arrive later
(``response.output_text.annotation.added``) and an item cut short ends ``incomplete``. An IR
block cannot change after its ``BlockStart``, so for such items the blocks hold what was
known at the start (``status: "completed"``, ``annotations: []``) and the rest is kept on the
response, keyed by IR block index, in ``Response.extra["openai-responses"]``:

``$item_status``
    ``{"<block>": status}`` for the first block of a text message or ``function_call`` item
    whose status is not ``completed`` (a codec note: the stop reason already says the
    response was cut short);
``output_annotations``
    ``{"<block>": [annotations]}`` for a text part with annotations (a wire field: other
    dialects report it as a ``field`` loss).

Whole responses and streams decode to the same notes, and both encoders write them back.
"""

from __future__ import annotations

from typing import Any

from thinkwire.dialects.openai_responses.items import TEXT_TYPES

STATUS_NOTE = "$item_status"
ANNOTATIONS_NOTE = "output_annotations"
NOTES = (STATUS_NOTE, ANNOTATIONS_NOTE)


def text_only(item: dict[str, Any]) -> bool:
    """Whether a message item decodes to ``Text`` blocks only (one per part)."""
    content = item.get("content")
    return (
        type(content) is list
        and bool(content)
        and all(
            type(p) is dict and p.get("type") in TEXT_TYPES and type(p.get("text")) is str for p in content
        )
    )


def settle(item: dict[str, Any]) -> tuple[dict[str, Any], str | None, dict[int, list[Any]]]:
    """The item as its blocks start (a copy when it differs), its late status and the late
    annotations of its parts by content index."""
    status = item.get("status")
    late: str | None = None
    if type(status) is str and status != "completed":
        late = status
        item = {**item, "status": "completed"}
    annotations: dict[int, list[Any]] = {}
    if item.get("type") == "message":
        content = item["content"]
        for k, part in enumerate(content):
            given = part.get("annotations")
            if type(given) is list and given:
                annotations[k] = given
        if annotations:
            item = {
                **item,
                "content": [
                    {**p, "annotations": []} if k in annotations else p for k, p in enumerate(content)
                ],
            }
    return item, late, annotations


def record(
    notes: dict[str, dict[str, Any]], first: int, late: str | None, annotations: dict[int, list[Any]]
) -> None:
    """Add an item's late fields to ``notes`` (``annotations`` maps block index -> list)."""
    if late is not None:
        notes.setdefault(STATUS_NOTE, {})[str(first)] = late
    for block, given in annotations.items():
        notes.setdefault(ANNOTATIONS_NOTE, {})[str(block)] = given


def split(fields: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Response fields without the notes, and the notes."""
    if STATUS_NOTE not in fields and ANNOTATIONS_NOTE not in fields:
        return fields, {}
    rest = {k: v for k, v in fields.items() if k not in NOTES}
    return rest, {k: fields[k] for k in NOTES if k in fields}


def apply(notes: dict[str, Any], located: dict[int, tuple[dict[str, Any], int]]) -> None:
    """Write the notes into the encoded items; ``located`` maps a block index to its item and
    content index (-1 for a call)."""
    statuses = notes.get(STATUS_NOTE)
    if type(statuses) is dict:
        for key, status in statuses.items():
            where = located.get(int(key)) if key.isdigit() else None
            if where is not None:
                where[0]["status"] = status
    annotations = notes.get(ANNOTATIONS_NOTE)
    if type(annotations) is dict:
        for key, given in annotations.items():
            where = located.get(int(key)) if key.isdigit() else None
            if where is not None and where[1] >= 0:
                content = where[0].get("content")
                if type(content) is list and where[1] < len(content):
                    content[where[1]] = {**content[where[1]], "annotations": given}
