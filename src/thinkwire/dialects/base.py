"""The codec interface every dialect implements, and the registry of dialects.

Codecs are pure: wire values (parsed JSON, SSE events) in, IR out, and back. No I/O.
Streams are converted incrementally: a ``StreamDecoder`` turns each SSE event into zero or
more IR events as it arrives; a ``StreamEncoder`` turns each IR event into zero or more SSE
byte strings. ``EventReader`` is the one way bytes of a stream, as they arrive from a socket
or a file, become IR events (SSE framing and the dialect's decoder together).
"""

from __future__ import annotations

from typing import Any, Protocol

from thinkwire.dialects.sse import SSEEvent, SSEParser
from thinkwire.ir.blocks import Carrier, Dialect
from thinkwire.ir.conversation import Request, Response
from thinkwire.ir.losses import Encoded, Loss
from thinkwire.ir.stream import StreamEvent


class StreamDecoder(Protocol):
    """SSE events of one response in, IR stream events out."""

    def feed(self, event: SSEEvent) -> list[StreamEvent]: ...

    def close(self) -> list[StreamEvent]:
        """Called at end of input: closes open blocks; raises DecodeError if the stream was cut short."""
        ...


class StreamEncoder(Protocol):
    """IR stream events in, SSE bytes out. ``losses`` grows as events are encoded."""

    losses: list[Loss]

    def feed(self, event: StreamEvent) -> list[bytes]: ...

    def close(self) -> list[bytes]: ...


class Codec(Protocol):
    """One API dialect. ``carrier`` matters only to OpenAI Chat; others ignore it.

    ``provider`` names who issued the reasoning being decoded (recorded in each thinking
    block's ``Origin`` so signatures go back only to their issuer); ``None`` when unknown.
    """

    dialect: Dialect

    def decode_request(self, data: Any, *, provider: str | None = None) -> Request: ...

    def encode_request(
        self, request: Request, *, carrier: Carrier | None = None
    ) -> Encoded[dict[str, Any]]: ...

    def decode_response(self, data: Any, *, provider: str | None = None) -> Response: ...

    def encode_response(
        self, response: Response, *, carrier: Carrier | None = None
    ) -> Encoded[dict[str, Any]]: ...

    def stream_decoder(self, *, provider: str | None = None) -> StreamDecoder: ...

    def stream_encoder(self, *, carrier: Carrier | None = None) -> StreamEncoder: ...


def get_codec(dialect: str) -> Codec:
    """The codec for ``dialect`` (``anthropic``, ``openai-chat`` or ``openai-responses``)."""
    from thinkwire.dialects.anthropic import CODEC as anthropic
    from thinkwire.dialects.openai_chat import CODEC as openai_chat
    from thinkwire.dialects.openai_responses import CODEC as openai_responses

    codecs: dict[str, Codec] = {
        "anthropic": anthropic,
        "openai-chat": openai_chat,
        "openai-responses": openai_responses,
    }
    try:
        return codecs[dialect]
    except KeyError:
        raise ValueError(f"unknown dialect {dialect!r}; expected one of {', '.join(codecs)}") from None


class EventReader:
    """The bytes of one ``dialect`` stream in, IR stream events out, chunk by chunk.

    ``feed`` returns the events the chunk completes; ``close`` those left at the end of the
    input, and raises ``DecodeError`` when the stream was cut short.
    """

    def __init__(self, dialect: Dialect, *, provider: str | None = None) -> None:
        self._parser = SSEParser()
        self._decoder = get_codec(dialect).stream_decoder(provider=provider)

    def feed(self, chunk: bytes) -> list[StreamEvent]:
        return [event for sse in self._parser.feed(chunk) for event in self._decoder.feed(sse)]

    def close(self) -> list[StreamEvent]:
        events = [event for sse in self._parser.close() for event in self._decoder.feed(sse)]
        return events + self._decoder.close()
