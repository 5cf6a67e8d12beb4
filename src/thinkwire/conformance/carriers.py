"""The carrier probe (OpenAI Chat): which reasoning fields does the server actually read?

The endpoint's own first turn (thinking, tool call) goes back followed by its tool result,
its reasoning written in each Chat carrier in turn (``reasoning_content``, ``reasoning``,
``reasoning_details``, inline ``<think>``), and the prompt-token usage of each answer is
compared with a baseline of the same history without the reasoning (or, where the endpoint
refuses that or announces it restored the reasoning, as thinkwire's server with its state
does, with the reasoning emptied, and then with a one-word placeholder instead of it, which no
state restores: it is not the reasoning the server recorded). A carrier whose count does not
rise by at least half the reasoning's words was silently ignored, as ollama#18534 (40 vs 1835
prompt tokens) and vllm#38488 ignore one.

This runs in two positions: the reasoning in the current tool loop (where DeepSeek-style
servers read it) and in an earlier turn, before a new user message (where servers that keep
all reasoning read it, and where a server that demands signed reasoning in the current turn
accepts a baseline). Unlike the tool loop, which sends each turn back as the server sent it, this
probe writes the turn from its blocks alone (``Response.to_message()``), so that a field the
server added beside its carrier (LiteLLM's ``thinking_blocks``) cannot stand in for the carrier
under test. The carrier the endpoint is expected to read (``--carrier``, else the one
it answered in) must be read in one of them; the others are reported.
"""

from __future__ import annotations

from typing import Any

from thinkwire.conformance.baseline import baseline, prompt_tokens, reached, threshold
from thinkwire.conformance.endpoint import Exchange
from thinkwire.conformance.probes import Context, Probe, Result, failed, not_applicable, passed
from thinkwire.conformance.scenario import (
    NEXT_QUESTION,
    base_request,
    first_messages,
    results_for,
    thinking_text,
    user,
)
from thinkwire.ir.blocks import CARRIERS, Carrier
from thinkwire.ir.conversation import Message


async def carrier_tokens(ctx: Context) -> Result:
    first = await ctx.first()
    if first.response is None:
        return not_applicable(f"no first turn to send back (refused: {first.error})", first)
    turn = first.response.to_message()
    words = len(thinking_text(turn.blocks).split())
    results = results_for(turn.blocks, ctx.dialect)
    own = await ctx.own_carrier()
    if not words or results is None or own is None:
        return not_applicable("the first turn has no thinking before a tool call to send back", first)
    positions: dict[str, Any] = {}
    read: set[Carrier] = set()
    refused: dict[Carrier, Exchange] = {}
    evidence: list[Exchange] = []
    for position in ("current-turn", "earlier-turn"):

        def history(assistant: Message, position: str = position) -> tuple[Message, ...]:
            messages = (*first_messages(), assistant, results)
            return (*messages, user(NEXT_QUESTION)) if position == "earlier-turn" else messages

        async def send(
            assistant: Message, carrier: Carrier | None = None, *, position: str = position
        ) -> Exchange:
            request = base_request(ctx.dialect, history(assistant, position))
            return await ctx.wire.send(request, carrier=carrier)

        async def send_variant(
            assistant: tuple[Message, ...], _off: bool, *, position: str = position
        ) -> Exchange:
            return await send(assistant[0], own, position=position)

        base, row = await baseline(send_variant, (turn,))
        for carrier in CARRIERS:
            exchange = await send(turn, carrier)
            tokens = prompt_tokens(exchange)
            if not exchange.ok or tokens is None:
                row[carrier] = f"refused: {exchange.error}" if not exchange.ok else "no usage reported"
                if not exchange.ok:
                    refused.setdefault(carrier, exchange)
                continue
            row[carrier] = tokens
            if carrier == own:
                evidence.append(exchange)
            if base is not None and reached(tokens, base, words):
                read.add(carrier)
        positions[position] = row
    details: dict[str, Any] = {
        "expected": own,
        "read": sorted(read),
        "ignored_or_refused": sorted(set(CARRIERS) - read),
        "reasoning_words": words,
        "threshold_tokens": threshold(words),
        "prompt_tokens": positions,
    }
    if not any("baseline" in row for row in positions.values()):
        return not_applicable(
            "the endpoint refused every history without its reasoning, so there is no baseline to compare "
            "with (thought-recall still tells whether it reads it)",
            *evidence,
            **details,
        )
    others = ", ".join(sorted(read - {own})) or "none"
    if own in read:
        return passed(
            f"`{own}` is read (prompt tokens rise); other carriers read: {others}", *evidence, **details
        )
    if own in refused and not evidence:
        return failed(f"the endpoint refuses reasoning in its own carrier `{own}`", refused[own], **details)
    return failed(
        f"`{own}` is accepted but silently ignored: prompt tokens do not rise (see prompt_tokens); "
        f"carriers read: {', '.join(sorted(read)) or 'none'}",
        *evidence,
        **details,
    )


PROBES = (
    Probe(
        "carrier-tokens",
        "carrier",
        "The server reads reasoning in its carrier",
        "The same reasoning sent back in each Chat carrier raises prompt-token usage over a baseline "
        "without it; the expected carrier (--carrier, else the one the endpoint answers in) must.",
        "1 OpenAI Chat, 2.9, 2.14",
        carrier_tokens,
        frozenset({"openai-chat"}),
    ),
)
