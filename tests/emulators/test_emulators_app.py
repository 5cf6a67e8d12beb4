"""The emulator app: construction errors, envelopes, recording, the break registry, and what
`thinkwire emulate` serves with the options it is given."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.processes import emulate_process, stop

from thinkwire.emulators import BREAKS, VENDORS, create_emulator, run_emulator
from thinkwire.emulators.run import emulating


def test_unknown_vendor_and_inapplicable_break_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown vendor 'nope'"):
        create_emulator("nope")
    with pytest.raises(ValueError, match="unknown break case 'x'"):
        create_emulator("anthropic", break_case="x")
    with pytest.raises(ValueError, match="does not apply to 'anthropic'"):
        create_emulator("anthropic", break_case="ignore-carrier")


def test_every_break_case_is_documented_and_applies_to_known_vendors() -> None:
    assert set(BREAKS) == {"drop-thinking", "ignore-carrier", "merge-stream-blocks"}
    for case in BREAKS.values():
        assert case.imitates
        assert case.observed
        assert case.vendors <= set(VENDORS)
        for vendor in case.vendors:
            create_emulator(vendor, break_case=case.name)


@pytest.mark.parametrize(
    ("vendor", "path", "body", "status", "envelope"),
    [
        ("anthropic", "/v1/messages", b"{", 400, "anthropic"),
        ("anthropic", "/v1/messages", b'{"model": "m", "messages": []}', 400, "anthropic"),
        ("anthropic", "/v1/nowhere", b"{}", 404, "anthropic"),
        ("deepseek", "/v1/chat/completions", b'{"model": "m", "messages": "x"}', 400, "openai"),
        ("minimax", "/v1/chat/completions", b'{"model": "m", "messages": []}', 400, "openai"),
        ("openai-responses", "/v1/responses", b'{"model": "m", "input": []}', 400, "openai"),
        (
            "openai-responses",
            "/v1/responses",
            b'{"model": "m", "input": "x", "previous_response_id": "r"}',
            400,
            "openai",
        ),
        ("openrouter", "/v1/chat/completions", b'{"model": "m", "messages": []}', 400, "openrouter"),
        ("openrouter", "/v1/nowhere", b"{}", 404, "openrouter"),
    ],
)
def test_errors_come_in_the_vendors_envelope_and_are_recorded(
    vendor: str, path: str, body: bytes, status: int, envelope: str
) -> None:
    with emulating(vendor) as (url, app):
        response = httpx.post(url + path, content=body, headers={"content-type": "application/json"})
    assert response.status_code == status
    data = response.json()
    if envelope == "anthropic":
        assert data["type"] == "error"
        assert data["error"]["type"] in ("invalid_request_error", "not_found_error")
    elif envelope == "openrouter":
        assert data["error"]["code"] == status
        assert data["error"]["message"]
    else:
        assert data["error"]["type"] == "invalid_request_error"
    if status == 400:
        assert [(r.path, r.status) for r in app.state.requests] == [(path, 400)]


def test_the_app_keeps_only_the_last_requests_it_was_asked_to() -> None:
    """Each record holds a whole request: an emulator that kept every one held gigabytes after
    a few thousand large requests (the fuzz run); ``thinkwire emulate`` keeps none."""
    body = {"model": "deepseek-chat", "messages": [{"role": "user", "content": "hi"}]}
    with emulating("deepseek", record=2) as (url, app), emulating("deepseek", record=0) as (other, none):
        for n in range(3):
            sent = {**body, "max_tokens": 10 + n}
            assert httpx.post(url + "/v1/chat/completions", json=sent, timeout=30).status_code == 200
            assert httpx.post(other + "/v1/chat/completions", json=sent, timeout=30).status_code == 200
    assert [r.body["max_tokens"] for r in app.state.requests if r.body] == [11, 12]
    assert none.state.requests == []


def test_models_lists_the_vendors_models() -> None:
    with emulating("deepseek") as (url, _):
        ids = [m["id"] for m in httpx.get(url + "/v1/models").json()["data"]]
    assert ids == ["deepseek-reasoner", "deepseek-chat"]


TOOLS: list[Any] = [
    {
        "name": "get_weather",
        "description": "The weather in a city.",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
]
USER: Any = {"role": "user", "content": "What is the weather in Paris?"}


def messages(url: str, conversation: list[Any]) -> httpx.Response:
    body = {
        "model": "claude-emulated",
        "max_tokens": 4096,
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "tools": TOOLS,
        "messages": conversation,
    }
    return httpx.post(url + "/v1/messages", json=body, headers={"x-api-key": "test"}, timeout=30)


def test_run_emulator_takes_what_the_command_passes(tmp_path: Path) -> None:
    # `thinkwire emulate` hands its options to run_emulator, which serves the emulator they
    # describe: the vendor's wire, broken as asked, signing with the secret, the model named
    args = ["anthropic", "--break", "drop-thinking", "--secret", "s3cret", "--model", "scripted"]
    process, url = emulate_process(args, tmp_path)
    try:
        first = messages(url, [USER])
        assert first.status_code == 200, first.text
        turn = first.json()
        call = next(b for b in turn["content"] if b["type"] == "tool_use")
        result = {"type": "tool_result", "tool_use_id": call["id"], "content": "sunny"}
        loop = [
            USER,
            {"role": "assistant", "content": turn["content"]},
            {"role": "user", "content": [result]},
        ]
        answer = messages(url, loop)
        with (
            emulating("anthropic", "drop-thinking", secret="s3cret") as (same, _),
            emulating("anthropic", secret="s3cret") as (strict, _),
            emulating("anthropic") as (other_secret, _),
        ):
            # the Anthropic emulator with these options and the scripted model answers the same
            assert turn == messages(same, [USER]).json()
            assert answer.json() == messages(same, loop).json()
            # the thinking is signed with the secret given: an emulator with it accepts the
            # turn back and recalls the code word; one with the default secret refuses it
            recalled = messages(strict, loop).json()["content"][-1]["text"]
            assert "The code word I noted was" in recalled
            refused = messages(other_secret, loop)
            assert refused.status_code == 400
            assert "Invalid `signature` in `thinking` block" in refused.json()["error"]["message"]
        # the break: the turn is accepted, but the thinking never reaches the model
        assert answer.status_code == 200, answer.text
        assert answer.json()["content"][-1]["text"].endswith("I have no note of a code word.")
    finally:
        stop(process)


def test_run_emulator_loads_the_model_named_before_it_listens(tmp_path: Path) -> None:
    # --model local reaches run_emulator: it loads the local model before it listens, and an
    # empty store is an error that says what to run, with nothing served
    command = [sys.executable, "-m", "thinkwire", "emulate", "anthropic", "--port", "0", "--model", "local"]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env={**os.environ, "THINKWIRE_HOME": str(tmp_path)},
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "loading the local model" in done.stderr
    assert "thinkwire model pull" in done.stderr
    assert "Uvicorn running" not in done.stderr
    # a break case the vendor does not have is refused before the model is even looked for
    with pytest.raises(ValueError, match="does not apply to 'deepseek'"):
        run_emulator("deepseek", "127.0.0.1", 0, "merge-stream-blocks", model="local", home=tmp_path)
