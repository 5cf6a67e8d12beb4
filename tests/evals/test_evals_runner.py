"""The eval runner: seeds shared by a pair's policies, the plan's order, results.jsonl and the
traces, resuming, retrying errors, refusing another eval's directory, concurrency, and
``RateLimited``'s retries and spacing (sleeps recorded on a fake clock, never waited)."""

from __future__ import annotations

import asyncio
import types
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

import msgspec
import pytest

from thinkwire.agent.models import FunctionModel, Model, Price
from thinkwire.agent.tools import AgentTool, tool
from thinkwire.agent.trace import RunEnd, RunStart, read_trace
from thinkwire.errors import ThinkwireError
from thinkwire.evals import runner as runner_module
from thinkwire.evals.episode import ModelSource, Outcome
from thinkwire.evals.runner import (
    META,
    RESULTS,
    RETRIES,
    EvalError,
    Meta,
    RateLimited,
    Runner,
    seed_of,
)
from thinkwire.evals.suite import load_suite
from thinkwire.evals.tasks import Check, Episode, Task, Turn
from thinkwire.ir.blocks import Text, Thinking, ToolCall, ToolResult
from thinkwire.ir.conversation import Message, Request, Response, Usage
from thinkwire.ir.stream import StreamEvent, response_events
from thinkwire.policy import Policy
from thinkwire.upstreams.client import UpstreamError

ALL: tuple[Policy, ...] = ("keep", "discard", "current-turn")


# --- tiny tasks and models ------------------------------------------------------------------


class Ask(Episode):
    """One turn; passes when the answer is ``ok``. ``task`` says which task built it."""

    def __init__(self, task: str, tools: Sequence[AgentTool] = ()) -> None:
        self.task = task
        self.turns = (Turn(user=f"please do {task}"),)
        self._tools = list(tools)

    def tools(self) -> list[AgentTool]:
        return self._tools

    def check(self, answers: Sequence[str | None]) -> Check:
        return Check(answers[0] == "ok", f"answered {answers[0]!r}")


def task(name: str, tools: Callable[[], Sequence[AgentTool]] = list) -> Task:
    return Task(id=name, family="control", build=lambda: Ask(name, tools()))


def answer(text: str = "ok") -> Response:
    return Response(
        blocks=(Thinking(text="thinking"), Text(text=text)),
        stop_reason="end_turn",
        usage=Usage(input_tokens=3, output_tokens=1),
    )


class Recording(FunctionModel):
    """A FunctionModel that notes (task, seed) of every request it streams."""

    def __init__(
        self, fn: Callable[[Request], Response], episode: Episode, calls: list[tuple[str, int | None]]
    ) -> None:
        super().__init__(fn)
        self.task = episode.task if isinstance(episode, Ask) else "?"
        self.calls = calls

    async def stream(self, request: Request, *, seed: int | None = None) -> AsyncIterator[StreamEvent]:
        self.calls.append((self.task, seed))
        async for event in super().stream(request, seed=seed):
            yield event


def recording(
    calls: list[tuple[str, int | None]], respond: Callable[[Request], Response] = lambda r: answer()
) -> Callable[[Episode], Model]:
    """A model factory (Episode -> Model) whose models note every call in ``calls``."""
    return lambda episode: Recording(respond, episode, calls)


class Failing(FunctionModel):
    """Fails (a lost connection) for the tasks in ``broken``; answers ``ok`` for the others."""

    def __init__(self, task: str, broken: set[str], calls: list[str]) -> None:
        super().__init__(lambda r: answer())
        self.task, self.broken, self.calls = task, broken, calls

    async def stream(self, request: Request, *, seed: int | None = None) -> AsyncIterator[StreamEvent]:
        self.calls.append(self.task)
        if self.task in self.broken:
            raise ThinkwireError("connection lost")
        async for event in super().stream(request, seed=seed):
            yield event


def meta(
    tasks: Sequence[Task],
    *,
    trials: int = 1,
    policies: Sequence[Policy] = ("keep", "discard"),
    suite: str = "test",
    model: str = "recording",
) -> Meta:
    return Meta(
        suite=suite, model=model, policies=tuple(policies), trials=trials, tasks=tuple(t.id for t in tasks)
    )


def play(
    tasks: Sequence[Task],
    model: ModelSource,
    out: Path,
    *,
    trials: int = 1,
    policies: Sequence[Policy] = ("keep", "discard"),
    suite: str = "test",
    model_name: str = "recording",
    concurrency: int = 1,
    retry_errors: bool = False,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Run the runner to the end over ``tasks`` (``model_name`` and ``suite`` go in meta.json)."""
    info = meta(tasks, trials=trials, policies=policies, suite=suite, model=model_name)
    runner = Runner(
        tasks, model, info, out, concurrency=concurrency, retry_errors=retry_errors, on_outcome=on_outcome
    )
    return asyncio.run(runner.run())


def lines(out: Path) -> list[Outcome]:
    raw = (out / RESULTS).read_bytes()
    assert raw.endswith(b"\n")
    return [msgspec.json.decode(line, type=Outcome) for line in raw.splitlines()]


# --- seeds -----------------------------------------------------------------------------------


def test_seed_of_is_stable_across_processes_and_in_range() -> None:
    # crc32, not hash(): the same number in every process, so a resumed eval pairs alike
    assert seed_of("carry-01", 0) == 1145977698
    assert seed_of("carry-01", 0) == seed_of("carry-01", 0)
    assert 0 <= seed_of("x" * 500, 10**6) < 2**31


def test_seed_of_differs_per_task_and_trial() -> None:
    ids = [t.id for t in load_suite("builtin")]
    seeds = {seed_of(task_id, trial) for task_id in ids for trial in range(5)}
    assert len(seeds) == len(ids) * 5
    assert seed_of("a", 1) != seed_of("a", 2)
    assert seed_of("a1", 0) != seed_of("a", 10)  # the separator keeps "a1:0" and "a:10" apart


def test_every_policy_of_a_pair_gets_the_pairs_seed(tmp_path: Path) -> None:
    calls: list[tuple[str, int | None]] = []
    tasks = [task("a"), task("b")]
    outcomes = play(tasks, recording(calls), tmp_path, trials=2, policies=ALL)
    assert len(outcomes) == 2 * 2 * 3
    # the model saw each (task, trial)'s seed once per policy, and no other seed
    expected = Counter({(t, seed_of(t, trial)): 3 for t in ("a", "b") for trial in range(2)})
    assert Counter(calls) == expected
    for outcome in outcomes:
        assert outcome.seed == seed_of(outcome.task, outcome.trial)
    by_pair: dict[tuple[str, int], set[int | None]] = {}
    for outcome in lines(tmp_path):
        by_pair.setdefault((outcome.task, outcome.trial), set()).add(outcome.seed)
    assert all(len(seeds) == 1 for seeds in by_pair.values())
    assert len({next(iter(s)) for s in by_pair.values()}) == 4


# --- plan, results and traces ------------------------------------------------------------------


def test_plan_puts_the_policies_of_a_pair_in_a_row(tmp_path: Path) -> None:
    a, b = task("a"), task("b")
    runner = Runner([a, b], "noop", meta([a, b], trials=2, policies=ALL), tmp_path)
    assert [(t.id, trial, p) for t, trial, p in runner.plan()] == [
        (name, trial, policy) for name in ("a", "b") for trial in (0, 1) for policy in ALL
    ]


def test_results_hold_one_outcome_per_run_with_a_readable_trace(tmp_path: Path) -> None:
    calls: list[tuple[str, int | None]] = []
    tasks = [task("a"), task("b")]
    outcomes = play(tasks, recording(calls), tmp_path, trials=2, policies=ALL)
    written = lines(tmp_path)
    assert written == outcomes  # concurrency 1: the file is in plan order, one line per run
    assert [(o.task, o.trial, o.policy) for o in written] == [
        (name, trial, policy) for name in ("a", "b") for trial in (0, 1) for policy in ALL
    ]
    for outcome in written:
        assert outcome.passed
        assert outcome.status == "answered"
        assert outcome.answers == ("ok",)
        assert outcome.trace == f"traces/{outcome.task}/t{outcome.trial}-{outcome.policy}.jsonl"
        assert not Path(outcome.trace).is_absolute()
        records = read_trace(tmp_path / outcome.trace)
        start, end = records[0], records[-1]
        assert isinstance(start, RunStart)
        assert start.policy == outcome.policy
        assert start.task == f"please do {outcome.task}"
        assert isinstance(end, RunEnd)
        assert end.status == "answered"
        assert end.answer == "ok"
    saved = msgspec.json.decode((tmp_path / META).read_bytes(), type=Meta)
    assert saved == meta(tasks, trials=2, policies=ALL)


def test_the_outcome_records_a_failed_check(tmp_path: Path) -> None:
    calls: list[tuple[str, int | None]] = []
    [keep, discard] = play([task("a")], recording(calls, lambda r: answer("no")), tmp_path)
    assert not keep.passed
    assert not discard.passed
    assert keep.detail == "answered 'no'"
    assert keep.status == "answered"


# --- resuming -------------------------------------------------------------------------------


def test_a_rerun_with_more_trials_and_tasks_plays_only_the_missing_runs(tmp_path: Path) -> None:
    calls: list[tuple[str, int | None]] = []
    a, b = task("a"), task("b")
    first = play([a], recording(calls), tmp_path, trials=1)
    assert len(first) == 2
    assert len(calls) == 2
    before = (tmp_path / RESULTS).read_bytes()

    calls.clear()
    second = play([a, b], recording(calls), tmp_path, trials=2)
    # a's trial 0 was in; a's trial 1 and both of b's trials are new: 3 pairs, 6 runs
    assert Counter(t for t, _ in calls) == {"a": 2, "b": 4}
    assert {seed for t, seed in calls if t == "a"} == {seed_of("a", 1)}
    assert len(second) == 8
    assert [(o.task, o.trial, o.policy) for o in second] == [
        (name, trial, policy) for name in ("a", "b") for trial in (0, 1) for policy in ("keep", "discard")
    ]
    assert second[:2] == first
    after = (tmp_path / RESULTS).read_bytes()
    assert after.startswith(before)
    assert len(lines(tmp_path)) == 8

    calls.clear()
    assert play([a, b], recording(calls), tmp_path, trials=2) == second
    assert calls == []


def test_retry_errors_reruns_the_runs_that_ended_in_an_error_and_nothing_else(tmp_path: Path) -> None:
    calls: list[str] = []
    broken = {"b"}
    tasks = [task("a"), task("b")]

    def model(episode: Episode) -> Model:
        assert isinstance(episode, Ask)
        return Failing(episode.task, broken, calls)

    first = play(tasks, model, tmp_path)
    assert [(o.task, o.status) for o in first] == [("a", "answered")] * 2 + [("b", "error")] * 2
    assert first[2].reason is not None
    assert "connection lost" in first[2].reason
    assert not first[2].passed
    assert first[2].answers == (None,)

    calls.clear()
    assert play(tasks, model, tmp_path) == first  # without retry_errors an error counts as done
    assert calls == []

    broken.clear()
    retried = play(tasks, model, tmp_path, retry_errors=True)
    assert calls == ["b", "b"]
    assert [(o.task, o.status, o.passed) for o in retried] == [
        ("a", "answered", True),
        ("a", "answered", True),
        ("b", "answered", True),
        ("b", "answered", True),
    ]
    assert retried[:2] == first[:2]
    assert len(lines(tmp_path)) == 6  # the errors stay in the file; the later line of a run wins

    calls.clear()
    play(tasks, model, tmp_path, retry_errors=True)
    assert calls == []


def test_a_corrupt_results_line_is_an_error_naming_file_and_line(tmp_path: Path) -> None:
    calls: list[tuple[str, int | None]] = []
    play([task("a")], recording(calls), tmp_path)
    with (tmp_path / RESULTS).open("ab") as handle:
        handle.write(b'\n{"task": "a", "trunc\n')
    calls.clear()
    with pytest.raises(EvalError, match=rf"{RESULTS}:4: not an outcome"):
        play([task("a")], recording(calls), tmp_path)
    assert calls == []


def test_a_results_line_of_the_wrong_shape_is_an_error_too(tmp_path: Path) -> None:
    (tmp_path / RESULTS).write_bytes(b'{"task": "a"}\n')
    runner = Runner([task("a")], "noop", meta([task("a")]), tmp_path)
    with pytest.raises(EvalError, match=rf"{RESULTS}:1: "):
        runner.pending()


@pytest.mark.parametrize(("field", "other"), [("model", "another-model"), ("suite", "builtin:carry")])
def test_an_out_dir_of_another_model_or_suite_is_refused(tmp_path: Path, field: str, other: str) -> None:
    calls: list[tuple[str, int | None]] = []
    play([task("a")], recording(calls), tmp_path)
    results = (tmp_path / RESULTS).read_bytes()
    saved = (tmp_path / META).read_bytes()
    calls.clear()
    model_name, suite = ("another-model", "test") if field == "model" else ("recording", other)
    with pytest.raises(EvalError, match=rf"holds runs of {field} '(recording|test)', not '{other}'"):
        play([task("a")], recording(calls), tmp_path, model_name=model_name, suite=suite)
    assert calls == []
    assert (tmp_path / RESULTS).read_bytes() == results
    assert (tmp_path / META).read_bytes() == saved


def test_a_meta_json_that_is_not_one_is_refused(tmp_path: Path) -> None:
    (tmp_path / META).write_text("[]")
    with pytest.raises(EvalError, match=r"not an eval's meta\.json"):
        play([task("a")], "noop", tmp_path)


def test_concurrency_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(EvalError, match="concurrency"):
        Runner([task("a")], "noop", meta([task("a")]), tmp_path, concurrency=0)


# --- concurrency ----------------------------------------------------------------------------


def test_concurrent_runs_overlap_up_to_the_limit_and_write_whole_lines(tmp_path: Path) -> None:
    active: list[int] = [0, 0]  # now, most at once
    together = asyncio.Event()

    async def wait_for_company() -> str:
        """Returns once two runs are inside this tool at the same time."""
        active[0] += 1
        active[1] = max(active)
        if active[0] == 2:
            together.set()
        try:
            await asyncio.wait_for(together.wait(), 5)  # one run at a time would never get here
        finally:
            active[0] -= 1
        return "ok"

    def respond(request: Request) -> Response:
        if len(request.messages) == 1:
            call = ToolCall(id="c", name="wait_for_company", arguments="{}")
            return Response(blocks=(call,), stop_reason="tool_use")
        [result] = request.messages[-1].blocks
        assert isinstance(result, ToolResult)
        return answer(result.content_text())

    tasks = [task(name, lambda: [tool(wait_for_company)]) for name in ("a", "b", "c")]
    seen: list[Outcome] = []
    outcomes = play(tasks, FunctionModel(respond), tmp_path, concurrency=2, on_outcome=seen.append)
    assert active[1] == 2  # two at once, never three
    assert all(o.passed for o in outcomes), [o.detail for o in outcomes]
    written = lines(tmp_path)
    assert len(written) == 6
    assert sorted((o.task, o.policy) for o in written) == sorted((o.task, o.policy) for o in outcomes)
    assert sorted(seen, key=lambda o: (o.task, o.policy)) == sorted(written, key=lambda o: (o.task, o.policy))


def test_on_outcome_sees_each_new_run_once(tmp_path: Path) -> None:
    calls: list[tuple[str, int | None]] = []
    seen: list[Outcome] = []
    play([task("a")], recording(calls), tmp_path, on_outcome=seen.append)
    assert [(o.task, o.policy) for o in seen] == [("a", "keep"), ("a", "discard")]
    seen.clear()
    play([task("a"), task("b")], recording(calls), tmp_path, on_outcome=seen.append)
    assert [(o.task, o.policy) for o in seen] == [("b", "keep"), ("b", "discard")]


def test_oracle_passes_and_noop_fails_through_the_runner(tmp_path: Path) -> None:
    tasks = load_suite("builtin:followup")[:2]  # several user turns each
    kept = play(tasks, "oracle", tmp_path / "oracle", model_name="oracle")
    assert len(kept) == 4
    assert all(o.passed for o in kept)
    assert all(len(o.answers) > 1 and None not in o.answers for o in kept)
    missed = play(tasks, "noop", tmp_path / "noop", model_name="noop")
    assert len(missed) == 4
    assert not any(o.passed for o in missed)


# --- RateLimited ----------------------------------------------------------------------------


class Clock:
    """A fake ``time`` for the runner module: it moves only when the runner sleeps (or a model
    says time passed), and records every sleep."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(runner_module, "time", types.SimpleNamespace(monotonic=fake.monotonic))
    monkeypatch.setattr("thinkwire.evals.runner.asyncio.sleep", fake.sleep)
    return fake


Step = ThinkwireError | str
"""What a scripted attempt does: raise before any event, or (``"ok"``) stream a reply, or
(``"half"``) stream one event and then fail with a 429."""


class Scripted:
    """A model whose attempts follow ``script``; ``took``: seconds each attempt moves the clock."""

    def __init__(self, script: Sequence[Step], clock: Clock | None = None, took: float = 0.0) -> None:
        self.name = "scripted-api"
        self.price: Price | None = Price(1.0, 1.0)
        self.script, self.attempts, self.clock, self.took = list(script), 0, clock, took
        self.closed = False

    async def stream(self, request: Request, *, seed: int | None = None) -> AsyncIterator[StreamEvent]:
        step = self.script[min(self.attempts, len(self.script) - 1)]
        self.attempts += 1
        if self.clock is not None:
            self.clock.now += self.took
        if isinstance(step, ThinkwireError):
            raise step
        events = list(response_events(answer("hello")))
        if step == "half":
            yield events[0]
            raise UpstreamError(429, "slow down", retry_after="1")
        for event in events:
            yield event

    async def aclose(self) -> None:
        self.closed = True


REQUEST = Request(model="m", messages=(Message(role="user", blocks=(Text(text="hi"),)),))


def collect(model: RateLimited, times: int = 1) -> list[list[StreamEvent]]:
    async def main() -> list[list[StreamEvent]]:
        return [[e async for e in model.stream(REQUEST, seed=7)] for _ in range(times)]

    return asyncio.run(main())


@pytest.mark.parametrize("status", [429, 529, 503])
def test_a_rate_limit_before_the_first_event_is_retried_after_retry_after(clock: Clock, status: int) -> None:
    model = Scripted([UpstreamError(status, "busy", retry_after="7"), "ok"])
    [events] = collect(RateLimited(model))
    assert model.attempts == 2
    assert events == list(response_events(answer("hello")))
    assert clock.sleeps == [7.0]


def test_without_retry_after_the_wait_doubles(clock: Clock) -> None:
    busy = UpstreamError(529, "overloaded")
    model = Scripted([busy, busy, UpstreamError(429, "x", retry_after="soon"), "ok"])
    collect(RateLimited(model))
    assert clock.sleeps == [2.0, 4.0, 8.0]  # "soon" is no number of seconds: backoff too


def test_a_long_retry_after_is_capped_at_a_minute(clock: Clock) -> None:
    model = Scripted([UpstreamError(429, "x", retry_after="3600"), "ok"])
    collect(RateLimited(model))
    assert clock.sleeps == [60.0]


def test_a_rate_limit_after_events_were_yielded_is_not_retried(clock: Clock) -> None:
    model = Scripted(["half", "ok"])
    with pytest.raises(UpstreamError, match="slow down"):
        collect(RateLimited(model))
    assert model.attempts == 1
    assert clock.sleeps == []


@pytest.mark.parametrize(
    "error", [UpstreamError(400, "bad request"), UpstreamError(500, "boom"), ThinkwireError("x")]
)
def test_other_errors_are_not_retried(clock: Clock, error: ThinkwireError) -> None:
    model = Scripted([error, "ok"])
    with pytest.raises(ThinkwireError) as raised:
        collect(RateLimited(model))
    assert raised.value is error
    assert model.attempts == 1
    assert clock.sleeps == []


def test_it_gives_up_after_retries(clock: Clock) -> None:
    model = Scripted([UpstreamError(429, "still busy", retry_after="1")])
    with pytest.raises(UpstreamError, match="still busy"):
        collect(RateLimited(model))
    assert model.attempts == RETRIES + 1
    assert clock.sleeps == [1.0] * RETRIES

    fewer = Scripted([UpstreamError(503, "down")])
    clock.sleeps.clear()
    with pytest.raises(UpstreamError):
        collect(RateLimited(fewer, retries=1))
    assert fewer.attempts == 2
    assert clock.sleeps == [2.0]


def test_min_interval_spaces_requests(clock: Clock) -> None:
    model = Scripted(["ok"])
    collect(RateLimited(model, min_interval=2.5), times=3)
    assert model.attempts == 3
    assert clock.sleeps == [2.5, 2.5]  # the first request goes at once


def test_min_interval_counts_from_the_request_not_its_end(clock: Clock) -> None:
    slow = Scripted(["ok"], clock, took=4.0)
    collect(RateLimited(slow, min_interval=2.5), times=3)
    assert clock.sleeps == []  # each request took longer than the interval
    quick = Scripted(["ok"], clock, took=1.0)
    collect(RateLimited(quick, min_interval=2.5), times=2)
    assert clock.sleeps == [1.5]


def test_min_interval_spaces_retries_too(clock: Clock) -> None:
    model = Scripted([UpstreamError(429, "x", retry_after="1"), "ok"])
    collect(RateLimited(model, min_interval=5.0))
    assert clock.sleeps == [1.0, 4.0]  # retry-after, then the rest of the interval


def test_rate_limited_is_a_model_with_the_wrapped_name_and_price(clock: Clock) -> None:
    inner = Scripted(["ok"])
    limited = RateLimited(inner)
    assert limited.name == "scripted-api"
    assert limited.price == Price(1.0, 1.0)
    asyncio.run(limited.aclose())
    assert inner.closed


def test_a_run_through_rate_limited_survives_a_429_and_ends_in_an_error_when_it_persists(
    clock: Clock, tmp_path: Path
) -> None:
    once = Scripted([UpstreamError(429, "x", retry_after="3"), "ok"])
    [keep] = play([task("a")], RateLimited(once), tmp_path / "once", policies=("keep",))
    assert keep.status == "answered"
    assert once.attempts == 2
    assert clock.sleeps == [3.0]

    always = Scripted([UpstreamError(429, "rate limited")])
    [stuck] = play([task("a")], RateLimited(always, retries=2), tmp_path / "always", policies=("keep",))
    assert stuck.status == "error"
    assert not stuck.passed
    assert stuck.reason is not None
    assert "rate limited" in stuck.reason
    assert always.attempts == 3
