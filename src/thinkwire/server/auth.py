"""Gateway keys: who may use the server.

With keys configured (``--api-keys-env VAR``: the variable holds one or more keys separated by
commas or whitespace), every route but ``/healthz`` needs one of them, presented as
``Authorization: Bearer KEY`` or ``x-api-key: KEY`` (what the OpenAI and Anthropic SDKs send);
anything else is a 401 in the dialect's envelope. Keys are compared in constant time and never
logged. Without keys the server runs only on a loopback address (``thinkwire serve`` refuses
another host), and each client is still its own tenant by whatever key it presents.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping

from starlette.requests import Request as HttpRequest

from thinkwire.asgi.http import credential
from thinkwire.errors import ApiError, ThinkwireError


class AuthConfigError(ThinkwireError):
    """The keys cannot be read (variable unset or empty)."""


def keys_from_env(name: str, environ: Mapping[str, str] | None = None) -> frozenset[str]:
    """The gateway keys held in the environment variable ``name``."""
    value = (os.environ if environ is None else environ).get(name, "")
    keys = frozenset(k for k in value.replace(",", " ").split() if k)
    if not keys:
        raise AuthConfigError(f"--api-keys-env {name}: the variable is unset or holds no keys")
    return keys


def check(http: HttpRequest, keys: frozenset[str]) -> None:
    """Raise a 401 ``ApiError`` unless the request presents one of ``keys`` (none: open)."""
    if not keys:
        return
    presented = credential(http)
    if presented is None:
        raise ApiError(
            401, "no API key: send Authorization: Bearer KEY or x-api-key: KEY", code="invalid_api_key"
        )
    given = presented.encode()
    if not any(hmac.compare_digest(given, key.encode()) for key in keys):
        raise ApiError(401, "invalid API key", code="invalid_api_key")
