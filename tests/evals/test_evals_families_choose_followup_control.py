"""The choose, followup and control families: shape, sanity agents, fresh state, wrong paths.

Every task: the oracle (the reference replayed) passes, twice on the same ``Task`` (a fresh
episode per run), noop fails, tools are few and described. Then per family, plausible wrong
paths, played through the same agent loop by the oracle over edited reference turns, fail.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import msgspec
import pytest

from thinkwire.agent.models import Model
from thinkwire.agent.tools import AgentTool
from thinkwire.evals.episode import Outcome, run_task
from thinkwire.evals.families import choose, control, followup
from thinkwire.evals.sanity import oracle_model
from thinkwire.evals.suite import family_tasks
from thinkwire.evals.tasks import Action, Episode, Task, Turn

MODULES = {"choose": choose, "followup": followup, "control": control}
TASKS = [task for module in MODULES.values() for task in module.TASKS]
BY_ID = {task.id: task for task in TASKS}


def run(task: Task, model: str | Callable[[Episode], Model] = "oracle") -> Outcome:
    return asyncio.run(run_task(task, model))


def replay(task: Task, edit: Callable[[Episode], tuple[Turn, ...]]) -> Outcome:
    """The oracle over ``edit(episode)`` instead of the episode's reference turns."""

    def model(episode: Episode) -> Model:
        episode.turns = edit(episode)
        return oracle_model(episode)

    return run(task, model)


def call(made: AgentTool, arguments: dict[str, Any]) -> Any:
    async def go() -> Any:
        return await made.call(arguments)

    return asyncio.run(go())


def redo(turn: Turn, *actions: Action, answer: str | None = None) -> Turn:
    return msgspec.structs.replace(turn, actions=actions, answer=turn.answer if answer is None else answer)


# --- every task -------------------------------------------------------------------------------


@pytest.mark.parametrize("family", MODULES)
def test_ten_tasks_per_family_with_ordered_ids(family: str) -> None:
    tasks = MODULES[family].TASKS
    assert [t.id for t in tasks] == [f"{family}-{n:02d}" for n in range(1, 11)]
    assert {t.family for t in tasks} == {family}
    assert [t.id for t in family_tasks(family)] == [t.id for t in tasks]
    for task in tasks:
        assert task.description
        assert "\n" not in task.description


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.id)
def test_oracle_passes_twice_on_fresh_episodes(task: Task) -> None:
    first, second = run(task), run(task)
    assert first.passed, first.detail
    assert second.passed, second.detail  # the first run's state did not leak into the second
    assert (first.detail, first.answers, first.steps) == (second.detail, second.answers, second.steps)
    assert "\n" not in first.detail
    references = task.build().turns
    assert first.steps == sum(len(t.actions) + 1 for t in references)


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.id)
def test_noop_fails(task: Task) -> None:
    outcome = run(task, "noop")
    assert not outcome.passed
    assert outcome.detail
    assert "\n" not in outcome.detail


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.id)
def test_tools_are_few_described_and_cover_the_reference(task: Task) -> None:
    episode = task.build()
    tools = episode.tools()
    names = [t.name for t in tools]
    assert 2 <= len(tools) <= 8
    assert len(set(names)) == len(names)
    for made in tools:
        assert made.spec.description, made.name
        schema = made.spec.parameters
        assert schema is not None
        assert schema["type"] == "object"
        assert set(schema["required"]) <= set(schema["properties"])
        for name, prop in schema["properties"].items():
            assert prop.get("type"), (made.name, name)
            assert prop.get("description"), (made.name, name)
    for turn in episode.turns:
        assert turn.user
        assert turn.answer
        assert {a.tool for a in turn.actions} <= set(names)


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.id)
def test_builds_are_deterministic_and_separate(task: Task) -> None:
    one, two = task.build(), task.build()
    assert one is not two
    assert msgspec.json.encode(one.turns) == msgspec.json.encode(two.turns)
    assert one.tools()[0].spec == two.tools()[0].spec


@pytest.mark.parametrize(
    ("family", "turns", "steps"),
    [("choose", {1}, range(6, 7)), ("followup", {2, 3}, range(1, 4)), ("control", {1}, range(1, 2))],
)
def test_turn_and_step_counts_suit_small_models(family: str, turns: set[int], steps: range) -> None:
    for task in MODULES[family].TASKS:
        episode = task.build()
        assert len(episode.turns) in turns
        assert all(len(t.actions) in steps for t in episode.turns)


# --- choose -----------------------------------------------------------------------------------


def _choose(task: Task) -> choose.ChooseEpisode:
    episode = task.build()
    assert isinstance(episode, choose.ChooseEpisode)
    return episode


@pytest.mark.parametrize("task", choose.TASKS, ids=lambda t: t.id)
def test_choose_traps_are_in_place(task: Task) -> None:
    episode = _choose(task)
    d, winner, options = episode.domain, episode.winner, episode.options
    cheapest = min(options, key=lambda o: o.price)
    assert cheapest != winner
    assert cheapest.score < d.threshold  # fails the score
    assert cheapest.available  # but can be reserved
    assert any(not o.available and o.score >= d.threshold and o.price < winner.price for o in options)
    tied = _tied(episode)
    if tied:  # the first of the tied is the loser, and it wins by the other tie-break
        (rival,) = tied
        assert options.index(rival) < options.index(winner)
        assert rival.score > winner.score if d.tiebreak == "near" else rival.km < winner.km


def _tied(episode: choose.ChooseEpisode) -> list[choose.Option]:
    return [o for o in episode.options if o.price == episode.winner.price and o != episode.winner]


TIED = [t for t in choose.TASKS if _tied(_choose(t))]


def test_choose_ties_come_with_both_tie_breaks() -> None:
    assert len(TIED) >= 4
    assert {_choose(t).domain.tiebreak for t in TIED} == {"near", "score"}


def _book(episode: Episode, option: choose.Option, *, answer: str | None = None) -> tuple[Turn, ...]:
    assert isinstance(episode, choose.ChooseEpisode)
    (turn,) = episode.turns
    hold = f"H-{episode.number:02d}1"
    total = option.price * episode.domain.quantity
    lookups = turn.actions[:3]
    book = (
        Action("reserve", {"option": option.name}),
        Action("pay", {"hold": hold, "amount": total}),
        Action("confirm", {"hold": hold}),
    )
    said = f"I booked {option.name} and paid {total} in total." if answer is None else answer
    return (redo(turn, *lookups, *book, answer=said),)


@pytest.mark.parametrize("task", choose.TASKS, ids=lambda t: t.id)
def test_choose_booking_the_cheapest_overall_fails(task: Task) -> None:
    cheapest = min(_choose(task).options, key=lambda o: o.price)
    outcome = replay(task, lambda e: _book(e, cheapest))
    assert not outcome.passed
    assert outcome.detail.startswith(f"paid for {cheapest.name} but the rule picks")


@pytest.mark.parametrize("task", TIED, ids=lambda t: t.id)
def test_choose_booking_the_first_of_two_tied_fails(task: Task) -> None:
    (rival,) = _tied(_choose(task))
    outcome = replay(task, lambda e: _book(e, rival))
    assert not outcome.passed
    assert rival.name in outcome.detail


def test_choose_a_wrong_total_is_refused_and_nothing_is_booked() -> None:
    task = choose.TASKS[0]

    def wrong_total(episode: Episode) -> tuple[Turn, ...]:
        (turn,) = _book(episode, _choose(task).winner)
        pay = turn.actions[4]
        short = Action("pay", {**pay.arguments, "amount": pay.arguments["amount"] - 1})
        return (redo(turn, *turn.actions[:4], short, turn.actions[5]),)

    outcome = replay(task, wrong_total)
    assert not outcome.passed
    assert outcome.detail == f"{_choose(task).winner.name} not booked (1 hold(s), none confirmed)"


def test_choose_tools_refuse_what_the_desk_would_refuse() -> None:
    episode = _choose(choose.TASKS[0])
    tools = {t.name: t for t in episode.tools()}
    full = next(o for o in episode.options if not o.available)
    with pytest.raises(ValueError, match="fully booked"):
        call(tools["reserve"], {"option": full.name})
    with pytest.raises(ValueError, match="no hotel named"):
        call(tools["reserve"], {"option": "Nowhere Inn"})
    hold = call(tools["reserve"], {"option": episode.winner.name.upper()}).split()[1]
    with pytest.raises(ValueError, match="not paid yet"):
        call(tools["confirm"], {"hold": hold})
    with pytest.raises(ValueError, match="payment refused"):
        call(tools["pay"], {"hold": hold, "amount": 1})
    assert call(tools["pay"], {"hold": hold, "amount": episode.total}) == f"paid {episode.total} for {hold}"
    assert episode.check(["nothing said"]).detail.endswith("(1 hold(s), none confirmed)")


@pytest.mark.parametrize("leave_out", ["name", "total"])
def test_choose_the_answer_must_name_the_option_and_the_total(leave_out: str) -> None:
    task = choose.TASKS[2]
    winner = _choose(task).winner
    answer = f"Booked it for {_choose(task).total}." if leave_out == "name" else f"Booked {winner.name}."
    outcome = replay(task, lambda e: _book(e, winner, answer=answer))
    assert not outcome.passed
    assert ("does not name" if leave_out == "name" else "lacks the total") in outcome.detail


# --- followup ---------------------------------------------------------------------------------


def _followup(episode: Episode) -> followup.FollowupEpisode:
    assert isinstance(episode, followup.FollowupEpisode)
    return episode


@pytest.mark.parametrize("task", followup.TASKS, ids=lambda t: t.id)
def test_followup_nothing_visible_names_what_was_found(task: Task) -> None:
    episode = _followup(task.build())
    trap, found = episode.trap, episode.found
    assert trap.count == max(t.count for t in episode.things)  # the salient one is ruled out
    assert not trap.ok
    assert followup.rule_pick(episode.things) == found
    assert (trap.place, trap.team) == (found.place, found.team)  # turn-1 answer and page are shared
    for turn in episode.turns[1:]:
        assert found.name not in turn.user
        assert trap.name not in turn.user
    assert found.name not in episode.turns[0].answer


@pytest.mark.parametrize("task", followup.TASKS, ids=lambda t: t.id)
def test_followup_acting_on_the_trap_fails(task: Task) -> None:
    def on_trap(episode: Episode) -> tuple[Turn, ...]:
        *before, last = episode.turns
        trap = _followup(episode).trap
        act = msgspec.structs.replace(last.actions[0], arguments={"name": trap.name})
        return (*before, redo(last, act, answer=f"Done; {trap.reports}."))

    outcome = replay(task, on_trap)
    assert not outcome.passed
    this = _followup(task.build())
    done, noun = this.domain.done, this.domain.key
    assert outcome.detail == f"{done} {this.trap.name} but the {noun} found was {this.found.name}"


def test_followup_acting_on_the_trap_then_the_right_one_still_fails() -> None:
    task = followup.TASKS[0]

    def both(episode: Episode) -> tuple[Turn, ...]:
        first, second = episode.turns
        wrong = Action(second.actions[0].tool, {"name": _followup(episode).trap.name})
        return (first, redo(second, wrong, *second.actions))

    outcome = replay(task, both)
    assert not outcome.passed
    assert "but the server found was" in outcome.detail


@pytest.mark.parametrize("task", [t for t in followup.TASKS if len(t.build().turns) == 3], ids=lambda t: t.id)
def test_followup_paging_another_team_fails(task: Task) -> None:
    def other_team(episode: Episode) -> tuple[Turn, ...]:
        first, page, last = episode.turns
        this = _followup(episode)
        other = next(t.team for t in this.things if t.team != this.found.team)
        return (first, redo(page, Action("page_team", {"team": other})), last)

    outcome = replay(task, other_team)
    assert not outcome.passed
    assert outcome.detail.startswith("paged ")


@pytest.mark.parametrize("turn", [0, -1])
def test_followup_each_answer_must_hold_its_value(turn: int) -> None:
    task = followup.TASKS[1]

    def vague(episode: Episode) -> tuple[Turn, ...]:
        turns = list(episode.turns)
        turns[turn] = redo(turns[turn], *turns[turn].actions, answer="Done.")
        return tuple(turns)

    outcome = replay(task, vague)
    assert not outcome.passed
    assert outcome.detail.startswith(f"turn {1 if turn == 0 else 3} answer lacks")


def test_followup_a_run_that_stops_early_fails() -> None:
    episode = _followup(followup.TASKS[0].build())
    first = episode.turns[0]
    call(episode.tools()[2], {"name": episode.found.name})
    check = episode.check([first.answer, None])
    assert not check.passed
    assert check.detail == f"turn 2 answer lacks {episode.found.reports}"


# --- control ----------------------------------------------------------------------------------

WRONG_TARGET = {
    "control-02": Action("cancel_order", {"order": "ORD-7731"}),
    "control-04": Action("unlock_account", {"user": "mara.k"}),
    "control-06": Action("set_temperature", {"room": "4A", "celsius": 21}),
    "control-08": Action("assign_ticket", {"ticket": "T-5512", "person": "Jon"}),
    "control-10": Action("snooze_alert", {"alert": "AL-77", "minutes": 45}),
}


@pytest.mark.parametrize("task", control.TASKS, ids=lambda t: t.id)
def test_control_is_one_call(task: Task) -> None:
    (turn,) = task.build().turns
    assert len(turn.actions) == 1


@pytest.mark.parametrize(("task_id", "wrong"), WRONG_TARGET.items())
def test_control_acting_on_the_wrong_target_fails(task_id: str, wrong: Action) -> None:
    task = BY_ID[task_id]
    outcome = replay(task, lambda e: (redo(e.turns[0], wrong),))
    assert not outcome.passed
    assert "expected" in outcome.detail


@pytest.mark.parametrize(
    ("task_id", "neighbour", "answer"),
    [
        ("control-01", Action("get_price", {"product": "blue kettle"}), "It costs 39.9 EUR."),
        ("control-03", Action("get_delay", {"flight": "LX318"}), "LX318 is 0 min late."),
        ("control-05", Action("convert", {"amount": 1, "currency": "CHF"}), "1 EUR = 0.94 CHF."),
        ("control-07", Action("get_owner", {"account": "ACC-204"}), "It belongs to Ruiz GmbH."),
        ("control-09", Action("opening_hours", {"store": "Elm Street"}), "It closes at 18:00."),
    ],
)
def test_control_the_neighbouring_lookup_does_not_answer(
    task_id: str, neighbour: Action, answer: str
) -> None:
    outcome = replay(BY_ID[task_id], lambda e: (redo(e.turns[0], neighbour, answer=answer),))
    assert not outcome.passed
    assert outcome.detail.startswith("answer lacks")


def test_control_an_action_without_its_value_fails() -> None:
    outcome = replay(
        BY_ID["control-06"], lambda e: (redo(e.turns[0], *e.turns[0].actions, answer="Set to 21."),)
    )
    assert not outcome.passed
    assert outcome.detail == "answer lacks 18"
