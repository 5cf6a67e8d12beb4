"""The models an emulator can answer with, and how a model's reply streams as the vendor's.

Two models speak through the same vendor (its wire format, rules, view, break case and
signatures are the vendor's either way):

- ``scripted`` (the default): ``thinkwire.scripted``, deterministic; the vendor
  calls it synchronously (``Vendor.handle``) and streams the whole reply as SSE;
- ``local``: ``LocalModel``, the embedded local model (``thinkwire.local``, the model
  ``thinkwire model pull`` fetched) behind an ``EngineService``. It is prompted with the view,
  rendered by the engine under the ``keep`` policy: what the vendor's rules and the break case
  left of the conversation is exactly what the model reads, so ``--break drop-thinking``
  drops the earlier thinking from its prompt.

A ``Model`` yields the reply's IR stream events as they are generated: thinking unsigned,
tool calls with ids of the vendor's form, no message id. ``finished_events`` turns them into
the vendor's events **as they come** (the engine's tokens are streamed live, not generated
first and replayed): each block is finished as the vendor finishes a whole reply
(``Vendor.finish`` on the blocks so far, which gives each block the same index, ids and
signature as in the whole reply), its signature is sent when the block ends, and the vendor's
``complete`` sees the whole reply at the end. Two exceptions hold a block's text back until it
ends: thinking the vendor does not show (Anthropic ``display: "omitted"``), and blocks the
vendor drops (thinking when it is off) are not sent at all. Under ``merge-stream-blocks`` the
emulator waits for the whole reply and replays it (the merge needs the blocks that follow).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final, Protocol

import msgspec

from thinkwire.backend import Caller
from thinkwire.emulators.vendors import Answered, Vendor
from thinkwire.ir.blocks import Block, Text, Thinking, ToolCall
from thinkwire.ir.conversation import Request, Response, StopReason, Usage
from thinkwire.ir.stream import (
    ArgumentsDelta,
    BlockDelta,
    BlockStart,
    BlockStop,
    MessageDelta,
    MessageStart,
    MessageStop,
    SignatureDelta,
    StreamEvent,
    TextDelta,
    ThinkingDelta,
)
from thinkwire.scripted import digest

if TYPE_CHECKING:
    from thinkwire.local.service import EngineService

MODELS: Final = ("scripted", "local")
"""The model names ``thinkwire emulate --model`` takes."""


class Model(Protocol):
    """What answers an emulator's requests (besides the built-in scripted model)."""

    name: str

    def generate(self, view: Request, *, call_prefix: str) -> AsyncGenerator[StreamEvent, None]:
        """The reply to ``view`` as IR stream events (thinking unsigned; tool-call ids starting
        with ``call_prefix``). ``ApiError`` before the first event refuses the request."""
        ...


class LocalModel:
    """The embedded local model behind ``service`` (see the module docstring).

    ``seed`` fixes sampling. The engine's own signatures and ids are replaced: thinking goes to
    the vendor unsigned (the vendor signs it), tool calls get ids ``call_prefix`` + a digest of
    the view (+ ``_N`` after the first), the usage is the engine's token counts.
    """

    name = "local"

    def __init__(self, service: EngineService, *, seed: int | None = None) -> None:
        self.service = service
        self.seed = seed

    async def generate(self, view: Request, *, call_prefix: str) -> AsyncGenerator[StreamEvent, None]:
        events = await self.service.generate(view, Caller(dialect="openai-chat", seed=self.seed))
        calls = 0
        try:
            async for event in events:
                if isinstance(event, MessageStart):
                    yield MessageStart()
                elif isinstance(event, BlockStart):
                    block = _plain(event.block)
                    if isinstance(block, ToolCall):
                        suffix = f"_{calls}" if calls else ""
                        block = msgspec.structs.replace(block, id=f"{call_prefix}{digest(view)[:24]}{suffix}")
                        calls += 1
                    yield BlockStart(index=event.index, block=block)
                elif isinstance(event, BlockDelta) and isinstance(event.delta, SignatureDelta):
                    continue
                elif isinstance(event, BlockStop):
                    yield BlockStop(index=event.index)
                else:
                    yield event
        finally:
            await events.aclose()

    def close(self) -> None:
        """Free the model."""
        self.service.engine.close()


def _plain(block: Block) -> Block:
    """The block as the model wrote it: no origin, signature or engine records."""
    if isinstance(block, Thinking):
        return Thinking(text=block.text)
    if isinstance(block, Text):
        return Text(text=block.text)
    if isinstance(block, ToolCall):
        return ToolCall(id=block.id, name=block.name, arguments=block.arguments)
    return block


def load_local_model(*, home: Path | None = None, max_tokens: int = 1024, quiet: bool = True) -> LocalModel:
    """The default local model (``thinkwire model pull``), loaded as ``thinkwire serve`` loads
    it: seconds. ``ThinkwireError`` (``ModelFileMissing``, ``RuntimeMissing``...) when it
    cannot be loaded; its message says what to run."""
    from thinkwire.local.build import EngineOptions, build_engine
    from thinkwire.local.service import EngineService

    engine = build_engine(
        EngineOptions(home=home, max_tokens=max_tokens, log_level="warning" if quiet else "debug")
    )
    return LocalModel(EngineService(engine))


@dataclass
class _Open:
    """A block the model is writing: where it goes out (``None``: the vendor drops it) and
    whether its text streams as it comes (``live``) or is sent when it ends."""

    start: Block
    index: int | None
    live: bool
    pieces: list[str] = field(default_factory=list)

    def whole(self) -> Block:
        text = "".join(self.pieces)
        if isinstance(self.start, ToolCall):
            return msgspec.structs.replace(self.start, arguments=self.start.arguments + text)
        if isinstance(self.start, Thinking | Text):
            return msgspec.structs.replace(self.start, text=self.start.text + text)
        return self.start


_PROBE: Final = "probe"


async def finished_events(
    vendor: Vendor,
    request: Request,
    view: Request,
    events: AsyncIterator[StreamEvent],
    on_turn: Callable[[Answered], None],
) -> AsyncGenerator[StreamEvent, None]:
    """The model's ``events`` as the vendor streams them (module docstring); ``on_turn`` gets
    the finished ``Answered`` before the closing events are sent."""
    head = vendor.finish(request, view, Response())
    yield MessageStart(id=head.id, model=head.model, extra=head.extra)
    done: list[Block] = []
    sent = 0  # blocks sent so far
    opened: dict[int, _Open] = {}
    stop_reason: StopReason | None = None
    usage: Usage | None = None
    async for event in events:
        if isinstance(event, BlockStart):
            probe = event.block
            if isinstance(probe, Thinking | Text):
                probe = msgspec.structs.replace(probe, text=_PROBE)
            shown = vendor.finish(request, view, Response(blocks=(*done, probe))).blocks
            if len(shown) == sent:
                opened[event.index] = _Open(event.block, None, False)
                continue
            last = shown[-1]
            live = not isinstance(last, Thinking | Text) or last.text == _PROBE
            opened[event.index] = _Open(event.block, sent, live)
            yield BlockStart(index=sent, block=_shell(last))
            if live and (content := _content(event.block)) is not None:
                yield BlockDelta(index=sent, delta=content)
            sent += 1
        elif isinstance(event, BlockDelta):
            block = opened[event.index]
            delta = event.delta
            if isinstance(delta, TextDelta | ThinkingDelta | ArgumentsDelta):
                block.pieces.append(delta.json if isinstance(delta, ArgumentsDelta) else delta.text)
                if block.live and block.index is not None:
                    yield BlockDelta(index=block.index, delta=delta)
        elif isinstance(event, BlockStop):
            block = opened.pop(event.index)
            done.append(block.whole())
            if block.index is None:
                continue
            final = vendor.finish(request, view, Response(blocks=tuple(done))).blocks[block.index]
            if not block.live and (content := _content(final)) is not None:
                yield BlockDelta(index=block.index, delta=content)
            if isinstance(final, Thinking) and final.signature is not None:
                yield BlockDelta(index=block.index, delta=SignatureDelta(final.signature))
            yield BlockStop(index=block.index)
        elif isinstance(event, MessageDelta):
            stop_reason = event.stop_reason or stop_reason
            usage = event.usage or usage
    turn = vendor.complete(request, view, Response(blocks=tuple(done), stop_reason=stop_reason, usage=usage))
    on_turn(turn)
    response = turn.response
    yield MessageDelta(
        stop_reason=response.stop_reason, stop_sequence=response.stop_sequence, usage=response.usage
    )
    yield MessageStop()


def _shell(block: Block) -> Block:
    """``block`` as its ``BlockStart`` carries it (as ``ir.stream.response_events`` writes)."""
    if isinstance(block, Thinking):
        return msgspec.structs.replace(block, text="", signature=None)
    if isinstance(block, Text):
        return Text(text="", extra=block.extra)
    if isinstance(block, ToolCall):
        return msgspec.structs.replace(block, arguments="")
    return block


def _content(block: Block) -> ThinkingDelta | TextDelta | ArgumentsDelta | None:
    """A delta carrying the block's content, ``None`` when it has none."""
    if isinstance(block, Thinking) and block.text:
        return ThinkingDelta(block.text)
    if isinstance(block, Text) and block.text:
        return TextDelta(block.text)
    if isinstance(block, ToolCall) and block.arguments:
        return ArgumentsDelta(block.arguments)
    return None


__all__ = ["MODELS", "LocalModel", "Model", "finished_events", "load_local_model"]
