"""IR stream events -> Anthropic Messages streams (SSE).

Writes the sequence the API sends: ``message_start`` (the message shell, ``content: []``,
usage), per block ``content_block_start`` / ``content_block_delta``... /
``content_block_stop``, one ``message_delta`` and ``message_stop``. A thinking block opens
as ``{"type": "thinking", "thinking": "", "signature": ""}`` and gets its signature as one
``signature_delta`` just before its stop; a tool call opens with ``input: {}`` and streams
its arguments as ``input_json_delta``; a redacted block opens with its data whole.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from thinkwire.dialects._reasoning import carries_signature, signature_format
from thinkwire.dialects.anthropic.blocks import DIALECT, write_back
from thinkwire.dialects.anthropic.response import ABSENT, encode_stop_reason, encode_usage
from thinkwire.errors import EncodeError
from thinkwire.ir.blocks import Extra, Opaque, RedactedThinking, Text, Thinking, ToolCall
from thinkwire.ir.conversation import StopReason, Usage
from thinkwire.ir.losses import Loss, LossKind, LossLog
from thinkwire.ir.stream import (
    ArgumentsDelta,
    BlockDelta,
    BlockStart,
    BlockStop,
    MessageDelta,
    MessageStart,
    Ping,
    SignatureDelta,
    StreamError,
    StreamEvent,
    TextDelta,
    ThinkingDelta,
    merge_usage,
)


class _Out:
    """A block being written: its wire index and kind; for thinking, the family of a
    signature that must not be written here (``issuer``, ``""`` once reported) and the
    signature pieces held until the stop (the API sends one ``signature_delta`` just before
    ``content_block_stop``, and clients keep only the last one); for a tool call, its
    arguments, checked at the stop."""

    __slots__ = ("args", "issuer", "kind", "signature", "wire")

    def __init__(self, wire: int, kind: str) -> None:
        self.wire = wire
        self.kind = kind
        self.issuer: str | None = None
        self.signature: list[str] = []
        self.args: list[str] = []


class AnthropicStreamEncoder:
    """IR stream events in, Anthropic SSE bytes out.

    Blocks the target cannot carry (foreign encrypted reasoning, foreign opaque items) are
    left out, with their deltas, and reported in ``losses``; wire indexes stay contiguous.
    ``message_delta`` is written once, just before ``message_stop``, with everything the
    ``MessageDelta`` events said (Anthropic clients overwrite, not merge, on each one).
    """

    def __init__(self) -> None:
        self._log = LossLog()
        self.losses: list[Loss] = self._log.items
        self._start_extra: dict[int, Extra] = {}  # blocks' extra at their start (see BlockStop.extra)
        self._blocks: dict[int, _Out | None] = {}
        self._next = 0
        self._started = False
        self._start_usage: Usage | None = None
        self._stop_reason: StopReason | None = None
        self._stop_sequence: str | None = None
        self._usage: Usage | None = None
        self._extra: dict[str, Any] = {}

    def feed(self, event: StreamEvent) -> list[bytes]:
        if isinstance(event, BlockDelta) and self._started:  # most of a stream
            return self._block_delta(event)
        if isinstance(event, MessageStart):
            if self._started:
                raise EncodeError("", "a second MessageStart")
            return [self._message_start(event)]
        if isinstance(event, Ping):
            return [_event({"type": "ping"})]
        if isinstance(event, StreamError):
            return [_event({"type": "error", "error": event.error})]
        out = [] if self._started else [self._message_start(MessageStart())]
        if isinstance(event, BlockStart):
            out += self._block_start(event)
        elif isinstance(event, BlockDelta):
            out += self._block_delta(event)
        elif isinstance(event, BlockStop):
            out += self._block_stop(event)
        elif isinstance(event, MessageDelta):
            self._message_delta(event)
        else:
            out += [self._flush_message_delta(), _event({"type": "message_stop"})]
        return out

    def close(self) -> list[bytes]:
        """Nothing to add: a stream that ended without ``MessageStop`` is passed on cut short."""
        return []

    def _message_start(self, event: MessageStart) -> bytes:
        self._started = True
        self._start_usage = event.usage
        message: dict[str, Any] = {}
        if event.id is not None:
            message["id"] = event.id
        message.update(type="message", role="assistant")
        if event.model is not None:
            message["model"] = event.model
        message.update(content=[], stop_reason=None, stop_sequence=None)
        message["usage"] = encode_usage(event.usage, "usage", LossLog())  # zeros are provisional
        if event.extra:
            own = self._log.foreign_extra("", event.extra, DIALECT)
            write_back(message, {k: v for k, v in own.items() if k != ABSENT})  # a stream sends both
        return _event({"type": "message_start", "message": message})

    def _block_start(self, event: BlockStart) -> list[bytes]:
        index, block = event.index, event.block
        path = f"blocks[{index}]"
        if not isinstance(block, Opaque) and block.extra:
            self._start_extra[index] = block.extra
        start: dict[str, Any]
        after: list[dict[str, Any]] = []
        if isinstance(block, Text):
            start = {"type": "text", "text": ""}
            own = self._log.foreign_extra(path, block.extra, DIALECT) if block.extra else {}
            citations = own.get("citations")
            start.update(own)
            if isinstance(citations, list):
                start["citations"] = []
                after += [{"type": "citations_delta", "citation": c} for c in citations]
            if block.text:
                after.append({"type": "text_delta", "text": block.text})
            kind = "text"
        elif isinstance(block, Thinking):
            start = {"type": "thinking", "thinking": "", "signature": ""}
            if block.extra:
                start.update(self._log.foreign_extra(path, block.extra, DIALECT))
            if block.text:
                after.append({"type": "thinking_delta", "thinking": block.text})
            kind = "thinking"
        elif isinstance(block, RedactedThinking):
            if not carries_signature(block, DIALECT):
                return self._drop(index, "redacted", f"encrypted reasoning of {signature_format(block)}")
            start = {"type": "redacted_thinking", "data": block.data}
            if block.extra:
                start.update(self._log.foreign_extra(path, block.extra, DIALECT))
            kind = "redacted_thinking"
        elif isinstance(block, ToolCall):
            start = {"type": "tool_use", "id": block.id, "name": block.name, "input": {}}
            if block.extra:
                start.update(self._log.foreign_extra(path, block.extra, DIALECT))
            kind = "tool_use"
        elif isinstance(block, Opaque) and block.dialect == DIALECT:
            start, after = _opaque_start(block.data)
            kind = "opaque"
        else:
            return self._drop(index, "block", _describe_block(block))
        opened = _Out(self._next, kind)
        self._next += 1
        self._blocks[index] = opened
        out = [_event({"type": "content_block_start", "index": opened.wire, "content_block": start})]
        if isinstance(block, Thinking):
            if not carries_signature(block, DIALECT):
                opened.issuer = signature_format(block)
            if block.signature is not None:
                self._signature(opened, index, block.signature)
        elif isinstance(block, ToolCall) and block.arguments:
            after.append(self._arguments(opened, block.arguments))
        out += [_event({"type": "content_block_delta", "index": opened.wire, "delta": a}) for a in after]
        return out

    def _block_delta(self, event: BlockDelta) -> list[bytes]:
        opened = self._open(event.index)
        if opened is None:
            return []
        delta = event.delta
        wire: dict[str, Any]
        if isinstance(delta, TextDelta) and opened.kind == "text":
            wire = {"type": "text_delta", "text": delta.text}
        elif isinstance(delta, ThinkingDelta) and opened.kind == "thinking":
            wire = {"type": "thinking_delta", "thinking": delta.text}
        elif isinstance(delta, SignatureDelta) and opened.kind == "thinking":
            self._signature(opened, event.index, delta.signature)
            return []
        elif isinstance(delta, ArgumentsDelta) and opened.kind == "tool_use":
            wire = self._arguments(opened, delta.json)
        else:
            raise EncodeError(f"blocks[{event.index}]", f"{type(delta).__name__} for a {opened.kind} block")
        return [_event({"type": "content_block_delta", "index": opened.wire, "delta": wire})]

    def _block_stop(self, event: BlockStop) -> list[bytes]:
        opened = self._open(event.index)
        if opened is None:
            return []
        if event.extra is not None:
            start = self._start_extra.pop(event.index, {})
            self._log.late_extra(f"blocks[{event.index}]", start, event.extra, DIALECT)
        out = []
        joined = "".join(opened.signature)
        if joined:
            signature = {"type": "signature_delta", "signature": joined}
            out.append(_event({"type": "content_block_delta", "index": opened.wire, "delta": signature}))
        if opened.kind == "tool_use" and opened.args:
            self._check_arguments("".join(opened.args), event.index)
        out.append(_event({"type": "content_block_stop", "index": opened.wire}))
        return out

    def _message_delta(self, event: MessageDelta) -> None:
        if event.stop_reason is not None:
            self._stop_reason = event.stop_reason
        if event.stop_sequence is not None:
            self._stop_sequence = event.stop_sequence
        self._usage = merge_usage(self._usage, event.usage)
        if event.extra:
            self._extra.update(self._log.foreign_extra("", event.extra, DIALECT))

    def _flush_message_delta(self) -> bytes:
        extra = dict(self._extra)
        raw = extra.pop("stop_reason", None)
        delta = {
            "stop_reason": encode_stop_reason(self._stop_reason, raw, self._log, "stop_reason"),
            "stop_sequence": self._stop_sequence,
            **extra,
        }
        usage = merge_usage(self._start_usage, self._usage)
        return _event(
            {"type": "message_delta", "delta": delta, "usage": encode_usage(usage, "usage", self._log)}
        )

    # -- helpers -------------------------------------------------------------------------------

    def _open(self, index: int) -> _Out | None:
        if index not in self._blocks:
            raise EncodeError(f"blocks[{index}]", "event for a block that was never started")
        return self._blocks[index]

    def _drop(self, index: int, kind: LossKind, what: str) -> list[bytes]:
        self._blocks[index] = None
        self._log.add(f"blocks[{index}]", kind, f"{what} has no place in an anthropic stream; omitted")
        return []

    def _signature(self, opened: _Out, index: int, piece: str) -> None:
        if opened.issuer is None:
            opened.signature.append(piece)
        elif piece and opened.issuer:
            detail = f"signature from {opened.issuer} is not valid for anthropic; sent unsigned"
            self._log.add(f"blocks[{index}]", "signature", detail)
            opened.issuer = ""  # reported once per block; later pieces are dropped quietly

    def _arguments(self, opened: _Out, text: str) -> dict[str, Any]:
        opened.args.append(text)
        return {"type": "input_json_delta", "partial_json": text}

    def _check_arguments(self, text: str, index: int) -> None:
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError:
            value = None
        if not isinstance(value, dict):
            self._log.add(
                f"blocks[{index}]",
                "value",
                "tool-call arguments are not a JSON object; streamed as they were",
            )


def _opaque_start(data: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """An opaque block's start: a tool-use-like block (``server_tool_use``, ...) opens with
    ``input: {}`` and streams its input as one ``input_json_delta``, as the API does."""
    value = data.get("input")
    if isinstance(value, dict) and value:
        return {**data, "input": {}}, [
            {"type": "input_json_delta", "partial_json": orjson.dumps(value).decode()}
        ]
    return data, []


def _describe_block(block: Any) -> str:
    if isinstance(block, Opaque):
        return f"{block.dialect} item"
    return f"a {type(block).__name__} block"


def _event(data: dict[str, Any]) -> bytes:
    """One SSE event named after its ``type``. The bytes are those of
    ``sse.format_event(orjson.dumps(data).decode(), data["type"])`` (compact JSON has no line
    break, so it is one ``data:`` line), written directly: this runs once per delta."""
    return _HEADS[data["type"]] + orjson.dumps(data) + b"\n\n"


_HEADS: Final = {
    name: f"event: {name}\ndata: ".encode()
    for name in (
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
        "ping",
        "error",
    )
}
