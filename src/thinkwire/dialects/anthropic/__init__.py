"""The Anthropic Messages dialect (``POST /v1/messages``): requests, responses and streams.

``CODEC`` is the entry point; ``request``, ``response``, ``stream`` (decoding) and
``stream_encoder`` hold the mappings, ``blocks`` the content-block mapping they share.
Thinking blocks decode with ``Origin(dialect="anthropic", provider=<provider>,
model=<response model>)``; a signature or redacted block of another family is never
written into an Anthropic slot (a loss instead).
"""

from __future__ import annotations

from typing import Any

from thinkwire.dialects.anthropic.request import decode_request, encode_request
from thinkwire.dialects.anthropic.response import decode_response, encode_response
from thinkwire.dialects.anthropic.stream import AnthropicStreamDecoder
from thinkwire.dialects.anthropic.stream_encoder import AnthropicStreamEncoder
from thinkwire.dialects.base import Codec
from thinkwire.ir.blocks import Carrier, Dialect
from thinkwire.ir.conversation import Request, Response
from thinkwire.ir.losses import Encoded


class AnthropicCodec:
    """The Anthropic codec. ``carrier`` is accepted for the common interface and ignored:
    Anthropic has one place for reasoning, the ``thinking`` block."""

    dialect: Dialect = "anthropic"

    def decode_request(self, data: Any, *, provider: str | None = None) -> Request:
        return decode_request(data, provider=provider)

    def encode_request(self, request: Request, *, carrier: Carrier | None = None) -> Encoded[dict[str, Any]]:
        return encode_request(request)

    def decode_response(self, data: Any, *, provider: str | None = None) -> Response:
        return decode_response(data, provider=provider)

    def encode_response(
        self, response: Response, *, carrier: Carrier | None = None
    ) -> Encoded[dict[str, Any]]:
        return encode_response(response)

    def stream_decoder(self, *, provider: str | None = None) -> AnthropicStreamDecoder:
        return AnthropicStreamDecoder(provider)

    def stream_encoder(self, *, carrier: Carrier | None = None) -> AnthropicStreamEncoder:
        return AnthropicStreamEncoder()


CODEC: Codec = AnthropicCodec()

__all__ = ["CODEC", "AnthropicCodec", "AnthropicStreamDecoder", "AnthropicStreamEncoder"]
