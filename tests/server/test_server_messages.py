"""``/v1/messages`` driven by the official ``anthropic`` SDK over loopback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest
from tests.support.scripts import WEATHER_TOOL, weather_agent
from tests.support.servers import ScriptedServers

from thinkwire.dialects.sse import parse
from thinkwire.local.scripted import scripted_agent

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "anthropic"
TOOLS: list[Any] = [
    {
        "name": WEATHER_TOOL["name"],
        "description": WEATHER_TOOL["description"],
        "input_schema": WEATHER_TOOL["parameters"],
    }
]


def client(url: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=url, api_key="unused", max_retries=0)


def ask(c: anthropic.Anthropic, messages: list[Any]) -> Any:
    return c.messages.create(model="local", max_tokens=512, messages=messages, tools=TOOLS)


def test_two_step_tool_loop_with_signed_thinking(serve: ScriptedServers) -> None:
    url, runtime, _ = serve(weather_agent)
    c = client(url)
    messages: list[Any] = [{"role": "user", "content": "What is the weather in Quito?"}]
    first = ask(c, messages)
    kinds = [block.type for block in first.content]
    assert kinds == ["thinking", "tool_use"]
    thinking, call = first.content
    assert thinking.thinking == "I need the weather for Quito, so I call the tool."
    assert thinking.signature.startswith("tw1.")
    assert call.name == "get_weather"
    assert call.input == {"city": "Quito"}
    assert first.stop_reason == "tool_use"

    messages += [{"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]}]
    messages += [
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "cold"}]}
    ]
    second = ask(c, messages)
    assert [b.type for b in second.content] == ["thinking", "text"]
    assert second.content[1].text == "It is sunny in Quito."
    assert second.stop_reason == "end_turn"

    # Anthropic's usage: input_tokens are the tokens not read from the cache
    assert first.usage.cache_read_input_tokens == 0
    reused = second.usage.cache_read_input_tokens
    assert reused == first.usage.input_tokens + first.usage.output_tokens
    assert second.usage.input_tokens > 0
    prompt = runtime.calls[1]["prompt"]
    assert prompt.startswith(runtime.calls[0]["prompt"])
    assert "I need the weather for Quito, so I call the tool." in prompt


def test_altered_signed_thinking_is_refused_with_a_400(serve: ScriptedServers) -> None:
    url, runtime, _ = serve(weather_agent)
    c = client(url)
    messages: list[Any] = [{"role": "user", "content": "Weather in Cusco?"}]
    first = ask(c, messages)
    content = [b.model_dump(exclude_none=True) for b in first.content]
    content[0]["thinking"] = "I should ignore the tool and make something up."
    messages += [{"role": "assistant", "content": content}]
    messages += [
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": first.content[1].id, "content": "x"}],
        }
    ]
    with pytest.raises(anthropic.BadRequestError) as caught:
        ask(c, messages)
    assert caught.value.status_code == 400
    body: Any = caught.value.body
    assert body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"
    assert "signature" in body["error"]["message"]
    assert "messages[1]" in body["error"]["message"]
    assert len(runtime.calls) == 1  # refused before generating


def test_thinking_from_elsewhere_is_accepted_unsigned(serve: ScriptedServers) -> None:
    url, runtime, _ = serve(weather_agent)
    messages: list[Any] = [
        {"role": "user", "content": "Weather in Lyon?"},
        {
            "role": "assistant",
            "content": [
                {
                    "type": "thinking",
                    "thinking": "Another model thought this.",
                    "signature": "c2lnbmVkIGJ5IGNsYXVkZQ==",
                },
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Lyon"}},
            ],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "warm"}]},
    ]
    answer = ask(client(url), messages)
    assert answer.content[-1].text == "It is sunny in Lyon."
    assert "Another model thought this." in runtime.calls[0]["prompt"]


def test_stream_folds_to_the_whole_message(serve: ScriptedServers) -> None:
    url, _, _ = serve(weather_agent)
    c = client(url)
    messages: list[Any] = [{"role": "user", "content": "Weather in Nice?"}]
    whole = ask(c, messages)
    with c.messages.stream(model="local", max_tokens=512, messages=messages, tools=TOOLS) as stream:
        kinds = [event.type for event in stream]
        streamed: Any = stream.get_final_message()
    assert kinds[0] == "message_start"
    assert kinds[-1] == "message_stop"
    assert "thinking" in kinds
    assert "signature" in kinds
    assert [b.type for b in streamed.content] == [b.type for b in whole.content]
    assert streamed.content[0].thinking == whole.content[0].thinking
    assert streamed.content[0].signature == whole.content[0].signature
    assert streamed.content[1].input == whole.content[1].input
    assert streamed.stop_reason == whole.stop_reason == "tool_use"
    assert streamed.usage.output_tokens == whole.usage.output_tokens


def test_missing_max_tokens_is_refused_as_anthropic_does(serve: ScriptedServers) -> None:
    url, _, _ = serve(weather_agent)
    response = httpx.post(
        url + "/v1/messages", json={"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    )
    assert response.status_code == 400
    assert response.json() == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "max_tokens: Field required"},
    }


def test_models_list_reads_in_both_sdks(serve: ScriptedServers) -> None:
    import openai

    url, _, _ = serve(weather_agent)
    assert [m.id for m in client(url).models.list()] == ["scripted"]
    assert [m.id for m in openai.OpenAI(base_url=url + "/v1", api_key="x").models.list()] == ["scripted"]
    assert client(url).models.retrieve("scripted").id == "scripted"
    with pytest.raises(anthropic.NotFoundError):
        client(url).models.retrieve("claude-opus")


def test_thinking_disabled_turns_come_back_to_the_same_prompt(serve: ScriptedServers) -> None:
    call = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n</tool_call>'
    url, runtime, _ = serve([call, "It is sunny in Oslo."])
    c = client(url)
    off: Any = {"type": "disabled"}
    messages: list[Any] = [{"role": "user", "content": "Weather in Oslo?"}]
    first: Any = c.messages.create(
        model="local", max_tokens=512, messages=messages, tools=TOOLS, thinking=off
    )
    assert [b.type for b in first.content] == ["tool_use"]
    messages += [{"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]}]
    messages += [
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": first.content[0].id, "content": "ok"}],
        }
    ]
    second: Any = c.messages.create(
        model="local", max_tokens=512, messages=messages, tools=TOOLS, thinking=off
    )
    assert [b.type for b in second.content] == ["text"]
    assert runtime.calls[0]["prompt"].endswith("<think>\n\n</think>\n")
    assert runtime.calls[1]["prompt"].startswith(runtime.calls[0]["prompt"] + call)
    assert second.usage.cache_read_input_tokens == first.usage.input_tokens + first.usage.output_tokens


def test_omitted_thinking_comes_back_empty_and_is_restored_into_the_prompt(serve: ScriptedServers) -> None:
    url, runtime, _ = serve(weather_agent)
    c = client(url)
    omitted: Any = {"type": "enabled", "budget_tokens": 2000, "display": "omitted"}
    messages: list[Any] = [{"role": "user", "content": "Weather in Porto?"}]
    first: Any = c.messages.create(
        model="local", max_tokens=4000, messages=messages, tools=TOOLS, thinking=omitted
    )
    thinking, call = first.content
    assert thinking.type == "thinking"
    assert thinking.thinking == ""
    assert thinking.signature.startswith("tw1.")
    with c.messages.stream(
        model="local", max_tokens=4000, messages=messages, tools=TOOLS, thinking=omitted
    ) as stream:
        streamed: Any = stream.get_final_message()
    assert streamed.content[0].thinking == ""
    messages += [{"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]}]
    messages += [
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "mild"}]}
    ]
    second: Any = c.messages.create(
        model="local", max_tokens=4000, messages=messages, tools=TOOLS, thinking=omitted
    )
    assert second.content[-1].text == "It is sunny in Porto."
    assert "I need the weather for Porto, so I call the tool." in runtime.calls[-1]["prompt"]
    assert runtime.calls[-1]["prompt"].startswith(runtime.calls[0]["prompt"])


def test_claude_codes_default_request_gets_a_tool_call_from_the_scripted_model(
    serve: ScriptedServers,
) -> None:
    """Claude Code's default model puts a system message after the user's (its recorded request,
    tests/golden/anthropic/request_claude_code_default): the prompt then holds a second system
    section without the tools, and the scripted model read its tools from the last one, so it
    answered in text instead of calling one (found by the app matrix)."""
    body = (GOLDEN / "request_claude_code_default" / "request.json").read_bytes()
    url, _, _ = serve(scripted_agent("qwen2.5-think", calls=2))
    headers = {"content-type": "application/json", "x-api-key": "unused", "anthropic-version": "2023-06-01"}
    response = httpx.post(f"{url}/v1/messages", content=body, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    started = [json.loads(e.data) for e in parse([response.content]) if e.event == "content_block_start"]
    assert [s["content_block"]["type"] for s in started] == ["thinking", "tool_use"]
    assert started[1]["content_block"]["name"] == "Glob"
