"""Request heads are bounded (``thinkwire.asgi.protocol``): a 100 MB header used to be read
whole and answered, before authentication."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from thinkwire.asgi.protocol import MAX_HEAD, MAX_HEADERS
from thinkwire.asgi.serving import serving


async def ok(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


@pytest.fixture
def address() -> Iterator[tuple[str, int]]:
    with serving(Starlette(routes=[Route("/", ok)])) as url:
        host, port = url.removeprefix("http://").split(":")
        yield host, int(port)


def exchange(address: tuple[str, int], head: bytes) -> bytes:
    """Send ``head`` (then the blank line) on a fresh connection; the status line answered."""
    with socket.create_connection(address, timeout=10) as conn:
        try:
            for start in range(0, len(head), 1 << 16):
                conn.sendall(head[start : start + (1 << 16)])
            conn.sendall(b"\r\n\r\n")
        except OSError:  # the server may close before it has read everything
            pass
        return conn.recv(100).split(b"\r\n", 1)[0]


def test_a_head_over_the_limit_is_a_431_and_the_connection_closes(address: tuple[str, int]) -> None:
    big = b"GET / HTTP/1.1\r\nhost: 127.0.0.1\r\nx-big: " + b"a" * (MAX_HEAD * 4)
    assert exchange(address, big) == b"HTTP/1.1 431 Request Header Fields Too Large"


def test_too_many_header_fields_are_refused(address: tuple[str, int]) -> None:
    fields = b"".join(b"x-%d: v\r\n" % i for i in range(MAX_HEADERS + 1))
    assert exchange(address, b"GET / HTTP/1.1\r\nhost: 127.0.0.1\r\n" + fields.rstrip(b"\r\n")) == (
        b"HTTP/1.1 400 Bad Request"
    )


def test_ordinary_requests_and_large_bodies_are_served(address: tuple[str, int]) -> None:
    assert exchange(address, b"GET / HTTP/1.1\r\nhost: 127.0.0.1\r\nx-fine: " + b"a" * 20_000) == (
        b"HTTP/1.1 200 OK"
    )
    body = b"b" * (MAX_HEAD * 2)  # a body beyond the head limit is not a head
    with socket.create_connection(address, timeout=10) as conn:
        conn.sendall(b"POST / HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: %d\r\n\r\n" % len(body) + body)
        assert conn.recv(100).startswith(b"HTTP/1.1 405")  # reached the app (GET-only route)
