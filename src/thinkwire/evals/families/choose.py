"""The ``choose`` family: pick one of 4-5 options by a stated rule, then book it in three steps.

Each task asks the model to book one option (a hotel, a rental car, a caterer, ...) by a
multi-criterion rule stated in the user message: among the options whose score is at least a
threshold *and* that are available, take the cheapest; on a price tie, take the one that wins
a stated tie-break (nearer, or higher score). The criteria come from three lookups (prices and
distances, scores, availability), none of which answers the question on its own. Then the
model books the option: ``reserve`` (a hold id), ``pay`` (the total, price x quantity, which no
tool ever states; a wrong amount is refused) and ``confirm``. Success: the rule's option is the
one confirmed and paid, no other option was paid, and the answer names it and the total.

The data is generated per task from a generator seeded by the task number (``_options``), with
the same traps every time: the cheapest option overall fails the score, the next cheapest is
not available, sometimes a third cheap option fails the score, and in tasks 01, 04, 05, 08 and 09 two
eligible options cost the same and the tie-break decides (the loser listed first).

Why discarding thinking should hurt: the pick is a conclusion drawn across three tool results
(which options survive the score, which of those are available, which of those is cheapest,
the tie-break), and the total is arithmetic on it; both live only in the model's thinking.
Tool calls and results stay visible under both policies, so a model that lost its thinking can
re-derive them, but only by redoing the whole cross-check at each later step (reserve, pay,
confirm), where the salient wrong answers (the cheapest overall, the first of two tied) are
waiting; a wrong total costs a refused payment and more steps.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Literal

from thinkwire.agent.tools import AgentTool, tool
from thinkwire.evals.tasks import Action, Check, Episode, Task, Turn, answer_has


@dataclass(frozen=True)
class Domain:
    """What is booked, and the words the task and its tools use for it."""

    noun: str  # "hotel"
    plural: str  # "hotels"
    unit: str  # what the price is per: "night"
    quantity: int  # how many units are booked
    score: str  # "guest rating" (out of 5)
    score_key: str  # tool name suffix: get_ratings
    threshold: float
    full: str  # an unavailable option's state: "fully booked"
    near: str  # what the distance is to: "the conference centre"
    names: tuple[str, str, str, str, str]
    base: int  # the cheapest price
    step: int  # the gap between price levels
    tiebreak: Literal["near", "score"]


@dataclass(frozen=True)
class Option:
    name: str
    price: int
    score: float
    available: bool
    km: float


DOMAINS = (
    Domain(
        "hotel", "hotels", "night", 3, "guest rating", "ratings", 4.0, "fully booked",
        "the conference centre", ("Harbor Inn", "Pine Lodge", "Grand Central", "Maple House", "Riverside"),
        80, 15, "near",
    ),
    Domain(
        "car", "cars", "day", 4, "safety score", "safety_scores", 4.2, "rented out",
        "the airport", ("Civic", "Golf", "Corolla", "Octavia", "Focus"),
        35, 5, "score",
    ),
    Domain(
        "room", "rooms", "hour", 3, "comfort rating", "comfort_ratings", 3.8, "taken",
        "reception", ("Aurora", "Birch", "Cedar", "Delta", "Echo"),
        20, 10, "near",
    ),
    Domain(
        "caterer", "caterers", "guest", 5, "hygiene rating", "hygiene_ratings", 4.5, "booked up",
        "the office", ("Olive Kitchen", "Spice Route", "Green Fork", "Tasty Table", "Silver Spoon"),
        12, 2, "score",
    ),
    Domain(
        "courier", "couriers", "parcel", 4, "on-time score", "ontime_scores", 4.0, "at capacity",
        "the warehouse", ("SwiftPost", "ParcelPro", "QuickShip", "RoadRunner", "BlueBox"),
        9, 3, "near",
    ),
    Domain(
        "venue", "venues", "day", 2, "accessibility rating", "accessibility_ratings", 4.0, "already booked",
        "the station", ("Old Mill", "Glasshouse", "Town Hall", "Boathouse", "Foundry"),
        400, 50, "score",
    ),
    Domain(
        "supplier", "suppliers", "laptop", 3, "warranty rating", "warranty_ratings", 4.3, "out of stock",
        "our office", ("Nordtech", "Bytehouse", "Compuline", "Techmart", "Datavault"),
        600, 40, "near",
    ),
    Domain(
        "mover", "movers", "hour", 4, "review score", "review_scores", 4.1, "fully booked",
        "the old flat", ("Heavy Lift", "Swift Movers", "Box Brothers", "City Vans", "Easy Move"),
        45, 5, "score",
    ),
    Domain(
        "guide", "guides", "day", 2, "visitor rating", "visitor_ratings", 4.4, "unavailable",
        "the hotel", ("Anna", "Bruno", "Chiara", "Dario", "Elena"),
        110, 20, "near",
    ),
    Domain(
        "provider", "providers", "month", 3, "uptime rating", "uptime_ratings", 4.0, "sold out",
        "our data centre", ("Nimbus", "Stratus", "Cirrus", "Cumulus", "Altus"),
        70, 10, "score",
    ),
)  # fmt: skip


def _options(number: int, domain: Domain) -> list[Option]:
    """The task's options in list order, with its traps (module docstring)."""
    rng = random.Random(number)
    names = list(domain.names)
    rng.shuffle(names)
    low, step, bar = domain.base, domain.step, domain.threshold
    tie = number % 4 in (0, 1)  # tasks 01, 04, 05, 08, 09

    def km(lo: float, hi: float) -> float:
        return round(rng.uniform(lo, hi), 1)

    def under() -> float:
        return round(bar - rng.choice((0.2, 0.3, 0.4, 0.5)), 1)

    winner = Option(names[2], low + 2 * step, round(bar + 0.5, 1), True, km(1.0, 2.0))
    rival = Option(
        names[3],
        winner.price if tie else low + 3 * step,
        round(bar + 0.2, 1) if domain.tiebreak == "score" else min(5.0, round(bar + 0.6, 1)),
        True,
        km(2.5, 4.0) if domain.tiebreak == "near" else km(0.5, 0.9),
    )
    options = [
        Option(names[0], low, under(), True, km(0.3, 0.9)),  # cheapest, fails the score
        Option(names[1], low + step, round(bar + 0.3, 1), False, km(0.5, 3.0)),  # not available
        winner,
        rival,
    ]
    if number % 3 == 0:
        options.append(Option(names[4], low + step, under(), True, km(0.5, 3.0)))  # cheaper, fails the score
    rng.shuffle(options)
    if tie and options.index(winner) < options.index(rival):  # the first of the tied must lose
        i, j = options.index(winner), options.index(rival)
        options[i], options[j] = rival, winner
    return options


def rule_pick(options: list[Option], domain: Domain) -> Option:
    """The option the task's rule picks: cheapest eligible, then the tie-break."""
    eligible = [o for o in options if o.score >= domain.threshold and o.available]
    if domain.tiebreak == "near":
        return min(eligible, key=lambda o: (o.price, o.km))
    return min(eligible, key=lambda o: (o.price, -o.score))


@dataclass
class Hold:
    id: str
    option: Option
    paid: float | None = None
    code: str | None = None


@dataclass
class ChooseEpisode(Episode):
    """One booking: the options, the holds made so far, the reference and the check."""

    number: int
    domain: Domain
    options: list[Option] = field(init=False)
    winner: Option = field(init=False)
    total: int = field(init=False)
    holds: dict[str, Hold] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        d = self.domain
        self.options = _options(self.number, d)
        self.winner = rule_pick(self.options, d)
        self.total = self.winner.price * d.quantity
        tie = f"the one closer to {d.near}" if d.tiebreak == "near" else f"the one with the higher {d.score}"
        hold = self._hold_id(1)
        user = (
            f"I need a {d.noun} for {d.quantity} {d.unit}s. Rule: consider only {d.plural} with a "
            f"{d.score} of at least {d.threshold:.1f} that are available; of those take the cheapest, "
            f"and if two cost the same, take {tie}. Reserve it, pay the total ({d.quantity} x the "
            f"price per {d.unit}) and confirm the booking. Then tell me which {d.noun} you booked "
            "and the total you paid."
        )
        actions = (
            Action(f"list_{d.plural}"),
            Action(f"get_{d.score_key}"),
            Action("check_availability"),
            Action("reserve", {"option": self.winner.name}),
            Action("pay", {"hold": hold, "amount": self.total}),
            Action("confirm", {"hold": hold}),
        )
        answer = f"I booked {self.winner.name} and paid {self.total} in total."
        self.turns = (Turn(user=user, actions=actions, answer=answer),)

    def _hold_id(self, count: int) -> str:
        return f"H-{self.number:02d}{count}"

    def _option(self, name: str) -> Option:
        wanted = " ".join(name.lower().split())
        for option in self.options:
            if option.name.lower() == wanted:
                return option
        names = ", ".join(o.name for o in self.options)
        raise ValueError(f"no {self.domain.noun} named {name!r} ({self.domain.plural}: {names})")

    def _held(self, hold: str) -> Hold:
        found = self.holds.get(hold.strip().upper())
        if found is None:
            raise ValueError(f"no hold {hold!r}")
        return found

    def tools(self) -> list[AgentTool]:
        d = self.domain

        def listing() -> str:
            return "\n".join(
                f"{o.name}: {o.price} per {d.unit}, {o.km} km from {d.near}" for o in self.options
            )

        def scores() -> str:
            return "\n".join(f"{o.name}: {o.score:.1f}" for o in self.options)

        def check_availability() -> str:
            return "\n".join(f"{o.name}: {'available' if o.available else d.full}" for o in self.options)

        def reserve(option: str) -> str:
            found = self._option(option)
            if not found.available:
                raise ValueError(f"{found.name} is {d.full}")
            hold = Hold(self._hold_id(len(self.holds) + 1), found)
            self.holds[hold.id] = hold
            return f"hold {hold.id} on {found.name}"

        def pay(hold: str, amount: float) -> str:
            """Pay for a hold.

            Args:
                hold: the hold id that reserve returned
                amount: the total to pay
            """
            held = self._held(hold)
            if held.paid is not None:
                raise ValueError(f"{held.id} is already paid")
            if abs(amount - held.option.price * d.quantity) > 0.005:
                raise ValueError(f"{amount:g} is not the total due for {held.id}; payment refused")
            held.paid = amount
            return f"paid {amount:g} for {held.id}"

        def confirm(hold: str) -> str:
            """Confirm a paid hold.

            Args:
                hold: the hold id that reserve returned
            """
            held = self._held(hold)
            if held.paid is None:
                raise ValueError(f"{held.id} is not paid yet")
            held.code = f"C-{7100 + 37 * self.number}"
            return f"confirmed {held.id} ({held.option.name}): code {held.code}"

        return [
            _tool(
                listing,
                f"list_{d.plural}",
                f"List the {d.plural} with their price per {d.unit} and distance.",
            ),
            _tool(scores, f"get_{d.score_key}", f"The {d.score} (out of 5) of every {d.noun}."),
            _tool(check_availability, "check_availability", f"Which {d.plural} are available."),
            _tool(
                reserve,
                "reserve",
                f"Reserve a {d.noun}; returns a hold id.\n\nArgs:\n    option: the {d.noun}'s name",
            ),
            tool(pay),
            tool(confirm),
        ]

    def check(self, answers: Sequence[str | None]) -> Check:
        d, winner = self.domain, self.winner
        confirmed = [h for h in self.holds.values() if h.code is not None]
        stray = [h for h in self.holds.values() if h.paid is not None and h.option != winner]
        if stray:
            return Check(False, f"paid for {stray[0].option.name} but the rule picks {winner.name}")
        if not confirmed:
            made = f"{len(self.holds)} hold(s), none confirmed" if self.holds else "nothing reserved"
            return Check(False, f"{winner.name} not booked ({made})")
        answer = answers[0] if answers else None
        if not answer_has(answer, winner.name):
            return Check(False, f"booked {winner.name} but the answer does not name it")
        if not answer_has(answer, self.total):
            return Check(False, f"booked {winner.name} but the answer lacks the total {self.total}")
        return Check(True, f"booked {winner.name} ({d.noun}) and paid {self.total}")


def _tool(fn: Callable[..., str], name: str, description: str) -> AgentTool:
    """``fn`` as a tool whose description is made per task (a closure's docstring is fixed)."""
    fn.__doc__ = description
    return tool(fn, name=name)


TASKS: list[Task] = [
    Task(
        id=f"choose-{n:02d}",
        family="choose",
        build=partial(ChooseEpisode, n, domain),
        description=f"pick a {domain.noun} by price, score and availability; reserve, pay, confirm",
    )
    for n, domain in enumerate(DOMAINS, start=1)
]

__all__ = ["DOMAINS", "TASKS", "ChooseEpisode", "Domain", "Option", "rule_pick"]
