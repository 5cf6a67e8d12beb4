"""The ``control`` family: negative controls, where one tool call answers the task.

Each task gives the model two tools, the one that answers and a plausible neighbour, and asks
something one call settles: a lookup (odd tasks: stock, gate, rate, balance, closing time)
whose result holds the value asked for, or an action (even tasks: cancel, unlock, set, assign,
snooze) whose result reports a value the answer must quote. Success: the exact value in the
answer, and for an action the right thing changed and nothing else.

Why keeping thinking should make no difference: the model thinks once, calls one tool, reads
one result and answers. The only earlier thinking is the thinking before that one call, and
everything it concluded (which tool, which argument) is in the visible call. Keep vs discard
differing here beyond noise points at the harness or the model's sampling, not at interleaved
thinking.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from thinkwire.agent.tools import AgentTool, tool
from thinkwire.evals.tasks import Action, Check, Episode, Task, Turn, answer_has


@dataclass
class ControlEpisode(Episode):
    """One single-step task: its turn, tools, the values the answer needs and a state check.

    ``state`` returns why the state is wrong (``None``: right, or nothing to change).
    """

    turn: Turn
    tools_made: list[AgentTool]
    expected: tuple[str | int | float, ...]
    state: Callable[[], str | None] = field(default=lambda: None)

    def __post_init__(self) -> None:
        self.turns = (self.turn,)

    def tools(self) -> list[AgentTool]:
        return self.tools_made

    def check(self, answers: Sequence[str | None]) -> Check:
        wrong = self.state()
        if wrong is not None:
            return Check(False, wrong)
        answer = answers[0] if answers else None
        for value in self.expected:
            if not answer_has(answer, value):
                return Check(False, f"answer lacks {value}")
        return Check(True, f"answer has {', '.join(str(v) for v in self.expected)}")


def _find(key: str, table: Mapping[str, object], what: str) -> str:
    """``key`` as ``table`` spells it (case and spaces ignored); ``ValueError`` when absent."""
    wanted = " ".join(key.lower().split())
    for name in table:
        if name.lower() == wanted:
            return name
    raise ValueError(f"no {what} {key!r} (known: {', '.join(table)})")


def _changes(what: str, done: dict[str, object], want: dict[str, object]) -> Callable[[], str | None]:
    """A state check: ``done`` (what the action did) is exactly ``want``."""

    def state() -> str | None:
        if not done:
            return f"no {what} was made"
        stray = {k: v for k, v in done.items() if want.get(k) != v}
        if stray:
            key, value = next(iter(stray.items()))
            return f"{what}: {key} -> {value}, expected {', '.join(f'{k} -> {v}' for k, v in want.items())}"
        return None

    return state


def _stock() -> Episode:
    stock = {"blue kettle": 4821, "red kettle": 317, "toaster": 96, "steel pan": 1290}
    prices = {"blue kettle": 39.9, "red kettle": 42.5, "toaster": 24.0, "steel pan": 18.75}

    def get_stock(product: str) -> str:
        """Units of a product in stock.

        Args:
            product: the product's name
        """
        name = _find(product, stock, "product")
        return f"{name}: {stock[name]} in stock"

    def get_price(product: str) -> str:
        """A product's price in EUR.

        Args:
            product: the product's name
        """
        name = _find(product, prices, "product")
        return f"{name}: {prices[name]} EUR"

    turn = Turn(
        user="How many blue kettles do we have in stock?",
        actions=(Action("get_stock", {"product": "blue kettle"}),),
        answer="There are 4821 blue kettles in stock.",
    )
    return ControlEpisode(turn, [tool(get_stock), tool(get_price)], (4821,))


def _cancel() -> Episode:
    orders = {"ORD-7731": "shipped", "ORD-7732": "open", "ORD-7740": "open"}
    refunds = {"ORD-7731": "R-5520", "ORD-7732": "R-5521", "ORD-7740": "R-5533"}
    done: dict[str, object] = {}

    def order_status(order: str) -> str:
        """An order's status.

        Args:
            order: the order id, e.g. ORD-1000
        """
        key = _find(order, orders, "order")
        return f"order {key}: {orders[key]}"

    def cancel_order(order: str) -> str:
        """Cancel an order and refund it.

        Args:
            order: the order id, e.g. ORD-1000
        """
        key = _find(order, orders, "order")
        orders[key] = "cancelled"
        done[key] = "cancelled"
        return f"order {key} cancelled; refund {refunds[key]}"

    turn = Turn(
        user="Cancel order ORD-7732 and tell me the refund reference.",
        actions=(Action("cancel_order", {"order": "ORD-7732"}),),
        answer="Order ORD-7732 is cancelled; the refund reference is R-5521.",
    )
    state = _changes("cancellation", done, {"ORD-7732": "cancelled"})
    return ControlEpisode(turn, [tool(order_status), tool(cancel_order)], ("R-5521",), state)


def _gate() -> Episode:
    gates = {"LX318": "B12", "LX320": "A4", "EZ112": "C7"}
    delays = {"LX318": 0, "LX320": 25, "EZ112": 10}

    def get_gate(flight: str) -> str:
        """The departure gate of a flight.

        Args:
            flight: the flight code, e.g. AB123
        """
        code = _find(flight.replace(" ", ""), gates, "flight")
        return f"{code}: gate {gates[code]}"

    def get_delay(flight: str) -> str:
        """A flight's delay in minutes.

        Args:
            flight: the flight code, e.g. AB123
        """
        code = _find(flight.replace(" ", ""), delays, "flight")
        return f"{code}: {delays[code]} min late"

    turn = Turn(
        user="Which gate does flight LX318 leave from?",
        actions=(Action("get_gate", {"flight": "LX318"}),),
        answer="Flight LX318 leaves from gate B12.",
    )
    return ControlEpisode(turn, [tool(get_gate), tool(get_delay)], ("B12",))


def _unlock() -> Episode:
    locked = {"mara.k": True, "tom.b": True, "li.wei": False}
    cases = {"mara.k": 3318, "tom.b": 3319, "li.wei": 3320}
    done: dict[str, object] = {}

    def account_info(user: str) -> str:
        """Whether a user's account is locked.

        Args:
            user: the user name
        """
        name = _find(user, locked, "user")
        return f"{name}: {'locked' if locked[name] else 'unlocked'}"

    def unlock_account(user: str) -> str:
        """Unlock a user's account.

        Args:
            user: the user name
        """
        name = _find(user, locked, "user")
        locked[name] = False
        done[name] = "unlocked"
        return f"unlocked {name}; case {cases[name]}"

    turn = Turn(
        user="Unlock the account of user tom.b and tell me the case number.",
        actions=(Action("unlock_account", {"user": "tom.b"}),),
        answer="tom.b is unlocked; the case number is 3319.",
    )
    state = _changes("unlock", done, {"tom.b": "unlocked"})
    return ControlEpisode(turn, [tool(account_info), tool(unlock_account)], (3319,), state)


def _rate() -> Episode:
    rates = {"USD": 1.0842, "GBP": 0.8571, "CHF": 0.9377}

    def get_rate(currency: str) -> str:
        """Today's rate: how much of a currency one euro buys.

        Args:
            currency: a currency code, e.g. USD
        """
        code = _find(currency, rates, "currency")
        return f"1 EUR = {rates[code]} {code}"

    def convert(amount: float, currency: str) -> str:
        """Convert an amount of euros into a currency.

        Args:
            amount: euros
            currency: a currency code, e.g. USD
        """
        code = _find(currency, rates, "currency")
        return f"{amount:g} EUR = {round(amount * rates[code], 2)} {code}"

    turn = Turn(
        user="What is today's rate from euros to Swiss francs (CHF)?",
        actions=(Action("get_rate", {"currency": "CHF"}),),
        answer="1 EUR = 0.9377 CHF today.",
    )
    return ControlEpisode(turn, [tool(get_rate), tool(convert)], (0.9377,))


def _thermostat() -> Episode:
    rooms: dict[str, object] = {"4A": 20, "4B": 18, "5A": 22}
    done: dict[str, object] = {}

    def get_temperature(room: str) -> str:
        """A room's thermostat setting in degrees Celsius.

        Args:
            room: the room, e.g. 3C
        """
        key = _find(room, rooms, "room")
        return f"room {key}: set to {rooms[key]} C"

    def set_temperature(room: str, celsius: int) -> str:
        """Set a room's thermostat.

        Args:
            room: the room, e.g. 3C
            celsius: the new setting in degrees Celsius
        """
        key = _find(room, rooms, "room")
        before, rooms[key] = rooms[key], celsius
        done[key] = celsius
        return f"room {key} set to {celsius} C (was {before} C)"

    turn = Turn(
        user="Set the thermostat in room 4B to 21 degrees and tell me what it was set to before.",
        actions=(Action("set_temperature", {"room": "4B", "celsius": 21}),),
        answer="Room 4B is now set to 21 C; it was 18 C before.",
    )
    state = _changes("thermostat change", done, {"4B": 21})
    return ControlEpisode(turn, [tool(get_temperature), tool(set_temperature)], (18,), state)


def _balance() -> Episode:
    balances = {"ACC-204": 1250.75, "ACC-205": 98.1, "ACC-310": 40210.0}
    owners = {"ACC-204": "Ruiz GmbH", "ACC-205": "Ruiz GmbH", "ACC-310": "Okafor Ltd"}

    def get_balance(account: str) -> str:
        """An account's balance in EUR.

        Args:
            account: the account id, e.g. ACC-100
        """
        key = _find(account, balances, "account")
        return f"{key}: balance {balances[key]:.2f} EUR"

    def get_owner(account: str) -> str:
        """Who owns an account.

        Args:
            account: the account id, e.g. ACC-100
        """
        key = _find(account, owners, "account")
        return f"{key}: owned by {owners[key]}"

    turn = Turn(
        user="What is the balance of account ACC-204?",
        actions=(Action("get_balance", {"account": "ACC-204"}),),
        answer="ACC-204 has a balance of 1250.75 EUR.",
    )
    return ControlEpisode(turn, [tool(get_balance), tool(get_owner)], (1250.75,))


def _assign() -> Episode:
    tickets: dict[str, object] = {"T-5511": "nobody", "T-5512": "nobody", "T-5513": "Jon"}
    due = {"T-5511": "17:30", "T-5512": "16:00", "T-5513": "12:00"}
    done: dict[str, object] = {}

    def get_ticket(ticket: str) -> str:
        """A support ticket's assignee.

        Args:
            ticket: the ticket id, e.g. T-1000
        """
        key = _find(ticket, tickets, "ticket")
        return f"ticket {key}: assigned to {tickets[key]}"

    def assign_ticket(ticket: str, person: str) -> str:
        """Assign a support ticket to a person.

        Args:
            ticket: the ticket id, e.g. T-1000
            person: who takes it
        """
        key = _find(ticket, tickets, "ticket")
        tickets[key] = person.strip()
        done[key] = person.strip().lower()
        return f"ticket {key} assigned to {tickets[key]}; due {due[key]}"

    turn = Turn(
        user="Assign ticket T-5512 to Priya and tell me when it is due.",
        actions=(Action("assign_ticket", {"ticket": "T-5512", "person": "Priya"}),),
        answer="Ticket T-5512 is assigned to Priya; it is due at 16:00.",
    )
    state = _changes("assignment", done, {"T-5512": "priya"})
    return ControlEpisode(turn, [tool(get_ticket), tool(assign_ticket)], ("16:00",), state)


def _hours() -> Episode:
    hours = {
        "Kingsway": ("08:30", "19:00"),
        "Elm Street": ("09:00", "18:00"),
        "Harbour Mall": ("10:00", "21:00"),
    }
    phones = {"Kingsway": "555-0142", "Elm Street": "555-0177", "Harbour Mall": "555-0190"}

    def opening_hours(store: str) -> str:
        """A store's opening hours today.

        Args:
            store: the store's name
        """
        name = _find(store, hours, "store")
        return f"{name}: open {hours[name][0]}-{hours[name][1]}"

    def store_phone(store: str) -> str:
        """A store's phone number.

        Args:
            store: the store's name
        """
        name = _find(store, phones, "store")
        return f"{name}: {phones[name]}"

    turn = Turn(
        user="When does the Kingsway store close today?",
        actions=(Action("opening_hours", {"store": "Kingsway"}),),
        answer="The Kingsway store closes at 19:00 today.",
    )
    return ControlEpisode(turn, [tool(opening_hours), tool(store_phone)], ("19:00",))


def _snooze() -> Episode:
    alerts: dict[str, object] = {"AL-77": "firing", "AL-78": "firing", "AL-80": "resolved"}
    done: dict[str, object] = {}

    def list_alerts() -> str:
        """The alerts and their state."""
        return "\n".join(f"{name}: {state}" for name, state in alerts.items())

    def snooze_alert(alert: str, minutes: int) -> str:
        """Snooze an alert.

        Args:
            alert: the alert id, e.g. AL-10
            minutes: for how long
        """
        key = _find(alert, alerts, "alert")
        start = 14 * 60
        alerts[key] = done[key] = minutes
        end = start + minutes
        return f"{key} snoozed for {minutes} min, until {end // 60:02d}:{end % 60:02d}"

    turn = Turn(
        user="It is 14:00. Snooze alert AL-78 for 45 minutes and tell me until when it is snoozed.",
        actions=(Action("snooze_alert", {"alert": "AL-78", "minutes": 45}),),
        answer="AL-78 is snoozed until 14:45.",
    )
    state = _changes("snooze", done, {"AL-78": 45})
    return ControlEpisode(turn, [tool(list_alerts), tool(snooze_alert)], ("14:45",), state)


_BUILDERS: tuple[tuple[Callable[[], Episode], str], ...] = (
    (_stock, "look up a product's stock"),
    (_cancel, "cancel an order and quote the refund reference"),
    (_gate, "look up a flight's gate"),
    (_unlock, "unlock an account and quote the case number"),
    (_rate, "look up an exchange rate"),
    (_thermostat, "set a thermostat and quote the old setting"),
    (_balance, "look up an account balance"),
    (_assign, "assign a ticket and quote its due time"),
    (_hours, "look up a store's closing time"),
    (_snooze, "snooze an alert and quote until when"),
)

TASKS: list[Task] = [
    Task(id=f"control-{n:02d}", family="control", build=build, description=f"one call: {what}")
    for n, (build, what) in enumerate(_BUILDERS, start=1)
]

__all__ = ["TASKS", "ControlEpisode"]
