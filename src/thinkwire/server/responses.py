"""``/v1/responses``: OpenAI Responses on the local engine, with stored state.

``POST /v1/responses`` answers with reasoning items (the engine's signature in
``encrypted_content``), function calls and messages. With ``store`` (default ``true``) the
response is kept in the conversation state (``thinkwire.store``: per tenant, durable, bounded
in bytes and by a TTL, shared by replicas on Redis) with the input its request added and the
response it continued, so a request with ``previous_response_id`` continues it — earlier
reasoning included — sending only its new input; ``instructions`` are not carried over, as in
the hosted API. ``item_reference`` input items are replaced by the stored output items they
name. ``GET`` and ``DELETE /v1/responses/{id}`` read and forget a stored response. Another
tenant's response is a 404 everywhere, exactly as one that does not exist; with the store
down, these answer 503 with ``retry-after``. The response object echoes the
request's settings (``instructions``, ``tools``, ``store``, ...), as the API does.
"""

from __future__ import annotations

import time
from typing import Any, Final

import msgspec
from starlette.requests import Request as HttpRequest
from starlette.responses import JSONResponse, Response

from thinkwire.asgi.errors import envelope
from thinkwire.asgi.http import credential, read_json
from thinkwire.backend import KeepResponse
from thinkwire.dialects.openai_responses import CODEC
from thinkwire.dialects.openai_responses.response import DERIVE_STATUS
from thinkwire.errors import ApiError, DecodeError
from thinkwire.ir.conversation import Request
from thinkwire.server.reply import Reply, answer
from thinkwire.server.state import ServerState
from thinkwire.store.base import StoredResponse, StoreError
from thinkwire.store.pipeline import output_items
from thinkwire.store.state import ChainBroken, StoreUnavailable

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
        tenant = state.tenant(credential(http))
        body = await _resolved(body, tenant, state)
        request = CODEC.decode_request(body)
        previous = body.get("previous_response_id")
        own = request.messages
        request = await _continued(request, previous, tenant, state)
        if not request.messages:
            raise ApiError(400, "input: the request has no input", param="input")
        keep = None
        if body.get("store") is not False and state.conversations is not None:
            keep = KeepResponse(id="", input=own, previous=previous)
        reply = Reply(
            DIALECT,
            state.service.response_model(request),
            extra=_fields(body),
            keep=keep,
            summary=_wants_summary(body),
        )
    except DecodeError as exc:
        return envelope(ApiError.bad_request(exc), DIALECT)
    except ApiError as exc:
        return envelope(exc, DIALECT)
    return await answer(state.service, http, request, reply, stream=body.get("stream") is True)


async def retrieve(http: HttpRequest, state: ServerState) -> Response:
    id = http.path_params["id"]
    try:
        stored = await _stored(state, state.tenant(credential(http)), id, None)
    except ApiError as exc:
        return envelope(exc, DIALECT)
    return JSONResponse(CODEC.encode_response(stored.response).value)


async def delete(http: HttpRequest, state: ServerState) -> Response:
    id = http.path_params["id"]
    conversations = state.conversations
    try:
        if conversations is None or not await conversations.delete_response(
            state.tenant(credential(http)), id
        ):
            raise _not_found(id, None)
    except StoreUnavailable as exc:
        return envelope(_unavailable(exc), DIALECT)
    except ApiError as exc:
        return envelope(exc, DIALECT)
    return JSONResponse({"id": id, "object": "response", "deleted": True})


async def _stored(state: ServerState, tenant: str, id: str, param: str | None) -> StoredResponse:
    """``tenant``'s stored response ``id``: 404 when there is none (or it is another tenant's:
    the two are not told apart), 503 when the store is down."""
    conversations = state.conversations
    if conversations is None:
        raise _not_found(id, param)
    try:
        stored = await conversations.response(tenant, id)
    except StoreUnavailable as exc:
        raise _unavailable(exc) from None
    if stored is None:
        raise _not_found(id, param)
    return stored


async def _continued(request: Request, previous: Any, tenant: str, state: ServerState) -> Request:
    """``request`` with the stored conversation of ``previous`` before its own input."""
    if previous is None:
        return request
    if not isinstance(previous, str):
        raise ApiError(400, "previous_response_id: expected a string", param="previous_response_id")
    conversations = state.conversations
    if conversations is None:
        raise _not_found(previous, "previous_response_id")
    try:
        messages = await conversations.conversation(tenant, previous)
    except ChainBroken as exc:
        raise ApiError(
            404,
            f"previous_response_id: {exc}; send the conversation as input instead",
            param="previous_response_id",
            code="previous_response_not_found",
        ) from None
    except StoreUnavailable as exc:
        raise _unavailable(exc) from None
    if messages is None:
        raise _not_found(previous, "previous_response_id")
    return msgspec.structs.replace(request, messages=(*messages, *request.messages))


async def _resolved(body: dict[str, Any], tenant: str, state: ServerState) -> dict[str, Any]:
    """``body`` with each ``item_reference`` input item replaced by the stored output item it
    names (as the response that made it was sent), so the request reads as if the client had
    sent the items themselves."""
    items = body.get("input")
    if not isinstance(items, list) or not any(_is_reference(item) for item in items):
        return body
    resolved: list[Any] = []
    cache: dict[str, dict[str, Any]] = {}
    for i, item in enumerate(items):
        if not _is_reference(item):
            resolved.append(item)
            continue
        id = item.get("id")
        path = f"input[{i}].id"
        if not isinstance(id, str):
            raise ApiError(400, f"{path}: expected a string", param=path)
        if id not in cache:
            cache.update(await _items_of(state, tenant, id))
        if id not in cache:
            raise ApiError(404, f"{path}: no stored item with id {id!r}", param=path, code="item_not_found")
        resolved.append(cache[id])
    return {**body, "input": resolved}


def _is_reference(item: Any) -> bool:
    return isinstance(item, dict) and item.get("type") == "item_reference"


async def _items_of(state: ServerState, tenant: str, item: str) -> dict[str, dict[str, Any]]:
    """The output items, by id, of ``tenant``'s stored response that made ``item``."""
    conversations = state.conversations
    if conversations is None:
        return {}
    try:
        response_id = await conversations.item(tenant, item)
        stored = await conversations.response(tenant, response_id) if response_id else None
    except StoreUnavailable as exc:
        raise _unavailable(exc) from None
    return output_items(stored.response) if stored is not None else {}


def _not_found(id: str, param: str | None) -> ApiError:
    what = "Previous response" if param else "Response"
    return ApiError(
        404,
        f"{what} with id '{id}' not found.",
        param=param,
        code="previous_response_not_found" if param else None,
    )


def _unavailable(exc: StoreError) -> ApiError:
    return ApiError(503, f"stored responses are unavailable right now: {exc}", retry_after="1")


def _wants_summary(body: dict[str, Any]) -> bool:
    """Whether the request asks for reasoning summaries (``reasoning.summary``: ``auto``,
    ``concise`` or ``detailed``): the thinking then goes out as ``summary_text`` (the whole
    thinking: thinkwire does not shorten it)."""
    reasoning = body.get("reasoning")
    return isinstance(reasoning, dict) and reasoning.get("summary") not in (None, "none")


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
