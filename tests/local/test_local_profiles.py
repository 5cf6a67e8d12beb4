"""Model profiles: the registry, and the facts each profile must get right."""

from __future__ import annotations

import msgspec
import pytest

from thinkwire.errors import ThinkwireError
from thinkwire.local import grammar
from thinkwire.local.parse import CallSpec, format_calls
from thinkwire.local.profiles import (
    DEFAULT_PROFILE,
    PROFILES,
    ModelProfile,
    UnknownProfile,
    get_profile,
)

WHITESPACE = set(" \t\r\n")


def test_registry_holds_the_four_families_and_the_default() -> None:
    assert set(PROFILES) == {"qwen2.5-think", "qwen3", "minimax-m2", "deepseek-r1-distill"}
    assert DEFAULT_PROFILE == "qwen2.5-think"
    for name, profile in PROFILES.items():
        assert get_profile(name) is profile
        assert profile.name == name


def test_unknown_profile_error_lists_the_names() -> None:
    with pytest.raises(UnknownProfile) as info:
        get_profile("llama-9")
    assert isinstance(info.value, ThinkwireError)
    for name in PROFILES:
        assert name in str(info.value)


def test_profiles_are_frozen_data() -> None:
    profile = get_profile("qwen3")
    with pytest.raises(AttributeError):
        profile.prefill = "<think>\n"  # type: ignore[misc]
    again = msgspec.json.decode(msgspec.json.encode(profile), type=ModelProfile)
    assert again == profile


def test_the_default_profile_is_what_was_seen_working() -> None:
    p = get_profile("qwen2.5-think")
    assert not p.native_thinking
    assert p.grammar
    assert p.prefill == "<think>\n"
    assert p.markup.assistant_header == "<|im_start|>assistant\n"
    assert p.stop == ("<|im_end|>", "</tool_call>")
    assert p.keep_stop == ("</tool_call>",)
    assert p.sampling.temperature == 0.7
    assert p.sampling.top_p == 0.8
    assert p.sampling.top_k == 20
    assert p.sampling.repeat_penalty == 1.05
    assert not p.parallel_calls
    assert p.tool_calls.kind == "hermes"
    assert "{{" not in p.tool_calls.tools_intro + p.tool_calls.tools_outro


@pytest.mark.parametrize("profile", PROFILES.values(), ids=list(PROFILES))
def test_every_profile_is_consistent(profile: ModelProfile) -> None:
    # gaps are whitespace: the parser strips them from text around think and call elements
    for gap in (profile.think.lead, profile.think.trail, profile.think.after):
        assert set(gap) <= WHITESPACE
    assert set(profile.tool_calls.before) <= WHITESPACE
    assert set(profile.tool_calls.between) <= WHITESPACE
    # a stop kept in the output must be a stop
    assert set(profile.keep_stop) <= set(profile.stop)
    # a model without native thinking is made to think by the prefill
    if not profile.native_thinking:
        assert profile.prefill.startswith(profile.think.open)
    assert profile.prefill in ("", profile.think.open + profile.think.lead)


def test_tool_syntax_per_family() -> None:
    assert get_profile("qwen3").tool_calls.open == "<tool_call>"
    assert get_profile("qwen3").parallel_calls
    minimax = get_profile("minimax-m2")
    assert (minimax.tool_calls.kind, minimax.tool_calls.open) == ("minimax-xml", "<minimax:tool_call>")
    deepseek = get_profile("deepseek-r1-distill")
    assert deepseek.markup.user_header == "<｜User｜>"  # noqa: RUF001
    assert deepseek.tool_calls.kind == "hermes"  # no native syntax: tools presented Hermes-style
    assert "Hermes" in deepseek.notes


def test_parser_renderer_and_grammar_agree_on_the_default_layout() -> None:
    p = get_profile("qwen2.5-think")
    assert p.think.close + p.think.after == grammar.THINK_CLOSE
    assert p.tool_calls.between == grammar.HERMES_CALL_SEPARATOR
    for name, arguments in [("get_weather", '{"city": "Paris"}'), ("é", ""), ("x", '{"a": [1, 2]}')]:
        assert grammar.hermes_call(name, arguments) == format_calls(p, [CallSpec(name, arguments)])


def test_the_prefills_for_thinking_off_and_for_a_budget() -> None:
    qwen25, qwen3 = get_profile("qwen2.5-think"), get_profile("qwen3")
    # Qwen3's chat template for enable_thinking=False writes exactly this after the header
    assert qwen3.no_think_prefill == "<think>\n\n</think>\n\n"
    assert qwen25.no_think_prefill == "<think>\n\n</think>\n"  # the grammar's "</think>\n"
    assert qwen3.thinking_prefill == "<think>\n"
    assert qwen25.thinking_prefill == qwen25.prefill
    for profile in PROFILES.values():
        assert profile.no_think_prefill == profile.think.empty + profile.think.after
        assert profile.thinking_prefill.endswith(profile.think.open + profile.think.lead)
