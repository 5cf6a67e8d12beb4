"""The ASGI app: routes, the error envelopes for unknown paths and methods, the lifespan.

Routes::

    POST /v1/chat/completions     OpenAI Chat Completions          (server.chat)
    POST /v1/messages             Anthropic Messages               (server.messages)
    POST /v1/responses            OpenAI Responses                 (server.responses)
    GET|DELETE /v1/responses/{id} a stored response
    GET  /v1/models               the served model, readable by both SDKs
    GET  /healthz                 slots, queue, counters (no key needed)
    GET|HEAD /                    a line saying what this is (no key needed; coding agents
                                  probe it with HEAD before their first request)
    GET  /metrics                 Prometheus metrics (server.metrics)

A path or method that does not exist gets a 404 / 405 in the envelope of the dialect its path
belongs to (Anthropic for ``/v1/messages...``, OpenAI otherwise). Closing the app (the
lifespan's end) closes the engine.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request as HttpRequest
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from thinkwire.asgi.errors import envelope, incident
from thinkwire.errors import ApiError
from thinkwire.ir.blocks import Dialect
from thinkwire.server import auth, chat, messages, responses
from thinkwire.server.metrics import Metrics
from thinkwire.server.state import ServerState

log = logging.getLogger("thinkwire.server")

Handler = Callable[[HttpRequest, ServerState], Awaitable[Response]]


def create_app(state: ServerState, *, close_engine: bool = True) -> Starlette:
    """The server for ``state``; the engine is closed when the app shuts down (unless
    ``close_engine`` is false, for an engine the caller owns)."""

    metrics = Metrics(state.service.health)

    def bind(
        handler: Handler, *, route: str = "", open_to_all: bool = False
    ) -> Callable[[HttpRequest], Awaitable[Response]]:
        async def endpoint(http: HttpRequest) -> Response:
            started = time.perf_counter()
            response: Response | None = None
            try:
                auth.check_browser(http, keyless=not state.api_keys, policy=state.browser)
                if not open_to_all:
                    auth.check(http, state.api_keys)
                response = await handler(http, state)
            except ApiError as exc:
                response = envelope(exc, _dialect(http))
            finally:
                if route:
                    status = response.status_code if response is not None else 500
                    metrics.observe(route, status, time.perf_counter() - started)
            return response

        return endpoint

    async def serve_metrics(http: HttpRequest, state: ServerState) -> Response:
        return metrics.response()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        if close_engine:
            await state.service.aclose()

    routes = [
        Route("/v1/chat/completions", bind(chat.chat_completions, route="chat"), methods=["POST"]),
        Route("/v1/messages", bind(messages.messages, route="messages"), methods=["POST"]),
        Route("/v1/responses", bind(responses.create, route="responses"), methods=["POST"]),
        Route("/v1/responses/{id}", bind(responses.retrieve), methods=["GET"]),
        Route("/v1/responses/{id}", bind(responses.delete), methods=["DELETE"]),
        Route("/v1/models", bind(models), methods=["GET"]),
        Route("/v1/models/{id:path}", bind(model), methods=["GET"]),
        Route("/healthz", bind(health, open_to_all=True), methods=["GET"]),
        Route("/", bind(root, open_to_all=True), methods=["GET"]),
        Route("/metrics", bind(serve_metrics), methods=["GET"]),
    ]
    handlers = {HTTPException: _http_error, Exception: _server_error}
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers=handlers,
        middleware=auth.cors_middleware(state.browser),
    )
    app.state.thinkwire = state
    return app


async def models(http: HttpRequest, state: ServerState) -> Response:
    """The model list in a form both SDKs read (OpenAI's ``object``/``owned_by`` and
    Anthropic's ``type``/``display_name``/``created_at`` side by side)."""
    entries = [_model_entry(state, id) for id in state.service.models()]
    first, last = (entries[0]["id"], entries[-1]["id"]) if entries else (None, None)
    return JSONResponse(
        {"object": "list", "data": entries, "has_more": False, "first_id": first, "last_id": last}
    )


async def model(http: HttpRequest, state: ServerState) -> Response:
    id = http.path_params["id"]
    served = state.service.models()
    if id not in served:
        error = ApiError(
            404,
            f"model {id!r} is not served here; this server runs {', '.join(served)}",
            code="model_not_found",
        )
        return envelope(error, _dialect(http))
    return JSONResponse(_model_entry(state, id))


async def root(http: HttpRequest, state: ServerState) -> Response:
    return JSONResponse(
        {"name": "thinkwire", "routes": ["/v1/chat/completions", "/v1/messages", "/v1/responses"]}
    )


async def health(http: HttpRequest, state: ServerState) -> Response:
    return JSONResponse(state.service.health())


def _model_entry(state: ServerState, id: str) -> dict[str, Any]:
    created = datetime.datetime.fromtimestamp(state.started, datetime.UTC).isoformat().replace("+00:00", "Z")
    return {
        "id": id,
        "object": "model",
        "created": state.started,
        "owned_by": "thinkwire",
        "type": "model",
        "display_name": id,
        "created_at": created,
    }


def _dialect(http: HttpRequest) -> Dialect:
    if http.url.path.startswith("/v1/messages") or "anthropic-version" in http.headers:
        return "anthropic"
    return "openai-responses" if http.url.path.startswith("/v1/responses") else "openai-chat"


async def _server_error(http: HttpRequest, exc: Exception) -> Response:
    """A bug: a 500 in the client's dialect that names an incident, never the exception."""
    return envelope(
        incident(log, f"internal server error on {http.method} {http.url.path}", exc), _dialect(http)
    )


async def _http_error(http: HttpRequest, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        message = f"no route {http.method} {http.url.path}; see /v1/models for what this server runs"
    elif exc.status_code == 405:
        message = f"method {http.method} is not allowed on {http.url.path}"
    else:
        message = str(exc.detail)
    response = envelope(ApiError(exc.status_code, message), _dialect(http))
    if exc.headers:
        response.headers.update(exc.headers)
    return response
