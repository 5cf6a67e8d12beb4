"""A proxy in front of a strict emulator that misbehaves as real proxies do, byte by byte.

``tampering(upstream, request=..., whole=..., stream=..., status=...)`` serves an ASGI app on a
loopback port that forwards each POST to ``upstream`` (same path), changing the request body
(``request``), the whole JSON answer (``whole``) or the raw SSE text of a stream (``stream``),
or answering first with a status of its own (``status(n)`` for the n-th request: (status,
headers) or ``None``), waiting ``delay(n)`` seconds before the n-th answer (a slow server), or
cutting the n-th answer off half-way when ``cut(n)`` (a server dying mid-response). It
records every request body it forwarded in ``Proxy.bodies``.

``closing(upstream)`` is a raw HTTP/1.1 proxy that answers each connection's first request
with ``Connection: keep-alive`` and closes the connection when the next request arrives on it
(llama.cpp's server closes after every stream while advertising keep-alive).
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from thinkwire.asgi.serving import serving

Json = dict[str, Any]


@dataclass
class Proxy:
    upstream: str
    request: Callable[[Json], Json] = lambda body: body
    whole: Callable[[Json], Json] = lambda body: body
    stream: Callable[[str], str] = lambda text: text
    status: Callable[[int], tuple[int, dict[str, str]] | None] = lambda n: None
    delay: Callable[[int], float] = lambda n: 0.0
    cut: Callable[[int], bool] = lambda n: False
    bodies: list[Json] = field(default_factory=list)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        body = self.request(orjson.loads(raw))
        self.bodies.append(body)
        number = len(self.bodies)
        if self.delay(number):
            await asyncio.sleep(self.delay(number))
        own = self.status(number)
        if own is not None:
            code, headers = own
            error = orjson.dumps({"error": {"type": "rate_limit_error", "message": "slow down"}})
            await _answer(send, code, error, "application/json", headers)
            return
        headers = {k.decode(): v.decode() for k, v in scope["headers"] if k.decode() != "host"}
        headers.pop("content-length", None)
        async with httpx.AsyncClient(timeout=30) as client:
            answer = await client.post(
                self.upstream + scope["path"], content=orjson.dumps(body), headers=headers
            )
        kind = answer.headers.get("content-type", "application/json").split(";")[0]
        if answer.status_code >= 400:
            out = answer.content
        elif kind == "text/event-stream":
            out = self.stream(answer.text).encode()
        else:
            out = orjson.dumps(self.whole(answer.json()))
        if self.cut(number):
            pairs = [(b"content-type", kind.encode()), (b"content-length", str(len(out)).encode())]
            await send({"type": "http.response.start", "status": answer.status_code, "headers": pairs})
            await send({"type": "http.response.body", "body": out[: len(out) // 2], "more_body": True})
            raise ConnectionAbortedError("the tampering proxy cut the answer off")
        await _answer(send, answer.status_code, out, kind, {})


async def _answer(send: Any, status: int, body: bytes, kind: str, headers: dict[str, str]) -> None:
    pairs = [(b"content-type", kind.encode()), *((k.encode(), v.encode()) for k, v in headers.items())]
    await send({"type": "http.response.start", "status": status, "headers": pairs})
    await send({"type": "http.response.body", "body": body})


@contextmanager
def tampering(upstream: str, **changes: Any) -> Iterator[tuple[str, Proxy]]:
    proxy = Proxy(upstream, **changes)
    with serving(proxy) as url:
        yield url, proxy


@contextmanager
def closing(upstream: str) -> Iterator[tuple[str, list[int]]]:
    """The raw proxy; yields its URL and the list of connections it closed on a second request."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    closed: list[int] = []
    stop = threading.Event()

    def handle(conn: socket.socket, number: int) -> None:
        with conn:
            request = _read_request(conn)
            if request is None:
                return
            path, headers, body = request
            answer = httpx.post(upstream + path, content=body, headers=headers, timeout=30)
            head = (
                f"HTTP/1.1 {answer.status_code} OK\r\ncontent-type: {answer.headers.get('content-type')}\r\n"
                f"content-length: {len(answer.content)}\r\n"
                "connection: keep-alive\r\nkeep-alive: timeout=5\r\n\r\n"
            )
            conn.sendall(head.encode() + answer.content)
            if _read_request(conn) is not None:  # a second request on this connection: close instead
                closed.append(number)

    def accept() -> None:
        number = 0
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            number += 1
            threading.Thread(target=handle, args=(conn, number), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", closed
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def _read_request(conn: socket.socket) -> tuple[str, dict[str, str], bytes] | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    length = int(next((v for k, v in headers.items() if k.lower() == "content-length"), "0"))
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        body += chunk
    keep = {k: v for k, v in headers.items() if k.lower() not in ("host", "content-length", "connection")}
    return lines[0].split(" ")[1], keep, body
