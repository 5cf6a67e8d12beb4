"""A public set of small tool tasks for the embedded agent, with checkers (``benchmarks/local_agent.py``).

Every task offers the same toolbox (``toolbox()``: seven typed functions over fixed data, so
every result is deterministic and the tools section of the prompt is the same for every task)
and needs 0 to 3 calls. ``check(task, result)`` decides a run from its transcript:

- the run ended with an answer, and the answer holds what it must (``Task.answer``: words, any
  of each group; ``Task.numbers``: values, 1% tolerance, thousands separators ignored) and
  none of ``Task.forbid``;
- every needed call was made (``Task.needs``: a tool and a test of its arguments; a ``Need``
  may name several ways, e.g. ``convert_units`` or ``calculate`` for a temperature);
- no *irrelevant* call: a call that meets no need, to a tool not in ``Task.optional`` (a task
  that needs nothing allows no call at all);
- no *repeated* call: the same tool with the same arguments (compared as JSON values) twice.

A ``Verdict`` says which of these failed, and counts the calls, the irrelevant and repeated
ones, the steps and the steps whose thinking is prose (``is_prose``: words, not call markup).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec

from thinkwire.agent.builtin import calculate
from thinkwire.agent.loop import RunResult
from thinkwire.agent.tools import AgentTool, tool
from thinkwire.ir.blocks import Thinking, ToolCall

# --- the toolbox's data -----------------------------------------------------------------------

WEATHER: Final = {
    "lisbon": ("Lisbon", 21, "sunny"),
    "oslo": ("Oslo", 4, "light rain"),
    "cairo": ("Cairo", 33, "clear"),
    "tokyo": ("Tokyo", 15, "cloudy"),
}
PRICES: Final = {"kettle": 24.5, "toaster": 31.0, "blender": 48.75, "desk lamp": 19.99}
ORDERS: Final = {
    "A-1001": {"customer": "Ana Silva", "product": "kettle", "tracking_number": "TRK-553"},
    "B-2002": {"customer": "Bjorn Lie", "product": "toaster", "tracking_number": "TRK-871"},
    "C-3003": {"customer": "Chen Wei", "product": "blender", "tracking_number": "TRK-902"},
}
PACKAGES: Final = {
    "TRK-553": {"status": "delivered", "city": "Lisbon"},
    "TRK-871": {"status": "in transit", "city": "Oslo"},
    "TRK-902": {"status": "held at customs", "city": "Cairo"},
}
UNITS: Final[dict[str, tuple[str, float]]] = {
    # unit -> (dimension, size in the dimension's base unit)
    "km": ("length", 1000.0),
    "kilometer": ("length", 1000.0),
    "kilometre": ("length", 1000.0),
    "mi": ("length", 1609.344),
    "mile": ("length", 1609.344),
    "m": ("length", 1.0),
    "meter": ("length", 1.0),
    "metre": ("length", 1.0),
    "kg": ("mass", 1.0),
    "kilogram": ("mass", 1.0),
    "lb": ("mass", 0.45359237),
    "pound": ("mass", 0.45359237),
}
TEMPERATURES: Final = {"c": "C", "celsius": "C", "f": "F", "fahrenheit": "F"}


def _key(text: str) -> str:
    return " ".join(text.strip().lower().split())


def _unit(text: str) -> str:
    unit = _key(text).removeprefix("degrees ").removeprefix("°")
    return unit[:-1] if unit.endswith("s") and unit[:-1] in UNITS else unit


# --- the tools ----------------------------------------------------------------------------------


def get_weather(city: str) -> dict[str, Any]:
    """The current weather in a city: temperature in degrees Celsius and conditions.

    Args:
        city: The city's name.
    """
    found = WEATHER.get(_key(city))
    if found is None:
        raise LookupError(f"no weather station in {city!r}")
    name, temperature, conditions = found
    return {"city": name, "temperature_c": temperature, "conditions": conditions}


def get_price(product: str) -> dict[str, Any]:
    """The shop's current price of a product, in US dollars.

    Args:
        product: The product's name.
    """
    key = _key(product)
    key = key if key in PRICES else key.removeprefix("a ").removeprefix("the ")
    if key not in PRICES:
        raise LookupError(f"the shop does not sell {product!r}")
    return {"product": key, "price_usd": PRICES[key]}


def lookup_order(order_id: str) -> dict[str, Any]:
    """An order's record: customer, product and the tracking number of its package.

    Args:
        order_id: The order's id (a letter, a dash and four digits).
    """
    order = ORDERS.get(order_id.strip().upper())
    if order is None:
        raise LookupError(f"no order {order_id!r}")
    return {"order_id": order_id.strip().upper(), **order}


def track_package(tracking_number: str) -> dict[str, Any]:
    """Where a package is: its delivery status and the city it is in.

    Args:
        tracking_number: The package's tracking number (TRK, a dash and three digits).
    """
    package = PACKAGES.get(tracking_number.strip().upper())
    if package is None:
        raise LookupError(f"no package {tracking_number!r}")
    return {"tracking_number": tracking_number.strip().upper(), **package}


def convert_units(value: float, from_unit: str, to_unit: str) -> str:
    """Convert a quantity between units of length (km, mi, m), mass (kg, lb) or temperature (C, F).

    Args:
        value: The quantity to convert.
        from_unit: The unit it is in, e.g. "km".
        to_unit: The unit wanted, e.g. "mi".
    """
    source, target = _unit(from_unit), _unit(to_unit)
    if source in TEMPERATURES and target in TEMPERATURES:
        s, t = TEMPERATURES[source], TEMPERATURES[target]
        out = value if s == t else value * 9 / 5 + 32 if s == "C" else (value - 32) * 5 / 9
        return f"{round(out, 2):g} {t}"
    if source not in UNITS or target not in UNITS or UNITS[source][0] != UNITS[target][0]:
        raise ValueError(f"cannot convert {from_unit!r} to {to_unit!r}")
    return f"{round(value * UNITS[source][1] / UNITS[target][1], 2):g} {target}"


def send_email(to: str, subject: str, body: str) -> str:
    """Send an email.

    Args:
        to: The recipient's address.
        subject: The subject line.
        body: The message.
    """
    return f"sent to {to}"


def toolbox() -> list[AgentTool]:
    """The tools every task offers, in the order the model sees them."""
    functions = (calculate, get_weather, get_price, lookup_order, track_package, convert_units, send_email)
    return [tool(f) for f in functions]


# --- tasks and checks ---------------------------------------------------------------------------

ArgsTest = Callable[[dict[str, Any]], bool]


def same(**expected: Any) -> ArgsTest:
    """Arguments equal to ``expected``: strings compared without case and outer spaces, units by
    their canonical name, numbers as numbers."""

    def test(args: dict[str, Any]) -> bool:
        for name, want in expected.items():
            got = args.get(name)
            if isinstance(want, str):
                if not isinstance(got, str) or _unit(got) != _unit(want):
                    return False
            elif not isinstance(got, int | float) or not math.isclose(got, want, rel_tol=1e-6):
                return False
        return True

    return test


def evaluates_to(value: float) -> ArgsTest:
    """A ``calculate`` call whose expression evaluates to ``value``."""

    def test(args: dict[str, Any]) -> bool:
        try:
            got = float(calculate(str(args.get("expression", ""))))
        except (ValueError, TypeError, ArithmeticError):
            return False
        return math.isclose(got, value, rel_tol=1e-6)

    return test


@dataclass(frozen=True)
class Need:
    """One call the task needs, made with any of ``ways`` (tool name -> arguments test)."""

    ways: dict[str, ArgsTest]

    def met_by(self, name: str, args: dict[str, Any]) -> bool:
        test = self.ways.get(name)
        return test is not None and test(args)


def need(name: str, test: ArgsTest) -> Need:
    return Need({name: test})


@dataclass(frozen=True)
class Task:
    """A prompt, the calls it needs, and what its answer must say (module docstring)."""

    id: str
    prompt: str
    needs: tuple[Need, ...] = ()
    optional: frozenset[str] = frozenset()
    answer: tuple[tuple[str, ...], ...] = ()
    numbers: tuple[float, ...] = ()
    forbid: tuple[str, ...] = ()
    solution: tuple[tuple[str, dict[str, Any]], ...] = ()
    reference: str = ""
    """A reference run (the tests replay it): these calls in order, then this answer."""


def _task(
    id: str,
    prompt: str,
    *needs: Need,
    optional: Sequence[str] = (),
    answer: Sequence[str | tuple[str, ...]] = (),
    numbers: Sequence[float] = (),
    forbid: Sequence[str] = (),
    solve: Sequence[tuple[str, dict[str, Any]]] = (),
    ref: str,
) -> Task:
    groups = tuple((a,) if isinstance(a, str) else a for a in answer)
    return Task(
        id, prompt, needs, frozenset(optional), groups, tuple(numbers), tuple(forbid), tuple(solve), ref
    )


CALC: Final = ("calculate",)

TASKS: Final[tuple[Task, ...]] = (
    # no call needed
    _task(
        "none-greet",
        "Hi there! How are you today?",
        ref="I'm doing well, thank you! How can I help you today?",
    ),
    _task(
        "none-capital",
        "What is the capital of France?",
        answer=["paris"],
        ref="The capital of France is Paris.",
    ),
    _task(
        "none-symbol",
        "What is the chemical symbol for gold?",
        answer=[r"\bau\b"],
        ref="The chemical symbol for gold is Au.",
    ),
    _task(
        "none-thanks",
        "Write one short sentence thanking my colleague Maria for her help.",
        answer=["maria"],
        ref="Thank you so much for your help, Maria!",
    ),
    _task("none-week", "How many days are there in a week?", numbers=[7], ref="There are 7 days in a week."),
    # one call
    _task(
        "one-calc",
        "What is 12*7+5? Use the calculate tool, then answer with the number.",
        need("calculate", evaluates_to(89)),
        optional=CALC,
        numbers=[89],
        solve=[("calculate", {"expression": "12*7+5"})],
        ref="12*7+5 = 89.",
    ),
    _task(
        "one-multiply",
        "What is 347 multiplied by 29?",
        need("calculate", evaluates_to(10063)),
        optional=CALC,
        numbers=[10063],
        solve=[("calculate", {"expression": "347 * 29"})],
        ref="347 multiplied by 29 is 10,063.",
    ),
    _task(
        "one-weather",
        "What's the weather like in Lisbon right now?",
        need("get_weather", same(city="lisbon")),
        answer=["sunny"],
        numbers=[21],
        solve=[("get_weather", {"city": "Lisbon"})],
        ref="It is sunny in Lisbon, 21 °C.",
    ),
    _task(
        "one-rain",
        "Is it raining in Oslo at the moment?",
        need("get_weather", same(city="oslo")),
        answer=["rain"],
        forbid=["not raining", "isn't raining", "no rain"],
        solve=[("get_weather", {"city": "Oslo"})],
        ref="Yes, there is light rain in Oslo right now (4 °C).",
    ),
    _task(
        "one-price",
        "How much does the blender cost?",
        need("get_price", same(product="blender")),
        numbers=[48.75],
        solve=[("get_price", {"product": "blender"})],
        ref="The blender costs $48.75.",
    ),
    _task(
        "one-convert",
        "Convert 10 kilometres to miles.",
        need("convert_units", same(value=10, from_unit="km", to_unit="mi")),
        numbers=[6.21],
        solve=[("convert_units", {"value": 10, "from_unit": "km", "to_unit": "mi"})],
        ref="10 km is about 6.21 miles.",
    ),
    _task(
        "one-customer",
        "Who placed order A-1001?",
        need("lookup_order", same(order_id="A-1001")),
        answer=["ana silva"],
        solve=[("lookup_order", {"order_id": "A-1001"})],
        ref="Order A-1001 was placed by Ana Silva.",
    ),
    _task(
        "one-package",
        "What is the status of package TRK-902?",
        need("track_package", same(tracking_number="TRK-902")),
        answer=["customs"],
        solve=[("track_package", {"tracking_number": "TRK-902"})],
        ref="Package TRK-902 is held at customs in Cairo.",
    ),
    _task(
        "one-fahrenheit",
        "What is 30 degrees Celsius in Fahrenheit?",
        Need({"convert_units": same(value=30, from_unit="c", to_unit="f"), "calculate": evaluates_to(86)}),
        numbers=[86],
        solve=[("convert_units", {"value": 30, "from_unit": "C", "to_unit": "F"})],
        ref="30 °C is 86 °F.",
    ),
    # two calls
    _task(
        "two-order-status",
        "What is the delivery status of order B-2002?",
        need("lookup_order", same(order_id="B-2002")),
        need("track_package", same(tracking_number="TRK-871")),
        answer=["in transit"],
        solve=[("lookup_order", {"order_id": "B-2002"}), ("track_package", {"tracking_number": "TRK-871"})],
        ref="The package of order B-2002 is in transit, now in Oslo.",
    ),
    _task(
        "two-warmer",
        "Which is warmer right now, Lisbon or Oslo?",
        need("get_weather", same(city="lisbon")),
        need("get_weather", same(city="oslo")),
        answer=["lisbon"],
        solve=[("get_weather", {"city": "Lisbon"}), ("get_weather", {"city": "Oslo"})],
        ref="Lisbon is warmer: 21 °C against 4 °C in Oslo.",
    ),
    _task(
        "two-together",
        "How much do a kettle and a toaster cost together?",
        need("get_price", same(product="kettle")),
        need("get_price", same(product="toaster")),
        optional=CALC,
        numbers=[55.5],
        solve=[("get_price", {"product": "kettle"}), ("get_price", {"product": "toaster"})],
        ref="Together they cost $55.50 ($24.50 + $31.00).",
    ),
    _task(
        "two-cairo-f",
        "What is the temperature in Cairo right now, in Fahrenheit?",
        need("get_weather", same(city="cairo")),
        Need({"convert_units": same(value=33, from_unit="c", to_unit="f"), "calculate": evaluates_to(91.4)}),
        numbers=[91.4],
        solve=[
            ("get_weather", {"city": "Cairo"}),
            ("convert_units", {"value": 33, "from_unit": "C", "to_unit": "F"}),
        ],
        ref="It is 33 °C in Cairo, which is 91.4 °F.",
    ),
    _task(
        "two-cheaper",
        "Which costs less, the desk lamp or the kettle?",
        need("get_price", same(product="desk lamp")),
        need("get_price", same(product="kettle")),
        answer=["lamp"],
        solve=[("get_price", {"product": "desk lamp"}), ("get_price", {"product": "kettle"})],
        ref="The desk lamp costs less: $19.99 against $24.50 for the kettle.",
    ),
    _task(
        "two-order-price",
        "How much does the product of order C-3003 cost?",
        need("lookup_order", same(order_id="C-3003")),
        need("get_price", same(product="blender")),
        numbers=[48.75],
        solve=[("lookup_order", {"order_id": "C-3003"}), ("get_price", {"product": "blender"})],
        ref="Order C-3003 is a blender, which costs $48.75.",
    ),
    _task(
        "two-calc-chain",
        "What is 1234 * 5678? Then add 4321 to that result. Use the calculate tool.",
        need("calculate", evaluates_to(7010973)),
        optional=CALC,
        numbers=[7010973],
        solve=[("calculate", {"expression": "1234 * 5678"}), ("calculate", {"expression": "7006652 + 4321"})],
        ref="1234 * 5678 = 7,006,652, and adding 4321 gives 7,010,973.",
    ),
    # three calls
    _task(
        "three-cheapest",
        "Which is the cheapest: the kettle, the toaster or the blender?",
        need("get_price", same(product="kettle")),
        need("get_price", same(product="toaster")),
        need("get_price", same(product="blender")),
        answer=["kettle"],
        solve=[
            ("get_price", {"product": "kettle"}),
            ("get_price", {"product": "toaster"}),
            ("get_price", {"product": "blender"}),
        ],
        ref="The kettle is the cheapest at $24.50.",
    ),
    _task(
        "three-order-weather",
        "Where is the package of order A-1001 now, and what is the weather there?",
        need("lookup_order", same(order_id="A-1001")),
        need("track_package", same(tracking_number="TRK-553")),
        need("get_weather", same(city="lisbon")),
        answer=["lisbon"],
        numbers=[21],
        solve=[
            ("lookup_order", {"order_id": "A-1001"}),
            ("track_package", {"tracking_number": "TRK-553"}),
            ("get_weather", {"city": "Lisbon"}),
        ],
        ref="The package was delivered in Lisbon, where it is sunny and 21 °C.",
    ),
    _task(
        "three-total",
        "What do 3 kettles and 2 toasters cost in total?",
        need("get_price", same(product="kettle")),
        need("get_price", same(product="toaster")),
        optional=CALC,
        numbers=[135.5],
        solve=[
            ("get_price", {"product": "kettle"}),
            ("get_price", {"product": "toaster"}),
            ("calculate", {"expression": "3 * 24.5 + 2 * 31"}),
        ],
        ref="3 kettles and 2 toasters cost $135.50 in total.",
    ),
    _task(
        "three-customer-status",
        "For order B-2002: who is the customer, and where is the package now?",
        need("lookup_order", same(order_id="B-2002")),
        need("track_package", same(tracking_number="TRK-871")),
        answer=["bjorn", "oslo"],
        solve=[("lookup_order", {"order_id": "B-2002"}), ("track_package", {"tracking_number": "TRK-871"})],
        ref="The customer is Bjorn Lie; the package is in transit, now in Oslo.",
    ),
)


def find_tasks(ids: Sequence[str]) -> tuple[Task, ...]:
    """The tasks whose id starts with one of ``ids`` (all of them for none); ``KeyError`` names
    an id that matches nothing."""
    if not ids:
        return TASKS
    for prefix in ids:
        if not any(t.id.startswith(prefix) for t in TASKS):
            raise KeyError(f"no task id starts with {prefix!r}; ids: {', '.join(t.id for t in TASKS)}")
    return tuple(t for t in TASKS if any(t.id.startswith(p) for p in ids))


# --- checking a run -----------------------------------------------------------------------------

_MARKUP: Final = re.compile(
    r'<\s*/?\s*(tool_call|call|function|tool)\b|\{\s*"(name|arguments)"|"arguments"\s*:'
)
_WORD: Final = re.compile(r"[^\W\d_]{2,}")
_NUMBER: Final = re.compile(r"-?\d+(?:\.\d+)?")


def is_prose(thinking: str) -> bool:
    """Thinking that is words (at least three), not a call written as markup or JSON."""
    return _MARKUP.search(thinking) is None and len(_WORD.findall(thinking)) >= 3


def _numbers(text: str) -> list[float]:
    return [float(n) for n in _NUMBER.findall(re.sub(r"(?<=\d),(?=\d{3}\b)", "", text))]


def _canonical(call: ToolCall) -> str:
    try:
        return call.name + " " + json.dumps(call.parsed_arguments(), sort_keys=True)
    except msgspec.DecodeError:
        return call.name + " " + call.arguments


@dataclass
class Verdict:
    """What one run did and whether it passed; ``failures`` says why not (empty: passed)."""

    failures: list[str] = field(default_factory=list)
    calls: int = 0
    irrelevant: int = 0
    repeated: int = 0
    steps: int = 0
    prose_steps: int = 0

    @property
    def passed(self) -> bool:
        return not self.failures


def check(task: Task, result: RunResult) -> Verdict:
    """The verdict on one run of ``task`` (module docstring)."""
    verdict = Verdict()
    turns = [m for m in result.transcript if m.role == "assistant"]
    verdict.steps = len(turns)
    for turn in turns:
        thoughts = [b.text for b in turn.blocks if isinstance(b, Thinking)]
        verdict.prose_steps += bool(thoughts) and all(is_prose(t) for t in thoughts)
    calls = [b for m in turns for b in m.blocks if isinstance(b, ToolCall)]
    verdict.calls = len(calls)
    met = [False] * len(task.needs)
    seen: set[str] = set()
    for call in calls:
        key = _canonical(call)
        if key in seen:
            verdict.repeated += 1
            verdict.failures.append(f"repeated {key}")
            continue
        seen.add(key)
        try:
            args = call.parsed_arguments()
        except msgspec.DecodeError:
            args = None
        args = args if isinstance(args, dict) else {}
        hits = [i for i, n in enumerate(task.needs) if n.met_by(call.name, args)]
        fresh = next((i for i in hits if not met[i]), None)
        if fresh is not None:
            met[fresh] = True
        elif not hits and call.name not in task.optional:
            verdict.irrelevant += 1
            verdict.failures.append(f"irrelevant {key}")
    verdict.failures += [
        f"missing call {sorted(n.ways)}" for n, ok in zip(task.needs, met, strict=True) if not ok
    ]
    if result.status != "answered":
        verdict.failures.append(f"no answer ({result.status}: {result.reason})")
        return verdict
    answer = (result.answer or "").lower()
    for group in task.answer:
        if not any(re.search(word, answer) for word in group):
            verdict.failures.append(f"answer lacks {' or '.join(group)!r}")
    found = _numbers(answer)
    for number in task.numbers:
        if not any(math.isclose(n, number, rel_tol=0.01) for n in found):
            verdict.failures.append(f"answer lacks {number:g}")
    verdict.failures += [f"answer says {word!r}" for word in task.forbid if word in answer]
    if not answer:
        verdict.failures.append("empty answer")
    return verdict
