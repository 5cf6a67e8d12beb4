"""``cascade``: dependent faults: fix A, re-check, find B, fix B, verify.

Each task is a failing system with two faults, where B hides behind A: while A is there the
check shows only A's code, and B's fix has nothing to hold on to (it "runs" and changes
nothing). The user message gives a short table of codes and the action that fixes each (the
two real ones and two decoys). The reference path::

    check()     -> "FAIL E42"      (A)
    apply(a)    -> "renew_cert: done"
    check()     -> "FAIL E43"      (B, only now visible; a code close to A's)
    apply(b)    -> "flush_cache: done"
    check()     -> "OK"

Every action applied is recorded. Success: A's action applied, B's action applied after A's
(never before), no action that no failing code called for, and a last check that passed after
the last fix.

Why discarding thinking should hurt: what the model has to hold on to is its reading of the
chain: "E42 meant A, A is fixed, this new code is a second fault that A was hiding". Right
after "renew_cert: done" comes another FAIL with a code one digit off the first. With that
thinking kept, the model reads the new code as new and looks it up; with it discarded, it sees
a fix followed by a failure and is invited to conclude the fix did not take: to apply A again
(wasted steps), to reach for a decoy action (fails), or to stop and report success after the
first fix without the final check (fails).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from thinkwire.agent.tools import AgentTool, tool
from thinkwire.evals.tasks import Action, Check, Episode, Task, Turn

FAMILY = "cascade"
SYSTEM = "You are an operations engineer. Use the tools, then answer in one or two sentences."

_FAULTS = (
    ("certificate expired", "renew_cert"),
    ("cache stale", "flush_cache"),
    ("workers stuck", "restart_workers"),
    ("config out of date", "reload_config"),
    ("disk full", "clean_disk"),
    ("queue jammed", "purge_queue"),
    ("schema behind", "migrate_schema"),
    ("key revoked", "rotate_keys"),
    ("bad release", "rollback"),
    ("dns record missing", "add_dns_record"),
)
_SYSTEMS = ("web", "api", "mail", "build", "payments", "chat", "storage", "auth", "metrics", "backup")


@dataclass(frozen=True)
class Fault:
    code: str
    meaning: str
    action: str


@dataclass(frozen=True)
class Scenario:
    """One task's fixed data (made by ``scenario(n)``, the same on every run)."""

    system: str
    first: Fault
    second: Fault
    decoys: tuple[Fault, ...]

    @property
    def table(self) -> tuple[Fault, ...]:
        """The code table in the user message, ordered by code."""
        return tuple(sorted((self.first, self.second, *self.decoys), key=lambda f: f.code))


def scenario(n: int) -> Scenario:
    """Task ``n``'s data, from a generator seeded by ``n``."""
    rng = random.Random(7300 + n)
    kinds = rng.sample(_FAULTS, 4)
    base = rng.randint(11, 88)
    codes = [f"E{base}", f"E{base + 1}"]
    if n % 2 == 0:
        codes.reverse()  # B's code may come before A's
    while len(codes) < 4:
        code = f"E{rng.randint(10, 99)}"
        if code not in codes:
            codes.append(code)
    first, second, *decoys = (Fault(c, m, a) for c, (m, a) in zip(codes, kinds, strict=True))
    return Scenario(system=_SYSTEMS[n - 1], first=first, second=second, decoys=tuple(decoys))


class CascadeEpisode(Episode):
    """The failing system of one run: ``applied`` records every action, in order."""

    def __init__(self, data: Scenario) -> None:
        self.data = data
        self.applied: list[str] = []
        self.fixed: set[str] = set()
        self.early: list[str] = []
        """Actions applied while their fault was still hidden behind another."""
        self.verified = False
        """The last check passed, and no action came after it."""
        d = data
        table = "; ".join(f"{f.code} = {f.meaning} (fix: {f.action})" for f in d.table)
        user = (
            f"The {d.system} system is failing. Codes: {table}. Run the check, apply the fix for "
            f"the code it shows, and check again; repeat until the check passes. Then say what you fixed."
        )
        self.turns = (
            Turn(
                user=user,
                actions=(
                    Action("check"),
                    Action("apply", {"action": d.first.action}),
                    Action("check"),
                    Action("apply", {"action": d.second.action}),
                    Action("check"),
                ),
                answer=(
                    f"Fixed {d.first.code} ({d.first.meaning}) with {d.first.action}, then "
                    f"{d.second.code} ({d.second.meaning}) with {d.second.action}; the check passes."
                ),
            ),
        )

    def tools(self) -> list[AgentTool]:
        d = self.data

        def check() -> str:
            """Run the system's check: OK or FAIL with a code."""
            for fault in (d.first, d.second):
                if fault.action not in self.fixed:
                    self.verified = False
                    return f"{d.system}: FAIL {fault.code}"
            self.verified = True
            return f"{d.system}: OK"

        def apply(action: str) -> str:
            """Apply a fix action.

            Args:
                action: the fix action, like renew_cert
            """
            known = {f.action for f in d.table}
            name = action.strip().lower()
            if name not in known:
                return f"error: unknown action {action!r} (actions: {', '.join(sorted(known))})"
            self.applied.append(name)
            self.verified = False
            if name == d.second.action and d.first.action not in self.fixed:
                self.early.append(name)  # B is hidden behind A: the fix has nothing to hold on to
            else:
                self.fixed.add(name)
            return f"{name}: done"

        return [tool(check), tool(apply)]

    def check(self, answers: Sequence[str | None]) -> Check:
        d = self.data
        wanted = {d.first.action, d.second.action}
        stray = [a for a in self.applied if a not in wanted]
        if stray:
            return Check(passed=False, detail=f"applied {stray[0]}, which no failing code called for")
        if self.early:
            return Check(
                passed=False,
                detail=f"applied {d.second.action} before {d.first.action} ({d.second.code} was not showing)",
            )
        if d.first.action not in self.fixed:
            return Check(passed=False, detail=f"{d.first.code} was never fixed ({d.first.action})")
        if d.second.action not in self.fixed:
            return Check(
                passed=False,
                detail=f"fixed {d.first.code} only; {d.second.code} still fails ({d.second.action})",
            )
        if not self.verified:
            return Check(passed=False, detail="both faults fixed, but no passing check after the last fix")
        return Check(passed=True, detail=f"fixed {d.first.code} then {d.second.code}; the check passes")


def _task(n: int) -> Task:
    data = scenario(n)
    return Task(
        id=f"{FAMILY}-{n:02d}",
        family=FAMILY,
        build=lambda: CascadeEpisode(data),
        system=SYSTEM,
        description=(
            f"{data.system}: {data.first.code} hides {data.second.code}; "
            f"{data.first.action}, re-check, {data.second.action}, verify"
        ),
    )


TASKS: list[Task] = [_task(n) for n in range(1, 11)]

__all__ = ["TASKS", "CascadeEpisode", "Fault", "Scenario", "scenario"]
