"""Stream events, and folding them into a response.

Every dialect's stream decoder yields these events and every stream encoder consumes them,
so a stream in one dialect becomes a stream in another without ever being buffered whole.

A block's life: ``BlockStart(index, block)`` with the block's fixed parts (an empty
``Text``, a ``Thinking`` with its origin, a ``ToolCall`` with id and name, a complete
``RedactedThinking``), any number of ``BlockDelta``, then ``BlockStop``. Indexes are
assigned in order of appearance, from 0.
"""

from __future__ import annotations

from typing import Any

import msgspec

from thinkwire.errors import ThinkwireError
from thinkwire.ir.blocks import Block, Extra, Opaque, Origin, RedactedThinking, Text, Thinking, ToolCall
from thinkwire.ir.conversation import Response, StopReason, Usage


class TextDelta(msgspec.Struct, frozen=True, gc=False, tag="text"):
    text: str


class ThinkingDelta(msgspec.Struct, frozen=True, gc=False, tag="thinking"):
    text: str


class SignatureDelta(msgspec.Struct, frozen=True, gc=False, tag="signature"):
    signature: str


class ArgumentsDelta(msgspec.Struct, frozen=True, gc=False, tag="arguments"):
    json: str


Delta = TextDelta | ThinkingDelta | SignatureDelta | ArgumentsDelta


class MessageStart(
    msgspec.Struct, frozen=True, gc=False, kw_only=True, omit_defaults=True, tag="message_start"
):
    id: str | None = None
    model: str | None = None
    usage: Usage | None = None
    extra: Extra = {}


class BlockStart(msgspec.Struct, frozen=True, gc=False, kw_only=True, tag="block_start"):
    index: int
    block: Block


class BlockDelta(msgspec.Struct, frozen=True, gc=False, kw_only=True, tag="block_delta"):
    index: int
    delta: Delta


class BlockStop(msgspec.Struct, frozen=True, gc=False, kw_only=True, omit_defaults=True, tag="block_stop"):
    """End of a block. Some of a block's details are known only at its end: ``origin``, when
    set, replaces a thinking block's origin (a Responses item's summary parts); ``extra``,
    when set, replaces the block's ``extra`` (citations added while a text streamed, the
    status of an item cut short)."""

    index: int
    origin: Origin | None = None
    extra: Extra | None = None


class MessageDelta(
    msgspec.Struct, frozen=True, gc=False, kw_only=True, omit_defaults=True, tag="message_delta"
):
    """End-of-message facts. Fields left ``None`` do not overwrite earlier values."""

    stop_reason: StopReason | None = None
    stop_sequence: str | None = None
    usage: Usage | None = None
    extra: Extra = {}


class MessageStop(msgspec.Struct, frozen=True, gc=False, tag="message_stop"):
    pass


class Ping(msgspec.Struct, frozen=True, gc=False, tag="ping"):
    pass


class StreamError(msgspec.Struct, frozen=True, gc=False, kw_only=True, tag="error"):
    """An error reported inside a stream (``error`` is the dialect's error object)."""

    error: dict[str, Any]


StreamEvent = (
    MessageStart | BlockStart | BlockDelta | BlockStop | MessageDelta | MessageStop | Ping | StreamError
)


class StreamAborted(ThinkwireError):
    """The stream carried an error event; ``partial`` is what had arrived before it."""

    def __init__(self, error: dict[str, Any], partial: Response) -> None:
        self.error = error
        self.partial = partial
        super().__init__(f"stream error: {error}")


def merge_usage(old: Usage | None, new: Usage | None) -> Usage | None:
    """Later usage figures override earlier ones field by field."""
    if old is None or new is None:
        return new if old is None else old
    extra = {d: {**old.extra.get(d, {}), **new.extra.get(d, {})} for d in {*old.extra, *new.extra}}
    return Usage(
        input_tokens=new.input_tokens if new.input_tokens is not None else old.input_tokens,
        output_tokens=new.output_tokens if new.output_tokens is not None else old.output_tokens,
        reasoning_tokens=new.reasoning_tokens if new.reasoning_tokens is not None else old.reasoning_tokens,
        cache_read_tokens=new.cache_read_tokens
        if new.cache_read_tokens is not None
        else old.cache_read_tokens,
        extra=extra,
    )


def _merge_extra(old: Extra, new: Extra) -> Extra:
    if not new:
        return old
    return {d: {**old.get(d, {}), **new.get(d, {})} for d in {*old, *new}}


class Folder:
    """Folds stream events into a ``Response``, one event at a time."""

    def __init__(self) -> None:
        self.id: str | None = None
        self.model: str | None = None
        self.stop_reason: StopReason | None = None
        self.stop_sequence: str | None = None
        self.usage: Usage | None = None
        self.extra: Extra = {}
        self._starts: dict[int, Block] = {}
        self._pieces: dict[int, list[str]] = {}
        self._signatures: dict[int, list[str]] = {}

    def feed(self, event: StreamEvent) -> None:
        if isinstance(event, MessageStart):
            self.id, self.model = event.id, event.model
            self.usage = merge_usage(self.usage, event.usage)
            self.extra = _merge_extra(self.extra, event.extra)
        elif isinstance(event, BlockStart):
            self._starts[event.index] = event.block
            self._pieces[event.index] = []
        elif isinstance(event, BlockDelta):
            delta = event.delta
            if event.index not in self._starts:
                raise ThinkwireError(f"stream: delta for block {event.index} before its start")
            if isinstance(delta, SignatureDelta):
                self._signatures.setdefault(event.index, []).append(delta.signature)
            else:
                self._pieces[event.index].append(
                    delta.json if isinstance(delta, ArgumentsDelta) else delta.text
                )
        elif isinstance(event, BlockStop):
            start = self._starts.get(event.index)
            if event.origin is not None and isinstance(start, Thinking | RedactedThinking):
                start = msgspec.structs.replace(start, origin=event.origin)
            if event.extra is not None and start is not None and not isinstance(start, Opaque):
                start = msgspec.structs.replace(start, extra=event.extra)
            if start is not None:
                self._starts[event.index] = start
        elif isinstance(event, MessageDelta):
            if event.stop_reason is not None:
                self.stop_reason = event.stop_reason
            if event.stop_sequence is not None:
                self.stop_sequence = event.stop_sequence
            self.usage = merge_usage(self.usage, event.usage)
            self.extra = _merge_extra(self.extra, event.extra)
        elif isinstance(event, StreamError):
            raise StreamAborted(event.error, self.result())

    def _block(self, index: int) -> Block:
        start = self._starts[index]
        joined = "".join(self._pieces[index])
        if isinstance(start, Text):
            return msgspec.structs.replace(start, text=start.text + joined)
        if isinstance(start, Thinking):
            sigs = self._signatures.get(index)
            signature = start.signature if sigs is None else (start.signature or "") + "".join(sigs)
            return msgspec.structs.replace(start, text=start.text + joined, signature=signature)
        if isinstance(start, ToolCall):
            return msgspec.structs.replace(start, arguments=start.arguments + joined)
        return start

    def result(self) -> Response:
        return Response(
            id=self.id,
            model=self.model,
            blocks=tuple(self._block(i) for i in sorted(self._starts)),
            stop_reason=self.stop_reason,
            stop_sequence=self.stop_sequence,
            usage=self.usage,
            extra=self.extra,
        )


def fold(events: Any) -> Response:
    """Fold an iterable of stream events into the response they describe."""
    folder = Folder()
    for event in events:
        folder.feed(event)
    return folder.result()


def response_events(response: Response) -> list[StreamEvent]:
    """The canonical event sequence for a whole response (one delta per block).

    Used to stream a response that was produced whole, and by tests as the reference order.
    """
    events: list[StreamEvent] = [MessageStart(id=response.id, model=response.model, extra=response.extra)]
    for index, block in enumerate(response.blocks):
        if isinstance(block, Text):
            events += [BlockStart(index=index, block=Text(text="", extra=block.extra))]
            if block.text:
                events.append(BlockDelta(index=index, delta=TextDelta(block.text)))
        elif isinstance(block, Thinking):
            events.append(
                BlockStart(index=index, block=msgspec.structs.replace(block, text="", signature=None))
            )
            if block.text:
                events.append(BlockDelta(index=index, delta=ThinkingDelta(block.text)))
            if block.signature is not None:
                events.append(BlockDelta(index=index, delta=SignatureDelta(block.signature)))
        elif isinstance(block, ToolCall):
            events.append(BlockStart(index=index, block=msgspec.structs.replace(block, arguments="")))
            if block.arguments:
                events.append(BlockDelta(index=index, delta=ArgumentsDelta(block.arguments)))
        else:
            events.append(BlockStart(index=index, block=block))
        events.append(BlockStop(index=index))
    events.append(
        MessageDelta(
            stop_reason=response.stop_reason, stop_sequence=response.stop_sequence, usage=response.usage
        )
    )
    events.append(MessageStop())
    return events
