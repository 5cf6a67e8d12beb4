"""Durability of the gateway's reasoning-state store: of the turns clients fully received, how
many can still be restored after ``kill -9``, and whether any are dropped under load.

**Why.** The gateway records each assistant turn it produces so that a client which drops
reasoning (an OpenAI-SDK app sends back ``content`` and ``tool_calls`` only) gets it put back
when it sends the turn again (``thinkwire-restored``). A turn the client holds but the store
lost breaks that client's next step against a strict vendor (DeepSeek answers 400). Whether a
turn is written before or after the client has it (write-behind vs commit before the final
event) and whether overload drops turns is what this measures, from the client's side.

**Setup** (``tests/support/traffic.py``, the same scenarios as
``tests/store/test_store_durability.py``, longer): the strict DeepSeek emulator in its own
process (``python -m thinkwire emulate deepseek``), ``thinkwire serve --config`` as a child
with one ``openai-chat`` upstream (profile ``deepseek``) and a fixed state secret; legacy
tool-loop clients on httpx (each its own API key, streamed and whole requests mixed): user asks
for the weather -> the model thinks and calls ``get_weather`` -> the client keeps the turn
without its reasoning once the body, or the stream's ``[DONE]``, has fully arrived -> sends it
back with a tool result. Nothing is pinned: on a small machine the clients, the emulator and
the gateway share the cores, so turns/s measures the whole loop (the CPU split is printed).

**Crash**: ``--kills`` rounds of ``--seconds`` of traffic, each ended by ``kill -9`` of the
gateway right after a client fully received a tool-call turn (``--random-kill``: at the
timer, whatever is in flight) and a restart on the same ``$THINKWIRE_HOME`` / ``--state``;
then every turn received in any round is sent back to the last gateway. **Load**:
``--load-seconds`` of traffic from ``--load-clients`` clients against one gateway, probing
``/healthz`` every second (its latency shows whether a probe stalls the server), then every
received turn sent back to it, then ``/healthz``'s state counters (``unrecorded``: turns the
state could not record; ``errors``; ``commits``: group commits written).

**Reported**, per store (SQLite under the home; Redis with ``appendonly yes`` and
``--appendfsync``, default ``always``) and per ``--durability`` mode given: turns received,
restorable, lost (and %), turns received per second, request latency p99, the longest time no
request completed, errors other than the kills; for crashes how long before its kill each lost
turn had reached its client (the store's lag); for load the CPU each process used.

    python benchmarks/state_durability.py               # full run, SQLite and Redis: a few minutes
    python benchmarks/state_durability.py --quick       # < 60 s
    python benchmarks/state_durability.py --durability commit --durability async   # compare modes
    python benchmarks/state_durability.py --no-redis --json out.json --check

Exit 1 with ``--check`` when a received turn was not restorable or a request failed for
another reason than a kill or backpressure. Counts move between runs (the kill moment is a
race); compare modes and stores within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # tests/support, when run as python benchmarks/state_durability.py
    sys.path.insert(0, str(ROOT))

from tests.support.redis import Fsync, RedisServer, redis_server_binary  # noqa: E402 (after sys.path)
from tests.support.traffic import (  # noqa: E402 (after sys.path)
    CrashResult,
    Emulator,
    LoadResult,
    Verdict,
    crash_scenario,
    load_scenario,
)


@dataclass
class Row:
    scenario: str
    store: str
    durability: str
    clients: int
    rounds: int
    received: int
    restorable: int
    lost: int
    seconds: float
    turns_per_second: float
    p99_ms: float
    gap_ms: float
    errors: dict[str, int]
    notes: list[str] = field(default_factory=list)

    @property
    def lost_share(self) -> float:
        return self.lost / self.received if self.received else 0.0


HEADER: Final = (
    f"{'scenario':8} {'store':26} {'durability':10} {'clients':>7} {'kills':>5} {'received':>8} "
    f"{'restorable':>10} {'lost':>5} {'lost %':>7} {'turns/s':>8} {'p99 ms':>7} {'gap ms':>7}  errors"
)


def line(row: Row) -> str:
    errors = ", ".join(f"{k} x{n}" for k, n in sorted(row.errors.items())) or "-"
    return (
        f"{row.scenario:8} {row.store:26} {row.durability:10} {row.clients:7d} {row.rounds:5d} "
        f"{row.received:8d} {row.restorable:10d} {row.lost:5d} {row.lost_share * 100:6.2f}% "
        f"{row.turns_per_second:8.1f} {row.p99_ms:7.0f} {row.gap_ms:7.0f}  {errors}"
    )


def with_verdict(errors: dict[str, int], verdict: Verdict) -> dict[str, int]:
    """``errors`` of the traffic with the verification's failures and unchecked turns added."""
    for _, kind in verdict.failed:
        errors[f"verify {kind}"] = errors.get(f"verify {kind}", 0) + 1
    if verdict.unchecked:
        errors["unchecked"] = verdict.unchecked
    return errors


def crash_row(result: CrashResult, store: str, durability: str) -> Row:
    latencies = sorted(x for r in result.rounds for x in r.traffic.latencies)
    p99 = latencies[min(len(latencies) - 1, round(0.99 * (len(latencies) - 1)))] if latencies else 0.0
    gap = max((r.traffic.longest_gap(until=r.killed_at) for r in result.rounds), default=0.0)
    errors = with_verdict(dict(result.errors_before_kills()), result.verdict)
    row = Row(
        "crash",
        store,
        durability,
        result.clients,
        len(result.rounds),
        result.received,
        result.verdict.restored,
        result.lost + result.verdict.unchecked,
        result.seconds,
        result.turns_per_second,
        p99 * 1000,
        gap * 1000,
        errors,
    )
    ages = result.lost_ages()
    row.notes.append(f"lost per kill {result.lost_per_round()}")
    if ages:
        row.notes.append(
            f"lost turns reached their clients {ages[0] * 1000:.1f} to {ages[-1] * 1000:.1f} ms before the "
            "kill (negative: read from the socket after it)"
        )
    if result.verdict.wrong:
        row.notes.append(f"{len(result.verdict.wrong)} restores brought back another turn's thinking")
    starts = [r.startup for r in result.rounds] + [result.restart]
    row.notes.append(f"gateway start-up {min(starts):.2f}-{max(starts):.2f} s")
    return row


def load_row(result: LoadResult, store: str, durability: str) -> Row:
    t = result.traffic
    errors = with_verdict(dict(t.error_counts()), result.verdict)
    row = Row(
        "load",
        store,
        durability,
        t.clients,
        0,
        result.received,
        result.verdict.restored,
        result.lost + result.verdict.unchecked,
        t.seconds,
        result.turns_per_second,
        t.percentile(0.99) * 1000,
        t.longest_gap() * 1000,
        errors,
    )
    state = result.health.get("state") or {}
    row.notes.append(
        f"healthz after: unrecorded {state.get('unrecorded', '-')}, errors {state.get('errors', '-')}, "
        f"commits {state.get('commits', '-')} for {state.get('recorded', '-')} recorded turns"
    )
    if result.health_latencies:
        probes = sorted(result.health_latencies)
        row.notes.append(
            f"/healthz under load: {len(probes)} probes, median {probes[len(probes) // 2] * 1000:.0f} ms, "
            f"max {probes[-1] * 1000:.0f} ms"
        )
    row.notes.append(
        f"latency p50 {t.percentile(0.5) * 1000:.0f} ms, max {max(t.latencies, default=0.0) * 1000:.0f} ms; "
        f"live restores {t.live_restored}/{t.answers}"
    )
    if result.cpu:
        row.notes.append(
            "CPU during the traffic (share of one core): "
            + ", ".join(f"{name} {seconds / t.seconds:.0%}" for name, seconds in result.cpu.items())
        )
    return row


@contextmanager
def redis_store(enabled: bool, fsync: Fsync) -> Iterator[RedisServer | None]:
    if not enabled:
        yield None
        return
    with RedisServer(appendonly=True, appendfsync=fsync) as server:
        yield server


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="short runs (< 60 s in all)")
    parser.add_argument("--clients", type=int, default=24, help="crash scenario clients (24)")
    parser.add_argument("--load-clients", type=int, default=32, help="load scenario clients (32)")
    parser.add_argument("--kills", type=int, help="kill -9 rounds per crash run (5; --quick 2)")
    parser.add_argument("--seconds", type=float, help="traffic before each kill (3; --quick 1.5)")
    parser.add_argument("--load-seconds", type=float, help="load traffic (10; --quick 4)")
    parser.add_argument(
        "--random-kill",
        action="store_true",
        help="kill at the timer, not right after a client received a turn",
    )
    parser.add_argument("--no-redis", action="store_true", help="SQLite only")
    parser.add_argument(
        "--appendfsync", choices=("always", "everysec"), default="always", help="Redis AOF fsync (always)"
    )
    parser.add_argument(
        "--durability",
        action="append",
        metavar="MODE",
        help="run every scenario with thinkwire serve --durability MODE (repeat to compare modes); "
        "default: the gateway's default, without the option",
    )
    parser.add_argument(
        "--serve-arg", action="append", default=[], metavar="ARG", help="extra argument for thinkwire serve"
    )
    parser.add_argument("--json", type=Path, help="also write the rows to this file")
    parser.add_argument("--check", action="store_true", help="exit 1 when a received turn was lost")
    args = parser.parse_args(argv)

    kills = args.kills or (2 if args.quick else 5)
    seconds = args.seconds or (1.5 if args.quick else 3.0)
    load_seconds = args.load_seconds or (4.0 if args.quick else 10.0)
    modes: list[str | None] = list(args.durability) if args.durability else [None]
    use_redis = not args.no_redis and redis_server_binary() is not None
    redis_name = f"redis (AOF, fsync {args.appendfsync})"

    print(
        f"thinkwire state durability: {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"crash: {args.clients} clients, {kills} x ({seconds:g} s, then kill -9 "
        f"{'at the timer' if args.random_kill else 'right after a client received a turn'}); "
        f"load: {args.load_clients} clients, {load_seconds:g} s"
    )
    if not use_redis:
        print("Redis: " + ("left out (--no-redis)" if args.no_redis else "redis-server not installed"))
    rows: list[Row] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="thinkwire-durability-") as tmp, Emulator("deepseek") as emulator:
        work = Path(tmp)
        print(f"upstream: DeepSeek emulator at {emulator.url} (pid {emulator.process.pid})\n")
        for mode in modes:
            extra = [*args.serve_arg, *(["--durability", mode] if mode else [])]
            label = mode or "default"
            stores: list[tuple[str, bool]] = [("sqlite", False)] + ([(redis_name, True)] if use_redis else [])
            for store, is_redis in stores:
                key = f"{label}-{'redis' if is_redis else 'sqlite'}"
                with redis_store(is_redis, args.appendfsync) as redis:
                    crash = crash_scenario(
                        work / f"crash-{key}",
                        emulator.url,
                        state=redis.url + "/0" if redis else None,
                        clients=args.clients,
                        kill_after=seconds,
                        kills=kills,
                        at_receipt=not args.random_kill,
                        extra_args=extra,
                    )
                rows.append(crash_row(crash, store, label))
                print(f"crash {store} {label}: {crash.describe()}", flush=True)
                with redis_store(is_redis, args.appendfsync) as redis:
                    load = load_scenario(
                        work / f"load-{key}",
                        emulator.url,
                        state=redis.url + "/0" if redis else None,
                        clients=args.load_clients,
                        seconds=load_seconds,
                        extra_args=extra,
                        probe_health=1.0,
                        watch={"emulator": emulator.process.pid},
                    )
                rows.append(load_row(load, store, label))
                print(f"load {store} {label}: {load.describe()}", flush=True)

    print()
    print(HEADER)
    for row in rows:
        print(line(row))
    print()
    for row in rows:
        for note in row.notes:
            print(f"  {row.scenario} {row.store} {row.durability}: {note}")
    if len(modes) > 1:
        print()
        first = modes[0] or "default"
        for row in rows:
            base = next(
                r
                for r in rows
                if r.scenario == row.scenario and r.store == row.store and r.durability == first
            )
            if row is not base and base.turns_per_second:
                print(
                    f"  {row.scenario} {row.store}: {row.durability} at "
                    f"{row.turns_per_second / base.turns_per_second:.2f}x the turns/s of {first}"
                )
    print(f"\n{time.monotonic() - started:.0f} s in all")
    if args.json is not None:
        payload: dict[str, Any] = {
            "kills": kills,
            "seconds_before_each_kill": seconds,
            "load_seconds": load_seconds,
            "kill_at_receipt": not args.random_kill,
            "rows": [{**row.__dict__, "lost_share": row.lost_share} for row in rows],
        }
        args.json.write_text(json.dumps(payload, indent=2))
    lost = sum(r.lost for r in rows)
    if args.check and lost:
        print(f"{lost} received turns were not restorable", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
