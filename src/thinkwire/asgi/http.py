"""Reading request bodies: a size limit enforced while reading, JSON errors with a position.

``read_json`` refuses a body over ``limit`` bytes with 413 as soon as the declared length or
the bytes read so far exceed it (a client cannot make the server buffer more), a body that is
not JSON with 400 naming the position of the error, and a body that is not a JSON object with
400.
"""

from __future__ import annotations

from typing import Any, Final

from starlette.requests import Request as HttpRequest

from thinkwire.dialects._wire import loads
from thinkwire.errors import ApiError, DecodeError

DEFAULT_BODY_LIMIT: Final = 32 * 1024 * 1024
"""Largest request body accepted by default (32 MiB)."""


async def read_json(http: HttpRequest, limit: int = DEFAULT_BODY_LIMIT) -> dict[str, Any]:
    """The request body as a JSON object (see the module docstring)."""
    declared = http.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(int(declared), limit)
    body = bytearray()
    async for chunk in http.stream():
        body += chunk
        if len(body) > limit:
            raise _too_large(len(body), limit)
    if not body:
        raise ApiError(400, "the request body is empty; expected a JSON object")
    try:
        data = loads(bytes(body), max_bytes=limit)
    except DecodeError as exc:
        raise ApiError(400, f"the request body is not valid JSON: {exc.message}") from None
    if not isinstance(data, dict):
        raise ApiError(400, f"the request body must be a JSON object, not {type(data).__name__}")
    return data


def _too_large(size: int, limit: int) -> ApiError:
    return ApiError(413, f"the request body is {size} bytes or more, over the limit of {limit} bytes")


def credential(http: HttpRequest) -> str | None:
    """The key the client presented: ``Authorization: Bearer KEY`` or ``x-api-key: KEY``."""
    value = http.headers.get("authorization", "")
    scheme, _, key = value.partition(" ")
    if scheme.lower() == "bearer" and key.strip():
        return key.strip()
    return http.headers.get("x-api-key") or None
