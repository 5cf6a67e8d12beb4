"""``/v1/responses``: OpenAI Responses on the local engine, with stored state.

``POST /v1/responses`` answers with reasoning items (the engine's signature in
``encrypted_content``), function calls and messages. With ``store`` (default ``true``) the
response and the conversation before it are kept (``thinkwire.server.store``), so a request
with ``previous_response_id`` continues it — earlier reasoning included — sending only its new
input; ``instructions`` are not carried over, as in the hosted API. ``GET`` and ``DELETE
/v1/responses/{id}`` read and forget a stored response. The response object echoes the
request's settings (``instructions``, ``tools``, ``store``, ...), as the API does.
"""

from __future__ import annotations

import time
from typing import Any, Final

import msgspec
from starlette.requests import Request as HttpRequest
from starlette.responses import JSONResponse, Response

from thinkwire.dialects.openai_responses import CODEC
from thinkwire.dialects.openai_responses.response import DERIVE_STATUS
from thinkwire.errors import DecodeError
from thinkwire.ir.conversation import Request
from thinkwire.ir.conversation import Response as IrResponse
from thinkwire.server.errors import ApiError, envelope
from thinkwire.server.http import read_json
from thinkwire.server.state import ServerState
from thinkwire.server.store import StoredResponse
from thinkwire.server.turns import Turn, answer

DIALECT: Final = "openai-responses"
_ECHOED: Final[tuple[tuple[str, Any], ...]] = (
    ("instructions", None),
    ("max_output_tokens", None),
    ("parallel_tool_calls", True),
    ("previous_response_id", None),
    ("reasoning", {"effort": None, "summary": None}),
    ("store", True),
    ("temperature", None),
    ("text", {"format": {"type": "text"}}),
    ("tool_choice", "auto"),
    ("tools", []),
    ("top_p", None),
    ("truncation", "disabled"),
    ("user", None),
    ("metadata", {}),
)


async def create(http: HttpRequest, state: ServerState) -> Response:
    try:
        body = await read_json(http, state.body_limit)
        request = CODEC.decode_request(body)
        request = _continued(request, body.get("previous_response_id"), state)
        if not request.messages:
            raise ApiError(400, "input: the request has no input", param="input")
        stored = body.get("store") is not False
        turn = Turn(DIALECT, state.service.response_model(request), extra=_fields(body))
    except DecodeError as exc:
        return envelope(ApiError.bad_request(exc), DIALECT)
    except ApiError as exc:
        return envelope(exc, DIALECT)
    if stored:

        def keep(response: IrResponse) -> None:
            state.responses.put(
                turn.id,
                StoredResponse(response=response, messages=(*request.messages, response.to_message())),
            )

        turn.on_response = keep
    return await answer(state.service, http, request, turn, stream=body.get("stream") is True)


async def retrieve(http: HttpRequest, state: ServerState) -> Response:
    id = http.path_params["id"]
    stored = state.responses.get(id)
    if stored is None:
        return envelope(_not_found(id, None), DIALECT)
    return JSONResponse(CODEC.encode_response(stored.response).value)


async def delete(http: HttpRequest, state: ServerState) -> Response:
    id = http.path_params["id"]
    if not state.responses.delete(id):
        return envelope(_not_found(id, None), DIALECT)
    return JSONResponse({"id": id, "object": "response", "deleted": True})


def _continued(request: Request, previous: Any, state: ServerState) -> Request:
    """``request`` with the stored conversation of ``previous`` before its own input."""
    if previous is None:
        return request
    if not isinstance(previous, str):
        raise ApiError(400, "previous_response_id: expected a string", param="previous_response_id")
    stored = state.responses.get(previous)
    if stored is None:
        raise _not_found(previous, "previous_response_id")
    return msgspec.structs.replace(request, messages=(*stored.messages, *request.messages))


def _not_found(id: str, param: str | None) -> ApiError:
    what = "Previous response" if param else "Response"
    return ApiError(
        404,
        f"{what} with id '{id}' not found.",
        param=param,
        code="previous_response_not_found" if param else None,
    )


def _fields(body: dict[str, Any]) -> dict[str, Any]:
    """The response object's own fields, echoing the request (``status`` derived at the end)."""
    fields: dict[str, Any] = {
        "object": "response",
        "created_at": int(time.time()),
        "status": "in_progress",
        "error": None,
        "incomplete_details": None,
    }
    for key, default in _ECHOED:
        fields[key] = body.get(key, default)
    fields[DERIVE_STATUS] = True
    return fields
