"""IR stream events -> OpenAI Chat stream chunks (``chat.completion.chunk`` SSE events).

Every chunk repeats the ``id`` / ``created`` / ``model`` (and vendor top-level fields) of the
``MessageStart``; the first delta carries ``role``. Each block is written as it streams:
text as ``content``; thinking in its carrier (``resolve_carrier``) -- a ``reasoning_details``
block as pieces sharing one ``index``, its signature as a later piece with that index; tool
calls as fragments keyed by ``index`` (id and name first, then ``arguments`` pieces). At
``MessageStop`` come the ``finish_reason`` chunk (with the choice and message fields kept in
``extra``), a ``choices: []`` chunk with the usage when it is known, and ``data: [DONE]``.

Losses are those of a whole message, plus: two thinking blocks in a row in one string carrier
would read back as one (``shape``); a block with no streamed form (image, opaque) is left out
(``block``).
"""

from __future__ import annotations

from typing import Any

import orjson

from thinkwire.dialects.openai_chat.assistant import resolve_carrier
from thinkwire.dialects.openai_chat.carriers import (
    CLOSE_TAG,
    DIALECT,
    FORM,
    OPEN_TAG,
    SEPARATOR,
    encode_detail,
    origin_loss,
    own_extra,
    same_carrier,
)
from thinkwire.dialects.openai_chat.response import encode_usage, finish_reason
from thinkwire.dialects.openai_chat.stream import CHUNK, DONE
from thinkwire.dialects.sse import format_event
from thinkwire.errors import EncodeError
from thinkwire.ir.blocks import Block, Carrier, Extra, Opaque, RedactedThinking, Text, Thinking, ToolCall
from thinkwire.ir.conversation import StopReason, Usage
from thinkwire.ir.losses import Loss, LossLog
from thinkwire.ir.stream import (
    ArgumentsDelta,
    BlockDelta,
    BlockStart,
    BlockStop,
    MessageDelta,
    MessageStart,
    MessageStop,
    SignatureDelta,
    StreamError,
    StreamEvent,
    TextDelta,
    ThinkingDelta,
    merge_usage,
)


class _Sent:
    """How one IR block is being written: ``kind`` is ``text``, a carrier, ``tool`` or ``skip``."""

    __slots__ = ("emitted", "head", "kind", "wire_index")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.wire_index: int | None = None
        self.head: dict[str, Any] = {}  # type, index, format: repeated on every reasoning_details piece
        self.emitted = False  # something reached the wire (else the decoder never saw it)


class ChatStreamEncoder:
    """IR stream events in, ``chat.completion.chunk`` SSE events out (``losses`` grows)."""

    def __init__(self, carrier: Carrier | None = None) -> None:
        self._carrier = carrier
        self._log = LossLog()
        self._start_extra: dict[int, Extra] = {}  # blocks' extra at their start (see BlockStop.extra)
        self.losses: list[Loss] = self._log.items
        self._head: dict[str, Any] = {"object": CHUNK}
        self._kept: list[Any] = []  # Response.extra "choices" (choice 0's leftovers)
        self._blocks: dict[int, _Sent] = {}
        self._details = 0
        self._tools = 0
        self._mirrors: list[str] = []
        self._reasoned = False
        self._field: Carrier | None = None  # the first reasoning field written, if any
        self._joined: set[Carrier] = set()  # string carriers that hold a thinking block already
        self._last: _Sent | None = None
        self._stop_reason: StopReason | None = None
        self._usage: Usage | None = None
        self._role_sent = False

    def feed(self, event: StreamEvent) -> list[bytes]:
        if isinstance(event, MessageStart):
            return self._start(event)
        if isinstance(event, BlockStart):
            if not isinstance(event.block, Opaque) and event.block.extra:
                self._start_extra[event.index] = event.block.extra
            return self._block_start(event.index, event.block)
        if isinstance(event, BlockDelta):
            return self._block_delta(event)
        if isinstance(event, BlockStop):
            if event.extra is not None:
                start = self._start_extra.pop(event.index, {})
                self._log.late_extra(f"blocks[{event.index}]", start, event.extra, DIALECT)
            sent = self._blocks.get(event.index)
            if sent is None or not sent.emitted:
                return []
            self._last = sent
            return [self._chunk({"content": CLOSE_TAG})] if sent.kind == "think-tags" else []
        if isinstance(event, MessageDelta):
            if event.stop_reason is not None:
                self._stop_reason = event.stop_reason
            if event.stop_sequence is not None:
                self._log.add(
                    "stop_sequence", "field", "openai-chat does not say which stop sequence matched"
                )
            self._usage = merge_usage(self._usage, event.usage)
            self._keep(own_extra(self._log, "", event.extra))
            return []
        if isinstance(event, MessageStop):
            return self._finish()
        if isinstance(event, StreamError):
            return [format_event(orjson.dumps({"error": event.error}).decode())]
        return []

    def close(self) -> list[bytes]:
        return []

    def _start(self, event: MessageStart) -> list[bytes]:
        head: dict[str, Any] = {}
        if event.id is not None:
            head["id"] = event.id
        head["object"] = CHUNK
        extras = own_extra(self._log, "", event.extra)
        if "created" in extras:
            head["created"] = extras["created"]
        if event.model is not None:
            head["model"] = event.model
        self._head = head
        self._keep(extras)
        self._usage = merge_usage(self._usage, event.usage)
        return [self._chunk({})]

    def _keep(self, extras: dict[str, Any]) -> None:
        for key, value in extras.items():
            if key == "choices":
                if isinstance(value, list) and value:
                    self._kept = value
                    if len(value) > 1:
                        self._log.add(
                            "extra.choices", "field", "choices other than the first cannot be streamed"
                        )
            elif key != FORM:
                self._head[key] = value

    def _chunk(
        self, delta: dict[str, Any], *, finish: Any = None, choice: dict[str, Any] | None = None
    ) -> bytes:
        if not self._role_sent:
            delta = {"role": "assistant", **delta}
            self._role_sent = True
        body: dict[str, Any] = {"index": 0, "delta": delta}
        if choice:
            body.update(choice)
        body["finish_reason"] = finish
        return format_event(orjson.dumps({**self._head, "choices": [body]}).decode())

    def _block_start(self, index: int, block: Block) -> list[bytes]:
        where = f"blocks[{index}]"
        out: list[bytes] = []
        sent: _Sent
        if isinstance(block, Text):
            sent = _Sent("text")
            if block.extra:
                self._log.foreign_extra(where, block.extra, DIALECT)
            if block.text:
                out.append(self._chunk({"content": block.text}))
        elif isinstance(block, Thinking | RedactedThinking):
            sent = self._reasoning_start(block, where, out)
        elif isinstance(block, ToolCall):
            sent = _Sent("tool")
            sent.wire_index = self._tools
            self._tools += 1
            out.append(self._chunk({"tool_calls": [self._first_fragment(block, sent.wire_index, where)]}))
        else:
            sent = _Sent("skip")
            self._log.add(where, "block", f"a {type(block).__name__} block cannot be streamed in openai-chat")
        sent.emitted = bool(out)
        self._blocks[index] = sent
        return out

    def _reasoning_start(self, block: Thinking | RedactedThinking, where: str, out: list[bytes]) -> _Sent:
        carrier = resolve_carrier(block, self._carrier)
        if carrier == "think-tags" and self._field is not None:
            carrier = self._field  # content after a reasoning field is read as plain text
        elif carrier != "think-tags" and self._field is None:
            self._field = carrier
        origin = block.origin
        if not self._reasoned and self._carrier is None and origin is not None and origin.dialect == DIALECT:
            self._mirrors = [m for m in origin.extra.get("mirror", ()) if m != carrier]
        self._reasoned = True
        sent = _Sent(carrier)
        if carrier == "reasoning_details":
            item = encode_detail(block, self._details, where, self._log)
            self._details += 1
            sent.head = {k: item[k] for k in ("type", "index", "format") if k in item}
            if isinstance(block, RedactedThinking):
                sent.kind = "skip"
            text = block.text if isinstance(block, Thinking) else None
            out.append(self._chunk({**self._mirrored(text), "reasoning_details": [item]}))
            return sent
        if isinstance(block, RedactedThinking):
            self._log.add(where, "redacted", f"encrypted reasoning has no place in {carrier}; omitted")
            sent.kind = "skip"
            return sent
        if block.signature is not None:
            self._log.add(where, "signature", f"{carrier} has no place for a signature; sent unsigned")
        if carrier == "think-tags":
            if not same_carrier(block, carrier):
                origin_loss(block, where, self._log)
            elif origin is not None and origin.extra.get("unclosed"):
                self._log.add(where, "origin", "an unclosed <think> is closed when streamed")
            out.append(self._chunk({"content": OPEN_TAG + block.text}))
            return sent
        if not same_carrier(block, carrier):
            origin_loss(block, where, self._log)
        last = self._last
        if last is not None and last.kind == carrier:
            self._log.add(where, "shape", f"consecutive thinking blocks merge into one {carrier} block")
        text = SEPARATOR + block.text if carrier in self._joined else block.text
        self._joined.add(carrier)
        out.append(self._chunk({**self._mirrored(block.text), carrier: text}))
        return sent

    def _mirrored(self, text: str | None) -> dict[str, Any]:
        """The mirror fields (noted on the first reasoning block) repeating ``text``."""
        return dict.fromkeys(self._mirrors, text) if text is not None else {}

    def _first_fragment(self, block: ToolCall, wire_index: int, where: str) -> dict[str, Any]:
        extras = own_extra(self._log, where, block.extra)
        function: dict[str, Any] = {"name": block.name, "arguments": block.arguments}
        fragment: dict[str, Any] = {
            "index": wire_index,
            "id": block.id,
            "type": "function",
            "function": function,
        }
        for key, value in extras.items():
            if key == "function":
                function.update(value)
            elif key != FORM:
                fragment[key] = value
        return fragment

    def _block_delta(self, event: BlockDelta) -> list[bytes]:
        sent = self._blocks.get(event.index)
        delta = event.delta
        if sent is None or sent.kind == "skip":
            return []
        sent.emitted = True
        kind = sent.kind
        if isinstance(delta, TextDelta | ThinkingDelta) and kind in ("text", "think-tags"):
            return [self._chunk({"content": delta.text})]
        if isinstance(delta, ArgumentsDelta) and kind == "tool":
            fragment = {"index": sent.wire_index, "function": {"arguments": delta.json}}
            return [self._chunk({"tool_calls": [fragment]})]
        if isinstance(delta, SignatureDelta):
            if kind == "reasoning_details":
                return [self._chunk({"reasoning_details": [{**sent.head, "signature": delta.signature}]})]
            if kind not in ("text", "tool"):
                self._log.add(
                    f"blocks[{event.index}]",
                    "signature",
                    f"{kind} has no place for a signature; sent unsigned",
                )
            return []
        if isinstance(delta, ThinkingDelta) and kind == "reasoning_details":
            payload = "summary" if sent.head.get("type") == "reasoning.summary" else "text"
            piece = {**sent.head, payload: delta.text}
            return [self._chunk({**self._mirrored(delta.text), "reasoning_details": [piece]})]
        if isinstance(delta, ThinkingDelta) and kind in ("reasoning_content", "reasoning"):
            return [self._chunk({**self._mirrored(delta.text), kind: delta.text})]
        raise EncodeError(f"blocks[{event.index}]", f"a {type(delta).__name__} does not fit a {kind} block")

    def _finish(self) -> list[bytes]:
        kept = dict(self._kept[0]) if self._kept and isinstance(self._kept[0], dict) else {}
        message = {k: v for k, v in kept.pop("message", {}).items() if k != FORM}
        kept.pop(FORM, None)
        kept.pop("index", None)
        raw_finish = kept.pop("finish_reason", None)
        finish = finish_reason(self._stop_reason, self._log) if self._stop_reason is not None else raw_finish
        out = [self._chunk(message, finish=finish, choice=kept)]
        if self._usage is not None:
            usage = encode_usage(self._usage, "usage", self._log)
            out.append(format_event(orjson.dumps({**self._head, "choices": [], "usage": usage}).decode()))
        out.append(format_event(DONE))
        return out
