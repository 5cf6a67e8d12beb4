"""``thinkwire check`` run as a user runs it: exit codes, the three formats, usage errors."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

from tests.conformance.tamper import tampering

from thinkwire.conformance import wilson
from thinkwire.emulators.run import Emulate


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "thinkwire", "check", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_a_conforming_endpoint_exits_0_with_a_json_card(emulate: Emulate) -> None:
    url, _ = emulate("openrouter")
    done = run(
        "--base-url", url + "/v1", "--dialect", "openai-chat", "--model", "anthropic/claude-emulated",
        "--carrier", "reasoning_details", "--format", "json", "--api-key-env", "CHECK_KEY",
        env={"CHECK_KEY": "sk-secret-value"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    card = json.loads(done.stdout)
    assert card["ok"] is True
    assert card["counts"] == {"pass": 9, "fail": 0, "inconclusive": 0, "n/a": 4}
    row = next(r for r in card["rows"] if r["id"] == "accept-loop")
    assert row["wire_ref"].startswith("1")
    assert '"reasoning_details"' in row["evidence"][0]["request"]  # the request excerpt
    assert "sk-secret-value" not in done.stdout + done.stderr


def test_a_broken_endpoint_exits_1_and_the_card_names_the_probe(emulate: Emulate) -> None:
    url, _ = emulate("deepseek", "ignore-carrier")
    args = ["--base-url", url, "--dialect", "openai-chat", "--model", "deepseek-reasoner"]
    md = run(*args, "--format", "md")
    assert md.returncode == 1, md.stderr
    assert "| `carrier-tokens` | carrier | **fail** |" in md.stdout
    assert "| `thought-recall` | behavioural | **fail** |" in md.stdout
    assert "Exchange 1:" in md.stdout  # the evidence
    text = run(*args)
    assert text.returncode == 1
    assert "carrier-tokens" in text.stdout
    assert "FAIL: 6 passed, 2 failed, 0 inconclusive, 5 not applicable" in text.stdout


def test_usage_errors_exit_2_with_one_line() -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    cases = {
        ("--base-url", "ftp://x", "--dialect", "anthropic", "--model", "m"): "--base-url",
        (
            "--base-url",
            closed,
            "--dialect",
            "anthropic",
            "--model",
            "m",
            "--carrier",
            "reasoning",
        ): "--carrier",
        (
            "--base-url",
            closed,
            "--dialect",
            "anthropic",
            "--model",
            "m",
            "--api-key-env",
            "NO_SUCH_VAR_X",
        ): "not set",
        ("--base-url", closed, "--dialect", "anthropic", "--model", "m"): "is unreachable",
    }
    for args, words in cases.items():
        done = run(*args)
        assert done.returncode == 2, (args, done.stderr)
        assert done.stdout == ""
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        assert lines[0].startswith("thinkwire: error: ")
        assert words in lines[0]


def test_a_wrong_path_or_model_is_a_usage_error(emulate: Emulate) -> None:
    url, _ = emulate("anthropic")
    done = run("--base-url", url, "--dialect", "openai-chat", "--model", "m")  # Anthropic has no Chat path
    assert done.returncode == 2
    assert "answered 404" in done.stderr
    assert "Traceback" not in done.stderr


def test_wilson_intervals() -> None:
    assert wilson(0, 0) == (0.0, 1.0)
    low, high = wilson(5, 10)
    assert round(low, 3) == 0.237
    assert round(high, 3) == 0.763
    assert wilson(10, 10)[1] == 1.0


def test_a_server_dying_mid_answer_gives_a_card_not_a_traceback(emulate: Emulate) -> None:
    upstream, _ = emulate("anthropic")
    with tampering(upstream, cut=lambda n: n == 2) as (url, _):
        done = run("--base-url", url, "--dialect", "anthropic", "--model", "claude-emulated", "--repeat", "1")
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 1, done.stderr
    assert "stream-agrees" in done.stdout
