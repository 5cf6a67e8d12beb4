"""IR blocks of one assistant turn -> an OpenAI Chat assistant message.

The wire has fixed slots -- the reasoning fields, ``content``, ``tool_calls`` -- so a block
that follows one of a later slot (thinking after text or a tool call, text after a tool call)
is moved into its slot with an ``order`` loss; ``<think>`` tags are the exception, as they sit
inside ``content`` in block order. One IR message is never split into several chat messages.

Each thinking block goes in ``resolve_carrier``'s carrier. ``reasoning_content`` and
``reasoning`` hold one string: several blocks are concatenated (``shape`` loss), signatures
and redacted blocks have no place (``signature`` / ``redacted`` losses). ``reasoning_details``
holds one item per block, signatures of every family included. ``<think>`` tags cannot carry
signatures or redacted blocks either.

``content`` is a string when the message was one (``plain``) or holds at most one text, and a
parts array for several texts of a non-plain message or any non-text part; ``extra[FORM]``
records the exceptions (``"absent"``, ``"parts"``). With no text, ``plain`` gives ``""`` and
otherwise ``null``. ``<think>`` tags force a string.
"""

from __future__ import annotations

from typing import Any, Final, Literal

from thinkwire.dialects.openai_chat.carriers import (
    CLOSE_TAG,
    DIALECT,
    FORM,
    OPEN_TAG,
    SEPARATOR,
    encode_detail,
    is_details_item,
    origin_loss,
    own_extra,
    reasoning_text,
    same_carrier,
)
from thinkwire.dialects.openai_chat.parts import block_path, encode_part, encode_tool_call, is_tool_call_item
from thinkwire.ir.blocks import Block, Carrier, Opaque, RedactedThinking, Text, Thinking, ToolCall
from thinkwire.ir.losses import LossLog

Slot = Literal[0, 1, 2]
_SLOT_NAMES: Final = ("reasoning", "content", "tool_calls")
_STRING_CARRIERS: Final = frozenset({"reasoning_content", "reasoning"})


def encode_assistant(
    blocks: tuple[Block, ...],
    path: str,
    carrier: Carrier | None,
    log: LossLog,
    *,
    extras: dict[str, Any],
    plain: bool,
    string_default: bool = False,
) -> dict[str, Any]:
    """An assistant message. ``extras`` are this dialect's fields kept at decode (written
    first, so fields made from the blocks take precedence). ``string_default`` makes several
    texts one string (a response's ``content`` is always one)."""
    if carrier is None:
        carrier = _one_field(blocks)
    if FORM not in extras:
        fast = _common_shape(blocks, carrier, extras, plain, string_default, path, log)
        if fast is not None:
            return fast
    collector = _Assistant(path, carrier, log)
    for i, block in enumerate(blocks):
        collector.add(i, block)
    out: dict[str, Any] = {"role": "assistant"}
    out.update((k, v) for k, v in extras.items() if k != FORM)
    form = extras.get(FORM, {}).get("content")
    has_content, content = collector.content(plain=plain, string_default=string_default, form=form)
    if has_content and (content is not None or "content" not in out):
        out["content"] = content
    out.update(collector.fields())
    if collector.calls:
        out["tool_calls"] = collector.calls
    return out


def _common_shape(
    blocks: tuple[Block, ...],
    carrier: Carrier | None,
    extras: dict[str, Any],
    plain: bool,
    joined: bool,
    path: str,
    log: LossLog,
) -> dict[str, Any] | None:
    """The message for the shapes nearly every turn has, built directly: thinking with no
    origin extras (at most one block bound for a reasoning field, where a signature is
    dropped with the collector's ``signature`` loss; any number of unsigned ones in
    ``<think>`` tags), texts, then tool calls, nothing in block ``extra``. ``None`` for any
    other shape: the collector handles it (the tests check both give the same message and
    losses)."""
    field: Carrier | None = None
    thought = ""
    signed = -1  # index of the reasoning-field block whose signature is dropped
    pieces: list[str] = []
    texts = 0
    tagged = False
    calls: list[dict[str, Any]] = []
    stage = 0
    for i, block in enumerate(blocks):
        if type(block) is Text and stage < 2 and not block.extra:
            stage = 1
            texts += 1
            pieces.append(block.text)
        elif type(block) is ToolCall and not block.extra:
            stage = 2
            function = {"name": block.name, "arguments": block.arguments}
            calls.append({"id": block.id, "type": "function", "function": function})
        elif type(block) is Thinking and not block.extra:
            origin = block.origin
            where = carrier  # resolve_carrier, inlined
            if origin is not None:
                if origin.extra:
                    return None
                if where is None and origin.dialect == DIALECT:
                    where = origin.carrier
            if where is None:
                where = "reasoning_content"
            if where == "think-tags" and stage < 2 and block.signature is None:
                stage, tagged = 1, True
                pieces.append(f"{OPEN_TAG}{block.text}{CLOSE_TAG}")
            elif where in _STRING_CARRIERS and stage == 0 and field is None:
                field, thought = where, block.text
                if block.signature is not None:
                    signed = i
            else:
                return None
        else:
            return None
    if texts > 1 and not (plain or joined or tagged):
        return None
    out: dict[str, Any] = {"role": "assistant", **extras}
    if pieces:
        out["content"] = pieces[0] if len(pieces) == 1 else "".join(pieces)
    elif "content" not in out:
        out["content"] = "" if plain else None
    if field is not None:
        out[field] = thought
        if signed >= 0:  # the loss the collector reports for it
            detail = f"{field} has no place for a signature; sent unsigned"
            log.add(block_path(path, signed), "signature", detail)
    if calls:
        out["tool_calls"] = calls
    return out


_READ_ORDER: Final[dict[str, int]] = {"reasoning_details": 0, "reasoning_content": 1, "reasoning": 2}


def _one_field(blocks: tuple[Block, ...]) -> Carrier | None:
    """The carrier every thinking block must share, when their own carriers would mislead.

    A reader takes reasoning fields in the order ``reasoning_details``, ``reasoning_content``,
    ``reasoning``, and ``content`` as plain text once a field is present. Blocks whose own
    carriers follow that order are written in them; otherwise (a ``<think>`` beside a field,
    or ``reasoning`` before ``reasoning_content``) all go in the first block's field, so the
    reasoning is read back in order (merging is reported as a ``shape`` loss). ``None``: no
    override needed.
    """
    carriers = [resolve_carrier(b, None) for b in blocks if isinstance(b, Thinking | RedactedThinking)]
    fields = [c for c in carriers if c != "think-tags"]
    if not fields:
        return None
    ranks = [_READ_ORDER[c] for c in fields]
    if len(fields) == len(carriers) and ranks == sorted(ranks):
        return None
    return fields[0]


def resolve_carrier(block: Thinking | RedactedThinking, carrier: Carrier | None) -> Carrier:
    """The carrier a block is written in: the forced one, else the one it came in (when it
    came from this dialect), else ``reasoning_content``."""
    if carrier is not None:
        return carrier
    origin = block.origin
    if origin is not None and origin.dialect == DIALECT and origin.carrier is not None:
        return origin.carrier
    return "reasoning_content"


class _Assistant:
    """Collects an assistant message's blocks into the wire's slots, reporting what moves."""

    def __init__(self, path: str, carrier: Carrier | None, log: LossLog) -> None:
        self.path, self.carrier, self.log = path, carrier, log
        self.strings: dict[Carrier, list[tuple[str, Thinking | RedactedThinking]]] = {}
        self.details: list[dict[str, Any]] = []
        self.details_blocks: list[Thinking | RedactedThinking] = []
        self.pieces: list[tuple[str, Any, str]] = []  # (kind, value, IR path)
        self.unclosed_piece = -1
        self.calls: list[dict[str, Any]] = []
        self.first_reasoning: Thinking | RedactedThinking | None = None
        self.slot = 0

    def add(self, index: int, block: Block) -> None:
        where = block_path(self.path, index)
        slot: Slot
        if isinstance(block, Thinking | RedactedThinking):
            slot = self._reasoning(block, where)
        elif isinstance(block, Text):
            slot = 1
            same = own_extra(self.log, where, block.extra)
            if same:
                self.pieces.append(("part", {"type": "text", "text": block.text, **same}, where))
            else:
                self.pieces.append(("text", block.text, where))
        elif isinstance(block, ToolCall):
            slot = 2
            self.calls.append(encode_tool_call(block, where, self.log))
        elif isinstance(block, Opaque) and block.dialect == DIALECT and is_tool_call_item(block.data):
            slot = 2
            self.calls.append(block.data)
        elif isinstance(block, Opaque) and block.dialect == DIALECT and is_details_item(block.data):
            slot = 0
            self.details.append(block.data)
        else:
            part = encode_part(block, where, self.log)
            if part is None:
                return
            slot = 1
            self.pieces.append(("part", part, where))
        if slot < self.slot:
            self.log.add(
                where,
                "order",
                f"{_describe_block(block)} after {_SLOT_NAMES[self.slot]} moves to the {_SLOT_NAMES[slot]} "
                "slot (openai-chat orders reasoning, content, tool_calls)",
            )
        self.slot = max(self.slot, slot)

    def _reasoning(self, block: Thinking | RedactedThinking, where: str) -> Slot:
        if self.first_reasoning is None:
            self.first_reasoning = block
        carrier = resolve_carrier(block, self.carrier)
        if carrier == "reasoning_details":
            self.details.append(encode_detail(block, len(self.details), where, self.log))
            self.details_blocks.append(block)
            return 0
        if carrier != "think-tags":
            self.strings.setdefault(carrier, []).append((where, block))
            return 0
        if isinstance(block, RedactedThinking):
            self.log.add(where, "redacted", "encrypted reasoning has no place in <think> tags; omitted")
            return 1
        if block.signature is not None:
            self.log.add(where, "signature", "<think> tags have no place for a signature; sent unsigned")
        if not same_carrier(block, "think-tags"):
            origin_loss(block, where, self.log)
        elif block.origin is not None and block.origin.extra.get("unclosed"):
            self.unclosed_piece = len(self.pieces)
        self.pieces.append(("tag", block.text, where))
        return 1

    def fields(self) -> dict[str, Any]:
        """The reasoning fields (``reasoning_content``, ``reasoning``, ``reasoning_details``)."""
        out: dict[str, Any] = {}
        for carrier, entries in self.strings.items():
            thinking = [(w, b) for w, b in entries if isinstance(b, Thinking)]
            for where, block in entries:
                if isinstance(block, RedactedThinking):
                    self.log.add(where, "redacted", f"encrypted reasoning has no place in {carrier}; omitted")
                    continue
                if block.signature is not None:
                    self.log.add(where, "signature", f"{carrier} has no place for a signature; sent unsigned")
                if not same_carrier(block, carrier):
                    origin_loss(block, where, self.log)
            if len(thinking) > 1:
                self.log.add(
                    thinking[1][0],
                    "shape",
                    f"{len(thinking)} thinking blocks joined into one {carrier} string by blank lines",
                )
            if thinking:
                out[carrier] = SEPARATOR.join(b.text for _, b in thinking)
        self._keep_apart(out)
        if self.details:
            out["reasoning_details"] = self.details
        self._mirror(out)
        return out

    def _keep_apart(self, out: dict[str, Any]) -> None:
        """A lower-priority field holding exactly the text of a higher one is read back as a
        mirror of it (as OpenRouter's ``reasoning`` mirrors ``reasoning_details``), so blocks
        that only happen to match must not be written that way: they join the higher field."""
        if self.details and out.get("reasoning_content") == reasoning_text(self.details_blocks):
            self._into_details(out, "reasoning_content")
        if self.details and out.get("reasoning") == reasoning_text(self.details_blocks):
            self._into_details(out, "reasoning")
        if "reasoning" in out and out.get("reasoning_content") == out["reasoning"]:
            where = next(w for w, b in self.strings["reasoning"] if isinstance(b, Thinking))
            detail = "reasoning with the same text as reasoning_content joins it (else read as a mirror)"
            self.log.add(where, "shape", detail)
            out["reasoning_content"] += out.pop("reasoning")

    def _into_details(self, out: dict[str, Any], carrier: Carrier) -> None:
        del out[carrier]
        for where, block in self.strings[carrier]:
            if isinstance(block, Thinking):
                self.details.append(encode_detail(block, len(self.details), where, self.log))
                self.details_blocks.append(block)

    def _mirror(self, out: dict[str, Any]) -> None:
        """Regenerate the fields the first reasoning block noted as mirrors of its carrier."""
        first = self.first_reasoning
        if (
            self.carrier is not None
            or first is None
            or first.origin is None
            or first.origin.dialect != DIALECT
        ):
            return
        mirrors = first.origin.extra.get("mirror")
        if not mirrors:
            return
        carrier = resolve_carrier(first, None)
        if carrier == "reasoning_details":
            text = reasoning_text(self.details_blocks)
        elif carrier in out:
            text = out[carrier]
        else:
            return
        for name in mirrors:
            out.setdefault(name, text)

    def content(self, *, plain: bool, string_default: bool, form: str | None) -> tuple[bool, Any]:
        """``(has_content, value)``: the ``content`` made from the collected pieces."""
        pieces = self.pieces
        if not pieces:
            if form == "absent":
                return False, None
            if form == "parts":
                return True, []
            return True, ("" if plain else None)
        tags = any(kind == "tag" for kind, _, _ in pieces)
        parts = any(kind == "part" for kind, _, _ in pieces)
        if tags:  # <think> only lives in a string: parts cannot come along
            return True, self._tagged_string()
        texts = sum(1 for kind, _, _ in pieces if kind == "text")
        if not parts and form != "parts" and (plain or string_default or texts <= 1):
            return True, "".join(value for _, value, _ in pieces)
        return True, [{"type": "text", "text": v} if kind == "text" else v for kind, v, _ in pieces]

    def _tagged_string(self) -> str:
        out: list[str] = []
        last = len(self.pieces) - 1
        for n, (kind, value, where) in enumerate(self.pieces):
            if kind == "text":
                out.append(value)
            elif kind == "tag":
                closing = "" if n == self.unclosed_piece == last else CLOSE_TAG
                out.append(f"{OPEN_TAG}{value}{closing}")
            elif value.get("type") == "text" and isinstance(value.get("text"), str):
                self.log.add(where, "field", "text part fields have no place in a string with <think> tags")
                out.append(value["text"])
            else:
                self.log.add(where, "block", "a content part has no place in a string with <think> tags")
        return "".join(out)


def _describe_block(block: Block) -> str:
    if isinstance(block, Thinking | RedactedThinking):
        return "thinking"
    if isinstance(block, ToolCall):
        return "tool call"
    return "text" if isinstance(block, Text) else "content"
