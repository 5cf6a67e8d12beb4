"""Load: many concurrent streams through the gateway, all complete and correct, memory flat.

``thinkwire serve --config`` (the default SQLite state, durable commits) runs as a child process
in front of ``thinkwire emulate deepseek`` (another child); the test sends ``STREAMS`` streamed
requests at once, a third each as Chat, Messages and Responses, twice (two waves) after a
warm-up, and reads the gateway's resident memory (``VmRSS``) after the warm-up and after each
wave. Every stream must end with its dialect's end marker and hold the emulator's thinking and
answer, and memory must stay within ``GROWTH`` over a wave and ``DRIFT`` from one wave to the
next (a leak grows with every wave).

CI runs 200 streams a wave (about 15 s). The full run, 1,000 concurrent streams a wave::

    THINKWIRE_LOAD_STREAMS=1000 .venv/bin/pytest tests/server/test_server_load.py -q -s
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import aiohttp
import pytest
from tests.support.processes import emulate_process, rss, serve_process, stop

from thinkwire.dialects.base import EventReader
from thinkwire.ir.blocks import Dialect, Text, Thinking
from thinkwire.ir.stream import Folder

STREAMS: Final = int(os.environ.get("THINKWIRE_LOAD_STREAMS", "200"))
WARM_UP: Final = 60
GROWTH: Final = 64 * 1024 * 1024
"""Bytes of resident memory a wave may add over the warmed-up gateway."""
DRIFT: Final = 24 * 1024 * 1024
"""Bytes the second wave may add over the first."""
WAVE_TIMEOUT: Final = 60.0 + STREAMS * 0.2
MODEL: Final = "deepseek-reasoner"
REQUESTS: Final[dict[Dialect, tuple[str, dict[str, Any]]]] = {
    "openai-chat": (
        "/v1/chat/completions",
        {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": True},
    ),
    "anthropic": (
        "/v1/messages",
        {"model": MODEL, "max_tokens": 200, "messages": [{"role": "user", "content": "hi"}], "stream": True},
    ),
    "openai-responses": ("/v1/responses", {"model": MODEL, "input": "hi", "stream": True}),
}
DIALECTS: Final = tuple(REQUESTS)
Folded = tuple[str, str, str | None]
"""A stream as (thinking, answer, stop reason)."""

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    home = Path(tmp_path_factory.mktemp("load"))
    emulator, upstream = emulate_process(["deepseek"], home)
    try:
        config = home / "thinkwire.toml"
        config.write_text(
            f'[[upstreams]]\nname = "deepseek"\nkind = "openai-chat"\nbase_url = "{upstream}"\n'
            'profile = "deepseek"\n',
            encoding="utf-8",
        )
        server, url = serve_process(["--config", str(config)], home)
        try:
            yield url, server.pid
        finally:
            stop(server)
    finally:
        stop(emulator)


def folded(dialect: Dialect, raw: bytes) -> Folded:
    """A client stream as (thinking, answer, stop reason), decoded by the dialect's codec; a
    stream cut short or ending in an error raises."""
    reader = EventReader(dialect)
    folder = Folder()
    for event in [*reader.feed(raw), *reader.close()]:
        folder.feed(event)
    response = folder.result()
    thinking = "".join(b.text for b in response.blocks if isinstance(b, Thinking))
    answer = "".join(b.text for b in response.blocks if isinstance(b, Text))
    return thinking, answer, response.stop_reason


async def wave(url: str, count: int) -> list[tuple[Dialect, bytes | str]]:
    """``count`` streams at once, the dialects in turn: (dialect, the stream's bytes or what
    went wrong)."""
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    timeout = aiohttp.ClientTimeout(total=WAVE_TIMEOUT)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one(dialect: Dialect) -> tuple[Dialect, bytes | str]:
            path, body = REQUESTS[dialect]
            try:
                async with session.post(url + path, json=body) as answer:
                    raw = await answer.read()
                    return dialect, raw if answer.status == 200 else f"{answer.status}: {raw[:300]!r}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                return dialect, f"failed: {exc!r}"

        return await asyncio.gather(*(one(DIALECTS[i % len(DIALECTS)]) for i in range(count)))


def problems(results: list[tuple[Dialect, bytes | str]], reference: dict[Dialect, Folded]) -> list[str]:
    found = []
    for i, (dialect, raw) in enumerate(results):
        if isinstance(raw, str):
            found.append(f"stream {i} ({dialect}): {raw}")
            continue
        try:
            got = folded(dialect, raw)
        except Exception as exc:  # a stream cut short, or an error event: said, with its end
            found.append(f"stream {i} ({dialect}): {exc}: {raw[-200:]!r}")
            continue
        if got != reference[dialect]:
            found.append(f"stream {i} ({dialect}): {got} instead of {reference[dialect]}")
    return found


def test_concurrent_streams_through_the_gateway_all_complete_and_memory_stays_flat(
    gateway: tuple[str, int],
) -> None:
    url, pid = gateway
    warm = asyncio.run(wave(url, WARM_UP))
    reference: dict[Dialect, Folded] = {}
    for dialect, raw in warm[: len(DIALECTS)]:
        assert isinstance(raw, bytes), raw
        reference[dialect] = folded(dialect, raw)
        assert all(reference[dialect][:2]), reference[dialect]  # thinking and an answer
    assert problems(warm, reference) == []
    before = rss(pid)
    sizes = []
    for _ in range(2):
        started = time.monotonic()
        results = asyncio.run(wave(url, STREAMS))
        took = time.monotonic() - started
        assert problems(results, reference) == []
        sizes.append(rss(pid))
        print(f"\n{STREAMS} concurrent streams in {took:.1f} s; gateway RSS {sizes[-1] / 2**20:.0f} MiB")
    waves = ", ".join(f"{size / 2**20:.0f}" for size in sizes)
    print(f"gateway RSS after the warm-up {before / 2**20:.0f} MiB, after each wave {waves} MiB")
    assert sizes[0] - before < GROWTH
    assert sizes[1] - sizes[0] < DRIFT
