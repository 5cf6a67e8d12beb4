"""uvicorn's httptools protocol with a bound on a request's head (request line and headers).

httptools has no header limit of its own, and uvicorn offers one only for its h11 protocol:
a 100 MB header was read whole (RSS +186 MB) and answered before authentication, sidestepping
the 32 MiB body limit. ``BoundedHttpTools`` counts the bytes fed to the parser while a
request's head is incomplete (``MAX_HEAD``, which leaves room for the first read of a body
arriving with it) and the headers it yields (``MAX_HEADERS``); past either it answers ``431
Request Header Fields Too Large`` and closes the connection. The parsing is httptools'; only the
counting is ours. Use it as ``uvicorn.Config(..., http=BoundedHttpTools)``.
"""

from __future__ import annotations

from typing import Any, Final

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

MAX_HEAD: Final = 1 << 20
"""Bytes a connection may send before its current request's headers are complete (1 MiB)."""
MAX_HEADERS: Final = 256
"""Header fields one request may carry."""
_REFUSED: Final = b"request headers too large (at most 1 MiB and 256 fields)"


class BoundedHttpTools(HttpToolsProtocol):
    """``HttpToolsProtocol`` with ``MAX_HEAD`` and ``MAX_HEADERS`` (module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_bytes = 0
        self._in_head = True
        self._fields = 0

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD:
                self._refuse()
                return
        super().data_received(data)

    def on_message_begin(self) -> None:
        self._in_head, self._fields = True, 0
        super().on_message_begin()

    def on_header(self, name: bytes, value: bytes) -> None:
        self._fields += 1
        if self._fields > MAX_HEADERS:
            raise _TooManyHeaders  # httptools reports a failed callback as a parser error: a 400
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head, self._head_bytes = False, 0
        super().on_headers_complete()

    def _refuse(self) -> None:
        if self.transport.is_closing():
            return
        head = b"".join(
            [
                STATUS_LINE[431],
                b"content-type: text/plain; charset=utf-8\r\n",
                b"content-length: " + str(len(_REFUSED)).encode() + b"\r\n",
                b"connection: close\r\n\r\n",
            ]
        )
        self.transport.write(head + _REFUSED)
        self.transport.close()


class _TooManyHeaders(Exception):
    """More than ``MAX_HEADERS`` header fields."""
