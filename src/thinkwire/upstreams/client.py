"""Calling an upstream: an IR request out in its dialect, its (streamed) answer back as IR events.

``UpstreamClient.stream(upstream, request)`` encodes the request with the upstream's codec (its
Chat carrier from the profile) and POSTs it. A streamed request (``Request.stream``) is sent
with ``stream: true`` and its server-sent events are decoded incrementally with the same codec
(``provider`` from the profile goes into each thinking block's origin), yielded as they arrive;
a whole one is sent whole (one body is cheaper than a stream of chunks) and its response
replayed as IR events. Either way the caller gets the same kind of event sequence.

Failures, as ``UpstreamError`` (status, message, ``retry_after``):

- the upstream's 4xx is passed on with its own message (429 keeps its ``retry-after``);
- connection errors and 5xx are retried with bounded, jittered exponential backoff while
  nothing has been yielded yet, then answered 502;
- a timeout is 504;
- a stream that is malformed or ends early raises ``UpstreamError(502)`` after the events
  already yielded, so the caller ends the client's stream with an error event, never a hang.

What the upstream's dialect could not carry when the request was encoded is handed to
``on_losses`` before the call, so the gateway can report it in a header.

The API key comes from the environment variable the config names and is sent as the profile
says (``x-api-key`` or ``Authorization: Bearer``); it never appears in errors or logs.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncGenerator, Callable
from typing import Any, Final

import httpx
import msgspec
import orjson

from thinkwire.dialects.base import get_codec
from thinkwire.dialects.sse import SSEParser
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


class UpstreamError(ThinkwireError):
    """The upstream refused or failed: ``status`` to answer with, its ``message``."""

    def __init__(self, status: int, message: str, *, retry_after: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after


class UpstreamClient:
    """One pooled HTTP client for every upstream (``client`` may be injected for tests)."""

    def __init__(
        self, *, client: httpx.AsyncClient | None = None, retries: int = RETRIES, backoff: float = BACKOFF
    ) -> None:
        self._client = client or httpx.AsyncClient(timeout=None)
        self.retries = retries
        self.backoff = backoff

    async def aclose(self) -> None:
        await self._client.aclose()

    async def stream(
        self,
        upstream: Upstream,
        request: Request,
        *,
        on_losses: Callable[[tuple[Loss, ...]], None] | None = None,
    ) -> AsyncGenerator[StreamEvent, None]:
        """The upstream's answer to ``request`` as IR stream events (module docstring)."""
        if upstream.kind == "local":
            raise UpstreamError(500, f"upstream {upstream.name!r} is the local engine, not an HTTP server")
        codec = get_codec(upstream.kind)
        streamed = request.stream is True
        encoded = codec.encode_request(
            msgspec.structs.replace(request, stream=streamed or None), carrier=upstream.chat_carrier
        )
        if on_losses is not None and encoded.losses:
            on_losses(encoded.losses)
        body: dict[str, Any] = dict(encoded.value)
        if streamed:
            body["stream"] = True
            if upstream.kind == "openai-chat":
                body["stream_options"] = {"include_usage": True}
        else:
            body.pop("stream", None)
        url = upstream.base_url + PATHS[upstream.kind]
        content = orjson.dumps(body)
        timeout = httpx.Timeout(upstream.timeout, connect=min(upstream.timeout, 10.0))
        attempt = 0
        while True:
            try:
                async with self._client.stream(
                    "POST", url, content=content, headers=self._headers(upstream), timeout=timeout
                ) as response:
                    if response.status_code >= 400:
                        error = await _error(response, upstream)
                        if response.status_code >= 500 and attempt < self.retries:
                            attempt += 1
                            await self._sleep(attempt)
                            continue
                        raise error
                    if not streamed:  # one body, replayed as the events of a whole response
                        try:
                            data = orjson.loads(await response.aread())
                            whole = codec.decode_response(data, provider=upstream.profile.provider)
                        except (orjson.JSONDecodeError, DecodeError) as exc:
                            raise UpstreamError(
                                502, f"upstream {upstream.name!r} sent a broken response: {exc}"
                            ) from None
                        for event in response_events(whole):
                            yield event
                        return
                    decoder = codec.stream_decoder(provider=upstream.profile.provider)
                    parser = SSEParser()
                    try:
                        async for chunk in response.aiter_bytes():
                            for sse in parser.feed(chunk):
                                for event in decoder.feed(sse):
                                    yield event
                        for sse in parser.close():
                            for event in decoder.feed(sse):
                                yield event
                        for event in decoder.close():
                            yield event
                    except DecodeError as exc:
                        raise UpstreamError(
                            502, f"upstream {upstream.name!r} sent a broken stream: {exc}"
                        ) from None
                    return
            except httpx.TimeoutException:
                raise UpstreamError(
                    504, f"upstream {upstream.name!r} timed out after {upstream.timeout:g} s"
                ) from None
            except (httpx.TransportError, UpstreamError) as exc:
                if isinstance(exc, UpstreamError):
                    raise
                if attempt >= self.retries:
                    raise UpstreamError(
                        502, f"upstream {upstream.name!r} is unreachable: {type(exc).__name__}"
                    ) from None
                attempt += 1
                await self._sleep(attempt)

    def _headers(self, upstream: Upstream) -> dict[str, str]:
        headers = {"content-type": "application/json", "accept": "text/event-stream"}
        headers.update(upstream.profile.headers)
        headers.update(upstream.headers)
        key = upstream.api_key()
        if key is not None:
            if upstream.profile.auth == "x-api-key":
                headers["x-api-key"] = key
            elif upstream.profile.auth == "bearer":
                headers["authorization"] = f"Bearer {key}"
        return headers

    async def _sleep(self, attempt: int) -> None:
        await asyncio.sleep(random.uniform(0, self.backoff * 2 ** (attempt - 1)))


async def _error(response: httpx.Response, upstream: Upstream) -> UpstreamError:
    """The upstream's error, its own message kept (both envelopes are read)."""
    raw = await response.aread()
    message = raw.decode("utf-8", "replace")[:2000]
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        message = str(data["error"].get("message") or message)
    status = response.status_code
    return UpstreamError(
        status if status < 500 else 502,
        f"upstream {upstream.name!r} answered {status}: {message}",
        retry_after=response.headers.get("retry-after"),
    )
