"""``POST /v1/messages``: Anthropic Messages on the local engine.

Thinking blocks come back with the engine's signature; a signed block sent back altered is
refused with a 400 ``invalid_request_error``, as Anthropic refuses a tampered signature.
``thinking`` (``enabled`` with ``budget_tokens``, ``disabled``, ``adaptive``) is honoured by
the engine; with ``display: "omitted"`` thinking blocks come back empty with their signature,
and the engine puts the text back in place when they are sent back. ``usage.input_tokens``
counts the prompt tokens *not* read from the cache and ``usage.cache_read_input_tokens`` those
that were, as Anthropic reports them.
"""

from __future__ import annotations

from typing import Final

from starlette.requests import Request as HttpRequest
from starlette.responses import Response

from thinkwire.asgi.errors import envelope
from thinkwire.asgi.http import read_json
from thinkwire.dialects.anthropic import CODEC
from thinkwire.errors import ApiError, DecodeError
from thinkwire.server.reply import Reply, answer
from thinkwire.server.state import ServerState

DIALECT: Final = "anthropic"


async def messages(http: HttpRequest, state: ServerState) -> Response:
    try:
        body = await read_json(http, state.body_limit)
        if "max_tokens" not in body:
            raise ApiError(400, "max_tokens: Field required", param="max_tokens")
        request = CODEC.decode_request(body)
        if not request.messages:
            raise ApiError(400, "messages: at least one message is required", param="messages")
        omitted = request.thinking is not None and request.thinking.display == "omitted"
        reply = Reply(DIALECT, state.service.response_model(request), omit_thinking=omitted)
    except DecodeError as exc:
        return envelope(ApiError.bad_request(exc), DIALECT)
    except ApiError as exc:
        return envelope(exc, DIALECT)
    return await answer(state.service, http, request, reply, stream=body.get("stream") is True)
