"""tau2-bench's own, unchanged harness through the gateway: the "keep" condition without
touching the benchmark.

tau2 receives ``reasoning_content`` and sends none of it back (its messages carry only role,
content and tool calls), so straight at DeepSeek every task is refused at its second step. Here
its CLI runs its own agents against the gateway over the strict DeepSeek emulator: the solo
agent on telecom (``tool_choice: "required"``, a tool call every step) and the conversational
agent with its user simulator on airline (the user simulator served by the gateway too). tau2
opens every airline conversation with a greeting no model produced; the profile's placeholder
covers it. The scripted model solves no task; the wire is what is tested: no refusal, every
tool turn reaching the vendor with the thinking the model wrote for it, the model finding its
note again after each tool result, and tau2 ending its runs normally. Without the state the
same run is refused, as tau2 alone would be.

tau2 and LiteLLM live in their own environment (``tests/support/tau2-harness.txt``), which
``.ci/run`` builds; elsewhere the test is skipped unless that environment exists.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from tests.support.apps import sqlite_state, stateful_app, vendor_gateway

from thinkwire.asgi.serving import serving
from thinkwire.emulators import emulating
from thinkwire.emulators.app import Exchange

ROOT = Path(__file__).resolve().parents[2]
TAU2 = Path(os.environ.get("THINKWIRE_TAU2", ROOT / ".venv-tau2" / "bin" / "tau2"))
GREETING = "Hi! How can I help you today?"
"""The first agent turn of every tau2 conversation, written by the harness, not a model."""
TIMEOUT = 240
"""Seconds a tau2 run may take (LiteLLM's import alone takes several on a busy machine)."""


@pytest.fixture(scope="module")
def tau2() -> Path:
    if not TAU2.exists():
        reason = f"tau2-bench's harness is not installed at {TAU2} (see tests/support/tau2-harness.txt)"
        if os.environ.get("CI"):
            pytest.fail(reason)  # CI builds it: a missing harness is a broken CI, not a skip
        pytest.skip(reason)
    return TAU2


def run_tau2(tau2: Path, url: str, out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """tau2's CLI with its agent (and user simulator) at ``url``; results under ``out``."""
    llm = json.dumps({"api_base": url + "/v1", "api_key": "unused", "temperature": 0})
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "NO_PROXY": "127.0.0.1"}
    command = [
        str(tau2),
        "run",
        "--agent-llm",
        "openai/deepseek-reasoner",
        "--agent-llm-args",
        llm,
        "--user-llm",
        "openai/deepseek-chat",
        "--user-llm-args",
        llm,
        "--max-concurrency",
        "1",
        "--max-retries",
        "0",
        "--results-dir",
        str(out),
        "--log-level",
        "WARNING",
        *args,
    ]
    out.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        command, cwd=out, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )


def simulations(out: Path) -> list[dict[str, Any]]:
    (saved,) = (p for p in out.glob("*.json") if not p.stem.endswith(("_results", "_summary")))
    found: list[dict[str, Any]] = json.loads(saved.read_text())["simulations"]
    return found


def agent_exchanges(exchanges: list[Exchange]) -> list[Exchange]:
    return [e for e in exchanges if e.body is not None and e.body.get("model") == "deepseek-reasoner"]


def tool_turns(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in body["messages"] if m.get("role") == "assistant" and m.get("tool_calls")]


def follows_a_tool_result(body: dict[str, Any]) -> bool:
    return bool(body["messages"]) and body["messages"][-1].get("role") == "tool"


@pytest.mark.parametrize(
    ("domain", "args"),
    [
        ("telecom", ["--domain", "telecom", "--agent", "llm_agent_solo", "--user", "dummy_user"]),
        ("airline", ["--domain", "airline", "--agent", "llm_agent", "--user", "user_simulator"]),
    ],
)
def test_tau2s_own_harness_keeps_its_thinking_through_the_gateway(
    tau2: Path, tmp_path: Path, domain: str, args: list[str]
) -> None:
    with emulating("deepseek") as (upstream, emulator):
        app, service = stateful_app(
            vendor_gateway(upstream, "deepseek", name="ds"), sqlite_state(tmp_path / "state.db")
        )
        with serving(app) as gw:
            done = run_tau2(tau2, gw, tmp_path / "out", *args, "--num-tasks", "2", "--max-steps", "14")
        exchanges: list[Exchange] = list(emulator.state.requests)
    report = f"tau2 exited {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert done.returncode == 0, report
    assert [e.status for e in exchanges if e.status != 200] == [], report  # no refusal at all
    agent = agent_exchanges(exchanges)
    turns = [t for e in agent for t in tool_turns(e.body or {})]
    assert len(turns) >= 4, report  # several steps of tool calls per task
    # tau2 sends no reasoning_content: every tool turn the vendor got was restored by the gateway
    assert all(t.get("reasoning_content", "").startswith("Step ") for t in turns), turns
    assert service.restored >= len(turns)
    # after each tool result the model finds its note, so it really saw its earlier thinking
    after_results = [e for e in agent if follows_a_tool_result(e.body or {})]
    assert after_results
    for exchange in after_results:
        assert exchange.response is not None
        thought = " ".join(getattr(b, "text", "") for b in exchange.response.blocks)
        assert "noted a code word" in thought or "The code word I noted was" in thought, thought
    ends = {s["termination_reason"] for s in simulations(tmp_path / "out")}
    assert ends <= {"max_steps", "user_stop", "agent_stop", "too_many_errors"}, ends
    if domain == "airline":  # the greeting tau2 writes itself goes with the placeholder
        greeted = [e.body or {} for e in agent if tool_turns(e.body or {})]
        greetings = [m for b in greeted for m in b["messages"] if m.get("content") == GREETING]
        assert greetings, report
        assert all(m.get("reasoning_content") == "" for m in greetings), greetings


def test_without_the_state_tau2_is_refused_as_it_is_alone(tau2: Path, tmp_path: Path) -> None:
    with emulating("deepseek") as (upstream, emulator):
        with serving(stateful_app(vendor_gateway(upstream, "deepseek", name="ds"), None)[0]) as gw:
            args = ["--domain", "telecom", "--agent", "llm_agent_solo", "--user", "dummy_user"]
            done = run_tau2(tau2, gw, tmp_path / "out", *args, "--num-tasks", "1", "--max-steps", "14")
        exchanges: list[Exchange] = list(emulator.state.requests)
    assert [e.status for e in exchanges][:2] == [200, 400], [e.error for e in exchanges]
    assert "The 'reasoning_content' in the thinking mode must be passed back" in (done.stderr + done.stdout)
