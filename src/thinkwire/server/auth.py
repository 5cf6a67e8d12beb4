"""Gateway keys: who may use the server.

With keys configured (``--api-keys-env VAR``: the variable holds one or more keys separated by
commas or whitespace), every route but ``/healthz`` needs one of them, presented as
``Authorization: Bearer KEY`` or ``x-api-key: KEY`` (what the OpenAI and Anthropic SDKs send);
anything else is a 401 in the dialect's envelope. Keys are compared in constant time and never
logged. Without keys the server runs only on a loopback address (``thinkwire serve`` refuses
another host), and each client is still its own tenant by whatever key it presents.

A keyless loopback server is still reachable from a web page in the user's browser, which could
make it call the upstream with the operator's key. ``check_browser`` closes the ways in:

- a POST whose ``content-type`` is not JSON is a 415 (a page can send ``text/plain``, form or
  multipart bodies cross-origin without a CORS preflight; it cannot send JSON that way);
- a ``Host`` that is not allowed is a 403 (DNS rebinding: a page's own host name pointed at
  127.0.0.1). ``BrowserPolicy.allowed_hosts`` (``--allowed-hosts``,
  ``$THINKWIRE_ALLOWED_HOSTS``) lists the names; unset, a keyless server allows the loopback
  names and a server with keys any;
- without keys, an ``Origin`` that is neither a loopback origin nor one of
  ``BrowserPolicy.cors_origins`` (``--cors-origins``, ``$THINKWIRE_ORIGINS``) is a 403.

Names and origins are comma-separated patterns where ``*`` matches anything
(``*.example.com``, ``https://*.example.com``, ``chrome-extension://*``, ``*``), as Ollama's
``OLLAMA_ORIGINS``. A page at an origin listed in ``cors_origins`` may also read the answers:
``cors_middleware`` answers its preflight and adds the CORS headers (Starlette's
``CORSMiddleware``), with keys or without.
"""

from __future__ import annotations

import fnmatch
import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
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


LOOPBACK_NAMES: Final = ("127.0.0.1", "localhost", "::1")


def patterns(value: str | None) -> tuple[str, ...] | None:
    """Comma- or space-separated patterns (``None`` or blank: ``None``, the default)."""
    found = tuple(p for p in (value or "").replace(",", " ").split() if p)
    return found or None


@dataclass(frozen=True)
class BrowserPolicy:
    """Which ``Host`` names and browser origins the server answers (module docstring).
    ``allowed_hosts`` ``None``: the loopback names without keys, any with keys."""

    allowed_hosts: tuple[str, ...] | None = None
    cors_origins: tuple[str, ...] = ()

    def host_allowed(self, host: str, *, keyless: bool) -> bool:
        allowed = self.allowed_hosts
        if allowed is None:
            allowed = LOOPBACK_NAMES if keyless else ("*",)
        return _matches(host, allowed)

    def origin_allowed(self, origin: str, *, keyless: bool) -> bool:
        """``origin`` may send requests: listed, or a loopback page's (``null`` is not)."""
        if _matches(origin.lower(), self.cors_origins):
            return True
        return not keyless or _name(urlsplit(origin).netloc) in LOOPBACK_NAMES


def _matches(value: str, allowed: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(value, pattern.lower()) for pattern in allowed)


def check_browser(http: HttpRequest, *, keyless: bool, policy: BrowserPolicy = BrowserPolicy()) -> None:
    """Raise ``ApiError`` 415 / 403 for what a web page could send (module docstring)."""
    if http.method == "POST":
        kind = http.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if kind and kind != "application/json" and not kind.endswith("+json"):
            raise ApiError(415, f"content-type must be application/json, not {kind!r}")
    host = _name(http.headers.get("host", ""))
    if not policy.host_allowed(host, keyless=keyless):
        named = "the names of --allowed-hosts" if policy.allowed_hosts else "127.0.0.1, localhost and ::1"
        raise ApiError(403, f"Host {host!r} is not allowed: this server answers only {named}")
    origin = http.headers.get("origin")
    if origin is not None and not policy.origin_allowed(origin, keyless=keyless):
        raise ApiError(
            403,
            f"requests from the web page at {origin!r} are refused (no --api-keys-env; see --cors-origins)",
        )


def cors_middleware(policy: BrowserPolicy) -> list[Middleware]:
    """CORS for the origins ``policy`` lists (none: no middleware, browsers read nothing)."""
    if not policy.cors_origins:
        return []
    regex = "|".join(fnmatch.translate(pattern.lower()) for pattern in policy.cors_origins)
    return [
        Middleware(
            CORSMiddleware,
            allow_origin_regex=f"(?i:{regex})",
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["*"],
            expose_headers=["*"],
            max_age=600,
        )
    ]


def _name(netloc: str) -> str:
    """The host name of ``host[:port]`` (brackets of an IPv6 literal removed), lower-cased."""
    if netloc.startswith("["):
        return netloc[1 : netloc.find("]")].lower() if "]" in netloc else netloc.lower()
    return netloc.rsplit(":", 1)[0].lower() if netloc.count(":") == 1 else netloc.lower()
