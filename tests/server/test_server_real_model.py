"""The real default model behind the real server, driven by both SDKs (marked ``model``).

One engine is loaded for the module (~7 s), on the default template (what ``thinkwire serve``
runs). Each test runs a two-step tool loop through an SDK and checks what a client can check:
a well-formed call, thinking returned in the dialect's place, and turn 2 processing only its
new tokens — the cache reuse reported where each dialect's clients look for it.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
from tests.support.apps import sqlite_state, stateful_app
from tests.support.scripts import WEATHER_TOOL

from thinkwire.asgi.serving import serving
from thinkwire.local.engine import LocalEngine
from thinkwire.local.service import EngineService
from thinkwire.local.templates import DEFAULT_TEMPLATE

pytestmark = pytest.mark.model
TASK = "What is the weather in Paris right now? Use the tool."
RESULT = "Paris: 18 C, light rain."


@pytest.fixture(scope="module")
def url(default_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    path = default_model
    engine = LocalEngine(path, DEFAULT_TEMPLATE, secret=secrets.token_bytes(32), max_tokens=200)
    state = sqlite_state(tmp_path_factory.mktemp("state") / "state.db")
    app, _ = stateful_app(EngineService(engine), state)
    with serving(app, start_timeout=60) as base:
        yield base


def test_openai_chat_tool_loop_reuses_the_cache(url: str) -> None:
    c = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0, timeout=600)
    tools: Any = [{"type": "function", "function": WEATHER_TOOL}]
    messages: list[Any] = [{"role": "user", "content": TASK}]
    first: Any = c.chat.completions.create(
        model="local", messages=messages, tools=tools, seed=7, temperature=0
    )
    message = first.choices[0].message
    assert message.model_extra["reasoning_content"].strip()
    assert message.tool_calls, f"no tool call: {message}"
    assert message.tool_calls[0].function.name == "get_weather"
    messages += [message.model_dump(exclude_none=True)]
    messages += [{"role": "tool", "tool_call_id": message.tool_calls[0].id, "content": RESULT}]
    second: Any = c.chat.completions.create(
        model="local", messages=messages, tools=tools, seed=7, temperature=0
    )
    cached = second.usage.prompt_tokens_details.cached_tokens
    assert cached >= first.usage.prompt_tokens, (cached, first.usage)
    assert second.usage.prompt_tokens - cached < 80  # only the tool result and the new turn's header
    answer = second.choices[0].message
    assert second.choices[0].finish_reason == "stop", answer
    assert answer.content, answer
    assert '{"' not in answer.content  # an answer in words, not a call written as JSON


def test_anthropic_tool_loop_reuses_the_cache_and_refuses_an_altered_signature(url: str) -> None:
    c = anthropic.Anthropic(base_url=url, api_key="unused", max_retries=0, timeout=600)
    tools: Any = [
        {
            "name": "get_weather",
            "description": WEATHER_TOOL["description"],
            "input_schema": WEATHER_TOOL["parameters"],
        }
    ]
    messages: list[Any] = [{"role": "user", "content": TASK}]
    first: Any = c.messages.create(
        model="local", max_tokens=200, messages=messages, tools=tools, extra_body={"temperature": 0}
    )
    assert [b.type for b in first.content][:1] == ["thinking"]
    assert first.content[0].signature.startswith("tw1.")
    calls = [b for b in first.content if b.type == "tool_use"]
    assert calls, f"no tool call: {first.content}"
    turn = [b.model_dump(exclude_none=True) for b in first.content]
    result: Any = {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": calls[0].id, "content": RESULT}],
    }
    second: Any = c.messages.create(
        model="local",
        max_tokens=200,
        messages=[*messages, {"role": "assistant", "content": turn}, result],
        tools=tools,
        extra_body={"temperature": 0},
    )
    assert second.usage.cache_read_input_tokens >= first.usage.input_tokens
    assert second.usage.input_tokens < 80
    assert second.stop_reason == "end_turn", second.content
    assert [b.type for b in second.content][-1] == "text"

    turn[0]["thinking"] += " (edited)"
    with pytest.raises(anthropic.BadRequestError, match="signature"):
        c.messages.create(
            model="local",
            max_tokens=200,
            messages=[*messages, {"role": "assistant", "content": turn}, result],
            tools=tools,
        )


def test_responses_previous_response_id_reuses_the_cache(url: str) -> None:
    c = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0, timeout=600)
    tools: Any = [{"type": "function", **WEATHER_TOOL}]
    first: Any = c.responses.create(model="local", input=TASK, tools=tools, temperature=0)
    assert first.output[0].type == "reasoning"
    calls = [item for item in first.output if item.type == "function_call"]
    assert calls, f"no tool call: {first.output}"
    second: Any = c.responses.create(
        model="local",
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": calls[0].call_id, "output": RESULT}],
        tools=tools,
        temperature=0,
    )
    cached = second.usage.input_tokens_details.cached_tokens
    assert cached >= first.usage.input_tokens
    assert second.usage.input_tokens - cached < 80
    assert second.output_text, second.output
