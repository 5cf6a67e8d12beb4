"""``benchmarks/local_decisions.py``: the decision points of the task set, what is right at each,
and the prompts it scores, on a fake runtime (the real model runs only in the benchmark)."""

from __future__ import annotations

import json
from typing import Any

from benchmarks.local_decisions import ANSWER, Prober, kind_of, right_steps, summarize

from tests.agent.local_agent_tasks import TASKS, find_tasks, toolbox
from thinkwire.local.templates import QWEN25_STEP


def test_every_task_has_one_point_per_reference_call_and_one_for_its_answer() -> None:
    for task in TASKS:
        steps = [right_steps(task, k) for k in range(len(task.solution) + 1)]
        assert steps[-1] == [ANSWER]
        for (name, _), right in zip(task.solution, steps, strict=False):
            assert name in right
    [cairo] = find_tasks(["two-cairo-f"])
    assert right_steps(cairo, 1) == ["calculate", "convert_units"]  # either way meets the need
    [total] = find_tasks(["three-total"])
    assert right_steps(total, 2) == ["calculate", ANSWER]  # the last call is optional
    assert kind_of(cairo, 0) == "first step, tool needed"
    assert kind_of(cairo, 1) == "after a result, more needed"
    assert kind_of(cairo, 2) == "after a result, nothing more"


class FakeRuntime:
    """``handle_completions`` that writes ``line`` for a thought and gives each forced phrase a
    log-probability of -1 per token, but -0.1 for the phrases holding one of ``likely``."""

    def __init__(self, *likely: str) -> None:
        self.likely = likely
        self.calls: list[dict[str, Any]] = []

    def __call__(self, params: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(params)
        grammar = params["grammar"]
        if not grammar.startswith('root ::= "'):
            return {"choices": [{"text": " for it, which is live data.\n", "logprobs": {"content": []}}]}
        phrase = json.loads(grammar.removeprefix("root ::= "))
        logprob = -0.1 if any(w in phrase for w in self.likely) else -1.0
        tokens: list[dict[str, Any]] = [
            {"bytes": list(w.encode()), "logprob": logprob} for w in phrase.split(" ")
        ]
        for t in tokens[:-1]:
            t["bytes"].append(32)
        tokens.append({"bytes": [], "logprob": -9.0})  # the end of the text: not scored
        return {"choices": [{"text": phrase, "logprobs": {"content": tokens}}]}


def test_the_likeliest_decision_is_chosen_and_a_right_thought_is_written_back() -> None:
    [task] = find_tasks(["two-order-status"])
    fake = FakeRuntime("answer from", "nothing")  # it always decides to answer
    points = Prober(fake, QWEN25_STEP, toolbox()).task_points(task)
    assert [(p.step, p.chosen, p.correct) for p in points] == [
        (0, ANSWER, False),
        (1, ANSWER, False),
        (2, ANSWER, True),
    ]
    # the first step offered the answer and every tool; only the words after the line are forced
    line = " for it, which is live data.\n"
    first = [c for c in fake.calls if c["prompt"] == fake.calls[0]["prompt"] + line]
    assert len(first) == 1 + len(toolbox())
    assert fake.calls[0]["prompt"].endswith("<|im_start|>assistant\n<think>\nThe user asks")
    # step 2's prompt holds step 1's thought with the reference's decision, then its call
    last = fake.calls[-1]["prompt"]
    assert f"The user asks{line}Next I will use the lookup_order tool.\n</think>" in last
    assert f"The result says{line}Still needed: the track_package tool.\n</think>" in last
    assert '"tracking_number":"TRK-871"' in last  # the tools' real results
    assert points[0].p_right < 0.5
    summary = summarize(points)
    assert (summary["points"], summary["right"]) == (3, 1 / 3)
