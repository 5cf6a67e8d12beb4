"""A misbehaving upstream: a raw asyncio server that answers with one fault of a catalogue.

``faulty_upstream()`` runs it on a loopback port in a background thread and yields a
``FaultyUpstream``; ``upstream.url(fault)`` is the ``base_url`` of one fault (``/<fault>``, or a
closed port for ``refused``). The request's path says the vendor's dialect
(``/v1/chat/completions``, ``/v1/messages``, ``/v1/responses``) and its JSON body's ``stream``
whether it is streamed, so one fault misbehaves in the shape of whichever dialect asked.

``FAULTS`` is the catalogue, as data: each ``Fault`` is a name, a script (what goes on the
wire, ``Step``s: bytes sent, a pause, bytes trickled, a reset) built from the request, and what
the client of a gateway in front of it must get (``status``: the HTTP status an OpenAI-dialect
client gets before any event; ``early``: the fault happens before the upstream said 200, so even
a streamed answer must be that status, not an error event). ``FLAKY`` answers by the attempt
(``Ask.attempt``), so it stays out of the matrix. ``ok`` answers properly. The healthy answers
are written by the dialects' own codecs, so they are what a vendor sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

import orjson

from thinkwire.dialects.base import get_codec
from thinkwire.ir.blocks import Text, ToolCall
from thinkwire.ir.conversation import Response, Usage
from thinkwire.ir.stream import response_events

PATHS: Final = {
    "/v1/chat/completions": "openai-chat",
    "/v1/messages": "anthropic",
    "/v1/responses": "openai-responses",
}
SLOW: Final = 60.0
"""Seconds a silent fault stays silent: far past any deadline a test configures."""
TRICKLE: Final = 0.2
"""Seconds between the bytes of a trickling answer (under any idle timeout a test sets)."""
DEEP: Final = 1000


@dataclass(frozen=True)
class Ask:
    """The request a fault answers: the dialect, streamed or not, the key it carried."""

    kind: str
    streamed: bool
    key: str
    attempt: int = 0
    """Requests to the same path before this one."""


@dataclass(frozen=True)
class Send:
    data: bytes


@dataclass(frozen=True)
class Pause:
    seconds: float


@dataclass(frozen=True)
class Trickle:
    """``data`` one byte at a time, ``TRICKLE`` seconds apart."""

    data: bytes


@dataclass(frozen=True)
class Reset:
    """The connection reset (RST), not closed."""


Step = Send | Pause | Trickle | Reset


@dataclass(frozen=True)
class Fault:
    name: str
    script: Callable[[Ask], list[Step]]
    status: int = 502
    early: bool = False
    retry_after: str | None = None
    """The ``retry-after`` the client must get (429): ``None``, any whole number of seconds."""
    note: str = ""


# ---------------------------------------------------------------- the wire of a healthy answer


def answer(kind: str, *, arguments: str | None = None) -> Response:
    """The upstream's answer: a text, or a tool call with ``arguments``."""
    block: Text | ToolCall = (
        Text(text="Hello from upstream")
        if arguments is None
        else ToolCall(id="call_1", name="get_weather", arguments=arguments)
    )
    return Response(
        id={"anthropic": "msg_1", "openai-chat": "chatcmpl-1", "openai-responses": "resp_1"}[kind],
        model="m",
        blocks=(block,),
        stop_reason="end_turn" if arguments is None else "tool_use",
        usage=Usage(input_tokens=3, output_tokens=4),
    )


def whole_body(kind: str, response: Response) -> bytes:
    return orjson.dumps(get_codec(kind).encode_response(response).value)


def stream_events(kind: str, response: Response) -> list[bytes]:
    """The SSE events of ``response`` in ``kind``'s dialect, the end marker last."""
    encoder = get_codec(kind).stream_encoder()
    events = [chunk for event in response_events(response) for chunk in encoder.feed(event)]
    return events + encoder.close()


def head(status: int, headers: dict[str, str] | None = None, *, raw: bytes = b"") -> bytes:
    """A response head; the connection closes after each answer, and says so."""
    lines = [f"HTTP/1.1 {status} X".encode(), b"connection: close"]
    lines += [f"{k}: {v}".encode() for k, v in (headers or {}).items()]
    return b"\r\n".join(lines) + b"\r\n" + raw + b"\r\n"


def whole(status: int, body: bytes, headers: dict[str, str] | None = None) -> bytes:
    fields = {"content-type": "application/json", "content-length": str(len(body)), **(headers or {})}
    return head(status, fields) + body


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


STREAM_HEAD: Final = head(200, {"content-type": "text/event-stream", "transfer-encoding": "chunked"})
END: Final = b"0\r\n\r\n"


def ok(
    ask: Ask, response: Response | None = None, *, edit: Callable[[bytes], bytes] | None = None
) -> list[Step]:
    """A healthy answer (``response``, default ``answer``), each event or the body through
    ``edit`` first."""
    response = response or answer(ask.kind)
    edit = edit or (lambda data: data)
    if ask.streamed:
        events = stream_events(ask.kind, response)
        return [Send(STREAM_HEAD + b"".join(chunk(edit(e)) for e in events) + END)]
    return [Send(whole(200, edit(whole_body(ask.kind, response))))]


def partial(ask: Ask) -> tuple[bytes, bytes]:
    """The first part of a healthy answer and the rest (streamed: events; whole: bytes)."""
    if ask.streamed:
        events = stream_events(ask.kind, answer(ask.kind))
        half = len(events) // 2
        return (
            STREAM_HEAD + b"".join(chunk(e) for e in events[:half]),
            b"".join(chunk(e) for e in events[half:]) + END,
        )
    body = whole_body(ask.kind, answer(ask.kind))
    start = head(200, {"content-type": "application/json", "content-length": str(len(body))})
    return start + body[: len(body) // 2], body[len(body) // 2 :]


def vendor_error(kind: str, status: int, message: str) -> bytes:
    """An error body in the vendor's own envelope."""
    if kind == "anthropic":
        kinds = {401: "authentication_error", 429: "rate_limit_error", 529: "overloaded_error"}
        inner = {"type": kinds.get(status, "api_error"), "message": message}
        return orjson.dumps({"type": "error", "error": inner})
    code = {401: "invalid_api_key", 429: "rate_limit_exceeded"}.get(status)
    kind_name = "invalid_request_error" if status < 500 else "server_error"
    return orjson.dumps({"error": {"message": message, "type": kind_name, "param": None, "code": code}})


def error_event(kind: str) -> bytes:
    """The vendor's error event inside a stream."""
    data: dict[str, Any]
    if kind == "anthropic":
        data = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded mid-stream"}}
        return b"event: error\ndata: " + orjson.dumps(data) + b"\n\n"
    if kind == "openai-responses":
        data = {"type": "error", "code": "server_error", "message": "Overloaded mid-stream", "param": None}
        return b"event: error\ndata: " + orjson.dumps(data) + b"\n\n"
    return (
        b"data: "
        + orjson.dumps({"error": {"message": "Overloaded mid-stream", "type": "server_error"}})
        + b"\n\n"
    )


# ---------------------------------------------------------------- the catalogue


def _limited(value: bytes) -> Callable[[Ask], list[Step]]:
    def script(ask: Ask) -> list[Step]:
        body = vendor_error(ask.kind, 429, "Rate limited: slow down")
        fields = {"content-type": "application/json", "content-length": str(len(body))}
        return [Send(head(429, fields, raw=b"retry-after: " + value + b"\r\n") + body)]

    return script


def _failing(status: int) -> Callable[[Ask], list[Step]]:
    return lambda ask: [
        Send(whole(status, vendor_error(ask.kind, status, f"The upstream failed ({status})")))
    ]


def _echo_key(ask: Ask) -> list[Step]:
    message = f"Incorrect API key provided: {ask.key}. You can find your key in your dashboard."
    return [Send(whole(401, vendor_error(ask.kind, 401, message)))]


def _deep(ask: Ask) -> list[Step]:
    """A tool call whose arguments nest ``DEEP`` levels: written in after encoding (a JSON
    library refuses to write that deep), where a placeholder stood, quoted or not."""
    deep = b"[" * (DEEP - 1) + b"1" + b"]" * (DEEP - 1)

    def edit(data: bytes) -> bytes:
        return data.replace(b'\\"__DEEP__\\"', deep).replace(b'"__DEEP__"', deep)

    return ok(ask, answer(ask.kind, arguments='{"a":"__DEEP__"}'), edit=edit)


ENDS: Final = {
    "openai-chat": (b'"finish_reason":"', b"[DONE]"),
    "anthropic": (b"message_stop",),
    "openai-responses": (b"response.completed",),
}
"""What ends a stream in each dialect (Chat's decoder takes a finish_reason as the end too)."""


def _no_end(ask: Ask) -> list[Step]:
    if ask.streamed:
        events = stream_events(ask.kind, answer(ask.kind))
        cut = next(i for i, e in enumerate(events) if any(end in e for end in ENDS[ask.kind]))
        return [Send(STREAM_HEAD + b"".join(chunk(e) for e in events[:cut]) + END)]
    body = whole_body(ask.kind, answer(ask.kind))[:-1]  # the closing brace
    return [Send(whole(200, body))]


def _garbage(ask: Ask) -> list[Step]:
    if ask.streamed:
        events = stream_events(ask.kind, answer(ask.kind))
        junk = b":::\n\x00\xff\xfe not a field\n\ndata: {not json at all\n\n"
        return [
            Send(STREAM_HEAD + chunk(events[0]) + chunk(junk) + b"".join(chunk(e) for e in events[1:]) + END)
        ]
    return [Send(whole(200, b"\x00\xff\xfe{garbage"))]


def _wrong_shape(ask: Ask) -> list[Step]:
    wrong = {"id": 5, "type": "message", "object": [], "choices": "none", "content": "none", "output": "none"}
    if ask.streamed:
        event = (
            b"event: message_start\ndata: " + orjson.dumps({**wrong, "message": 7, "response": 7}) + b"\n\n"
        )
        return [Send(STREAM_HEAD + chunk(event) + END)]
    return [Send(whole(200, orjson.dumps(wrong)))]


def _not_json(ask: Ask) -> list[Step]:
    body = b"<html><body>502 Bad Gateway</body></html>"
    if ask.streamed:
        return [Send(head(200, {"content-type": "text/html", "content-length": str(len(body))}) + body)]
    return [Send(whole(200, body))]


def _in_stream_error(ask: Ask) -> list[Step]:
    if ask.streamed:
        events = stream_events(ask.kind, answer(ask.kind))
        return [Send(STREAM_HEAD + chunk(events[0]) + chunk(error_event(ask.kind)) + END)]
    return [Send(whole(200, vendor_error(ask.kind, 500, "Overloaded inside a 200")))]


def _gzip_lie(ask: Ask) -> list[Step]:
    steps = ok(ask)
    first = steps[0]
    assert isinstance(first, Send)
    return [Send(first.data.replace(b"\r\n", b"\r\ncontent-encoding: gzip\r\n", 1))]


def _bad_chunks(ask: Ask) -> list[Step]:
    start, _ = partial(Ask(ask.kind, True, ask.key))
    return [Send(start + b"zz\r\nnot a chunk size\r\n")]


def _huge_header(ask: Ask) -> list[Step]:
    steps = ok(ask)
    first = steps[0]
    assert isinstance(first, Send)
    return [Send(first.data.replace(b"\r\n", b"\r\nx-padding: " + b"a" * 70_000 + b"\r\n", 1))]


def _cut(then: Step) -> Callable[[Ask], list[Step]]:
    def script(ask: Ask) -> list[Step]:
        start, _ = partial(ask)
        return [Send(start), then]

    return script


def _after_headers(then: Step) -> Callable[[Ask], list[Step]]:
    def script(ask: Ask) -> list[Step]:
        start, _ = partial(ask)
        heading = start.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
        return [Send(heading), then]

    return script


def _trickle(ask: Ask) -> list[Step]:
    start, rest = partial(ask)
    return [Send(start), Trickle(rest)]


def _refused(ask: Ask) -> list[Step]:
    raise AssertionError("a refused connection never reaches the server")


FAULTS: Final = (
    Fault("refused", _refused, early=True, note="nothing listens on the port"),
    Fault("reset-before-headers", lambda ask: [Reset()], early=True),
    Fault("reset-after-headers", _after_headers(Reset())),
    Fault("reset-mid-body", _cut(Reset())),
    Fault("half-body-then-close", _cut(Pause(0))),
    Fault("silent-after-headers", _after_headers(Pause(SLOW)), status=504, note="the idle timeout"),
    Fault("never-answers", lambda ask: [Pause(SLOW)], status=504, early=True, note="the idle timeout"),
    Fault("trickle", _trickle, status=504, note="one byte each 0.2 s: the total deadline"),
    Fault("retry-after-seconds", _limited(b"7"), status=429, early=True, retry_after="7"),
    Fault("retry-after-script", _limited(b"1, <script>alert(1)</script>"), status=429, early=True),
    Fault("retry-after-8000-digits", _limited(b"9" * 8000), status=429, early=True, retry_after="86400"),
    Fault(
        "retry-after-date",
        _limited(b"Wed, 21 Oct 2037 07:28:00 GMT"),
        status=429,
        early=True,
        retry_after="Wed, 21 Oct 2037 07:28:00 GMT",
    ),
    Fault("retry-after-not-latin-1", _limited("３０秒".encode()), status=429, early=True),
    Fault("500", _failing(500), status=500, early=True),
    Fault("502", _failing(502), status=502, early=True),
    Fault("503", _failing(503), status=503, early=True),
    Fault("529", _failing(529), status=503, early=True),
    Fault("401-echoes-the-key", _echo_key, status=401, early=True),
    Fault("not-json", _not_json),
    Fault("wrong-shape", _wrong_shape),
    Fault("deep-arguments", _deep, note=f"tool arguments nested {DEEP} deep"),
    Fault(
        "error-event", _in_stream_error, note="the vendor's error event in a stream (a 200 error body whole)"
    ),
    Fault("no-end-marker", _no_end),
    Fault("sse-garbage", _garbage),
    Fault("content-encoding-lie", _gzip_lie, note="gzip announced, plain bytes sent"),
    Fault("bad-chunk-size", _bad_chunks),
    Fault("huge-header", _huge_header, note="a 70 kB response header"),
)
FLAKY: Final = Fault(
    "500-then-reset",
    lambda ask: _failing(500)(ask) if ask.attempt == 0 else [Reset()],
    status=500,
    early=True,
    note="a vendor 5xx, then a reset on each retry (not in the matrix: it depends on the order)",
)
FAULT: Final = {fault.name: fault for fault in (*FAULTS, FLAKY)}
HEALTHY: Final = Fault("ok", ok, status=200)


# ---------------------------------------------------------------- the server


class FaultyUpstream:
    """The server's base URL per fault, and the requests it received (path, body)."""

    def __init__(self, base: str, closed: str) -> None:
        self.base = base
        self._closed = closed
        self.requests: list[tuple[str, dict[str, Any]]] = []

    def url(self, fault: str) -> str:
        return self._closed if fault == "refused" else f"{self.base}/{fault}"


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, dict[str, str], bytes]:
    raw = await reader.readuntil(b"\r\n\r\n")
    lines = raw.decode("latin-1").split("\r\n")
    target = lines[0].split(" ")[1]
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return target, headers, body


def _ask(target: str, headers: dict[str, str], body: bytes, attempt: int) -> tuple[Fault, Ask]:
    _, name, rest = target.split("/", 2)
    fault = HEALTHY if name == "ok" else FAULT[name]
    kind = PATHS.get("/" + rest, "openai-chat")
    key = headers.get("x-api-key") or headers.get("authorization", "").removeprefix("Bearer ")
    streamed = bool(orjson.loads(body).get("stream")) if body else False
    return fault, Ask(kind=kind, streamed=streamed, key=key, attempt=attempt)


async def _play(steps: list[Step], writer: asyncio.StreamWriter) -> None:
    for step in steps:
        if isinstance(step, Send):
            writer.write(step.data)
            await writer.drain()
        elif isinstance(step, Pause):
            await asyncio.sleep(step.seconds)
        elif isinstance(step, Trickle):
            for byte in step.data:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(TRICKLE)
        else:
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return


def _serve(upstream: FaultyUpstream) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Any]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            target, headers, body = await _read_request(reader)
            attempt = sum(1 for seen, _ in upstream.requests if seen == target)
            fault, ask = _ask(target, headers, body, attempt)
            upstream.requests.append((target, orjson.loads(body) if body else {}))
            await _play(fault.script(ask), writer)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(OSError, ConnectionError):
                await writer.wait_closed()

    return handle


def _closed_port() -> str:
    """The URL of a loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def faulty_upstream() -> Iterator[FaultyUpstream]:
    """The misbehaving upstream on a loopback port, stopped on exit (silent faults included)."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    box: dict[str, Any] = {}

    async def main() -> None:
        stop = asyncio.Event()
        box["stop"] = stop
        holder = box.setdefault("upstream", FaultyUpstream("", _closed_port()))
        server = await asyncio.start_server(_serve(holder), "127.0.0.1", 0, limit=1 << 20)
        holder.base = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        started.set()
        async with server:
            await stop.wait()
        handlers = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    if not started.wait(10):
        raise RuntimeError("the faulty upstream did not start")
    try:
        yield box["upstream"]
    finally:
        loop.call_soon_threadsafe(box["stop"].set)
        thread.join(10)
        loop.close()
