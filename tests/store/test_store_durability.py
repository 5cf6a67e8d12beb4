"""Durability of the reasoning-state store, measured the way a client sees it.

The gateway records every assistant turn it produces so that a client which drops reasoning
gets it restored when it sends the turn back. The promise checked here: **every turn a client
fully received is restorable** — after ``kill -9`` of the gateway and a restart on the same
store, and under load (nothing dropped). "Fully received" means the whole body, or the
stream's final ``data: [DONE]``, reached the client: a turn cut off by the crash does not
count, a turn the client holds must never be lost.

Everything runs through the command line: a DeepSeek emulator in its own process (it survives
the gateway's death, and refuses a tool-call turn sent back without ``reasoning_content``, so
a turn that was not restored is a 400), ``thinkwire serve --config`` as a child
(``tests.support.processes``), legacy OpenAI-Chat tool-loop clients on httpx, streamed and
whole (``tests.support.traffic``: what is sent, when a turn counts as received, how a restore
is verified). Backends: SQLite under ``$THINKWIRE_HOME`` and Redis with its append-only file
fsynced on every write (``tests.support.redis``; skipped only when ``redis-server`` is not
installed).

The crash tests kill the gateway five times, each time right after a client has fully
received a turn (the moment a gateway that commits turns after the response has not yet
written it), and then send every received turn back to the last restart. The
load tests run 32 clients for a few seconds and send every received turn back to the same
gateway; backpressure (429 / 503) is allowed, other errors and any unrestorable turn are not.
``benchmarks/state_durability.py`` runs the same scenarios longer and prints the numbers.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.redis import RedisServer, redis_server_binary
from tests.support.traffic import CrashResult, Emulator, LoadResult, crash_scenario, load_scenario

CRASH_CLIENTS = 24
LOAD_CLIENTS = 32
KILLS = 5
SECONDS_BEFORE_EACH_KILL = 1.0
LOAD_SECONDS = 4.0
MIN_TURNS = 60
"""Fewer received turns than this means the traffic itself failed: nothing was measured."""


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    """The strict DeepSeek emulator in its own process (not killed with the gateway)."""
    with Emulator("deepseek") as emulator:
        yield emulator.url


@pytest.fixture
def redis_aof() -> Iterator[RedisServer]:
    if redis_server_binary() is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    with RedisServer(appendonly=True, appendfsync="always") as server:
        yield server


def _tail(log: str, lines: int = 30) -> str:
    return "\n".join(log.splitlines()[-lines:])


def _check_crash(result: CrashResult) -> None:
    report = result.describe()
    assert result.received >= MIN_TURNS, report
    assert result.verdict.unchecked == 0, report
    assert not result.verdict.failed, report + "\n" + _tail(result.log)
    assert not result.verdict.wrong, report  # a restore must bring back the turn's own thinking
    lost = len(result.verdict.lost)
    assert lost == 0, report


def test_every_turn_a_client_received_survives_kill_9_with_sqlite(upstream: str, tmp_path: Path) -> None:
    result = crash_scenario(
        tmp_path,
        upstream,
        clients=CRASH_CLIENTS,
        kill_after=SECONDS_BEFORE_EACH_KILL,
        kills=KILLS,
    )
    _check_crash(result)


def test_every_turn_a_client_received_survives_kill_9_with_redis_aof(
    upstream: str, tmp_path: Path, redis_aof: RedisServer
) -> None:
    result = crash_scenario(
        tmp_path,
        upstream,
        state=redis_aof.url + "/0",
        clients=CRASH_CLIENTS,
        kill_after=SECONDS_BEFORE_EACH_KILL,
        kills=KILLS,
    )
    _check_crash(result)


@pytest.mark.parametrize("backend", ["sqlite", "redis-aof"])
def test_under_load_no_turn_is_dropped(
    upstream: str, tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    state = None
    if backend == "redis-aof":
        redis: RedisServer = request.getfixturevalue("redis_aof")
        state = redis.url + "/0"
    result: LoadResult = load_scenario(
        tmp_path, upstream, state=state, clients=LOAD_CLIENTS, seconds=LOAD_SECONDS
    )
    report = result.describe()
    assert result.received >= MIN_TURNS, report
    assert not result.unexpected_errors(), report + "\n" + _tail(result.log)
    assert result.verdict.unchecked == 0, report
    lost = result.lost
    assert lost == 0, report
    # the state's own count of turns it could not record, and of failed store calls
    state = result.health["state"]
    assert (state["unrecorded"], state["errors"]) == (0, 0), report
