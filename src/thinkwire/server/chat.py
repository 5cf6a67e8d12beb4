"""``POST /v1/chat/completions``: OpenAI Chat Completions on the local engine.

Reasoning comes back in ``reasoning_content`` unless the server was started with another
``--carrier`` or the request sends a ``thinkwire-carrier`` header (``reasoning_content``,
``reasoning``, ``reasoning_details``, ``think-tags``); it is accepted back in any carrier.
Only ``reasoning_details`` has room for the engine's signature. ``seed`` fixes sampling;
``n`` other than 1 is refused; a stream carries usage only with
``stream_options.include_usage``, as OpenAI's does.
"""

from __future__ import annotations

import time
from typing import Any, Final

from starlette.requests import Request as HttpRequest
from starlette.responses import Response

from thinkwire.asgi.errors import envelope
from thinkwire.asgi.http import read_json
from thinkwire.dialects.openai_chat import CODEC
from thinkwire.errors import ApiError, DecodeError
from thinkwire.ir.blocks import CARRIERS, Carrier
from thinkwire.server.reply import Reply, answer
from thinkwire.server.state import ServerState

DIALECT: Final = "openai-chat"
CARRIER_HEADER: Final = "thinkwire-carrier"


async def chat_completions(http: HttpRequest, state: ServerState) -> Response:
    try:
        body = await read_json(http, state.body_limit)
        request = CODEC.decode_request(body)
        if not request.messages:
            raise ApiError(400, "messages: at least one message is required", param="messages")
        if body.get("n") not in (None, 1):
            raise ApiError(400, "n: the local model generates one choice per request (n=1)", param="n")
        stream = body.get("stream") is True
        options = body.get("stream_options")
        include_usage = not stream or (isinstance(options, dict) and options.get("include_usage") is True)
        reply = Reply(
            DIALECT,
            state.service.response_model(request),
            carrier=carrier(http, state.carrier),
            extra={"created": int(time.time())},
            include_usage=include_usage,
            seed=seed(body),
        )
    except DecodeError as exc:
        return envelope(ApiError.bad_request(exc), DIALECT)
    except ApiError as exc:
        return envelope(exc, DIALECT)
    return await answer(state.service, http, request, reply, stream=stream)


def carrier(http: HttpRequest, default: Carrier) -> Carrier:
    """The carrier the client asked for in the ``thinkwire-carrier`` header, else ``default``."""
    asked = http.headers.get(CARRIER_HEADER)
    if asked is None:
        return default
    if asked not in CARRIERS:
        raise ApiError(
            400,
            f"{CARRIER_HEADER} header: {asked!r} is not one of {', '.join(CARRIERS)}",
            param=CARRIER_HEADER,
        )
    return asked


def seed(body: dict[str, Any]) -> int | None:
    value = body.get("seed")
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise ApiError(400, f"seed: expected an integer, got {type(value).__name__}", param="seed")
    return value
