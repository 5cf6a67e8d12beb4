"""Recording HTTP clients for third-party SDKs, so a test can judge what went over the wire.

SDKs built on ``openai`` (the SDK itself, the OpenAI Agents SDK, LangChain's ``ChatOpenAI``,
LangGraph through it) accept an HTTP client of the caller's making. ``openai`` 3.x runs on
``httpx2`` (it still takes a legacy ``httpx`` client at run time, but its types say ``httpx2``),
so ``Traffic`` makes ``httpx2`` clients, on a transport that sits between the SDK and the server
and writes down every exchange: the request body as the SDK encoded it, and the response's
status, headers and body as the SDK read them (a streamed body is recorded while it streams, not
read ahead of the SDK). Only loopback hosts are reached: any other host fails the request, so a
test cannot talk to the internet by accident.

``Traffic`` is a context manager that closes the sync clients it made.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Final, Self

import httpx2

LOOPBACK: Final = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass
class Exchange:
    """One request and its response, as bytes on the wire."""

    method: str
    url: str
    body: bytes
    """The request body as the client sent it."""
    status: int = 0
    headers: httpx2.Headers = field(default_factory=httpx2.Headers)
    response: bytearray = field(default_factory=bytearray)
    """The response body as far as the client read it."""

    def request_json(self) -> Any:
        return json.loads(self.body)

    def response_json(self) -> Any:
        return json.loads(bytes(self.response))

    def events(self) -> list[Any]:
        """The JSON payloads of an SSE response's ``data:`` lines (``[DONE]`` left out)."""
        text = bytes(self.response).decode()
        payloads = [line[5:].strip() for line in text.splitlines() if line.startswith("data:")]
        return [json.loads(p) for p in payloads if p and p != "[DONE]"]

    @property
    def streamed(self) -> bool:
        return self.headers.get("content-type", "").startswith("text/event-stream")


def _guard(request: httpx2.Request) -> None:
    if request.url.host not in LOOPBACK:
        raise httpx2.ConnectError(f"refused: {request.url.host} is not loopback", request=request)


class _Tee(httpx2.SyncByteStream):
    def __init__(self, inner: httpx2.SyncByteStream, into: bytearray) -> None:
        self._inner, self._into = inner, into

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._inner:
            self._into += chunk
            yield chunk

    def close(self) -> None:
        self._inner.close()


class _AsyncTee(httpx2.AsyncByteStream):
    def __init__(self, inner: httpx2.AsyncByteStream, into: bytearray) -> None:
        self._inner, self._into = inner, into

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            self._into += chunk
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


class _Recording(httpx2.BaseTransport):
    def __init__(self, log: list[Exchange]) -> None:
        self._log = log
        self._inner = httpx2.HTTPTransport()

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        _guard(request)
        exchange = Exchange(request.method, str(request.url), request.read())
        self._log.append(exchange)
        response = self._inner.handle_request(request)
        exchange.status, exchange.headers = response.status_code, response.headers
        assert isinstance(response.stream, httpx2.SyncByteStream)
        return httpx2.Response(
            response.status_code,
            headers=response.headers,
            stream=_Tee(response.stream, exchange.response),
            extensions=response.extensions,
            request=request,
        )

    def close(self) -> None:
        self._inner.close()


class _AsyncRecording(httpx2.AsyncBaseTransport):
    def __init__(self, log: list[Exchange]) -> None:
        self._log = log
        self._inner = httpx2.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        _guard(request)
        exchange = Exchange(request.method, str(request.url), await request.aread())
        self._log.append(exchange)
        response = await self._inner.handle_async_request(request)
        exchange.status, exchange.headers = response.status_code, response.headers
        assert isinstance(response.stream, httpx2.AsyncByteStream)
        return httpx2.Response(
            response.status_code,
            headers=response.headers,
            stream=_AsyncTee(response.stream, exchange.response),
            extensions=response.extensions,
            request=request,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


class Traffic:
    """Recording clients and the exchanges they made, in order (module docstring)."""

    def __init__(self, timeout: float = 30.0) -> None:
        self.exchanges: list[Exchange] = []
        self._timeout = timeout
        self._sync: list[httpx2.Client] = []

    def client(self) -> httpx2.Client:
        """An ``httpx2.Client`` that records into this log (no proxies from the environment)."""
        made = httpx2.Client(transport=_Recording(self.exchanges), timeout=self._timeout, trust_env=False)
        self._sync.append(made)
        return made

    def async_client(self) -> httpx2.AsyncClient:
        """An ``httpx2.AsyncClient`` that records into this log; close it (``aclose``) in the event
        loop that used it."""
        return httpx2.AsyncClient(
            transport=_AsyncRecording(self.exchanges), timeout=self._timeout, trust_env=False
        )

    def chat(self) -> list[Exchange]:
        """The ``POST .../chat/completions`` exchanges, in order."""
        return [e for e in self.exchanges if e.method == "POST" and e.url.endswith("/chat/completions")]

    def close(self) -> None:
        """Close the sync clients (an async client is closed by its user, in its event loop;
        one never used holds no connection)."""
        for made in self._sync:
            made.close()
        self._sync.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
