"""Fuzz: hostile requests to the three endpoints get a 4xx in the dialect's envelope naming the
place, never a 5xx or an exception name, and the keep-alive connection and the server survive.

The requests are valid ones made against the server under test (thinking, signatures, tool
calls and results), mutated (``tests/support/fuzz.py`` lists how), whole and streamed, sent to
``thinkwire serve --model scripted`` and to ``thinkwire serve --config`` (the gateway) over the
strict Anthropic, DeepSeek and OpenAI Responses emulators, each server a child process as a user
starts it. After each endpoint's run the server's log holds no traceback or exception name and
``/healthz`` answers.

CI runs ``FUZZ_EXAMPLES`` (default 150) hostile requests per endpoint and server; the full run
(3,000 each, about 15 minutes on two cores) is::

    THINKWIRE_FUZZ_EXAMPLES=3000 .venv/bin/pytest tests/server/test_server_fuzz.py -q
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Final

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.support.fuzz import (
    DIALECTS,
    ENDPOINTS,
    EXCEPTION_NAME,
    Connection,
    Op,
    Target,
    gateway_target,
    mutate,
    problems,
    scripted_target,
)

from thinkwire.ir.blocks import Dialect

FUZZ_EXAMPLES: Final = int(os.environ.get("THINKWIRE_FUZZ_EXAMPLES", "150"))


@pytest.fixture(scope="module")
def scripted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    with scripted_target(tmp_path_factory.mktemp("home")) as target:
        yield target


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    with gateway_target(tmp_path_factory.mktemp("home")) as target:
        yield target


CASES: Final = st.tuples(
    st.integers(0, 1 << 16),
    st.booleans(),
    st.lists(
        st.builds(Op, st.integers(0, 1 << 16), st.integers(0, 1 << 16), st.integers(0, 1 << 20)),
        min_size=1,
        max_size=3,
    ),
)
"""A seed (by index), streamed or not, and one to three mutations."""


def fuzz(target: Target, dialect: Dialect) -> None:
    """``FUZZ_EXAMPLES`` hostile requests to ``dialect``'s endpoint on one keep-alive connection
    (reopened only after a refusal that closes it by design), then the log and health checks."""
    connection = Connection(target.server.url)
    found: list[str] = []

    @settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(CASES)
    def one(case: tuple[int, bool, list[Op]]) -> None:
        index, stream, ops = case
        pool = target.seeds[dialect]
        hostile = mutate(pool[index % len(pool)], ops, stream=stream)
        wrong = problems(dialect, hostile, connection.send(ENDPOINTS[dialect], hostile))
        if wrong:
            found.append(f"{hostile.done}: {wrong}")
        assert not wrong, f"{hostile.done}: {wrong}"

    try:
        one()
    finally:
        connection.close()
    assert httpx.get(target.server.url + "/healthz", timeout=10).status_code == 200
    counts = target.server.log_counts
    assert counts["traceback"] == 0, target.server.stop()
    assert not found


@pytest.mark.parametrize("dialect", DIALECTS)
def test_serve_scripted_answers_hostile_requests_with_4xx_naming_the_place(
    scripted: Target, dialect: Dialect
) -> None:
    fuzz(scripted, dialect)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_the_gateway_answers_hostile_requests_with_4xx_naming_the_place(
    gateway: Target, dialect: Dialect
) -> None:
    fuzz(gateway, dialect)


def test_the_logs_hold_no_exception_name(scripted: Target, gateway: Target) -> None:
    """Run last in the module: both servers' logs, whole, after every fuzz run above."""
    for target in (scripted, gateway):
        log = target.server.stop()
        assert target.server.log_counts["traceback"] == 0
        assert not EXCEPTION_NAME.search(log), log[-3000:]
