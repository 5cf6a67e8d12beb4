"""The public task set of ``benchmarks/local_agent.py``: every task is solvable by its reference
run, and the checker fails what the issue names (no call when one is needed, an irrelevant call,
a repeated call, a wrong answer, thinking that is call markup)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from tests.agent.local_agent_tasks import TASKS, Task, check, find_tasks, is_prose, toolbox

from thinkwire.agent.loop import Agent, Limits, RunResult
from thinkwire.agent.models import FunctionModel
from thinkwire.ir.blocks import Text, Thinking, ToolCall, ToolResult
from thinkwire.ir.conversation import Request, Response

Step = tuple[str, dict[str, Any]]


def replaying(
    calls: Sequence[Step], answer: str, thought: str = "I should look this up first."
) -> FunctionModel:
    """A model that makes ``calls`` one per step, then answers ``answer``."""

    def reply(request: Request) -> Response:
        done = sum(isinstance(b, ToolResult) for m in request.messages for b in m.blocks)
        if done < len(calls):
            name, args = calls[done]
            call = ToolCall(id=f"call_{done}", name=name, arguments=json.dumps(args))
            return Response(blocks=(Thinking(text=thought), call), stop_reason="tool_use")
        return Response(
            blocks=(Thinking(text="Now I can answer."), Text(text=answer)), stop_reason="end_turn"
        )

    return FunctionModel(reply)


def run(task: Task, model: FunctionModel) -> RunResult:
    agent = Agent(model, toolbox(), limits=Limits(max_steps=6))
    return asyncio.run(agent.run(task.prompt))


def test_the_set_has_at_least_20_tasks_of_0_to_3_calls() -> None:
    assert len(TASKS) >= 20
    assert len({t.id for t in TASKS}) == len(TASKS)
    assert {len(t.solution) for t in TASKS} == {0, 1, 2, 3}
    assert sum(not t.needs for t in TASKS) >= 3  # tasks where any call is wrong


@pytest.mark.parametrize("task", TASKS, ids=[t.id for t in TASKS])
def test_the_reference_run_passes_and_its_tools_answer(task: Task) -> None:
    result = run(task, replaying(task.solution, task.reference))
    verdict = check(task, result)
    assert verdict.passed, verdict.failures
    assert verdict.calls == len(task.solution)
    assert verdict.prose_steps == verdict.steps == len(task.solution) + 1
    results = [b for m in result.transcript for b in m.blocks if isinstance(b, ToolResult)]
    assert not any(r.is_error for r in results), results


@pytest.mark.parametrize("task", [t for t in TASKS if t.needs], ids=lambda t: t.id)
def test_answering_without_the_calls_fails(task: Task) -> None:
    verdict = check(task, run(task, replaying((), task.reference)))
    assert not verdict.passed
    assert all(f.startswith("missing call") for f in verdict.failures)


Mutation = Callable[[Task], tuple[list[Step], str]]


@pytest.mark.parametrize(
    ("mutate", "failure"),
    [
        (lambda t: ([*t.solution, t.solution[-1]], t.reference), "repeated"),
        (
            lambda t: (
                [*t.solution, ("send_email", {"to": "a@b.c", "subject": "x", "body": "y"})],
                t.reference,
            ),
            "irrelevant",
        ),
        (lambda t: (list(t.solution), "I could not find out."), "answer lacks"),
    ],
    ids=["repeated-call", "irrelevant-call", "wrong-answer"],
)
def test_the_checker_fails_a_run_that(mutate: Mutation, failure: str) -> None:
    for task in find_tasks(["two-", "three-"]):
        calls, answer = mutate(task)
        verdict = check(task, run(task, replaying(calls, answer)))
        assert not verdict.passed
        assert any(f.startswith(failure) for f in verdict.failures), (task.id, verdict.failures)


def test_any_call_fails_a_task_that_needs_none() -> None:
    task = find_tasks(["none-greet"])[0]
    verdict = check(task, run(task, replaying([("get_weather", {"city": "London"})], task.reference)))
    assert verdict.irrelevant == 1
    assert not verdict.passed


def test_a_step_whose_thinking_is_call_markup_is_not_prose() -> None:
    task = find_tasks(["one-calc"])[0]
    markup = '<call function="calculate" arguments=\'{"expression":"12*7+5"}\'/>'
    verdict = check(task, run(task, replaying(task.solution, task.reference, thought=markup)))
    assert (verdict.prose_steps, verdict.steps) == (1, 2)
    assert is_prose("I need the price of the kettle, so I will look it up.")
    assert not is_prose('{"name": "get_price", "arguments": {"product": "kettle"}}')
    assert not is_prose("<tool_call>")
    assert not is_prose("ok")


def test_find_tasks_names_an_unknown_prefix() -> None:
    assert find_tasks([]) == TASKS
    with pytest.raises(KeyError, match="no task id starts with 'nope'"):
        find_tasks(["nope"])
