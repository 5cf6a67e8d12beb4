"""The thought-recall probe: does earlier thinking reach the model?

In the first turn the model settles a value in its thinking only (a secret number; the scripted
emulators note a code word) and calls a tool. After the tool result it must use that value,
which it can only do if the server put the earlier thinking back into its prompt. Each of
``repeat`` trials runs the scenario with every turn sent back unchanged (*kept*) and, as its
paired control, with the thinking stripped from the history (*stripped*); odd trials read
whole responses, even ones streams, so both are judged. A control the endpoint refuses (it
demands its thinking back) counts as not recalled, and so does one whose stripped thinking
the endpoint announces it restored (a thinkwire gateway with its state store: the header
``thinkwire-restored``), which is reported as such.

Recall is a model's behaviour; whether the thinking reached the prompt is a wire fact. Both
are measured, and the verdict says only what they show:

- ``pass``: kept trials recall significantly more often than their controls (exact McNemar
  test on the paired trials, ``thinkwire.evals.stats``, two-sided, 5%);
- ``fail``: the wire shows the thinking never reached the prompt (the prompt tokens with it are
  no higher than without it, ``baseline``) and recall does not say otherwise; or every kept
  trial was refused, or every kept trial whose thinking held a value (the others noted none:
  a proxy that drops thinking from whole answers) was refused when sent back;
- ``inconclusive`` otherwise, with the trials that would make the observed difference
  significant (none when the rates are equal: the model did not use the value, which does not
  say the endpoint dropped it);
- ``n/a`` when the model never settled a value in its thinking alone (and no trial that did
  was refused).

Rates come with Wilson score intervals (95%) in ``details``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

import msgspec

from thinkwire.conformance.baseline import baseline, prompt_tokens, reached, threshold
from thinkwire.conformance.endpoint import Exchange
from thinkwire.conformance.probes import Context, Probe, Result, failed, inconclusive, not_applicable, passed
from thinkwire.conformance.scenario import (
    NEXT_QUESTION,
    Loop,
    base_request,
    first_messages,
    noted_value,
    results_for,
    strip_thinking,
    thinking_text,
    tool_loop,
    user,
    visible_text,
)
from thinkwire.evals.stats import mcnemar_exact
from thinkwire.ir.conversation import Message, Request, ThinkingConfig

Z95: Final = 1.959963984540054
ALPHA: Final = 0.05
REPEAT: Final = 6
"""The default trials per condition: the fewest at which recall in every kept trial and in no
control is significant (McNemar p = 2/64)."""
MOST_TRIALS: Final = 1000
"""The largest number of trials ``trials_needed`` looks at."""


def wilson(successes: int, trials: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion (``(0, 1)`` for no trials)."""
    if trials <= 0:
        return 0.0, 1.0
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    low = 0.0 if successes <= 0 else max(0.0, centre - half)
    high = 1.0 if successes >= trials else min(1.0, centre + half)
    return low, high


def trials_needed(kept: float, stripped: float, alpha: float = ALPHA) -> int | None:
    """The fewest paired trials at which rates ``kept`` and ``stripped`` (independent trials)
    give a McNemar p-value below ``alpha``; ``None`` when ``kept`` is not higher or more than
    ``MOST_TRIALS`` would be needed."""
    if kept <= stripped:
        return None
    only_kept, only_stripped = kept * (1 - stripped), stripped * (1 - kept)
    for n in range(1, MOST_TRIALS + 1):
        if mcnemar_exact(round(n * only_kept), round(n * only_stripped)) < alpha:
            return n
    return None


@dataclass
class Trial:
    """One run of the scenario: the value noted, and whether the answer used it."""

    number: int
    stream: bool
    loop: Loop
    value: str | None
    outcome: str
    """``recalled``, ``forgotten``, ``no-value`` (none noted), ``leaked`` (noted, but visible in
    the first turn), ``refused``, ``no-answer``, or for the control ``restored`` (the server
    says it put the stripped thinking back: a thinkwire gateway's ``thinkwire-restored``)."""

    @property
    def recalled(self) -> bool:
        return self.outcome == "recalled"


async def trial(ctx: Context, number: int, *, control: bool) -> Trial:
    stream = number % 2 == 0

    async def send(request: Request) -> Exchange:
        return await ctx.send(request, stream=stream)

    loop = await tool_loop(
        send, ctx.dialect, first_messages(number), history=strip_thinking if control else None
    )

    def done(outcome: str, value: str | None = None) -> Trial:
        return Trial(number, stream, loop, value, outcome)

    turns = loop.turns
    if not turns:
        return done("refused")
    value = noted_value(thinking_text(turns[0]))
    if value is None:
        return done("no-value")
    if value in visible_text(turns[0]):
        return done("leaked", value)
    if loop.refused is not None:
        return done("refused", value)
    if control and any(e.restored for e in loop.exchanges):
        return done("restored", value)
    if len(turns) < 2:
        return done("no-answer", value)
    later = "\n".join(visible_text(t) for t in turns[1:])
    return done("recalled" if value in later else "forgotten", value)


def _rate(trials: list[Trial]) -> dict[str, Any]:
    hits = sum(t.recalled for t in trials)
    low, high = wilson(hits, len(trials))
    outcomes: dict[str, int] = {}
    for t in trials:
        outcomes[t.outcome] = outcomes.get(t.outcome, 0) + 1
    return {
        "recalled": hits,
        "trials": len(trials),
        "rate": hits / len(trials) if trials else 0.0,
        "ci95": [low, high],
        "outcomes": outcomes,
    }


async def on_the_wire(ctx: Context, kept: list[Trial], stripped: list[Trial]) -> dict[str, Any]:
    """Whether the kept thinking reached the prompt: the prompt tokens of the first kept trial's
    second request (its first turn sent back with its thinking) against the same history
    without it (the paired control's request when the server took it as it was, else a
    ``baseline``; where the server refuses every current turn without its thinking, as
    OpenRouter's signature rules do, both measured with the turn an earlier one, before a new
    user message). ``observed``: ``reached``, ``missing`` or ``unknown`` (with ``why``)."""
    pair = next(
        (
            (k, s)
            for k, s in zip(kept, stripped, strict=True)
            if k.value is not None and len(k.loop.exchanges) > 1 and k.loop.exchanges[1].ok
        ),
        None,
    )
    if pair is None:
        return {"observed": "unknown", "why": "no kept trial sent a noted value back"}
    k, s = pair
    words = len(thinking_text(k.loop.turns[0]).split())
    with_it = prompt_tokens(k.loop.exchanges[1])
    if with_it is None:
        return {"observed": "unknown", "why": "the endpoint reports no prompt tokens"}
    control = s.loop.exchanges[1] if len(s.loop.exchanges) > 1 else None
    row: dict[str, Any]
    if control is not None and control.ok and not control.restored and prompt_tokens(control) is not None:
        without, row = prompt_tokens(control), {"baseline": "the stripped control"}
    else:
        without, row = await _baseline(ctx, k, earlier=False)
    if without is None:  # every current-turn history without it was refused: an earlier turn
        without, earlier = await _baseline(ctx, k, earlier=True)
        row["earlier-turn"] = earlier
        if without is not None:
            with_it = prompt_tokens(await _send(ctx, k, k.loop.exchanges[0].turn, earlier=True))
            row["earlier-turn"]["with_thinking"] = with_it
    if without is None or with_it is None:
        return {"observed": "unknown", "why": "no history without the thinking was accepted", **row}
    observed = "reached" if reached(with_it, without, words) else "missing"
    figures = {"with_thinking": with_it, "without": without, "words": words, "threshold": threshold(words)}
    return {"observed": observed, **figures, **row}


async def _send(
    ctx: Context, kept: Trial, turn: tuple[Message, ...], *, earlier: bool, off: bool = False
) -> Exchange:
    """``kept``'s second request with ``turn`` as its first turn; ``earlier``: followed by a new
    user message (the turn is then an earlier one); ``off``: thinking switched off."""
    results = results_for(kept.loop.turns[0], ctx.dialect)
    assert results is not None  # the loop went on: the first turn called a tool
    after = (user(NEXT_QUESTION),) if earlier else ()
    request = base_request(ctx.dialect, (*first_messages(kept.number), *turn, results, *after))
    if off:
        request = msgspec.structs.replace(request, thinking=ThinkingConfig(mode="disabled"))
    return await ctx.send(request)


async def _baseline(ctx: Context, kept: Trial, *, earlier: bool) -> tuple[int | None, dict[str, Any]]:
    """The prompt tokens of ``kept``'s second request with its first turn's thinking left out."""

    async def send(turn: tuple[Message, ...], off: bool) -> Exchange:
        return await _send(ctx, kept, turn, earlier=earlier, off=off)

    return await baseline(send, kept.loop.exchanges[0].turn, switch_off=ctx.dialect == "anthropic")


def _wire_phrase(wire: dict[str, Any]) -> str:
    if wire["observed"] == "unknown":
        return f"the prompt tokens do not tell whether it reached the prompt: {wire['why']}"
    verb = "reached" if wire["observed"] == "reached" else "did not reach"
    where = " (measured in an earlier turn)" if "earlier-turn" in wire else ""
    return (
        f"the thinking {verb} the prompt{where}: {wire['with_thinking']} prompt tokens with it, "
        f"{wire['without']} without ({wire['words']} words of thinking)"
    )


async def thought_recall(ctx: Context) -> Result:
    kept = [await trial(ctx, n + 1, control=False) for n in range(ctx.repeat)]
    stripped = [await trial(ctx, n + 1, control=True) for n in range(ctx.repeat)]
    a, b = _rate(kept), _rate(stripped)
    kept_only = sum(k.recalled and not s.recalled for k, s in zip(kept, stripped, strict=True))
    stripped_only = sum(s.recalled and not k.recalled for k, s in zip(kept, stripped, strict=True))
    p = mcnemar_exact(kept_only, stripped_only)
    significant = p < ALPHA and kept_only > stripped_only
    needed = trials_needed(a["rate"], b["rate"])
    modes = {
        mode: {
            "kept": _rate([t for t in kept if t.stream is stream]),
            "stripped": _rate([t for t in stripped if t.stream is stream]),
        }
        for mode, stream in (("whole", False), ("streamed", True))
        if any(t.stream is stream for t in kept)
    }
    details: dict[str, Any] = {
        "kept": a,
        "stripped": b,
        "modes": modes,
        "mcnemar": {"kept_only": kept_only, "stripped_only": stripped_only, "p_value": p},
        "significant": significant,
        "trials_needed": needed,
    }
    shown = next((t for t in kept if t.loop.exchanges), None)
    evidence = [shown.loop.exchanges[0], shown.loop.exchanges[-1]] if shown is not None else []
    figures = (
        f"kept {a['recalled']}/{a['trials']} ({a['rate']:.0%}, CI {a['ci95'][0]:.2f}-{a['ci95'][1]:.2f}), "
        f"stripped {b['recalled']}/{b['trials']} ({b['rate']:.0%}), McNemar p={p:.2g}"
    )
    if a["outcomes"].get("refused") == len(kept):
        return failed(f"every kept trial was refused ({figures})", *evidence, **details)
    valued = [t for t in kept if t.value is not None and t.outcome != "leaked"]
    if valued and all(t.outcome == "refused" for t in valued):
        refusal = next(t.loop.refused for t in valued if t.loop.refused is not None)
        return failed(
            f"every kept trial whose thinking held a value ({len(valued)} of {len(kept)}) was refused when "
            f"sent back: {refusal.error} ({figures})",
            refusal,
            *evidence,
            **details,
        )
    if all(t.outcome in ("no-value", "leaked", "refused") for t in kept):
        return not_applicable(
            f"nothing to recall: the model never settled a value in its thinking alone ({a['outcomes']})",
            *evidence,
            **details,
        )
    if significant:
        return passed(f"earlier thinking reaches the model: {figures}", *evidence, **details)
    wire = details["wire"] = await on_the_wire(ctx, kept, stripped)
    if wire["observed"] == "missing":
        return failed(
            f"the endpoint drops earlier thinking: {_wire_phrase(wire)}; {figures}", *evidence, **details
        )
    if needed is not None:
        advice = f"about {needed} trials per condition (--repeat) would show it at these rates"
    elif a["rate"] > b["rate"]:
        advice = f"more than {MOST_TRIALS} trials would be needed to show it"
    else:
        advice = "the model did not use the value more with its thinking (that does not say it was dropped)"
    return inconclusive(
        f"recall is not significantly higher with the thinking kept ({figures}): {advice}; "
        f"{_wire_phrase(wire)}",
        *evidence,
        **details,
    )


PROBES = (
    Probe(
        "thought-recall",
        "behavioural",
        "Earlier thinking reaches the model",
        "A value the model settled only in its thinking before a tool call is used after the tool result "
        "(the server renders earlier thinking into the prompt) significantly more often than with the "
        "thinking stripped, whole and streamed; a fail needs the wire to show the thinking missing.",
        "2.9, 2.16",
        thought_recall,
    ),
)
