"""Anthropic Messages streams (SSE) -> IR stream events. (The encoder is in ``stream_encoder``.)

The wire sequence is ``message_start``, then per content block ``content_block_start`` /
``content_block_delta``... / ``content_block_stop``, then ``message_delta`` (stop reason,
usage) and ``message_stop``; ``ping`` and ``error`` may come at any point.

Decoding is incremental: text, thinking and tool input are passed on delta by delta. Three
kinds of block are held until their ``content_block_stop`` and then emitted whole, because
the IR has no delta that could carry what they receive:

* text blocks whose start declares ``citations``: each ``citations_delta`` is appended to
  the block's ``extra["anthropic"]["citations"]`` (the citations may come before or after
  the text);
* blocks the IR keeps ``Opaque`` (``server_tool_use``, ``mcp_tool_use``, ...): their
  ``input_json_delta`` pieces are parsed into ``input`` at the stop;
* images and tool results, should they ever stream.

Other text blocks stream, but their ``BlockStart`` waits for the first text: citations that
arrive before it (from a server that did not declare them) join the start. A
``citations_delta`` after text was passed on in such a block is a ``DecodeError``: the IR has
no delta that could still carry it.

A thinking block's ``content_block_start`` carries ``"signature": ""`` (a placeholder, read
as "not yet known"); the signature arrives as one ``signature_delta`` before the stop.
Unknown event types are ignored: content only travels in ``content_block_*`` events, which
are all understood. Unknown delta types are a ``DecodeError``. Error paths name the SSE
event by its position in the stream: ``events[7].delta.type``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import msgspec
import orjson

from thinkwire.dialects._wire import join, obj, opt, req
from thinkwire.dialects.anthropic.blocks import (
    DIALECT,
    TOOL_USE_KEYS,
    decode_block,
    dump_input,
    extra,
)
from thinkwire.dialects.anthropic.response import (
    RESPONSE_KEYS,
    decode_usage,
    stop_reason_of,
)
from thinkwire.dialects.sse import SSEEvent
from thinkwire.errors import DecodeError
from thinkwire.ir.blocks import Origin, Text, Thinking, ToolCall
from thinkwire.ir.stream import (
    ArgumentsDelta,
    BlockDelta,
    BlockStart,
    BlockStop,
    Delta,
    MessageDelta,
    MessageStart,
    MessageStop,
    Ping,
    SignatureDelta,
    StreamError,
    StreamEvent,
    TextDelta,
    ThinkingDelta,
)

_DELTA_KEYS: Final = frozenset({"stop_reason", "stop_sequence"})
_MESSAGE_DELTA_KEYS: Final = frozenset({"type", "delta", "usage"})


class _Open:
    """A content block between its start and its stop.

    ``kind`` is the wire type for streamed blocks (``text``, ``thinking``, ``tool_use``,
    ``redacted_thinking``) or ``held`` for a block emitted whole at its stop, whose dict is
    ``data``; ``pieces`` collects a held block's text or input JSON, ``citations`` a cited
    text block's citations. A text block's ``BlockStart`` waits in ``start`` until its first
    text (citations that come first join it). For a tool call, ``preset`` says its start
    carried the whole input and ``args`` that some arguments text has been passed on
    (``args`` is set by any delta; only tool calls look at it).
    """

    __slots__ = ("args", "citations", "data", "index", "kind", "pieces", "preset", "start")

    def __init__(self, index: int, kind: str, data: dict[str, Any] | None = None) -> None:
        self.index = index
        self.kind = kind
        self.data = data
        self.pieces: list[str] = []
        self.citations: list[Any] | None = None
        self.preset = False
        self.args = False
        self.start: Text | None = None


class AnthropicStreamDecoder:
    """SSE events of one Messages stream in, IR stream events out."""

    def __init__(self, provider: str | None = None) -> None:
        self._provider = provider
        self._origin = Origin(dialect=DIALECT, provider=provider)
        self._open: dict[int, _Open] = {}
        self._used: set[int] = set()
        self._next = 0
        self._count = -1
        self._started = False
        self._stopped = False
        self._failed = False

    def feed(self, event: SSEEvent) -> list[StreamEvent]:
        self._count += 1
        if not event.data:
            return []
        try:
            d = orjson.loads(event.data)
        except orjson.JSONDecodeError as exc:
            raise DecodeError(f"events[{self._count}]", f"malformed JSON: {exc}") from None
        if type(d) is dict and d.get("type") == "content_block_delta" and not self._stopped:
            common = self._common_delta(d)
            if common is not None:
                return common
        path = f"events[{self._count}]"
        kind = req(obj(d, path), "type", str, path)
        if kind == "ping":
            return [Ping()]
        if kind == "error":
            self._failed = True
            return [StreamError(error=req(d, "error", dict, path))]
        if kind == "message_start":
            return self._message_start(d, path)
        handler = _HANDLERS.get(kind)
        if handler is None:
            return []
        if not self._started:
            raise DecodeError(join(path, "type"), f"{kind} before message_start")
        if self._stopped:
            raise DecodeError(join(path, "type"), f"{kind} after message_stop")
        return handler(self, d, path)

    def close(self) -> list[StreamEvent]:
        """End of input. A stream that reported an error may end anywhere; any other must
        have reached ``message_stop``."""
        if self._failed:
            return []
        if not self._stopped:
            raise DecodeError("", "stream ended before message_stop")
        return []

    def _common_delta(self, d: dict[str, Any]) -> list[StreamEvent] | None:
        """A well-formed text, thinking, signature or tool-input delta for an open streamed
        block: most of a stream, so checked inline without building paths. ``None`` hands the
        event to ``_block_delta``, which handles the rest or names what is wrong."""
        wire, delta = d.get("index"), d.get("delta")
        opened = self._open.get(wire) if type(wire) is int else None
        if opened is None or type(delta) is not dict:
            return None
        common = _COMMON_DELTAS.get((opened.kind, delta.get("type")))
        if common is None or opened.start is not None or (opened.kind == "tool_use" and opened.preset):
            return None
        field, make = common
        value = delta.get(field)
        if type(value) is not str:
            return None
        if not value:
            return []
        opened.args = True
        return [BlockDelta(index=opened.index, delta=make(value))]

    # -- events --------------------------------------------------------------------------------

    def _message_start(self, d: dict[str, Any], path: str) -> list[StreamEvent]:
        if self._started:
            raise DecodeError(join(path, "type"), "a second message_start")
        self._started = True
        where = join(path, "message")
        message = req(d, "message", dict, path)
        if message.get("content"):
            raise DecodeError(join(where, "content"), "message_start with content blocks is not supported")
        model = opt(message, "model", str, where)
        self._origin = Origin(dialect=DIALECT, provider=self._provider, model=model)
        usage = message.get("usage")
        rest = {k: v for k, v in message.items() if k not in RESPONSE_KEYS}
        for key in ("id", "model"):  # an explicit null is kept, as ``decode_response`` does
            if message.get(key, 0) is None:
                rest[key] = None
        return [
            MessageStart(
                id=opt(message, "id", str, where),
                model=model,
                usage=None if usage is None else decode_usage(usage, join(where, "usage")),
                extra={DIALECT: rest} if rest else {},
            )
        ]

    def _block_start(self, d: dict[str, Any], path: str) -> list[StreamEvent]:
        wire = req(d, "index", int, path)
        if wire in self._used:
            raise DecodeError(join(path, "index"), f"content block {wire} started twice")
        self._used.add(wire)
        where = join(path, "content_block")
        block = req(d, "content_block", dict, path)
        kind = req(block, "type", str, where)
        index = self._next
        self._next += 1
        if kind == "text" and isinstance(block.get("citations"), list):
            held = _Open(index, "held", dict(block))
            held.citations = list(block["citations"])
            self._open[wire] = held
            return []
        if kind in ("text", "thinking", "redacted_thinking"):
            start = decode_block(block, where, self._origin, None)
            opened = _Open(index, kind)
            self._open[wire] = opened
            if isinstance(start, Text):
                opened.start = start  # sent with the first text, or at the stop
                return []
            if isinstance(start, Thinking) and start.signature == "":
                start = msgspec.structs.replace(start, signature=None)
            return [BlockStart(index=index, block=start)]
        if kind == "tool_use":
            return self._tool_start(wire, index, block, where)
        self._open[wire] = _Open(index, "held", dict(block))
        return []

    def _tool_start(self, wire: int, index: int, block: dict[str, Any], path: str) -> list[StreamEvent]:
        """A ``tool_use`` start has ``input: {}``; its input follows as ``input_json_delta``.
        A non-empty ``input`` here is taken as the whole input (some proxies send that)."""
        value = block.get("input")
        opened = _Open(index, "tool_use")
        arguments = ""
        if value is not None and value != {}:
            arguments = dump_input(req(block, "input", dict, path), join(path, "input"))
            opened.preset = True
        self._open[wire] = opened
        call = ToolCall(
            id=req(block, "id", str, path),
            name=req(block, "name", str, path),
            arguments=arguments,
            extra=extra(block, TOOL_USE_KEYS),
        )
        return [BlockStart(index=index, block=call)]

    def _block_delta(self, d: dict[str, Any], path: str) -> list[StreamEvent]:
        opened = self._block(d, path)
        where = join(path, "delta")
        delta = req(d, "delta", dict, path)
        kind = req(delta, "type", str, where)
        expected = _DELTA_BLOCK.get(kind)
        if expected is None:
            raise DecodeError(join(where, "type"), f"unknown delta type {kind!r}")
        if kind == "citations_delta":
            citation = req(delta, "citation", dict, where)
            if opened.start is not None and opened.citations is None:
                opened.citations = []  # an undeclared text block whose text has not begun
            if opened.citations is None:
                raise DecodeError(
                    join(where, "type"),
                    "citations_delta after text in a block whose start declared no citations",
                )
            opened.citations.append(citation)
            return []
        value = req(delta, _DELTA_FIELD[kind], str, where)
        if opened.kind == "held":
            assert opened.data is not None
            held = "text" if opened.citations is not None else "tool_use"
            if expected != held:
                raise DecodeError(join(where, "type"), f"{kind} in a {opened.data['type']} block")
            opened.pieces.append(value)
            return []
        if opened.kind != expected:
            raise DecodeError(join(where, "type"), f"{kind} in a {opened.kind} block")
        if not value:
            return []
        if kind == "text_delta":
            out = self._text_start(opened)
            out.append(BlockDelta(index=opened.index, delta=TextDelta(value)))
            return out
        if kind == "thinking_delta":
            return [BlockDelta(index=opened.index, delta=ThinkingDelta(value))]
        if kind == "signature_delta":
            return [BlockDelta(index=opened.index, delta=SignatureDelta(value))]
        if opened.preset:
            raise DecodeError(
                join(where, "type"), "input_json_delta for a tool_use whose start had its input"
            )
        opened.args = True
        return [BlockDelta(index=opened.index, delta=ArgumentsDelta(value))]

    def _block_stop(self, d: dict[str, Any], path: str) -> list[StreamEvent]:
        opened = self._block(d, path)
        del self._open[req(d, "index", int, path)]
        return self._finish(opened, path)

    def _text_start(self, opened: _Open) -> list[StreamEvent]:
        """The held-back ``BlockStart`` of a text block (none once sent), with any citations
        that came before its text."""
        start = opened.start
        if start is None:
            return []
        opened.start = None
        if opened.citations is not None:
            own = {**start.extra.get(DIALECT, {}), "citations": opened.citations}
            start = msgspec.structs.replace(start, extra={**start.extra, DIALECT: own})
            opened.citations = None
        return [BlockStart(index=opened.index, block=start)]

    def _finish(self, opened: _Open, path: str) -> list[StreamEvent]:
        index = opened.index
        if opened.kind == "tool_use" and not opened.args and not opened.preset:
            return [BlockDelta(index=index, delta=ArgumentsDelta("{}")), BlockStop(index=index)]
        if opened.kind == "text":
            return [*self._text_start(opened), BlockStop(index=index)]
        if opened.kind != "held":
            return [BlockStop(index=index)]
        data = opened.data
        assert data is not None
        if opened.citations is not None:  # a cited text block
            data["text"] = data.get("text", "") + "".join(opened.pieces)
            data["citations"] = opened.citations
        elif opened.pieces:
            try:
                data["input"] = orjson.loads("".join(opened.pieces))
            except orjson.JSONDecodeError as exc:
                raise DecodeError(path, f"malformed input JSON in block {index}: {exc}") from None
        block = decode_block(data, path, self._origin, None)
        if isinstance(block, Text) and block.text:
            return [
                BlockStart(index=index, block=msgspec.structs.replace(block, text="")),
                BlockDelta(index=index, delta=TextDelta(block.text)),
                BlockStop(index=index),
            ]
        return [BlockStart(index=index, block=block), BlockStop(index=index)]

    def _message_delta(self, d: dict[str, Any], path: str) -> list[StreamEvent]:
        where = join(path, "delta")
        delta = req(d, "delta", dict, path)
        rest = {k: v for k, v in delta.items() if k not in _DELTA_KEYS}
        rest.update((k, v) for k, v in d.items() if k not in _MESSAGE_DELTA_KEYS)
        stop_reason = stop_reason_of(opt(delta, "stop_reason", str, where), rest)
        usage = d.get("usage")
        return [
            MessageDelta(
                stop_reason=stop_reason,
                stop_sequence=opt(delta, "stop_sequence", str, where),
                usage=None if usage is None else decode_usage(usage, join(path, "usage")),
                extra={DIALECT: rest} if rest else {},
            )
        ]

    def _message_stop(self, d: dict[str, Any], path: str) -> list[StreamEvent]:
        """``message_stop``; blocks still open (a sloppy upstream) are closed first."""
        out: list[StreamEvent] = []
        for opened in sorted(self._open.values(), key=lambda o: o.index):
            out += self._finish(opened, path)
        self._open.clear()
        self._stopped = True
        out.append(MessageStop())
        return out

    def _block(self, d: dict[str, Any], path: str) -> _Open:
        wire = req(d, "index", int, path)
        opened = self._open.get(wire)
        if opened is None:
            raise DecodeError(join(path, "index"), f"no open content block with index {wire}")
        return opened


_HANDLERS: Final = {
    "content_block_start": AnthropicStreamDecoder._block_start,
    "content_block_delta": AnthropicStreamDecoder._block_delta,
    "content_block_stop": AnthropicStreamDecoder._block_stop,
    "message_delta": AnthropicStreamDecoder._message_delta,
    "message_stop": AnthropicStreamDecoder._message_stop,
}
_DELTA_BLOCK: Final = {
    "text_delta": "text",
    "citations_delta": "text",
    "thinking_delta": "thinking",
    "signature_delta": "thinking",
    "input_json_delta": "tool_use",
}
_COMMON_DELTAS: Final[dict[tuple[str, Any], tuple[str, Callable[[str], Delta]]]] = {
    ("text", "text_delta"): ("text", TextDelta),
    ("thinking", "thinking_delta"): ("thinking", ThinkingDelta),
    ("thinking", "signature_delta"): ("signature", SignatureDelta),
    ("tool_use", "input_json_delta"): ("partial_json", ArgumentsDelta),
}
_DELTA_FIELD: Final = {
    "text_delta": "text",
    "thinking_delta": "thinking",
    "signature_delta": "signature",
    "input_json_delta": "partial_json",
}
