"""Reasoning items <-> ``Thinking`` / ``RedactedThinking`` blocks.

A reasoning item ``{"type":"reasoning","id":"rs_..","summary":[{"type":"summary_text",
"text":..},..],"content"?:[{"type":"reasoning_text","text":..}],"encrypted_content"?:..}``
becomes **one** block:

* ``Thinking``: ``text`` is ``"".join`` of the ``content`` texts when ``content`` is a
  non-empty list (raw reasoning, as open-weight models served through the Responses API send
  it), otherwise ``"\\n\\n".join`` of the summary texts; ``signature`` is
  ``encrypted_content``.
* ``RedactedThinking(data=encrypted_content)`` when the item has encrypted content and no
  summary or content parts at all (``summary: []``, the stateless ``store: false`` form):
  encrypted reasoning with no clear text, never dropped, never shown.

``Origin.extra`` holds what re-emission needs beyond text and signature, and nothing
derivable:

``id`` / ``status``
    the item's own fields, verbatim (``null`` included);
``source: "content"``
    the text came from ``content`` (absent: from ``summary``);
``summary`` / ``content``
    the parts verbatim, only when the default rebuild below would not reproduce them
    (several summary parts, a part with extra keys, a summary beside ``content``, ...);
``encrypted_content: None``
    the wire had an explicit ``null``.

``"$summary": "absent"`` / ``"null"``
    a codec note (not a wire field): the item had no ``summary``, or ``summary: null``.

Rebuilding: stored parts are written back when they still join to the block's text;
otherwise (text edited, or a block of another dialect) the text becomes one
``summary_text`` part, or ``summary: []`` when it is empty. ``summary`` is always written:
the API rejects a reasoning item without it (WIRE.md case 11). An item that came without it
(or with ``summary: null``) is accepted,
noted with ``$summary``, and written back with ``summary: []``, reported as a ``value`` loss
at the block: the one deliberate repair of this codec, never a silent one. Any other
non-array ``summary`` is a ``DecodeError``.
A ``Thinking`` with empty text and a signature that has no stored parts (a block of another
dialect, or built by hand) gets one empty summary part, so it comes back as ``Thinking`` and
not as ``RedactedThinking``. An item with ``encrypted_content`` (even ``""``) and no summary or
content parts is ``RedactedThinking``, so ``summary: []`` comes back as it came.
"""

from __future__ import annotations

from typing import Any

import orjson

from thinkwire.dialects._reasoning import UNKNOWN_FORMAT, carries_signature, signature_format
from thinkwire.dialects.openai_responses._common import DIALECT, fail, tag
from thinkwire.ir.blocks import Origin, RedactedThinking, Thinking
from thinkwire.ir.losses import LossLog

REASONING_KEYS = frozenset({"type", "id", "summary", "content", "encrypted_content", "status"})
SOURCE = "source"
"""``Origin.extra`` key marking a text taken from ``content`` rather than ``summary``."""
NO_SUMMARY = "$summary"
"""``Origin.extra`` note: the item's ``summary`` was absent (``"absent"``) or ``null`` (``"null"``)."""


def _at(base: str, i: int) -> str:
    return f"{base}[{i}]" if i >= 0 else base


def _path(message: int, index: int) -> str:
    return f"messages[{message}].blocks[{index}]" if message >= 0 else f"blocks[{index}]"


def _texts(parts: Any, base: str, i: int, key: str) -> list[str]:
    """The ``text`` of every part of a ``summary`` / ``content`` array."""
    if type(parts) is not list:
        raise fail(f"{_at(base, i)}.{key}", "an array", parts)
    out: list[str] = []
    for n, part in enumerate(parts):
        text = part.get("text") if type(part) is dict else None
        if type(text) is not str:
            where = f"{_at(base, i)}.{key}[{n}]"
            if type(part) is not dict:
                raise fail(where, "an object", part)
            raise fail(f"{where}.text", "a string", text)
        out.append(text)
    return out


def _is_single(parts: list[Any], kind: str, text: str) -> bool:
    """Whether ``parts`` is exactly the one part the default rebuild would write for ``text``."""
    if len(parts) != 1 or not text:
        return False
    part = parts[0]
    return len(part) == 2 and part.get("type") == kind and part.get("text") == text


def decode_reasoning(
    item: dict[str, Any], base: str, i: int, provider: str | None, model: str | None
) -> Thinking | RedactedThinking:
    """One reasoning item (at ``base[i]``; ``i`` -1 when ``base`` names it) as a block."""
    if len(item) == 3:
        # Fast path: exactly {"type": "reasoning", "summary": [one plain summary_text part],
        # "encrypted_content": str}, the stateless form. Nothing to store in the origin.
        summary = item.get("summary")
        signature = item.get("encrypted_content")
        if type(signature) is str and type(summary) is list and len(summary) == 1:
            part = summary[0]
            if type(part) is dict and len(part) == 2 and part.get("type") == "summary_text":
                text = part.get("text")
                if type(text) is str and text and item.get("type") == "reasoning":
                    origin = Origin(dialect=DIALECT, provider=provider, model=model)
                    return Thinking(text=text, signature=signature, origin=origin)
    return decode_reasoning_general(item, base, i, provider, model)


def decode_reasoning_general(
    item: dict[str, Any], base: str, i: int, provider: str | None, model: str | None
) -> Thinking | RedactedThinking:
    """``decode_reasoning`` without its fast path (every form)."""
    store: dict[str, Any] = {}
    if "id" in item:
        store["id"] = item_id = item["id"]
        if item_id is not None and type(item_id) is not str:
            raise fail(f"{_at(base, i)}.id", "a string", item_id)
    if "status" in item:
        store["status"] = item["status"]
    signature = item.get("encrypted_content")
    if signature is None:
        if "encrypted_content" in item:
            store["encrypted_content"] = None
    elif type(signature) is not str:
        raise fail(f"{_at(base, i)}.encrypted_content", "a string", signature)

    summary = item.get("summary")
    if summary is None:  # tolerated, written back as [] with a loss (see the module docstring)
        store[NO_SUMMARY] = "null" if "summary" in item else "absent"
    elif type(summary) is not list:
        raise fail(f"{_at(base, i)}.summary", "an array", summary)
    content = item.get("content")
    if type(content) is list and content:
        text = "".join(_texts(content, base, i, "content"))
        store[SOURCE] = "content"
        if not _is_single(content, "reasoning_text", text):
            store["content"] = content
        if summary:
            _texts(summary, base, i, "summary")
            store["summary"] = summary
    else:
        if "content" in item:
            if content is not None and type(content) is not list:
                raise fail(f"{_at(base, i)}.content", "an array", content)
            store["content"] = content
        if not summary:  # [], or absent / null (noted above)
            text = ""
        elif type(summary) is list and len(summary) == 1 and type(summary[0]) is dict:
            part = summary[0]  # one part: the common case
            text = part.get("text")  # type: ignore[assignment]
            if type(text) is not str:
                _texts(summary, base, i, "summary")  # raises, naming the part
            if not text or len(part) != 2 or part.get("type") != "summary_text":
                store["summary"] = summary
        else:
            text = "\n\n".join(_texts(summary, base, i, "summary"))
            if not _is_single(summary, "summary_text", text):
                store["summary"] = summary
    origin = Origin(dialect=DIALECT, provider=provider, model=model, extra=store)
    # encrypted content (even "") with no clear text is redacted reasoning
    redacted = signature if not summary and SOURCE not in store else None
    if item.keys() <= REASONING_KEYS:
        if redacted is not None:
            return RedactedThinking(data=redacted, origin=origin)
        return Thinking(text=text, signature=signature, origin=origin)
    unknown = tag({k: v for k, v in item.items() if k not in REASONING_KEYS})
    if redacted is not None:
        return RedactedThinking(data=redacted, origin=origin, extra=unknown)
    return Thinking(text=text, signature=signature, origin=origin, extra=unknown)


def _carried(block: Thinking | RedactedThinking) -> bool:
    """``carries_signature`` with a fast answer for the blocks this dialect decoded."""
    origin = block.origin
    if origin is not None and origin.dialect == DIALECT and "format" not in origin.extra:
        return True
    return carries_signature(block, DIALECT)


def _foreign_id(block: Thinking | RedactedThinking, log: LossLog, message: int, index: int) -> str | None:
    """The item id of a block decoded elsewhere: kept when its family is ours (an OpenRouter
    ``reasoning_details`` entry of format ``openai-responses-v1`` carries the ``rs_`` id)."""
    origin = block.origin
    if origin is None or not origin.extra:
        return None
    ours = signature_format(block) != UNKNOWN_FORMAT and carries_signature(block, DIALECT)
    item_id = origin.extra.get("id") if ours else None
    rest = [k for k in origin.extra if not (k == "id" and isinstance(item_id, str))]
    if rest:
        detail = f"{origin.dialect} re-emission details {rest} have no place in {DIALECT}"
        log.add(_path(message, index), "origin", detail)
    return item_id if isinstance(item_id, str) else None


def _write(
    block: Thinking | RedactedThinking, text: str, signed: bool, log: LossLog, message: int, index: int
) -> dict[str, Any]:
    """The item without its ``encrypted_content`` (the callers add it)."""
    origin = block.origin
    item: dict[str, Any] = {}
    if origin is None or origin.dialect != DIALECT:
        item_id = _foreign_id(block, log, message, index)
        if item_id is not None:
            item["id"] = item_id
        item["type"] = "reasoning"
        item["summary"] = [{"type": "summary_text", "text": text}] if text or signed else []
        return item
    store = origin.extra
    if not store:
        item["type"] = "reasoning"
        item["summary"] = [{"type": "summary_text", "text": text}] if text or signed else []
        return item
    if "id" in store:
        item["id"] = store["id"]
    item["type"] = "reasoning"
    if store.get(SOURCE) == "content":
        content = store.get("content")
        if content is None or "".join(p["text"] for p in content) != text:
            content = [{"type": "reasoning_text", "text": text}]
        item["summary"] = store.get("summary", [])
        item["content"] = content
    else:
        summary = store.get("summary")
        if summary is None or "\n\n".join(p["text"] for p in summary) != text:
            summary = [{"type": "summary_text", "text": text}] if text or signed else []
        item["summary"] = summary
        if "content" in store:
            item["content"] = store["content"]
    if "encrypted_content" in store:
        item["encrypted_content"] = None
    if "status" in store:
        item["status"] = store["status"]
    if NO_SUMMARY in store:
        was = "had no summary" if store[NO_SUMMARY] == "absent" else "had summary: null"
        detail = f"the reasoning item {was}; sent with summary: {orjson.dumps(item['summary']).decode()}"
        log.add(_path(message, index), "value", detail + " (the API requires it)")
    return item


def encode_reasoning(block: Thinking, log: LossLog, message: int, index: int) -> dict[str, Any]:
    """A ``Thinking`` block as a reasoning item (see the module docstring for the rules).
    ``message`` / ``index`` locate it for loss reports (``message`` -1 in a response)."""
    origin = block.origin
    if not block.extra and (origin is None or (not origin.extra and origin.dialect == DIALECT)):
        # Fast path: a block with nothing stored (ours, or of unknown origin); its signature,
        # if any, is carried, and the text is one summary part (what ``_write`` writes).
        text, signature = block.text, block.signature
        item: dict[str, Any] = {
            "type": "reasoning",
            "summary": [{"type": "summary_text", "text": text}] if text or signature is not None else [],
        }
        if signature is not None:
            item["encrypted_content"] = signature
        return item
    return encode_reasoning_general(block, log, message, index)


def encode_reasoning_general(block: Thinking, log: LossLog, message: int, index: int) -> dict[str, Any]:
    """``encode_reasoning`` without its fast path (every form)."""
    carried = block.signature is not None and _carried(block)
    item = _write(block, block.text, carried, log, message, index)
    if carried:
        item["encrypted_content"] = block.signature
    elif block.signature is not None:
        issuer = block.origin.dialect if block.origin is not None else "another issuer"
        detail = f"{issuer} signature cannot be sent as encrypted_content; dropped"
        log.add(_path(message, index), "signature", detail)
    if block.extra:
        item.update(log.foreign_extra(_path(message, index), block.extra, DIALECT))
    return item


def encode_redacted(block: RedactedThinking, log: LossLog, message: int, index: int) -> dict[str, Any] | None:
    """Encrypted-only reasoning as ``summary: []`` plus ``encrypted_content``, when the data is
    of our family; otherwise ``None`` and a ``redacted`` loss."""
    if not _carried(block):
        issuer = block.origin.dialect if block.origin is not None else "another issuer"
        detail = f"{issuer} redacted reasoning cannot be carried by {DIALECT}; omitted"
        log.add(_path(message, index), "redacted", detail)
        return None
    item = _write(block, "", False, log, message, index)
    item["encrypted_content"] = block.data
    if block.extra:
        item.update(log.foreign_extra(_path(message, index), block.extra, DIALECT))
    return item
