"""The Vercel AI SDK's OpenAI Responses provider against ``thinkwire serve``, judged from the bytes.

``tests/js`` is a small npm project pinning ``ai`` and ``@ai-sdk/openai``; its script
``responses_loop.mjs`` runs the ``get_weather`` tool loop of the ``scripted`` model
(``thinkwire serve --model scripted``, a child process on a loopback port) with ``generateText``
or ``streamText`` and ``stopWhen: stepCountIs(4)``, through a ``fetch`` that writes every
request body, response status, headers and body (for a stream, the raw SSE text) to a JSON-lines
log. The tests read that log.

With ``store`` left at its default (``true``), the provider sends each earlier reasoning item
back as ``{"type": "item_reference", "id": "rs_..."}`` (the tool call itself goes back in full,
without its item id): the server has to resolve the reference to the stored item. The scripted
model takes the city from the last user turn that is not a tool result; an unresolved reference
that becomes an empty user turn makes it answer for its default city instead, and the thinking
before the call is then missing from the second prompt (the cached prefix stops short).

With ``providerOptions: {openai: {store: false}}`` the provider sends no references: the
reasoning item comes back whole, with ``encrypted_content`` (the engine's signature) and
``summary: []``: the provider reads reasoning text only from ``summary``, and thinkwire sends
its thinking in ``content`` (``reasoning_text``), so the text does not come back.

``npm ci`` runs once per session; the tests skip when node or npm is missing or the install
cannot reach the registry.
"""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pytest
from tests.support.processes import serve_process, stop

from thinkwire.scripted import CODE_WORD

SCRIPT: Final = "responses_loop.mjs"
QUESTION: Final = "What is the weather in Oslo?"
CALL_THINKING: Final = "Step 1: I will call get_weather. I note the code word "
"""How the scripted model's thinking before its call starts (then the code word)."""
RUN_TIMEOUT: Final = 120.0
"""Seconds one run of the script may take (its own abort signal fires at half of it)."""
MODES: Final = ("generate", "stream")


@dataclass
class Exchange:
    """One request of the loop and its response, from the script's log."""

    body: dict[str, Any]
    status: int
    headers: dict[str, str]
    text: str
    """The response body as received; for a stream, the raw SSE text."""

    @property
    def streamed(self) -> bool:
        return "text/event-stream" in self.headers.get("content-type", "")

    def events(self) -> list[dict[str, Any]]:
        """The ``data:`` payloads of a streamed body, in order."""
        lines = self.text.splitlines()
        return [json.loads(line[5:]) for line in lines if line.startswith("data:") and line[5:].strip()]

    def response(self) -> dict[str, Any]:
        """The response object: the body, or a stream's ``response.completed`` one."""
        if not self.streamed:
            body: dict[str, Any] = json.loads(self.text)
            return body
        ends = [e for e in self.events() if e.get("type") in {"response.completed", "response.failed"}]
        assert ends, f"the stream has no response.completed event:\n{self.text[-3000:]}"
        final: dict[str, Any] = ends[-1]["response"]
        return final


@dataclass
class Loop:
    """One run of the script: its summary, exit code, stderr and the exchanges it logged."""

    url: str
    summary: dict[str, Any]
    returncode: int
    stderr: str
    exchanges: list[Exchange]
    stored: dict[str, int]
    """The status of ``GET /v1/responses/{id}`` for each response id, while the server ran."""

    def describe(self) -> str:
        """Everything a failure message needs: the summary, then each exchange's bytes."""
        parts = [f"{self.url}: exit {self.returncode}; summary: {json.dumps(self.summary)}"]
        for n, x in enumerate(self.exchanges, 1):
            parts.append(f"request {n}: {json.dumps(x.body)}")
            parts.append(f"response {n}: {x.status} {x.text[-3000:]}")
        if self.stderr.strip():
            parts.append(f"stderr: {self.stderr[-2000:]}")
        return "\n".join(parts)


def read_log(path: Path) -> list[Exchange]:
    entries = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    requests = {e["seq"]: e for e in entries if e["event"] == "request"}
    heads = {e["seq"]: e for e in entries if e["event"] == "response"}
    bodies = {e["seq"]: e["text"] for e in entries if e["event"] in {"response_body", "sse"}}
    return [
        Exchange(
            body=requests[seq]["body"],
            status=heads[seq]["status"] if seq in heads else 0,
            headers=heads[seq]["headers"] if seq in heads else {},
            text=bodies.get(seq, ""),
        )
        for seq in sorted(requests)
    ]


def response_id(exchange: Exchange) -> str | None:
    """The id of the response to ``exchange``, if it got one."""
    if exchange.status != 200:
        return None
    try:
        found = exchange.response().get("id")
    except (AssertionError, ValueError):
        return None
    return found if isinstance(found, str) else None


def fetch_status(url: str, key: str = "unused") -> int:
    """The status of ``GET url`` with the key the SDK presented (stored responses are per key)."""
    request = urllib.request.Request(url, headers={"authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as exc:
        return exc.code


def run_loop(project: Path, home: Path, mode: str, *, store: bool | None) -> Loop:
    """The script's loop in ``mode`` against a fresh ``thinkwire serve --model scripted``; before
    the server stops, ``GET /v1/responses/{id}`` of every response the loop got."""
    process, url = serve_process(["--model", "scripted"], home=home)
    log = home / f"{mode}.jsonl"
    command = ["node", SCRIPT, "--base-url", url, "--log", str(log), "--prompt", QUESTION]
    command += ["--timeout-ms", str(int(RUN_TIMEOUT * 500))]
    if mode == "stream":
        command.append("--stream")
    if store is not None:
        command += ["--store", "true" if store else "false"]
    try:
        try:
            done = subprocess.run(
                command, cwd=project, capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False
            )
        except subprocess.TimeoutExpired:
            logged = log.read_text() if log.exists() else ""
            pytest.fail(f"{SCRIPT} ({mode}, store={store}) ran over {RUN_TIMEOUT:.0f} s; its log:\n{logged}")
        exchanges = read_log(log) if log.exists() else []
        ids = [response_id(x) for x in exchanges]
        stored = {i: fetch_status(f"{url}/v1/responses/{i}") for i in ids if i is not None}
    finally:
        err = stop(process)
    assert "Traceback" not in err, err
    lines = done.stdout.strip().splitlines()
    summary = json.loads(lines[-1]) if lines else {}
    return Loop(url, summary, done.returncode, done.stderr, exchanges, stored)


@pytest.fixture(scope="module")
def loops(js_project: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, bool | None], Loop]:
    """Runs of the loop by ``(mode, store)``, each on its own server, made on first use."""

    class Runs(dict[tuple[str, bool | None], Loop]):
        def __missing__(self, key: tuple[str, bool | None]) -> Loop:
            mode, store = key
            home = tmp_path_factory.mktemp(f"vercel-{mode}-{store}")
            loop = self[key] = run_loop(js_project, home, mode, store=store)
            return loop

    return Runs()


# judging the bytes


def items_of(response: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [item for item in response.get("output", []) if item.get("type") == kind]


def output_text(response: dict[str, Any]) -> str:
    return "".join(
        part.get("text", "")
        for item in items_of(response, "message")
        for part in item.get("content", [])
        if part.get("type") == "output_text"
    )


def reasoning_text(item: dict[str, Any]) -> str:
    return "".join(part.get("text", "") for part in item.get("content") or [])


def first_step(loop: Loop) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The first response's reasoning item and function call, and the first response, after
    checking the first request asked the question and got the tool call."""
    assert len(loop.exchanges) >= 1, loop.describe()
    first = loop.exchanges[0]
    assert first.status == 200, loop.describe()
    assert first.body["input"] == [{"role": "user", "content": [{"type": "input_text", "text": QUESTION}]}]
    assert [t["name"] for t in first.body["tools"]] == ["get_weather"]
    response = first.response()
    assert [item["type"] for item in response["output"]] == ["reasoning", "function_call"], loop.describe()
    reasoning, call = response["output"]
    assert reasoning_text(reasoning).startswith(CALL_THINKING)
    assert reasoning["encrypted_content"].startswith("tw1.")
    assert call["name"] == "get_weather"
    assert json.loads(call["arguments"]) == {"city": "Oslo"}
    return reasoning, call, response


def assert_answered(loop: Loop) -> None:
    """Two requests, both 200; the second response answers the tool result with the Oslo answer
    (a message, no new tool call); the SDK's loop ends there with that text."""
    statuses = [x.status for x in loop.exchanges]
    assert statuses == [200, 200], loop.describe()
    second = loop.exchanges[1].response()
    assert second["status"] == "completed", loop.describe()
    assert items_of(second, "function_call") == [], (
        f"the second response called the tool again\n{loop.describe()}"
    )
    noted = CODE_WORD.search(reasoning_text(loop.exchanges[0].response()["output"][0]))
    assert noted is not None, loop.describe()
    answer = f"The code word I noted was {noted.group(1)}."
    assert output_text(second).endswith(answer), (
        f"the second response answered {output_text(second)!r}, not ...{answer!r}\n{loop.describe()}"
    )
    summary = loop.summary
    assert summary.get("ok") is True, loop.describe()
    assert loop.returncode == 0, loop.describe()
    assert summary["text"] == output_text(second)
    assert summary["finishReason"] == "stop"
    assert [s["finishReason"] for s in summary["steps"]] == ["tool-calls", "stop"]
    assert summary["toolCalls"] == [{"toolName": "get_weather", "input": {"city": "Oslo"}}]
    assert summary["requests"] == 2


def assert_thinking_in_place(loop: Loop) -> None:
    """The thinking before the call reached the second prompt where the model wrote it: the
    scripted runtime's cached prefix covers the whole first prompt and completion."""
    assert len(loop.exchanges) == 2, loop.describe()
    first, second = (x.response().get("usage") for x in loop.exchanges)
    assert first is not None, f"the first response has no usage\n{loop.describe()}"
    assert second is not None, f"the second response has no usage\n{loop.describe()}"
    cached = second["input_tokens_details"]["cached_tokens"]
    expected = first["input_tokens"] + first["output_tokens"]
    assert cached >= expected, (
        f"the second prompt shares only {cached} tokens with the first prompt and completion "
        f"({expected}): the thinking did not come back in place\nusage: {first} then {second}"
    )


# store: true (the SDK's default): earlier reasoning as item references


@pytest.mark.parametrize("mode", MODES)
def test_default_store_sends_item_references_and_the_answer_follows_the_tool_result(
    loops: dict[tuple[str, bool | None], Loop], mode: str
) -> None:
    loop = loops[mode, None]
    reasoning, call, response = first_step(loop)
    assert response["store"] is True
    assert len(loop.exchanges) >= 2, loop.describe()
    request = loop.exchanges[1].body
    assert request.get("store") is None  # the default: true
    assert request["input"] == [
        {"role": "user", "content": [{"type": "input_text", "text": QUESTION}]},
        {"type": "item_reference", "id": reasoning["id"]},
        {
            "type": "function_call",
            "call_id": call["call_id"],
            "name": "get_weather",
            "arguments": '{"city":"Oslo"}',
        },
        {
            "type": "function_call_output",
            "call_id": call["call_id"],
            "output": '{"city":"Oslo","weather":"sunny","temperature_c":21}',
        },
    ], loop.describe()
    assert loop.stored[response["id"]] == 200  # stored: the reference has something to resolve to
    assert_answered(loop)


@pytest.mark.parametrize("mode", MODES)
def test_default_store_the_referenced_thinking_comes_back_in_place(
    loops: dict[tuple[str, bool | None], Loop], mode: str
) -> None:
    loop = loops[mode, None]
    first_step(loop)
    assert any(i.get("type") == "item_reference" for i in loop.exchanges[1].body["input"])
    assert_thinking_in_place(loop)


# store: false: reasoning items back whole, with encrypted_content


@pytest.mark.parametrize("mode", MODES)
def test_store_false_sends_reasoning_with_encrypted_content_and_no_references(
    loops: dict[tuple[str, bool | None], Loop], mode: str
) -> None:
    loop = loops[mode, False]
    reasoning, call, response = first_step(loop)
    assert response["store"] is False
    assert loop.stored[response["id"]] == 404  # nothing stored
    assert len(loop.exchanges) >= 2, loop.describe()
    request = loop.exchanges[1].body
    assert request["store"] is False
    assert not [i for i in request["input"] if i.get("type") == "item_reference"], loop.describe()
    assert request["input"] == [
        {"role": "user", "content": [{"type": "input_text", "text": QUESTION}]},
        {
            "type": "reasoning",
            "id": reasoning["id"],
            "encrypted_content": reasoning["encrypted_content"],
            "summary": [],
        },
        {
            "type": "function_call",
            "call_id": call["call_id"],
            "name": "get_weather",
            "arguments": '{"city":"Oslo"}',
        },
        {
            "type": "function_call_output",
            "call_id": call["call_id"],
            "output": '{"city":"Oslo","weather":"sunny","temperature_c":21}',
        },
    ], loop.describe()
    assert_answered(loop)


@pytest.mark.parametrize("mode", MODES)
def test_store_false_the_thinking_comes_back_in_place(
    loops: dict[tuple[str, bool | None], Loop], mode: str
) -> None:
    """@ai-sdk/openai reads reasoning only from ``summary`` (thinkwire writes it in
    ``content``), so it sends the item back as ``summary: []`` + ``encrypted_content``: the
    signature alone. The server's state holds the turn with its text under that signature and
    puts the thinking back in place."""
    loop = loops[mode, False]
    first_step(loop)
    assert_thinking_in_place(loop)
    assert loop.exchanges[1].headers.get("thinkwire-restored") == "1"
