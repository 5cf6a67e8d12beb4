"""run_task: turns continue one transcript, an early stop leaves later answers unset, tokens
and steps add up over turns, cost is unknown when any turn's is; episode_model; answer_has and
normalise."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from thinkwire.agent.loop import Limits
from thinkwire.agent.models import FunctionModel, Price
from thinkwire.agent.tools import AgentTool, tool
from thinkwire.agent.trace import RunEnd, RunStart, TraceWriter, read_trace
from thinkwire.evals.episode import ModelSource, Outcome, episode_model, run_task
from thinkwire.evals.sanity import noop_model
from thinkwire.evals.suite import load_suite
from thinkwire.evals.tasks import Action, Check, Episode, Task, Turn, answer_has, normalise
from thinkwire.ir.blocks import Text, Thinking, ToolCall, ToolResult
from thinkwire.ir.conversation import Request, Response, Usage
from thinkwire.policy import Policy, is_real_user_message


class Talk(Episode):
    """Turns ``users``; one ``note`` tool; the check records the answers it was given and passes
    when every turn answered."""

    def __init__(self, *users: str) -> None:
        self.turns = tuple(Turn(user=u, actions=(Action("note", {"text": u}),)) for u in users)
        self.noted: list[str] = []
        self.checked: list[tuple[str | None, ...]] = []

    def tools(self) -> list[AgentTool]:
        def note(text: str) -> str:
            """Notes text down."""
            self.noted.append(text)
            return f"noted {text}"

        return [tool(note)]

    def check(self, answers: Sequence[str | None]) -> Check:
        self.checked.append(tuple(answers))
        passed = all(a is not None for a in answers)
        return Check(passed, f"{sum(a is not None for a in answers)} of {len(answers)} answered")


def talk_task(*users: str, system: str | None = None) -> tuple[Task, list[Talk]]:
    built: list[Talk] = []

    def build() -> Talk:
        built.append(Talk(*users))
        return built[-1]

    return Task(id="talk-01", family="followup", build=build, system=system), built


def turn_of(request: Request) -> int:
    return sum(1 for m in request.messages if is_real_user_message(m))


def users(request: Request) -> list[str]:
    return [
        b.text for m in request.messages if is_real_user_message(m) for b in m.blocks if isinstance(b, Text)
    ]


def noting(
    seen: list[Request], *, usage: Usage | None = None, stop_in_turn: int | None = None
) -> Callable[[Request], Response]:
    """In each turn: think, call ``note`` once, then answer ``answer N``. In ``stop_in_turn``
    it calls ``note`` forever instead (a run that hits max_steps)."""

    def respond(request: Request) -> Response:
        seen.append(request)
        turn = turn_of(request)
        last = request.messages[-1]
        after_tool = any(isinstance(b, ToolResult) for b in last.blocks)
        thought = Thinking(text=f"secret thought of turn {turn}")
        if turn == stop_in_turn or not after_tool:
            call = ToolCall(id=f"c{len(seen)}", name="note", arguments=f'{{"text": "t{turn}"}}')
            return Response(blocks=(thought, call), stop_reason="tool_use", usage=usage)
        return Response(blocks=(thought, Text(text=f"answer {turn}")), stop_reason="end_turn", usage=usage)

    return respond


def play(task: Task, model: ModelSource, **kw: object) -> Outcome:
    return asyncio.run(run_task(task, model, **kw))  # type: ignore[arg-type]


# --- turns ------------------------------------------------------------------------------------


def test_each_turn_continues_the_transcript_of_the_one_before() -> None:
    task, built = talk_task("first question", "second question", "third question")
    seen: list[Request] = []
    outcome = play(task, FunctionModel(noting(seen)))
    assert outcome.passed
    assert outcome.status == "answered"
    assert outcome.answers == ("answer 1", "answer 2", "answer 3")
    assert built[0].checked == [("answer 1", "answer 2", "answer 3")]
    assert built[0].noted == ["t1", "t2", "t3"]
    assert len(seen) == 6  # a call and an answer per turn
    first_of_turn_2 = seen[2]
    assert users(first_of_turn_2) == ["first question", "second question"]
    # everything turn 1 said and got is there, in order, before the new question
    turn_1 = seen[1].messages
    assert first_of_turn_2.messages[: len(turn_1)] == turn_1
    assert first_of_turn_2.messages[len(turn_1)].role == "assistant"
    said = [b.text for b in first_of_turn_2.messages[len(turn_1)].blocks if isinstance(b, Text)]
    assert said == ["answer 1"]
    assert users(seen[-1]) == ["first question", "second question", "third question"]


@pytest.mark.parametrize(("policy", "kept"), [("keep", True), ("discard", False), ("current-turn", False)])
def test_the_policy_decides_whether_turn_1s_thinking_reaches_turn_2(policy: Policy, kept: bool) -> None:
    task, _ = talk_task("one", "two")
    seen: list[Request] = []
    play(task, FunctionModel(noting(seen)), policy=policy)
    thoughts = [b.text for m in seen[2].messages for b in m.blocks if isinstance(b, Thinking)]
    assert ("secret thought of turn 1" in thoughts) is kept


def test_a_run_that_stops_early_leaves_later_answers_none_and_the_check_sees_it() -> None:
    task, built = talk_task("one", "two", "three")
    seen: list[Request] = []
    outcome = play(task, FunctionModel(noting(seen, stop_in_turn=2)), limits=Limits(max_steps=3))
    assert outcome.status == "limit"
    assert outcome.reason is not None
    assert "max_steps" in outcome.reason
    assert outcome.answers == ("answer 1", None, None)
    assert built[0].checked == [("answer 1", None, None)]
    assert not outcome.passed
    assert outcome.detail == "1 of 3 answered"
    assert max(turn_of(r) for r in seen) == 2  # turn 3 was never asked
    assert outcome.steps == 2 + 3


def test_an_error_in_the_first_turn_leaves_every_answer_none() -> None:
    task, built = talk_task("one", "two")

    def respond(request: Request) -> Response:
        return Response(blocks=(Thinking(text="hm"),), stop_reason="max_tokens")

    outcome = play(task, FunctionModel(respond))
    assert outcome.status == "error"
    assert outcome.answers == (None, None)
    assert built[0].checked == [(None, None)]


def test_tokens_and_steps_are_summed_over_turns() -> None:
    task, _ = talk_task("one", "two", "three")
    model = FunctionModel(noting([], usage=Usage(input_tokens=100, output_tokens=7)))
    model.price = Price(input=2.0, output=10.0)
    outcome = play(task, model)
    assert outcome.steps == 6
    assert outcome.input_tokens == 600
    assert outcome.output_tokens == 42
    assert outcome.cost == pytest.approx((600 * 2.0 + 42 * 10.0) / 1e6)


def test_cost_is_none_when_any_turns_cost_is_unknown() -> None:
    task, _ = talk_task("one", "two")
    seen: list[Request] = []
    respond = noting(seen, usage=Usage(input_tokens=10, output_tokens=1))
    model = FunctionModel(respond)

    def unpriced_in_turn_2(request: Request) -> Response:
        model.price = Price(1.0, 1.0) if turn_of(request) == 1 else None
        return respond(request)

    model.fn = unpriced_in_turn_2
    outcome = play(task, model)
    assert outcome.status == "answered"
    assert outcome.input_tokens == 40
    assert outcome.cost is None

    unknown = FunctionModel(noting([]))
    unknown.price = None
    assert play(talk_task("one")[0], unknown).cost is None


def test_the_outcome_names_the_run_and_its_trace(tmp_path: Path) -> None:
    task, _ = talk_task("one", "two", system="Be brief.")
    with TraceWriter(tmp_path / "run.jsonl") as trace:
        outcome = play(task, FunctionModel(noting([])), policy="discard", trial=3, seed=99, trace=trace)
    assert (outcome.task, outcome.family, outcome.policy, outcome.trial, outcome.seed) == (
        "talk-01",
        "followup",
        "discard",
        3,
        99,
    )
    assert outcome.trace == str(tmp_path / "run.jsonl")
    records = read_trace(tmp_path / "run.jsonl")
    starts = [r for r in records if isinstance(r, RunStart)]
    assert [s.task for s in starts] == ["one", "two"]  # one run per turn, in one trace
    assert all(s.system == "Be brief." and s.policy == "discard" for s in starts)
    assert [r.status for r in records if isinstance(r, RunEnd)] == ["answered", "answered"]
    assert play(task, FunctionModel(noting([]))).trace is None


def test_a_fresh_episode_for_every_run() -> None:
    task, built = talk_task("one")
    play(task, FunctionModel(noting([])))
    play(task, FunctionModel(noting([])))
    assert len(built) == 2
    assert built[0] is not built[1]
    assert built[0].noted == built[1].noted == ["t1"]


def test_a_factory_gets_the_runs_episode() -> None:
    task, built = talk_task("one")
    given: list[Episode] = []

    def factory(episode: Episode) -> FunctionModel:
        given.append(episode)
        return FunctionModel(noting([]))

    assert play(task, factory).passed
    assert given == built


@pytest.mark.parametrize("task_id", ["followup-01", "carry-01", "control-02"])
def test_the_sanity_agents_by_name(task_id: str) -> None:
    [task] = [t for t in load_suite("builtin") if t.id == task_id]
    assert play(task, "oracle").passed
    assert not play(task, "noop").passed


# --- episode_model --------------------------------------------------------------------------


def test_episode_model_names_and_objects() -> None:
    episode = Talk("one")
    oracle = episode_model("oracle", episode)
    assert isinstance(oracle, FunctionModel)
    assert oracle.name == "oracle"
    assert episode_model("noop", episode).name == "noop"
    model = noop_model()
    assert episode_model(model, episode) is model
    assert episode_model(lambda e: model if e is episode else noop_model(), episode) is model


@pytest.mark.parametrize("name", ["local", "scripted", "Oracle", ""])
def test_episode_model_refuses_other_strings(name: str) -> None:
    with pytest.raises(ValueError, match=r"is not a sanity agent \(oracle, noop\)"):
        episode_model(name, Talk("one"))
    task, _built = talk_task("one")
    with pytest.raises(ValueError, match="not a sanity agent"):
        play(task, name)


# --- answer_has and normalise ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The Total is 1,234,567 units", "the total is 1234567 units"),
        ("  many\n\tspaces   here ", "many spaces here"),
        ("-1,000.50 and 12,5", "-1000.50 and 12,5"),  # a comma before two digits separates nothing
        ("gates 4,7 and 9; 1, 2, 3", "gates 4,7 and 9; 1, 2, 3"),  # lists stay lists
        ("a, b, c", "a, b, c"),
        ("", ""),
    ],
)
def test_normalise(text: str, expected: str) -> None:
    assert normalise(text) == expected


@pytest.mark.parametrize(
    ("answer", "expected", "has"),
    [
        ("The stock is 4,821.", (4821,), True),
        ("The stock is 4821.", ("4,821",), True),
        ("It costs 123 dollars", (12,), False),  # whole numbers only
        ("It costs 123 dollars", (123,), True),
        ("It costs 123 dollars", ("12",), True),  # a string is a substring, not a number
        ("Rate: 18.75 per hour", (18.75,), True),
        ("Rate: 18.75 per hour", (18.7,), False),
        ("Rate: 18.50 per hour", (18.5,), True),
        ("Price 24.0", (24,), True),
        ("Price 24", (24.0,), True),
        ("Overdraft -50", (-50,), True),
        ("Overdraft -50", (50,), False),
        ("Balance:-50", (-50,), True),
        ("Ticket T-925", (925,), True),  # a hyphen in a name is no minus sign
        ("Ticket T-925", (-925,), False),
        ("due 2024-05-17", (17,), True),
        ("pick 5-10 of them", (5, 10), True),
        ("gates 4,7 and 9", (4, 7, 9), True),  # not 47: a list, not a thousands separator
        ("gates 4,7 and 9", (47,), False),
        ("12,5", (125,), False),
        ("shipped 4,821 of 10,000", (4821, 10000), True),
        ("Assigned LEA to t-925", ("Lea", "T-925"), True),
        ("Assigned Lea", ("Lea", "T-925"), False),  # every value must be there
        ("Gate   B12  opens", ("gate b12 opens",), True),
        ("day 17 and 3", (17, 3, "day"), True),
        ("anything", (), True),
        (None, (), False),
        (None, ("x",), False),
        ("", (0,), False),
    ],
)
def test_answer_has(answer: str | None, expected: tuple[str | int | float, ...], has: bool) -> None:
    assert answer_has(answer, *expected) is has
