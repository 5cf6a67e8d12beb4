"""``thinkwire serve`` as a user runs it: a subprocess, its messages, Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest


def thinkwire(*args: str, home: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "THINKWIRE_HOME": str(home)}
    return subprocess.Popen(
        [sys.executable, "-m", "thinkwire", *args],
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


def wait_for_url(process: subprocess.Popen[str], seen: list[str] | None = None) -> str:
    """The URL the server says it serves on; each line read up to it is appended to ``seen``."""
    assert process.stderr is not None
    deadline = time.monotonic() + 30
    seen = [] if seen is None else seen
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        seen.append(line)
        if match := re.search(r"serving on (http://\S+)", line):
            return match.group(1)
        if not line and process.poll() is not None:
            break
    raise AssertionError(f"the server did not start: {''.join(seen)}")


@pytest.fixture
def scripted(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    process = thinkwire(
        "serve", "--model", "scripted", "--port", "0", "--log-level", "warning", home=tmp_path
    )
    try:
        yield process, wait_for_url(process)
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


def test_serve_answers_and_stops_cleanly_on_ctrl_c(scripted: tuple[subprocess.Popen[str], str]) -> None:
    process, url = scripted
    body = {"model": "scripted", "messages": [{"role": "user", "content": "say these four words"}]}
    answer = httpx.post(url + "/v1/chat/completions", json=body, timeout=30).json()
    message = answer["choices"][0]["message"]
    assert message["content"] == "You said: say these four words"
    assert message["reasoning_content"] == "Step 1: I will answer the user. No tool is needed."
    assert httpx.get(url + "/healthz").json()["served"] == 1
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=15) == 0
    assert process.stderr is not None
    rest = process.stderr.read()
    assert "thinkwire: stopped" in rest
    assert "Traceback" not in rest


def test_a_port_in_use_is_reported_before_loading(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = thinkwire("serve", "--model", "scripted", "--port", str(port), home=tmp_path)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--template", "nope"], "--template: unknown template 'nope'; known: qwen2.5-think, "),
        (["--profile", "nope"], "--template: unknown template 'nope'"),
        (["--template", "qwen3", "--profile", "minimax-m2"], "give only --template"),
        (["--model", "nope"], "nope"),
        (["--model-path", "/no/such.gguf", "--port", "0"], "--model-path: no file at /no/such.gguf"),
        (["--config", "/no/thinkwire.toml", "--port", "0"], "/no/thinkwire.toml: no such file"),
        (
            ["--model", "scripted", "--host", "0.0.0.0", "--port", "0"],
            "refusing to serve on 0.0.0.0 without keys",
        ),
        (["--model", "scripted", "--api-keys-env", "THINKWIRE_TEST_NO_SUCH_VAR"], "holds no keys"),
    ],
)
def test_bad_options_are_one_clear_line(tmp_path: Path, args: list[str], message: str) -> None:
    process = thinkwire("serve", *args, home=tmp_path)
    _, err = process.communicate(timeout=30)
    assert process.returncode in (1, 2)
    assert message in err
    assert "Traceback" not in err


def test_profile_is_a_hidden_old_name_of_template(tmp_path: Path) -> None:
    process = thinkwire(
        "serve",
        "--model",
        "scripted",
        "--profile",
        "qwen3",
        "--port",
        "0",
        "--log-level",
        "warning",
        home=tmp_path,
    )
    seen: list[str] = []
    try:
        url = wait_for_url(process, seen)
        assert httpx.get(url + "/healthz").status_code == 200  # serving: Ctrl-C stops it cleanly
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=15)
    assert process.returncode == 0
    assert seen[0] == "thinkwire: --profile is renamed --template\n"
    assert sum("--profile" in line for line in seen) == 1
    assert any("(template qwen3," in line for line in seen)
    shown = subprocess.run(
        [sys.executable, "-m", "thinkwire", "serve", "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        check=True,
    ).stdout
    assert "--template" in shown
    assert "--profile" not in shown


def test_gateway_mode_starts_without_loading_a_model(tmp_path: Path) -> None:
    config = tmp_path / "thinkwire.toml"
    config.write_text('[[upstreams]]\nname = "up"\nkind = "openai-chat"\nbase_url = "http://127.0.0.1:9"\n')
    process = thinkwire(
        "serve", "--config", str(config), "--port", "0", "--log-level", "warning", home=tmp_path
    )
    try:
        url = wait_for_url(process)
        assert httpx.get(url + "/v1/models").json()["data"][0]["id"] == "*"
        refused = httpx.post(
            url + "/v1/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": "hi"}]}
        )
        assert refused.status_code == 502
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=15)
    assert process.returncode == 0


def test_emulate_serves_a_strict_vendor_and_refuses_bad_options(tmp_path: Path) -> None:
    process = thinkwire("emulate", "deepseek", "--port", "0", home=tmp_path)
    try:
        assert process.stderr is not None
        deadline, url = time.monotonic() + 30, ""
        while not url and time.monotonic() < deadline:
            line = process.stderr.readline()
            if match := re.search(r"running on (http://\S+)", line):
                url = match.group(1)
        assert url, "the emulator did not start"
        body = {
            "model": "deepseek-reasoner",
            "messages": [
                {"role": "user", "content": "hi"},
                {
                    "role": "assistant",
                    "content": "",
                    "tool_calls": [
                        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                    ],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "x"},
            ],
        }
        refused = httpx.post(url + "/v1/chat/completions", json=body)
        assert refused.status_code == 400
        assert "reasoning_content" in refused.json()["error"]["message"]
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=15)
    bad = thinkwire("emulate", "anthropic", "--break", "ignore-carrier", home=tmp_path)
    _, err = bad.communicate(timeout=30)
    assert bad.returncode == 2
    assert "does not apply to 'anthropic'" in err


def test_the_default_model_missing_points_at_pull(tmp_path: Path) -> None:
    process = thinkwire("serve", "--port", "0", home=tmp_path)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 1
    assert "thinkwire model pull" in err
    assert "Traceback" not in err
