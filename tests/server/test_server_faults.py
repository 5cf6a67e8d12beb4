"""The fault matrix: every upstream fault x upstream kind x client dialect x streamed/whole.

One gateway (behind the conversation state, as ``thinkwire serve`` runs it) sits in front of
``tests.support.faulty_upstream`` with one upstream per (kind, fault), an idle ``timeout`` of
1 s and a ``deadline`` of 2 s. Per fault and upstream kind the six client cases (Chat, Messages,
Responses; streamed and whole) run at once, and each must:

- end within the deadline (plus slack), never hang;
- get the fault's status in its dialect's error envelope (429 and overloaded with a sane
  ``retry-after``), or, streamed after the upstream said 200, its dialect's error event as the
  stream's last event with no end marker anywhere (no ``[DONE]``, ``message_stop`` or
  ``response.completed``: a turn is never reported complete);
- see no exception names and no key material (nor may the logs, or hold a traceback);
- be counted once in ``thinkwire_gateway_upstream_errors_total``;
- and leave the gateway serving normal requests right after (recovery).

An upstream that already said 200 is never asked again (that would pay for the generation
twice). About 25 s for the 81 tests: ``.venv/bin/pytest tests/server/test_server_faults.py``.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import httpx
import orjson
import pytest
from tests.support.apps import sqlite_state, stateful_app
from tests.support.faulty_upstream import FAULTS, Fault, FaultyUpstream, faulty_upstream

from thinkwire.asgi.serving import serving
from thinkwire.server.gateway import GatewayService
from thinkwire.upstreams.client import UpstreamClient
from thinkwire.upstreams.config import parse_config

KINDS: Final = {"openai-chat": "deepseek", "anthropic": "anthropic", "openai-responses": "openai-responses"}
"""Upstream kind -> the vendor profile it is configured with."""
DIALECTS: Final = ("openai-chat", "anthropic", "openai-responses")
TIMEOUT: Final = 1.0
DEADLINE: Final = 2.0
SLACK: Final = 3.0
KEY: Final = "sk-fault-" + secrets.token_hex(16)
EXCEPTION_NAME: Final = re.compile(r"Traceback|\b(?:[A-Z][a-z0-9]+)+(?:Error|Exception|Group|Timeout)\b")
END_MARKERS: Final = {
    "openai-chat": "[DONE]",
    "anthropic": "message_stop",
    "openai-responses": "response.completed",
}
"""The event that says a stream is complete: Chat's data, the others' event names."""
PATHS: Final = {
    "openai-chat": "/v1/chat/completions",
    "anthropic": "/v1/messages",
    "openai-responses": "/v1/responses",
}


def model(kind: str, fault: str) -> str:
    return f"{kind}/{fault}"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, FaultyUpstream]]:
    with faulty_upstream() as upstream:
        tables = [
            {
                "name": f"{kind}-{fault}",
                "kind": kind,
                "profile": profile,
                "base_url": upstream.url(fault),
                "api_key_env": "FAULT_KEY",
                "models": [model(kind, fault)],
                "timeout": TIMEOUT,
                "deadline": DEADLINE,
            }
            for kind, profile in KINDS.items()
            for fault in ["ok", *(f.name for f in FAULTS)]
        ]
        client = UpstreamClient(backoff=0.01, environ={"FAULT_KEY": KEY})
        service = GatewayService(parse_config({"upstreams": tables}), client=client)
        state = sqlite_state(Path(tmp_path_factory.mktemp("faults")) / "state.db")
        app, _ = stateful_app(service, state)
        with serving(app) as url:
            yield url, upstream


def body(dialect: str, model: str, streamed: bool) -> dict[str, Any]:
    if dialect == "openai-responses":
        return {"model": model, "input": "hi", "stream": streamed}
    messages = [{"role": "user", "content": "hi"}]
    if dialect == "anthropic":
        return {"model": model, "max_tokens": 64, "messages": messages, "stream": streamed}
    return {"model": model, "messages": messages, "stream": streamed}


def events(text: str) -> list[tuple[str | None, str]]:
    """A stream's SSE events as (event name, data)."""
    out = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        name = next((line[6:].strip() for line in block.split("\n") if line.startswith("event:")), None)
        data = "\n".join(line[5:].strip() for line in block.split("\n") if line.startswith("data:"))
        if name is not None or data:
            out.append((name, data))
    return out


def is_error_event(dialect: str, event: tuple[str | None, str]) -> bool:
    name, data = event
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return False
    if dialect == "openai-chat":
        return isinstance(value, dict) and isinstance(value.get("error"), dict)
    return isinstance(value, dict) and value.get("type") == "error" and (name in (None, "error"))


def is_envelope(dialect: str, value: Any) -> bool:
    error = value.get("error") if isinstance(value, dict) else None
    if not isinstance(error, dict) or not isinstance(error.get("message"), str):
        return False
    if dialect == "anthropic":
        return value.get("type") == "error" and isinstance(error.get("type"), str)
    return isinstance(error.get("type"), str)


def sane_retry_after(value: str | None) -> bool:
    if value is None:
        return False
    if value.isascii() and value.isdigit():
        return 0 < int(value) <= 86_400
    try:
        return email.utils.parsedate_to_datetime(value) is not None
    except (TypeError, ValueError):
        return False


def expected_status(fault: Fault, dialect: str) -> int:
    return 529 if dialect == "anthropic" and fault.status == 503 else fault.status


def problems(fault: Fault, dialect: str, streamed: bool, answer: httpx.Response, took: float) -> list[str]:
    """What is wrong with one client case's answer (empty: nothing)."""
    found = []
    text = answer.text
    seen = text + "\n" + "\n".join(f"{k}: {v}" for k, v in answer.headers.items())
    if took > DEADLINE + SLACK:
        found.append(f"took {took:.1f} s")
    if KEY in seen or KEY[9:] in seen:
        found.append("the upstream key reached the client")
    if match := EXCEPTION_NAME.search(seen):
        found.append(f"an exception name: {match.group(0)!r}")
    if answer.status_code != 200:
        want = expected_status(fault, dialect)
        if answer.status_code != want:
            found.append(f"status {answer.status_code}, expected {want}: {text[:200]}")
        try:
            value = orjson.loads(answer.content)
        except orjson.JSONDecodeError:
            value = None
        if not is_envelope(dialect, value):
            found.append(f"not the {dialect} error envelope: {text[:200]}")
        if answer.status_code in (429, 503, 529):
            retry = answer.headers.get("retry-after")
            if not sane_retry_after(retry) or (fault.retry_after and retry != fault.retry_after):
                found.append(f"retry-after {retry!r}")
        return found
    if not streamed or fault.early:
        found.append(f"200 where {expected_status(fault, dialect)} was due: {text[:200]}")
        return found
    stream = events(text)
    if not stream or not is_error_event(dialect, stream[-1]):
        found.append(f"the stream does not end with an error event: {text[-300:]}")
    if sum(is_error_event(dialect, event) for event in stream) != 1:
        found.append("not exactly one error event")
    if any(END_MARKERS[dialect] in (name, data) for name, data in stream):
        found.append(f"an end marker ({END_MARKERS[dialect]}) in a failed stream")
    return found


async def one(
    client: httpx.AsyncClient, url: str, dialect: str, model: str, streamed: bool
) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    answer = await client.post(url + PATHS[dialect], json=body(dialect, model, streamed))
    return answer, time.monotonic() - started


async def run(url: str, kind: str, fault: Fault) -> tuple[list[str], int, list[int]]:
    """The six client cases at once: (problems, errors counted, statuses of the recovery)."""
    cases = [(dialect, streamed) for dialect in DIALECTS for streamed in (False, True)]
    async with httpx.AsyncClient(timeout=DEADLINE + 2 * SLACK) as client:
        before = await upstream_errors(client, url)
        answers = await asyncio.gather(
            *(one(client, url, dialect, model(kind, fault.name), streamed) for dialect, streamed in cases)
        )
        counted = await upstream_errors(client, url) - before
        stored = await stored_as(client, url, answers[-1][0])  # the last case: Responses, streamed
        recovery = await asyncio.gather(
            *(one(client, url, dialect, model(kind, "ok"), streamed) for dialect, streamed in cases)
        )
    found = [
        f"{dialect} {'streamed' if streamed else 'whole'}: {problem}"
        for (dialect, streamed), (answer, took) in zip(cases, answers, strict=True)
        for problem in problems(fault, dialect, streamed, answer, took)
    ]
    if stored:
        found.append(f"openai-responses streamed: the failed response is stored {stored}")
    healthy = [
        answer.status_code if "Hello from upstream" in answer.text and not failed(answer.text) else 0
        for answer, _ in recovery
    ]
    return found, counted, healthy


async def stored_as(client: httpx.AsyncClient, url: str, answer: httpx.Response) -> str | None:
    """How a failed Responses stream's response is stored, if wrongly: ``None`` when it is not
    (404) or is stored as anything but completed."""
    created = re.search(r'"id":"(resp_[0-9a-f]+)"', answer.text) if answer.status_code == 200 else None
    if created is None:
        return None
    kept = await client.get(f"{url}/v1/responses/{created.group(1)}")
    status = kept.json().get("status") if kept.status_code == 200 else None
    return "as completed" if status == "completed" else None


def failed(text: str) -> bool:
    return '"type":"error"' in text or '{"error":{' in text


async def upstream_errors(client: httpx.AsyncClient, url: str) -> int:
    metrics = (await client.get(url + "/metrics")).text
    match = re.search(r"^thinkwire_gateway_upstream_errors_total (\S+)$", metrics, re.M)
    return int(float(match.group(1))) if match else 0


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_an_upstream_fault_ends_in_the_clients_error_in_time(
    gateway: tuple[str, FaultyUpstream], fault: Fault, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    url, upstream = gateway
    asked = len(upstream.requests)
    with caplog.at_level(logging.INFO):
        found, counted, healthy = asyncio.run(run(url, kind, fault))
    assert found == []
    logged = [(record.getMessage(), record.exc_info) for record in caplog.records]
    assert [message for message, _ in logged if KEY[9:] in message] == []  # no key in the logs
    assert [message for message, exc_info in logged if exc_info] == []  # nor a traceback
    assert counted == 6  # every case counted once as an upstream error
    assert healthy == [200] * 6  # and the gateway answers normally right after
    if not fault.early:  # the upstream said 200: never asked again
        calls = [target for target, _ in upstream.requests[asked:] if target.startswith(f"/{fault.name}/")]
        assert len(calls) == 6
