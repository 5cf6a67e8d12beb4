"""Calling an upstream: an IR request out in its dialect, its (streamed) answer back as IR events.

``UpstreamClient.prepare(upstream, request)`` is the pure step: it encodes the request with the
upstream's codec (its Chat carrier from the profile) into a ``Call`` (URL, headers, body, and
what the encoding lost, known before anything is sent); ``send(call)`` is the transport: it
POSTs it, retries, and decodes the answer (``stream`` does both). A streamed request
(``Request.stream``) is sent with ``stream: true`` and its server-sent events are decoded
incrementally with the same codec (``provider`` from the profile goes into each thinking
block's origin), yielded as they arrive;
a whole one is sent whole (one body is cheaper than a stream of chunks) and its response
replayed as IR events. Either way the caller gets the same kind of event sequence.

Failures, as ``UpstreamError`` (status, message, ``retry_after``, and ``vendor``: the vendor's
own error as it sent it, for the gateway to relay unchanged):

- the upstream's 4xx is passed on with its own message (429 keeps its ``retry-after``); a key
  the vendor echoes back is blanked out;
- connection errors and 5xx are retried with bounded, jittered exponential backoff while
  nothing has been yielded yet, then answered 502 (the vendor's last 5xx, when it sent one);
  an answer that came but does not parse (a malformed or oversized head, a body that does not
  decode) is not retried;
- a transport failure is said in words (``transport_failure``), never by an exception's name;
- a timeout is 504: ``upstream.timeout`` to connect and between two reads, and
  ``upstream.deadline`` for the whole answer (an upstream that trickles a byte a second ends
  there, not never);
- a whole 200 answer holding the vendor's error envelope is that error, relayed as a 502;
- an answer cut off after the upstream said 200 is not asked for again (that would pay for the
  generation twice): a whole one is a 502 "broken response", a streamed one ends with an error
  event after what arrived;
- a stream that is malformed or ends early raises ``UpstreamError(502)`` after the events
  already yielded, so the caller ends the client's stream with an error event, never a hang.

What the upstream's dialect could not carry when the request was encoded is in
``Call.losses``, so the gateway can report it in a header.

The API key comes from the environment variable the config names and is sent as the profile
says (``x-api-key`` or ``Authorization: Bearer``); it never appears in errors or logs.

Transport: one ``aiohttp.ClientSession`` (keep-alive pool, chunked bodies, TLS for ``https``
upstreams), made on the first call inside the running event loop and closed by ``aclose()``.
It costs about a fifth of httpx's time per request, and its pool does not rescan every
connection per request. Timeouts are per operation, as before: ``upstream.timeout`` to get a
connection and between two reads, ``min(timeout, 10)`` to connect. Proxy variables
(``HTTPS_PROXY`` and the like) are honoured when they are set as the session is made.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
import urllib.request
from collections.abc import AsyncGenerator, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import aiohttp
import msgspec
import orjson

from thinkwire.dialects.base import EventReader, get_codec
from thinkwire.errors import DecodeError, ThinkwireError
from thinkwire.ir.conversation import Request
from thinkwire.ir.losses import Loss
from thinkwire.ir.stream import StreamEvent, response_events
from thinkwire.upstreams.config import Upstream
from thinkwire.upstreams.profiles import PATHS

RETRIES: Final = 2
"""Retries after the first attempt, for connection errors and 5xx before any byte was yielded."""
BACKOFF: Final = 0.25
"""Seconds before the first retry; doubled each time, with full jitter."""
CONNECTIONS: Final = 512
"""Open connections at most, over all upstreams (a request beyond waits for one)."""


@dataclass(frozen=True)
class VendorError:
    """An error exactly as the vendor answered it: its HTTP ``status``, its envelope ``family``
    (``"anthropic"``: ``{"type": "error", "error": {...}}``; ``"openai"``: ``{"error": {...}}``;
    ``None``: no JSON envelope), and the error's ``type``, ``message``, ``code`` and
    ``param``."""

    status: int
    message: str
    family: str | None = None
    type: str | None = None
    code: str | None = None
    param: str | None = None


class UpstreamError(ThinkwireError):
    """The upstream refused or failed: ``status`` to answer with, its ``message`` (with the
    upstream's name, for logs and the agent); ``vendor``: the vendor's own error when it
    answered one (``None``: unreachable, timed out, a broken answer)."""

    def __init__(
        self, status: int, message: str, *, retry_after: str | None = None, vendor: VendorError | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after
        self.vendor = vendor


def default_session() -> aiohttp.ClientSession:
    """The pooled session ``UpstreamClient`` makes on its first call (in the running loop)."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=CONNECTIONS, ttl_dns_cache=60),
        timeout=aiohttp.ClientTimeout(total=None),
        trust_env=bool(urllib.request.getproxies()),
    )


@dataclass(frozen=True)
class Call:
    """One prepared upstream call: where, what, and what the request's encoding lost."""

    upstream: Upstream
    url: str
    headers: dict[str, str]
    content: bytes
    streamed: bool
    losses: tuple[Loss, ...]


class UpstreamClient:
    """One pooled HTTP session for every upstream.

    ``session`` makes it (``default_session`` unless a test injects its own); it is called
    once, on the first request, inside the running event loop, and the session is closed by
    ``aclose()``.
    """

    def __init__(
        self,
        *,
        session: Callable[[], aiohttp.ClientSession] = default_session,
        retries: int = RETRIES,
        backoff: float = BACKOFF,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.environ = environ
        """Where API keys are read (``None``: ``os.environ`` at each request)."""
        self._make_session = session
        self._session: aiohttp.ClientSession | None = None
        self.retries = retries
        self.backoff = backoff

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def _current_session(self) -> aiohttp.ClientSession:
        session = self._session
        if session is None or session.closed:
            session = self._session = self._make_session()
        return session

    def prepare(self, upstream: Upstream, request: Request) -> Call:
        """The call ``request`` makes to ``upstream``, and what its encoding lost (no I/O)."""
        if upstream.kind == "local":
            raise UpstreamError(500, f"upstream {upstream.name!r} is the local engine, not an HTTP server")
        codec = get_codec(upstream.kind)
        streamed = request.stream is True
        encoded = codec.encode_request(
            msgspec.structs.replace(request, stream=streamed or None), carrier=upstream.chat_carrier
        )
        body: dict[str, Any] = dict(encoded.value)
        for key, value in upstream.profile.body.items():  # the profile's fixed request fields
            if isinstance(value, list) and isinstance(body.get(key), list):
                body[key] = [*body[key], *(v for v in value if v not in body[key])]
            else:
                body[key] = value
        if streamed:
            body["stream"] = True
            if upstream.kind == "openai-chat":
                body["stream_options"] = {"include_usage": True}
        else:
            body.pop("stream", None)
        return Call(
            upstream=upstream,
            url=upstream.base_url + PATHS[upstream.kind],
            headers=self._headers(upstream),
            content=orjson.dumps(body),
            streamed=streamed,
            losses=tuple(encoded.losses),
        )

    async def stream(self, upstream: Upstream, request: Request) -> AsyncGenerator[StreamEvent, None]:
        """``send(prepare(upstream, request))``, for a caller that does not report losses."""
        async for event in self.send(self.prepare(upstream, request)):
            yield event

    async def send(self, call: Call) -> AsyncGenerator[StreamEvent, None]:
        """The upstream's answer to ``call`` as IR stream events (module docstring)."""
        upstream, url, content, headers, streamed = (
            call.upstream,
            call.url,
            call.content,
            call.headers,
            call.streamed,
        )
        codec = get_codec(upstream.kind)
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=upstream.timeout,
            sock_connect=min(upstream.timeout, 10.0),
            sock_read=upstream.timeout,
        )
        session = self._current_session()
        attempt = 0
        yielded = answered = False
        refused: UpstreamError | None = None  # the vendor's last 5xx, if a retry then fails
        deadline = time.monotonic() + upstream.deadline
        while True:
            try:
                async with session.post(url, data=content, headers=headers, timeout=timeout) as response:
                    answered = response.status < 400
                    if response.status >= 400:
                        error = await _error(response, upstream, upstream.api_key(self.environ))
                        if response.status >= 500 and attempt < self.retries:
                            refused = error
                            attempt += 1
                            await self._sleep(attempt)
                            continue
                        raise error
                    if not streamed:  # one body, replayed as the events of a whole response
                        raw = b"".join([chunk async for chunk in _chunks(response, deadline, upstream)])
                        try:
                            whole = codec.decode_response(
                                orjson.loads(raw), provider=upstream.profile.provider
                            )
                        except (orjson.JSONDecodeError, DecodeError) as exc:
                            raise _broken(raw, exc, upstream, upstream.api_key(self.environ)) from None
                        for event in response_events(whole):
                            yielded = True
                            yield event
                        return
                    reader = EventReader(codec.dialect, provider=upstream.profile.provider)
                    try:
                        async for chunk in _chunks(response, deadline, upstream):
                            for event in reader.feed(chunk):
                                yielded = True
                                yield event
                        for event in reader.close():
                            yielded = True
                            yield event
                    except DecodeError as exc:
                        raise UpstreamError(
                            502, f"upstream {upstream.name!r} sent a broken stream: {exc}"
                        ) from None
                    return
            except TimeoutError:  # aiohttp's timeouts derive from it
                raise UpstreamError(
                    504, f"upstream {upstream.name!r} timed out after {upstream.timeout:g} s"
                ) from None
            except aiohttp.ClientError as exc:
                # cut off mid-answer, or an answer that does not parse: the upstream answered, so
                # it is never asked again (which would pay for the generation twice)
                if (
                    yielded
                    or answered
                    or isinstance(exc, aiohttp.ClientResponseError | aiohttp.ClientPayloadError)
                ):
                    what = "stream" if streamed else "response"
                    raise UpstreamError(
                        502, f"upstream {upstream.name!r} sent a broken {what}: {transport_failure(exc)}"
                    ) from None
                if attempt >= self.retries:
                    raise refused or UpstreamError(
                        502, f"upstream {upstream.name!r} is unreachable: {transport_failure(exc)}"
                    ) from None
                attempt += 1
                await self._sleep(attempt)

    def _headers(self, upstream: Upstream) -> dict[str, str]:
        headers = {"content-type": "application/json", "accept": "text/event-stream"}
        headers.update(upstream.profile.headers)
        headers.update(upstream.headers)
        key = upstream.api_key(self.environ)
        if key is not None:
            if upstream.profile.auth == "x-api-key":
                headers["x-api-key"] = key
            elif upstream.profile.auth == "bearer":
                headers["authorization"] = f"Bearer {key}"
        return headers

    async def _sleep(self, attempt: int) -> None:
        await asyncio.sleep(random.uniform(0, self.backoff * 2 ** (attempt - 1)))


TRANSPORT_FAILURES: Final[tuple[tuple[type[aiohttp.ClientError], str], ...]] = (
    (aiohttp.ClientPayloadError, "its body was cut off or does not decode"),
    (aiohttp.ServerDisconnectedError, "it closed the connection"),
    (aiohttp.ClientConnectorError, "no connection could be made"),
    (aiohttp.ClientOSError, "the connection was reset"),
    (aiohttp.ClientResponseError, "its response head is malformed or too large"),
)
"""How a transport failure is said to a client (the first class that matches): in words, never
the exception's name."""


def transport_failure(exc: aiohttp.ClientError) -> str:
    return next(
        (words for kind, words in TRANSPORT_FAILURES if isinstance(exc, kind)), "the connection failed"
    )


async def _chunks(
    response: aiohttp.ClientResponse, deadline: float, upstream: Upstream
) -> AsyncGenerator[bytes, None]:
    """The body's chunks as they arrive, whole or streamed; ``UpstreamError`` 504 once
    ``deadline`` (a monotonic time) passes."""
    async for chunk in response.content.iter_any():
        if time.monotonic() > deadline:
            raise UpstreamError(
                504, f"upstream {upstream.name!r} took over its {upstream.deadline:g} s deadline"
            )
        yield chunk


def _broken(raw: bytes, exc: Exception, upstream: Upstream, key: str | None) -> UpstreamError:
    """A whole 200 answer that does not decode: a 502, with the vendor's own words when the
    body is its error envelope (some vendors answer an error with 200)."""
    vendor = vendor_error(502, raw, key)
    if vendor.family is not None:
        return UpstreamError(
            502, f"upstream {upstream.name!r} answered 200 with an error: {vendor.message}", vendor=vendor
        )
    return UpstreamError(502, f"upstream {upstream.name!r} sent a broken response: {exc}")


async def _error(response: aiohttp.ClientResponse, upstream: Upstream, key: str | None) -> UpstreamError:
    """The upstream's error, as the vendor sent it (both envelopes are read). A vendor that
    echoes the key it was sent does not pass it on: the key is blanked out of the message."""
    raw = await response.read()
    vendor = vendor_error(response.status, raw, key)
    status = response.status
    return UpstreamError(
        status if status < 500 else 502,
        f"upstream {upstream.name!r} answered {status}: {vendor.message}",
        retry_after=retry_after(response.headers.get("retry-after")),
        vendor=vendor,
    )


MAX_RETRY_AFTER: Final = 86_400
"""Seconds of ``retry-after`` passed on at most (a day)."""


def retry_after(value: str | None) -> str | None:
    """An upstream's ``retry-after`` fit to pass on: whole seconds (capped at a day) or an
    HTTP date, as RFC 9110 allows; anything else (a script, 8,000 digits, text that is not
    Latin-1) is dropped, so the client gets the server's default instead."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return str(min(int(value[:12]), MAX_RETRY_AFTER))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return value if when is not None and value.isascii() and value.isprintable() else None


def vendor_error(status: int, raw: bytes, key: str | None = None) -> VendorError:
    """``raw``, an error body, read as the vendor's envelope (module docstring)."""
    text = raw.decode("utf-8", "replace")[:2000]
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        data = None
    return vendor_error_of(status, data, text, key)


def vendor_error_of(status: int, data: Any, text: str, key: str | None = None) -> VendorError:
    """An error envelope already parsed (``data``; ``text``: what to say when it is none), as
    ``vendor_error`` reads it. A stream's error event holds the inner object alone."""
    inner = data.get("error") if isinstance(data, dict) else None
    if isinstance(data, dict) and inner is None and isinstance(data.get("message"), str):
        inner, data = data, {}  # the inner object alone (a stream's error event)
    if not isinstance(inner, dict):
        return VendorError(status, _blank(text, key))
    family = "anthropic" if data.get("type") == "error" else "openai"
    message = inner.get("message")
    return VendorError(
        status,
        _blank(message if isinstance(message, str) else text, key),
        family=family,
        type=_string(inner.get("type")),
        code=_string(inner.get("code")),
        param=_string(inner.get("param")),
    )


def _string(value: object) -> str | None:
    return value if isinstance(value, str) else str(value) if isinstance(value, int) else None


def _blank(message: str, key: str | None) -> str:
    return message.replace(key, "[the upstream key]") if key and len(key) >= 8 else message
