"""Talking to the endpoint under test: one IR request out, its answer back with the raw wire.

``Endpoint`` says where and how (base URL, dialect, model, key); ``Wire.send(request)`` encodes
the request with the dialect's codec (the carrier the check sends reasoning in), POSTs it
with aiohttp, and decodes the answer with the same codec: a whole response, or the server-sent
events of a stream folded into one (``thinkwire.ir.stream.Folder``). Nothing here shapes JSON
by hand: options a dialect needs (``stream_options``, ``include``...) are IR ``extra`` fields.

Every call is an ``Exchange`` that keeps the request body and the first bytes of the answer as
they went over the wire, for the report card's evidence. A refusal (4xx/5xx) is an
``Exchange`` with ``status`` and ``error`` (the server's own message), and so is an answer cut
off (the connection broke mid-answer) or, once the endpoint has answered, a read past the
timeout; only an endpoint that cannot be reached at all raises ``Unreachable``; before that,
``Wire`` retries (its docstring).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Final

import aiohttp
import msgspec
import orjson

from thinkwire.conformance.echo import sent_turn, streamed_fields
from thinkwire.dialects.base import StreamDecoder, get_codec
from thinkwire.dialects.openai_chat.stream import DONE
from thinkwire.dialects.sse import SSEEvent, SSEParser
from thinkwire.errors import DecodeError, ThinkwireError
from thinkwire.ir.blocks import Carrier, Dialect
from thinkwire.ir.conversation import Message, Request, Response
from thinkwire.ir.stream import Folder, StreamAborted
from thinkwire.upstreams.profiles import PATHS, PROFILES, default_profile

EXCERPT: Final = 1500
"""Characters of a request or response body kept as evidence."""
RESTORED: Final = "thinkwire-restored"
"""The header in which a thinkwire gateway counts the turns whose dropped thinking it restored."""
RETRIES: Final = 3
"""Retries of a request answered 429 or 503, before its answer counts."""
RETRY_CAP: Final = 20.0
"""The longest ``retry-after`` honoured, in seconds."""


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
    well-formed body), else ``error``. ``data`` is a whole answer's JSON as it came, ``events``
    a stream's events as they came (name and parsed JSON, ``None`` for data that is not JSON),
    ``turn`` the assistant message(s) to send back (``echo.sent_turn``), ``notes`` what the
    check saw and tolerated (a retry, an Anthropic stream ending with ``[DONE]``)."""

    body: dict[str, Any]
    stream: bool
    dialect: str = ""
    status: int = 0
    response: Response | None = None
    error: str | None = None
    raw: str = ""
    seconds: float = 0.0
    restored: int = 0
    """Turns the server says it put thinking back into (thinkwire's ``thinkwire-restored``)."""
    data: Any = None
    events: list[tuple[str | None, Any]] = field(default_factory=list)
    turn: tuple[Message, ...] = ()
    notes: list[str] = field(default_factory=list)
    retry_after: str | None = None
    """The `retry-after` header of a refusal, as it came."""

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
        if self.notes:
            out["notes"] = list(self.notes)
        return out


def _cut(text: str, limit: int = EXCERPT) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text) - limit} more characters)"


def retry_delay(value: str | None, attempt: int) -> float:
    """Seconds to wait before retrying a 429/503: its ``retry-after`` in seconds (an HTTP date
    counts as the default), else 1, 2, 4 s by attempt; at most ``RETRY_CAP``."""
    try:
        seconds = float(value) if value is not None else float(2**attempt)
    except ValueError:
        seconds = float(2**attempt)
    return min(max(seconds, 0.0), RETRY_CAP)


class _Dropped(Exception):
    """The connection closed before any answer came (a reused keep-alive connection the server
    had closed: llama.cpp's server closes after every stream)."""


class Wire:
    """Sends IR requests to one endpoint over one aiohttp session (``aclose()`` it).

    Before any verdict a request is retried: once on a fresh connection when the connection
    closes before an answer, and up to ``RETRIES`` times on 429 or 503 after the
    ``retry-after`` the server asks for (at most ``RETRY_CAP`` seconds); each retry is a note on
    the exchange."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.codec = get_codec(endpoint.dialect)
        self.calls = 0
        self.answered = False
        """Whether the endpoint ever answered: a later read past the timeout is then the
        exchange's error (the probe's verdict names it), not ``Unreachable``."""
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
        notes: list[str] = []
        reconnected = False
        attempt = 0
        while True:
            try:
                exchange = await self._post(body, stream)
            except _Dropped as exc:
                if reconnected:
                    raise Unreachable(f"{self.endpoint.url} is unreachable: {exc}") from None
                reconnected = True
                notes.append(f"the connection closed before an answer ({exc}); retried on a fresh one")
                await self.aclose()
                continue
            if exchange.status in (429, 503) and attempt < RETRIES:
                delay = retry_delay(exchange.retry_after, attempt)
                attempt += 1
                notes.append(f"answered {exchange.status} ({exchange.error}); retried after {delay:g} s")
                await asyncio.sleep(delay)
                continue
            exchange.notes[:0] = notes
            return exchange

    async def _post(self, body: dict[str, Any], stream: bool) -> Exchange:
        exchange = Exchange(body=body, stream=stream, dialect=self.endpoint.dialect)
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
                self.answered = True
                exchange.retry_after = answer.headers.get("retry-after")
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
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
            if not exchange.status:
                raise _Dropped(f"{type(exc).__name__}: {exc}".rstrip(": ")) from None
            exchange.error = f"the connection broke: {type(exc).__name__}: {exc}".rstrip(": ")
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            what = f"{type(exc).__name__}: {exc}".rstrip(": ")
            if isinstance(exc, TimeoutError) and (exchange.status or self.answered):
                exchange.error = f"no answer within --timeout {self.endpoint.timeout:g} s ({what})"
            elif exchange.status:  # a server dying mid-answer: aiohttp's ClientPayloadError
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
            exchange.data = orjson.loads(raw)
            exchange.response = self.codec.decode_response(exchange.data)
        except (orjson.JSONDecodeError, DecodeError) as exc:
            exchange.error = f"the response is not a valid {self.endpoint.dialect} response: {exc}"
            return
        exchange.turn = sent_turn(self.codec, exchange.response, exchange.data)

    async def _decode_stream(self, answer: aiohttp.ClientResponse, exchange: Exchange) -> None:
        parser = SSEParser()
        decoder = self.codec.stream_decoder()
        folder = Folder()
        pieces: list[bytes] = []
        try:
            async for chunk in answer.content.iter_any():
                if sum(map(len, pieces)) < EXCERPT * 4:
                    pieces.append(chunk)
                for sse in parser.feed(chunk):
                    self._feed(sse, decoder, folder, exchange)
            for sse in parser.close():
                self._feed(sse, decoder, folder, exchange)
            for event in decoder.close():
                folder.feed(event)
            exchange.response = folder.result()
            exchange.turn = sent_turn(self.codec, exchange.response, fields=streamed_fields(exchange.events))
        except StreamAborted as exc:
            exchange.error = f"the stream ended with an error event: {orjson.dumps(exc.error).decode()}"
        except (DecodeError, ThinkwireError, UnicodeDecodeError) as exc:
            exchange.error = f"the stream is not a valid {self.endpoint.dialect} stream: {exc}"
        finally:
            exchange.raw = b"".join(pieces).decode("utf-8", "replace")

    def _feed(self, sse: SSEEvent, decoder: StreamDecoder, folder: Folder, exchange: Exchange) -> None:
        """One server-sent event into the record and the fold. An Anthropic stream's
        ``data: [DONE]`` (OpenAI's end marker, which some proxies append) is noted and skipped,
        as the official SDK skips it."""
        if sse.data.strip() == DONE and self.endpoint.dialect == "anthropic":
            exchange.notes.append(
                "the stream ends with `data: [DONE]`, which Anthropic does not send (the SDK ignores it)"
            )
            return
        try:
            data: Any = orjson.loads(sse.data)
        except orjson.JSONDecodeError:
            data = None
        exchange.events.append((sse.event, data))
        for event in decoder.feed(sse):
            folder.feed(event)


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
