"""Thinking budgets: what a request's thinking config makes the local engine do.

``plan_thinking(config, max_tokens)`` reads ``Request.thinking`` as the codecs decode it:

- Anthropic ``thinking: {"type": "enabled", "budget_tokens": N}`` -> ``mode="enabled"``,
  ``budget_tokens=N``; ``{"type": "disabled"}`` / ``{"type": "adaptive"}`` -> ``mode``;
  ``output_config.effort`` -> ``effort`` (``low``, ``medium``, ``high``, ``max``);
- OpenAI Chat ``reasoning_effort`` and Responses ``reasoning.effort`` -> ``effort`` alone, no
  ``mode`` (``none``, ``minimal``, ``low``, ``medium``, ``high``, ``xhigh``).

The first rule that applies gives the ``ThinkingPlan`` (``max_tokens``: the request's, else the
engine's default; "unbounded" is how the engine ran before it read the config — thinking may
use the whole turn):

================================================  ==========================================
the request says                                  plan
================================================  ==========================================
no thinking config                                unbounded
``mode="disabled"``                               thinking off
``budget_tokens`` N, N < 1                        thinking off (a budget of no tokens)
``budget_tokens`` N, 1 <= N < ``max_tokens``      at most N thinking tokens
``budget_tokens`` N, N >= ``max_tokens``          unbounded (clamped to ``max_tokens``)
``effort="none"``                                 thinking off (OpenAI's "no reasoning")
``effort`` ``minimal`` / ``low`` / ``medium``     1/8, 1/4, 1/2 of ``max_tokens`` (at least 1)
``effort`` ``high`` / ``xhigh`` / ``max``         unbounded
another effort, ``enabled`` / ``adaptive`` alone  unbounded (``adaptive``: the model decides)
================================================  ==========================================

Anthropic's own limits (``budget_tokens >= 1024`` and ``< max_tokens``) are not enforced: a
small budget is a sensible request to a small local model, and one of ``max_tokens`` or more
puts no cap on a turn that ``max_tokens`` caps anyway. ``minimal`` still thinks (OpenAI's
"very few reasoning tokens"); only ``none`` turns thinking off.

**Thinking off.** The engine pre-fills the template's ``no_think_prefill`` (an empty, closed
think element, what Qwen3's template writes for ``enable_thinking=False``), builds the grammar
with ``thinking=False`` (answer or calls from the first token), and parses with ``think=False``:
the response holds no thinking block, and the renderer writes the turn back after the same
empty element (the parser's ``no_think`` record), so the next prompt still extends this one.

**Budget forcing** (as in s1, "simple test-time scaling"): the turn is pre-filled with the
template's ``thinking_prefill`` (inside an open think element) and generated in two phases by
``generate``:

1. ``n_predict`` = the budget, the closing think tag as the only stop string (the template's
   and the client's stop strings apply to what follows the thinking), the request's grammar;
2. when phase 1 ended — the model closed its thinking (the tag matched and was left out), or
   the budget ran out (``finish_reason == "length"``) — the engine writes the close itself:
   ``think.close + think.after``, preceded by ``think.trail`` when the budget cut the thought
   and it does not already end with it. Phase 2 continues from ``prompt + phase-1 text +
   close`` with the template's stops, the grammar built with ``thinking=False`` (for the
   thought phase 1 wrote, when the template's ``ThoughtShape`` has a ``decision``: the
   thought's first word says answer or call) and
   ``n_predict`` = ``max_tokens`` minus the tokens phase 1 generated. With ``cache_prompt``
   llama.cpp evaluates only the close (and any token the re-tokenised text splits otherwise).

A model that ends its turn inside phase 1 (end-of-generation, not the tag; only possible
without a grammar) cannot be told apart from a matched tag in the runtime's result unless it
reports ``__verbose.stop_type`` (``"eos"``; the engine does not turn that verbosity on, see
its step 6): then the turn ends there, as an unbudgeted one would; otherwise its thinking is
closed and the turn goes on. The
completion is ``phase-1 text + close + phase-2 text``, parsed as one turn, so the response
and the stream look exactly like an unbudgeted turn's. Usage counts the prompt once: prompt
and cached tokens are phase 1's, generated tokens both phases' together.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any, Final

import msgspec

from thinkwire.ir.conversation import ThinkingConfig
from thinkwire.local.templates import ChatTemplate, ThinkSyntax

Params = dict[str, Any]
"""A ``handle_completions`` request body (llama.cpp's ``/v1/completions`` fields)."""
Result = dict[str, Any]
"""A ``handle_completions`` result (OpenAI completions shape + ``timings``)."""
Run = Callable[[Params], Generator[str, None, Result]]
"""Runs one completion: yields its text as it comes, returns the final result (its
``choices[0].finish_reason``, ``usage``, ``timings``, ``__verbose``; the text already yielded)."""

EFFORT_SHARES: Final[dict[str, float]] = {"minimal": 1 / 8, "low": 1 / 4, "medium": 1 / 2}
"""The share of ``max_tokens`` an effort level may spend thinking (levels not here: no cap)."""
NO_THINKING_EFFORT: Final = "none"


class ThinkingPlan(msgspec.Struct, frozen=True, kw_only=True):
    """What the engine does about thinking for one request.

    ``think=False``: thinking off. ``budget``: the most tokens the thinking may take (always
    below ``max_tokens``; ``None``: only ``max_tokens`` bounds it).
    """

    think: bool = True
    budget: int | None = None

    def prefill(self, template: ChatTemplate, lead: str = "") -> str:
        """The prefill of the turn: the template's, its ``no_think_prefill`` with thinking off,
        its ``thinking_prefill`` under a budget; a thought's ``lead`` (``ThoughtShape.lead``)
        follows when the prefill leaves the model inside an open think element."""
        if not self.think:
            return template.no_think_prefill
        prefill = template.prefill if self.budget is None else template.thinking_prefill
        return prefill + lead if template.think.left_open(prefill) else prefill


UNBOUNDED: Final = ThinkingPlan()
OFF: Final = ThinkingPlan(think=False)


class Written(msgspec.Struct, frozen=True):
    """The rest of a turn, written by the engine instead of generated (a drafted answer,
    ``ThoughtShape.draft_answer``: the grammar would allow nothing else)."""

    text: str


def plan_thinking(
    config: ThinkingConfig | None, max_tokens: int, *, default_share: float | None = None
) -> ThinkingPlan:
    """The plan for ``config`` in a turn of at most ``max_tokens`` tokens (module docstring).

    ``default_share``: where the request leaves the thinking unbounded, cap it at this share
    of ``max_tokens`` anyway (a small model may otherwise think until the budget is gone and
    never call or answer); ``None`` leaves it unbounded.
    """
    if config is not None and config.mode == "disabled":
        return OFF
    if config is not None and config.budget_tokens is not None:
        return _capped(config.budget_tokens, max_tokens)
    effort = ((config.effort if config is not None else None) or "").lower()
    if effort == NO_THINKING_EFFORT:
        return OFF
    share = EFFORT_SHARES.get(effort, default_share)
    return UNBOUNDED if share is None else _capped(max(1, int(max_tokens * share)), max_tokens)


def _capped(budget: int, max_tokens: int) -> ThinkingPlan:
    if budget < 1:
        return OFF
    return UNBOUNDED if budget >= max_tokens else ThinkingPlan(budget=budget)


def closing(think: ThinkSyntax, thought: str, finish_reason: str) -> str:
    """What the engine writes after phase 1's ``thought`` to close the thinking."""
    cut = finish_reason == "length" and not thought.endswith(think.trail)
    return (think.trail if cut else "") + think.close + think.after


def generate(
    params: Params,
    run: Run,
    *,
    budget: int | None,
    think: ThinkSyntax,
    rest_grammar: str | Callable[[str], str | Written | None] | None = None,
) -> Generator[str, None, Result]:
    """The turn of ``params`` as text pieces; returns the final result.

    ``budget=None``: one completion, as it is. Otherwise the two phases of the module
    docstring; ``params`` are the unbudgeted ones (prompt ending with the thinking prefill,
    ``n_predict`` = ``max_tokens``, the turn's stops and grammar), ``rest_grammar`` the
    grammar after the thinking, or a function of phase 1's text that gives it (``None``: no
    grammar in phase 2) or ``Written`` text that is the rest of the turn (no phase 2). The
    close is yielded as a piece of its own, between the phases.
    """
    if budget is None:
        return (yield from run(params))
    max_tokens = int(params["n_predict"])
    pieces: list[str] = []
    first = yield from _tee(run({**params, "n_predict": budget, "stop": [think.close]}), pieces)
    finish = finish_reason(first)
    used = _generated(first, budget if finish == "length" else 0)
    if max_tokens - used < 1 or _ended_turn(first):  # nothing left, or nothing more wanted
        return first
    thought = "".join(pieces)
    close = closing(think, thought, finish)
    yield close
    prompt = str(params["prompt"]) + thought + close
    rest: Params = {**params, "prompt": prompt, "n_predict": max_tokens - used}
    rest.pop("grammar", None)
    grammar = rest_grammar(thought) if callable(rest_grammar) else rest_grammar
    if isinstance(grammar, Written):  # nothing to generate: the engine writes the rest itself
        yield grammar.text
        return {**first, "choices": [{"text": "", "finish_reason": "stop"}]}
    if grammar is not None:
        rest["grammar"] = grammar
    second = yield from run(rest)
    return _merge(first, second)


def _tee(phase: Generator[str, None, Result], into: list[str]) -> Generator[str, None, Result]:
    """``phase``'s pieces, also appended to ``into``."""
    while True:
        try:
            piece = next(phase)
        except StopIteration as stop:
            result: Result = stop.value
            return result
        into.append(piece)
        yield piece


def finish_reason(result: Result) -> str:
    """``choices[0].finish_reason`` of a result (``""`` when there is none)."""
    choice = (result.get("choices") or [{}])[0]
    return str((choice if isinstance(choice, dict) else {}).get("finish_reason") or "")


def _ended_turn(result: Result) -> bool:
    """The runtime says generation stopped at end-of-generation, not at a stop string."""
    verbose = result.get("__verbose")
    return isinstance(verbose, dict) and verbose.get("stop_type") == "eos"


def _int(value: object, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _generated(result: Result, default: int) -> int:
    counted = _int((result.get("usage") or {}).get("completion_tokens"), -1)
    return counted if counted >= 0 else _int((result.get("timings") or {}).get("predicted_n"), default)


def _merge(first: Result, second: Result) -> Result:
    """One result for the two phases: phase 1's prompt counts, both phases' generated tokens,
    phase 2's finish reason and ``__verbose``."""
    usage1, usage2 = first.get("usage") or {}, second.get("usage") or {}
    timings1, timings2 = first.get("timings") or {}, second.get("timings") or {}
    merged: Result = dict(second)
    if usage1 or usage2:
        generated = _generated(first, 0) + _generated(second, 0)
        prompt = _int(usage1.get("prompt_tokens"))
        merged["usage"] = {**usage1, "completion_tokens": generated, "total_tokens": prompt + generated}
    if timings1 or timings2:
        predicted = _int(timings1.get("predicted_n")) + _int(timings2.get("predicted_n"))
        merged["timings"] = {**timings1, "predicted_n": predicted}
    return merged
