"""Thinking budgets: the request's thinking config -> a plan, and the two phases of budget forcing."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import msgspec
import pytest

from thinkwire.dialects.anthropic.request import decode_request as decode_anthropic
from thinkwire.dialects.openai_chat.request import decode_request as decode_chat
from thinkwire.dialects.openai_responses.request import decode_request as decode_responses
from thinkwire.ir import ThinkingConfig, Tool
from thinkwire.local.budget import (
    OFF,
    UNBOUNDED,
    Result,
    ThinkingPlan,
    Written,
    closing,
    generate,
    plan_thinking,
)
from thinkwire.local.engine import decided, drafted
from thinkwire.local.templates import ThoughtShape, get_template

THINK = get_template("qwen2.5-think").think  # "<think>" "\n" .. "\n" "</think>", then "\n"
HI = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    ("config", "plan"),
    [
        (None, UNBOUNDED),
        (ThinkingConfig(), UNBOUNDED),
        (ThinkingConfig(mode="disabled"), OFF),
        (ThinkingConfig(mode="disabled", budget_tokens=500), OFF),
        (ThinkingConfig(mode="enabled", budget_tokens=100), ThinkingPlan(budget=100)),
        (ThinkingConfig(mode="enabled", budget_tokens=1), ThinkingPlan(budget=1)),
        (ThinkingConfig(mode="enabled", budget_tokens=0), OFF),  # no token of thinking
        (ThinkingConfig(mode="enabled", budget_tokens=-5), OFF),
        (ThinkingConfig(mode="enabled", budget_tokens=999), ThinkingPlan(budget=999)),
        (ThinkingConfig(mode="enabled", budget_tokens=1000), UNBOUNDED),  # clamped to max_tokens
        (ThinkingConfig(mode="enabled", budget_tokens=16000), UNBOUNDED),
        (ThinkingConfig(mode="enabled"), UNBOUNDED),
        (ThinkingConfig(budget_tokens=100), ThinkingPlan(budget=100)),  # a budget implies enabled
        (ThinkingConfig(mode="enabled", budget_tokens=100, effort="low"), ThinkingPlan(budget=100)),
        (ThinkingConfig(mode="adaptive"), UNBOUNDED),
        (ThinkingConfig(mode="adaptive", effort="low"), ThinkingPlan(budget=250)),
        (ThinkingConfig(effort="none"), OFF),
        (ThinkingConfig(effort="minimal"), ThinkingPlan(budget=125)),
        (ThinkingConfig(effort="low"), ThinkingPlan(budget=250)),
        (ThinkingConfig(effort="Medium"), ThinkingPlan(budget=500)),
        (ThinkingConfig(effort="high"), UNBOUNDED),
        (ThinkingConfig(effort="xhigh"), UNBOUNDED),
        (ThinkingConfig(effort="max"), UNBOUNDED),
        (ThinkingConfig(effort="turbo"), UNBOUNDED),
    ],
)
def test_plan(config: ThinkingConfig | None, plan: ThinkingPlan) -> None:
    assert plan_thinking(config, 1000) == plan


def test_effort_shares_keep_at_least_one_token() -> None:
    assert plan_thinking(ThinkingConfig(effort="minimal"), 4) == ThinkingPlan(budget=1)
    assert plan_thinking(ThinkingConfig(effort="minimal"), 1) == UNBOUNDED  # 1 token: nothing to cap


@pytest.mark.parametrize(
    ("wire", "decode", "plan"),
    [
        ({"thinking": {"type": "disabled"}}, decode_anthropic, OFF),
        ({"thinking": {"type": "enabled", "budget_tokens": 64}}, decode_anthropic, ThinkingPlan(budget=64)),
        (
            {"thinking": {"type": "adaptive"}, "output_config": {"effort": "low"}},
            decode_anthropic,
            ThinkingPlan(budget=64),
        ),
        ({"reasoning_effort": "none"}, decode_chat, OFF),
        ({"reasoning_effort": "minimal"}, decode_chat, ThinkingPlan(budget=32)),
        ({"reasoning": {"effort": "none"}}, decode_responses, OFF),
        ({"reasoning": {"effort": "high"}}, decode_responses, UNBOUNDED),
    ],
)
def test_what_each_codec_decodes_is_planned(wire: dict[str, Any], decode: Any, plan: ThinkingPlan) -> None:
    body: dict[str, Any] = {"model": "m", "max_tokens": 256, **wire}
    if decode is decode_responses:
        body = {"model": "m", "max_output_tokens": 256, "input": "hi", **wire}
    else:
        body["messages"] = HI
    request = decode(body)
    assert request.sampling.max_tokens == 256
    assert plan_thinking(request.thinking, 256) == plan


@pytest.mark.parametrize(
    ("thought", "finish", "close"),
    [
        ("I should check.\n", "stop", "</think>\n"),  # the model closed it: its own whitespace stays
        ("I should check.", "stop", "</think>\n"),
        ("I should ch", "length", "\n</think>\n"),  # cut: the usual trail first
        ("I should check.\n", "length", "</think>\n"),  # cut right after a newline
        ("", "length", "\n</think>\n"),
    ],
)
def test_closing(thought: str, finish: str, close: str) -> None:
    assert closing(THINK, thought, finish) == close


class Phases:
    """A ``budget.Run`` from scripted (text, finish, generated) phases; ``calls`` records params."""

    def __init__(self, *phases: tuple[str, str, int]) -> None:
        self.phases = list(phases)
        self.calls: list[dict[str, Any]] = []

    def __call__(self, params: dict[str, Any]) -> Generator[str, None, Result]:
        self.calls.append(params)
        text, finish, generated = self.phases.pop(0)
        yield from (text[i : i + 3] for i in range(0, len(text), 3))
        prompt = 100 if len(self.calls) == 1 else 130
        return {
            "choices": [{"text": "", "finish_reason": finish}],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": generated,
                "prompt_tokens_details": {"cached_tokens": prompt - 10},
            },
            "timings": {"cache_n": prompt - 10, "prompt_n": 10, "predicted_n": generated},
        }


def _drain(gen: Generator[str, None, Result]) -> tuple[list[str], Result]:
    pieces: list[str] = []
    while True:
        try:
            pieces.append(next(gen))
        except StopIteration as done:
            return pieces, done.value


PARAMS = {
    "prompt": "P<think>\n",
    "n_predict": 100,
    "stop": ["<|im_end|>", "</tool_call>"],
    "grammar": "full",
    "seed": 1,
}


def test_without_a_budget_one_call_as_it_is() -> None:
    run = Phases(("thought\n</think>\nHi.", "stop", 9))
    pieces, result = _drain(generate(PARAMS, run, budget=None, think=THINK, rest_grammar="rest"))
    assert run.calls == [PARAMS]
    assert "".join(pieces) == "thought\n</think>\nHi."
    assert result["usage"]["completion_tokens"] == 9


def test_budget_spent_inside_the_thinking() -> None:
    run = Phases(("Let me think about Lis", "length", 16), ("It is warm.", "stop", 5))
    pieces, result = _drain(generate(PARAMS, run, budget=16, think=THINK, rest_grammar="rest"))
    first, second = run.calls
    assert first == {**PARAMS, "n_predict": 16, "stop": ["</think>"]}
    assert second == {
        **PARAMS,
        "prompt": "P<think>\nLet me think about Lis\n</think>\n",
        "n_predict": 84,
        "grammar": "rest",
    }
    assert "".join(pieces) == "Let me think about Lis\n</think>\nIt is warm."
    assert "\n</think>\n" in pieces  # the close is a piece of its own
    assert result["choices"][0]["finish_reason"] == "stop"
    assert result["usage"] == {
        "prompt_tokens": 100,
        "completion_tokens": 21,
        "total_tokens": 121,
        "prompt_tokens_details": {"cached_tokens": 90},
    }
    assert result["timings"] == {"cache_n": 90, "prompt_n": 10, "predicted_n": 21}


def test_thinking_closed_within_the_budget() -> None:
    run = Phases(("Short.\n", "stop", 3), ("Hi.", "stop", 2))
    pieces, result = _drain(generate(PARAMS, run, budget=16, think=THINK, rest_grammar=None))
    assert run.calls[1]["prompt"] == "P<think>\nShort.\n</think>\n"
    assert run.calls[1]["n_predict"] == 97
    assert "grammar" not in run.calls[1]  # no grammar after the thinking: none in phase 2
    assert "".join(pieces) == "Short.\n</think>\nHi."
    assert result["usage"]["completion_tokens"] == 5


def test_a_turn_that_ended_inside_the_thinking_is_not_continued() -> None:
    class Eos(Phases):
        def __call__(self, params: dict[str, Any]) -> Generator[str, None, Result]:
            result = yield from super().__call__(params)
            return {**result, "__verbose": {"stop_type": "eos", "stopping_word": ""}}

    run = Eos(("Done thinking", "stop", 3))
    pieces, result = _drain(generate(PARAMS, run, budget=16, think=THINK))
    assert len(run.calls) == 1
    assert "".join(pieces) == "Done thinking"
    assert result["__verbose"]["stop_type"] == "eos"


@pytest.mark.parametrize(
    ("config", "plan"),
    [
        (None, ThinkingPlan(budget=750)),  # nothing asked: the server's default share
        (ThinkingConfig(mode="enabled"), ThinkingPlan(budget=750)),
        (ThinkingConfig(effort="high"), ThinkingPlan(budget=750)),  # unbounded effort, capped the same
        (ThinkingConfig(effort="low"), ThinkingPlan(budget=250)),  # the client's effort wins
        (ThinkingConfig(mode="enabled", budget_tokens=100), ThinkingPlan(budget=100)),
        (ThinkingConfig(mode="disabled"), OFF),
    ],
)
def test_a_default_share_caps_only_what_the_request_leaves_unbounded(
    config: ThinkingConfig | None, plan: ThinkingPlan
) -> None:
    assert plan_thinking(config, 1000, default_share=0.75) == plan
    assert plan_thinking(None, 1000) == UNBOUNDED


def test_the_grammar_after_the_thinking_may_depend_on_the_thought() -> None:
    run = Phases((" No, it is Paris.", "stop", 6), ("Paris.", "stop", 2))
    pieces, _ = _drain(generate(PARAMS, run, budget=16, think=THINK, rest_grammar=lambda t: f"after {t!r}"))
    assert run.calls[1]["grammar"] == "after ' No, it is Paris.'"
    assert "".join(pieces) == " No, it is Paris.</think>\nParis."


def test_a_deciding_thought_decides_what_the_rest_of_the_turn_may_be() -> None:
    shape = ThoughtShape(decision=(" No,", " Yes,"))
    assert decided(shape, " No, I know it.") == ("answer", None)
    assert decided(shape, " Yes, the weather.") == ("calls", None)
    assert decided(shape, "Maybe.") == (None, None)
    assert decided(ThoughtShape(), " No, I know it.") == (None, None)
    assert decided(None, " No, I know it.") == (None, None)
    tools = (Tool(name="get"), Tool(name="get_weather"))
    per_tool = ThoughtShape(decision=(" none", " {tool}"))
    assert decided(per_tool, " get_weather, for Lisbon.", tools) == ("calls", "get_weather")  # the longest
    assert decided(per_tool, " get, then.", tools) == ("calls", "get")
    assert decided(per_tool, " none, I know it.", tools) == ("answer", None)
    assert decided(per_tool, " lookup, maybe.", tools) == (None, None)
    last = ThoughtShape(decision=("\nNext: answer.\n", "\nNext: call {tool}.\n"), decide_last=True)
    assert decided(last, "I know it.\nNext: answer.\n") == ("answer", None)
    assert decided(last, "Weather.\nNext: call get_weather.\n", tools) == ("calls", "get_weather")
    assert decided(last, "Next: answer. Or not.\n", tools) == (None, None)  # the closing words decide
    assert drafted(msgspec.structs.replace(last, draft_answer=True), "Paris.\nNext: answer.\n") == ""


def test_a_lead_follows_a_prefill_that_leaves_the_thinking_open() -> None:
    template = get_template("qwen2.5-think")
    assert ThinkingPlan().prefill(template, "The user asks") == "<think>\nThe user asks"
    assert ThinkingPlan(budget=8).prefill(template, "The user asks") == "<think>\nThe user asks"
    assert ThinkingPlan(think=False).prefill(template, "The user asks") == "<think>\n\n</think>\n"
    closed = msgspec.structs.replace(template, prefill="<think>\n\n</think>\n")
    assert ThinkingPlan().prefill(closed, "The user asks") == "<think>\n\n</think>\n"


def test_a_template_may_shape_the_thought_after_tool_results_otherwise() -> None:
    step = get_template("qwen2.5-step")
    first, after = step.shape(after_result=False), step.shape(after_result=True)
    assert first is not None
    assert after is not None
    assert (first.lead, after.lead) == ("The user asks", "The result says")
    assert first.decision != after.decision
    think = get_template("qwen2.5-think")
    assert think.shape(after_result=True) is think.shape(after_result=False) is None


def test_a_thought_that_decided_to_answer_drafts_the_answer() -> None:
    shape = ThoughtShape(decision=(" No, I can answer:", " Yes,"), draft_answer=True)
    assert drafted(shape, " No, I can answer: Paris is the capital.\n") == "Paris is the capital."
    assert drafted(shape, " Yes, the weather.") == ""
    assert drafted(msgspec.structs.replace(shape, draft_answer=False), " No, I can answer: Paris.") == ""
    run = Phases((" No, I can answer: Paris.", "length", 9))
    pieces, result = _drain(
        generate(PARAMS, run, budget=9, think=THINK, rest_grammar=lambda t: Written("Paris."))
    )
    assert len(run.calls) == 1  # nothing generated after the thinking: the engine wrote the answer
    assert "".join(pieces) == " No, I can answer: Paris.\n</think>\nParis."
    assert result["choices"][0]["finish_reason"] == "stop"
