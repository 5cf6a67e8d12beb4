"""Gateway keys: who may use the server.

With keys configured (``--api-keys-env VAR``: the variable holds one or more keys separated by
commas or whitespace), every route but ``/healthz`` needs one of them, presented as
``Authorization: Bearer KEY`` or ``x-api-key: KEY`` (what the OpenAI and Anthropic SDKs send);
anything else is a 401 in the dialect's envelope. Keys are compared in constant time and never
logged. Without keys the server runs only on a loopback address (``thinkwire serve`` refuses
another host), and each client is still its own tenant by whatever key it presents.

A keyless loopback server is still reachable from a web page in the user's browser, which could
make it call the upstream with the operator's key. ``check_browser`` closes the two ways in:

- a POST whose ``content-type`` is not JSON is a 415 (a page can send ``text/plain``, form or
  multipart bodies cross-origin without a CORS preflight; it cannot send JSON that way);
- without keys, a ``Host`` that is not a loopback name is a 403 (DNS rebinding: a page's own
  host name pointed at 127.0.0.1), and so is an ``Origin`` that is not a loopback origin.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping
from typing import Final
from urllib.parse import urlsplit

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


LOOPBACK_NAMES: Final = frozenset({"127.0.0.1", "localhost", "::1"})


def check_browser(http: HttpRequest, *, keyless: bool) -> None:
    """Raise ``ApiError`` 415 / 403 for what a web page could send (module docstring)."""
    if http.method == "POST":
        kind = http.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if kind and kind != "application/json" and not kind.endswith("+json"):
            raise ApiError(415, f"content-type must be application/json, not {kind!r}")
    if not keyless:
        return
    host = _name(http.headers.get("host", ""))
    if host not in LOOPBACK_NAMES:
        raise ApiError(
            403,
            f"Host {host!r} is not a loopback name; a server without --api-keys-env answers only "
            "127.0.0.1, localhost and ::1",
        )
    origin = http.headers.get("origin")
    if origin is not None and _name(urlsplit(origin).netloc) not in LOOPBACK_NAMES:  # "null" too
        raise ApiError(403, f"requests from the web page at {origin!r} are refused (no --api-keys-env)")


def _name(netloc: str) -> str:
    """The host name of ``host[:port]`` (brackets of an IPv6 literal removed), lower-cased."""
    if netloc.startswith("["):
        return netloc[1 : netloc.find("]")].lower() if "]" in netloc else netloc.lower()
    return netloc.rsplit(":", 1)[0].lower() if netloc.count(":") == 1 else netloc.lower()
