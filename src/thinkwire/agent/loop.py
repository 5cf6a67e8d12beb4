"""The agent loop: run -> step -> model -> tools -> repeat.

Each step sends the transcript after the thinking policy (``thinkwire.policy.apply_policy``):
under ``keep`` every earlier assistant turn goes back whole, every thinking block in place;
``discard`` and ``current-turn`` hide what they hide and the trace says so. The model's whole
turn (thinking, text, tool calls, in order) joins the transcript; its tool calls run
concurrently and their results join as one user message; a turn without tool calls is the
answer. A call the model makes again with the same arguments, no other call having run
since, is not run again (``rerun_repeats=False``, the default): its result is the earlier one,
with a note saying so (``repeat_note``), so a small model that repeats itself gets told, not a
loop of identical calls. Once another call has run, the same call runs again: the other one
may have changed what it returns (check, fix, check again). A run ends with a ``RunResult``:
``answered``, ``limit`` (steps, tokens, seconds or cost — checked before each step, seconds
also during one), ``error`` (the model or upstream failed; the message says how) or
``interrupted`` (cancelled: the trace is closed with it and the cancellation goes on).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

import anyio
import msgspec

from thinkwire.agent.models import Model
from thinkwire.agent.tools import AgentTool, ToolRun, run_tool
from thinkwire.agent.trace import (
    ModelRequest,
    ModelResponse,
    RunEnd,
    RunStart,
    Status,
    ToolExecution,
    TraceRecord,
    TraceWriter,
)
from thinkwire.errors import ThinkwireError
from thinkwire.ir.blocks import Text, ToolCall, ToolResult
from thinkwire.ir.conversation import Message, Request, Sampling, ThinkingConfig, Usage
from thinkwire.ir.stream import BlockDelta, BlockStart, Folder, StreamEvent
from thinkwire.policy import Policy, apply_policy

Observer = Callable[[TraceRecord | StreamEvent], None]
"""Sees every trace record and every streamed model event, as they happen (the live view)."""


def repeat_note(call: ToolCall, earlier: ToolResult) -> str:
    """What the model reads for a call it already made with the same arguments."""
    return (
        f"You already called {call.name} with these arguments; the result was: {earlier.content_text()}\n"
        "Do not call it again: use that result to answer, or call a different tool."
    )


def _call_key(call: ToolCall) -> str:
    """The call as a name and its arguments' JSON value (key order and spacing ignored)."""
    try:
        value = call.parsed_arguments()
    except msgspec.DecodeError:
        return f"{call.name} {call.arguments}"
    return f"{call.name} {msgspec.json.encode(value, order='sorted').decode()}"


class Limits(msgspec.Struct, frozen=True, kw_only=True):
    max_steps: int = 20
    max_tokens: int | None = None
    """Input + output tokens over the whole run."""
    max_seconds: float | None = None
    max_cost: float | None = None
    """US$, from the model's price (no limit when the price is unknown)."""


class RunResult(msgspec.Struct, frozen=True, kw_only=True):
    status: Status
    answer: str | None = None
    reason: str | None = None
    steps: int
    transcript: tuple[Message, ...]
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float | None = None
    seconds: float = 0.0


class _Stop(Exception):
    def __init__(self, status: Status, reason: str | None = None, answer: str | None = None) -> None:
        self.status, self.reason, self.answer = status, reason, answer


class Agent:
    """A tool-using agent on ``model`` (module docstring). ``max_tokens``: per model turn;
    ``temperature``: the model's default when ``None``; ``seed``: fixes the model's sampling
    where it can (the same seed for each policy of a paired eval run); ``rerun_repeats``: run a
    call again when the model repeats one it made with the same arguments (default: answer it
    with the earlier result and ``repeat_note``; tools with side effects or changing results
    may want it)."""

    def __init__(
        self,
        model: Model,
        tools: Sequence[AgentTool] = (),
        *,
        policy: Policy = "keep",
        limits: Limits | None = None,
        system: str | None = None,
        max_tokens: int | None = None,
        thinking: ThinkingConfig | None = None,
        seed: int | None = None,
        temperature: float | None = None,
        trace: TraceWriter | None = None,
        observer: Observer | None = None,
        rerun_repeats: bool = False,
    ) -> None:
        apply_policy((), policy)  # ValueError for an unknown policy, now rather than mid-run
        self.model, self.tools, self.policy = model, tuple(tools), policy
        self.limits = limits or Limits()
        self.system, self.max_tokens, self.thinking, self.seed = system, max_tokens, thinking, seed
        self.temperature = temperature
        self.trace, self.observer = trace, observer
        self.rerun_repeats = rerun_repeats

    async def run(self, task: str, *, history: Sequence[Message] = ()) -> RunResult:
        """Work on ``task`` (a user message after ``history``, e.g. an earlier run's transcript)."""
        self._started, self._steps, self._usage = time.monotonic(), 0, Usage(input_tokens=0, output_tokens=0)
        self._messages = [*history, Message(role="user", blocks=(Text(text=task),))]
        self._done: dict[str, ToolResult] = {}  # the last step's executed calls' results, by _call_key
        self._emit(
            RunStart(
                task=task,
                model=self.model.name,
                policy=self.policy,
                tools=tuple(t.spec for t in self.tools),
                system=self.system,
                limits=msgspec.structs.asdict(self.limits),
                seed=self.seed,
                temperature=self.temperature,
                started=time.time(),
            )
        )
        try:
            while True:
                self._check_limits()
                await self._step()
        except _Stop as stop:
            return self._end(stop.status, stop.reason, stop.answer)
        except (asyncio.CancelledError, KeyboardInterrupt):
            self._end("interrupted", "stopped by the user")
            raise

    async def _step(self) -> None:
        self._steps += 1
        step = self._steps
        view, removed = apply_policy(self._messages, self.policy)
        request = Request(
            model=self.model.name,
            system=(Text(text=self.system),) if self.system else None,
            messages=view,
            tools=tuple(t.spec for t in self.tools) or None,
            thinking=self.thinking,
            sampling=Sampling(max_tokens=self.max_tokens, temperature=self.temperature),
            stream=True,
        )
        self._emit(ModelRequest(step=step, messages=view, removed=removed, at=self._at()))
        asked, folder, first = time.monotonic(), Folder(), None
        try:
            with anyio.fail_after(self._seconds_left()):
                async for event in self.model.stream(request, seed=self.seed):
                    if first is None and isinstance(event, BlockStart | BlockDelta):
                        first = time.monotonic() - asked
                    folder.feed(event)
                    if self.observer is not None:
                        self.observer(event)
        except TimeoutError:
            raise _Stop(
                "limit", f"max_seconds: {self.limits.max_seconds:g} s reached in step {step}"
            ) from None
        except ThinkwireError as exc:
            raise _Stop("error", f"step {step}: {exc}") from None
        response = folder.result()
        message = response.to_message()
        self._messages.append(message)
        self._usage = Usage(
            input_tokens=(self._usage.input_tokens or 0)
            + ((response.usage and response.usage.input_tokens) or 0),
            output_tokens=(self._usage.output_tokens or 0)
            + ((response.usage and response.usage.output_tokens) or 0),
        )
        self._emit(
            ModelResponse(
                step=step,
                message=message,
                stop_reason=response.stop_reason,
                usage=response.usage,
                seconds=time.monotonic() - asked,
                first_event=first,
                at=self._at(),
            )
        )
        calls = [b for b in message.blocks if isinstance(b, ToolCall)]
        if not calls:
            answer = "".join(b.text for b in message.blocks if isinstance(b, Text)).strip()
            if not answer and response.stop_reason == "max_tokens":
                raise _Stop(
                    "error", f"step {step}: the turn ran out of max_tokens before an answer or a tool call"
                )
            raise _Stop("answered", answer=answer)
        keys = [_call_key(call) for call in calls]
        repeats = [not self.rerun_repeats and key in self._done for key in keys]
        runs = await asyncio.gather(*(self._run_tool(call) for call in calls))
        if not all(repeats):  # something ran: only what ran now counts as already done
            self._done = {k: r.result for k, r, again in zip(keys, runs, repeats, strict=True) if not again}
        for call, ran in zip(calls, runs, strict=True):
            self._emit(
                ToolExecution(step=step, call=call, result=ran.result, seconds=ran.seconds, at=self._at())
            )
        self._messages.append(Message(role="user", blocks=tuple(r.result for r in runs)))

    async def _run_tool(self, call: ToolCall) -> ToolRun:
        earlier = None if self.rerun_repeats else self._done.get(_call_key(call))
        if earlier is None:
            return await run_tool(self.tools, call)
        note = ToolResult(call_id=call.id, content=repeat_note(call, earlier), is_error=earlier.is_error)
        return ToolRun(result=note, seconds=0.0)

    def _check_limits(self) -> None:
        limits, usage = self.limits, self._usage
        tokens = (usage.input_tokens or 0) + (usage.output_tokens or 0)
        cost = self._cost()
        if self._steps >= limits.max_steps:
            raise _Stop("limit", f"max_steps: {limits.max_steps} steps without an answer")
        if limits.max_tokens is not None and tokens >= limits.max_tokens:
            raise _Stop("limit", f"max_tokens: {tokens} tokens used (limit {limits.max_tokens})")
        if limits.max_cost is not None and cost is not None and cost >= limits.max_cost:
            raise _Stop("limit", f"max_cost: ${cost:.4f} spent (limit ${limits.max_cost:g})")
        if self._seconds_left() is not None and self._seconds_left() <= 0:  # type: ignore[operator]
            raise _Stop("limit", f"max_seconds: {self.limits.max_seconds:g} s reached")

    def _seconds_left(self) -> float | None:
        if self.limits.max_seconds is None:
            return None
        return self.limits.max_seconds - (time.monotonic() - self._started)

    def _cost(self) -> float | None:
        price = self.model.price
        return price.cost(self._usage) if price is not None else None

    def _at(self) -> float:
        return round(time.monotonic() - self._started, 6)

    def _emit(self, record: TraceRecord) -> None:
        if self.trace is not None:
            self.trace.write(record)
        if self.observer is not None:
            self.observer(record)

    def _end(self, status: Status, reason: str | None = None, answer: str | None = None) -> RunResult:
        usage = self._usage
        end = RunEnd(
            status=status,
            answer=answer,
            reason=reason,
            steps=self._steps,
            input_tokens=usage.input_tokens or 0,
            output_tokens=usage.output_tokens or 0,
            cost=self._cost(),
            seconds=round(time.monotonic() - self._started, 6),
            at=self._at(),
        )
        self._emit(end)
        return RunResult(
            status=status,
            answer=answer,
            reason=reason,
            steps=self._steps,
            transcript=tuple(self._messages),
            input_tokens=end.input_tokens,
            output_tokens=end.output_tokens,
            cost=end.cost,
            seconds=end.seconds,
        )


__all__ = ["Agent", "Limits", "Observer", "RunResult", "repeat_note"]
