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
accepts a baseline). The carrier the endpoint is expected to read (``--carrier``, else the one
it answered in) must be read in one of them; the others are reported.
"""

from __future__ import annotations

from typing import Any

from thinkwire.conformance.endpoint import Exchange
from thinkwire.conformance.probes import Context, Probe, Result, failed, not_applicable, passed
from thinkwire.conformance.scenario import (
    base_request,
    blank_thinking,
    first_messages,
    results_for,
    strip_thinking,
    thinking_text,
    user,
)
from thinkwire.ir.blocks import CARRIERS, Carrier
from thinkwire.ir.conversation import Message

NEXT_QUESTION = "Now check Paris too."
PLACEHOLDER = "ok"
"""The reasoning of the last baseline: one word, which no server's state restores (it is not
what the server recorded)."""


def _tokens(exchange: Exchange) -> int | None:
    usage = exchange.response.usage if exchange.response is not None else None
    return usage.input_tokens if usage is not None else None


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
    threshold = max(1, words // 2)
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

        row: dict[str, Any] = {}
        baseline: int | None = None
        variants = (
            ("stripped", strip_thinking(turn)),
            ("emptied", blank_thinking(turn)),
            ("placeholder", blank_thinking(turn, PLACEHOLDER)),
        )
        for name, variant in variants:
            exchange = await send(variant, own)
            if exchange.restored:  # the server put the reasoning back: no baseline
                row[name] = "restored by the server"
                continue
            row[name] = _tokens(exchange) if exchange.ok else f"refused: {exchange.error}"
            baseline = _tokens(exchange) if exchange.ok else None
            if baseline is not None:
                row["baseline"] = name
                break
        for carrier in CARRIERS:
            exchange = await send(turn, carrier)
            tokens = _tokens(exchange)
            if not exchange.ok or tokens is None:
                row[carrier] = f"refused: {exchange.error}" if not exchange.ok else "no usage reported"
                if not exchange.ok:
                    refused.setdefault(carrier, exchange)
                continue
            row[carrier] = tokens
            if carrier == own:
                evidence.append(exchange)
            if baseline is not None and tokens - baseline >= threshold:
                read.add(carrier)
        positions[position] = row
    details: dict[str, Any] = {
        "expected": own,
        "read": sorted(read),
        "ignored_or_refused": sorted(set(CARRIERS) - read),
        "reasoning_words": words,
        "threshold_tokens": threshold,
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
