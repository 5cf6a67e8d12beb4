"""Renderer: IR conversation -> prompt; under keep each turn's prompt extends the last one."""

from __future__ import annotations

import itertools

import msgspec
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from thinkwire.ir import (
    Image,
    Message,
    Origin,
    RedactedThinking,
    Request,
    Text,
    Thinking,
    Tool,
    ToolCall,
    ToolResult,
)
from thinkwire.local.parse import parse_completion
from thinkwire.local.render import render, render_assistant
from thinkwire.local.templates import QWEN25_THINK, TEMPLATES, ChatTemplate, get_template
from thinkwire.policy import Policy

QWEN25 = get_template("qwen2.5-think")
QWEN3 = get_template("qwen3")
MINIMAX = get_template("minimax-m2")
DEEPSEEK = get_template("deepseek-r1-distill")
WEATHER = Tool(
    name="get_weather",
    description="Weather for a city",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
CALL = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'


def user(text: str) -> Message:
    return Message(role="user", blocks=(Text(text=text),))


def assistant(completion: str, template: ChatTemplate, call_id: str = "call_1") -> Message:
    parsed = parse_completion(completion, template, tools=(WEATHER,), new_id=lambda: call_id)
    return Message(role="assistant", blocks=parsed.blocks)


def result(call_id: str, content: str) -> Message:
    return Message(role="tool", blocks=(ToolResult(call_id=call_id, content=content),))


def test_default_template_prompt_is_exact() -> None:
    c1 = "I need the weather.\n</think>\n" + CALL
    request = Request(
        system=(Text(text="Be brief."),),
        tools=(WEATHER,),
        messages=(user("Weather in Paris?"), assistant(c1, QWEN25), result("call_1", "sunny, 21C")),
    )
    rendered = render(request, QWEN25)
    assert rendered.prompt == (
        "<|im_start|>system\nBe brief.\n\n" + QWEN25.think_instruction + "\n\n"
        "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
        "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n"
        '{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city", '
        '"parameters": {"type": "object", "properties": {"city": {"type": "string"}}, '
        '"required": ["city"]}}}\n'
        "</tools>\n\nFor each function call, return a json object with function name and arguments within "
        "<tool_call></tool_call> XML tags:\n<tool_call>\n"
        '{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call><|im_end|>\n'
        "<|im_start|>user\nWeather in Paris?<|im_end|>\n"
        "<|im_start|>assistant\n<think>\nI need the weather.\n</think>\n" + CALL + "<|im_end|>\n"
        "<|im_start|>user\n<tool_response>\nsunny, 21C\n</tool_response><|im_end|>\n"
        "<|im_start|>assistant\n<think>\n"
    )
    assert rendered.prefill == "<think>\n"
    assert rendered.stop == QWEN25.stop
    assert "{{" not in rendered.prompt  # single braces (the GGUF template's bug doubles them)


def test_without_system_text_the_default_system_is_used() -> None:
    prompt = render([user("hi")], QWEN25).prompt
    assert prompt.startswith("<|im_start|>system\nYou are Qwen, created by Alibaba Cloud.")
    assert render([user("hi")], QWEN3).prompt == ("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n")


def test_interleaved_blocks_are_written_in_order() -> None:
    turn = Message(
        role="assistant",
        blocks=(
            Thinking(text="first, look it up"),
            ToolCall(id="a", name="get_weather", arguments='{"city": "Paris"}'),
            Thinking(text="then Rome"),
            ToolCall(id="b", name="get_weather", arguments='{"city": "Rome"}'),
            Text(text="Both are sunny."),
        ),
    )
    body = render_assistant(turn.blocks, QWEN3)
    assert body == (
        "<think>\nfirst, look it up\n</think>\n\n"
        + CALL
        + "\n<think>\nthen Rome\n</think>\n\n"
        + CALL.replace("Paris", "Rome")
        + "\nBoth are sunny."
    )
    positions = [body.index(s) for s in ("look it up", "Paris", "then Rome", 'Rome"', "Both")]
    assert positions == sorted(positions)


def test_thinking_from_other_origins_is_written_as_this_models_thinking() -> None:
    anthropic = Thinking(text="Claude's plan", signature="SIG-abc", origin=Origin(dialect="anthropic"))
    conversation = [
        user("q"),
        Message(role="assistant", blocks=(anthropic, Text(text="done"))),
        user("again"),
    ]
    prompt = render(conversation, QWEN3).prompt
    assert "<|im_start|>assistant\n<think>\nClaude's plan\n</think>\n\ndone<|im_end|>" in prompt
    assert "SIG-abc" not in prompt


def test_blocks_a_text_model_cannot_see_are_listed() -> None:
    conversation = [
        Message(role="user", blocks=(Text(text="look"), Image(url="http://x/y.png"))),
        Message(role="assistant", blocks=(RedactedThinking(data="enc"), Text(text="ok"))),
    ]
    rendered = render(conversation, QWEN3)
    assert rendered.skipped == ("user image", "assistant redacted thinking")
    assert "enc" not in rendered.prompt


def test_consecutive_tool_results_share_one_turn() -> None:
    conversation = [
        user("q"),
        assistant("t\n</think>\n\n" + CALL, QWEN3),
        result("call_1", "A"),
        result("x", "B"),
    ]
    prompt = render(conversation, QWEN3).prompt
    assert prompt.endswith(
        "<|im_start|>user\n<tool_response>\nA\n</tool_response>\n<tool_response>\nB\n</tool_response>"
        "<|im_end|>\n<|im_start|>assistant\n"
    )
    error = Message(role="user", blocks=(ToolResult(call_id="call_1", content="boom", is_error=True),))
    assert "<tool_response>\nError: boom\n</tool_response>" in render([user("q"), error], QWEN3).prompt


def test_minimax_and_deepseek_markup() -> None:
    c1 = 'p\n</think>\n\n<minimax:tool_call>\n<invoke name="get_weather">\n<parameter name="city">Oslo'
    c1 += "</parameter>\n</invoke>\n</minimax:tool_call>"
    prompt = render(
        Request(tools=(WEATHER,), messages=(user("q"), assistant(c1, MINIMAX), result("call_1", "rain"))),
        MINIMAX,
    ).prompt
    assert prompt.startswith("]~!b[]~b]system\nYou are a helpful assistant.\n\n# Tools\n")
    assert '<tool>{"name": "get_weather"' in prompt
    assert prompt.endswith(
        "]~b]user\nq[e~[\n]~b]ai\n<think>\n" + c1 + "[e~[\n]~b]tool\n<response>rain</response>[e~[\n"
        "]~b]ai\n<think>\n"
    )
    prompt = render([user("2+2?"), assistant("easy\n</think>\n\n4", DEEPSEEK), user("3+3?")], DEEPSEEK).prompt
    assert prompt == (
        "<｜begin▁of▁sentence｜><｜User｜>2+2?<｜Assistant｜><think>\neasy\n</think>\n\n4"  # noqa: RUF001
        "<｜end▁of▁sentence｜><｜User｜>3+3?<｜Assistant｜><think>\n"  # noqa: RUF001
    )


# --- the prefix property -------------------------------------------------------------------------


def test_a_tool_loop_under_keep_extends_the_prompt_every_turn() -> None:
    completions = [
        "Look it up.\n</think>\n" + CALL,
        "Paris is sunny; check Rome too.\n</think>\n" + CALL.replace("Paris", "Rome"),
        "Both known.\n</think>\nParis and Rome are sunny.",
    ]
    conversation: list[Message] = [user("Weather in Paris and Rome?")]
    prompts: list[str] = []
    for n, completion in enumerate(completions):
        prompt = render(Request(tools=(WEATHER,), messages=tuple(conversation)), QWEN25).prompt
        if prompts:
            assert prompt.startswith(prompts[-1])
        prompts.append(prompt + completion)
        conversation += [assistant(completion, QWEN25, f"call_{n}"), result(f"call_{n}", "sunny")]
    # every earlier thinking block is still in the last prompt, in order
    last = prompts[-1]
    assert last.index("Look it up.") < last.index("check Rome too.") < last.index("Both known.")


@pytest.mark.parametrize("policy", ["current-turn", "discard"])
def test_stripping_earlier_thinking_breaks_the_prefix(policy: Policy) -> None:
    c1 = "The user greets me.\n</think>\nHello!"
    turn1 = [user("hi")]
    turn2 = [*turn1, assistant(c1, QWEN25), user("how are you?")]
    keep1, keep2 = render(turn1, QWEN25).prompt, render(turn2, QWEN25).prompt
    assert keep2.startswith(keep1 + c1)
    stripped1 = render(turn1, QWEN25, policy).prompt
    stripped2 = render(turn2, QWEN25, policy)
    assert stripped1 == keep1  # nothing to strip yet
    assert not stripped2.prompt.startswith(stripped1 + c1)  # Qwen3's template does this: cache lost
    assert "The user greets me." not in stripped2.prompt
    assert stripped2.policy.removed_blocks == 1


def test_current_turn_keeps_the_prefix_inside_one_tool_loop_only() -> None:
    c1 = "Look it up.\n</think>\n" + CALL
    loop = [user("Weather?"), assistant(c1, QWEN25), result("call_1", "sunny")]
    before = render(loop[:1], QWEN25, "current-turn").prompt
    assert render(loop, QWEN25, "current-turn").prompt.startswith(before + c1)


@pytest.mark.parametrize("template", list(TEMPLATES.values()), ids=list(TEMPLATES))
def test_a_turn_with_thinking_off_is_written_back_after_the_empty_think_element(
    template: ChatTemplate,
) -> None:
    off = template.no_think_prefill
    assert off == template.think.open + "\n\n" + template.think.close + template.think.after
    before = render([user("hi")], template, prefill=off)
    assert before.prefill == off
    assert before.prompt.endswith(template.markup.assistant_header + off)
    completion = "Hello!"
    turn = parse_completion(completion, template, tools=(WEATHER,), think=False)
    [text] = turn.blocks  # no empty thinking block
    assert isinstance(text, Text)
    assert text.extra == {"local": {"no_think": True}}
    assert render_assistant(turn.blocks, template) == off + completion
    conversation = [user("hi"), Message(role="assistant", blocks=turn.blocks), user("more")]
    assert render(conversation, template).prompt.startswith(before.prompt + completion)
    # a client that drops the record: a template that always opens the thinking knows a turn
    # with none was generated after the empty element; one with native thinking cannot tell
    bare = Message(role="assistant", blocks=(Text(text=completion),))
    again = render([user("hi"), bare, user("more")], template).prompt
    forced = template.prefill.startswith(template.think.open)
    assert again.startswith(before.prompt + completion) is forced
    assert (
        render([user("hi"), bare, user("more")], template, "discard").prompt.startswith(before.prompt)
        is False
    )


def test_qwen3_with_thinking_off_is_what_its_template_writes() -> None:
    # Qwen/Qwen3-8B tokenizer_config.json, add_generation_prompt with enable_thinking=False
    assert render([user("hi")], QWEN3, prefill=QWEN3.no_think_prefill).prompt == (
        "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
    )
    # ... and an assistant turn after the last user message, with empty reasoning_content
    turn = parse_completion("Hello!", QWEN3, think=False)
    assert render_assistant(turn.blocks, QWEN3) == "<think>\n\n</think>\n\nHello!"


def test_a_budgeted_turn_opens_the_thinking_in_its_prefill() -> None:
    assert QWEN25.thinking_prefill == QWEN25.prefill == "<think>\n"
    assert QWEN3.thinking_prefill == "<think>\n"  # Qwen3 opens its own; under a budget the engine does
    completion = "cut short\n</think>\n\nAnswer."
    before = render([user("q")], QWEN3, prefill=QWEN3.thinking_prefill)
    turn = parse_completion(completion, QWEN3, prefill=QWEN3.thinking_prefill)
    assert [type(b) for b in turn.blocks] == [Thinking, Text]
    after = render([user("q"), Message(role="assistant", blocks=turn.blocks), user("r")], QWEN3)
    assert after.prompt.startswith(before.prompt + completion)


BARE_QWEN25 = msgspec.structs.replace(QWEN25_THINK, bare_calls=True)
PIECES = [
    "a",
    "Paris",
    " ",
    "\n",
    "\n\n",
    "<think>",
    "</think>",
    "</think>\n",
    "<tool_c",
    CALL,
    "<tool_call>{oops}</tool_call>",
    '<tool_call>{"arguments": {"city": "Oslo"}, "name": "get_weather"}</tool_call>',
    '{"name": "get_weather", "arguments": {"city": "Oslo"}}',
    '{"name":"get_weather","arguments":{}}',
    "<minimax:tool_call>",
    '<invoke name="get_weather">\n<parameter name="city">7</parameter>\n</invoke>\n',
    '<invoke name="get_weather"><parameter name="city"> x </parameter></invoke>',
    "</minimax:tool_call>",
    "思考",
]
completions = st.lists(st.sampled_from(PIECES) | st.text(max_size=4), max_size=10).map("".join)
words = st.text(alphabet="abc \n思", min_size=1, max_size=12)
other_thinking = st.builds(
    Thinking, text=words, signature=st.none() | st.just("SIG"), origin=st.just(Origin(dialect="anthropic"))
)


MODES = ("template", "off", "budget")
"""The prefill of a generated turn: the template's, thinking off, or under a thinking budget."""


def prefill_of(template: ChatTemplate, mode: str) -> str:
    return {
        "template": template.prefill,
        "off": template.no_think_prefill,
        "budget": template.thinking_prefill,
    }[mode]


@st.composite
def conversations(draw: st.DrawFn, template: ChatTemplate) -> tuple[list[Message], str]:
    """Earlier turns (parsed from generated completions, or from elsewhere) and the next completion."""
    counter = itertools.count()
    conversation = [user(draw(words))]
    for _ in range(draw(st.integers(0, 3))):
        if draw(st.booleans()):
            mode = draw(st.sampled_from(MODES))
            parsed = parse_completion(
                draw(completions),
                template,
                tools=(WEATHER,),
                new_id=lambda: f"c{next(counter)}",
                prefill=prefill_of(template, mode) if mode != "off" else None,
                think=mode != "off",
            )
            conversation.append(Message(role="assistant", blocks=parsed.blocks))
            calls: tuple[ToolCall, ...] = parsed.tool_calls
        else:
            conversation.append(
                Message(role="assistant", blocks=(draw(other_thinking), Text(text=draw(words))))
            )
            calls = ()
        answer_calls: bool = draw(st.booleans())
        if calls and answer_calls:
            conversation += [result(c.id, draw(words)) for c in calls]
        else:
            conversation.append(user(draw(words)))
    return conversation, draw(completions)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(), template=st.sampled_from([*TEMPLATES.values(), BARE_QWEN25]), mode=st.sampled_from(MODES)
)
def test_writing_back_a_generated_turn_reproduces_its_bytes(
    data: st.DataObject, template: ChatTemplate, mode: str
) -> None:
    conversation, completion = data.draw(conversations(template))
    assume(mode != "off" or completion)  # an empty turn with thinking off has no block to mark
    prefill = prefill_of(template, mode)
    request = Request(system=(Text(text="sys"),), tools=(WEATHER,), messages=tuple(conversation))
    before = render(request, template, prefill=prefill).prompt
    assert before.endswith(template.markup.assistant_header + prefill)
    turn = parse_completion(
        completion,
        template,
        tools=(WEATHER,),
        new_id=lambda: "next",
        prefill=prefill if mode != "off" else None,
        think=mode != "off",
    )
    after = Request(
        system=request.system,
        tools=request.tools,
        messages=(*conversation, Message(role="assistant", blocks=turn.blocks)),
    )
    assert render(after, template).prompt.startswith(before + completion)
    assert render_assistant(turn.blocks, template, tools=(WEATHER,)) == prefill + completion
    if mode == "off" and "<think>" not in completion:
        assert not any(isinstance(b, Thinking) for b in turn.blocks)


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_the_system_part_is_the_prompts_beginning_and_the_same_for_every_turn(name: str) -> None:
    template = TEMPLATES[name]
    tool = WEATHER
    first = render(Request(messages=(user("Hi"),), tools=(tool,)), template)
    other = render(Request(messages=(user("Something else"),), tools=(tool,)), template)
    later = render(
        Request(
            messages=(user("Hi"), Message(role="assistant", blocks=(Text(text="Hello."),)), user("Bye")),
            tools=(tool,),
        ),
        template,
    )
    assert first.system
    assert first.system.endswith(template.markup.system_footer)
    assert template.markup.user_header not in first.system
    for rendered in (first, other, later):
        assert rendered.system == first.system
        assert rendered.prompt.startswith(rendered.system)
        assert rendered.prompt[len(rendered.system) :].startswith(template.markup.user_header)


def test_no_system_section_no_system_part() -> None:
    bare = msgspec.structs.replace(QWEN25, default_system=None, think_instruction="")
    rendered = render(Request(messages=(user("Hi"),)), bare)
    assert rendered.system == ""
    assert rendered.prompt.startswith(bare.markup.user_header)
