"""Gateway keys: every route but /healthz needs one; refusals come in the dialect's envelope."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx
import openai
import pytest
from tests.support.scripts import weather_agent
from tests.support.servers import ScriptedServers

from thinkwire.server.auth import AuthConfigError, keys_from_env

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
