"""How an upstream is asked and counted where its conventions differ from the engine's."""

from __future__ import annotations

from typing import Any

import msgspec

from thinkwire.ir import Message, Request, Text, Thinking, ThinkingConfig
from thinkwire.ir.conversation import Sampling
from thinkwire.upstreams.config import parse_config
from thinkwire.upstreams.conventions import with_placeholders, with_thinking


def test_thinking_is_asked_for_where_the_vendor_thinks_only_when_asked() -> None:
    (claude,) = parse_config(
        {"upstreams": [{"name": "c", "kind": "anthropic", "base_url": "http://x"}]}
    ).upstreams
    (chat,) = parse_config(
        {"upstreams": [{"name": "d", "kind": "openai-chat", "base_url": "http://x"}]}
    ).upstreams
    ask = Request(
        messages=(Message(role="user", blocks=(Text(text="hi"),)),), sampling=Sampling(max_tokens=500)
    )
    asked = with_thinking(ask, claude)
    assert asked.thinking == ThinkingConfig(mode="enabled", budget_tokens=2048)
    assert asked.sampling.max_tokens == 2548  # room for the answer after the thinking
    assert with_thinking(ask, chat) is ask  # a vendor that thinks by itself is left alone
    off = msgspec.structs.replace(ask, thinking=ThinkingConfig(mode="disabled"))
    assert with_thinking(off, claude) is off
    own = msgspec.structs.replace(ask, thinking=ThinkingConfig(mode="enabled", budget_tokens=1024))
    assert with_thinking(own, claude) is own


def _upstream(profile: str) -> Any:
    table = {"name": "up", "kind": "openai-chat", "base_url": "http://x", "profile": profile}
    return parse_config({"upstreams": [table]}).upstreams[0]


def test_turns_without_thinking_get_the_placeholder_only_beside_turns_with_some() -> None:
    user = Message(role="user", blocks=(Text(text="hi"),))
    greeting = Message(role="assistant", blocks=(Text(text="Hello!"),))
    thought = Message(role="assistant", blocks=(Thinking(text="plan"), Text(text="Sure.")))
    plain = Request(messages=(user, greeting, user))
    assert with_placeholders(plain, _upstream("deepseek")) == (plain, ())  # nothing carries thinking

    mixed = Request(messages=(user, greeting, user, thought, user))
    placed, losses = with_placeholders(mixed, _upstream("deepseek"))
    assert placed.messages[1].blocks == (Thinking(text=""), Text(text="Hello!"))
    assert placed.messages[3] is thought
    assert [(loss.path, loss.kind) for loss in losses] == [("messages[1]", "missing")]
    assert with_placeholders(mixed, _upstream("vllm")) == (mixed, ())  # no placeholder: as it is


def test_adaptive_thinking_is_left_as_the_client_asked() -> None:
    """Claude Code, Cline and Droid send ``thinking: {"type": "adaptive"}``; it reached Claude as
    ``{"type": "enabled", "budget_tokens": 2048}``."""
    (claude,) = parse_config(
        {"upstreams": [{"name": "c", "kind": "anthropic", "base_url": "http://x"}]}
    ).upstreams
    adaptive = Request(
        messages=(Message(role="user", blocks=(Text(text="hi"),)),),
        thinking=ThinkingConfig(mode="adaptive", extra={"anthropic": {"display": "omitted"}}),
        sampling=Sampling(max_tokens=500),
    )
    assert with_thinking(adaptive, claude) is adaptive
