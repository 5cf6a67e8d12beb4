"""The OpenAI Responses dialect (``POST /v1/responses``).

Modules: ``request`` and ``response`` map whole bodies; ``items`` maps input / output items
onto blocks (``reasoning`` holds the reasoning-item rules); ``stream_decode`` and
``stream_encode`` map the typed ``response.*`` server-sent events. ``carrier`` is ignored:
Responses has exactly one place for reasoning, the reasoning item.
"""

from __future__ import annotations

from typing import Any

from thinkwire.dialects.openai_responses.request import decode_request, encode_request
from thinkwire.dialects.openai_responses.response import decode_response, encode_response
from thinkwire.dialects.openai_responses.stream_decode import ResponsesStreamDecoder
from thinkwire.dialects.openai_responses.stream_encode import ResponsesStreamEncoder
from thinkwire.ir.blocks import Carrier, Dialect
from thinkwire.ir.conversation import Request, Response
from thinkwire.ir.losses import Encoded


class ResponsesCodec:
    """The ``openai-responses`` codec (see ``thinkwire.dialects.base.Codec``)."""

    dialect: Dialect = "openai-responses"

    def decode_request(self, data: Any, *, provider: str | None = None) -> Request:
        return decode_request(data, provider)

    def encode_request(self, request: Request, *, carrier: Carrier | None = None) -> Encoded[dict[str, Any]]:
        return encode_request(request)

    def decode_response(self, data: Any, *, provider: str | None = None) -> Response:
        return decode_response(data, provider)

    def encode_response(
        self, response: Response, *, carrier: Carrier | None = None
    ) -> Encoded[dict[str, Any]]:
        return encode_response(response)

    def stream_decoder(self, *, provider: str | None = None) -> ResponsesStreamDecoder:
        return ResponsesStreamDecoder(provider)

    def stream_encoder(self, *, carrier: Carrier | None = None) -> ResponsesStreamEncoder:
        return ResponsesStreamEncoder()


CODEC = ResponsesCodec()

__all__ = ["CODEC", "ResponsesCodec", "ResponsesStreamDecoder", "ResponsesStreamEncoder"]
