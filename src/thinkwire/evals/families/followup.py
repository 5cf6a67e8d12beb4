"""The ``followup`` family: a later user turn acts on what the model concluded in the first.

Turn 1 asks the model to find one of four things (servers, databases, accounts, ...) by a rule
with a trap: "the one with the most X that is not Y". The list tool shows X for all four; the
inspect tool shows Y, an attribute the question asks about, and the owning team. The one with
the most X is Y (the trap), so the answer is the runner-up. The question asks for the found
one's attribute only ("Reply with the region only"), and the trap shares that attribute, so
the first answer does not identify what was found.

The later turns say "the server you found" without naming it and ask for an action on it:

- tasks 01, 03, ... (2 turns): turn 2 acts on it (restart, lock, flush, ...) and asks for the
  value the action reports;
- tasks 02, 04, ... (3 turns): turn 2 pages the team that owns it (a team the trap shares, so
  the page names no single thing either), turn 3 acts on it.

Success: every action targets the found one (an action on any other fails), the page went to
its team, and each answer holds its value (the attribute, the page id, the reported value).

Why discarding thinking should hurt: which one was found is a conclusion that lives only in
the turn-1 thinking. The visible record (tool calls, tool results and the answer) never names
it: the answer is an attribute the trap shares, the page names a shared team. A model without
its thinking must redo the turn-1 reasoning from old tool results when the follow-up comes,
and the most salient candidate in them, the one with the most X, is the trap.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

from thinkwire.agent.tools import AgentTool, tool
from thinkwire.evals.tasks import Action, Check, Episode, Task, Turn, answer_has


@dataclass(frozen=True)
class Domain:
    """The things a task is about, and the words its turns and tools use."""

    key: str  # tool name part: list_servers, inspect_server, restart_server
    unit: str  # what is counted, as the list shows it: "errors"
    metric: str  # the same in the question: "errors in the last hour"
    status: str  # the label of the state that rules one out: "status"
    good: str  # "active"
    bad: str  # "maintenance"
    rule: str  # the rule as the question says it: "that is not in maintenance"
    attr: str  # the attribute asked about in turn 1: "region"
    places: tuple[str, str]  # its two values (the found one and the trap share the first)
    verb: str  # the action of the follow-up: "restart"
    done: str  # "restarted"
    result: str  # what the action reports: "new pid"
    names: tuple[str, str, str, str]


DOMAINS = (
    Domain(
        "server", "errors", "errors in the last hour", "status", "active", "maintenance",
        "that is not in maintenance", "region", ("eu-west", "us-east"), "restart", "restarted", "new pid",
        ("api-1", "web-2", "auth-3", "batch-4"),
    ),
    Domain(
        "database", "slow queries", "slow queries today", "role", "primary", "replica",
        "that is not a replica", "zone", ("zone-a", "zone-b"), "vacuum", "vacuumed", "job id",
        ("orders-db", "users-db", "stock-db", "audit-db"),
    ),
    Domain(
        "warehouse", "backorders", "backorders", "state", "open", "closed",
        "that is not closed", "carrier", ("DHL", "UPS"), "recount", "recounted", "count id",
        ("Leeds", "Bremen", "Lyon", "Porto"),
    ),
    Domain(
        "account", "failed logins", "failed logins today", "type", "person", "service",
        "that is not a service account", "office", ("Berlin", "Madrid"), "lock", "locked", "case number",
        ("mara.k", "tom.b", "ines.r", "li.wei"),
    ),
    Domain(
        "agent", "failed builds", "failed builds this week", "state", "online", "offline",
        "that is not offline", "pool", ("linux", "macos"), "reimage", "reimaged", "image number",
        ("agent-a", "agent-b", "agent-c", "agent-d"),
    ),
    Domain(
        "sensor", "alarms", "alarms today", "mode", "normal", "calibration",
        "that is not in calibration", "building", ("north wing", "south wing"), "reset", "reset",
        "reset code",
        ("temp-a", "temp-b", "temp-c", "temp-d"),
    ),
    Domain(
        "router", "dropped packets", "dropped packets per minute", "state", "live", "decommissioned",
        "that is not decommissioned", "rack", ("rack-east", "rack-west"), "reboot", "rebooted", "boot id",
        ("rt-ams", "rt-fra", "rt-par", "rt-mad"),
    ),
    Domain(
        "store", "refund requests", "refund requests this week", "state", "open", "closed",
        "that is not closed", "district", ("Central", "Riverside"), "audit", "audited", "audit number",
        ("Kingsway", "Elm Street", "Harbour Mall", "Station Road"),
    ),
    Domain(
        "vendor", "late deliveries", "late deliveries this quarter", "contract", "active", "ended",
        "whose contract has not ended", "country", ("Poland", "Spain"), "escalate", "escalated",
        "case number", ("Acme", "Globex", "Initech", "Umbra"),
    ),
    Domain(
        "cache", "evictions", "evictions per minute", "state", "serving", "draining",
        "that is not draining", "cluster", ("blue", "green"), "flush", "flushed", "flush id",
        ("cache-1", "cache-2", "cache-3", "cache-4"),
    ),
)  # fmt: skip

TEAMS = ("payments", "search", "checkout", "identity", "billing", "platform", "mobile", "logistics")


@dataclass(frozen=True)
class Thing:
    name: str
    count: int  # the metric the list shows
    ok: bool  # False: ruled out by the rule (the bad status)
    place: str
    team: str
    reports: int  # what acting on it reports


def _things(number: int, domain: Domain) -> tuple[list[Thing], Thing, Thing]:
    """The four things in list order, the trap (most X, ruled out) and the one to find."""
    rng = random.Random(1000 + number)
    counts = sorted(rng.sample(range(20, 400), 4), reverse=True)
    reports = rng.sample(range(10_000, 100_000), 4)
    names = list(domain.names)
    rng.shuffle(names)
    ours, theirs = rng.sample(TEAMS, 2)
    near, far = domain.places
    trap = Thing(names[0], counts[0], False, near, ours, reports[0])
    found = Thing(names[1], counts[1], True, near, ours, reports[1])
    things = [
        trap,
        found,
        Thing(names[2], counts[2], True, far, theirs, reports[2]),
        Thing(names[3], counts[3], number % 2 == 0, far, theirs, reports[3]),
    ]
    rng.shuffle(things)
    return things, trap, found


def rule_pick(things: Sequence[Thing]) -> Thing:
    """What the turn-1 rule finds: the most X among those not ruled out."""
    return max((t for t in things if t.ok), key=lambda t: t.count)


@dataclass
class FollowupEpisode(Episode):
    """One conversation: the four things, what the tools did to them, the reference and the check."""

    number: int
    domain: Domain
    things: list[Thing] = field(init=False)
    trap: Thing = field(init=False)
    found: Thing = field(init=False)
    acted: list[str] = field(init=False, default_factory=list)
    paged: list[str] = field(init=False, default_factory=list)

    @property
    def pages(self) -> bool:
        """Whether this task has the paging turn (3 turns)."""
        return self.number % 2 == 0

    def page_id(self, team: str) -> str:
        return f"P-{100 + 7 * self.number + 3 * TEAMS.index(team)}"

    def __post_init__(self) -> None:
        d = self.domain
        self.things, self.trap, self.found = _things(self.number, d)
        assert rule_pick(self.things) == self.found
        found = self.found
        first = Turn(
            user=(
                f"Find the {d.key} with the most {d.metric} {d.rule}. "
                f"What is its {d.attr}? Reply with the {d.attr} only."
            ),
            actions=(
                Action(f"list_{d.key}s"),
                Action(f"inspect_{d.key}", {"name": self.trap.name}),
                Action(f"inspect_{d.key}", {"name": found.name}),
            ),
            answer=found.place,
        )
        act = Action(f"{d.verb}_{d.key}", {"name": found.name})
        acted = f"{d.done.capitalize()} it; the {d.result} is {found.reports}."
        if not self.pages:
            ask = f"{d.verb.capitalize()} the {d.key} you found and tell me the {d.result} it reports."
            self.turns = (first, Turn(user=ask, actions=(act,), answer=acted))
            return
        page = Turn(
            user=f"Page the team that owns the {d.key} you found and tell me the page id.",
            actions=(Action("page_team", {"team": found.team}),),
            answer=f"Paged {found.team}; the page id is {self.page_id(found.team)}.",
        )
        last = Turn(
            user=f"Now {d.verb} that {d.key} and tell me the {d.result} it reports.",
            actions=(act,),
            answer=acted,
        )
        self.turns = (first, page, last)

    def _thing(self, name: str) -> Thing:
        wanted = name.strip().lower()
        for thing in self.things:
            if thing.name.lower() == wanted:
                return thing
        names = ", ".join(t.name for t in self.things)
        raise ValueError(f"no {self.domain.key} named {name!r} ({self.domain.key}s: {names})")

    def tools(self) -> list[AgentTool]:
        d = self.domain

        def listing() -> str:
            return "\n".join(f"{t.name}: {t.count} {d.unit}" for t in self.things)

        def inspect(name: str) -> str:
            t = self._thing(name)
            return f"{t.name}: {d.status} {d.good if t.ok else d.bad}, {d.attr} {t.place}, team {t.team}"

        def act(name: str) -> str:
            t = self._thing(name)
            self.acted.append(t.name)
            return f"{d.done} {t.name}; {d.result} {t.reports}"

        def page_team(team: str) -> str:
            """Page a team's on-call engineer.

            Args:
                team: the team's name
            """
            name = team.strip().lower()
            if name not in {t.team for t in self.things}:
                raise ValueError(f"no team {team!r}")
            self.paged.append(name)
            return f"paged {name}; page id {self.page_id(name)}"

        about = f"\n\nArgs:\n    name: the {d.key}'s name"
        tools = [
            _tool(listing, f"list_{d.key}s", f"List the {d.key}s with their {d.metric}."),
            _tool(inspect, f"inspect_{d.key}", f"A {d.key}'s {d.status}, {d.attr} and team.{about}"),
            _tool(act, f"{d.verb}_{d.key}", f"{d.verb.capitalize()} a {d.key}.{about}"),
        ]
        return [*tools, tool(page_team)] if self.pages else tools

    def check(self, answers: Sequence[str | None]) -> Check:
        d, found = self.domain, self.found
        wrong = [n for n in self.acted if n != found.name]
        if wrong:
            return Check(False, f"{d.done} {wrong[0]} but the {d.key} found was {found.name}")
        stray = [t for t in self.paged if t != found.team]
        if stray:
            return Check(False, f"paged {stray[0]} but {found.name} belongs to {found.team}")
        if self.pages and not self.paged:
            return Check(False, f"never paged {found.team}, the team of {found.name}")
        if not self.acted:
            return Check(False, f"never {d.done} {found.name}, the {d.key} found")
        expected: list[str | int] = [
            found.place,
            *([self.page_id(found.team)] if self.pages else []),
            found.reports,
        ]
        for turn, value in enumerate(expected):
            if not answer_has(answers[turn] if turn < len(answers) else None, value):
                return Check(False, f"turn {turn + 1} answer lacks {value}")
        return Check(True, f"{d.done} {found.name}, the {d.key} found in turn 1")


def _tool(fn: Callable[..., str], name: str, description: str) -> AgentTool:
    """``fn`` as a tool whose description is made per task (a closure's docstring is fixed)."""
    fn.__doc__ = description
    return tool(fn, name=name)


TASKS: list[Task] = [
    Task(
        id=f"followup-{n:02d}",
        family="followup",
        build=partial(FollowupEpisode, n, domain),
        description=(
            f"find the {domain.key} a rule picks, then {'page its team and ' if n % 2 == 0 else ''}"
            f"{domain.verb} it when a later turn says 'the one you found'"
        ),
    )
    for n, domain in enumerate(DOMAINS, start=1)
]

__all__ = ["DOMAINS", "TASKS", "FollowupEpisode", "Domain", "Thing", "rule_pick"]
