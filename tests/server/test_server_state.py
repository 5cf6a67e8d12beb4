"""The conversation state on ``thinkwire serve`` without a config (the local engine, here the
scripted model): dropped thinking comes back on every dialect, never from another conversation
or tenant; stored responses are per tenant and survive a restart; a store outage degrades
service without stalling it."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.processes import serve_process, stop
from tests.support.redis import RedisServer
from tests.support.servers import ScriptedServers

HEADER = "thinkwire-restored"


def noting(prompt: str) -> str:
    """Thinks a note naming the user's last words, then answers "Done." whatever they said."""
    asked = prompt.rsplit("<|im_start|>user\n", 1)[-1].split("<|im_end|>", 1)[0].strip()
    return f"Private note about {asked!r}.\n</think>\nDone."


def chat(url: str, messages: list[dict[str, Any]], *, key: str = "key-a") -> httpx.Response:
    body = {"model": "scripted", "messages": messages}
    return httpx.post(f"{url}/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}"})


def test_identical_replies_in_two_conversations_get_their_own_thinking_back(serve: ScriptedServers) -> None:
    url, runtime, _ = serve(noting)
    histories = {}
    for word in ("alpha", "beta"):
        asked = [{"role": "user", "content": f"Remember {word}."}]
        reply = chat(url, asked).json()["choices"][0]["message"]
        assert reply["content"] == "Done."  # the same visible reply in both conversations
        assert word in reply["reasoning_content"]
        # a client that drops thinking sends the turn back as content only
        histories[word] = [
            *asked,
            {"role": "assistant", "content": "Done."},
            {"role": "user", "content": "Go"},
        ]
    for word, other in (("alpha", "beta"), ("beta", "alpha")):
        again = chat(url, histories[word])
        assert again.status_code == 200, again.text
        assert again.headers[HEADER] == "1"
        prompt = runtime.calls[-1]["prompt"]
        assert f"Private note about 'Remember {word}.'" in prompt
        assert f"Remember {other}" not in prompt


def test_another_key_restores_nothing(serve: ScriptedServers) -> None:
    url, runtime, _ = serve(noting)
    asked = [{"role": "user", "content": "Remember gamma."}]
    chat(url, asked, key="key-a")
    history = [*asked, {"role": "assistant", "content": "Done."}, {"role": "user", "content": "Go"}]
    stranger = chat(url, history, key="key-b")
    assert stranger.status_code == 200
    assert HEADER not in stranger.headers
    assert "Private note" not in runtime.calls[-1]["prompt"]
    owner = chat(url, history, key="key-a")
    assert owner.headers[HEADER] == "1"


def test_anthropic_and_responses_clients_that_drop_thinking_get_it_back(serve: ScriptedServers) -> None:
    url, runtime, _ = serve(noting)
    headers = {"x-api-key": "key-a", "anthropic-version": "2023-06-01"}
    asked = {"role": "user", "content": "Remember delta."}
    first = httpx.post(
        f"{url}/v1/messages", json={"model": "m", "max_tokens": 200, "messages": [asked]}, headers=headers
    )
    text = [b for b in first.json()["content"] if b["type"] == "text"]
    again = httpx.post(
        f"{url}/v1/messages",
        json={
            "model": "m",
            "max_tokens": 200,
            "messages": [asked, {"role": "assistant", "content": text}, {"role": "user", "content": "Go"}],
        },
        headers=headers,
    )
    assert again.status_code == 200, again.text
    assert again.headers[HEADER] == "1"
    assert "Private note about 'Remember delta.'" in runtime.calls[-1]["prompt"]
    auth = {"authorization": "Bearer key-a"}
    body: dict[str, Any] = {"model": "m", "input": "Remember epsilon.", "store": False}
    out = httpx.post(f"{url}/v1/responses", json=body, headers=auth).json()["output"]
    message = next(item for item in out if item["type"] == "message")
    body["input"] = [
        {"role": "user", "content": "Remember epsilon."},
        {"type": "message", "role": "assistant", "content": message["content"]},
        {"role": "user", "content": "Go"},
    ]
    again = httpx.post(f"{url}/v1/responses", json=body, headers=auth)
    assert again.status_code == 200, again.text
    assert again.headers[HEADER] == "1"
    assert "Private note about 'Remember epsilon.'" in runtime.calls[-1]["prompt"]


def responses_call(url: str, key: str, **body: Any) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/responses", json={"model": "m", **body}, headers={"authorization": f"Bearer {key}"}
    )


def test_stored_responses_belong_to_the_key_that_made_them(serve: ScriptedServers) -> None:
    url, runtime, _ = serve(noting)
    made = responses_call(url, "key-a", input="Remember zeta.").json()
    id = made["id"]
    b = {"authorization": "Bearer key-b"}
    assert httpx.get(f"{url}/v1/responses/{id}", headers=b).status_code == 404
    assert httpx.delete(f"{url}/v1/responses/{id}", headers=b).status_code == 404
    calls = len(runtime.calls)
    continued = responses_call(url, "key-b", input="Go", previous_response_id=id)
    assert continued.status_code == 404
    assert continued.json()["error"]["code"] == "previous_response_not_found"
    assert len(runtime.calls) == calls  # nothing of A's reached the model
    # the owner still has it, and continues it with its thinking in place
    assert httpx.get(f"{url}/v1/responses/{id}", headers={"authorization": "Bearer key-a"}).status_code == 200
    own = responses_call(url, "key-a", input="Go", previous_response_id=id)
    assert own.status_code == 200
    assert "Private note about 'Remember zeta.'" in runtime.calls[-1]["prompt"]
    gone = httpx.delete(f"{url}/v1/responses/{id}", headers={"authorization": "Bearer key-a"})
    assert gone.json() == {"id": id, "object": "response", "deleted": True}
    assert httpx.get(f"{url}/v1/responses/{id}", headers={"authorization": "Bearer key-a"}).status_code == 404


def test_a_reference_to_an_unknown_item_is_a_404_naming_it(serve: ScriptedServers) -> None:
    url, _, _ = serve(noting)
    made = responses_call(url, "key-a", input="Remember eta.").json()
    reasoning = next(item for item in made["output"] if item["type"] == "reasoning")
    missing = responses_call(
        url,
        "key-b",
        input=[{"role": "user", "content": "x"}, {"type": "item_reference", "id": reasoning["id"]}],
    )
    assert missing.status_code == 404
    assert missing.json()["error"]["param"] == "input[1].id"


def test_state_survives_a_restart(tmp_path: Path) -> None:
    process, url = serve_process(["--model", "scripted"], tmp_path)
    try:
        made = responses_call(url, "key-a", input="What is the weather in Oslo?").json()
        reply = chat(url, [{"role": "user", "content": "Remember theta."}]).json()["choices"][0]["message"]
    finally:
        stop(process)
    process, url = serve_process(["--model", "scripted"], tmp_path)
    try:
        got = httpx.get(f"{url}/v1/responses/{made['id']}", headers={"authorization": "Bearer key-a"})
        history = [
            {"role": "user", "content": "Remember theta."},
            {"role": "assistant", "content": reply["content"]},
            {"role": "user", "content": "Go"},
        ]
        again = chat(url, history)
    finally:
        stop(process)
    assert got.status_code == 200
    assert got.json()["output"] == made["output"]
    assert again.headers[HEADER] == "1"


def timed(fn: Any, *args: Any, **kw: Any) -> tuple[Any, float]:
    started = time.monotonic()
    return fn(*args, **kw), time.monotonic() - started


def test_two_replicas_on_redis_share_stored_responses(redis: RedisServer, tmp_path: Path) -> None:
    """A Responses conversation started on one replica continues on the other, the first
    replica's thinking in the prompt; other keys still get 404 there."""
    env = {"THINKWIRE_SECRET": "e" * 64}
    state = ["--model", "scripted", "--state", redis.url + "/0"]
    replicas = [serve_process(state, tmp_path / f"home{i}", env=env) for i in (1, 2)]
    try:
        (_, one), (_, two) = replicas
        made = responses_call(one, "key-a", input="What is the weather in Oslo?").json()
        other = httpx.get(f"{two}/v1/responses/{made['id']}", headers={"authorization": "Bearer key-b"})
        got = httpx.get(f"{two}/v1/responses/{made['id']}", headers={"authorization": "Bearer key-a"})
        continued = responses_call(two, "key-a", input="And tomorrow?", previous_response_id=made["id"])
    finally:
        for process, _ in replicas:
            stop(process)
    assert other.status_code == 404
    assert got.status_code == 200
    assert got.json()["output"] == made["output"]
    assert continued.status_code == 200, continued.text
    assert continued.json()["previous_response_id"] == made["id"]


@pytest.mark.parametrize("fault", ["paused", "killed"])
def test_a_store_outage_degrades_service_and_never_stalls_it(
    redis: RedisServer, tmp_path: Path, fault: str
) -> None:
    """Redis paused (calls hang) or killed (calls fail): every request still gets its answer in
    bounded time, without restore; /healthz and /metrics answer at once. A turn made during a
    pause is kept queued and written when Redis is back, so it is restorable after."""
    process, url = serve_process(["--model", "scripted", "--state", redis.url + "/0"], tmp_path)
    try:
        asked = [{"role": "user", "content": "Remember iota."}]
        chat(url, asked)
        history = [*asked, {"role": "assistant", "content": "Done."}, {"role": "user", "content": "Go"}]
        if fault == "paused":
            redis.pause()
        else:
            redis.close()
        try:
            answers = [timed(chat, url, history) for _ in range(3)]
            health, health_time = timed(httpx.get, f"{url}/healthz", timeout=5)
            metrics, metrics_time = timed(httpx.get, f"{url}/metrics", timeout=5)
            during = [{"role": "user", "content": "Remember kappa."}]
            fresh, fresh_time = timed(chat, url, during)
        finally:
            if fault == "paused":
                redis.resume()
        if fault == "paused":  # the turn made during the pause reaches Redis once it is back
            deadline = time.monotonic() + 10
            while httpx.get(f"{url}/healthz").json()["state"]["recorded"] < 2 and time.monotonic() < deadline:
                time.sleep(0.1)
            said = fresh.json()["choices"][0]["message"]["content"]
            back = chat(
                url, [*during, {"role": "assistant", "content": said}, {"role": "user", "content": "Go"}]
            )
    finally:
        log = stop(process)
    for response, seconds in answers:
        assert response.status_code == 200, response.text
        assert HEADER not in response.headers  # nothing restored: degraded, not failed
        assert seconds < 3.0
    assert health.status_code == 200
    assert health_time < 1.0
    assert metrics.status_code == 200
    assert metrics_time < 1.0
    assert "thinkwire_state_skipped_lookups_total" in metrics.text
    assert health.json()["state"]["status"] == "degraded"
    assert fresh.status_code == 200  # a new conversation still gets its answer, not held for the store
    assert fresh_time < 3.0
    if fault == "paused":
        assert back.headers.get(HEADER) == "1", (back.text, log)
    assert len(re.findall("state store unavailable", log)) <= 12  # logged once a second at most


def test_the_retired_state_secret_variable_is_refused_with_what_to_do(tmp_path: Path) -> None:
    env = {**os.environ, "THINKWIRE_HOME": str(tmp_path), "THINKWIRE_STATE_SECRET": "s" * 64}
    done = subprocess.run(
        [sys.executable, "-m", "thinkwire", "serve", "--model", "scripted", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "THINKWIRE_STATE_SECRET is no longer read" in done.stderr
    assert "THINKWIRE_SECRET" in done.stderr
    assert "Traceback" not in done.stderr


def test_serve_starts_degraded_when_its_redis_does_not_answer(tmp_path: Path) -> None:
    """A state store that is down at start-up is said once; the server still serves."""
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process, url = serve_process(["--model", "scripted", "--state", f"redis://127.0.0.1:{port}/0"], tmp_path)
    try:
        answer = chat(url, [{"role": "user", "content": "Hello"}])
        health = httpx.get(f"{url}/healthz").json()
    finally:
        log = stop(process)
    assert answer.status_code == 200
    assert health["state"]["status"] == "degraded"
    assert "the state store does not answer" in log


@pytest.mark.parametrize("stream", [False, True])
def test_a_reasoning_summary_asked_for_is_given_and_comes_back(serve: ScriptedServers, stream: bool) -> None:
    """``reasoning: {"summary": "auto"}``: the thinking goes out as ``summary_text`` (where
    clients such as @ai-sdk/openai read reasoning), and sent back so it is the same thinking."""
    url, runtime, _ = serve(noting)
    body: dict[str, Any] = {"model": "m", "input": "Remember lambda.", "store": False, "stream": stream}
    asked = responses_call(url, "key-a", **body, reasoning={"summary": "auto"})
    plain = responses_call(url, "key-a", **body)
    if stream:
        done = [
            json.loads(line[6:])
            for line in asked.text.splitlines()
            if line.startswith("data: {") and '"response.completed"' in line
        ]
        output = done[0]["response"]["output"]
    else:
        output = asked.json()["output"]
    reasoning = next(item for item in output if item["type"] == "reasoning")
    assert reasoning["summary"] == [
        {"type": "summary_text", "text": "Private note about 'Remember lambda.'."}
    ]
    assert not reasoning.get("content")
    if not stream:
        default = next(item for item in plain.json()["output"] if item["type"] == "reasoning")
        assert default["summary"] == []  # unasked: raw reasoning in content, as before
        assert default["content"][0]["type"] == "reasoning_text"
    message = next(item for item in output if item["type"] == "message")
    again = responses_call(
        url,
        "key-a",
        model="m",
        store=False,
        input=[
            {"role": "user", "content": "Remember lambda."},
            reasoning,
            message,
            {"role": "user", "content": "Go"},
        ],
    )
    assert again.status_code == 200, again.text
    assert "Private note about 'Remember lambda.'" in runtime.calls[-1]["prompt"]
