"""The legacy-client scenario: an OpenAI SDK app that sends back only content and tool_calls,
strict vendors upstream. With the state store the gateway puts the thinking back and the loop
works (the model even recalls what it noted only in its thinking); without it the vendor
refuses the turn. Two gateway processes sharing a real Redis restore each other's turns."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from tests.support.apps import sqlite_state, stateful_app, vendor_gateway
from tests.support.processes import serve_process, stop
from tests.support.redis import RedisServer
from tests.support.scripts import WEATHER_TOOL

from thinkwire.asgi.serving import serving
from thinkwire.emulators import emulating
from thinkwire.server.gateway import GatewayService
from thinkwire.upstreams.config import parse_config

TOOLS: Any = [{"type": "function", "function": WEATHER_TOOL}]
VENDORS = [
    ("anthropic", "anthropic", "claude-sonnet"),
    ("deepseek", "openai-chat", "deepseek-reasoner"),
    ("deepseek-anthropic", "anthropic", "deepseek-reasoner"),
]


def legacy_loop(
    base_url: str,
    model: str,
    *,
    key: str = "app-key",
    second_url: str | None = None,
    second_key: str | None = None,
) -> Any:
    """Two steps the way an OpenAI-SDK app without reasoning support writes them (the second
    through ``second_url`` with ``second_key`` when given)."""
    messages: list[Any] = [{"role": "user", "content": "What is the weather in Oslo?"}]
    with openai.OpenAI(base_url=base_url + "/v1", api_key=key, max_retries=0) as c:
        first: Any = c.chat.completions.create(model=model, messages=messages, tools=TOOLS, max_tokens=4000)
    message = first.choices[0].message
    messages.append(
        {
            "role": "assistant",
            "content": message.content,
            "tool_calls": [t.model_dump() for t in message.tool_calls],
        }
    )
    messages.append({"role": "tool", "tool_call_id": message.tool_calls[0].id, "content": "sunny"})
    second = openai.OpenAI(
        base_url=(second_url or base_url) + "/v1", api_key=second_key or key, max_retries=0
    )
    with second as again:
        return again.chat.completions.with_raw_response.create(
            model=model, messages=messages, tools=TOOLS, max_tokens=4000
        )


@pytest.mark.parametrize(("vendor", "kind", "model"), VENDORS)
def test_a_legacy_client_keeps_its_thinking_through_the_store(
    tmp_path: Path, vendor: str, kind: str, model: str
) -> None:
    with emulating(vendor) as (upstream, _):
        app, service = stateful_app(vendor_gateway(upstream, vendor), sqlite_state(tmp_path / "state.db"))
        with serving(app) as gw:
            raw = legacy_loop(gw, model)
            # a tenant's turns are its own: another key sending this history back restores nothing
            with pytest.raises(openai.BadRequestError):
                legacy_loop(gw, model, second_key="someone-else")
            metrics = httpx.get(gw + "/metrics").text
    answer = raw.parse().choices[0].message.content
    assert raw.headers["thinkwire-restored"] == "1"
    assert re.search(r"The code word I noted was \w+-\w+", answer), answer  # recalled from its own thinking
    assert service.restored == 1
    assert "thinkwire_state_restored_turns_total 1.0" in metrics
    assert "thinkwire_gateway_upstream_errors_total 1.0" in metrics  # the other tenant's refusal
    # three turns recorded: the first step twice (two tenants) and the answer
    assert "thinkwire_state_recorded_turns_total 3.0" in metrics
    assert "thinkwire_state_unrecorded_turns_total 0.0" in metrics


@pytest.mark.parametrize(("vendor", "kind", "model"), VENDORS)
def test_without_the_store_the_strict_vendor_refuses_the_turn(vendor: str, kind: str, model: str) -> None:
    with (
        emulating(vendor) as (upstream, _),
        serving(stateful_app(vendor_gateway(upstream, vendor), None)[0]) as gw,
        pytest.raises(openai.BadRequestError) as caught,
    ):
        legacy_loop(gw, model)
    message = str(caught.value)
    assert "Expected `thinking`" in message or "reasoning_content" in message


def gateway_process(config: Path, state: str, home: Path) -> tuple[subprocess.Popen[str], str]:
    env = {"THINKWIRE_SECRET": "s" * 64}
    return serve_process(["--config", str(config), "--state", state], home, env=env)


def test_two_gateway_processes_share_state_through_redis(redis: RedisServer, tmp_path: Path) -> None:
    with emulating("deepseek") as (upstream, _):
        config = tmp_path / "thinkwire.toml"
        config.write_text(
            f'[[upstreams]]\nname = "ds"\nkind = "openai-chat"\nbase_url = "{upstream}"\n'
            'profile = "deepseek"\n'
        )
        replicas = [gateway_process(config, redis.url + "/0", tmp_path / f"home{i}") for i in (1, 2)]
        try:
            # the first step goes through replica 1, the second through replica 2
            raw = legacy_loop(replicas[0][1], "deepseek-reasoner", second_url=replicas[1][1])
        finally:
            for process, _ in replicas:
                stop(process)
    assert raw.headers["thinkwire-restored"] == "1"
    assert "The code word I noted was" in raw.parse().choices[0].message.content


def test_a_conversation_moving_from_claude_to_deepseek_keeps_the_thinking_unsigned(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Step 1 on Claude, step 2 routed to DeepSeek: the restored thinking goes to DeepSeek as
    reasoning_content without Anthropic's signature (the origin rule), and the loss is reported."""
    with emulating("anthropic") as (claude, _), emulating("deepseek") as (deepseek, deepseek_app):
        config = parse_config(
            {
                "upstreams": [
                    {
                        "name": "claude",
                        "kind": "anthropic",
                        "base_url": claude,
                        "profile": "anthropic",
                        "models": ["claude-*"],
                    },
                    {
                        "name": "ds",
                        "kind": "openai-chat",
                        "base_url": deepseek,
                        "profile": "deepseek",
                        "models": ["deepseek-*"],
                    },
                ]
            }
        )
        app, _ = stateful_app(GatewayService(config), sqlite_state(tmp_path / "state.db"))
        with serving(app) as gw:
            c = openai.OpenAI(base_url=gw + "/v1", api_key="app-key", max_retries=0)
            messages: list[Any] = [{"role": "user", "content": "What is the weather in Oslo?"}]
            first: Any = c.chat.completions.create(
                model="claude-sonnet", messages=messages, tools=TOOLS, max_tokens=4000
            )
            call = first.choices[0].message.tool_calls[0]
            messages.append({"role": "assistant", "content": None, "tool_calls": [call.model_dump()]})
            messages.append({"role": "tool", "tool_call_id": call.id, "content": "sunny"})
            with (
                caplog.at_level("INFO", logger="thinkwire.gateway"),
                caplog.at_level("INFO", logger="thinkwire.server"),
            ):
                raw = c.chat.completions.with_raw_response.create(
                    model="deepseek-reasoner", messages=messages, tools=TOOLS, max_tokens=4000
                )
    assert raw.headers["thinkwire-restored"] == "1"
    assert int(raw.headers["thinkwire-losses"]) >= 1
    # the dropped signature is a loss of thinking, counted apart from other fields' losses
    assert int(raw.headers["thinkwire-thinking-losses"]) >= 1
    assert "anthropic's signature dropped for deepseek" in caplog.text
    warned = [
        r.getMessage() for r in caplog.records if r.levelname == "WARNING" and "loss[" in r.getMessage()
    ]
    assert any("loss[signature]" in message for message in warned)  # a lost signature is a warning
    sent = deepseek_app.state.requests[-1].body["messages"][1]
    assert sent["reasoning_content"]  # the thinking went along, as text
    assert "signature" not in str(sent)
    assert re.search(r"The code word I noted was \w+-\w+", raw.parse().choices[0].message.content or "")


def test_the_policy_applies_to_an_upstream_too(tmp_path: Path) -> None:
    """--policy discard in front of MiniMax: the earlier turn reaches the upstream without its
    inline thinking, and the response says how much the policy removed. (DeepSeek and Anthropic
    refuse such a turn: a policy that discards thinking is for upstreams that accept that.)"""
    with emulating("minimax") as (upstream, app):
        state = sqlite_state(tmp_path / "state.db")
        gateway, service = stateful_app(
            vendor_gateway(upstream, "minimax", name="mm"), state, policy="discard"
        )
        with serving(gateway) as gw:
            c = openai.OpenAI(base_url=gw + "/v1", api_key="app-key", max_retries=0)
            messages: list[Any] = [{"role": "user", "content": "What is the weather in Oslo?"}]
            first: Any = c.chat.completions.create(model="MiniMax-M2", messages=messages, tools=TOOLS)
            message = first.choices[0].message
            messages.append(message.model_dump(exclude_none=True))  # thinking kept by the client
            messages.append({"role": "tool", "tool_call_id": message.tool_calls[0].id, "content": "sunny"})
            raw = c.chat.completions.with_raw_response.create(
                model="MiniMax-M2", messages=messages, tools=TOOLS
            )
            health = httpx.get(gw + "/healthz").json()
    assert raw.headers["thinkwire-policy-removed"] == "1"
    assert "<think>" not in str(app.state.requests[-1].body["messages"][1])
    assert health["policy"] == "discard"
    assert health["policy_removed"] == 1
    assert service.removed == 1


@pytest.mark.parametrize(
    ("vendor", "kind", "model"),
    [*VENDORS, ("openai-responses", "openai-responses", "gpt-emulated")],
)
def test_every_responses_output_item_has_an_id_whatever_the_upstream(
    tmp_path: Path, vendor: str, kind: str, model: str
) -> None:
    """@ai-sdk/openai refuses a response whose reasoning item has no id; a Chat upstream's
    reasoning used to come out without one (and with a loss for the Chat details)."""
    with emulating(vendor) as (upstream, _):
        app, _ = stateful_app(vendor_gateway(upstream, vendor), None)
        tools = [{"type": "function", **WEATHER_TOOL}]
        body = {
            "model": model,
            "input": "What is the weather in Oslo?",
            "tools": tools,
            "max_output_tokens": 4000,
        }
        with serving(app) as gw:
            whole = httpx.post(gw + "/v1/responses", json=body, timeout=30)
            streamed = httpx.post(gw + "/v1/responses", json={**body, "stream": True}, timeout=30)
    output = whole.json()["output"]
    assert [item["type"] for item in output][:1] == ["reasoning"], output
    assert all(isinstance(item.get("id"), str) and item["id"] for item in output), output
    assert "thinkwire-losses" not in whole.headers
    events = [json.loads(line[6:]) for line in streamed.text.splitlines() if line.startswith("data: {")]
    items = [
        e["item"] for e in events if e["type"] in ("response.output_item.added", "response.output_item.done")
    ]
    assert items
    assert all(isinstance(item.get("id"), str) and item["id"] for item in items), items
    if vendor == "openai-responses":  # the upstream's own reasoning item goes through as it is
        assert output[0]["id"].startswith("rs_")


GREETING = {"role": "assistant", "content": "Hi! How can I help you today?"}
"""The turn tau2-bench's harness writes itself at the start of every conversation."""


def greeted_loop(gw: str, model: str) -> httpx.Response:
    """A harness's two steps: its hard-coded greeting first, thinking never sent back."""
    messages: list[Any] = [{"role": "user", "content": "Hi"}, GREETING]
    messages.append({"role": "user", "content": "What is the weather in Oslo?"})
    body = {"model": model, "messages": messages, "tools": TOOLS, "max_tokens": 4000}
    first = httpx.post(gw + "/v1/chat/completions", json=body, timeout=30)
    assert first.status_code == 200, first.text
    call = first.json()["choices"][0]["message"]["tool_calls"][0]
    messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
    messages.append({"role": "tool", "tool_call_id": call["id"], "content": "sunny"})
    return httpx.post(gw + "/v1/chat/completions", json=body, timeout=30)


def test_a_turn_nobody_produced_gets_the_vendors_placeholder_and_is_reported(tmp_path: Path) -> None:
    """tau2's greeting has no thinking to restore; once the restored tool turn carries
    reasoning_content DeepSeek wants it on every turn, and "" is what it accepts."""
    with emulating("deepseek") as (upstream, emulator):
        app, _ = stateful_app(
            vendor_gateway(upstream, "deepseek", name="ds"), sqlite_state(tmp_path / "state.db")
        )
        with serving(app) as gw:
            second = greeted_loop(gw, "deepseek-reasoner")
    assert second.status_code == 200, second.text
    assert second.headers["thinkwire-restored"] == "1"
    assert second.headers["thinkwire-thinking-losses"] == "1"  # the greeting's placeholder
    assert "The code word I noted was" in second.json()["choices"][0]["message"]["content"]
    sent = emulator.state.requests[-1].body["messages"]
    assert sent[1] == {**GREETING, "reasoning_content": ""}
    assert sent[3]["reasoning_content"].startswith("Step 1: I will call get_weather.")


def test_an_upstream_refusal_is_relayed_as_the_vendor_sent_it() -> None:
    """Without the state nothing carries thinking, so no placeholder goes in and DeepSeek
    refuses: its status, type, code and message reach the client unchanged, the gateway's
    own words in a header."""
    from thinkwire.emulators.vendors import DEEPSEEK_MISSING

    with (
        emulating("deepseek") as (upstream, _),
        serving(stateful_app(vendor_gateway(upstream, "deepseek", name="ds"), None)[0]) as gw,
    ):
        refused = greeted_loop(gw, "deepseek-reasoner")
    assert refused.status_code == 400
    assert refused.json()["error"] == {
        "message": DEEPSEEK_MISSING,
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_request_error",
    }
    assert refused.headers["thinkwire-upstream-error"] == "upstream 'ds' answered 400"


def test_a_refusal_after_a_restore_says_what_was_restored(tmp_path: Path) -> None:
    """Claude refuses a tool turn nobody can restore (no placeholder exists for Anthropic);
    the refusal still says the earlier turn was restored, in Claude's own words."""
    with emulating("anthropic") as (upstream, _):
        app, _ = stateful_app(
            vendor_gateway(upstream, "anthropic", name="claude"), sqlite_state(tmp_path / "state.db")
        )
        with serving(app) as gw:
            messages: list[Any] = [{"role": "user", "content": "What is the weather in Oslo?"}]
            body = {"model": "claude-sonnet", "messages": messages, "tools": TOOLS, "max_tokens": 4000}
            first = httpx.post(gw + "/v1/chat/completions", json=body, timeout=30).json()
            call = first["choices"][0]["message"]["tool_calls"][0]
            made_up = {"id": "call_" + "7f" * 12, "type": "function", "function": call["function"]}
            messages += [
                {"role": "assistant", "content": None, "tool_calls": [call]},
                {"role": "tool", "tool_call_id": call["id"], "content": "sunny"},
                {"role": "assistant", "content": None, "tool_calls": [made_up]},  # an app wrote it
                {"role": "tool", "tool_call_id": made_up["id"], "content": "windy"},
            ]
            refused = httpx.post(gw + "/v1/chat/completions", json=body, timeout=30)
    assert refused.status_code == 400
    assert refused.headers["thinkwire-restored"] == "1"
    assert refused.headers["thinkwire-upstream-error"] == "upstream 'claude' answered 400"
    assert "Expected `thinking`" in refused.json()["error"]["message"]
    assert not refused.json()["error"]["message"].startswith("upstream")


def test_a_field_the_client_has_no_place_for_is_logged_as_info_not_as_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An Anthropic client over DeepSeek: usage.reasoning_tokens has no place in Anthropic's
    usage on every response of the route, so it is counted and logged at info; a warning per
    request would bury the losses of thinking, which are warnings."""
    with emulating("deepseek") as (upstream, _):
        app, _ = stateful_app(vendor_gateway(upstream, "deepseek"), None)
        with serving(app) as gw, caplog.at_level("INFO", logger="thinkwire.server"):
            answer = httpx.post(
                gw + "/v1/messages",
                json={
                    "model": "deepseek-reasoner",
                    "max_tokens": 2000,
                    "messages": [{"role": "user", "content": "Hi"}],
                },
                timeout=30,
            )
    assert answer.status_code == 200
    assert int(answer.headers["thinkwire-losses"]) >= 1
    assert "thinkwire-thinking-losses" not in answer.headers
    losses = [r for r in caplog.records if "loss[field]" in r.getMessage()]
    assert losses
    assert {r.levelname for r in losses} == {"INFO"}
