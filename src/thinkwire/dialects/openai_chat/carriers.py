"""The four reasoning carriers of OpenAI Chat, read and written.

| carrier | wire | IR |
|---|---|---|
| ``reasoning_content`` | one string on the assistant message | one ``Thinking`` |
| ``reasoning`` | one string on the assistant message | one ``Thinking`` |
| ``reasoning_details`` | an array of typed items | one block per item, in order |
| ``think-tags`` | ``<think>...</think>`` inside ``content`` | ``Thinking`` blocks inline with ``Text`` |

``reasoning_details`` items map as ``reasoning.text`` -> ``Thinking(text, signature)``,
``reasoning.summary`` -> ``Thinking(text=summary)`` with ``type`` kept in the origin, and
``reasoning.encrypted`` -> ``RedactedThinking(data)``; any other ``reasoning.*`` type stays
``Opaque`` (a type outside ``reasoning.*`` is a ``DecodeError``: it could not be written back
into the array). Every other field of an item (``id``, ``format``, ``index``, unknown keys) is kept
in ``Origin.extra`` so the array is written back unchanged.

Odd values in ``Origin.extra`` (all of them re-emission data, never shown to anyone):

* ``"signature": None`` -- the item had ``"signature": null`` (the block has no signature
  but the key is written back). A block with a signature never carries this note: a stream
  whose first piece says ``"signature": null`` and whose signature comes later drops it when
  the signature arrives, so it folds to the same block as its non-streamed twin.
* ``"text": None`` -- the ``reasoning.text`` item had ``"text": null`` (the block's text is
  ``""``).
* ``"mirror": ["reasoning"]`` -- on the first reasoning block of a message: the named
  lower-priority field repeated the same reasoning (OpenRouter sends ``reasoning`` beside
  ``reasoning_details``); it is regenerated on the way back.
* ``"unclosed": True`` -- a ``<think>`` with no ``</think>`` (output cut short); written back
  without a closing tag when it is the last thing in ``content``.
"""

from __future__ import annotations

from typing import Any, Final, Literal, Protocol

from thinkwire.dialects._reasoning import signature_format
from thinkwire.dialects._wire import obj, req
from thinkwire.errors import DecodeError
from thinkwire.ir.blocks import Block, Carrier, Extra, Opaque, Origin, RedactedThinking, Text, Thinking
from thinkwire.ir.losses import LossLog

DIALECT: Final = "openai-chat"
FORM: Final = "$form"
"""Key in an ``extra`` dict (never a wire field): records the wire form of a field where the IR
alone would be written differently, e.g. ``{"content": "absent"}`` or ``{"content": "parts"}``."""


class _Absent:
    """The type of ``ABSENT``."""


ABSENT: Final = _Absent()
"""Marks a missing field where ``None`` would mean the JSON ``null``."""

OPEN_TAG: Final = "<think>"
CLOSE_TAG: Final = "</think>"

SEPARATOR: Final = "\n\n"
"""Between two thinking blocks written into one carrier string (a Claude turn thinks in two
blocks; ``reasoning_content`` holds one string): a blank line, so the join stays readable and
"I will answer." does not run into "My earlier ...". Reading the string back gives one block;
the state compares thinking with whitespace removed, so it still recognises the turn and puts
the original blocks back (``thinkwire.store.restore``)."""

FIELD_CARRIERS: Final[tuple[Carrier, ...]] = ("reasoning_details", "reasoning_content", "reasoning")
"""Carriers that are message fields, in decoding priority order (think-tags come last)."""

_TEXT_TYPE: Final = "reasoning.text"
_SUMMARY_TYPE: Final = "reasoning.summary"
_ENCRYPTED_TYPE: Final = "reasoning.encrypted"
_PAYLOAD: Final = {_TEXT_TYPE: "text", _SUMMARY_TYPE: "summary", _ENCRYPTED_TYPE: "data"}
_NOT_ORIGIN_LOSS: Final = frozenset({"mirror", "signature"})


def own_extra(log: LossLog, path: str, extra: Extra) -> dict[str, Any]:
    """This dialect's fields in ``extra``; every other dialect's are reported as ``field`` losses."""
    return log.foreign_extra(path, extra, DIALECT) if extra else {}


# ---------------------------------------------------------------------------------------------
# think-tags


def split_think_tags(content: str, origin: Origin) -> list[Text | Thinking]:
    """``content`` as inline blocks: ``x<think>a</think>y`` -> ``Text x, Thinking a, Text y``.

    Thinking text is the exact inner text and text keeps its whitespace, so joining the
    blocks back with tags reproduces ``content`` byte for byte. Tags do not nest: the first
    ``</think>`` closes. A final ``<think>`` without ``</think>`` gives a thinking block marked
    ``unclosed``. Empty text between tags gives no block.
    """
    blocks: list[Text | Thinking] = []
    pos, size = 0, len(content)
    while pos < size:
        start = content.find(OPEN_TAG, pos)
        if start == -1:
            blocks.append(Text(text=content[pos:]))
            break
        if start > pos:
            blocks.append(Text(text=content[pos:start]))
        inner = start + len(OPEN_TAG)
        end = content.find(CLOSE_TAG, inner)
        if end == -1:
            unclosed = Origin(
                dialect=DIALECT,
                carrier="think-tags",
                provider=origin.provider,
                model=origin.model,
                extra={"unclosed": True},
            )
            blocks.append(Thinking(text=content[inner:], origin=unclosed))
            break
        blocks.append(Thinking(text=content[inner:end], origin=origin))
        pos = end + len(CLOSE_TAG)
    return blocks


SplitKind = Literal["text", "think", "open", "close"]


class ThinkSplitter:
    """Splits streamed ``content`` into text and thinking as tags go by.

    A tag may be cut across chunks (``"<thi"`` + ``"nk>"``): the longest tail of the input
    that could still become the awaited tag is held back until the next chunk (at most six
    characters); ``flush`` releases it at the end. ``"a < b"`` is released as soon as the
    character after ``<`` rules the tag out. Output items are ``(kind, text)`` where ``open``
    and ``close`` mark the tags themselves (their text is empty).
    """

    def __init__(self) -> None:
        self.inside = False
        self._held = ""

    def feed(self, chunk: str) -> list[tuple[SplitKind, str]]:
        buf = self._held + chunk if self._held else chunk
        out: list[tuple[SplitKind, str]] = []
        pos = 0
        while True:
            tag = CLOSE_TAG if self.inside else OPEN_TAG
            kind: SplitKind = "think" if self.inside else "text"
            hit = buf.find(tag, pos)
            if hit == -1:
                keep = _partial_tag_start(buf, tag, pos)
                if keep > pos:
                    out.append((kind, buf[pos:keep]))
                self._held = buf[keep:]
                return out
            if hit > pos:
                out.append((kind, buf[pos:hit]))
            out.append(("close" if self.inside else "open", ""))
            self.inside = not self.inside
            pos = hit + len(tag)

    def flush(self) -> list[tuple[SplitKind, str]]:
        """What was held back, as plain text or thinking (the stream has ended)."""
        held, self._held = self._held, ""
        if not held:
            return []
        return [("think" if self.inside else "text", held)]


def _partial_tag_start(buf: str, tag: str, start: int) -> int:
    """Where the tail of ``buf[start:]`` that is a proper prefix of ``tag`` begins, or
    ``len(buf)``. Both tags hold one ``<``, at their start, so only the last ``<`` can begin it."""
    size = len(buf)
    last = buf.rfind("<", max(start, size - len(tag) + 1))
    if last != -1 and tag.startswith(buf[last:]):
        return last
    return size


# ---------------------------------------------------------------------------------------------
# reasoning_details


def details_origin_extra(item: dict[str, Any], payload: str) -> dict[str, Any]:
    """What an item needs besides its payload to be written back unchanged (see module doc)."""
    keep = {k: v for k, v in item.items() if k not in ("type", payload, "signature")}
    if item.get("type") == _SUMMARY_TYPE:
        keep["type"] = _SUMMARY_TYPE
    if "signature" in item and item["signature"] is None:
        keep["signature"] = None
    return keep


def decode_details(items: list[Any], path: str, origins: OriginMaker) -> list[Block]:
    """A non-empty ``reasoning_details`` array as blocks, one per item, in order."""
    blocks: list[Block] = []
    for i, item in enumerate(items):
        if type(item) is not dict:
            obj(item, f"{path}[{i}]")
        kind = item.get("type")
        payload = _PAYLOAD.get(kind) if type(kind) is str else None
        if payload is None:
            req(item, "type", str, f"{path}[{i}]")
            if not is_details_item(item) or ("id" in item and kind in item):
                # written back by its type: only a ``reasoning.*`` item returns to this array
                raise DecodeError(f"{path}[{i}].type", f"expected a 'reasoning.*' item type, got {kind!r}")
            blocks.append(Opaque(dialect=DIALECT, data=item))
            continue
        extra = details_origin_extra(item, payload)
        value = item.get(payload)
        if type(value) is not str:
            if kind == _TEXT_TYPE and payload in item and value is None:
                extra["text"] = None  # "text": null reads as ""
                value = ""
            else:
                value = req(item, payload, str, f"{path}[{i}]")
        origin = origins.with_extra("reasoning_details", extra)
        if kind == _ENCRYPTED_TYPE:
            blocks.append(RedactedThinking(data=value, origin=origin))
            continue
        signature = item.get("signature")
        if signature is not None and type(signature) is not str:
            req(item, "signature", str, f"{path}[{i}]")
        blocks.append(Thinking(text=value, signature=signature, origin=origin))
    return blocks


class OriginMaker(Protocol):
    def with_extra(self, carrier: Carrier, extra: dict[str, Any], /) -> Origin: ...


def is_details_item(data: dict[str, Any]) -> bool:
    """An ``Opaque`` holding a ``reasoning_details`` item of a type the IR does not model."""
    kind = data.get("type")
    return isinstance(kind, str) and kind.startswith("reasoning.")


def same_carrier(block: Thinking | RedactedThinking, carrier: Carrier) -> bool:
    """Whether ``block`` was decoded from this dialect's ``carrier`` (its origin extras apply)."""
    origin = block.origin
    return origin is not None and origin.dialect == DIALECT and origin.carrier == carrier


def encode_detail(
    block: Thinking | RedactedThinking, position: int, path: str, log: LossLog
) -> dict[str, Any]:
    """One ``reasoning_details`` item. A block decoded from ``reasoning_details`` is written back
    exactly as it came; any other gets ``format`` (its signature family), ``index`` (its
    position) and ``id`` (when its origin has one). Signatures of every family fit here."""
    native = same_carrier(block, "reasoning_details")
    extra = block.origin.extra if block.origin is not None else {}
    if isinstance(block, RedactedThinking):
        item: dict[str, Any] = {"type": _ENCRYPTED_TYPE, "data": block.data}
    else:
        kind = extra.get("type", _TEXT_TYPE) if native else _TEXT_TYPE
        item = {"type": kind}
        payload = _PAYLOAD.get(kind, "text")
        if not (block.text == "" and native and payload in extra):
            item[payload] = block.text
        if block.signature is not None or (native and "signature" in extra):
            item["signature"] = block.signature
    if native:
        for key, value in extra.items():
            if key not in item and key != "mirror":
                item[key] = value
        return item
    origin_id = extra.get("id")
    if isinstance(origin_id, str):
        item["id"] = origin_id
    item["format"] = signature_format(block)
    item["index"] = position
    origin_loss(block, path, log, used=frozenset({"id", "format"}))
    return item


def origin_loss(
    block: Thinking | RedactedThinking, path: str, log: LossLog, *, used: frozenset[str] = frozenset()
) -> None:
    """Report the origin's re-emission details that the chosen carrier has no place for."""
    origin = block.origin
    if origin is None or not origin.extra:
        return
    lost = sorted(k for k in origin.extra if k not in used and k not in _NOT_ORIGIN_LOSS)
    if lost:
        where = f"{origin.dialect} {origin.carrier}" if origin.carrier else origin.dialect
        log.add(path, "origin", f"re-emission details of {where} ({', '.join(lost)}) have no place here")


def reasoning_text(blocks: list[Thinking | RedactedThinking]) -> str:
    """The clear text of ``blocks`` joined with no separator: what a mirror field holds."""
    return "".join(b.text for b in blocks if isinstance(b, Thinking))
