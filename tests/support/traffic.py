"""Legacy tool-loop clients against a gateway, and whether the turns they received stay restorable.

**What is measured.** The gateway records every assistant turn it produces in its state store
so that a client which drops reasoning (an OpenAI-SDK app: it keeps ``content`` and
``tool_calls`` only) gets the reasoning put back when it sends the turn again. The promise to
check is about the client's view: *every turn a client fully received can be restored*, after
any load and after the gateway is killed (``kill -9``) and restarted on the same store. A turn
is *fully received* when the whole non-streamed body arrived, or the final ``data: [DONE]`` of
a stream did; a turn cut off by the crash is not counted (the client does not hold it).

**The clients** (``drive``): ``clients`` asyncio tasks sharing one ``httpx.AsyncClient``,
each with its own API key (so its own tenant), run conversations against
``/v1/chat/completions`` in OpenAI Chat format, streamed or whole at random per request
(``stream_share``):

1. the user asks for the weather in a city (words unique to the run, client and conversation,
   so no two conversations share a turn);
2. the model (DeepSeek's emulator upstream) answers with ``reasoning_content`` and a
   ``get_weather`` call; once fully received it is kept as a ``Received``: the history before
   it, the turn as the client keeps it (``content`` and ``tool_calls``, no reasoning), the tool
   result the client appends, and the reasoning it saw (only to check a restore later);
3. the client sends the history, that turn without its reasoning and the tool result: the
   strict upstream refuses a tool-call turn without ``reasoning_content`` (400), so this
   request succeeds only when the gateway restored the turn (header ``thinkwire-restored``).

Each request is bounded (``request_timeout``), each run by time (``seconds``), a ``stop``
event and a conversation budget (``max_conversations``).

**Verification** (``verify``): for each received tool-call turn, the next-step request of
step 3 again, non-streamed. ``restored``: 200 with ``thinkwire-restored`` >= 1 and the
answer quoting the code word the model noted in that turn's reasoning (so the right turn came
back); ``wrong``: restored but another code word; ``lost``: no restore (the upstream's 400);
``failed``: no answer, or a 5xx, after retries.

**Scenarios** (``crash_scenario``, ``load_scenario``), shared by
``tests/store/test_store_durability.py`` and ``benchmarks/state_durability.py``: the
emulator runs in its own process (``Emulator``: ``python -m thinkwire emulate deepseek``) so
that killing the gateway leaves it up; the gateway is ``thinkwire serve --config`` started by
``tests.support.processes.serve_process`` (``Gateway``) with a fixed
``THINKWIRE_SECRET``, so a restart on the same ``THINKWIRE_HOME`` / ``--state`` computes
the same keys. ``crash_scenario``: rounds of traffic, each ended by ``kill -9`` (by default
right after a client fully received a turn) and a restart on the same store, then every turn
received in any round sent back to the last gateway. ``load_scenario``: traffic against one
gateway, then every received turn sent back to it, then its ``/healthz``. Both take
``extra_args`` for ``thinkwire serve`` (``--durability async`` say). Everything goes through
the command line and HTTP only: the harness measures whatever the gateway does, before and
after a change to how it commits turns.

Children's stderr is drained by a thread (``_Drain``), so a gateway that logs a lot under load
never blocks on a full pipe: a stall the harness would have caused itself.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import json
import os
import random
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import httpx

from tests.support.processes import serve_process
from tests.support.scripts import WEATHER_TOOL

MODEL: Final = "deepseek-reasoner"
STATE_SECRET: Final = "thinkwire-durability-" + "s" * 43
"""``THINKWIRE_SECRET`` of every gateway the scenarios start: restarts share keys."""
TOOLS: Final[list[dict[str, Any]]] = [{"type": "function", "function": WEATHER_TOOL}]
CITIES: Final = ("Oslo", "Lima", "Kyoto", "Nairobi", "Quito", "Perth", "Tallinn", "Recife", "Hanoi", "Bergen")
NOTED: Final = re.compile(r"the code word ([a-z]+-[0-9a-f]{4})")
"""The scripted model's note in a tool-call turn's reasoning."""
QUOTED: Final = re.compile(r"The code word I noted was ([a-z]+-[0-9a-f]{4})")
"""Its answer after the tool result, when that reasoning came back to it."""
BACKPRESSURE: Final = frozenset({429, 503, 529})
"""Statuses a gateway may answer under overload (no turn produced, nothing for the client to
hold): tolerated by the load scenario, unlike other errors."""
MAX_TOKENS: Final = 1024
RECEIPT_WAIT: Final = 5.0
"""Seconds ``crash_scenario`` waits for a receipt to kill at before it kills anyway."""


def chat_url(base_url: str) -> str:
    return base_url.rstrip("/") + "/v1/chat/completions"


def request_body(messages: Sequence[Mapping[str, Any]], *, stream: bool) -> dict[str, Any]:
    return {
        "model": MODEL,
        "messages": list(messages),
        "tools": TOOLS,
        "max_tokens": MAX_TOKENS,
        "stream": stream,
    }


@dataclass(frozen=True)
class Received:
    """A tool-call turn a client fully received, with what it takes to send it back."""

    key: str
    """The client's API key (its tenant)."""
    history: tuple[dict[str, Any], ...]
    """The messages the request that produced the turn sent."""
    turn: dict[str, Any]
    """The assistant turn as a legacy client keeps it: ``content`` and ``tool_calls`` only."""
    result: dict[str, Any]
    """The tool result the client appends after the turn."""
    reasoning: str
    """What the client saw of the turn's reasoning (not sent back; checks a restore)."""
    stream: bool
    at: float
    """``time.monotonic()`` when the turn was fully received."""

    def next_messages(self) -> list[dict[str, Any]]:
        """The next step's history: up to and including the turn (no reasoning), the result."""
        return [*self.history, self.turn, self.result]

    @property
    def code_word(self) -> str | None:
        found = NOTED.search(self.reasoning)
        return found.group(1) if found else None


@dataclass
class Reply:
    """One request's outcome: ``error`` is ``None`` only when the whole answer arrived."""

    status: int | None = None
    restored: int = 0
    content: str | None = None
    reasoning: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    done_at: float = 0.0


def _kind(exc: BaseException) -> str:
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return "timeout"
    return type(exc).__name__


async def chat(
    http: httpx.AsyncClient, base_url: str, key: str, messages: Sequence[Mapping[str, Any]], *, stream: bool
) -> Reply:
    """One Chat Completions request, read to its end (``Reply.error`` says what went wrong:
    ``HTTP 400``, ``ReadError``, ``timeout``, ``no [DONE]``, ``stream error``...).

    A stream counts as complete once its ``data: [DONE]`` arrived, even if the connection then
    breaks before the HTTP body's own end (the client holds the whole turn)."""
    reply = Reply()
    headers = {"authorization": f"Bearer {key}"}
    body = request_body(messages, stream=stream)
    if not stream:
        try:
            response = await http.post(chat_url(base_url), json=body, headers=headers)
            reply.status = response.status_code
            reply.restored = int(response.headers.get("thinkwire-restored", "0"))
            if response.status_code != 200:
                reply.error = f"HTTP {response.status_code}"
                return reply
            message = response.json()["choices"][0]["message"]
            reply.content = message.get("content")
            reply.reasoning = message.get("reasoning_content") or ""
            reply.tool_calls = [
                {"id": c["id"], "type": "function", "function": dict(c["function"])}
                for c in message.get("tool_calls") or []
            ]
            reply.done_at = time.monotonic()
        except (httpx.HTTPError, OSError, TimeoutError, ValueError, KeyError, IndexError, TypeError) as exc:
            reply.error = _kind(exc)
        return reply
    content: list[str] = []
    reasoning: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    try:
        async with http.stream("POST", chat_url(base_url), json=body, headers=headers) as response:
            reply.status = response.status_code
            reply.restored = int(response.headers.get("thinkwire-restored", "0"))
            if response.status_code != 200:
                await response.aread()
                reply.error = f"HTTP {response.status_code}"
                return reply
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    reply.done_at = time.monotonic()
                    continue
                chunk = json.loads(data)
                if "error" in chunk:
                    reply.error = "stream error"
                for choice in chunk.get("choices") or []:
                    delta = choice.get("delta") or {}
                    content.append(delta.get("content") or "")
                    reasoning.append(delta.get("reasoning_content") or "")
                    for call in delta.get("tool_calls") or []:
                        slot = calls.setdefault(
                            call.get("index", 0),
                            {"id": "", "type": "function", "function": {"name": "", "arguments": ""}},
                        )
                        slot["id"] = call.get("id") or slot["id"]
                        function = call.get("function") or {}
                        slot["function"]["name"] = function.get("name") or slot["function"]["name"]
                        slot["function"]["arguments"] += function.get("arguments") or ""
    except (httpx.HTTPError, OSError, TimeoutError, ValueError, KeyError, TypeError) as exc:
        if not reply.done_at:  # after [DONE] the turn is whole, however the connection ended
            reply.error = reply.error or _kind(exc)
    if reply.error is None and not reply.done_at:
        reply.error = "no [DONE]"
    reply.content = "".join(content) or None
    reply.reasoning = "".join(reasoning)
    reply.tool_calls = [calls[i] for i in sorted(calls)]
    return reply


@dataclass
class Traffic:
    """What the clients of one ``drive`` saw."""

    clients: int
    started: float = 0.0
    ended: float = 0.0
    received: list[Received] = field(default_factory=list)
    requests: int = 0
    answers: int = 0
    """Final answers (step 3) fully received."""
    live_restored: int = 0
    """Step-3 requests answered 200 with ``thinkwire-restored`` >= 1."""
    errors: list[tuple[float, str]] = field(default_factory=list)
    """(time, kind) of each request that did not complete, or completed with an error status."""
    latencies: list[float] = field(default_factory=list)
    """Seconds of each request that completed (any status)."""
    completions: list[float] = field(default_factory=list)
    """When each request that completed did."""

    @property
    def seconds(self) -> float:
        return max(self.ended - self.started, 1e-9)

    def error_counts(self, before: float | None = None, since: float | None = None) -> Counter[str]:
        return Counter(
            kind
            for at, kind in self.errors
            if (before is None or at < before) and (since is None or at >= since)
        )

    def longest_gap(self, until: float | None = None) -> float:
        """The longest time no request completed, from the start to ``until`` (default: the
        end): a stall of the gateway shows here."""
        end = self.ended if until is None else until
        times = sorted(t for t in self.completions if t <= end)
        edges = [self.started, *times, end]
        return max((b - a for a, b in itertools.pairwise(edges)), default=0.0)

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _limits(concurrency: int) -> httpx.Limits:
    return httpx.Limits(max_connections=concurrency + 4, max_keepalive_connections=concurrency + 4)


async def drive(
    base_url: str,
    *,
    clients: int = 24,
    seconds: float = 3.0,
    max_conversations: int = 100_000,
    stream_share: float = 0.5,
    stop: asyncio.Event | None = None,
    request_timeout: float = 15.0,
    seed: int = 0,
    run: str | None = None,
    on_received: Callable[[Received], None] | None = None,
) -> Traffic:
    """``clients`` legacy tool-loop clients for at most ``seconds`` (or until ``stop``, or
    ``max_conversations`` conversations in all); see the module docstring. ``on_received`` is
    called with each turn as soon as its client has fully received it."""
    traffic = Traffic(clients=clients)
    run = run or secrets.token_hex(4)
    budget = [max_conversations]
    stop = stop or asyncio.Event()
    timeout = httpx.Timeout(request_timeout, connect=min(5.0, request_timeout))
    traffic.started = time.monotonic()
    deadline = traffic.started + seconds

    def done(reply: Reply, started: float) -> None:
        traffic.requests += 1
        now = time.monotonic()
        if reply.status is not None:
            traffic.latencies.append(now - started)
            traffic.completions.append(now)
        if reply.error is not None:
            traffic.errors.append((now, reply.error))

    async def client(index: int, http: httpx.AsyncClient) -> None:
        rng = random.Random(seed * 1_000_003 + index)
        key = f"sk-durability-{run}-{index}"
        conversation = 0
        while not stop.is_set() and time.monotonic() < deadline and budget[0] > 0:
            budget[0] -= 1
            conversation += 1
            city = CITIES[rng.randrange(len(CITIES))]
            history = (
                {
                    "role": "user",
                    "content": f"What is the weather in {city}? (run {run}, client {index}, "
                    f"conversation {conversation})",
                },
            )
            started = time.monotonic()
            streamed = rng.random() < stream_share
            first = await chat(http, base_url, key, history, stream=streamed)
            done(first, started)
            if first.error is not None or not first.tool_calls:
                if first.status is None:  # nobody answered: do not spin on a dead port
                    await asyncio.sleep(0.05)
                continue
            turn = {"role": "assistant", "content": first.content, "tool_calls": first.tool_calls}
            result = {
                "role": "tool",
                "tool_call_id": first.tool_calls[0]["id"],
                "content": json.dumps({"city": city, "forecast": "sunny", "celsius": rng.randrange(-5, 35)}),
            }
            received = Received(key, history, turn, result, first.reasoning, streamed, first.done_at)
            traffic.received.append(received)
            if on_received is not None:
                on_received(received)
            if stop.is_set():
                break
            started = time.monotonic()
            second = await chat(
                http, base_url, key, received.next_messages(), stream=rng.random() < stream_share
            )
            done(second, started)
            if second.error is None:
                traffic.answers += 1
                if second.restored >= 1:
                    traffic.live_restored += 1
            elif second.status is None:
                await asyncio.sleep(0.05)

    async with httpx.AsyncClient(timeout=timeout, limits=_limits(clients)) as http:
        await asyncio.gather(*(client(i, http) for i in range(clients)))
    traffic.ended = time.monotonic()
    return traffic


@dataclass
class Verdict:
    """What ``verify`` found for each received turn (module docstring)."""

    checked: int = 0
    restored: int = 0
    lost: list[Received] = field(default_factory=list)
    wrong: list[Received] = field(default_factory=list)
    failed: list[tuple[Received, str]] = field(default_factory=list)
    unchecked: int = 0
    """Turns not sent back before ``verify``'s time ran out."""
    statuses: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return self.checked + self.unchecked

    def summary(self) -> str:
        kinds = Counter(kind for _, kind in self.failed)
        failed = f"{len(self.failed)} failed" + (f" {dict(kinds)}" if kinds else "")
        return (
            f"{self.restored}/{self.total} restorable, {len(self.lost)} lost, {len(self.wrong)} wrong, "
            f"{failed}, {self.unchecked} unchecked; statuses {dict(self.statuses)}"
        )


async def verify(
    base_url: str,
    received: Sequence[Received],
    *,
    concurrency: int = 24,
    timeout: float = 120.0,
    request_timeout: float = 15.0,
    attempts: int = 3,
) -> Verdict:
    """Send each received turn back (its next-step request, whole) and sort the answers into
    restored / lost / wrong / failed (module docstring); at most ``timeout`` seconds in all."""
    verdict = Verdict()
    started = time.monotonic()
    deadline = started + timeout
    todo = collections.deque(received)
    limit = httpx.Timeout(request_timeout, connect=min(5.0, request_timeout))

    async def check(http: httpx.AsyncClient, turn: Received) -> None:
        reply = Reply(error="not sent")
        for attempt in range(attempts):
            reply = await chat(http, base_url, turn.key, turn.next_messages(), stream=False)
            if reply.status is not None and reply.status < 500:
                break
            if attempt + 1 < attempts:
                await asyncio.sleep(0.2)
        verdict.checked += 1
        verdict.statuses[str(reply.status) if reply.status is not None else reply.error or "?"] += 1
        if reply.status is None or reply.status >= 500:
            verdict.failed.append((turn, reply.error or f"HTTP {reply.status}"))
        elif reply.status != 200 or reply.restored < 1:
            verdict.lost.append(turn)
        else:
            quoted = QUOTED.search(reply.content or "")
            expected = turn.code_word
            if expected is not None and (quoted is None or quoted.group(1) != expected):
                verdict.wrong.append(turn)
            else:
                verdict.restored += 1

    async def worker(http: httpx.AsyncClient) -> None:
        while todo and time.monotonic() < deadline:
            await check(http, todo.popleft())

    async with httpx.AsyncClient(timeout=limit, limits=_limits(concurrency)) as http:
        await asyncio.gather(*(worker(http) for _ in range(max(1, concurrency))))
    verdict.unchecked = len(todo)
    verdict.seconds = time.monotonic() - started
    return verdict


# --- processes ------------------------------------------------------------------------------------


class _Drain:
    """Reads a child's stderr to its end in a thread, keeping the last lines: a child that logs
    under load must never block on a full pipe (a stall the harness would have caused)."""

    def __init__(self, stream: Any, keep: int = 400) -> None:
        self.lines: collections.deque[str] = collections.deque(maxlen=keep)
        self.count = Counter[str]()
        self._stream = stream
        self._thread = threading.Thread(target=self._run, name="thinkwire-drain", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with contextlib.suppress(ValueError, OSError):
            for line in self._stream:
                self.lines.append(line)
                lowered = line.lower()
                if "traceback" in lowered:
                    self.count["traceback"] += 1
                if "warning" in lowered:
                    self.count["warning"] += 1
                if "error" in lowered:
                    self.count["error"] += 1
                if "dropped" in lowered:
                    self.count["dropped"] += 1

    def join(self, timeout: float = 10.0) -> str:
        self._thread.join(timeout)
        with contextlib.suppress(OSError):
            self._stream.close()
        return "".join(self.lines)


class Emulator:
    """``python -m thinkwire emulate VENDOR --port 0`` in its own process; ``url`` once it
    listens. Its access log (stdout) is discarded, its stderr drained."""

    def __init__(self, vendor: str = "deepseek", *, timeout: float = 30.0) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "thinkwire", "emulate", vendor, "--port", "0"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stderr is not None
        deadline = time.monotonic() + timeout
        seen: list[str] = []
        url = None
        while time.monotonic() < deadline:
            line = self.process.stderr.readline()
            seen.append(line)
            if match := re.search(r"Uvicorn running on (http://\S+)", line):
                url = match.group(1)
                break
            if not line and self.process.poll() is not None:
                break
        if url is None:
            self.process.kill()
            self.process.wait()
            self.process.stderr.close()
            raise RuntimeError("the emulator did not start:\n" + "".join(seen))
        self.url: str = url
        self._drain = _Drain(self.process.stderr)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._drain.join()

    def __enter__(self) -> Emulator:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def write_config(path: Path, upstream: str) -> Path:
    """A gateway config with one ``openai-chat`` upstream, profile ``deepseek``, at ``upstream``."""
    path.write_text(
        f'[[upstreams]]\nname = "ds"\nkind = "openai-chat"\nbase_url = "{upstream}"\nprofile = "deepseek"\n'
    )
    return path


class Gateway:
    """``thinkwire serve ARGS`` as a child (``serve_process``) with its stderr drained.

    ``kill()`` is ``kill -9``; ``stop()`` interrupts it as Ctrl-C would (what
    ``tests.support.processes.stop`` does, which reads stderr itself and so cannot be used
    with the drain) and returns the end of its stderr."""

    def __init__(self, args: Sequence[str], home: Path, *, env: Mapping[str, str] | None = None) -> None:
        self.args = list(args)
        self.home = home
        self.env = {"THINKWIRE_SECRET": STATE_SECRET, **(env or {})}
        started = time.monotonic()
        self.process, self.url = serve_process(self.args, home, env=self.env)
        self.startup = time.monotonic() - started
        self._drain = _Drain(self.process.stderr)
        self.log = ""

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def log_counts(self) -> Counter[str]:
        return self._drain.count

    def kill(self) -> None:
        """SIGKILL, then reap: nothing in the gateway runs after this."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.log = self._drain.join()

    def stop(self, timeout: float = 15.0) -> str:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log = self._drain.join()
        return self.log

    def health(self, timeout: float = 10.0) -> dict[str, Any]:
        """``GET /healthz`` as JSON."""
        response = httpx.get(self.url + "/healthz", timeout=timeout)
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def __enter__(self) -> Gateway:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


# --- scenarios ------------------------------------------------------------------------------------


def gateway_args(config: Path, state: str | None, extra: Sequence[str] = ()) -> list[str]:
    """``--config CONFIG [--state STATE] EXTRA...`` (no ``--state``: SQLite under the home)."""
    return ["--config", str(config), *(["--state", state] if state else []), *extra]


@dataclass
class Crash:
    """One round of a ``crash_scenario``: the traffic until the kill."""

    traffic: Traffic
    killed_at: float
    startup: float
    """Seconds the gateway took to say where it listens."""

    @property
    def seconds(self) -> float:
        return max(self.killed_at - self.traffic.started, 1e-9)


@dataclass
class CrashResult:
    """A ``crash_scenario``: each round's traffic until its kill, and what the gateway
    restarted after the last one restores of every turn received in any round."""

    rounds: list[Crash]
    verdict: Verdict
    restart: float
    """Seconds the last restart took to listen."""
    health: dict[str, Any]
    """``/healthz`` of the restarted gateway after the verification."""
    log: str

    @property
    def received(self) -> int:
        return sum(len(r.traffic.received) for r in self.rounds)

    @property
    def clients(self) -> int:
        return self.rounds[0].traffic.clients if self.rounds else 0

    @property
    def lost(self) -> int:
        """Received turns the restarted gateway does not restore (lost, wrong or failed)."""
        return len(self.verdict.lost) + len(self.verdict.wrong) + len(self.verdict.failed)

    @property
    def lost_share(self) -> float:
        return self.lost / self.received if self.received else 0.0

    @property
    def seconds(self) -> float:
        """Seconds of traffic, all rounds."""
        return sum(r.seconds for r in self.rounds)

    @property
    def turns_per_second(self) -> float:
        return self.received / max(self.seconds, 1e-9)

    def lost_per_round(self) -> list[int]:
        failed = [t for t, _ in self.verdict.failed]
        lost = {id(t) for t in [*self.verdict.lost, *self.verdict.wrong, *failed]}
        return [sum(id(t) in lost for t in r.traffic.received) for r in self.rounds]

    def lost_ages(self) -> list[float]:
        """Seconds from each lost turn's arrival at its client to its round's kill, oldest
        first (negative: the client read the last byte after the kill signal, from its socket
        buffer)."""
        killed = {id(t): r.killed_at for r in self.rounds for t in r.traffic.received}
        turns = [*self.verdict.lost, *self.verdict.wrong]
        return sorted((killed[id(t)] - t.at for t in turns), reverse=True)

    def errors_before_kills(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for r in self.rounds:
            total.update(r.traffic.error_counts(before=r.killed_at))
        return total

    def describe(self) -> str:
        ages = self.lost_ages()
        window = (
            f"; the lost turns reached their clients {ages[0] * 1000:.1f} to {ages[-1] * 1000:.1f} ms "
            "before the kill"
            if ages
            else ""
        )
        return (
            f"{self.received} turns received by {self.clients} clients in {self.seconds:.1f} s "
            f"({self.turns_per_second:.0f}/s) over {len(self.rounds)} kill -9 round(s); after the last "
            f"restart: {self.verdict.summary()}; lost per round {self.lost_per_round()}{window}; "
            f"errors before the kills: {dict(self.errors_before_kills())}"
        )


def crash_scenario(
    work: Path,
    upstream: str,
    *,
    state: str | None = None,
    clients: int = 24,
    kill_after: float = 3.0,
    kills: int = 1,
    at_receipt: bool = True,
    max_conversations: int = 100_000,
    extra_args: Sequence[str] = (),
    seed: int = 0,
) -> CrashResult:
    """``kills`` rounds of traffic against a gateway, each ended by ``kill -9`` mid-traffic and
    a restart on the same home (and ``--state``); then every turn received in any round is
    sent back to the last gateway.

    Each round's kill comes ``kill_after`` seconds in; with ``at_receipt``, at the first moment
    after that when a client has just fully received a tool-call turn (from the client's event
    loop, right after its last byte; at most ``RECEIPT_WAIT`` seconds later): the moment a
    gateway that commits a turn only after the response is most likely to lose one. Without
    it, at that time exactly: a crash at an arbitrary moment."""
    work.mkdir(parents=True, exist_ok=True)
    home = work / "home"
    args = gateway_args(write_config(work / "thinkwire.toml", upstream), state, extra_args)
    rounds: list[Crash] = []
    gateway = Gateway(args, home)
    log = ""
    try:
        for number in range(kills):
            try:
                traffic, killed_at = asyncio.run(
                    _until_kill(gateway, clients, kill_after, at_receipt, max_conversations, seed + number)
                )
            finally:
                gateway.kill()
                log += gateway.log
            rounds.append(Crash(traffic, killed_at, gateway.startup))
            gateway = Gateway(args, home)
        verdict = asyncio.run(
            verify(gateway.url, [t for r in rounds for t in r.traffic.received], concurrency=clients)
        )
        health = gateway.health()
    finally:
        gateway.stop()
        log += gateway.log
    return CrashResult(rounds, verdict, gateway.startup, health, log)


async def _until_kill(
    gateway: Gateway, clients: int, kill_after: float, at_receipt: bool, max_conversations: int, seed: int
) -> tuple[Traffic, float]:
    stop = asyncio.Event()
    killed: list[float] = []
    trigger = time.monotonic() + kill_after

    def kill() -> None:
        if not killed:
            os.kill(gateway.pid, signal.SIGKILL)
            killed.append(time.monotonic())
            stop.set()

    def received(turn: Received) -> None:
        if at_receipt and turn.at >= trigger:
            kill()

    task = asyncio.ensure_future(
        drive(
            gateway.url,
            clients=clients,
            seconds=kill_after + RECEIPT_WAIT + 30.0,
            max_conversations=max_conversations,
            stop=stop,
            seed=seed,
            on_received=received,
        )
    )
    await asyncio.sleep(max(0.0, trigger - time.monotonic()))
    if at_receipt:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), RECEIPT_WAIT)
    kill()
    return await task, killed[0]


@dataclass
class LoadResult:
    """A ``load_scenario``: the traffic, what the same gateway restores after it, its health."""

    traffic: Traffic
    verdict: Verdict
    health: dict[str, Any]
    log: str
    health_latencies: list[float] = field(default_factory=list)
    """Seconds each ``/healthz`` probe during the traffic took (``probe_health``)."""
    cpu: dict[str, float] = field(default_factory=dict)
    """CPU seconds used during the traffic: ``gateway``, ``clients`` (this process) and each
    of the scenario's ``watch`` processes."""

    @property
    def received(self) -> int:
        return len(self.traffic.received)

    @property
    def lost(self) -> int:
        return len(self.verdict.lost) + len(self.verdict.wrong) + len(self.verdict.failed)

    @property
    def turns_per_second(self) -> float:
        return self.received / self.traffic.seconds

    def unexpected_errors(self) -> Counter[str]:
        """Errors other than backpressure (429 / 503 / 529) during the traffic."""
        shed = {f"HTTP {s}" for s in BACKPRESSURE}
        return Counter({k: n for k, n in self.traffic.error_counts().items() if k not in shed})

    def describe(self) -> str:
        t = self.traffic
        ms = {
            "p50": t.percentile(0.5) * 1000,
            "p99": t.percentile(0.99) * 1000,
            "max": max(t.latencies, default=0.0) * 1000,
            "gap": t.longest_gap() * 1000,
        }
        cpu = ", ".join(f"{name} {seconds / t.seconds:.0%}" for name, seconds in self.cpu.items())
        return (
            f"{self.received} turns received in {t.seconds:.1f} s by {t.clients} clients "
            f"({self.turns_per_second:.0f}/s; {t.requests} requests; latency p50 {ms['p50']:.0f} ms, "
            f"p99 {ms['p99']:.0f} ms, max {ms['max']:.0f} ms; longest time without a completed "
            f"request {ms['gap']:.0f} ms; live restores {t.live_restored}/{t.answers}); "
            f"errors {dict(t.error_counts())}; verify: {self.verdict.summary()}; "
            f"healthz state: unrecorded {_state(self.health).get('unrecorded')}, "
            f"errors {_state(self.health).get('errors')}, commits {_state(self.health).get('commits')}"
            + (f"; CPU of a core during the traffic: {cpu}" if cpu else "")
        )


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of process ``pid`` (``/proc``; ``None`` when unreadable)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load_scenario(
    work: Path,
    upstream: str,
    *,
    state: str | None = None,
    clients: int = 32,
    seconds: float = 4.0,
    max_conversations: int = 100_000,
    extra_args: Sequence[str] = (),
    probe_health: float | None = None,
    watch: Mapping[str, int] | None = None,
    seed: int = 1,
) -> LoadResult:
    """``clients`` clients for ``seconds`` against one gateway, then every received turn sent
    back to it, then its ``/healthz``. ``probe_health``: also ``GET /healthz`` every that many
    seconds during the traffic (its latency is kept: a probe that blocks the event loop stalls
    every stream). ``watch``: other processes (name -> pid) whose CPU to measure, the
    emulator's say."""
    work.mkdir(parents=True, exist_ok=True)
    args = gateway_args(write_config(work / "thinkwire.toml", upstream), state, extra_args)
    probes: list[float] = []
    with Gateway(args, work / "home") as gateway:
        pids = {"gateway": gateway.pid, **(watch or {})}

        async def run() -> Traffic:
            stop = asyncio.Event()
            task = asyncio.ensure_future(
                drive(
                    gateway.url,
                    clients=clients,
                    seconds=seconds,
                    max_conversations=max_conversations,
                    stop=stop,
                    seed=seed,
                )
            )
            if probe_health:
                async with httpx.AsyncClient(timeout=10.0) as http:
                    while not task.done():
                        await asyncio.sleep(probe_health)
                        if task.done():
                            break
                        started = time.monotonic()
                        with contextlib.suppress(httpx.HTTPError):
                            await http.get(gateway.url + "/healthz")
                        probes.append(time.monotonic() - started)
            return await task

        before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        own = time.process_time()
        traffic = asyncio.run(run())
        cpu = {"clients": time.process_time() - own}
        for name, pid in pids.items():
            start, end = before[name], cpu_seconds(pid)
            if start is not None and end is not None:
                cpu[name] = end - start
        verdict = asyncio.run(verify(gateway.url, traffic.received, concurrency=clients))
        health = gateway.health()
    return LoadResult(traffic, verdict, health, gateway.log, probes, cpu)


@contextlib.contextmanager
def emulator(vendor: str = "deepseek") -> Iterator[str]:
    """The emulator's base URL for the ``with`` block (its own process)."""
    with Emulator(vendor) as running:
        yield running.url


def _state(health: dict[str, Any]) -> dict[str, Any]:
    """The conversation state's part of a ``/healthz`` answer (empty when there is none)."""
    state = health.get("state")
    return state if isinstance(state, dict) else {}
