"""The gateway backend: each request goes to the upstream its model routes to.

``GatewayService`` has the engine service's interface (``thinkwire.server.service.Backend``), so
the three endpoints serve any client dialect in front of any upstream dialect: the request is
already IR when it gets here, the upstream client encodes it in the upstream's dialect and
decodes the answer back into IR events as they stream, and the endpoint encodes those for the
client. An upstream of kind ``local`` is the embedded engine's service.

Usage is normalised here to the engine's convention (``input_tokens`` counts every prompt token,
cache reads included): an Anthropic upstream's ``input_tokens`` leaves cache reads out, so they
are added back, and each client dialect then gets its own convention from ``Turn.usage``.

The state store is wrapped in a ``WriteBehind`` (``thinkwire.store.writer``): a finished turn
is queued for one writer thread as the response ends, so no request waits for a write, and a
turn sent back before it was written is restored from the queue. The queue is bounded: a turn
that does not fit is dropped, logged and counted with the store errors. ``aclose()`` writes
what is queued before the store closes. Lookups before the upstream call take one store
round trip: on the event loop for SQLite (about 20 us, less than a hop to a worker thread),
in a worker thread for a store across the network (Redis).

The gateway signs thinking a signing client (Anthropic, Responses) would otherwise get without a
signature it can carry, and checks and removes its own signatures on the way back
(``thinkwire.server.issuer``), with or without a state store.

Upstream failures become ``ApiError`` with the upstream's status and message (429 keeps its
``retry-after``; unreachable or 5xx after retries is 502; a timeout 504), before the first event
when nothing was streamed yet, else as the dialect's in-stream error event.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Callable
from typing import Any

import anyio
import anyio.to_thread
import msgspec

from thinkwire.ir.blocks import Carrier, Dialect
from thinkwire.ir.conversation import Request, ThinkingConfig, Usage
from thinkwire.ir.losses import Loss
from thinkwire.ir.stream import Folder, MessageDelta, MessageStart, StreamEvent
from thinkwire.local.signing import load_secret
from thinkwire.policy import apply_origin_rule
from thinkwire.server.errors import ApiError
from thinkwire.server.issuer import Issuer
from thinkwire.server.service import EngineService
from thinkwire.store import (
    ANONYMOUS,
    Keys,
    SQLiteStore,
    StateStore,
    StoreError,
    needs_restore,
    record,
    restore,
)
from thinkwire.store.writer import WriteBehind
from thinkwire.upstreams.client import UpstreamClient, UpstreamError
from thinkwire.upstreams.config import GatewayConfig, Upstream

log = logging.getLogger("thinkwire.gateway")


class GatewayService:
    """Routes by model name over ``config``'s upstreams; ``local`` serves ``kind = "local"``.

    With a ``store`` (and its ``keys``), turns the client sent back without their thinking get
    it back before the upstream is called, and every finished turn is recorded, per tenant (the
    tenant is an HMAC of the credential the client presented), off the request path (module
    docstring). A store that fails is logged and counted; the request goes on as the client
    sent it.
    """

    total_input_usage = True

    def __init__(
        self,
        config: GatewayConfig,
        *,
        client: UpstreamClient | None = None,
        local: EngineService | None = None,
        store: StateStore | None = None,
        keys: Keys | None = None,
        secret: bytes | None = None,
    ) -> None:
        """``secret`` signs the gateway's own thinking signatures; default: the engine's
        (``thinkwire.local.signing.load_secret``)."""
        if (store is None) != (keys is None):
            raise ValueError("a state store needs its keys, and keys need a store")
        self.config = config
        self.client = client or UpstreamClient()
        self.local = local
        self.store = store if store is None or isinstance(store, WriteBehind) else WriteBehind(store)
        self._restore_inline = self.store is not None and isinstance(self.store.backend, SQLiteStore)
        self.keys = keys
        self.issuer = Issuer(secret if secret is not None else load_secret())
        self.requests = 0
        self.upstream_errors = 0
        self.restored = 0
        self._store_errors = 0

    @property
    def recorded(self) -> int:
        """Turns the store recorded (written by its writer thread)."""
        return self.store.recorded if self.store is not None else 0

    @property
    def store_errors(self) -> int:
        """Store operations that failed, and turns dropped because the writer was too far behind."""
        if self.store is None:
            return self._store_errors
        return self._store_errors + self.store.errors + self.store.dropped

    def route(self, request: Request) -> Upstream:
        upstream = self.config.route(request.model)
        if upstream is None:
            routable = ", ".join(p for u in self.config.upstreams for p in u.models)
            raise ApiError(
                404,
                f"model {request.model!r} is not routed to any upstream (routable: {routable})",
                param="model",
            )
        if upstream.kind == "local" and self.local is None:
            raise ApiError(
                500, f"upstream {upstream.name!r} is the local engine, which this gateway did not load"
            )
        return upstream

    async def generate(
        self,
        request: Request,
        *,
        dialect: Dialect,
        carrier: Carrier | None = None,
        seed: int | None = None,
        on_losses: Callable[[tuple[Loss, ...]], None] | None = None,
        credential: str | None = None,
        on_restored: Callable[[int], None] | None = None,
    ) -> AsyncGenerator[StreamEvent, None]:
        """The upstream's answer as IR events (see the class docstring for the store)."""
        self.requests += 1
        upstream = self.route(request)
        tenant = self.keys.tenant_of(credential) if self.keys is not None else ""
        # without a store the gateway's signatures bind the credential itself (HMAC input only)
        signed_for = tenant or (ANONYMOUS if credential is None else "c\0" + credential)
        request = await self._incoming(request, tenant, signed_for, on_restored, on_losses)
        request = with_thinking(request, upstream)
        folder = Folder() if self.store is not None else None  # folded only to be recorded
        signer = self.issuer.signer(signed_for, dialect)
        if upstream.kind == "local":
            assert self.local is not None
            async for event in self.local.generate(request, dialect=dialect, carrier=carrier, seed=seed):
                if folder is not None:
                    folder.feed(event)
                for shown in signer.feed(event) if signer is not None else (event,):
                    yield shown
        else:
            request = _for_issuer(request, upstream, on_losses)
            try:
                async for event in self.client.stream(upstream, request, on_losses=on_losses):
                    event = _normalised(event, upstream)
                    if folder is not None:
                        folder.feed(event)
                    for shown in signer.feed(event) if signer is not None else (event,):
                        yield shown
            except UpstreamError as exc:
                self.upstream_errors += 1
                raise ApiError(
                    exc.status, exc.message, retry_after=exc.retry_after, code="upstream_error"
                ) from None
        if folder is not None:
            self._record(folder, tenant)

    async def _incoming(
        self,
        request: Request,
        tenant: str,
        signed_for: str,
        on_restored: Callable[[int], None] | None,
        on_losses: Callable[[tuple[Loss, ...]], None] | None,
    ) -> Request:
        """``request`` with the gateway's own signatures checked and removed, then restored from
        the store, omitted blocks of ours checked against what came back
        (``thinkwire.server.issuer``)."""
        messages, omitted = self.issuer.inbound(request.messages, signed_for)
        request = msgspec.structs.replace(request, messages=messages)
        request = await self._restore(request, tenant, on_restored)
        if not omitted:
            return request
        messages, losses = self.issuer.settle(request.messages, omitted, signed_for)
        if losses:
            log.warning("%s", "; ".join(str(loss) for loss in losses))
            if on_losses is not None:
                on_losses(losses)
        return msgspec.structs.replace(request, messages=messages)

    async def _restore(
        self, request: Request, tenant: str, on_restored: Callable[[int], None] | None
    ) -> Request:
        store = self.store
        if store is None or not any(needs_restore(m) for m in request.messages):
            return request
        try:
            if self._restore_inline:
                messages, count = restore(store, tenant, request.messages)
            else:
                messages, count = await anyio.to_thread.run_sync(restore, store, tenant, request.messages)
        except StoreError as exc:
            self._store_errors += 1
            log.warning("state store unavailable, nothing restored: %s", exc)
            return request
        self.restored += count
        if on_restored is not None:
            on_restored(count)
        return msgspec.structs.replace(request, messages=messages) if count else request

    def _record(self, folder: Folder, tenant: str) -> None:
        """Queue the turn for the store's writer (no I/O here)."""
        store = self.store
        if store is None:
            return
        try:
            record(store, tenant, folder.result().to_message())
        except StoreError as exc:  # never fails a response already sent
            self._store_errors += 1
            log.warning("state store unavailable, turn not recorded: %s", exc)

    def models(self) -> list[str]:
        return [pattern for upstream in self.config.upstreams for pattern in upstream.models]

    def response_model(self, request: Request) -> str | None:
        return None

    def health(self) -> dict[str, Any]:
        store = self.store
        stats = msgspec.structs.asdict(store.stats()) if store is not None else None  # flushes first
        return {
            "status": "ok",
            "upstreams": [
                {"name": u.name, "kind": u.kind, "models": list(u.models)} for u in self.config.upstreams
            ],
            "requests": self.requests,
            "upstream_errors": self.upstream_errors,
            "restored": self.restored,
            "recorded": self.recorded,
            "store_errors": self.store_errors,
            "record_queue": store.queued if store is not None else 0,
            "record_dropped": store.dropped if store is not None else 0,
            "store": stats,
            "local": self.local.health() if self.local is not None else None,
        }

    async def aclose(self) -> None:
        await self.client.aclose()
        if self.store is not None:  # writes what is still queued first
            await anyio.to_thread.run_sync(self.store.close)
        if self.local is not None:
            await self.local.aclose()


def with_thinking(request: Request, upstream: Upstream) -> Request:
    """``request`` asking for thinking when its upstream thinks only when asked and the client
    did not say (a Chat client has no way to): budget from the upstream's profile or config,
    ``max_tokens`` raised by that much when it would leave no room after the thinking (the
    vendor requires ``max_tokens`` above the budget). A request that set a budget or turned
    thinking off is left as it is. A request without ``max_tokens`` gets the profile's, for a
    vendor that requires one."""
    default = upstream.profile.max_tokens
    if request.sampling.max_tokens is None and default is not None:
        request = msgspec.structs.replace(
            request, sampling=msgspec.structs.replace(request.sampling, max_tokens=default)
        )
    budget = upstream.default_thinking_budget
    asked = request.thinking
    if budget is None or (
        asked is not None and (asked.budget_tokens is not None or asked.mode == "disabled")
    ):
        return request
    extra = asked.extra if asked is not None else {}
    thinking = ThinkingConfig(mode="enabled", budget_tokens=budget, extra=extra)
    sampling = request.sampling
    if sampling.max_tokens is not None and sampling.max_tokens <= budget:
        sampling = msgspec.structs.replace(sampling, max_tokens=sampling.max_tokens + budget)
    return msgspec.structs.replace(request, thinking=thinking, sampling=sampling)


def _for_issuer(
    request: Request, upstream: Upstream, on_losses: Callable[[tuple[Loss, ...]], None] | None
) -> Request:
    """``request`` under the origin rule for ``upstream``'s provider (``policy.apply_origin_rule``),
    what it changed reported with the encoding's losses."""
    profile = upstream.profile
    messages, losses = apply_origin_rule(
        request.messages, profile.provider, accepts_unsigned=profile.accepts_unsigned
    )
    if not losses:
        return request
    log.info("origin rule for %s: %s", upstream.name, "; ".join(str(loss) for loss in losses))
    if on_losses is not None:
        on_losses(losses)
    return msgspec.structs.replace(request, messages=messages)


def _normalised(event: StreamEvent, upstream: Upstream) -> StreamEvent:
    """``event`` with usage in the engine's convention (module docstring)."""
    if upstream.kind != "anthropic" or not isinstance(event, MessageStart | MessageDelta):
        return event
    usage = event.usage
    if usage is None or usage.input_tokens is None or not usage.cache_read_tokens:
        return event
    total: Usage = msgspec.structs.replace(usage, input_tokens=usage.input_tokens + usage.cache_read_tokens)
    return msgspec.structs.replace(event, usage=total)
