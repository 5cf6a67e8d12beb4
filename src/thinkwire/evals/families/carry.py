"""``carry``: a value derived early and needed late, never visible in a tool call.

Each task is a support ticket to assign. The user message gives a rule: the ticket's deadline
day is the day it was opened plus an offset that depends on its plan (the offsets differ from
task to task). The reference path is four tool steps::

    get_ticket(id)         -> plan and opened day: the model derives the deadline here (step 1)
    get_customer(name)     -> the customer's region, among other numbers (distractors)
    list_engineers(region) -> engineers and the day each is free from (numbers near the deadline)
    assign(id, engineer)   -> the first engineer free on or before the deadline

and the answer names the deadline day and the engineer. Success: the right engineer is assigned
(state) and the answer has both the deadline day and that engineer (``answer_has``).

Why discarding thinking should hurt: the deadline is computed once, in thinking, right after
``get_ticket``. No tool takes it as an argument and no tool result states it, so once that
thinking is gone the only way back is to find the ticket result again, two results earlier,
and redo the rule, while the newer results are full of day numbers close to the deadline
(the customer's record, every engineer's free day). The engineers are laid out so that each
plausible slip picks someone else: a deadline one to three days late picks an engineer listed
earlier, the opened day taken for the deadline picks one listed later, and a deadline guessed
from nearby numbers is rarely the one the answer needs.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from thinkwire.agent.tools import AgentTool, tool
from thinkwire.evals.tasks import Action, Check, Episode, Task, Turn, answer_has

FAMILY = "carry"
SYSTEM = "You are a support lead. Use the tools, then answer in one or two sentences."

_CUSTOMERS = (
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Vandelay",
    "Stark",
    "Wayne",
    "Tyrell",
    "Soylent",
)
_REGIONS = ("eu", "us", "apac")
_ENGINEERS = (
    "Ana", "Bo", "Chen", "Dara", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jun",
    "Kai", "Lea", "Milo", "Nia", "Omar", "Pia",
)  # fmt: skip
_PLANS = ("gold", "silver", "bronze")


@dataclass(frozen=True)
class Scenario:
    """One task's fixed data (made by ``scenario(n)``, the same on every run)."""

    ticket: str
    customer: str
    plan: str
    opened: int
    priority: int
    offsets: dict[str, int]
    region: str
    since: int
    open_tickets: int
    engineers: dict[str, tuple[tuple[str, int], ...]]
    """Region -> (engineer, free from day) in list order."""

    @property
    def deadline(self) -> int:
        return self.opened + self.offsets[self.plan]

    @property
    def engineer(self) -> str:
        """The first engineer of the ticket's region free on or before the deadline."""
        return next(name for name, free in self.engineers[self.region] if free <= self.deadline)


def scenario(n: int) -> Scenario:
    """Task ``n``'s data, from a generator seeded by ``n``."""
    rng = random.Random(7100 + n)
    offsets = {"gold": rng.randint(2, 3), "silver": rng.randint(4, 5), "bronze": rng.randint(6, 9)}
    plan = _PLANS[(n - 1) % 3]
    opened = rng.randint(4, 20)
    deadline = opened + offsets[plan]
    region, other = rng.sample(_REGIONS, 2)
    names = rng.sample(_ENGINEERS, 7)
    # too late, too late by a day, the answer (free on the deadline or the day before), and a
    # later one that is also free in time: a model that takes the opened day picks this one
    days = [deadline + rng.randint(3, 5), deadline + 1, deadline - rng.randint(0, 1), deadline - 3]
    mine = tuple(zip(names[:4], days, strict=True))
    theirs = tuple((name, deadline + rng.randint(-4, 4)) for name in names[4:])
    return Scenario(
        ticket=f"T-{rng.randint(100, 999)}",
        customer=_CUSTOMERS[n - 1],
        plan=plan,
        opened=opened,
        priority=rng.randint(1, 3),
        offsets=offsets,
        region=region,
        since=deadline + rng.choice((-2, 2, 3)),
        open_tickets=rng.randint(2, 6),
        engineers={region: mine, other: theirs},
    )


class CarryEpisode(Episode):
    """The ticket desk of one run: what the tools changed is ``assigned`` (ticket -> engineer)."""

    def __init__(self, data: Scenario) -> None:
        self.data = data
        self.assigned: dict[str, str] = {}
        self.assignments: list[tuple[str, str]] = []
        d = data
        offsets = f"{d.offsets['gold']} days on the gold plan, {d.offsets['silver']} on silver, "
        offsets += f"{d.offsets['bronze']} on bronze"
        user = (
            f"Ticket {d.ticket} needs an engineer. Its deadline day is the day it was opened plus "
            f"{offsets}. Look up the ticket, then its customer's region, then the engineers of that "
            f"region, and assign the first engineer in the list who is free on or before the deadline "
            f"day. Answer with the deadline day and the engineer's name."
        )
        self.turns = (
            Turn(
                user=user,
                actions=(
                    Action("get_ticket", {"ticket_id": d.ticket}),
                    Action("get_customer", {"name": d.customer}),
                    Action("list_engineers", {"region": d.region}),
                    Action("assign", {"ticket_id": d.ticket, "engineer": d.engineer}),
                ),
                answer=f"The deadline is day {d.deadline}; I assigned {d.engineer} to {d.ticket}.",
            ),
        )

    def tools(self) -> list[AgentTool]:
        d = self.data

        def get_ticket(ticket_id: str) -> str:
            """Look up a support ticket.

            Args:
                ticket_id: the ticket id, like T-123
            """
            if ticket_id.strip().upper() != d.ticket:
                return f"error: no ticket {ticket_id!r}"
            return (
                f"{d.ticket}: customer {d.customer}, plan {d.plan}, opened day {d.opened}, "
                f"priority {d.priority}"
            )

        def get_customer(name: str) -> str:
            """Look up a customer's record.

            Args:
                name: the customer's name
            """
            if name.strip().lower() != d.customer.lower():
                return f"error: no customer {name!r}"
            return (
                f"{d.customer}: region {d.region}, customer since day {d.since}, "
                f"{d.open_tickets} open tickets"
            )

        def list_engineers(region: str) -> str:
            """List a region's engineers, each with the day they are free from.

            Args:
                region: the region, like eu
            """
            found = d.engineers.get(region.strip().lower())
            if found is None:
                return f"error: no region {region!r} (regions: {', '.join(d.engineers)})"
            return "\n".join(f"{name}: free from day {free}" for name, free in found)

        def assign(ticket_id: str, engineer: str) -> str:
            """Assign a ticket to an engineer.

            Args:
                ticket_id: the ticket id
                engineer: the engineer's name
            """
            if ticket_id.strip().upper() != d.ticket:
                return f"error: no ticket {ticket_id!r}"
            known = {name.lower(): name for crew in d.engineers.values() for name, _ in crew}
            name = known.get(engineer.strip().lower())
            if name is None:
                return f"error: no engineer {engineer!r}"
            self.assigned[d.ticket] = name
            self.assignments.append((d.ticket, name))
            return f"{d.ticket} assigned to {name}"

        return [tool(get_ticket), tool(get_customer), tool(list_engineers), tool(assign)]

    def check(self, answers: Sequence[str | None]) -> Check:
        d = self.data
        who = self.assigned.get(d.ticket)
        if who is None:
            return Check(passed=False, detail=f"{d.ticket} was not assigned")
        if who != d.engineer:
            return Check(
                passed=False,
                detail=f"assigned {who}, but {d.engineer} is the first free by day {d.deadline}",
            )
        answer = answers[0] if answers else None
        if not answer_has(answer, d.deadline):
            return Check(passed=False, detail=f"answer lacks the deadline day {d.deadline}")
        if not answer_has(answer, d.engineer):
            return Check(passed=False, detail=f"answer lacks the engineer {d.engineer}")
        return Check(passed=True, detail=f"assigned {who}, deadline day {d.deadline}")


def _task(n: int) -> Task:
    data = scenario(n)
    return Task(
        id=f"{FAMILY}-{n:02d}",
        family=FAMILY,
        build=lambda: CarryEpisode(data),
        system=SYSTEM,
        description=f"derive {data.ticket}'s deadline from its plan, keep it past two lookups, assign by it",
    )


TASKS: list[Task] = [_task(n) for n in range(1, 11)]

__all__ = ["TASKS", "CarryEpisode", "Scenario", "scenario"]
