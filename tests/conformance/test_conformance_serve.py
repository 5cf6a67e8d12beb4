"""``thinkwire check`` against thinkwire's own server: the scripted local model in every
dialect, and the gateway in front of each strict emulator; every applicable probe passes.
A local server that discards earlier thinking is told apart."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from tests.support.apps import sqlite_state, stateful_app
from tests.support.servers import ScriptedServers

from thinkwire.asgi.serving import serving
from thinkwire.conformance import Card, Endpoint, run_check
from thinkwire.emulators.run import Emulate
from thinkwire.ir.blocks import Carrier, Dialect
from thinkwire.local.scripted import scripted_engine
from thinkwire.local.service import EngineService
from thinkwire.server.gateway import GatewayService
from thinkwire.upstreams.client import UpstreamClient
from thinkwire.upstreams.config import parse_config
from thinkwire.upstreams.profiles import PROFILES

DIALECTS: list[Dialect] = ["anthropic", "openai-chat", "openai-responses"]
_CALL = '\n</think>\n<tool_call>\n{{"name": "get_weather", "arguments": {{"city": "{city}"}}}}\n</tool_call>'


def secret_keeper(prompt: str) -> str:
    """The scenario as a model that follows it (``qwen2.5-think`` layout): picks SECRET=4821 in
    its thinking, calls get_weather for Oslo, then Paris, then reports the number only if the
    prompt still holds its earlier thinking."""
    turns = [t.split("<|im_end|>", 1)[0] for t in prompt.split("<|im_start|>user\n")[1:]]
    results = 0
    for turn in reversed(turns):
        if not turn.lstrip().startswith("<tool_response>"):
            break
        results += 1
    if results == 0:
        return "I pick SECRET=4821 and keep it to myself. Oslo first." + _CALL.format(city="Oslo")
    if results == 1:
        return "Oslo is done; now Paris." + _CALL.format(city="Paris")
    found = re.findall(r"SECRET=(\d{4})", prompt)
    if found:
        return f"My thinking holds the number {found[-1]}.\n</think>\nSecret: {found[-1]}."
    return "I find no number in my thinking.\n</think>\nI do not remember a number."


def check(url: str, dialect: Dialect, model: str) -> Card:
    return asyncio.run(run_check(Endpoint(url, dialect, model)))


@pytest.mark.parametrize("dialect", DIALECTS)
def test_the_scripted_local_server_passes(serve: ScriptedServers, dialect: Dialect) -> None:
    url, _, _ = serve(secret_keeper)
    card = check(url, dialect, "scripted")
    assert card.ok, card.to_text()
    passed = {r.id for r in card.rows if r.status == "pass"}
    assert {"thinking-carrier", "stream-agrees", "accept-loop", "accept-streamed", "thought-recall"} <= passed
    # the local model thinks, calls, thinks, calls, then answers: the interleaved turn went back
    assert card.row("accept-loop").details["turns"] == [
        ["thinking", "tool_call"],
        ["thinking", "tool_call"],
        ["thinking", "text"],
    ]
    # the model calls a tool twice in the user turn: thinking went back across both calls
    assert card.row("several-calls").status == "pass"
    assert card.row("thought-recall").details["significant"] is True
    if dialect == "openai-chat":  # the server reads every carrier, not only the one it writes
        assert card.row("carrier-tokens").details["read"] == [
            "reasoning",
            "reasoning_content",
            "reasoning_details",
            "think-tags",
        ]
    else:
        assert card.row("signatures").status == "pass"


def test_a_server_that_discards_earlier_thinking_fails_recall() -> None:
    engine, _ = scripted_engine(secret_keeper)
    app, _ = stateful_app(EngineService(engine), None, policy="discard")
    with serving(app) as url:
        card = check(url, "openai-chat", "scripted")
    assert set(card.failed()) == {"thought-recall", "carrier-tokens"}, card.to_text()
    recall = card.row("thought-recall")
    assert recall.details["kept"]["outcomes"] == {"forgotten": 6}
    assert recall.details["wire"]["observed"] == "missing"  # the prompt tokens show it dropped


def forgetful(prompt: str) -> str:
    """``secret_keeper`` that never uses the number in its answer, whatever its prompt holds (as a
    small real model may not)."""
    reply = secret_keeper(prompt)
    if "Secret:" in reply or "do not remember" in reply:
        return "I will answer now.\n</think>\nDone: both cities checked."
    return reply


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_model_that_ignores_its_thinking_is_inconclusive_not_a_fail(
    serve: ScriptedServers, dialect: Dialect
) -> None:
    """Equal recall with the thinking kept and stripped says the model did not use the value; the
    prompt tokens say the server kept it: no fail (the false fail against the real local model)."""
    url, _, _ = serve(forgetful)
    card = check(url, dialect, "scripted")
    recall = card.row("thought-recall")
    assert recall.status == "inconclusive", card.to_text()
    assert recall.details["kept"]["recalled"] == recall.details["stripped"]["recalled"] == 0
    assert recall.details["wire"]["observed"] == "reached"
    assert "does not say it was dropped" in recall.summary
    assert card.ok


GATEWAYS: list[tuple[str, Dialect, str]] = [
    ("anthropic", "anthropic", "claude-emulated"),
    ("deepseek", "openai-chat", "deepseek-reasoner"),
    ("minimax", "openai-chat", "MiniMax-M2"),
    ("openrouter", "openai-chat", "anthropic/claude-emulated"),
    ("openai-responses", "openai-responses", "gpt-emulated"),
]


def gateway(upstream: str, vendor: str, kind: Dialect, carrier: Carrier, state: Path | None = None) -> Any:
    """The gateway over ``upstream``, recording turns in a SQLite store at ``state`` (as
    ``thinkwire serve --config`` does by default) when given."""
    config = parse_config(
        {"upstreams": [{"name": vendor, "kind": kind, "base_url": upstream, "profile": vendor}]}
    )
    gateway = GatewayService(config, client=UpstreamClient(backoff=0.01))
    app, _ = stateful_app(gateway, sqlite_state(state) if state is not None else None, carrier=carrier)
    return serving(app)


@pytest.mark.parametrize(("vendor", "kind", "model"), GATEWAYS)
def test_the_gateway_in_front_of_each_strict_emulator_passes(
    emulate: Emulate, tmp_path: Path, vendor: str, kind: Dialect, model: str
) -> None:
    """The gateway writes Chat reasoning where the upstream does (with the default
    reasoning_content, OpenRouter's two signed entries would merge into one unsigned string)."""
    upstream, _ = emulate(vendor)
    carrier = PROFILES[vendor].carrier or "reasoning_content"
    with gateway(upstream, vendor, kind, carrier, tmp_path / "state.db") as url:
        card = check(url, kind, model)
    assert card.ok, card.to_text()
    assert card.row("thought-recall").status == "pass"


@pytest.mark.parametrize(("vendor", "kind", "model"), GATEWAYS)
def test_a_chat_client_passes_through_the_gateway_over_any_upstream(
    emulate: Emulate, vendor: str, kind: Dialect, model: str
) -> None:
    """With reasoning_details as its Chat carrier the gateway hands Chat clients the upstream's
    signatures, so every upstream's rules hold for them."""
    upstream, _ = emulate(vendor)
    with gateway(upstream, vendor, kind, "reasoning_details") as url:
        card = check(url, "openai-chat", model)
    assert card.ok, card.to_text()
    # Anthropic refuses a tool turn without its signed thinking: no baseline to count against
    assert card.row("carrier-tokens").status == ("n/a" if vendor == "anthropic" else "pass")


@pytest.mark.parametrize("client", ["openai-chat", "openai-responses", "anthropic"])
@pytest.mark.parametrize(("vendor", "kind", "model"), GATEWAYS)
def test_with_its_state_store_the_gateway_serves_any_client_over_any_upstream(
    emulate: Emulate, tmp_path: Path, vendor: str, kind: Dialect, model: str, client: Dialect
) -> None:
    """A client whose dialect has no slot for the upstream's signatures (a Chat client on the
    default reasoning_content, a Responses client over Anthropic) sends back its thinking
    lossy; the store recognises the recorded text and puts the signed blocks back. A client
    whose dialect signs (Anthropic, Responses) gets the gateway's own signature where the
    upstream's cannot reach it, and Anthropic's omitted thinking comes back from the store."""
    upstream, _ = emulate(vendor)
    with gateway(upstream, vendor, kind, "reasoning_content", tmp_path / "state.db") as url:
        card = check(url, client, model)
    assert card.ok, card.to_text()
    assert card.row("accept-loop").status == "pass"
    assert card.row("thought-recall").status == "pass"
    if client != "openai-chat":  # reasoning_content has no place for a signature
        assert card.row("signatures").status == "pass"
    if client == "anthropic":
        assert card.row("accept-omitted").status == "pass"
