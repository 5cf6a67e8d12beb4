"""The scripted model imitates llama.cpp closely enough for the server's tests to mean something."""

from __future__ import annotations

from typing import Any

import pytest

from thinkwire.ir import Message, Request, Response, Text, ThinkingConfig, Tool, ToolCall, ToolResult
from thinkwire.ir.blocks import Thinking
from thinkwire.local.render import render
from thinkwire.local.scripted import ScriptedRuntime, prompt_view, scripted_agent, scripted_engine, tokens
from thinkwire.local.templates import get_template
from thinkwire.policy import Policy
from thinkwire.scripted import CODE_WORD

REPLY = "Some careful thought here.\n</think>\nThe answer is 4."


def test_tokens_join_back_to_the_text() -> None:
    text = 'Hello, world!\n\n  <tool_call>{"a": 1}'
    assert "".join(tokens(text)) == text
    assert tokens("ab, cd") == ["ab", ",", " ", "cd"]


def test_stop_strings_and_the_token_budget() -> None:
    runtime = ScriptedRuntime([REPLY])
    stopped = runtime.complete({"prompt": "p", "stop": ["</think>"]})
    assert stopped["choices"][0] == {
        "index": 0,
        "text": "Some careful thought here.\n",
        "finish_reason": "stop",
    }
    cut = runtime.complete({"prompt": "p", "n_predict": 3})
    assert cut["choices"][0]["text"] == "Some careful"
    assert cut["choices"][0]["finish_reason"] == "length"
    assert cut["usage"]["completion_tokens"] == 3


def test_the_runtime_keeps_only_the_last_calls_it_was_asked_to() -> None:
    """Each call holds a whole prompt: ``serve --model scripted`` keeps none (it kept every one)."""
    kept = ScriptedRuntime([REPLY], record=2)
    for prompt in ("a", "b", "c"):
        kept.complete({"prompt": prompt})
    assert [call["prompt"] for call in kept.calls] == ["b", "c"]
    served = ScriptedRuntime([REPLY], record=0)
    served.complete({"prompt": "a"})
    assert served.calls == []


def test_the_prompt_cache_counts_the_shared_prefix_with_the_last_prompt_and_completion() -> None:
    runtime = ScriptedRuntime(["one two", "three"])
    first = runtime.complete({"prompt": "a b c "})
    assert first["timings"] == {"cache_n": 0, "prompt_n": 6, "predicted_n": 3}
    second = runtime.complete({"prompt": "a b c one two and more"})
    assert second["timings"]["cache_n"] == len(tokens("a b c one two"))
    unrelated = runtime.complete({"prompt": "z"})
    assert unrelated["timings"]["cache_n"] == 0


def test_a_stream_stops_when_the_callback_says_so() -> None:
    runtime = ScriptedRuntime([REPLY])
    seen: list[dict[str, Any]] = []

    def on_chunk(chunk: dict[str, Any]) -> bool:
        seen.append(chunk)
        return len(seen) == 3

    runtime.stream({"prompt": "p"}, on_chunk)
    assert len(seen) == 3
    assert runtime.cancelled == 1


def test_a_thinking_budget_gets_the_rest_of_the_same_reply() -> None:
    engine, runtime = scripted_engine([REPLY, "never used"])
    ask = Message(role="user", blocks=(Text(text="2+2?"),))
    out = engine.complete(Request(messages=(ask,), thinking=ThinkingConfig(mode="enabled", budget_tokens=3)))
    thinking, answer = out.response.blocks
    assert isinstance(thinking, Thinking)
    assert thinking.text == "Some careful"  # cut at the budget, then closed by the engine
    assert answer == Text(text="The answer is 4.")
    assert len(runtime.calls) == 2


WEATHER = Tool(
    name="get_weather",
    description="The weather in a city.",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
CLOCK = Tool(name="get_time", description="The time.", parameters={"type": "object", "properties": {}})


def loop(policy: Policy, calls: int) -> list[Response]:
    """One user turn through the real engine on the scripted agent, every turn sent back whole."""
    engine, _ = scripted_engine(scripted_agent("qwen2.5-think", calls=calls))
    messages: list[Message] = [Message(role="user", blocks=(Text(text="What is the weather in Oslo?"),))]
    replies: list[Response] = []
    for _ in range(calls + 2):
        request = Request(model="scripted", messages=tuple(messages), tools=(WEATHER, CLOCK))
        reply = engine.complete(request, policy=policy).response
        replies.append(reply)
        messages.append(reply.to_message())
        called = [b for b in reply.blocks if isinstance(b, ToolCall)]
        if not called:
            break
        messages.append(Message(role="user", blocks=(ToolResult(call_id=called[0].id, content="sunny"),)))
    return replies


def test_the_prompt_reads_back_into_the_conversation_it_was_rendered_from() -> None:
    call = ToolCall(id="toolu_x", name="get_weather", arguments='{"city": "Oslo"}')
    conversation = Request(
        messages=(
            Message(role="user", blocks=(Text(text="What is the weather in Oslo?"),)),
            Message(role="assistant", blocks=(Thinking(text="I will look it up."), call)),
            Message(role="user", blocks=(ToolResult(call_id="toolu_x", content="sunny"),)),
        ),
        tools=(WEATHER, CLOCK),
    )
    template = get_template("qwen2.5-think")
    view = prompt_view(render(conversation, template).prompt, template)
    assert view.tools == (WEATHER, CLOCK)
    user, turn, result = view.messages
    assert user.blocks == (Text(text="What is the weather in Oslo?"),)
    assert [type(b) for b in turn.blocks] == [Thinking, ToolCall]
    assert isinstance(turn.blocks[0], Thinking)
    assert turn.blocks[0].text == "I will look it up."
    read_call = turn.blocks[1]
    assert isinstance(read_call, ToolCall)
    assert (read_call.name, read_call.parsed_arguments()) == ("get_weather", {"city": "Oslo"})
    assert result.blocks == (ToolResult(call_id=read_call.id, content="sunny"),)


def test_a_later_system_message_leaves_the_tools_in_view() -> None:
    """Claude Code's default model sends a system message after the user's (a reminder): it is
    rendered as a second system section, without the tools, and the model still has them."""
    reminder = Message(role="system", blocks=(Text(text="<system-reminder>Be brief.</system-reminder>"),))
    asked = Message(role="user", blocks=(Text(text="What is the weather in Oslo?"),))
    conversation = Request(messages=(asked, reminder), tools=(WEATHER, CLOCK))
    template = get_template("qwen2.5-think")
    view = prompt_view(render(conversation, template).prompt, template)
    assert view.tools == (WEATHER, CLOCK)
    assert view.messages[0] == asked


@pytest.mark.parametrize("calls", [1, 2])
def test_serves_scripted_model_calls_as_asked_and_recalls_its_note_only_when_it_sees_its_thinking(
    calls: int,
) -> None:
    kept = loop("keep", calls)
    assert [len([b for b in r.blocks if isinstance(b, ToolCall)]) for r in kept] == [1] * calls + [0]
    noted = CODE_WORD.search(kept[0].blocks[0].text)  # type: ignore[union-attr]
    assert noted is not None
    answer = kept[-1].blocks[-1]
    assert isinstance(answer, Text)
    assert answer.text.endswith(f"The code word I noted was {noted.group(1)}.")
    discarded = loop("discard", calls)[-1].blocks[-1]
    assert isinstance(discarded, Text)
    assert discarded.text.endswith("I have no note of a code word.")


def test_settling_the_cache_uses_up_no_reply() -> None:
    """A seeded first turn first sends the system part with ``n_predict`` 0 (twice): the script's
    first reply is still the turn's."""
    engine, runtime = scripted_engine([REPLY, "never used"])
    ask = Message(role="user", blocks=(Text(text="2+2?"),))
    out = engine.complete(Request(messages=(ask,)), seed=3)
    assert [c["n_predict"] for c in runtime.calls][:2] == [0, 0]
    assert len(runtime.calls) == 3
    assert out.response.blocks[-1] == Text(text="The answer is 4.")
