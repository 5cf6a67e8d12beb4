"""The gateway backend: each request goes to the upstream its model routes to.

``GatewayService`` is a ``thinkwire.backend.Backend``, like the engine's service, so
the three endpoints serve any client dialect in front of any upstream dialect: the request is
already IR when it gets here, the upstream client encodes it in the upstream's dialect and
decodes the answer back into IR events as they stream, and the endpoint encodes those for the
client. An upstream of kind ``local`` is the embedded engine's service.

The request asks for thinking as the upstream needs, turns without thinking get what the
vendor accepts in its place when it requires thinking on every turn, and usage comes back in the engine's
convention (``thinkwire.upstreams.conventions``: ``input_tokens`` counts every prompt token,
cache reads included); each client dialect then gets its own convention from ``Reply.usage``.

Restoring dropped thinking, recording turns, the thinking policy and the signatures the server
issues for clients whose dialect needs one are not here: ``thinkwire.store.pipeline.Stateful``
does them in front of every backend, this one included.

Upstream failures become ``ApiError`` (``relayed``): an error the vendor answered keeps its
status, type, message, code and param as the vendor sent them (429 keeps its ``retry-after``;
5xx after retries), with the gateway's context in a ``thinkwire-upstream-error`` header; a
transport failure is the gateway's own (unreachable or a broken answer 502, a timeout 504). It
comes before the first event when nothing was streamed yet (with the ``thinkwire-restored``
and ``thinkwire-losses`` headers of what was done to the request), else as the dialect's
in-stream error event.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from typing import Any

import msgspec

from thinkwire.backend import Caller, Generation
from thinkwire.errors import OVERLOADED, ApiError
from thinkwire.ir.blocks import ToolCall
from thinkwire.ir.conversation import Request
from thinkwire.ir.losses import Loss
from thinkwire.ir.stream import ArgumentsDelta, BlockDelta, BlockStart, BlockStop, StreamError, StreamEvent
from thinkwire.local.service import EngineService
from thinkwire.policy import apply_origin_rule
from thinkwire.server.limits import MAX_NESTING, too_deep
from thinkwire.upstreams.client import Call, UpstreamClient, UpstreamError, vendor_error_of
from thinkwire.upstreams.config import GatewayConfig, Upstream
from thinkwire.upstreams.conventions import with_placeholders, with_thinking, with_total_input

log = logging.getLogger("thinkwire.gateway")


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

    async def generate(self, request: Request, caller: Caller) -> Generation:
        """The upstream's answer as IR events; ``ApiError`` before the first event for a refused
        request (unknown model, the upstream's 4xx, unreachable after retries)."""
        self.requests += 1
        upstream = self.route(request)
        request = with_thinking(request, upstream)
        if upstream.kind == "local":
            assert self.local is not None
            return await self.local.generate(request, caller)
        request, ruled = _for_issuer(request, upstream)
        request, missing = with_placeholders(request, upstream)
        try:
            call = self.client.prepare(upstream, request)
        except UpstreamError as exc:
            raise ApiError(exc.status, exc.message) from None
        losses = (*ruled, *missing, *call.losses)
        try:
            return await Generation.start(self._upstream(call), losses=lambda: losses)
        except ApiError as exc:  # refused: what the encoding lost is reported with the refusal
            exc.losses = (*losses, *exc.losses)
            raise

    async def _upstream(self, call: Call) -> AsyncGenerator[StreamEvent, None]:
        arguments: dict[int, list[str]] = {}
        try:
            async for event in self.client.send(call):
                if isinstance(event, StreamError):  # the vendor's error event: relayed as an error
                    raise _stream_error(event, call.upstream.name)
                _check_arguments(event, arguments, call.upstream.name)
                yield with_total_input(event, call.upstream)
        except UpstreamError as exc:
            self.upstream_errors += 1
            raise relayed(exc, call.upstream.name) from None

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


def _for_issuer(request: Request, upstream: Upstream) -> tuple[Request, tuple[Loss, ...]]:
    """``request`` under the origin rule for ``upstream``'s provider (``policy.apply_origin_rule``),
    what it changed reported with the encoding's losses."""
    profile = upstream.profile
    messages, losses = apply_origin_rule(
        request.messages, profile.provider, accepts_unsigned=profile.accepts_unsigned
    )
    if not losses:
        return request, ()
    log.info("origin rule for %s: %s", upstream.name, "; ".join(str(loss) for loss in losses))
    return msgspec.structs.replace(request, messages=messages), tuple(losses)


def _check_arguments(event: StreamEvent, arguments: dict[int, list[str]], name: str) -> None:
    """Collect a tool call's arguments as they stream (``arguments``: per block index); when its
    block stops, an upstream's arguments nested deeper than a client may send them back
    (``MAX_NESTING``) are a broken answer, refused before the turn ends: a client could never
    send that turn back."""
    if isinstance(event, BlockStart) and isinstance(event.block, ToolCall):
        arguments[event.index] = [event.block.arguments]
    elif (
        isinstance(event, BlockDelta) and isinstance(event.delta, ArgumentsDelta) and event.index in arguments
    ):
        arguments[event.index].append(event.delta.json)
    elif isinstance(event, BlockStop) and event.index in arguments:
        text = "".join(arguments.pop(event.index))
        if too_deep(text):
            raise UpstreamError(
                502,
                f"upstream {name!r} sent tool-call arguments nested more than {MAX_NESTING} levels deep",
            )


def _stream_error(event: StreamError, name: str) -> UpstreamError:
    """An error event inside an upstream's stream, as the ``UpstreamError`` it is: the vendor's
    words (its status when it gave one, else 502), counted and relayed like any other."""
    error = event.error
    nested = error.get("error")
    inner: dict[str, Any] = nested if isinstance(nested, dict) else error
    code = inner.get("code")
    status = code if isinstance(code, int) and 400 <= code < 600 else 502
    message = inner.get("message")
    text = message if isinstance(message, str) else "an error event without a message"
    vendor = vendor_error_of(status, error, text)
    return UpstreamError(status, f"upstream {name!r} sent an error event: {vendor.message}", vendor=vendor)


def relayed(error: UpstreamError, name: str) -> ApiError:
    """``error`` as the client gets it: the vendor's status, type, message, code and param as
    the vendor sent them (an overloaded vendor is "overloaded" in the client's dialect), the
    gateway's own words apart (``ApiError.upstream``); a failure of the transport (nothing
    answered, a broken answer, a timeout) in the gateway's words."""
    vendor = error.vendor
    if vendor is None:
        return ApiError(error.status, error.message, retry_after=error.retry_after, code="upstream_error")
    return ApiError(
        OVERLOADED if vendor.status in (503, 529) else vendor.status,
        vendor.message,
        param=vendor.param,
        code=vendor.code,
        retry_after=error.retry_after,
        types={vendor.family: vendor.type} if vendor.family and vendor.type else None,
        upstream=f"upstream {name!r} answered {vendor.status}",
    )
