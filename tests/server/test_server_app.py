"""The server around the endpoints: queue, disconnects, error envelopes, health."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route
from tests.support.scripts import weather_agent
from tests.support.servers import ScriptedServers

from thinkwire.server.app import _server_error

LONG = "word " * 400 + "\n</think>\nDone."
CHAT = {"model": "m", "messages": [{"role": "user", "content": "Go on."}]}
MESSAGES = {"model": "m", "max_tokens": 2000, "messages": [{"role": "user", "content": "Go on."}]}


def wait_until(check: Any, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


def health(url: str) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(url + "/healthz").json()
    return body


def test_a_client_that_disconnects_mid_stream_cancels_its_generation(serve: ScriptedServers) -> None:
    url, runtime, _ = serve([LONG], delay=0.01)
    with httpx.stream("POST", url + "/v1/chat/completions", json={**CHAT, "stream": True}) as response:
        assert response.status_code == 200
        lines = response.iter_lines()
        for _ in range(5):
            next(lines)
    wait_until(lambda: runtime.cancelled == 1 and health(url)["running"] == 0)
    assert health(url)["served"] == 0


def test_a_client_that_gives_up_on_a_whole_response_cancels_it(serve: ScriptedServers) -> None:
    url, runtime, _ = serve([LONG], delay=0.01)
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(url + "/v1/messages", json=MESSAGES, timeout=0.5)
    wait_until(lambda: runtime.cancelled == 1 and health(url)["running"] == 0)


def test_a_full_queue_is_refused_at_once_in_each_dialect(serve: ScriptedServers) -> None:
    url, _runtime, _ = serve([LONG], delay=0.01, slots=1, max_queue=0)
    with httpx.stream("POST", url + "/v1/chat/completions", json={**CHAT, "stream": True}) as busy:
        lines = busy.iter_lines()  # kept: a dropped line iterator closes the response
        next(lines)
        openai_style = httpx.post(url + "/v1/chat/completions", json=CHAT)
        anthropic_style = httpx.post(url + "/v1/messages", json=MESSAGES)
    assert openai_style.status_code == 503
    assert openai_style.headers["retry-after"] == "1"
    assert openai_style.json()["error"]["code"] == "overloaded"
    assert anthropic_style.status_code == 529
    assert anthropic_style.json()["error"]["type"] == "overloaded_error"
    wait_until(lambda: health(url)["running"] == 0)
    assert health(url)["refused"] == 2


def test_queued_requests_wait_for_a_slot_and_run_in_turn(serve: ScriptedServers) -> None:
    url, _runtime, _ = serve(
        ["short\n</think>\nA.", "short\n</think>\nB."], delay=0.005, slots=1, max_queue=4
    )
    results: dict[int, int] = {}

    def ask(n: int) -> None:
        results[n] = httpx.post(url + "/v1/chat/completions", json=CHAT, timeout=30).status_code

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results == {0: 200, 1: 200, 2: 200}
    assert health(url)["served"] == 3
    assert health(url)["queued"] == 0


@pytest.mark.parametrize(
    ("method", "path", "status", "envelope"),
    [
        ("GET", "/v1/nothing", 404, "openai"),
        ("GET", "/v1/chat/completions", 405, "openai"),
        ("GET", "/v1/messages", 405, "anthropic"),
    ],
)
def test_unknown_routes_and_methods_answer_in_the_dialects_envelope(
    serve: ScriptedServers, method: str, path: str, status: int, envelope: str
) -> None:
    url, _, _ = serve(weather_agent)
    response = httpx.request(method, url + path)
    assert response.status_code == status
    body = response.json()
    if envelope == "anthropic":
        assert body["type"] == "error"
        assert body["error"]["message"]
    else:
        assert body["error"]["type"] == "invalid_request_error"
        assert path in body["error"]["message"]


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages", "/v1/responses"])
def test_body_errors_are_clear(serve: ScriptedServers, path: str) -> None:
    url, _, _ = serve(weather_agent, state={"body_limit": 1000})
    not_json = httpx.post(url + path, content=b'{"model": ', headers={"content-type": "application/json"})
    assert not_json.status_code == 400
    assert "not valid JSON" in str(not_json.json())
    too_big = httpx.post(url + path, json={"model": "m", "input": "x" * 2000})
    assert too_big.status_code == 413
    assert "over the limit of 1000 bytes" in str(too_big.json())
    not_object = httpx.post(url + path, json=[1, 2])
    assert not_object.status_code == 400
    assert "must be a JSON object" in str(not_object.json())


def test_health_reports_the_model_and_slots(serve: ScriptedServers) -> None:
    url, _, _ = serve(weather_agent, slots=2, max_queue=3)
    reported = health(url)
    state = reported.pop("state")
    assert reported == {
        "status": "ok",
        "model": "scripted",
        "slots": 2,
        "running": 0,
        "queued": 0,
        "max_queue": 3,
        "served": 0,
        "refused": 0,
        "policy": "keep",
        "restored": 0,
        "policy_removed": 0,
    }
    assert state["status"] == "ok"
    assert state["durability"] == "commit"
    assert (state["recorded"], state["unrecorded"], state["pending"]) == (0, 0, 0)


def broken(prompt: str) -> str:
    raise RuntimeError("the model file is damaged")


def test_a_failing_model_is_a_500_in_the_dialects_envelope(serve: ScriptedServers) -> None:
    url, _, _ = serve(broken)
    chat = httpx.post(url + "/v1/chat/completions", json=CHAT)
    assert chat.status_code == 500
    assert chat.json()["error"]["type"] == "server_error"
    assert "the model file is damaged" in chat.json()["error"]["message"]
    messages = httpx.post(url + "/v1/messages", json=MESSAGES)
    assert messages.status_code == 500
    assert messages.json()["error"]["type"] == "api_error"
    assert health(url)["running"] == 0


def test_a_stream_that_fails_after_it_began_ends_with_the_dialects_error_event(
    serve: ScriptedServers,
) -> None:
    url, _, _ = serve(broken)
    with httpx.stream("POST", url + "/v1/messages", json={**MESSAGES, "stream": True}) as response:
        assert response.status_code == 200  # the engine started the turn before the model failed
        text = "".join(response.iter_text())
    assert "event: error" in text
    assert '"type":"api_error"' in text
    assert "the model file is damaged" in text


def test_metrics_count_requests_and_read_the_backend(serve: ScriptedServers) -> None:
    url, _, _ = serve(weather_agent)
    httpx.post(url + "/v1/chat/completions", json=CHAT)
    httpx.post(url + "/v1/chat/completions", json={"model": "m", "messages": []})
    text = httpx.get(url + "/metrics").text
    assert 'thinkwire_requests_total{route="chat",status="200"} 1.0' in text
    assert 'thinkwire_requests_total{route="chat",status="400"} 1.0' in text
    assert 'thinkwire_request_seconds_count{route="chat"} 2.0' in text
    assert "thinkwire_engine_generations_total 1.0" in text
    assert "thinkwire_engine_queued 0.0" in text


@pytest.mark.parametrize(
    ("path", "body", "name"),
    [
        (
            "/v1/chat/completions",
            {"max_tokens": 0, "messages": [{"role": "user", "content": "hi"}]},
            "max_tokens",
        ),
        (
            "/v1/chat/completions",
            {"max_completion_tokens": -1, "messages": [{"role": "user", "content": "hi"}]},
            "max_completion_tokens",
        ),
        ("/v1/messages", {"max_tokens": -1, "messages": [{"role": "user", "content": "hi"}]}, "max_tokens"),
        ("/v1/responses", {"max_output_tokens": 0, "input": "hi"}, "max_output_tokens"),
    ],
)
def test_an_output_limit_below_one_is_a_400_naming_the_field(
    serve: ScriptedServers, path: str, body: dict[str, Any], name: str
) -> None:
    """Toward Anthropic -1 became 2047 and 0 became 2048, both at or under the thinking budget."""
    url, runtime, _ = serve(weather_agent)
    refused = httpx.post(url + path, json={"model": "m", **body}, timeout=10)
    assert refused.status_code == 400
    assert name in refused.text
    assert "must be at least 1" in refused.text
    assert runtime.calls == []  # nothing was generated


def test_head_and_get_on_the_root_answer_without_a_key(serve: ScriptedServers) -> None:
    """Claude Code, Codex and others send ``HEAD /`` before their first request (404 before)."""
    url, _, _ = serve(weather_agent, state={"api_keys": frozenset({"k"})})
    assert httpx.head(url + "/").status_code == 200
    assert httpx.get(url + "/").json()["name"] == "thinkwire"


def test_a_bug_is_a_500_that_names_an_incident_never_the_exception(caplog: pytest.LogCaptureFixture) -> None:

    async def bug(request: object) -> None:
        raise TypeError("unhashable type: 'list' in messages[0]")

    app = Starlette(
        routes=[Route("/v1/messages", bug, methods=["POST"])], exception_handlers={Exception: _server_error}
    )
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)

    async def call() -> httpx.Response:
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            return await client.post("/v1/messages", json={})

    with caplog.at_level("ERROR", logger="thinkwire.server"):
        response = asyncio.run(call())
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["type"] == "api_error"  # Anthropic's envelope, by the path
    assert "TypeError" not in error["message"]
    assert "unhashable" not in error["message"]
    assert error["message"].startswith("internal server error on POST /v1/messages (incident ")
    incident = error["message"].split("incident ", 1)[1].split(";", 1)[0]
    assert any(
        incident in r.getMessage() and r.exc_info for r in caplog.records
    )  # the log has it, with the traceback
