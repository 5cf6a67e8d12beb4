"""The scripted model imitates llama.cpp closely enough for the server's tests to mean something."""

from __future__ import annotations

from typing import Any

from thinkwire.ir import Message, Request, Text, ThinkingConfig
from thinkwire.ir.blocks import Thinking
from thinkwire.local.scripted import ScriptedRuntime, scripted_engine, tokens

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
