"""The thought-recall probe: does the endpoint render earlier thinking into the prompt?

In the first turn the model settles a value in its thinking only (a secret number; the scripted
emulators note a code word) and calls a tool. After the tool result it must use that value,
which it can only do if the server put the earlier thinking back into its prompt. Each trial is
run ``repeat`` times with every turn sent back unchanged (*kept*) and as a control with the
thinking stripped from the history (*stripped*): the kept rate should be high, the control's
low (the value was never visible; a model guessing it shows up here). A control the endpoint
refuses (it demands its thinking back) counts as not recalled, and so does one whose stripped
thinking the endpoint announces it restored (a thinkwire gateway with its state store: the
header ``thinkwire-restored``), which is reported as such.

Verdict: ``pass`` when the kept rate is at least one half and above the control's. Rates come
with Wilson score intervals (95%); with ``--repeat`` of 10 or more, intervals that do not
overlap make the difference significant, which ``details`` reports.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from thinkwire.conformance.endpoint import Exchange
from thinkwire.conformance.probes import Context, Probe, Result, failed, passed
from thinkwire.conformance.scenario import (
    Loop,
    first_messages,
    noted_value,
    strip_thinking,
    thinking_text,
    tool_loop,
    visible_text,
)
from thinkwire.ir.conversation import Request

Z95 = 1.959963984540054


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


@dataclass
class Trial:
    """One run of the scenario: the value noted, and whether the answer used it."""

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
    async def send(request: Request) -> Exchange:
        return await ctx.send(request)

    loop = await tool_loop(
        send, ctx.dialect, first_messages(number), history=strip_thinking if control else None
    )
    turns = loop.turns
    if not turns:
        return Trial(loop, None, "refused")
    value = noted_value(thinking_text(turns[0]))
    if value is None:
        return Trial(loop, None, "no-value")
    if value in visible_text(turns[0]):
        return Trial(loop, value, "leaked")
    if loop.refused is not None:
        return Trial(loop, value, "refused")
    if control and any(e.restored for e in loop.exchanges):
        return Trial(loop, value, "restored")
    later = "\n".join(visible_text(t) for t in turns[1:])
    if len(turns) < 2:
        return Trial(loop, value, "no-answer")
    return Trial(loop, value, "recalled" if value in later else "forgotten")


def _rate(trials: list[Trial]) -> dict[str, Any]:
    hits = sum(t.recalled for t in trials)
    low, high = wilson(hits, len(trials))
    outcomes: dict[str, int] = {}
    for t in trials:
        outcomes[t.outcome] = outcomes.get(t.outcome, 0) + 1
    return {
        "recalled": hits,
        "trials": len(trials),
        "rate": hits / len(trials),
        "ci95": [low, high],
        "outcomes": outcomes,
    }


async def thought_recall(ctx: Context) -> Result:
    kept = [await trial(ctx, n + 1, control=False) for n in range(ctx.repeat)]
    stripped = [await trial(ctx, n + 1, control=True) for n in range(ctx.repeat)]
    a, b = _rate(kept), _rate(stripped)
    details = {"kept": a, "stripped": b, "significant": a["ci95"][0] > b["ci95"][1]}
    shown = next((t for t in kept if t.loop.exchanges), None)
    evidence = [shown.loop.exchanges[0], shown.loop.exchanges[-1]] if shown is not None else []
    figures = (
        f"kept {a['recalled']}/{a['trials']} ({a['rate']:.0%}, CI {a['ci95'][0]:.2f}-{a['ci95'][1]:.2f}), "
        f"stripped {b['recalled']}/{b['trials']} ({b['rate']:.0%})"
    )
    if a["outcomes"].get("refused") == len(kept):
        return failed(f"every kept trial was refused ({figures})", *evidence, **details)
    if a["outcomes"].get("no-value", 0) + a["outcomes"].get("leaked", 0) == len(kept):
        return failed(
            f"the model never settled a value in its thinking alone ({figures})", *evidence, **details
        )
    if a["rate"] >= 0.5 and a["recalled"] > b["recalled"]:
        return passed(f"earlier thinking reaches the model: {figures}", *evidence, **details)
    return failed(f"the model does not see its earlier thinking: {figures}", *evidence, **details)


PROBES = (
    Probe(
        "thought-recall",
        "behavioural",
        "Earlier thinking reaches the model",
        "A value the model settled only in its thinking before a tool call is used after the tool result "
        "(the server renders earlier thinking into the prompt); with the thinking stripped it is not.",
        "2.9, 2.16",
        thought_recall,
    ),
)
