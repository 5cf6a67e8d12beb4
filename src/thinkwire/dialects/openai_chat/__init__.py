"""The OpenAI Chat Completions dialect (``POST /v1/chat/completions``) and its reasoning variants.

The official API has no reasoning field, so every vendor added one; this codec reads all four
carriers (``reasoning_content``, ``reasoning``, ``reasoning_details``, inline ``<think>``
tags -- see ``carriers``) and writes whichever the caller names. ``carrier=None`` writes each
thinking block back in the carrier it arrived in (blocks from other dialects go in
``reasoning_content``); a named carrier is used for every block, with a loss for what it
cannot hold (a signature outside ``reasoning_details``, several blocks merged into one string,
thinking placed after text or a tool call that the fixed slots move).

``request``, ``response``, ``stream`` (decoding) and ``stream_encoder`` hold the mappings;
``messages``, ``assistant`` and ``parts`` the message mapping they share; ``carriers`` the
reasoning carriers and the streaming ``<think>`` splitter.
"""

from __future__ import annotations

from typing import Any

from thinkwire.dialects.base import Codec
from thinkwire.dialects.openai_chat.request import decode_request, encode_request
from thinkwire.dialects.openai_chat.response import decode_response, encode_response
from thinkwire.dialects.openai_chat.stream import ChatStreamDecoder
from thinkwire.dialects.openai_chat.stream_encoder import ChatStreamEncoder
from thinkwire.ir.blocks import Carrier, Dialect
from thinkwire.ir.conversation import Request, Response
from thinkwire.ir.losses import Encoded


class OpenAIChatCodec:
    """The OpenAI Chat codec; ``carrier`` picks the reasoning carrier written on encode."""

    dialect: Dialect = "openai-chat"

    def decode_request(self, data: Any, *, provider: str | None = None) -> Request:
        return decode_request(data, provider=provider)

    def encode_request(self, request: Request, *, carrier: Carrier | None = None) -> Encoded[dict[str, Any]]:
        return encode_request(request, carrier=carrier)

    def decode_response(self, data: Any, *, provider: str | None = None) -> Response:
        return decode_response(data, provider=provider)

    def encode_response(
        self, response: Response, *, carrier: Carrier | None = None
    ) -> Encoded[dict[str, Any]]:
        return encode_response(response, carrier=carrier)

    def stream_decoder(self, *, provider: str | None = None) -> ChatStreamDecoder:
        return ChatStreamDecoder(provider)

    def stream_encoder(self, *, carrier: Carrier | None = None) -> ChatStreamEncoder:
        return ChatStreamEncoder(carrier)


CODEC: Codec = OpenAIChatCodec()

__all__ = ["CODEC", "ChatStreamDecoder", "ChatStreamEncoder", "OpenAIChatCodec"]
