"""One eval run: a task's episode played by the agent under one policy, checked.

``run_task(task, model, policy=..., seed=...)`` builds a fresh episode, gives the agent the
episode's tools, plays every scripted user turn in order (each turn continues the transcript
of the one before, so the policy decides what earlier thinking the model sees, across turns
too), stops at the first turn that does not end in an answer, and checks the episode. The
model is a ``Model`` or the name of a sanity agent (``oracle``, ``noop``), which is built per
episode from its reference.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import cast

import msgspec

from thinkwire.agent.loop import Agent, Limits, RunResult
from thinkwire.agent.models import Model
from thinkwire.agent.trace import TraceWriter
from thinkwire.evals.sanity import noop_model, oracle_model
from thinkwire.evals.tasks import Episode, Task
from thinkwire.ir.conversation import Message
from thinkwire.policy import Policy


class Outcome(msgspec.Struct, frozen=True, kw_only=True):
    """One (task, trial, policy) run: success, why, how it ended and what it cost."""

    task: str
    family: str
    policy: Policy
    trial: int = 0
    seed: int | None = None
    passed: bool
    detail: str = ""
    status: str
    reason: str | None = None
    answers: tuple[str | None, ...] = ()
    steps: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float | None = None
    seconds: float = 0.0
    trace: str | None = None


ModelSource = Model | str | Callable[[Episode], Model]


def episode_model(model: ModelSource, episode: Episode) -> Model:
    if model == "oracle":
        return oracle_model(episode)
    if model == "noop":
        return noop_model()
    if isinstance(model, str):
        raise ValueError(f"{model!r} is not a sanity agent (oracle, noop); open other models with open_model")
    if hasattr(model, "stream"):
        return cast(Model, model)
    return model(episode)  # a factory of models


async def run_task(
    task: Task,
    model: ModelSource,
    *,
    policy: Policy = "keep",
    trial: int = 0,
    seed: int | None = None,
    limits: Limits | None = None,
    max_tokens: int | None = None,
    trace: TraceWriter | None = None,
) -> Outcome:
    episode = task.build()
    chosen = episode_model(model, episode)
    agent = Agent(
        chosen,
        episode.tools(),
        policy=policy,
        limits=limits,
        system=task.system,
        max_tokens=max_tokens,
        seed=seed,
        trace=trace,
    )
    started = time.monotonic()
    answers: list[str | None] = [None] * len(episode.turns)
    results: list[RunResult] = []
    transcript: tuple[Message, ...] = ()
    for index, turn in enumerate(episode.turns):
        result = await agent.run(turn.user, history=transcript)
        results.append(result)
        transcript = result.transcript
        if result.status != "answered":
            break
        answers[index] = result.answer
    check = episode.check(answers)
    last = results[-1]
    costs = [r.cost for r in results]
    return Outcome(
        task=task.id,
        family=task.family,
        policy=policy,
        trial=trial,
        seed=seed,
        passed=check.passed,
        detail=check.detail,
        status=last.status,
        reason=last.reason,
        answers=tuple(answers),
        steps=sum(r.steps for r in results),
        input_tokens=sum(r.input_tokens for r in results),
        output_tokens=sum(r.output_tokens for r in results),
        cost=None if any(c is None for c in costs) else sum(c for c in costs if c is not None),
        seconds=round(time.monotonic() - started, 3),
        trace=str(trace.path) if trace is not None and trace.path is not None else None,
    )


__all__ = ["ModelSource", "Outcome", "episode_model", "run_task"]
