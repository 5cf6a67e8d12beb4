"""The eval runner: every (task, trial) under every policy with the same seed, resumable.

``Runner(tasks, model, policies, trials, out).run()`` plays each run with ``run_task`` and
appends its ``Outcome`` to ``OUT/results.jsonl`` as soon as it finishes, with the run's trace
under ``OUT/traces/TASK/tTRIAL-POLICY.jsonl``. ``OUT/meta.json`` records what is being measured
(suite, model, policies, trials); a rerun with the same ``OUT`` skips the runs already in
``results.jsonl`` (``retry_errors`` reruns those that ended in an error, e.g. a lost
connection) and refuses to mix in runs of another model or suite.

The seed of a (task, trial) is a hash of both, so every policy of a pair samples alike (the
local engine settles its KV cache before a seeded first turn so that it does). Up to
``concurrency`` runs go at once; ``min_interval`` spaces model requests for remote APIs'
rate limits (``RateLimited``, which also waits out a 429's ``retry-after``). The local engine
runs one generation at a time whatever the concurrency.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import msgspec

from thinkwire.agent.loop import Limits
from thinkwire.agent.models import Model, Price
from thinkwire.agent.trace import TraceWriter
from thinkwire.errors import ThinkwireError
from thinkwire.evals.episode import ModelSource, Outcome, run_task
from thinkwire.evals.tasks import Task
from thinkwire.ir.conversation import Request
from thinkwire.ir.stream import StreamEvent
from thinkwire.policy import Policy

RESULTS = "results.jsonl"
META = "meta.json"
RETRIES = 4
"""Times a rate-limited request (429, 529, 503) is retried before the run ends in an error."""


class EvalError(ThinkwireError):
    """The eval cannot run (the message says why)."""


class Meta(msgspec.Struct, frozen=True, kw_only=True):
    """What an output directory measures (``meta.json``)."""

    suite: str
    model: str
    policies: tuple[Policy, ...]
    trials: int
    tasks: tuple[str, ...]
    started: str = ""
    command: str = ""


def seed_of(task: str, trial: int) -> int:
    return zlib.crc32(f"{task}:{trial}".encode()) & 0x7FFFFFFF


class RateLimited:
    """``model`` with at least ``min_interval`` seconds between requests, and rate-limit
    refusals (429, 529, 503 before the first event) retried after their ``retry-after``."""

    def __init__(self, model: Model, min_interval: float = 0.0, retries: int = RETRIES) -> None:
        self.model, self.min_interval, self.retries = model, min_interval, retries
        self.name = model.name
        self.price: Price | None = model.price
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def stream(self, request: Request, *, seed: int | None = None) -> AsyncIterator[StreamEvent]:
        for attempt in range(self.retries + 1):
            async with self._lock:
                wait = self._next - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                self._next = time.monotonic() + self.min_interval
            started = False
            try:
                async for event in self.model.stream(request, seed=seed):
                    started = True
                    yield event
                return
            except ThinkwireError as exc:
                status = getattr(exc, "status", None)
                if started or status not in (429, 503, 529) or attempt == self.retries:
                    raise
                after = _seconds(getattr(exc, "retry_after", None)) or 2.0 ** (attempt + 1)
                await asyncio.sleep(min(after, 60.0))

    async def aclose(self) -> None:
        await self.model.aclose()


def _seconds(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


Key = tuple[str, int, str]


class Runner:
    def __init__(
        self,
        tasks: Sequence[Task],
        model: ModelSource,
        meta: Meta,
        out: Path,
        *,
        concurrency: int = 1,
        limits: Limits | None = None,
        max_tokens: int | None = None,
        retry_errors: bool = False,
        on_outcome: Callable[[Outcome], None] | None = None,
    ) -> None:
        if concurrency < 1:
            raise EvalError("concurrency must be at least 1")
        self.tasks, self.model, self.meta, self.out = list(tasks), model, meta, out
        self.concurrency, self.limits, self.max_tokens = concurrency, limits, max_tokens
        self.retry_errors, self.on_outcome = retry_errors, on_outcome

    def plan(self) -> list[tuple[Task, int, Policy]]:
        """Every run, pairs together (a task's trial under each policy in a row)."""
        return [
            (t, trial, p) for t in self.tasks for trial in range(self.meta.trials) for p in self.meta.policies
        ]

    def done(self) -> dict[Key, Outcome]:
        """Outcomes already in ``results.jsonl`` (the last one of each run wins)."""
        path = self.out / RESULTS
        found: dict[Key, Outcome] = {}
        if not path.is_file():
            return found
        for number, line in enumerate(path.read_bytes().splitlines(), 1):
            if not line.strip():
                continue
            try:
                outcome = msgspec.json.decode(line, type=Outcome)
            except msgspec.DecodeError as exc:
                raise EvalError(f"{path}:{number}: not an outcome: {exc}") from None
            found[(outcome.task, outcome.trial, outcome.policy)] = outcome
        return found

    def pending(self) -> list[tuple[Task, int, Policy]]:
        done = self.done()
        return [
            (t, trial, p)
            for t, trial, p in self.plan()
            if (key := (t.id, trial, p)) not in done or (self.retry_errors and done[key].status == "error")
        ]

    def prepare(self) -> None:
        """Create ``out`` and its ``meta.json``, or check an existing one measures the same."""
        self.out.mkdir(parents=True, exist_ok=True)
        path = self.out / META
        if path.is_file():
            try:
                old = msgspec.json.decode(path.read_bytes(), type=Meta)
            except msgspec.DecodeError as exc:
                raise EvalError(f"{path}: not an eval's meta.json: {exc}") from None
            for field in ("suite", "model"):
                if getattr(old, field) != getattr(self.meta, field):
                    raise EvalError(
                        f"{self.out} holds runs of {field} {getattr(old, field)!r}, not "
                        f"{getattr(self.meta, field)!r}: use another --out"
                    )
        path.write_bytes(msgspec.json.format(msgspec.json.encode(self.meta)))

    async def run(self) -> list[Outcome]:
        """Play every pending run; return every outcome of the plan (old and new)."""
        self.prepare()
        gate = asyncio.Semaphore(self.concurrency)
        results = self.out / RESULTS

        async def one(task: Task, trial: int, policy: Policy) -> None:
            async with gate:
                trace_path = self.out / "traces" / task.id / f"t{trial}-{policy}.jsonl"
                with TraceWriter(trace_path) as trace:
                    outcome = await run_task(
                        task,
                        self.model,
                        policy=policy,
                        trial=trial,
                        seed=seed_of(task.id, trial),
                        limits=self.limits,
                        max_tokens=self.max_tokens,
                        trace=trace,
                    )
                outcome = msgspec.structs.replace(outcome, trace=str(trace_path.relative_to(self.out)))
                with results.open("ab") as handle:
                    handle.write(msgspec.json.encode(outcome) + b"\n")
                if self.on_outcome is not None:
                    self.on_outcome(outcome)

        pending = self.pending()  # before the group: its errors would come wrapped in a group
        async with asyncio.TaskGroup() as group:
            for task, trial, policy in pending:
                group.create_task(one(task, trial, policy))
        done = self.done()
        return [done[(t.id, trial, p)] for t, trial, p in self.plan() if (t.id, trial, p) in done]


__all__ = ["META", "RESULTS", "EvalError", "Meta", "RateLimited", "Runner", "seed_of"]
