"""Server-sent events: an incremental parser and a formatter.

The parser takes bytes in arbitrary chunks (as they come off a socket) and yields whole
events; it handles ``\\r\\n`` / ``\\r`` / ``\\n`` line ends, multi-line ``data``, comments and
a final event without a trailing blank line. A line that is not UTF-8 is a ``DecodeError``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import msgspec

from thinkwire.errors import DecodeError


class SSEEvent(msgspec.Struct, frozen=True):
    """One event: its ``event`` name (``None`` when absent) and its ``data`` text."""

    data: str
    event: str | None = None


class SSEParser:
    """Feed bytes, get events."""

    def __init__(self) -> None:
        self._buffer = b""
        self._event: str | None = None
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        self._buffer += chunk
        out: list[SSEEvent] = []
        while True:
            cut = _line_end(self._buffer)
            if cut is None:
                return out
            end, skip = cut
            line = _text(self._buffer[:end])
            self._buffer = self._buffer[end + skip :]
            event = self._line(line)
            if event is not None:
                out.append(event)

    def close(self) -> list[SSEEvent]:
        """Flush a last event that had no blank line after it."""
        out: list[SSEEvent] = []
        if self._buffer:
            event = self._line(_text(self._buffer))
            self._buffer = b""
            if event is not None:
                out.append(event)
        event = self._line("")
        if event is not None:
            out.append(event)
        return out

    def _line(self, line: str) -> SSEEvent | None:
        if line == "":
            if not self._data and self._event is None:
                return None
            event = SSEEvent(data="\n".join(self._data), event=self._event)
            self._event, self._data = None, []
            return event
        if line.startswith(":"):
            return None
        field, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "event":
            self._event = value
        elif field == "data":
            self._data.append(value)
        return None


def _text(line: bytes) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        raise DecodeError("", f"a line of the event stream is not UTF-8: {line[:40]!r}") from None


def _line_end(buffer: bytes) -> tuple[int, int] | None:
    """Position and length of the first line terminator, or None when none is complete yet."""
    lf, cr = buffer.find(b"\n"), buffer.find(b"\r")
    if cr == -1 or (lf != -1 and lf < cr):
        return None if lf == -1 else (lf, 1)
    if cr + 1 == len(buffer):
        return None  # the \n of a \r\n may be in the next chunk
    return cr, 2 if buffer[cr + 1] == 10 else 1


def parse(chunks: bytes | Iterable[bytes]) -> Iterator[SSEEvent]:
    """Parse SSE from bytes or an iterable of byte chunks."""
    parser = SSEParser()
    for chunk in [chunks] if isinstance(chunks, bytes) else chunks:
        yield from parser.feed(chunk)
    yield from parser.close()


def format_event(data: str, event: str | None = None) -> bytes:
    """One event as SSE bytes (``event:`` line when named, then ``data:`` lines, blank line)."""
    head = f"event: {event}\n" if event is not None else ""
    if "\n" not in data:  # compact JSON: one line
        return f"{head}data: {data}\n\n".encode()
    body = "".join(f"data: {line}\n" for line in data.split("\n"))
    return (head + body + "\n").encode("utf-8")
