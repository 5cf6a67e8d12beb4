"""The gateway backend: each request goes to the upstream its model routes to.

``GatewayService`` has the engine service's interface (``thinkwire.server.service.Backend``), so
the three endpoints serve any client dialect in front of any upstream dialect: the request is
already IR when it gets here, the upstream client encodes it in the upstream's dialect and
decodes the answer back into IR events as they stream, and the endpoint encodes those for the
client. An upstream of kind ``local`` is the embedded engine's service.

Usage is normalised here to the engine's convention (``input_tokens`` counts every prompt token,
cache reads included): an Anthropic upstream's ``input_tokens`` leaves cache reads out, so they
are added back, and each client dialect then gets its own convention from ``Turn.usage``.

Upstream failures become ``ApiError`` with the upstream's status and message (429 keeps its
``retry-after``; unreachable or 5xx after retries is 502; a timeout 504), before the first event
when nothing was streamed yet, else as the dialect's in-stream error event.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from typing import Any

import msgspec

from thinkwire.ir.blocks import Carrier, Dialect
from thinkwire.ir.conversation import Request, Usage
from thinkwire.ir.losses import Loss
from thinkwire.ir.stream import MessageDelta, MessageStart, StreamEvent
from thinkwire.server.errors import ApiError
from thinkwire.server.service import EngineService
from thinkwire.upstreams.client import UpstreamClient, UpstreamError
from thinkwire.upstreams.config import GatewayConfig, Upstream


class GatewayService:
    """Routes by model name over ``config``'s upstreams; ``local`` serves ``kind = "local"``."""

    total_input_usage = True

    def __init__(
        self,
        config: GatewayConfig,
        *,
        client: UpstreamClient | None = None,
        local: EngineService | None = None,
    ) -> None:
        self.config = config
        self.client = client or UpstreamClient()
        self.local = local
        self.requests = 0
        self.upstream_errors = 0

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
    ) -> AsyncGenerator[StreamEvent, None]:
        self.requests += 1
        upstream = self.route(request)
        if upstream.kind == "local":
            assert self.local is not None
            async for event in self.local.generate(request, dialect=dialect, carrier=carrier, seed=seed):
                yield event
            return
        try:
            async for event in self.client.stream(upstream, request, on_losses=on_losses):
                yield _normalised(event, upstream)
        except UpstreamError as exc:
            self.upstream_errors += 1
            raise ApiError(
                exc.status, exc.message, retry_after=exc.retry_after, code="upstream_error"
            ) from None

    def models(self) -> list[str]:
        return [pattern for upstream in self.config.upstreams for pattern in upstream.models]

    def response_model(self, request: Request) -> str | None:
        return None

    def health(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "upstreams": [
                {"name": u.name, "kind": u.kind, "models": list(u.models)} for u in self.config.upstreams
            ],
            "requests": self.requests,
            "upstream_errors": self.upstream_errors,
            "local": self.local.health() if self.local is not None else None,
        }

    async def aclose(self) -> None:
        await self.client.aclose()
        if self.local is not None:
            await self.local.aclose()


def _normalised(event: StreamEvent, upstream: Upstream) -> StreamEvent:
    """``event`` with usage in the engine's convention (module docstring)."""
    if upstream.kind != "anthropic" or not isinstance(event, MessageStart | MessageDelta):
        return event
    usage = event.usage
    if usage is None or usage.input_tokens is None or not usage.cache_read_tokens:
        return event
    total: Usage = msgspec.structs.replace(usage, input_tokens=usage.input_tokens + usage.cache_read_tokens)
    return msgspec.structs.replace(event, usage=total)
