"""What a program outside the test sends, seen from this side: for the coding-agent matrix.

``Recorder(app)`` wraps an ASGI app and writes down every HTTP exchange it serves, as bytes
on the wire (``tests.support.clients.Exchange``: the request body, the status, headers and
body of the response as sent, streamed or not), so a test can judge what a coding agent sent
to thinkwire and what thinkwire answered (its ``thinkwire-restored`` header, say).

``Outbound()`` is a stand-in HTTP proxy on a free loopback port that forwards nothing: a
program started with ``HTTPS_PROXY`` / ``HTTP_PROXY`` pointing at it has every request to
another host land here; the first line of each (``CONNECT api.example.com:443 HTTP/1.1``) is
kept in ``hosts`` and answered ``403``. Programs that ignore the proxy variables are not seen
by it (they fail to resolve the host instead: nothing leaves the machine in tests either way).
``close()`` stops it; a connection is read for at most ``READ_TIMEOUT`` seconds.
"""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

import httpx2

from tests.support.clients import Exchange

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

READ_TIMEOUT: Final = 5.0
FORBIDDEN: Final = b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
_TARGET: Final = re.compile(r"^[A-Z]+ (?:https?://)?([^/\s:]+)")


class Recorder:
    """An ASGI app that serves ``app`` and keeps every HTTP exchange in ``exchanges``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.exchanges: list[Exchange] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"").decode()
        exchange = Exchange(scope["method"], scope["path"] + (f"?{query}" if query else ""), b"")
        self.exchanges.append(exchange)
        body = bytearray()

        async def tee_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                body.extend(message.get("body", b""))
                exchange.body = bytes(body)
            return message

        async def tee_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                exchange.status = message["status"]
                exchange.headers = httpx2.Headers([(k.decode(), v.decode()) for k, v in message["headers"]])
            elif message["type"] == "http.response.body":
                exchange.response.extend(message.get("body", b""))
            await send(message)

        await self.app(scope, tee_receive, tee_send)


class Outbound:
    """A proxy that forwards nothing and notes where each request wanted to go (module doc)."""

    def __init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._socket.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        self.lines: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="outbound-proxy", daemon=True)
        self._thread.start()

    @property
    def hosts(self) -> list[str]:
        """The hosts asked for, each once, in the order first asked."""
        seen = [m.group(1) for line in self.lines if (m := _TARGET.match(line))]
        return list(dict.fromkeys(seen))

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._socket.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with connection:
                connection.settimeout(READ_TIMEOUT)
                try:
                    head = connection.recv(4096)
                    self.lines.append(head.split(b"\r\n", 1)[0].decode("latin-1"))
                    connection.sendall(FORBIDDEN)
                except OSError:
                    pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._socket.close()
