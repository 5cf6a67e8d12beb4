"""``create_emulator``: a vendor emulator as a Starlette app.

Routes: the vendor's generation path(s) (``POST /v1/messages`` for Anthropic,
``POST /v1/chat/completions`` and ``/chat/completions`` for Chat vendors, ``POST /v1/responses``
and ``/responses`` for OpenAI Responses), those of the APIs its server has beside
(``Vendor.routes``: OpenRouter's Responses beta on ``/v1/responses``) and ``GET /v1/models``.
Errors come in the vendor's envelope (``Vendor.error_response``: OpenAI's or Anthropic's
from ``thinkwire.asgi.errors``, OpenRouter's own), unknown paths too. Every request is
recorded on ``app.state.requests`` (a list of ``Exchange``, the last ``record`` of them) for
tests to inspect: its body, the status answered, the model's view and the response.
``thinkwire emulate`` records none (nobody can read them, and each holds a whole request).

The model is the scripted one unless ``model`` is given (``thinkwire.emulators.models``): a
model's reply is finished by the vendor as it streams (``finished_events``), and an error the
model raises before its first event is answered in the vendor's envelope, one after it goes
into the stream as the dialect's error event.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request as HttpRequest
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from thinkwire.asgi.errors import stream_error
from thinkwire.asgi.event_stream import EventStreamResponse
from thinkwire.asgi.http import read_json
from thinkwire.dialects.base import get_codec
from thinkwire.emulators.breaks import MERGE_STREAM_BLOCKS, get_break
from thinkwire.emulators.models import Model, finished_events
from thinkwire.emulators.vendors import VENDORS, Answered, Vendor
from thinkwire.errors import ApiError, DecodeError
from thinkwire.ir.conversation import Request
from thinkwire.ir.conversation import Response as IrResponse
from thinkwire.ir.stream import StreamError, StreamEvent


@dataclass
class Exchange:
    """One request the emulator got: ``status`` 200 with ``view`` and ``response`` when
    answered, else the error status and ``error`` message."""

    path: str
    body: dict[str, Any] | None
    status: int
    stream: bool = False
    error: str | None = None
    view: Request | None = None
    response: IrResponse | None = None


def make_vendor(
    vendor: str, *, break_case: str | None = None, secret: bytes | str | None = None, calls: int = 1
) -> Vendor:
    """The ``Vendor`` named ``vendor``; ``ValueError`` for an unknown vendor or break case (or
    ``calls``, the scripted model's tool calls per user turn, below 1).

    The default secret is derived from the vendor name: runs are reproducible, and one
    vendor's signatures are invalid at another."""
    kind = VENDORS.get(vendor)
    if kind is None:
        raise ValueError(f"unknown vendor {vendor!r}; expected one of {', '.join(VENDORS)}")
    case = get_break(break_case, vendor)
    if calls < 1:
        raise ValueError(f"--calls: the model makes at least 1 tool call per turn, not {calls}")
    key = secret if secret is not None else f"thinkwire-emulator:{vendor}"
    return kind(secret=key.encode() if isinstance(key, str) else key, break_case=case, calls=calls)


RECORDED: Final = 1000
"""Requests an emulator's app keeps on ``app.state.requests`` by default."""


def create_emulator(
    vendor: str,
    *,
    break_case: str | None = None,
    secret: bytes | str | None = None,
    model: Model | None = None,
    calls: int = 1,
    record: int = RECORDED,
) -> Starlette:
    """An emulator of ``vendor`` (a name in ``VENDORS``), misbehaving as
    ``break_case`` says (``thinkwire.emulators.breaks.BREAKS``), signing with ``secret``,
    answering with ``model`` (``None``: the scripted model; see ``thinkwire.emulators.models``).
    ``calls``: the scripted model's tool calls per user turn; ``record``: how many of the last
    requests ``app.state.requests`` keeps. The app does not close ``model``."""
    emulated = make_vendor(vendor, break_case=break_case, secret=secret, calls=calls)
    requests: list[Exchange] = []

    def recorded(exchange: Exchange) -> None:
        if record:
            requests.append(exchange)
            del requests[:-record]

    def endpoint(served: Vendor) -> Callable[[HttpRequest], Awaitable[Response]]:
        """The handler of ``served``'s generation paths (the vendor's, or one it serves beside)."""

        async def generate(http: HttpRequest) -> Response:
            if model is not None:
                return await generate_with(model, http)
            body: dict[str, Any] | None = None
            try:
                body = await read_json(http)
                turn = served.handle(body)
            except (ApiError, DecodeError) as exc:
                error = exc if isinstance(exc, ApiError) else ApiError.bad_request(exc)
                recorded(Exchange(http.url.path, body, error.status, error=error.message))
                return served.error_response(error)
            stream = body.get("stream") is True
            recorded(Exchange(http.url.path, body, 200, stream, view=turn.view, response=turn.response))
            if stream:
                return StreamingResponse(
                    served.sse(turn), media_type="text/event-stream", headers={"cache-control": "no-cache"}
                )
            return JSONResponse(served.encode(turn))

        async def generate_with(model: Model, http: HttpRequest) -> Response:
            body: dict[str, Any] | None = None
            try:
                body = await read_json(http)
                request, view = served.prepare(body)
            except (ApiError, DecodeError) as exc:
                return refuse(http, body, exc)
            stream = body.get("stream") is True
            events = model.generate(view, call_prefix=served.call_prefix)
            try:
                first = await anext(events)
            except ApiError as exc:
                await events.aclose()
                return refuse(http, body, exc)
            turns: list[Answered] = []

            def answered(turn: Answered) -> None:
                turns.append(turn)
                recorded(Exchange(http.url.path, body, 200, stream, view=turn.view, response=turn.response))

            finished = finished_events(served, request, view, _chain(first, events), answered)
            if stream and served.break_case is not MERGE_STREAM_BLOCKS:
                return EventStreamResponse(_sse(served, request, finished), close=events.aclose)
            try:
                async for _ in finished:
                    pass
            except ApiError as exc:
                return refuse(http, body, exc)
            finally:
                await events.aclose()
            if stream:  # merge-stream-blocks: the whole reply replayed, merged
                return StreamingResponse(
                    served.sse(turns[0]),
                    media_type="text/event-stream",
                    headers={"cache-control": "no-cache"},
                )
            return JSONResponse(served.encode(turns[0]))

        def refuse(http: HttpRequest, body: dict[str, Any] | None, exc: ApiError | DecodeError) -> Response:
            error = exc if isinstance(exc, ApiError) else ApiError.bad_request(exc)
            recorded(Exchange(http.url.path, body, error.status, error=error.message))
            return served.error_response(error)

        return generate

    async def models(http: HttpRequest) -> Response:
        data = [{"id": m, "object": "model", "type": "model", "owned_by": vendor} for m in emulated.models]
        return JSONResponse({"object": "list", "data": data, "has_more": False})

    async def http_error(http: HttpRequest, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        message = f"{http.method} {http.url.path}: {exc.detail}"
        return emulated.error_response(ApiError(exc.status_code, message))

    routes = [
        Route(path, endpoint(served), methods=["POST"])
        for served in emulated.routes()
        for path in served.paths
    ]
    routes.append(Route("/v1/models", models, methods=["GET"]))
    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error})
    app.state.requests = requests
    app.state.vendor = emulated
    return app


async def _chain(first: StreamEvent, rest: AsyncIterator[StreamEvent]) -> AsyncIterator[StreamEvent]:
    yield first
    async for event in rest:
        yield event


async def _sse(vendor: Vendor, request: Request, events: AsyncIterator[StreamEvent]) -> AsyncIterator[bytes]:
    """``events`` as the vendor's SSE; an error once the stream has begun goes into it."""
    encoder = get_codec(vendor.dialect).stream_encoder(carrier=vendor.carrier(request))
    try:
        async for event in events:
            for chunk in encoder.feed(event):
                yield chunk
    except ApiError as exc:
        for chunk in encoder.feed(StreamError(error=stream_error(exc, vendor.dialect))):
            yield chunk
        return
    for chunk in encoder.close():
        yield chunk


__all__ = ["Exchange", "Answered", "create_emulator", "make_vendor"]
