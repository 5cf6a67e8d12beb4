"""``diagnose``: a terse error code to diagnose, with a trap that invites a ruled-out fix.

Each task is a failing service. ``status`` shows a terse code and a log line that points at a
component X (the trap); ``lookup`` says the code has two possible causes, X and Y, each at
fault only when its probe reading is over a limit; ``probe`` gives one reading. X reads high
but under its limit (ruled out); Y reads over its limit (the cause). The reference path::

    status(service) -> "E17; last log: db latency high"      (the symptom points at X)
    lookup(code)    -> "causes: db (over 200 ms), queue (over 1000)"
    probe(X)        -> "db: latency 182 ms"                  (under the limit: ruled out)
    probe(Y)        -> "queue: depth 4310"                   (over the limit: the cause)
    fix(Y)          -> "queue: drained"
    status(service) -> "OK"

and the answer names Y. Fixing X "works" (``fix`` says it restarted X) but changes nothing,
and ``status`` still shows the same code. Every fix is recorded; success is Y fixed, X never
fixed, and Y named in the answer.

Why discarding thinking should hurt: ruling X out is a conclusion, not a fact any result
states: the model compares X's reading with a limit given two results earlier, in thinking.
By the time it chooses what to fix, the newest results and the first one's log line still
point at X, and X's reading looks high. With that thinking kept the model has "X: under its
limit, ruled out" in front of it; with it discarded it has to compare the numbers again or go
with the symptom, and the fix for X looks successful, so the mistake is not caught until a
re-check shows the same code (and by then the ruled-out fix has been applied).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from thinkwire.agent.tools import AgentTool, tool
from thinkwire.evals.tasks import Action, Check, Episode, Task, Turn, answer_has

FAMILY = "diagnose"
SYSTEM = "You are an on-call engineer. Use the tools, then answer in one or two sentences."


@dataclass(frozen=True)
class Component:
    """A component the probes read: what is measured, its unit, its limit, what its fix does."""

    name: str
    metric: str
    unit: str
    limit: int
    fixed: str
    symptom: str
    aliases: tuple[str, ...] = ()
    """Other names an answer may give it ("the database" names ``db``)."""


_COMPONENTS = (
    Component("db", "latency", " ms", 200, "restarted", "db latency high", aliases=("database",)),
    Component("queue", "depth", "", 1000, "drained", "queue backing up"),
    Component("cache", "misses", "%", 60, "flushed", "cache misses rising"),
    Component("disk", "used", "%", 90, "cleaned", "disk writes slow"),
    Component("dns", "lookup", " ms", 500, "reloaded", "dns lookups slow"),
    Component("pool", "connections", "", 95, "reset", "pool near its connection cap"),
    Component("cpu", "load", "%", 85, "rebalanced", "cpu load high"),
    Component("memory", "used", "%", 90, "recycled", "memory pressure"),
)
_SERVICES = (
    "checkout",
    "search",
    "billing",
    "login",
    "upload",
    "orders",
    "mailer",
    "reports",
    "profile",
    "feeds",
)
_MEANINGS = ("requests time out", "responses slow", "writes rejected", "health check failing", "jobs stalled")


@dataclass(frozen=True)
class Scenario:
    """One task's fixed data (made by ``scenario(n)``, the same on every run)."""

    service: str
    code: str
    meaning: str
    trap: Component
    cause: Component
    trap_reading: int
    cause_reading: int

    def reading(self, component: Component) -> str:
        value = self.trap_reading if component is self.trap else self.cause_reading
        return f"{component.name}: {component.metric} {value}{component.unit}"


def scenario(n: int) -> Scenario:
    """Task ``n``'s data, from a generator seeded by ``n``."""
    rng = random.Random(7200 + n)
    trap, cause = rng.sample(_COMPONENTS, 2)
    return Scenario(
        service=_SERVICES[n - 1],
        code=f"E{rng.randint(10, 99)}",
        meaning=rng.choice(_MEANINGS),
        trap=trap,
        cause=cause,
        # high enough to look like the problem, still under the limit
        trap_reading=max(1, round(trap.limit * rng.uniform(0.8, 0.95))),
        cause_reading=_over(cause, rng),
    )


def _over(component: Component, rng: random.Random) -> int:
    """A reading clearly over ``component``'s limit (a percentage stays at most 99)."""
    if component.unit == "%":
        return rng.randint(min(component.limit + 5, 97), 99)
    return round(component.limit * rng.uniform(1.3, 3.0))


class DiagnoseEpisode(Episode):
    """The failing service of one run: ``fixes`` records every fix applied, in order."""

    def __init__(self, data: Scenario) -> None:
        self.data = data
        self.fixes: list[str] = []
        d = data
        user = (
            f"The {d.service} service is failing. Check its status, look up the error code, probe "
            f"each cause the code lists, fix the cause that is at fault, then check the status again. "
            f"Answer with the component you fixed."
        )
        self.turns = (
            Turn(
                user=user,
                actions=(
                    Action("status", {"service": d.service}),
                    Action("lookup", {"code": d.code}),
                    Action("probe", {"component": d.trap.name}),
                    Action("probe", {"component": d.cause.name}),
                    Action("fix", {"component": d.cause.name}),
                    Action("status", {"service": d.service}),
                ),
                answer=(
                    f"The cause was {d.cause.name} ({d.reading(d.cause)}, over its limit of "
                    f"{d.cause.limit}); {d.trap.name} was under its limit. I fixed {d.cause.name} "
                    f"and {d.service} is OK."
                ),
            ),
        )

    @property
    def healthy(self) -> bool:
        return self.data.cause.name in self.fixes

    def _component(self, name: str) -> Component:
        d = self.data
        found = {c.name: c for c in (d.trap, d.cause)}.get(name.strip().lower())
        if found is None:
            raise ValueError(f"no component {name!r} (components: {d.trap.name}, {d.cause.name})")
        return found

    def tools(self) -> list[AgentTool]:
        d = self.data

        def status(service: str) -> str:
            """Show a service's status: OK or an error code.

            Args:
                service: the service's name
            """
            if service.strip().lower() != d.service:
                return f"error: no service {service!r}"
            if self.healthy:
                return f"{d.service}: OK"
            return f"{d.service}: {d.code}; last log: {d.trap.symptom}"

        def lookup(code: str) -> str:
            """Look up what an error code means and its possible causes.

            Args:
                code: the error code, like E17
            """
            if code.strip().upper() != d.code:
                return f"error: unknown code {code!r}"
            causes = ", ".join(
                f"{c.name} (at fault if {c.metric} over {c.limit}{c.unit})" for c in (d.trap, d.cause)
            )
            return f"{d.code}: {d.meaning}. Possible causes: {causes}."

        def probe(component: str) -> str:
            """Read a component's probe.

            Args:
                component: the component's name
            """
            return d.reading(self._component(component))

        def fix(component: str) -> str:
            """Apply a component's standard fix.

            Args:
                component: the component's name
            """
            found = self._component(component)
            self.fixes.append(found.name)
            return f"{found.name}: {found.fixed}"

        return [tool(status), tool(lookup), tool(probe), tool(fix)]

    def check(self, answers: Sequence[str | None]) -> Check:
        d = self.data
        if d.trap.name in self.fixes:
            ruled = f"{d.trap.name} was ruled out ({d.reading(d.trap)}, limit {d.trap.limit})"
            return Check(passed=False, detail=f"fixed {d.trap.name} but {ruled}")
        if not self.healthy:
            return Check(passed=False, detail=f"{d.cause.name} was the cause and was not fixed")
        answer = answers[0] if answers else None
        if not any(answer_has(answer, name) for name in (d.cause.name, *d.cause.aliases)):
            return Check(passed=False, detail=f"fixed {d.cause.name} but the answer does not name it")
        return Check(passed=True, detail=f"fixed {d.cause.name}, left {d.trap.name} alone")


def _task(n: int) -> Task:
    data = scenario(n)
    return Task(
        id=f"{FAMILY}-{n:02d}",
        family=FAMILY,
        build=lambda: DiagnoseEpisode(data),
        system=SYSTEM,
        description=(
            f"{data.service} {data.code}: the log points at {data.trap.name}, a probe rules it out, "
            f"{data.cause.name} is the cause"
        ),
    )


TASKS: list[Task] = [_task(n) for n in range(1, 11)]

__all__ = ["TASKS", "Component", "DiagnoseEpisode", "Scenario", "scenario"]
