"""``thinkwire check`` against the vendor emulators: every strict one passes every applicable
probe, and each ``--break`` mode fails exactly the probes that catch it."""

from __future__ import annotations

import asyncio

import pytest

from thinkwire.conformance import Card, Endpoint, run_check
from thinkwire.emulators import BREAKS
from thinkwire.emulators.run import Emulate
from thinkwire.ir.blocks import Dialect

VENDORS: list[tuple[str, Dialect, str]] = [
    ("anthropic", "anthropic", "claude-emulated"),
    ("deepseek", "openai-chat", "deepseek-reasoner"),
    ("deepseek-anthropic", "anthropic", "deepseek-reasoner"),
    ("deepseek", "anthropic", "deepseek-reasoner"),  # DeepSeek's Anthropic API beside its Chat
    ("minimax", "openai-chat", "MiniMax-M2"),
    ("openrouter", "openai-chat", "anthropic/claude-emulated"),
    ("openrouter", "openai-chat", "google/gemini-emulated"),
    ("openai-responses", "openai-responses", "gpt-emulated"),
    ("openrouter", "openai-responses", "anthropic/claude-emulated"),  # OpenRouter's Responses beta
]
BESIDE: dict[tuple[str, Dialect], str] = {("deepseek", "anthropic"): "/anthropic"}
"""The base path of an API an emulator serves beside its own (DeepSeek's ``/anthropic``)."""
EVERYWHERE = {"thinking-hidden", "schema"}
"""Probes every strict emulator passes besides its own (with the SDKs of thinkwire[check])."""
APPLICABLE = {
    "anthropic": {
        "thinking-carrier",
        "stream-agrees",
        "signatures",
        "accept-loop",
        "accept-streamed",
        "accept-omitted",
        "thought-recall",
    },
    "deepseek-anthropic": {
        "thinking-carrier",
        "stream-agrees",
        "signatures",
        "accept-loop",
        "accept-streamed",
        "accept-omitted",
        "thought-recall",
    },
    "deepseek": {
        "thinking-carrier",
        "stream-agrees",
        "accept-loop",
        "accept-streamed",
        "thought-recall",
        "carrier-tokens",
    },
    "minimax": {
        "thinking-carrier",
        "stream-agrees",
        "accept-loop",
        "accept-streamed",
        "thought-recall",
        "carrier-tokens",
    },
    "openrouter": {
        "thinking-carrier",
        "stream-agrees",
        "signatures",
        "accept-loop",
        "accept-streamed",
        "thought-recall",
        "carrier-tokens",
    },
    "openai-responses": {
        "thinking-carrier",
        "stream-agrees",
        "signatures",
        "accept-loop",
        "accept-streamed",
        "thought-recall",
    },
}


def applicable(vendor: str, dialect: Dialect) -> set[str]:
    """The probes ``vendor`` passes on its ``dialect`` route (OpenRouter serves Responses too,
    DeepSeek Anthropic Messages)."""
    if dialect == "anthropic":
        return APPLICABLE["deepseek-anthropic" if vendor == "deepseek" else vendor]
    return APPLICABLE["openai-responses" if dialect == "openai-responses" else vendor]


def caught(vendor: str, dialect: Dialect, model: str, case: str) -> set[str]:
    """The probes that must fail against ``vendor`` broken as ``case``, on its ``dialect`` route."""
    chat = dialect == "openai-chat"
    if case == "drop-thinking":
        return {"thought-recall", "carrier-tokens"} if chat else {"thought-recall"}
    if case == "ignore-carrier":  # a Chat carrier: the routes beside Chat have none to ignore
        return {"thought-recall", "carrier-tokens"} if chat else set()
    assert case == "merge-stream-blocks"
    if model.startswith("google/"):
        return set()  # Gemini thinks in one block: there is nothing to merge
    merged = {"stream-agrees", "accept-streamed"}
    return merged | {"accept-omitted"} if dialect == "anthropic" else merged


def check(url: str, dialect: Dialect, model: str, **options: object) -> Card:
    return asyncio.run(run_check(Endpoint(url, dialect, model), **options))  # type: ignore[arg-type]


@pytest.mark.parametrize(("vendor", "dialect", "model"), VENDORS)
def test_every_applicable_probe_passes_against_the_strict_emulator(
    emulate: Emulate, vendor: str, dialect: Dialect, model: str
) -> None:
    url, _ = emulate(vendor)
    url += BESIDE.get((vendor, dialect), "")
    card = check(url, dialect, model)
    assert card.failed() == [], card.to_text()
    responses = {"stream-final"} if dialect == "openai-responses" else set()
    expected = applicable(vendor, dialect) | EVERYWHERE | responses
    assert {r.id for r in card.rows if r.status == "pass"} == expected
    # the scripted emulators make one tool call per user turn: nothing to test with several
    assert "never made more than one tool call" in card.row("several-calls").summary
    assert card.ok
    # nothing here issues redacted thinking: the probe says so instead of passing
    assert "never issue it" in card.row("accept-redacted").summary


BROKEN = [
    (vendor, dialect, model, case)
    for vendor, dialect, model in VENDORS
    for case, spec in BREAKS.items()
    if vendor in spec.vendors
]


def test_every_break_mode_is_checked_on_every_vendor_it_applies_to() -> None:
    """``BROKEN`` leaves no ``--break`` mode untested: each runs on every vendor it applies to,
    and each fails a probe on at least one route."""
    routes = {v for v, _, _ in VENDORS}
    for case, spec in BREAKS.items():
        assert spec.vendors <= routes, case
        assert any(caught(v, d, m, c) for v, d, m, c in BROKEN if c == case), case


@pytest.mark.parametrize(("vendor", "dialect", "model", "case"), BROKEN)
def test_each_break_fails_the_probe_that_catches_it(
    emulate: Emulate, vendor: str, dialect: Dialect, model: str, case: str
) -> None:
    url, _ = emulate(vendor, case)
    url += BESIDE.get((vendor, dialect), "")
    card = check(url, dialect, model)
    expected = caught(vendor, dialect, model, case)
    assert set(card.failed()) == expected, card.to_text()
    assert card.ok is not bool(expected)
    report = card.to_markdown()
    for probe in expected:
        assert f"| `{probe}` |" in report
        assert card.row(probe).evidence, probe  # the exchanges that show it


def test_drop_thinking_is_caught_by_recall_with_its_figures(emulate: Emulate) -> None:
    url, _ = emulate("anthropic", "drop-thinking")
    card = check(url, "anthropic", "claude-emulated", repeat=3)
    recall = card.row("thought-recall")
    assert recall.status == "fail"
    assert recall.details["kept"]["recalled"] == 0
    assert recall.details["kept"]["trials"] == 3
    assert recall.details["kept"]["outcomes"] == {"forgotten": 3}
    assert recall.details["stripped"]["outcomes"] == {"refused": 3}  # Anthropic demands its thinking
    # the verdict rests on the wire: with thinking switched off the stripped turn is accepted, and
    # the prompt is no longer without the thinking than with it
    wire = recall.details["wire"]
    assert wire["observed"] == "missing"
    assert wire["baseline"] == "unthinking"
    assert wire["with_thinking"] == wire["without"]
    assert "the endpoint drops earlier thinking" in recall.summary


def test_recall_rates_carry_wilson_intervals_and_a_paired_test(emulate: Emulate) -> None:
    url, _ = emulate("deepseek")
    card = check(url, "openai-chat", "deepseek-reasoner", repeat=6)
    recall = card.row("thought-recall")
    details = recall.details
    assert recall.status == "pass"
    assert details["kept"]["rate"] == 1.0
    low, high = details["kept"]["ci95"]
    assert 0.55 < low < 0.65
    assert high == 1.0
    assert details["stripped"]["recalled"] == 0
    assert details["mcnemar"] == {"kept_only": 6, "stripped_only": 0, "p_value": 2 / 64}
    assert details["significant"] is True
    # odd trials whole, even trials streamed: recall is judged on streams too
    assert details["modes"]["streamed"]["kept"] == {**details["modes"]["whole"]["kept"]}
    assert details["modes"]["streamed"]["kept"]["trials"] == 3


def test_too_few_trials_are_inconclusive_with_the_trials_needed(emulate: Emulate) -> None:
    url, _ = emulate("deepseek")
    recall = check(url, "openai-chat", "deepseek-reasoner", repeat=2).row("thought-recall")
    assert recall.status == "inconclusive"
    assert recall.details["trials_needed"] == 6
    assert "about 6 trials per condition" in recall.summary
    assert recall.details["wire"]["observed"] == "reached"  # the tokens say it reached the prompt


def test_the_carrier_probe_reports_prompt_tokens_per_carrier(emulate: Emulate) -> None:
    url, _ = emulate("minimax", "ignore-carrier")
    details = check(url, "openai-chat", "MiniMax-M2").row("carrier-tokens").details
    assert details["expected"] == "think-tags"
    assert details["read"] == ["reasoning_details"]  # the break reads only the other field
    current = details["prompt_tokens"]["current-turn"]
    assert current["baseline"] == "stripped"
    assert current["think-tags"] == current["stripped"]
    assert current["reasoning_details"] > current["stripped"]


def test_a_named_carrier_must_be_the_one_the_endpoint_answers_in(emulate: Emulate) -> None:
    url, _ = emulate("deepseek")
    card = asyncio.run(run_check(Endpoint(url, "openai-chat", "deepseek-reasoner", carrier="reasoning")))
    assert card.row("thinking-carrier").status == "fail"
    assert "not --carrier reasoning" in card.row("thinking-carrier").summary
    # sent back in `reasoning`, DeepSeek refuses the tool turn (WIRE.md 2.8)
    assert card.row("accept-loop").status == "fail"
    assert "reasoning_content" in card.row("accept-loop").summary
    # the refusal, not the endpoint, kept a second call from coming: the n/a says so
    several = card.row("several-calls")
    assert several.status == "n/a"
    assert several.summary.startswith("no second tool call came in the user turn")
    assert "1 whole before the turn sent back was refused" in several.summary


@pytest.mark.parametrize(("vendor", "dialect", "model"), VENDORS)
def test_thinking_across_two_tool_calls_in_one_user_turn_passes(
    emulate: Emulate, vendor: str, dialect: Dialect, model: str
) -> None:
    """With two tool calls per user turn the scripted model thinks, calls, thinks, calls, then
    answers: each turn goes back with its thinking and the strict rules accept it."""
    url, _ = emulate(vendor, calls=2)
    url += BESIDE.get((vendor, dialect), "")
    card = check(url, dialect, model)
    assert card.failed() == [], card.to_text()
    row = card.row("several-calls")
    assert row.status == "pass", card.to_text()
    turns = row.details["turns"]["whole"]  # Claude models think in two blocks
    assert [t[-1] for t in turns] == ["tool_call", "tool_call", "text"]
    assert all(t[0] == "thinking" for t in turns)
    assert card.row("thought-recall").status == "pass"
