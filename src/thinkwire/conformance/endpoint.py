"""Talking to the endpoint under test: one IR request out, its answer back with the raw wire.

``Endpoint`` says where and how (base URL, dialect, model, key); ``Wire.send(request)`` encodes
the request with the dialect's codec (the carrier the check sends reasoning in), POSTs it
with aiohttp, and decodes the answer with the same codec: a whole response, or the server-sent
events of a stream folded into one (``thinkwire.ir.stream.Folder``). Nothing here shapes JSON
by hand: options a dialect needs (``stream_options``, ``include``...) are IR ``extra`` fields.

Every call is an ``Exchange`` that keeps the request body and the first bytes of the answer as
they went over the wire, for the report card's evidence. A refusal (4xx/5xx) is an
``Exchange`` with ``status`` and ``error`` (the server's own message); only an endpoint that
cannot be reached at all raises ``Unreachable``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Final

import aiohttp
import msgspec
import orjson

from thinkwire.dialects.base import EventReader, get_codec
from thinkwire.errors import DecodeError, ThinkwireError
from thinkwire.ir.blocks import Carrier, Dialect
from thinkwire.ir.conversation import Request, Response
from thinkwire.ir.stream import Folder, StreamAborted
from thinkwire.upstreams.profiles import PATHS, PROFILES, default_profile

EXCERPT: Final = 1500
RESTORED: Final = "thinkwire-restored"
"""The header in which a thinkwire gateway counts the turns whose dropped thinking it restored."""
"""Characters of a request or response body kept as evidence."""


class Unreachable(ThinkwireError):
    """The endpoint could not be reached (connection refused, DNS, timeout)."""


@dataclass(frozen=True)
class Endpoint:
    """The endpoint under test. ``carrier``: the OpenAI Chat field reasoning is sent back in
    (``None``: the field each block came in)."""

    base_url: str
    dialect: Dialect
    model: str
    carrier: Carrier | None = None
    api_key: str | None = None
    timeout: float = 120.0

    @property
    def url(self) -> str:
        base = self.base_url.rstrip("/")
        base = base.removesuffix("/v1")  # both "http://host" and "http://host/v1" work
        return base + PATHS[self.dialect]

    def headers(self) -> dict[str, str]:
        profile = PROFILES[default_profile(self.dialect)]
        headers = {"content-type": "application/json", **profile.headers}
        if self.dialect == "anthropic":  # manual-budget thinking between tool calls (WIRE.md 1)
            headers["anthropic-beta"] = "interleaved-thinking-2025-05-14"
        if self.api_key:
            if profile.auth == "x-api-key":
                headers["x-api-key"] = self.api_key
            else:
                headers["authorization"] = f"Bearer {self.api_key}"
        return headers


@dataclass
class Exchange:
    """One request and what came back: ``response`` when it was answered (status 2xx and a
    well-formed body), else ``error``."""

    body: dict[str, Any]
    stream: bool
    status: int = 0
    response: Response | None = None
    error: str | None = None
    raw: str = ""
    seconds: float = 0.0
    restored: int = 0
    """Turns the server says it put thinking back into (thinkwire's ``thinkwire-restored``)."""

    @property
    def ok(self) -> bool:
        return self.response is not None

    def evidence(self) -> dict[str, Any]:
        """Request and response excerpts for the report card."""
        request = orjson.dumps(self.body).decode()
        out: dict[str, Any] = {
            "request": _cut(request),
            "stream": self.stream,
            "status": self.status,
            "response": _cut(self.raw),
        }
        if self.error is not None:
            out["error"] = _cut(self.error, 600)
        return out


def _cut(text: str, limit: int = EXCERPT) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text) - limit} more characters)"


class Wire:
    """Sends IR requests to one endpoint over one aiohttp session (``aclose()`` it)."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.codec = get_codec(endpoint.dialect)
        self.calls = 0
        self._session: aiohttp.ClientSession | None = None

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def encode(
        self, request: Request, *, stream: bool = False, carrier: Carrier | None = None
    ) -> dict[str, Any]:
        """``request`` as the wire body the endpoint gets, Chat reasoning in ``carrier`` (default:
        the endpoint's)."""
        request = msgspec.structs.replace(request, model=self.endpoint.model, stream=True if stream else None)
        if stream and self.endpoint.dialect == "openai-chat":
            extra = dict(request.extra.get("openai-chat", {}))
            extra["stream_options"] = {"include_usage": True}
            request = msgspec.structs.replace(request, extra={**request.extra, "openai-chat": extra})
        encoded = self.codec.encode_request(request, carrier=carrier or self.endpoint.carrier)
        return dict(encoded.value)

    async def send(
        self, request: Request, *, stream: bool = False, carrier: Carrier | None = None
    ) -> Exchange:
        """POST ``request`` (streamed when ``stream``) and read the answer (module docstring)."""
        body = self.encode(request, stream=stream, carrier=carrier)
        exchange = Exchange(body=body, stream=stream)
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=min(self.endpoint.timeout, 10.0), sock_read=self.endpoint.timeout
        )
        self.calls += 1
        started = time.monotonic()
        try:
            async with self._session.post(
                self.endpoint.url, data=orjson.dumps(body), headers=self.endpoint.headers(), timeout=timeout
            ) as answer:
                exchange.status = answer.status
                restored = answer.headers.get(RESTORED, "0")
                exchange.restored = int(restored) if restored.isdigit() else 0
                if answer.status >= 400 or not stream:
                    raw = await answer.read()
                    exchange.raw = raw.decode("utf-8", "replace")
                    if answer.status >= 400:
                        exchange.error = _error_message(raw)
                    else:
                        self._decode_whole(raw, exchange)
                else:
                    await self._decode_stream(answer, exchange)
        except (TimeoutError, aiohttp.ClientConnectionError, OSError) as exc:
            what = f"{type(exc).__name__}: {exc}".rstrip(": ")
            if exchange.status:
                exchange.error = f"the connection broke: {what}"
            elif isinstance(exc, TimeoutError):
                raise Unreachable(
                    f"{self.endpoint.url} did not answer within {self.endpoint.timeout:g} s"
                ) from None
            else:
                raise Unreachable(f"{self.endpoint.url} is unreachable: {what}") from None
        finally:
            exchange.seconds = time.monotonic() - started
        return exchange

    def _decode_whole(self, raw: bytes, exchange: Exchange) -> None:
        try:
            exchange.response = self.codec.decode_response(orjson.loads(raw))
        except (orjson.JSONDecodeError, DecodeError) as exc:
            exchange.error = f"the response is not a valid {self.endpoint.dialect} response: {exc}"

    async def _decode_stream(self, answer: aiohttp.ClientResponse, exchange: Exchange) -> None:
        reader = EventReader(self.codec.dialect)
        folder = Folder()
        pieces: list[bytes] = []
        try:
            async for chunk in answer.content.iter_any():
                if sum(map(len, pieces)) < EXCERPT * 4:
                    pieces.append(chunk)
                for event in reader.feed(chunk):
                    folder.feed(event)
            for event in reader.close():
                folder.feed(event)
            exchange.response = folder.result()
        except StreamAborted as exc:
            exchange.error = f"the stream ended with an error event: {orjson.dumps(exc.error).decode()}"
        except (DecodeError, ThinkwireError, UnicodeDecodeError) as exc:
            exchange.error = f"the stream is not a valid {self.endpoint.dialect} stream: {exc}"
        finally:
            exchange.raw = b"".join(pieces).decode("utf-8", "replace")


def _error_message(raw: bytes) -> str:
    """The server's own message from either error envelope (OpenRouter's provider error
    relayed in ``metadata.raw`` too), else the body's text."""
    text = raw.decode("utf-8", "replace")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return text[:600]
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return text[:600]
    message = str(error.get("message") or text[:600])
    relayed = error.get("metadata", {}).get("raw") if isinstance(error.get("metadata"), dict) else None
    if isinstance(relayed, str):
        message += f" ({relayed[:400]})"
    return message
