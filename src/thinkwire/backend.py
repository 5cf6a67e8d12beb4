"""The one interface every backend answers through: ``generate(request, caller) -> Generation``.

A backend is whatever produces the next assistant turn: the local engine's service
(``thinkwire.local.service.EngineService``), the gateway over upstreams
(``thinkwire.server.gateway.GatewayService``), and the conversation state in front of either
(``thinkwire.store.pipeline.Stateful``), which has this same interface. The endpoints call it
and encode what comes back; they never reach into a backend.

``generate`` is a coroutine: it does everything that can refuse the request (a bad signature,
an unknown model, a full queue, the upstream's 4xx) before it returns, raising ``ApiError``,
and returns a ``Generation`` whose first event is already in hand and whose metadata (the
losses of the request's encoding, the turns restored, the thinking a policy removed) is known
before that first event is sent. Like httpx's ``handle_request(request) -> Response``: a result
object, not callbacks.

``Caller`` says who asks and how they will see the answer: their dialect and Chat carrier, a
sampling seed, the credential they presented (the state layer derives the tenant from it), how
their endpoint rewrites events for them (``present``), and, for the Responses API, the stored
response this turn is to be kept as (``keep``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import msgspec

from thinkwire.ir.blocks import Carrier, Dialect
from thinkwire.ir.conversation import Message, Request
from thinkwire.ir.losses import Loss
from thinkwire.ir.stream import StreamEvent


class KeepResponse(msgspec.Struct, frozen=True, kw_only=True):
    """Keep the answer as a stored Responses-API response: under ``id``, with the request's own
    ``input`` (what it added to the conversation) and the ``previous`` response it continues."""

    id: str
    input: tuple[Message, ...] = ()
    previous: str | None = None


@dataclass(frozen=True, kw_only=True)
class Caller:
    """Who asks, and how they see the answer (module docstring)."""

    dialect: Dialect
    carrier: Carrier | None = None
    seed: int | None = None
    credential: str | None = None
    present: Callable[[StreamEvent], StreamEvent | None] | None = None
    """The endpoint's rewrite of each event for its client (``None``: drop the event)."""
    keep: KeepResponse | None = None


class Generation:
    """One answer being generated: its events, and what is known about it before they go out.

    Iterate it for the events (the first one was fetched when it was made); ``aclose()`` stops
    the generation early (a client went away) and is safe to call twice.
    """

    def __init__(
        self,
        events: AsyncIterator[StreamEvent],
        first: StreamEvent | None,
        *,
        losses: tuple[Loss, ...] = (),
        restored: int = 0,
        removed: int = 0,
    ) -> None:
        self._events = events
        self._first = first
        self.losses = losses
        """What the request's encoding for the backend could not carry (each a ``Loss``)."""
        self.restored = restored
        """Assistant turns whose dropped thinking the state put back."""
        self.removed = removed
        """Thinking blocks the configured policy removed from earlier turns."""

    @classmethod
    async def start(
        cls,
        events: AsyncIterator[StreamEvent],
        *,
        losses: Callable[[], tuple[Loss, ...]] | None = None,
        restored: int = 0,
        removed: int = 0,
    ) -> Generation:
        """Fetch ``events``' first event (errors before it propagate, the stream closed), then
        read ``losses`` (a backend learns them while it prepares the call)."""
        try:
            first = await anext(events, None)
        except BaseException:
            await _aclose(events)
            raise
        return cls(events, first, losses=losses() if losses else (), restored=restored, removed=removed)

    def __aiter__(self) -> Generation:
        return self

    async def __anext__(self) -> StreamEvent:
        if self._first is not None:
            first, self._first = self._first, None
            return first
        return await anext(self._events)

    async def aclose(self) -> None:
        self._first = None
        await _aclose(self._events)


async def _aclose(events: AsyncIterator[StreamEvent]) -> None:
    close = getattr(events, "aclose", None)
    if close is not None:
        await close()


class Backend(Protocol):
    """What the endpoints generate with (module docstring)."""

    total_input_usage: bool
    """Usage counts every prompt token as input (cache reads included), as the engine does."""

    async def generate(self, request: Request, caller: Caller) -> Generation:
        """The next assistant turn of ``request``; raises ``ApiError`` when it is refused."""
        ...

    def models(self) -> list[str]:
        """The model names this backend answers to (patterns for the gateway)."""
        ...

    def response_model(self, request: Request) -> str | None:
        """The model name responses report (``None``: the upstream's own)."""
        ...

    def health(self) -> dict[str, Any]:
        """What ``/healthz`` reports; never blocks."""
        ...

    async def aclose(self) -> None: ...
