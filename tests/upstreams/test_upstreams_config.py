"""``thinkwire.toml``: upstreams, profiles and routing; every mistake named by its place."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from thinkwire.upstreams.config import ConfigError, load_config, parse_config
from thinkwire.upstreams.profiles import PROFILES

EXAMPLE = """
[[upstreams]]
name = "claude"
kind = "anthropic"
base_url = "https://api.anthropic.com/"
api_key_env = "ANTHROPIC_API_KEY"
profile = "anthropic"
models = ["claude-*"]

[[upstreams]]
name = "deepseek"
kind = "openai-chat"
base_url = "https://api.deepseek.com"
api_key_env = "DEEPSEEK_API_KEY"
profile = "deepseek"
models = ["deepseek-*"]

[[upstreams]]
name = "here"
kind = "local"
models = ["local", "qwen*"]
"""


def test_the_example_config_loads_and_routes(tmp_path: Path) -> None:
    file = tmp_path / "thinkwire.toml"
    file.write_text(EXAMPLE)
    config = load_config(file)
    claude, deepseek, here = config.upstreams
    assert claude.base_url == "https://api.anthropic.com"  # trailing slash dropped
    assert claude.profile is PROFILES["anthropic"]
    assert deepseek.chat_carrier == "reasoning_content"
    assert here.kind == "local"
    assert config.route("claude-sonnet-4-5") is claude
    assert config.route("deepseek-reasoner") is deepseek
    assert config.route("qwen3") is here
    assert config.route("gpt-5") is None


def test_keys_come_only_from_the_environment() -> None:
    (upstream,) = parse_config(
        {"upstreams": [{"name": "c", "kind": "anthropic", "base_url": "http://x", "api_key_env": "K"}]}
    ).upstreams
    assert upstream.api_key({"K": "secret"}) == "secret"
    assert upstream.api_key({}) is None
    assert "secret" not in repr(upstream)


@pytest.mark.parametrize(
    ("upstreams", "message"),
    [
        ([], "at least one [[upstreams]]"),
        ([{"kind": "anthropic", "base_url": "http://x"}], "upstreams[0].name: required"),
        ([{"name": "a", "kind": "grpc", "base_url": "http://x"}], "upstreams[0].kind: 'grpc' is not one of"),
        ([{"name": "a", "kind": "openai-chat"}], "upstreams[0].base_url: required"),
        ([{"name": "a", "kind": "openai-chat", "profile": "vllm"}], "upstreams[0].base_url: required"),
        (
            [{"name": "a", "kind": "anthropic", "base_url": "ftp://x"}],
            "upstreams[0].base_url: expected an http",
        ),
        (
            [{"name": "a", "kind": "anthropic", "base_url": "http://x", "profile": "nope"}],
            "unknown profile 'nope'",
        ),
        (
            [{"name": "a", "kind": "anthropic", "base_url": "http://x", "profile": "deepseek"}],
            "upstreams[0].profile: 'deepseek' speaks openai-chat, not anthropic",
        ),
        ([{"name": "a", "kind": "local", "models": []}], "upstreams[0].models: expected a non-empty list"),
        ([{"name": "a", "kind": "local", "timeout": 0}], "upstreams[0].timeout: expected a positive"),
        (
            [{"name": "a", "kind": "local", "timeout": 60, "deadline": 30}],
            "upstreams[0].deadline: expected a number of seconds no smaller than timeout",
        ),
        ([{"name": "a", "kind": "local", "carrier": "thoughts"}], "upstreams[0].carrier: 'thoughts'"),
        ([{"name": "a", "kind": "local", "colour": "red"}], "upstreams[0].colour: unknown key"),
        (
            [{"name": "a", "kind": "local"}, {"name": "a", "kind": "local"}],
            "upstreams[1].name: 'a' is used twice",
        ),
    ],
)
def test_mistakes_are_named_by_their_place(upstreams: list[Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"upstreams": upstreams})
    assert message in str(caught.value)


def test_a_file_that_is_not_toml(tmp_path: Path) -> None:
    file = tmp_path / "bad.toml"
    file.write_text("[[upstreams]\nname = ")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(file)
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "missing.toml")


def test_a_thinking_budget_can_be_set_or_turned_off() -> None:
    base = {"name": "c", "kind": "anthropic", "base_url": "http://x"}
    default, off, own = parse_config(
        {
            "upstreams": [
                base,
                {**base, "name": "d", "thinking_budget": 0},
                {**base, "name": "e", "thinking_budget": 4096},
            ]
        }
    ).upstreams
    assert default.default_thinking_budget == 2048  # the anthropic profile's
    assert off.default_thinking_budget is None
    assert own.default_thinking_budget == 4096
    with pytest.raises(ConfigError, match="thinking_budget"):
        parse_config({"upstreams": [{**base, "thinking_budget": -1}]})


def test_a_vendor_profile_gives_its_hosted_api_and_key_variable() -> None:
    """An upstream that names a vendor with a hosted API needs no base_url or api_key_env; what
    the table says wins; the vendor's key variable is never sent to another host unless the
    table names it."""
    config = parse_config(
        {
            "upstreams": [
                {"name": "claude", "kind": "anthropic"},
                {"name": "ds", "kind": "openai-chat", "profile": "deepseek"},
                {
                    "name": "mine",
                    "kind": "openai-chat",
                    "profile": "deepseek",
                    "base_url": "http://127.0.0.1:9/",
                },
            ]
        }
    )
    claude, ds, mine = config.upstreams
    assert (claude.base_url, claude.api_key_env) == ("https://api.anthropic.com", "ANTHROPIC_API_KEY")
    assert (ds.base_url, ds.api_key_env) == ("https://api.deepseek.com", "DEEPSEEK_API_KEY")
    assert (mine.base_url, mine.api_key_env) == ("http://127.0.0.1:9", None)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9", "http://127.0.0.1:9/", "http://127.0.0.1:9/v1", "http://127.0.0.1:9/v1/"]
)
def test_a_base_url_with_or_without_v1_means_the_same_server(url: str) -> None:
    """SDKs take the base URL with /v1 (OpenAI's) and the gateway's paths begin with it: both
    spellings reach /v1/chat/completions, never /v1/v1/..."""
    table = {"name": "a", "kind": "openai-chat", "base_url": url}
    assert parse_config({"upstreams": [table]}).upstreams[0].base_url == "http://127.0.0.1:9"
