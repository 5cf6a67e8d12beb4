"""The ``thinking-hidden`` probe: thinking never shows up as visible text.

A proxy that cannot map reasoning may put it into the answer's text (ant2oai puts
``reasoning_content`` into a visible text block; claude-code-proxy turns it into text; a
Responses server may write the reasoning into ``output_text``). The user then reads the
model's thinking, and a client sends it back as text the model starts copying (WIRE.md 2.12).
``leak`` finds it in a turn's visible text: think tags, the scripted models' thinking-only
note, or the text of a thinking block the endpoint sent elsewhere (the same turn streamed, or
whole).
"""

from __future__ import annotations

import re
from typing import Final

from thinkwire.conformance.endpoint import Exchange
from thinkwire.conformance.probes import Context, Probe, Result, failed, not_applicable, passed
from thinkwire.ir.blocks import Block, Text, Thinking

MARKERS: Final = (
    re.compile(r"</?think(?:ing)?>"),
    re.compile(r"I note the code word [a-z]+-[0-9a-f]{4}"),  # thinkwire's scripted models think this
)
"""Text that is thinking wherever it shows."""
SHORTEST: Final = 24
"""Thinking texts shorter than this are not looked for in visible text (too likely by chance)."""


def thinking_texts(exchanges: list[Exchange]) -> list[str]:
    """Every thinking text the endpoint sent, long enough to look for."""
    texts = {
        b.text.strip()
        for e in exchanges
        if e.response is not None
        for b in e.response.blocks
        if isinstance(b, Thinking) and len(b.text.strip()) >= SHORTEST
    }
    return sorted(texts)


def leak(blocks: tuple[Block, ...], thinking: list[str], extra_text: str = "") -> str | None:
    """What of ``blocks``' visible text (and ``extra_text``) is thinking, quoted, or ``None``."""
    visible = "\n".join(b.text for b in blocks if isinstance(b, Text)) + extra_text
    if not visible:
        return None
    for marker in MARKERS:
        found = marker.search(visible)
        if found:
            return found.group(0)
    for text in thinking:
        piece = text[:80]
        if piece in visible:
            return piece
    return None


def _blocks(exchange: Exchange) -> tuple[Block, ...]:
    return exchange.response.blocks if exchange.response is not None else ()


def _output_text(exchange: Exchange) -> str:
    """A Responses answer's top-level ``output_text``, which some servers write."""
    data = exchange.data
    value = data.get("output_text") if isinstance(data, dict) else None
    return "\n" + value if isinstance(value, str) else ""


async def thinking_hidden(ctx: Context) -> Result:
    exchanges = [e for e in await ctx.observed() if e.response is not None]
    thinking = thinking_texts(exchanges)
    for exchange in exchanges:
        found = leak(_blocks(exchange), thinking, _output_text(exchange))
        if found is not None:
            kind = "streamed" if exchange.stream else "whole"
            return failed(f"thinking shows as visible text in a {kind} response: {found!r}", exchange)
    if not thinking and not any(isinstance(b, Thinking) for e in exchanges for b in _blocks(e)):
        return not_applicable(
            "no thinking came back in any response and none shows as text, so there was nothing to hide",
            *exchanges[:1],
        )
    return passed(f"no thinking in the visible text of {len(exchanges)} responses", *exchanges[:1])


PROBES = (
    Probe(
        "thinking-hidden",
        "structural",
        "Thinking never shows as visible text",
        "No response's visible text (text blocks, Responses output_text) holds thinking: think tags, "
        "or the text of a thinking block the endpoint sent elsewhere.",
        "2.12",
        thinking_hidden,
    ),
)
