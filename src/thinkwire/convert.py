"""Conversion between dialects: the public entry points over the codecs.

``convert`` handles a whole request or response; ``StreamConverter`` converts an SSE stream
incrementally (bytes in as they arrive, bytes out as soon as they can be written).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Literal

import msgspec

from thinkwire.dialects.base import EventReader, get_codec
from thinkwire.errors import DecodeError
from thinkwire.ir.blocks import Carrier, Dialect
from thinkwire.ir.conversation import Request, Response
from thinkwire.ir.losses import Loss

Kind = Literal["request", "response"]

_REQUEST_KEYS: dict[str, tuple[str, ...]] = {
    "anthropic": ("messages",),
    "openai-chat": ("messages",),
    "openai-responses": ("input", "instructions", "previous_response_id"),
}
_RESPONSE_KEYS: dict[str, tuple[str, ...]] = {
    "anthropic": ("content", "stop_reason"),
    "openai-chat": ("choices",),
    "openai-responses": ("output", "status"),
}


class Conversion(msgspec.Struct, frozen=True):
    """The result of ``convert``: the target's wire value, the IR it went through, the losses."""

    kind: Kind
    value: dict[str, Any]
    ir: Request | Response
    losses: tuple[Loss, ...]


def detect_kind(data: Any, dialect: Dialect) -> Kind:
    """Whether ``data`` is a request or a response of ``dialect``, from its top-level keys."""
    if not isinstance(data, dict):
        raise DecodeError("", f"expected a JSON object, got {type(data).__name__}")
    if any(key in data for key in _RESPONSE_KEYS[dialect]):
        return "response"
    if any(key in data for key in _REQUEST_KEYS[dialect]):
        return "request"
    wanted = " or ".join(f"'{k}'" for k in (*_REQUEST_KEYS[dialect], *_RESPONSE_KEYS[dialect]))
    raise DecodeError("", f"not a {dialect} request or response (no {wanted} field); pass --kind")


def convert(
    data: Any,
    *,
    source: Dialect,
    target: Dialect,
    kind: Kind | Literal["auto"] = "auto",
    carrier: Carrier | None = None,
    provider: str | None = None,
) -> Conversion:
    """Convert a parsed request or response from ``source`` to ``target``.

    ``carrier`` picks where OpenAI Chat output puts reasoning (default: where each block came
    from, else ``reasoning_content``). ``provider`` names the issuer of the input's reasoning.
    Raises ``DecodeError`` for input that does not fit ``source``.
    """
    if kind == "auto":
        kind = detect_kind(data, source)
    src, dst = get_codec(source), get_codec(target)
    if kind == "request":
        request = src.decode_request(data, provider=provider)
        encoded = dst.encode_request(request, carrier=carrier)
        return Conversion(kind, encoded.value, request, encoded.losses)
    response = src.decode_response(data, provider=provider)
    encoded = dst.encode_response(response, carrier=carrier)
    return Conversion(kind, encoded.value, response, encoded.losses)


class StreamConverter:
    """Converts one SSE response stream from ``source`` to ``target`` as bytes arrive.

    ``feed`` returns the bytes that can be written now; ``close`` flushes the end of the
    stream (and raises ``DecodeError`` when the input stopped before its end).
    """

    def __init__(
        self,
        *,
        source: Dialect,
        target: Dialect,
        carrier: Carrier | None = None,
        provider: str | None = None,
    ) -> None:
        self._reader = EventReader(source, provider=provider)
        self._encoder = get_codec(target).stream_encoder(carrier=carrier)

    @property
    def losses(self) -> list[Loss]:
        return self._encoder.losses

    def feed(self, chunk: bytes) -> bytes:
        return b"".join(part for event in self._reader.feed(chunk) for part in self._encoder.feed(event))

    def close(self) -> bytes:
        out = [part for event in self._reader.close() for part in self._encoder.feed(event)]
        return b"".join(out + self._encoder.close())


def convert_stream(
    chunks: Iterable[bytes],
    *,
    source: Dialect,
    target: Dialect,
    carrier: Carrier | None = None,
    provider: str | None = None,
) -> Iterator[bytes]:
    """Convert an SSE stream chunk by chunk (see ``StreamConverter``)."""
    converter = StreamConverter(source=source, target=target, carrier=carrier, provider=provider)
    for chunk in chunks:
        out = converter.feed(chunk)
        if out:
            yield out
    tail = converter.close()
    if tail:
        yield tail
