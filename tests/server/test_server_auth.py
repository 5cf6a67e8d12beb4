"""Gateway keys: every route but /healthz needs one; refusals come in the dialect's envelope."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest
from tests.support.processes import serve_process, stop
from tests.support.scripts import weather_agent
from tests.support.servers import ScriptedServers

from thinkwire.server.auth import AuthConfigError, BrowserPolicy, keys_from_env, patterns

CHAT: Any = {"model": "m", "messages": [{"role": "user", "content": "hi in Rome"}]}


def test_only_a_configured_key_gets_in(serve: ScriptedServers) -> None:
    url, _, _ = serve(weather_agent, state={"api_keys": frozenset({"key-one", "key-two"})})
    assert httpx.get(url + "/healthz").status_code == 200  # load balancers need no key
    missing = httpx.post(url + "/v1/chat/completions", json=CHAT)
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "invalid_api_key"
    wrong = httpx.post(
        url + "/v1/messages", json={**CHAT, "max_tokens": 10}, headers={"x-api-key": "key-three"}
    )
    assert wrong.status_code == 401
    assert wrong.json()["error"]["type"] == "authentication_error"
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=url + "/v1", api_key="nope", max_retries=0).models.list()
    ok = openai.OpenAI(base_url=url + "/v1", api_key="key-one", max_retries=0)
    assert ok.chat.completions.create(**CHAT).choices[0].message.tool_calls is not None
    claude = anthropic.Anthropic(base_url=url, api_key="key-two", max_retries=0)
    assert claude.messages.create(max_tokens=100, **CHAT).content


def test_keys_come_from_one_environment_variable() -> None:
    assert keys_from_env("K", {"K": "a, b  c"}) == frozenset({"a", "b", "c"})
    with pytest.raises(AuthConfigError, match="unset or holds no keys"):
        keys_from_env("K", {"K": " , "})


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"content-type": "text/plain"}, 415),  # what a page may POST cross-origin without a preflight
        ({"content-type": "application/x-www-form-urlencoded"}, 415),
        ({"host": "attacker.example:8000"}, 403),  # DNS rebinding
        ({"origin": "https://attacker.example"}, 403),
        ({"origin": "null"}, 403),  # a sandboxed frame or a local file
        ({"origin": "http://localhost:3000"}, 200),
        ({"host": "[::1]:8000"}, 200),
        ({"content-type": "application/json; charset=utf-8"}, 200),
    ],
)
def test_a_keyless_server_refuses_what_a_web_page_could_send(
    serve: ScriptedServers, headers: dict[str, str], status: int
) -> None:
    url, runtime, _ = serve(weather_agent)
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
    sent = {"content-type": "application/json", **headers}
    answer = httpx.post(url + "/v1/chat/completions", content=body, headers=sent, timeout=30)
    assert answer.status_code == status, answer.text
    assert len(runtime.calls) == (1 if status == 200 else 0)  # refused before anything ran


def test_with_keys_any_host_is_served(serve: ScriptedServers) -> None:
    url, _, _ = serve(weather_agent, state={"api_keys": frozenset({"k1"})})
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    answer = httpx.post(
        url + "/v1/chat/completions",
        json=body,
        headers={"host": "gateway.internal", "authorization": "Bearer k1"},
        timeout=30,
    )
    assert answer.status_code == 200


@pytest.mark.parametrize(
    ("keys", "host", "status"),
    [
        (frozenset(), "gw.internal:8000", 200),
        (frozenset(), "a.b.internal", 200),
        (frozenset(), "localhost:8000", 403),  # the list replaces the loopback default
        (frozenset(), "attacker.example", 403),
        (frozenset({"k1"}), "attacker.example", 403),  # with keys too, once a list is given
        (frozenset({"k1"}), "gw.internal", 200),
    ],
)
def test_allowed_hosts_replace_the_loopback_names(
    serve: ScriptedServers, keys: frozenset[str], host: str, status: int
) -> None:
    policy = BrowserPolicy(allowed_hosts=("gw.internal", "*.internal"))
    url, _, _ = serve(weather_agent, state={"api_keys": keys, "browser": policy})
    headers = {"host": host, "authorization": "Bearer k1"}
    answer = httpx.post(url + "/v1/chat/completions", json=CHAT, headers=headers, timeout=30)
    assert answer.status_code == status, answer.text
    if status == 403:
        assert "--allowed-hosts" in answer.json()["error"]["message"]


def test_a_cors_origin_may_call_and_read_and_others_may_not(serve: ScriptedServers) -> None:
    policy = BrowserPolicy(cors_origins=("https://app.example.com", "chrome-extension://*"))
    url, runtime, _ = serve(weather_agent, state={"browser": policy})
    for origin in ("https://app.example.com", "chrome-extension://abcdef", "http://localhost:5173"):
        preflight = httpx.options(
            url + "/v1/messages",
            headers={
                "origin": origin,
                "access-control-request-method": "POST",
                "access-control-request-headers": "content-type, x-api-key, anthropic-version",
            },
            timeout=30,
        )
        listed = not origin.startswith("http://localhost")
        assert preflight.status_code == (200 if listed else 400), preflight.text
        answer = httpx.post(url + "/v1/chat/completions", json=CHAT, headers={"origin": origin}, timeout=30)
        assert answer.status_code == 200, answer.text  # a loopback page may still call a keyless server
        assert answer.headers.get("access-control-allow-origin") == (origin if listed else None)
    refused = httpx.post(url + "/v1/chat/completions", json=CHAT, headers={"origin": "https://evil.example"})
    assert refused.status_code == 403
    assert "--cors-origins" in refused.json()["error"]["message"]
    assert "access-control-allow-origin" not in refused.headers
    assert len(runtime.calls) == 3


def test_serve_reads_both_lists_from_flags_or_the_environment(tmp_path: Path) -> None:
    process, url = serve_process(
        ["--model", "scripted", "--allowed-hosts", "127.0.0.1, gw.internal"],
        tmp_path,
        env={"THINKWIRE_ORIGINS": "https://*.example.com"},
    )
    try:
        called = httpx.post(
            url + "/v1/chat/completions",
            json=CHAT,
            headers={"host": "gw.internal", "origin": "https://app.example.com"},
            timeout=30,
        )
        assert called.status_code == 200, called.text
        assert called.headers["access-control-allow-origin"] == "https://app.example.com"
        refused = httpx.post(
            url + "/v1/chat/completions", json=CHAT, headers={"host": "localhost"}, timeout=30
        )
        assert refused.status_code == 403
    finally:
        log = stop(process)
    assert "answering Host names 127.0.0.1, gw.internal" in log
    assert "browser pages at https://*.example.com may call" in log


def test_patterns_split_on_commas_and_spaces() -> None:
    assert patterns(" a.example, *.b ,c ") == ("a.example", "*.b", "c")
    assert patterns("") is None
    assert patterns(None) is None
