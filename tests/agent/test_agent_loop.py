"""The agent loop: what the model sees at each step under each policy, tools, limits, endings."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from thinkwire.agent.loop import Agent, Limits, RunResult, repeat_note
from thinkwire.agent.models import FunctionModel, Price, open_model
from thinkwire.agent.tools import AgentTool, tool
from thinkwire.agent.trace import (
    ModelRequest,
    ModelResponse,
    RunEnd,
    RunStart,
    ToolExecution,
    TraceRecord,
    TraceWriter,
    read_trace,
    thinking_seen,
)
from thinkwire.errors import ThinkwireError
from thinkwire.ir.blocks import Text, Thinking, ToolCall, ToolResult
from thinkwire.ir.conversation import Request, Response, Usage
from thinkwire.ir.stream import StreamEvent, response_events


def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"{city}: sunny, 21 C"


def run(agent: Agent, task: str = "What is the weather?", **kw: object) -> RunResult:
    return asyncio.run(agent.run(task, **kw))  # type: ignore[arg-type]


def recorded(**kw: object) -> tuple[list[TraceRecord], Callable[[TraceRecord | StreamEvent], None]]:
    records: list[TraceRecord] = []

    def observe(item: TraceRecord | StreamEvent) -> None:
        if isinstance(item, RunStart | ModelRequest | ModelResponse | ToolExecution | RunEnd):
            records.append(item)

    return records, observe


def requests(records: list[TraceRecord]) -> list[ModelRequest]:
    return [r for r in records if isinstance(r, ModelRequest)]


@pytest.mark.parametrize(("policy", "quoted"), [("keep", True), ("discard", False), ("current-turn", True)])
def test_what_the_scripted_model_saw_decides_its_answer(policy: str, quoted: bool) -> None:
    records, observe = recorded()
    agent = Agent(open_model("scripted"), [tool(get_weather)], policy=policy, observer=observe)  # type: ignore[arg-type]
    result = run(agent)
    assert result.status == "answered"
    assert result.steps == 2
    assert result.answer is not None
    assert ("The code word I noted was" in result.answer) is quoted
    step1, step2 = requests(records)
    assert thinking_seen(step1) == (0, 0)
    # step 2 is the same tool loop: keep and current-turn show the step-1 thinking, discard hides it
    assert thinking_seen(step2) == ((1, 0) if quoted else (0, 1))
    if not quoted:
        assert step2.removed.messages == (1,)
    # the transcript keeps every thinking block whatever the policy showed the model
    thinking = [b for m in result.transcript for b in m.blocks if isinstance(b, Thinking)]
    assert len(thinking) == 2


def test_current_turn_hides_an_earlier_tasks_thinking_but_keep_does_not() -> None:
    model = open_model("scripted")
    first = run(Agent(model, [tool(get_weather)]))
    for policy, hidden in (("keep", 0), ("current-turn", 2), ("discard", 3)):
        records, observe = recorded()
        agent = Agent(model, [tool(get_weather)], policy=policy, observer=observe)  # type: ignore[arg-type]
        second = run(agent, "And tomorrow?", history=first.transcript)
        assert second.status == "answered"
        last = requests(records)[-1]
        assert thinking_seen(last) == (3 - hidden, hidden)  # 2 from the first task, 1 from this one
        assert len(second.transcript) == len(first.transcript) + 4


def calling(
    *calls: ToolCall, answer: str = "done", thinking: str = "Let me see."
) -> Callable[[Request], Response]:
    """A model that makes ``calls`` in its first turn, then answers with the tool results."""

    def respond(request: Request) -> Response:
        if len(request.messages) == 1:
            return Response(blocks=(Thinking(text=thinking), *calls), stop_reason="tool_use")
        results = [b for b in request.messages[-1].blocks if isinstance(b, ToolResult)]
        text = " | ".join(f"{r.call_id}:{'E' if r.is_error else ''}{r.content_text()}" for r in results)
        return Response(
            blocks=(Thinking(text="Now answer."), Text(text=f"{answer}: {text}")), stop_reason="end_turn"
        )

    return respond


def test_tool_calls_in_one_turn_run_concurrently_and_come_back_in_call_order() -> None:
    started: list[str] = []
    both = asyncio.Event()

    async def slow(name: str) -> str:
        """Waits until both calls have started."""
        started.append(name)
        if len(started) == 2:
            both.set()
        await asyncio.wait_for(both.wait(), 5)  # a sequential runner would never get here
        return name.upper()

    calls = (
        ToolCall(id="a", name="slow", arguments='{"name":"x"}'),
        ToolCall(id="b", name="slow", arguments='{"name":"y"}'),
    )
    result = run(Agent(FunctionModel(calling(*calls)), [tool(slow)]))
    assert result.status == "answered"
    assert result.answer == "done: a:X | b:Y"
    results = result.transcript[2]
    assert results.role == "user"
    assert [b.call_id for b in results.blocks if isinstance(b, ToolResult)] == [
        "a",
        "b",
    ]


def test_a_failing_tool_is_an_error_result_the_model_sees_in_the_next_step() -> None:
    def broken(path: str) -> str:
        """Always fails."""
        raise FileNotFoundError(f"no such file: {path}")

    call = ToolCall(id="c1", name="broken", arguments='{"path": "x.txt"}')
    result = run(Agent(FunctionModel(calling(call)), [tool(broken)]))
    assert result.status == "answered"
    assert result.answer == "done: c1:Eerror: FileNotFoundError: no such file: x.txt"


def test_a_call_to_an_unknown_tool_or_with_bad_arguments_is_reported_to_the_model() -> None:
    calls = (
        ToolCall(id="u", name="nope", arguments="{}"),
        ToolCall(id="v", name="get_weather", arguments='{"city": 5}'),
    )
    result = run(Agent(FunctionModel(calling(*calls)), [tool(get_weather)]))
    assert result.answer is not None
    assert "u:Eerror: there is no tool named 'nope' (tools: get_weather)" in result.answer
    assert (
        "v:Eerror: invalid arguments for get_weather: Expected `str`, got `int` - at `$.city`"
        in result.answer
    )


def forever(request: Request) -> Response:
    step = sum(1 for m in request.messages if m.role == "assistant")
    call = ToolCall(id=f"call-{step}", name="get_weather", arguments='{"city": "Oslo"}')
    return Response(
        blocks=(Thinking(text=f"step {step}"), call), usage=Usage(input_tokens=100, output_tokens=10)
    )


def test_max_steps_stops_a_model_that_never_answers() -> None:
    result = run(Agent(FunctionModel(forever), [tool(get_weather)], limits=Limits(max_steps=3)))
    assert (result.status, result.steps) == ("limit", 3)
    assert result.reason == "max_steps: 3 steps without an answer"
    assert result.answer is None
    assert sum(1 for m in result.transcript if m.role == "assistant") == 3


def test_max_tokens_and_max_cost_count_the_whole_run() -> None:
    result = run(Agent(FunctionModel(forever), [tool(get_weather)], limits=Limits(max_tokens=300)))
    assert (result.status, result.steps, result.input_tokens, result.output_tokens) == ("limit", 3, 300, 30)
    assert result.reason == "max_tokens: 330 tokens used (limit 300)"
    priced = FunctionModel(forever)
    priced.price = Price(1000.0, 10000.0)  # $0.1 + $0.1 per step
    result = run(Agent(priced, [tool(get_weather)], limits=Limits(max_cost=0.5)))
    assert (result.status, result.steps) == ("limit", 3)
    assert result.cost == pytest.approx(0.6)


class Hanging:
    """A model that streams a start and then never finishes."""

    name = "hanging"
    price: Price | None = None

    async def stream(self, request: Request, *, seed: int | None = None) -> AsyncIterator[StreamEvent]:
        for event in response_events(Response(blocks=(Thinking(text="hmm"),)))[:2]:
            yield event
        await asyncio.Event().wait()

    async def aclose(self) -> None:
        return None


def test_max_seconds_stops_a_step_that_runs_too_long() -> None:
    result = run(Agent(Hanging(), limits=Limits(max_seconds=0.2)))
    assert result.status == "limit"
    assert result.reason == "max_seconds: 0.2 s reached in step 1"


def test_a_model_failure_ends_the_run_with_an_error_and_a_trace(tmp_path: Path) -> None:
    def failing(request: Request) -> Response:
        if len(request.messages) > 1:
            raise ThinkwireError("upstream 'claude' answered 400: messages.1: thinking is required")
        return calling(ToolCall(id="x", name="get_weather", arguments='{"city":"Rome"}'))(request)

    path = tmp_path / "t.jsonl"
    with TraceWriter(path) as trace:
        result = run(Agent(FunctionModel(failing), [tool(get_weather)], trace=trace))
    assert result.status == "error"
    assert result.reason == "step 2: upstream 'claude' answered 400: messages.1: thinking is required"
    records = read_trace(path)
    assert [r.__class__.__name__ for r in records] == [
        "RunStart",
        "ModelRequest",
        "ModelResponse",
        "ToolExecution",
        "ModelRequest",
        "RunEnd",
    ]
    end = records[-1]
    assert isinstance(end, RunEnd)
    assert end.status == "error"
    assert end.steps == 2


def test_a_turn_cut_by_max_tokens_without_an_answer_is_an_error() -> None:
    cut = FunctionModel(lambda r: Response(blocks=(Thinking(text="long..."),), stop_reason="max_tokens"))
    result = run(Agent(cut))
    assert result.status == "error"
    assert result.reason == "step 1: the turn ran out of max_tokens before an answer or a tool call"


def test_cancelling_a_run_closes_its_trace_as_interrupted() -> None:
    buffer = io.BytesIO()

    async def main() -> None:
        task = asyncio.create_task(Agent(Hanging(), trace=TraceWriter(stream=buffer)).run("go"))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    last = buffer.getvalue().splitlines()[-1]
    assert b'"type":"run_end","status":"interrupted"' in last


def test_the_request_carries_system_tools_and_budget_and_the_trace_the_whole_turn() -> None:
    seen: list[Request] = []

    def respond(request: Request) -> Response:
        seen.append(request)
        return Response(
            blocks=(Thinking(text="easy", signature="sig"), Text(text="4")), stop_reason="end_turn"
        )

    records, observe = recorded()
    weather: AgentTool = tool(get_weather)
    result = run(
        Agent(FunctionModel(respond), [weather], system="Be brief.", max_tokens=64, observer=observe), "2+2?"
    )
    assert result.answer == "4"
    (request,) = seen
    assert request.system == (Text(text="Be brief."),)
    assert request.tools == (weather.spec,)
    assert request.sampling.max_tokens == 64
    assert request.stream is True
    response = next(r for r in records if isinstance(r, ModelResponse))
    assert response.message.blocks == (Thinking(text="easy", signature="sig"), Text(text="4"))
    assert response.first_event is not None
    assert response.seconds >= response.first_event


def test_an_unknown_policy_is_refused_before_the_run() -> None:
    with pytest.raises(ValueError, match="unknown thinking policy 'forget'"):
        Agent(open_model("scripted"), policy="forget")  # type: ignore[arg-type]


def repeating(*calls: ToolCall) -> Callable[[Request], Response]:
    """A model that makes ``calls[i]`` in turn ``i``, then answers with every result it saw."""

    def respond(request: Request) -> Response:
        step = sum(1 for m in request.messages if m.role == "assistant")
        if step < len(calls):
            return Response(blocks=(Thinking(text="Look it up."), calls[step]), stop_reason="tool_use")
        results = [b for m in request.messages for b in m.blocks if isinstance(b, ToolResult)]
        return Response(blocks=(Text(text=" | ".join(r.content_text() for r in results)),))

    return respond


def test_a_repeated_identical_call_is_answered_with_the_earlier_result_and_a_note() -> None:
    runs: list[str] = []

    def get_weather(city: str) -> str:
        """The weather in a city."""
        runs.append(city)
        return f"{city}: sunny, 21 C"

    calls = (
        ToolCall(id="a", name="get_weather", arguments='{"city": "Oslo"}'),
        ToolCall(id="b", name="get_weather", arguments='{ "city":"Oslo" }'),  # same value, other bytes
        ToolCall(id="c", name="get_weather", arguments='{"city": "Rome"}'),
    )
    records, observe = recorded()
    result = run(Agent(FunctionModel(repeating(*calls)), [tool(get_weather)], observer=observe))
    assert runs == ["Oslo", "Rome"]  # the repeat did not run
    note = repeat_note(calls[1], ToolResult(call_id="a", content="Oslo: sunny, 21 C"))
    assert result.answer == f"Oslo: sunny, 21 C | {note} | Rome: sunny, 21 C"
    assert "You already called get_weather with these arguments" in note
    executed = [r for r in records if isinstance(r, ToolExecution)]
    assert [(r.call.id, r.result.call_id) for r in executed] == [("a", "a"), ("b", "b"), ("c", "c")]

    runs.clear()
    again = run(Agent(FunctionModel(repeating(*calls)), [tool(get_weather)], rerun_repeats=True))
    assert runs == ["Oslo", "Oslo", "Rome"]
    assert again.answer == "Oslo: sunny, 21 C | Oslo: sunny, 21 C | Rome: sunny, 21 C"


class Seeded(FunctionModel):
    """A function model that records the seed and temperature of every step."""

    def __init__(self, fn: Callable[[Request], Response]) -> None:
        super().__init__(fn)
        self.seen: list[tuple[int | None, float | None]] = []

    async def stream(self, request: Request, *, seed: int | None = None) -> AsyncIterator[StreamEvent]:
        self.seen.append((seed, request.sampling.temperature if request.sampling else None))
        async for event in super().stream(request, seed=seed):
            yield event


def test_the_seed_and_temperature_reach_every_step_and_the_trace() -> None:
    model = calling(ToolCall(id="w", name="get_weather", arguments='{"city":"Rome"}'))
    seeded = Seeded(model)
    records, observe = recorded()
    result = run(Agent(seeded, [tool(get_weather)], seed=7, temperature=0.25, observer=observe))
    assert (result.status, seeded.seen) == ("answered", [(7, 0.25), (7, 0.25)])
    start = records[0]
    assert isinstance(start, RunStart)
    assert (start.seed, start.temperature) == (7, 0.25)
    unseeded = Seeded(model)
    run(Agent(unseeded, [tool(get_weather)]))
    assert unseeded.seen == [(None, None), (None, None)]  # nothing asked: the model's defaults
