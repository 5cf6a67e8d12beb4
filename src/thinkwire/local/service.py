"""The local engine as a backend: a queue of slots, async streaming, cancellation.

``EngineService`` owns one ``LocalEngine`` (built with ``slots`` parallel sequences) and lets at
most ``slots`` generations run at once; up to ``max_queue`` more wait for a slot in arrival
order, and a request beyond that is refused at once with 503 (529 for Anthropic clients), so a
burst never builds an unbounded backlog. ``generate`` runs the engine's blocking stream on
worker threads, one event at a time, and yields IR stream events to the event loop.

Cancellation: when the consumer stops early — the client disconnected and Starlette cancelled
the response, or a non-streamed request's client went away — the ``finally`` of ``generate``
cancels the engine stream, which makes llama.cpp stop at its next token, and the slot is
released only then, so the queue never counts a generation that still runs as free.

Engine errors map to ``ApiError``: ``SignatureError`` and ``GrammarError`` (the client's
request) and an ``EngineError`` with a 4xx code (a prompt longer than the context) are 400s;
anything else from the engine is a 500 whose message says what failed, never a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from typing import Any, Final

import anyio
import anyio.to_thread

from thinkwire.backend import Caller, Generation
from thinkwire.errors import OVERLOADED, ApiError
from thinkwire.ir.blocks import Carrier, Dialect
from thinkwire.ir.conversation import Request
from thinkwire.ir.losses import Loss
from thinkwire.ir.stream import StreamEvent
from thinkwire.local.engine import EngineError, EngineStream, LocalEngine
from thinkwire.local.grammar import GrammarError
from thinkwire.local.signing import SignatureError
from thinkwire.policy import Policy

_END: Final = object()


class EngineService:
    """``engine`` behind ``slots`` concurrent generations and a queue of ``max_queue``."""

    def __init__(
        self, engine: LocalEngine, *, slots: int = 1, max_queue: int = 16, policy: Policy = "keep"
    ) -> None:
        if slots < 1 or max_queue < 0:
            raise ValueError("slots must be positive and max_queue not negative")
        self.engine = engine
        self.slots = slots
        self.max_queue = max_queue
        self.policy: Policy = policy
        self._free = slots
        self._waiting: list[asyncio.Future[None]] = []
        self.running = 0
        self.served = 0
        self.refused = 0

    @property
    def model_id(self) -> str:
        return self.engine.model_id

    @property
    def queued(self) -> int:
        return len(self._waiting)

    async def generate(self, request: Request, caller: Caller) -> Generation:
        """The next assistant turn of ``request``: waits for a slot, then opens the engine
        stream. Raises ``ApiError`` for a refused request (bad signature, no grammar, queue
        full, context exceeded). It keeps no state (``thinkwire.store.pipeline.Stateful``
        restores in front of it). What the prompt could not show the model (redacted or
        encrypted-only reasoning the state could not resolve, images, opaque items) is reported
        as losses, never dropped silently."""
        opened: list[EngineStream] = []
        return await Generation.start(self._events(request, caller, opened), losses=lambda: _skipped(opened))

    async def _events(
        self, request: Request, caller: Caller, opened: list[EngineStream]
    ) -> AsyncGenerator[StreamEvent, None]:
        await self._acquire()
        stream: EngineStream | None = None
        try:
            stream = await anyio.to_thread.run_sync(
                self._open, request, caller.dialect, caller.carrier, caller.seed
            )
            opened.append(stream)
            while (event := await anyio.to_thread.run_sync(_next, stream)) is not _END:
                yield event  # type: ignore[misc]  # _next returns an event or _END
            self.served += 1
        finally:
            if stream is not None:
                stream.cancel()
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(_close, stream)
            self._release()

    total_input_usage = True

    def models(self) -> list[str]:
        return [self.engine.model_id]

    def response_model(self, request: Request) -> str | None:
        """The model name the client asked for (the engine's own when it named none): Claude
        Code drops the thinking of a response whose ``model`` is not the one it requested."""
        return request.model or self.engine.model_id

    async def aclose(self) -> None:
        self.engine.close()

    def health(self) -> dict[str, Any]:
        """What ``/healthz`` reports."""
        return {
            "status": "ok" if not self.engine.closed else "closed",
            "model": self.model_id,
            "slots": self.slots,
            "running": self.running,
            "queued": self.queued,
            "max_queue": self.max_queue,
            "served": self.served,
            "refused": self.refused,
            "policy": self.policy,
        }

    # slots

    async def _acquire(self) -> None:
        if self._free > 0 and not self._waiting:
            self._free -= 1
            self.running += 1
            return
        if len(self._waiting) >= self.max_queue:
            self.refused += 1
            raise ApiError(
                OVERLOADED,
                f"the local model is busy: {self.slots} generation(s) running and {len(self._waiting)} "
                "queued; retry shortly",
                code="overloaded",
            )
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter in self._waiting:
                self._waiting.remove(waiter)
            elif not waiter.cancelled():  # the slot was handed over just as we were cancelled
                self.running += 1
                self._release()
            raise
        self.running += 1

    def _release(self) -> None:
        self.running -= 1
        while self._waiting:
            waiter = self._waiting.pop(0)
            if not waiter.done():
                waiter.set_result(None)  # the slot passes straight to the next in line
                return
        self._free = min(self.slots, self._free + 1)

    # engine calls (worker threads)

    def _open(
        self, request: Request, dialect: Dialect, carrier: Carrier | None, seed: int | None
    ) -> EngineStream:
        try:
            return self.engine.stream(
                request, policy=self.policy, dialect=dialect, carrier=carrier, seed=seed
            )
        except SignatureError as exc:
            raise ApiError(
                400, f"invalid thinking signature: {exc}", param=_param(exc), code="invalid_signature"
            ) from None
        except GrammarError as exc:
            raise ApiError(400, str(exc), param=exc.path or None) from None
        except EngineError as exc:
            raise _api_error(exc) from None


def _next(stream: EngineStream) -> object:
    try:
        return next(stream)
    except StopIteration:
        return _END
    except EngineError as exc:
        raise _api_error(exc) from None


def _close(stream: EngineStream) -> None:
    # the generator may still be running on another worker thread when a cancelled consumer
    # gets here; closing it then raises ValueError, and cancel() has already stopped it
    with contextlib.suppress(ValueError):
        stream.close()


def _api_error(exc: EngineError) -> ApiError:
    if 400 <= exc.code < 500:
        return ApiError(400, f"the local model refused the request: {exc}")
    return ApiError(500, f"the local model failed: {exc}", code=exc.type)


def _param(exc: SignatureError) -> str | None:
    return exc.problems[0].path if exc.problems else None


def _skipped(opened: list[EngineStream]) -> tuple[Loss, ...]:
    """The prompt's skipped parts as losses (``redacted`` for reasoning, ``block`` else)."""
    skipped = opened[0].skipped if opened else ()
    return tuple(
        Loss(
            path="messages",
            kind="redacted" if "redacted" in what else "block",
            detail=f"{what} cannot be shown to the local model; left out of its prompt",
        )
        for what in skipped
    )
