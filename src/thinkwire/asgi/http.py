"""Reading request bodies: a size limit enforced while reading, JSON errors with a position.

``read_json`` refuses a body over ``limit`` bytes with 413 as soon as the declared length or
the bytes read so far exceed it (a client cannot make the server buffer more), a body that is
not JSON with 400 naming the position of the error, a body that is not a JSON object with
400, and a body whose objects and arrays nest deeper than ``MAX_DEPTH`` with 400 naming where.

The depth is bounded once, here, because every later step may walk the whole value: the
codecs keep unknown fields, a Responses answer echoes the request's tools and fields a few
levels down (orjson writes at most 254 levels), and the store encodes it. Nested 1,000 deep
(the JSON parser's own limit is 1,024), a body gave a 500 naming ``RecursionError``.
"""

from __future__ import annotations

from typing import Any, Final

import orjson
from starlette.requests import Request as HttpRequest

from thinkwire.dialects._wire import describe, join, loads
from thinkwire.errors import ApiError, DecodeError

DEFAULT_BODY_LIMIT: Final = 32 * 1024 * 1024
"""Largest request body accepted by default (32 MiB)."""
MAX_DEPTH: Final = 250
"""Levels of objects and arrays a request body may nest (orjson writes 254: room for an answer
to echo a request field four levels down)."""
_ECHO: Final = 254 - MAX_DEPTH


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
        raise ApiError(400, f"the request body must be a JSON object, not {describe(data)}")
    check_depth(data)
    return data


def check_depth(data: Any) -> None:
    """Raise ``ApiError`` 400 naming where ``data`` nests deeper than ``MAX_DEPTH``. orjson
    checks in C (a value it cannot write wrapped ``_ECHO`` levels down is too deep); only then
    is the value walked, without recursion, for the place."""
    wrapped = data
    for _ in range(_ECHO):
        wrapped = [wrapped]
    try:
        orjson.dumps(wrapped)
        return
    except orjson.JSONEncodeError:
        pass
    stack: list[tuple[Any, str, int]] = [(data, "", 1)]
    while stack:
        value, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            where = _shown(path)
            raise ApiError(400, f"{where}: nested more than {MAX_DEPTH} levels deep", param=where)
        items = value.items() if isinstance(value, dict) else enumerate(value)
        stack.extend((v, join(path, k), depth + 1) for k, v in items if isinstance(v, dict | list))
    raise ApiError(400, "the request body cannot be written back as JSON")  # orjson refused it otherwise


def _shown(path: str, keep: int = 60) -> str:
    """``path`` cut to its first ``keep`` characters (a path 250 levels deep is long)."""
    return path if len(path) <= keep else path[:keep] + "..."


def _too_large(size: int, limit: int) -> ApiError:
    return ApiError(413, f"the request body is {size} bytes or more, over the limit of {limit} bytes")


def credential(http: HttpRequest) -> str | None:
    """The key the client presented: ``Authorization: Bearer KEY`` or ``x-api-key: KEY``."""
    value = http.headers.get("authorization", "")
    scheme, _, key = value.partition(" ")
    if scheme.lower() == "bearer" and key.strip():
        return key.strip()
    return http.headers.get("x-api-key") or None
