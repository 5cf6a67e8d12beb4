"""``/v1/chat/completions`` driven by the official ``openai`` SDK over loopback."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest
from tests.support.scripts import WEATHER_TOOL, weather_agent
from tests.support.servers import ScriptedServers

TOOLS: list[Any] = [{"type": "function", "function": WEATHER_TOOL}]


def client(url: str, **headers: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0, default_headers=headers)


def test_two_step_tool_loop_keeps_thinking_and_reuses_the_prefix(serve: ScriptedServers) -> None:
    url, runtime, _ = serve(weather_agent)
    c = client(url)
    messages: list[Any] = [{"role": "user", "content": "What is the weather in Oslo?"}]
    first: Any = c.chat.completions.create(model="local", messages=messages, tools=TOOLS)
    message = first.choices[0].message
    assert first.choices[0].finish_reason == "tool_calls"
    assert message.model_extra is not None
    assert message.model_extra["reasoning_content"] == "I need the weather for Oslo, so I call the tool."
    assert message.tool_calls is not None
    assert message.tool_calls[0].function.name == "get_weather"
    assert message.tool_calls[0].function.arguments == '{"city": "Oslo"}'

    # the SDK's own message object goes back as it came, reasoning_content included
    messages += [message.model_dump(exclude_none=True)]
    messages += [{"role": "tool", "tool_call_id": message.tool_calls[0].id, "content": "sunny, 21 C"}]
    second: Any = c.chat.completions.create(model="local", messages=messages, tools=TOOLS)
    assert second.choices[0].message.content == "It is sunny in Oslo."
    assert second.choices[0].finish_reason == "stop"

    # the model saw its earlier thinking, and turn 2's prompt extends turn 1's prompt + output
    one, two = runtime.calls[0]["prompt"], runtime.calls[1]["prompt"]
    assert "I need the weather for Oslo, so I call the tool." in two
    assert first.usage is not None
    assert second.usage is not None
    assert first.usage.prompt_tokens_details is not None
    assert first.usage.prompt_tokens_details.cached_tokens == 0
    assert second.usage.prompt_tokens_details is not None
    reused = second.usage.prompt_tokens_details.cached_tokens
    assert reused == first.usage.prompt_tokens + first.usage.completion_tokens
    assert two.startswith(one)


@pytest.mark.parametrize("carrier", ["reasoning_content", "reasoning", "reasoning_details", "think-tags"])
def test_every_carrier_goes_out_and_comes_back_to_the_same_prompt(
    serve: ScriptedServers, carrier: str
) -> None:
    url, runtime, _ = serve(weather_agent)
    c = client(url, **{"thinkwire-carrier": carrier})
    messages: list[Any] = [{"role": "user", "content": "Weather in Lima?"}]
    first: Any = c.chat.completions.create(model="local", messages=messages, tools=TOOLS)
    message = first.choices[0].message
    extra = message.model_extra or {}
    if carrier == "think-tags":
        assert message.content is not None
        assert message.content.startswith("<think>I need the weather")
    elif carrier == "reasoning_details":
        details = extra["reasoning_details"]
        assert details[0]["text"].startswith("I need the weather")
        assert details[-1]["signature"].startswith("tw1.")
    else:
        assert extra[carrier].startswith("I need the weather")
    assert message.tool_calls is not None
    messages += [message.model_dump(exclude_none=True)]
    messages += [{"role": "tool", "tool_call_id": message.tool_calls[0].id, "content": "rain"}]
    c.chat.completions.create(model="local", messages=messages, tools=TOOLS)
    assert runtime.calls[1]["prompt"].startswith(runtime.calls[0]["prompt"])


def test_stream_and_whole_response_agree(serve: ScriptedServers) -> None:
    url, _, _ = serve(weather_agent)
    c = client(url)
    messages: list[Any] = [{"role": "user", "content": "Weather in Rome?"}]
    whole: Any = c.chat.completions.create(model="local", messages=messages, tools=TOOLS, seed=1)
    reasoning: list[str] = []
    calls: dict[int, dict[str, str]] = {}
    finish, usage = None, None
    for chunk in c.chat.completions.create(
        model="local",
        messages=messages,
        tools=TOOLS,
        seed=1,
        stream=True,
        stream_options={"include_usage": True},
    ):
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            reasoning.append((choice.delta.model_extra or {}).get("reasoning_content") or "")
            for call in choice.delta.tool_calls or ():
                entry = calls.setdefault(call.index, {"name": "", "arguments": ""})
                if call.function is not None:
                    entry["name"] += call.function.name or ""
                    entry["arguments"] += call.function.arguments or ""
            finish = choice.finish_reason or finish
    message = whole.choices[0].message
    assert "".join(reasoning) == (message.model_extra or {})["reasoning_content"]
    assert message.tool_calls is not None
    assert calls == {0: {"name": "get_weather", "arguments": message.tool_calls[0].function.arguments}}
    assert finish == whole.choices[0].finish_reason == "tool_calls"
    assert usage is not None
    assert whole.usage is not None
    assert usage.completion_tokens == whole.usage.completion_tokens


def test_a_stream_without_include_usage_has_no_usage_chunk(serve: ScriptedServers) -> None:
    url, _, _ = serve(weather_agent)
    chunks = list(
        client(url).chat.completions.create(
            model="local", messages=[{"role": "user", "content": "Weather in Bern?"}], stream=True
        )
    )
    assert chunks
    assert all(chunk.choices for chunk in chunks)
    assert all(chunk.usage is None for chunk in chunks)


@pytest.mark.parametrize(
    ("body", "param", "words"),
    [
        ({"model": "m", "messages": []}, "messages", "at least one message"),
        ({"model": "m", "messages": [{"role": "user", "content": "hi"}], "n": 2}, "n", "n=1"),
        ({"model": "m", "messages": [{"role": "user", "content": 5}]}, "messages[0].content", "content"),
        ({"model": "m", "messages": [{"role": "user", "content": "hi"}], "seed": "x"}, "seed", "integer"),
    ],
)
def test_bad_requests_get_a_400_that_says_where(
    serve: ScriptedServers, body: dict[str, Any], param: str, words: str
) -> None:
    url, runtime, _ = serve(weather_agent)
    response = httpx.post(url + "/v1/chat/completions", json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert words in error["message"]
    assert runtime.calls == []


def test_unknown_carrier_header_is_refused(serve: ScriptedServers) -> None:
    url, _, _ = serve(weather_agent)
    with pytest.raises(openai.BadRequestError, match="thinkwire-carrier"):
        client(url, **{"thinkwire-carrier": "thoughts"}).chat.completions.create(
            model="local", messages=[{"role": "user", "content": "hi"}]
        )
