"""Chat templates: the registry, and the facts each template must get right."""

from __future__ import annotations

import msgspec
import pytest

from thinkwire.errors import ThinkwireError
from thinkwire.ir.blocks import Text
from thinkwire.ir.conversation import Message, Request, Tool
from thinkwire.local import grammar
from thinkwire.local.parse import CallSpec, format_calls
from thinkwire.local.render import render
from thinkwire.local.templates import (
    DEFAULT_TEMPLATE,
    TEMPLATES,
    ChatTemplate,
    UnknownTemplate,
    get_template,
)

WHITESPACE = set(" \t\r\n")


def test_registry_holds_the_four_families_and_the_default() -> None:
    families = {"qwen2.5-think", "qwen3", "minimax-m2", "deepseek-r1-distill"}
    assert set(TEMPLATES) == families | {"qwen2.5-decide", "qwen2.5-step"}  # qwen2.5-think deciding on tools
    assert DEFAULT_TEMPLATE == "qwen2.5-step"
    for name, template in TEMPLATES.items():
        assert get_template(name) is template
        assert template.name == name


def test_unknown_template_error_lists_the_names() -> None:
    with pytest.raises(UnknownTemplate) as info:
        get_template("llama-9")
    assert isinstance(info.value, ThinkwireError)
    for name in TEMPLATES:
        assert name in str(info.value)


def test_templates_are_frozen_data() -> None:
    template = get_template("qwen3")
    with pytest.raises(AttributeError):
        template.prefill = "<think>\n"  # type: ignore[misc]
    again = msgspec.json.decode(msgspec.json.encode(template), type=ChatTemplate)
    assert again == template


def test_the_default_template_is_what_was_seen_working() -> None:
    t = get_template("qwen2.5-think")
    assert not t.native_thinking
    assert t.grammar
    assert t.prefill == "<think>\n"
    assert t.markup.assistant_header == "<|im_start|>assistant\n"
    assert t.stop == ("<|im_end|>", "</tool_call>")
    assert t.keep_stop == ("</tool_call>",)
    assert t.sampling.temperature == 0.7
    assert t.sampling.top_p == 0.8
    assert t.sampling.top_k == 20
    assert t.sampling.repeat_penalty == 1.05
    assert not t.parallel_calls
    assert t.tool_calls.kind == "hermes"
    assert "{{" not in t.tool_calls.tools_intro + t.tool_calls.tools_outro


@pytest.mark.parametrize("template", TEMPLATES.values(), ids=list(TEMPLATES))
def test_every_template_is_consistent(template: ChatTemplate) -> None:
    # gaps are whitespace: the parser strips them from text around think and call elements
    for gap in (template.think.lead, template.think.trail, template.think.after):
        assert set(gap) <= WHITESPACE
    assert set(template.tool_calls.before) <= WHITESPACE
    assert set(template.tool_calls.between) <= WHITESPACE
    # a stop kept in the output must be a stop
    assert set(template.keep_stop) <= set(template.stop)
    # a model without native thinking is made to think by the prefill
    if not template.native_thinking:
        assert template.prefill.startswith(template.think.open)
    assert template.prefill in ("", template.think.open + template.think.lead)


def test_tool_syntax_per_family() -> None:
    assert get_template("qwen3").tool_calls.open == "<tool_call>"
    assert get_template("qwen3").parallel_calls
    minimax = get_template("minimax-m2")
    assert (minimax.tool_calls.kind, minimax.tool_calls.open) == ("minimax-xml", "<minimax:tool_call>")
    deepseek = get_template("deepseek-r1-distill")
    assert deepseek.markup.user_header == "<｜User｜>"  # noqa: RUF001
    assert deepseek.tool_calls.kind == "hermes"  # no native syntax: tools presented Hermes-style
    assert "Hermes" in deepseek.notes


def test_parser_renderer_and_grammar_agree_on_the_default_layout() -> None:
    t = get_template("qwen2.5-think")
    assert t.think.close + t.think.after == grammar.THINK_CLOSE
    assert t.tool_calls.between == grammar.HERMES_CALL_SEPARATOR
    for name, arguments in [("get_weather", '{"city": "Paris"}'), ("é", ""), ("x", '{"a": [1, 2]}')]:
        assert grammar.hermes_call(name, arguments) == format_calls(t, [CallSpec(name, arguments)])


def test_the_prefills_for_thinking_off_and_for_a_budget() -> None:
    qwen25, qwen3 = get_template("qwen2.5-think"), get_template("qwen3")
    # Qwen3's chat template for enable_thinking=False writes exactly this after the header
    assert qwen3.no_think_prefill == "<think>\n\n</think>\n\n"
    assert qwen25.no_think_prefill == "<think>\n\n</think>\n"  # the grammar's "</think>\n"
    assert qwen3.thinking_prefill == "<think>\n"
    assert qwen25.thinking_prefill == qwen25.prefill
    for template in TEMPLATES.values():
        assert template.no_think_prefill == template.think.empty + template.think.after
        assert template.thinking_prefill.endswith(template.think.open + template.think.lead)


def test_the_step_template_stops_where_its_answer_would_echo_the_tools_section() -> None:
    step = get_template("qwen2.5-step")
    [echo] = [s for s in step.stop if s not in get_template("qwen2.5-think").stop]
    tools = (Tool(name="get_weather", description="The weather.", parameters={"type": "object"}),)
    question = Message(role="user", blocks=(Text(text="Hi"),))
    prompt = render(Request(messages=(question,), tools=tools), step).prompt
    # the worked examples end with an answer, and the system section goes on with this text
    assert step.think_instruction + echo in prompt
    assert not any(stop in step.think_instruction for stop in step.stop)
