"""Gateway overhead: the same requests straight to a mock upstream, through thinkwire's gateway,
and through the LiteLLM proxy, measured in one run.

**Setup.** One loopback mock upstream (raw asyncio HTTP/1.1 in its own process, this file run
with ``--mock-upstream PORT``) answers OpenAI Chat Completions with no artificial delay: whole
(one JSON body with ``reasoning_content`` and ``content``) or streamed (``REASONING_DELTAS``
SSE chunks of ``reasoning_content`` deltas, then ``CONTENT_DELTAS`` of ``content`` deltas, a
finish chunk, a usage chunk, ``[DONE]``). In front of it, each in its own process with one
worker:

- ``thinkwire serve --config`` with one ``openai-chat`` upstream (profile ``deepseek``) at the
  mock, three times: ``--no-state``; the default SQLite state (under a temporary ``--home``)
  with the default ``--durability commit`` (each turn committed before the response ends);
  and with the opt-in ``--durability async`` (committed just after);
- the LiteLLM proxy (``litellm --config``, ``--num_workers 1``), when it is installed: found on
  ``PATH``, in ``/tmp/litellm-venv`` or at ``--litellm PATH``.

The gateways are pinned to the last core and the mock and the load generator to the others
(``taskset`` / ``sched_setaffinity``; not on a one-core machine). Both gateways log at warning
level (no line per request).

**Requests.** Every request is the same short Chat conversation (system, user, an assistant
answer sent back without its reasoning, user). Its first step (system, user) is sent once to
each server before it is measured, and the assistant text is the mock's answer, so with the
state on, thinkwire finds the turn it recorded and restores its reasoning before
calling the upstream (header ``thinkwire-restored: 1``): the state's whole path is measured
(the lookup before the call in a worker thread; the recording, group-committed by the state's
committer thread, whose CPU counts in the process's, before the response ends or just after).
A whole request goes upstream whole, a streamed one streamed.

**Load.** An asyncio load generator on raw sockets (keep-alive HTTP/1.1, one connection per
concurrent client; httpx costs ~10x more CPU per request than the servers measured here, so it
would be the bottleneck). Each run is bounded in count and time; a warm-up precedes each.

**Reported**, for each server, non-streaming and streaming, at concurrency 1, 16 and 64:
latency p50/p99 and the added latency (gateway minus direct, same percentile), requests/s,
time to first byte of a stream (first SSE event), and the server's CPU time (``/proc/PID/stat``,
the process and its children) per request and per streamed event (the upstream's SSE events
relayed: ``EVENTS_PER_STREAM`` per stream). Targets from the issues: added p50 <= 1 ms at
concurrency 1; >= 10x LiteLLM's throughput; <= 1/10 of its CPU per streamed event; the
durable default at most 1 ms over the fast mode at p50, concurrency 1.

    python benchmarks/gateway.py                 # full run (with LiteLLM when installed)
    python benchmarks/gateway.py --quick         # CI smoke: direct vs thinkwire, < 60 s
    python benchmarks/gateway.py --json out.json
    python benchmarks/gateway.py --check         # exit 1 when a measured target is missed
    python benchmarks/gateway.py --no-litellm --seconds 3
    python benchmarks/gateway.py --thinkwire-python /tmp/venv/bin/python   # thinkwire from another
                                                 # venv (e.g. with uvicorn[standard])

Exit 1 when a request failed (the first failure is shown in the table). The machine may be
shared with other work: numbers move by +-30% between runs at concurrency 16 and 64.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

import orjson

MODEL: Final = "bench-model"
REASONING_DELTAS: Final = 16
CONTENT_DELTAS: Final = 16
EVENTS_PER_STREAM: Final = REASONING_DELTAS + CONTENT_DELTAS + 2  # + finish chunk + usage chunk
REASONING: Final = [f"step {i} of thinking about the question; " for i in range(REASONING_DELTAS)]
CONTENT: Final = [f"word{i} " for i in range(CONTENT_DELTAS)]
ANSWER: Final = "".join(CONTENT)
CONCURRENCY: Final = (1, 16, 64)
ADDED_P50_TARGET_MS: Final = 1.0
DURABLE_COST_MS: Final = 1.0
"""The durable default may add at most this at p50 over the opt-in fast mode (concurrency 1)."""
DURABLE: Final = "thinkwire sqlite commit"
FAST: Final = "thinkwire sqlite async"
THROUGHPUT_TARGET: Final = 10.0
CPU_TARGET: Final = 0.1
ANCHOR: Final = (
    "LiteLLM 1.109 in the issue: +11 ms p50 at c=1, ~80 req/s, ~30 streams/s, 0.25-0.7 ms CPU/event"
)
LITELLM_HINT: Final = (
    "python3 -m venv /tmp/litellm-venv && /tmp/litellm-venv/bin/pip install 'litellm[proxy]' "
    "opentelemetry-sdk (or pass --litellm PATH)"
)
REQUEST_TIMEOUT: Final = 30.0
KEY: Final = "sk-bench-" + secrets.token_hex(32)
"""LiteLLM's master key (it refuses to start without a strong one); every request sends it
(thinkwire, without gateway keys on loopback, takes it as the tenant's identity)."""
AUTH: Final = b"authorization: Bearer %s\r\n" % KEY.encode()


# --- the mock upstream (its own process) ----------------------------------------------------------


def _chunk(delta: dict[str, Any], finish: str | None = None, usage: dict[str, int] | None = None) -> bytes:
    choices = [] if usage else [{"index": 0, "delta": delta, "finish_reason": finish}]
    body: dict[str, Any] = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": MODEL,
        "choices": choices,
    }
    if usage:
        body["usage"] = usage
    data = b"data: " + orjson.dumps(body) + b"\n\n"
    return b"%x\r\n%s\r\n" % (len(data), data)


USAGE: Final = {"prompt_tokens": 40, "completion_tokens": 2 * EVENTS_PER_STREAM, "total_tokens": 108}
STREAM_HEAD: Final = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
    b"transfer-encoding: chunked\r\n\r\n"
)
STREAM_CHUNKS: Final = (
    [_chunk({"role": "assistant", "reasoning_content": REASONING[0]})]
    + [_chunk({"reasoning_content": r}) for r in REASONING[1:]]
    + [_chunk({"content": c}) for c in CONTENT]
    + [_chunk({}, finish="stop"), _chunk({}, usage=USAGE)]
)
STREAM_TAIL: Final = b"e\r\ndata: [DONE]\n\n\r\n0\r\n\r\n"
WHOLE_BODY: Final = orjson.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1700000000,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "reasoning_content": "".join(REASONING), "content": ANSWER},
                "finish_reason": "stop",
            }
        ],
        "usage": USAGE,
    }
)
WHOLE: Final = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (
    len(WHOLE_BODY),
    WHOLE_BODY,
)


class MockUpstream(asyncio.Protocol):
    """Keep-alive HTTP/1.1: any POST with ``"stream": true`` gets the SSE stream, any other
    request the whole answer (every chunk is written at once: no delay)."""

    def __init__(self) -> None:
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].lower()
            length = 0
            at = head.find(b"content-length:")
            if at >= 0:
                length = int(head[at + 15 :].split(b"\r\n", 1)[0])
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            assert self.transport is not None
            stream = length > 0 and orjson.loads(body).get("stream") is True
            if stream:
                self.transport.write(STREAM_HEAD)
                for chunk in STREAM_CHUNKS:
                    self.transport.write(chunk)
                self.transport.write(STREAM_TAIL)
            else:
                self.transport.write(WHOLE)


def run_mock(port: int) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(MockUpstream, "127.0.0.1", port, backlog=1024)
        async with server:
            await server.serve_forever()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())


# --- the load generator -------------------------------------------------------------------------


FIRST: Final = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Count some words."},
]
"""The conversation's first request: sent once to each server before it is measured, so a
server with state records the answer every measured request then sends back (the state finds a
turn only in the conversation it was produced in)."""


def request_body(stream: bool, messages: list[dict[str, Any]] | None = None) -> bytes:
    if messages is None:
        messages = [
            *FIRST,
            {"role": "assistant", "content": ANSWER},
            {"role": "user", "content": "Again, please."},
        ]
    body: dict[str, Any] = {"model": MODEL, "messages": messages, "max_tokens": 256, "stream": stream}
    if stream:
        body["stream_options"] = {"include_usage": True}
    return orjson.dumps(body)


@dataclass
class Reply:
    status: int
    seconds: float
    ttfb: float | None
    events: int
    restored: int


class Connection:
    """One keep-alive HTTP/1.1 connection on raw asyncio streams (reopened when closed)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None

    async def post(self, body: bytes, headers: bytes) -> Reply:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        reader, writer = self.reader, self.writer
        assert reader is not None
        start = time.perf_counter()
        writer.write(headers + b"content-length: %d\r\n\r\n" % len(body) + body)
        head = (await reader.readuntil(b"\r\n\r\n")).lower()
        status = int(head[9:12])
        restored = 0
        at = head.find(b"thinkwire-restored:")
        if at >= 0:
            restored = int(head[at + 19 :].split(b"\r\n", 1)[0])
        ttfb: float | None = None
        events = 0
        if b"transfer-encoding: chunked" in head:
            while True:
                size = int((await reader.readline()).split(b";", 1)[0], 16)
                if size == 0:
                    await reader.readline()
                    break
                data = await reader.readexactly(size + 2)
                count = data.count(b"data:")
                if count and ttfb is None:
                    ttfb = time.perf_counter() - start
                events += count
        else:
            at = head.find(b"content-length:")
            length = int(head[at + 15 :].split(b"\r\n", 1)[0]) if at >= 0 else 0
            data = await reader.readexactly(length)
            if status == 200 and b'"content"' not in data:
                status = 599
        if b"connection: close" in head:
            await self.close()
        return Reply(status, time.perf_counter() - start, ttfb, events, restored)


@dataclass
class Run:
    server: str
    stream: bool
    concurrency: int
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    rps: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    ttfb_p50_ms: float | None = None
    ttfb_p99_ms: float | None = None
    events: int = 0
    restored: int = 0
    cpu_ms_per_request: float | None = None
    cpu_ms_per_event: float | None = None
    added_p50_ms: float | None = None
    added_p99_ms: float | None = None
    error_sample: str = ""


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def seed(port: int) -> None:
    """The conversation's first step on ``port`` (``FIRST``), whose answer the state records."""
    headers = (
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1:%d\r\ncontent-type: application/json\r\n"
        % (port)
    )
    connection = Connection(port)
    try:
        await asyncio.wait_for(connection.post(request_body(False, FIRST), headers + AUTH), REQUEST_TIMEOUT)
    finally:
        await connection.close()


async def load(
    port: int, stream: bool, concurrency: int, count: int, seconds: float, run: Run, warmup: int
) -> None:
    """``count`` requests (at most ``seconds``) from ``concurrency`` clients, after ``warmup``."""
    body = request_body(stream)
    headers = (
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1:%d\r\ncontent-type: application/json\r\n"
        % (port)
    )
    headers += AUTH
    connections = [Connection(port) for _ in range(concurrency)]
    latencies: list[float] = []
    ttfbs: list[float] = []

    async def client(connection: Connection, budget: list[int], deadline: float, record: bool) -> None:
        while budget[0] > 0 and time.perf_counter() < deadline:
            budget[0] -= 1
            try:
                reply = await asyncio.wait_for(connection.post(body, headers), REQUEST_TIMEOUT)
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
                await connection.close()
                if record:
                    run.errors += 1
                    run.error_sample = run.error_sample or f"{type(exc).__name__}: {exc}"
                continue
            if not record:
                continue
            if reply.status != 200 or (stream and reply.events < 2):
                run.errors += 1
                run.error_sample = run.error_sample or f"HTTP {reply.status}, {reply.events} events"
                continue
            run.requests += 1
            run.events += reply.events
            run.restored += reply.restored
            latencies.append(reply.seconds)
            if reply.ttfb is not None:
                ttfbs.append(reply.ttfb)

    try:
        warm = [warmup]
        end = time.perf_counter() + max(2.0, seconds)
        await asyncio.gather(*(client(c, warm, end, False) for c in connections))
        budget = [count]
        start = time.perf_counter()
        await asyncio.gather(*(client(c, budget, start + seconds, True) for c in connections))
        run.seconds = time.perf_counter() - start
    finally:
        await asyncio.gather(*(c.close() for c in connections))
    run.rps = run.requests / run.seconds if run.seconds else 0.0
    run.p50_ms = percentile(latencies, 0.5) * 1000
    run.p99_ms = percentile(latencies, 0.99) * 1000
    if ttfbs:
        run.ttfb_p50_ms = percentile(ttfbs, 0.5) * 1000
        run.ttfb_p99_ms = percentile(ttfbs, 0.99) * 1000


# --- the servers --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of ``pid`` and its descendants, from ``/proc``."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        parents[int(entry)] = int(fields[1])
        times[int(entry)] = (int(fields[11]) + int(fields[12])) / tick
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        total += times.get(current, 0.0)
        todo.extend(child for child, parent in parents.items() if parent == current)
    return total


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes] | None
    log: Path | None = None
    version: str = ""

    def cpu(self) -> float | None:
        return cpu_seconds(self.process.pid) if self.process is not None else None

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


def pinned(command: list[str], cores: str | None) -> list[str]:
    taskset = shutil.which("taskset")
    return [taskset, "-c", cores, *command] if cores and taskset else command


def start(name: str, command: list[str], cores: str | None, work: Path, env: dict[str, str]) -> Server:
    port = int(command[-1])  # every command ends with its port
    log = work / f"{name.split()[0].lower()}-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            pinned(command, cores), stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **env}
        )
    return Server(name, port, process, log)


async def wait_ready(server: Server, timeout: float) -> None:
    """Until a whole and a streamed request both succeed (or raise after ``timeout``)."""
    deadline = time.monotonic() + timeout
    headers = b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
    headers += AUTH
    last = "no answer"
    while time.monotonic() < deadline:
        if server.process is not None and server.process.poll() is not None:
            break
        connection = Connection(server.port)
        try:
            whole = await asyncio.wait_for(connection.post(request_body(False), headers), 10)
            streamed = await asyncio.wait_for(connection.post(request_body(True), headers), 10)
            if whole.status == 200 and streamed.status == 200 and streamed.events >= 2:
                return
            last = f"HTTP {whole.status}/{streamed.status}"
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
            last = f"{type(exc).__name__}: {exc}"
        finally:
            await connection.close()
        await asyncio.sleep(0.2)
    tail = server.log.read_text(errors="replace")[-2000:] if server.log else ""
    raise RuntimeError(f"{server.name} did not become ready ({last}); its log ends:\n{tail}")


def find_litellm(explicit: str | None) -> str | None:
    candidates = [explicit] if explicit else [shutil.which("litellm"), "/tmp/litellm-venv/bin/litellm"]
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


def litellm_version(executable: str) -> str:
    python = Path(executable).parent / "python"
    try:
        out = subprocess.run(
            [str(python), "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "?"
    return out.stdout.strip()


# --- the run ------------------------------------------------------------------------------------


@dataclass
class Plan:
    count: dict[int, int]
    seconds: float
    warmup: int


@dataclass
class Results:
    runs: list[Run] = field(default_factory=list)
    servers: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


async def measure(servers: Sequence[Server], plan: Plan, results: Results) -> None:
    for stream in (False, True):
        for concurrency in CONCURRENCY:
            direct: Run | None = None
            for server in servers:
                run = Run(server.name, stream, concurrency)
                before = server.cpu()
                await load(
                    server.port,
                    stream,
                    concurrency,
                    plan.count[concurrency],
                    plan.seconds,
                    run,
                    min(plan.warmup, plan.count[concurrency]),
                )
                after = server.cpu()
                if before is not None and after is not None and run.requests:
                    cpu = after - before
                    run.cpu_ms_per_request = cpu * 1000 / run.requests
                    if stream:
                        run.cpu_ms_per_event = cpu * 1000 / (run.requests * EVENTS_PER_STREAM)
                if direct is None:
                    direct = run
                else:
                    run.added_p50_ms = run.p50_ms - direct.p50_ms
                    run.added_p99_ms = run.p99_ms - direct.p99_ms
                results.runs.append(run)
                print(line(run), flush=True)


HEADER: Final = (
    f"{'server':22} {'mode':6} {'conc':>4} {'req':>6} {'err':>4} {'req/s':>8} {'p50 ms':>8} "
    f"{'p99 ms':>8} {'+p50 ms':>8} {'+p99 ms':>8} {'ttfb50':>7} {'ttfb99':>7} {'cpu ms/req':>10} "
    f"{'cpu us/ev':>9}"
)


def _num(value: float | None, width: int, digits: int = 2) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:{width}.{digits}f}"


def line(run: Run) -> str:
    event = run.cpu_ms_per_event * 1000 if run.cpu_ms_per_event is not None else None
    text = (
        f"{run.server:22} {'stream' if run.stream else 'whole':6} {run.concurrency:4d} {run.requests:6d} "
        f"{run.errors:4d} {run.rps:8.1f} {run.p50_ms:8.2f} {run.p99_ms:8.2f} {_num(run.added_p50_ms, 8)} "
        f"{_num(run.added_p99_ms, 8)} {_num(run.ttfb_p50_ms, 7)} {_num(run.ttfb_p99_ms, 7)} "
        f"{_num(run.cpu_ms_per_request, 10, 3)} {_num(event, 9, 1)}"
    )
    return text + (f"  [{run.error_sample}]" if run.error_sample else "")


def aggregate_cpu_per_event(runs: Sequence[Run]) -> float | None:
    """CPU ms per event over all of a server's streamed runs (total CPU / total events)."""
    cpu = sum((r.cpu_ms_per_event or 0.0) * r.requests * EVENTS_PER_STREAM for r in runs)
    events = sum(r.requests * EVENTS_PER_STREAM for r in runs if r.cpu_ms_per_event is not None)
    return cpu / events if events else None


def targets(results: Results, litellm: str | None) -> list[dict[str, Any]]:
    verdicts: list[dict[str, Any]] = []

    def add(name: str, value: str, ok: bool | None) -> None:
        verdict = "not measured" if ok is None else "met" if ok else "not met"
        verdicts.append({"target": name, "value": value, "verdict": verdict})

    thinkwires = sorted({r.server for r in results.runs if r.server.startswith("thinkwire")})
    lite = [r for r in results.runs if litellm is not None and r.server == litellm]
    for server in thinkwires:
        mine = [r for r in results.runs if r.server == server]
        for stream in (False, True):
            mode = "stream" if stream else "whole"
            first = next((r for r in mine if r.stream == stream and r.concurrency == 1), None)
            added = first.added_p50_ms if first is not None else None
            add(
                f"{server} {mode}: added p50 at c=1 <= {ADDED_P50_TARGET_MS:g} ms",
                _num(added, 0) + " ms" if added is not None else "-",
                None if added is None else added <= ADDED_P50_TARGET_MS,
            )
            best = max((r.rps for r in mine if r.stream == stream), default=0.0)
            theirs = max((r.rps for r in lite if r.stream == stream), default=0.0)
            add(
                f"{server} {mode}: throughput >= {THROUGHPUT_TARGET:g}x LiteLLM's",
                f"{best:.0f} vs {theirs:.0f} req/s = {best / theirs:.1f}x"
                if theirs
                else f"{best:.0f} req/s, LiteLLM not measured",
                best >= THROUGHPUT_TARGET * theirs if theirs else None,
            )
        if server == DURABLE:
            for stream in (False, True):
                mode = "stream" if stream else "whole"
                durable = _run(results, DURABLE, stream, 1)
                fast = _run(results, FAST, stream, 1)
                cost = durable.p50_ms - fast.p50_ms if durable is not None and fast is not None else None
                add(
                    f"{DURABLE} {mode}: p50 over --durability async at c=1 <= {DURABLE_COST_MS:g} ms",
                    f"{cost:+.2f} ms" if cost is not None else "-",
                    None if cost is None else cost <= DURABLE_COST_MS,
                )
        ours = aggregate_cpu_per_event([r for r in mine if r.stream])
        theirs_cpu = aggregate_cpu_per_event([r for r in lite if r.stream])
        value = f"{ours * 1000:.1f} us" if ours is not None else "-"
        if ours is not None and theirs_cpu:
            value += f" vs {theirs_cpu * 1000:.1f} us = 1/{theirs_cpu / ours:.1f}" if ours else ""
        add(
            f"{server} stream: CPU per event <= 1/{1 / CPU_TARGET:g} of LiteLLM's",
            value,
            None if ours is None or not theirs_cpu else ours <= CPU_TARGET * theirs_cpu,
        )
    return verdicts


def _run(results: Results, server: str, stream: bool, concurrency: int) -> Run | None:
    return next(
        (
            r
            for r in results.runs
            if r.server == server and r.stream == stream and r.concurrency == concurrency
        ),
        None,
    )


@contextlib.contextmanager
def running(servers: list[Server]) -> Iterator[list[Server]]:
    try:
        yield servers
    finally:
        for server in servers:
            server.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="CI smoke: direct vs thinkwire, short runs")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--check", action="store_true", help="exit 1 when a measured target is missed")
    parser.add_argument("--litellm", help="the litellm executable (default: PATH, /tmp/litellm-venv)")
    parser.add_argument("--no-litellm", action="store_true", help="leave LiteLLM out")
    parser.add_argument("--seconds", type=float, help="time bound of each measured run")
    parser.add_argument(
        "--thinkwire-python",
        default=sys.executable,
        help="the interpreter that runs thinkwire serve (default: this one), e.g. a venv with "
        "uvicorn[standard] to compare uvloop + httptools",
    )
    parser.add_argument("--mock-upstream", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.mock_upstream is not None:
        run_mock(args.mock_upstream)
        return 0

    if args.quick:
        plan = Plan({1: 300, 16: 1500, 64: 2000}, args.seconds or 1.5, 40)
    else:
        plan = Plan({1: 2000, 16: 8000, 64: 8000}, args.seconds or 8.0, 200)
    cores = os.sched_getaffinity(0)
    gateway_cores = client_cores = None
    if len(cores) >= 2 and shutil.which("taskset"):
        last = max(cores)
        gateway_cores = str(last)
        client_cores = ",".join(str(c) for c in sorted(cores - {last}))
        os.sched_setaffinity(0, cores - {last})
    results = Results()
    pinning = (
        f"gateways on core {gateway_cores}, mock upstream and load generator on {client_cores}"
        if gateway_cores
        else "not pinned (one core or no taskset)"
    )
    results.notes.append(f"pinning: {pinning}")
    results.notes.append("load generator: raw asyncio sockets, keep-alive HTTP/1.1 (not httpx)")
    litellm = None if args.quick or args.no_litellm else find_litellm(args.litellm)
    print(f"thinkwire gateway benchmark: {pinning}; load generator on raw asyncio sockets")
    print(
        f"runs: at most {plan.count} requests or {plan.seconds:g} s each after a warm-up; "
        f"{EVENTS_PER_STREAM} upstream events per stream"
    )

    with tempfile.TemporaryDirectory(prefix="thinkwire-gwbench-") as tmp:
        work = Path(tmp)
        mock_port = free_port()
        config = work / "thinkwire.toml"
        config.write_text(
            f'[[upstreams]]\nname = "mock"\nkind = "openai-chat"\nbase_url = "http://127.0.0.1:{mock_port}"\n'
            f'api_key_env = "BENCH_UPSTREAM_KEY"\nprofile = "deepseek"\nmodels = ["{MODEL}"]\n'
        )
        env = {"BENCH_UPSTREAM_KEY": "sk-mock", "PYTHONUNBUFFERED": "1"}
        tw = [
            args.thinkwire_python,
            "-m",
            "thinkwire",
            "serve",
            "--config",
            str(config),
            "--log-level",
            "warning",
        ]
        servers = [
            start(
                "direct (mock)",
                [sys.executable, __file__, "--mock-upstream", str(mock_port)],
                client_cores,
                work,
                env,
            ),
            start(
                "thinkwire --no-state",
                [*tw, "--no-state", "--home", str(work / "home-a"), "--port", str(free_port())],
                gateway_cores,
                work,
                env,
            ),
            start(
                DURABLE,
                [*tw, "--home", str(work / "home-b"), "--port", str(free_port())],
                gateway_cores,
                work,
                env,
            ),
            start(
                FAST,
                [*tw, "--durability", "async", "--home", str(work / "home-c"), "--port", str(free_port())],
                gateway_cores,
                work,
                env,
            ),
        ]
        if litellm is not None:
            version = litellm_version(litellm)
            lite_config = work / "litellm.yaml"
            lite_config.write_text(
                f"model_list:\n  - model_name: {MODEL}\n    litellm_params:\n      model: openai/{MODEL}\n"
                f"      api_base: http://127.0.0.1:{mock_port}/v1\n      api_key: sk-mock\n"
                "litellm_settings:\n  drop_params: true\n  set_verbose: false\n"
            )
            lite_env = {
                **env,
                "LITELLM_LOCAL_MODEL_COST_MAP": "True",
                "LITELLM_LOG": "ERROR",
                "LITELLM_TELEMETRY": "False",
                "DISABLE_SCHEMA_UPDATE": "True",
                "LITELLM_MASTER_KEY": KEY,
            }
            command = [litellm, "--config", str(lite_config), "--host", "127.0.0.1"]
            command += ["--num_workers", "1", "--port", str(free_port())]
            servers.append(start(f"LiteLLM {version}", command, gateway_cores, work, lite_env))
        else:
            reason = (
                "left out (--quick)" if args.quick else "left out" if args.no_litellm else "not installed"
            )
            hint = f" ({LITELLM_HINT})" if not args.quick and not args.no_litellm else ""
            print(f"LiteLLM: {reason}{hint}")
            results.notes.append(f"LiteLLM: {reason}")
        with running(servers):
            for server in servers:
                timeout = 120.0 if server.name.startswith("LiteLLM") else 30.0
                asyncio.run(wait_ready(server, timeout))
                asyncio.run(seed(server.port))
                results.servers[server.name] = (
                    f"port {server.port}, pid {server.process.pid if server.process else '-'}"
                )
            print()
            print(HEADER)
            asyncio.run(measure(servers, plan, results))

    lite_name = next((s.name for s in servers if s.name.startswith("LiteLLM")), None)
    verdicts = targets(results, lite_name)
    print()
    print(f"targets (the issue's anchor: {ANCHOR}):")
    for verdict in verdicts:
        print(f"  {verdict['target']:64} {verdict['value']:34} {verdict['verdict']}")
    for run in results.runs:
        if run.server in (DURABLE, FAST) and run.restored != run.requests:
            print(f"  note: {run.server} restored {run.restored} of {run.requests} turns in one run")
    if args.json is not None:
        payload = {
            "plan": {**asdict(plan), "count": {str(c): n for c, n in plan.count.items()}},
            "events_per_stream": EVENTS_PER_STREAM,
            "notes": results.notes,
            "servers": results.servers,
            "runs": [asdict(r) for r in results.runs],
            "targets": verdicts,
        }
        args.json.write_bytes(orjson.dumps(payload, option=orjson.OPT_INDENT_2))
    errors = sum(r.errors for r in results.runs)
    if errors:
        print(f"{errors} requests failed", file=sys.stderr)
        return 1
    return 1 if args.check and any(v["verdict"] == "not met" for v in verdicts) else 0


if __name__ == "__main__":
    sys.exit(main())
