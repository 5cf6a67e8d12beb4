"""Prompt tokens without the reasoning: the baseline that shows whether reasoning reached the
prompt at all (a wire observation, not a model's answer).

``baseline`` sends a history whose assistant turn has its reasoning left out, trying in turn
what servers accept: the turn ``stripped`` of it, its thinking ``emptied``, a one-word
``placeholder`` (which no server's state restores: it is not what the server recorded), and
where the dialect lets thinking be switched off (Anthropic) the stripped turn ``unthinking``
(thinking disabled, so no signed thinking is demanded back). A variant the server refuses, or
announces it restored (thinkwire's ``thinkwire-restored``), is passed over. ``reached`` compares
the prompt tokens with the reasoning against that baseline: reasoning of ``words`` words that
reached the prompt adds at least half as many tokens.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final, Literal

from thinkwire.conformance.endpoint import Exchange
from thinkwire.conformance.scenario import blank_thinking, strip_thinking
from thinkwire.ir.conversation import Message

PLACEHOLDER: Final = "ok"
"""The reasoning of the placeholder baseline: one word, which no server's state restores."""

Variant = Literal["stripped", "emptied", "placeholder", "unthinking"]
SendVariant = Callable[[tuple[Message, ...], bool], Awaitable[Exchange]]
"""Sends the history with this assistant turn; ``True``: with thinking switched off."""
VARIANTS: Final[tuple[tuple[Variant, Callable[[Message], Message], bool], ...]] = (
    ("stripped", strip_thinking, False),
    ("emptied", blank_thinking, False),
    ("placeholder", lambda m: blank_thinking(m, PLACEHOLDER), False),
    ("unthinking", strip_thinking, True),
)


def prompt_tokens(exchange: Exchange) -> int | None:
    """Every prompt token the answer counts. Anthropic's ``input_tokens`` leaves out the
    tokens read from or written to its cache, so they are added back (a server that reuses a
    cached prefix would otherwise seem to read less of a longer prompt)."""
    usage = exchange.response.usage if exchange.response is not None else None
    if usage is None or usage.input_tokens is None:
        return None
    if exchange.dialect != "anthropic":
        return usage.input_tokens
    written = usage.extra.get("anthropic", {}).get("cache_creation_input_tokens")
    return usage.input_tokens + (usage.cache_read_tokens or 0) + (written if isinstance(written, int) else 0)


async def baseline(
    send: SendVariant, turn: tuple[Message, ...], *, switch_off: bool = False
) -> tuple[int | None, dict[str, Any]]:
    """The prompt tokens of the first variant the server accepts (``switch_off``: the
    ``unthinking`` one may be tried), and what each variant tried got (``row``; its
    ``baseline`` names the variant counted)."""
    row: dict[str, Any] = {}
    for name, variant, off in VARIANTS:
        if off and not switch_off:
            continue
        exchange = await send(tuple(map(variant, turn)), off)
        if exchange.restored:
            row[name] = "restored by the server"
            continue
        tokens = prompt_tokens(exchange)
        row[name] = tokens if exchange.ok else f"refused: {exchange.error}"
        if tokens is not None:
            row["baseline"] = name
            return tokens, row
    return None, row


def threshold(words: int) -> int:
    """The fewest prompt tokens reasoning of ``words`` words adds when it is rendered."""
    return max(1, words // 2)


def reached(with_reasoning: int, without: int, words: int) -> bool:
    return with_reasoning - without >= threshold(words)
