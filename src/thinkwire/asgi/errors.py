"""Errors in each dialect's envelope, as the hosted APIs send them.

An ``ApiError`` carries an HTTP status, a message and (optionally) the parameter it is about;
``envelope`` writes it in the client's dialect:

- OpenAI (Chat and Responses): ``{"error": {"message", "type", "param", "code"}}``, ``type``
  ``invalid_request_error`` (4xx), ``server_error`` (5xx);
- Anthropic: ``{"type": "error", "error": {"type", "message"}}`` with Anthropic's types
  (``invalid_request_error``, ``not_found_error``, ``request_too_large``,
  ``rate_limit_error``, ``api_error``, ``overloaded_error``).

"Overloaded" is 503 for OpenAI clients and 529 for Anthropic ones (what each API sends and
each SDK retries). Inside a stream that has already begun, ``stream_error`` gives the dialect's
error object for an IR ``StreamError`` event. A bug (an exception nobody turned into an
``ApiError``) is ``incident``: a 500 that says so in words and names an incident id the log
holds beside the traceback, never the exception's class or text.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any, Final

from starlette.responses import JSONResponse

from thinkwire.errors import OVERLOADED, ApiError
from thinkwire.ir.blocks import Dialect

_ANTHROPIC_TYPES: Final = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "request_too_large",
    415: "invalid_request_error",
    429: "rate_limit_error",
    503: "overloaded_error",
    529: "overloaded_error",
}


def status_for(status: int, dialect: Dialect) -> int:
    """The HTTP status to send: 503 is 529 for Anthropic clients."""
    return 529 if dialect == "anthropic" and status == OVERLOADED else status


def error_object(error: ApiError, dialect: Dialect) -> dict[str, Any]:
    """The whole error body in ``dialect``'s envelope (an upstream's own ``type`` kept when it
    is of this envelope's family)."""
    if dialect == "anthropic":
        kind = error.types.get("anthropic") or _ANTHROPIC_TYPES.get(
            error.status, "api_error" if error.status >= 500 else "invalid_request_error"
        )
        return {"type": "error", "error": {"type": kind, "message": error.message}}
    kind = "server_error" if error.status >= 500 else "invalid_request_error"
    if error.status == 429:
        kind = "rate_limit_exceeded"
    kind = error.types.get("openai") or kind
    return {"error": {"message": error.message, "type": kind, "param": error.param, "code": error.code}}


UPSTREAM_ERROR_HEADER: Final = "thinkwire-upstream-error"
"""The gateway's context for an error an upstream answered (its message is the vendor's)."""


def envelope(error: ApiError, dialect: Dialect, headers: dict[str, str] | None = None) -> JSONResponse:
    """``error`` as a response in ``dialect``'s envelope, with its status (and ``headers``)."""
    headers = dict(headers or {})
    if error.status in (429, OVERLOADED):
        headers["retry-after"] = error.retry_after or "1"
    if error.upstream:
        headers[UPSTREAM_ERROR_HEADER] = error.upstream.encode("ascii", "backslashreplace").decode()
    return JSONResponse(
        error_object(error, dialect), status_code=status_for(error.status, dialect), headers=headers or None
    )


def stream_error(error: ApiError, dialect: Dialect) -> dict[str, Any]:
    """The error object a stream carries once it has begun (the IR ``StreamError.error``)."""
    body = error_object(error, dialect)
    if dialect == "openai-responses":
        inner: dict[str, Any] = body["error"]
        return {"code": inner["code"] or inner["type"], "message": inner["message"], "param": inner["param"]}
    return dict(body["error"])


def incident(log: logging.Logger, what: str, exc: BaseException) -> ApiError:
    """A 500 for a bug: ``what`` happened (in words), with an incident id that ``log`` records
    beside the traceback; the exception's class and text stay in the log (they speak Python to
    the client and can echo request data)."""
    number = secrets.token_hex(4)
    log.error("%s: incident %s", what, number, exc_info=exc)
    return ApiError(500, f"{what} (incident {number}; the server's log has the details)")
