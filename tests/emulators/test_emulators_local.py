"""``--model local`` plumbing, fast: the real engine pipeline on a scripted runtime
(``thinkwire.local.scripted``) behind the vendors, so the prompt the model gets is inspectable."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import AsyncGenerator, Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import msgspec
import openai
import pytest
from tests.support.scripts import weather_agent

from thinkwire.emulators.models import LocalModel
from thinkwire.emulators.run import Emulate, run_emulator
from thinkwire.errors import ApiError
from thinkwire.ir.blocks import Text, ToolCall
from thinkwire.ir.conversation import Request
from thinkwire.ir.stream import BlockDelta, BlockStart, MessageStart, StreamEvent, TextDelta
from thinkwire.local.scripted import ScriptedRuntime, scripted_engine, tokens
from thinkwire.local.service import EngineService

TOOLS: list[Any] = [
    {
        "name": "get_weather",
        "description": "The weather in a city.",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
]
USER: Any = {"role": "user", "content": "What is the weather in Paris?"}
THOUGHT = "I need the weather for Paris, so I call the tool."

OPEN: list[anthropic.Anthropic | openai.OpenAI] = []  # closed by the emulate fixture (tests/conftest.py)


@pytest.fixture
def local() -> Iterator[tuple[LocalModel, ScriptedRuntime]]:
    engine, runtime = scripted_engine(weather_agent)
    model = LocalModel(EngineService(engine))
    yield model, runtime
    model.close()


def claude(url: str) -> anthropic.Anthropic:
    sdk = anthropic.Anthropic(base_url=url, api_key="test", max_retries=0)
    OPEN.append(sdk)
    return sdk


def create(sdk: anthropic.Anthropic, messages: list[Any], *, stream: bool = False, **options: Any) -> Any:
    params: dict[str, Any] = {
        "model": "claude-emulated",
        "max_tokens": 512,
        "messages": messages,
        "tools": TOOLS,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        **options,
    }
    if stream:
        with sdk.messages.stream(**params) as events:
            return events.get_final_message()
    return sdk.messages.create(**params)


def follow_up(first: Any) -> list[Any]:
    call = next(b for b in first.content if b.type == "tool_use")
    result = {"type": "tool_result", "tool_use_id": call.id, "content": "sunny"}
    return [USER, {"role": "assistant", "content": first.content}, {"role": "user", "content": [result]}]


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_tool_loop_on_the_local_engine_is_signed_by_the_vendor(
    emulate: Emulate, local: tuple[LocalModel, ScriptedRuntime], stream: bool
) -> None:
    model, runtime = local
    url, app = emulate("anthropic", model=model)
    sdk = claude(url)
    first = create(sdk, [USER], stream=stream)
    assert [b.type for b in first.content] == ["thinking", "tool_use"]
    assert first.content[0].thinking.strip() == THOUGHT
    signed = app.state.vendor.signer.verify(first.content[0].signature)
    assert signed is not None
    assert signed.t == first.content[0].thinking
    assert signed.i == 0
    assert first.content[1].id.startswith("toolu_")
    assert first.content[1].input == {"city": "Paris"}
    assert first.stop_reason == "tool_use"
    assert first.id.startswith("msg_")
    assert first.model == "claude-emulated"
    assert first.usage.input_tokens == len(tokens(runtime.calls[0]["prompt"]))  # the engine's count

    final = create(sdk, follow_up(first), stream=stream)
    assert [b.type for b in final.content] == ["thinking", "text"]
    assert final.content[-1].text == "It is sunny in Paris."
    assert THOUGHT in runtime.calls[-1]["prompt"]  # the thinking sent back is in the model's prompt
    assert [r.status for r in app.state.requests] == [200, 200]
    assert app.state.requests[1].stream is stream
    assert app.state.requests[1].response.blocks[-1] == Text(text="It is sunny in Paris.")
    # Anthropic's input_tokens leaves out what was read from the prompt cache
    prompt = len(tokens(runtime.calls[-1]["prompt"]))
    assert final.usage.input_tokens + final.usage.cache_read_input_tokens == prompt
    assert final.usage.cache_read_input_tokens > 0


def test_streamed_and_whole_agree(emulate: Emulate, local: tuple[LocalModel, ScriptedRuntime]) -> None:
    url, _ = emulate("anthropic", model=local[0])
    sdk = claude(url)
    whole, streamed = create(sdk, [USER]), create(sdk, [USER], stream=True)
    # usage differs: the second call reuses the first's prompt cache
    assert streamed.model_dump(exclude={"usage"}) == whole.model_dump(exclude={"usage"})


def test_drop_thinking_drops_it_from_the_local_models_prompt(
    emulate: Emulate, local: tuple[LocalModel, ScriptedRuntime]
) -> None:
    model, runtime = local
    url, app = emulate("anthropic", "drop-thinking", model=model)
    sdk = claude(url)
    first = create(sdk, [USER])
    create(sdk, follow_up(first))  # accepted: the rules are the strict emulator's
    assert THOUGHT not in runtime.calls[-1]["prompt"]
    assert "<tool_response>" in runtime.calls[-1]["prompt"]
    assert [type(b) for b in app.state.requests[-1].view.messages[1].blocks] == [ToolCall]


def test_omitted_thinking_is_signed_streams_empty_and_is_restored_for_the_model(
    emulate: Emulate, local: tuple[LocalModel, ScriptedRuntime]
) -> None:
    model, runtime = local
    url, app = emulate("anthropic", model=model)
    sdk = claude(url)
    thinking = {"type": "enabled", "budget_tokens": 1024, "display": "omitted"}
    first = create(sdk, [USER], stream=True, thinking=thinking)
    assert first.content[0].type == "thinking"
    assert first.content[0].thinking == ""
    assert app.state.vendor.signer.verify(first.content[0].signature).t.strip() == THOUGHT
    create(sdk, follow_up(first), thinking=thinking)
    assert THOUGHT in runtime.calls[-1]["prompt"]


def test_deepseek_streams_reasoning_content_and_reads_it_back(
    emulate: Emulate, local: tuple[LocalModel, ScriptedRuntime]
) -> None:
    model, runtime = local
    url, _ = emulate("deepseek", model=model)
    sdk = openai.OpenAI(base_url=url + "/v1", api_key="test", max_retries=0)
    OPEN.append(sdk)
    tools: Any = [{"type": "function", "function": {**TOOLS[0], "parameters": TOOLS[0]["input_schema"]}}]
    del tools[0]["function"]["input_schema"]
    messages: list[Any] = [USER]
    reasoning = ""
    calls: list[Any] = []
    for chunk in sdk.chat.completions.create(
        model="deepseek-reasoner", messages=messages, tools=tools, stream=True
    ):
        delta: Any = chunk.choices[0].delta if chunk.choices else None
        if delta is not None:
            reasoning += (delta.model_extra or {}).get("reasoning_content") or ""
            calls += delta.tool_calls or []
    assert reasoning.strip() == THOUGHT
    call = calls[0]
    assert call.id.startswith("call_")
    assert call.function.name == "get_weather"
    messages += [
        {
            "role": "assistant",
            "content": "",
            "reasoning_content": reasoning,
            "tool_calls": [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
    ]
    answer: Any = sdk.chat.completions.create(model="deepseek-reasoner", messages=messages, tools=tools)
    assert answer.choices[0].message.content == "It is sunny in Paris."
    assert THOUGHT in runtime.calls[-1]["prompt"]


def test_tokens_stream_as_the_engine_generates_them(emulate: Emulate) -> None:
    engine, _ = scripted_engine(weather_agent, delay=0.03)  # ~30 tokens: about a second
    model = LocalModel(EngineService(engine))
    url, _ = emulate("anthropic", model=model)
    body = {
        "model": "claude-emulated",
        "max_tokens": 512,
        "messages": [USER],
        "tools": TOOLS,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "stream": True,
    }
    started, first_delta = time.monotonic(), 0.0
    with httpx.stream("POST", url + "/v1/messages", json=body, timeout=30) as response:
        for line in response.iter_lines():
            if "thinking_delta" in line and not first_delta:
                first_delta = time.monotonic() - started
    total = time.monotonic() - started
    model.close()
    assert 0 < first_delta < total / 3, (first_delta, total)


def test_openai_responses_reasoning_is_encrypted_and_goes_back(
    emulate: Emulate, local: tuple[LocalModel, ScriptedRuntime]
) -> None:
    model, runtime = local
    url, _ = emulate("openai-responses", model=model)
    tools = [{"type": "function", "name": "get_weather", "parameters": TOOLS[0]["input_schema"]}]
    body: dict[str, Any] = {
        "model": "gpt-emulated",
        "input": [USER],
        "tools": tools,
        "store": False,
        "include": ["reasoning.encrypted_content"],
        "stream": True,
    }
    done: dict[str, Any] = {}
    with httpx.stream("POST", url + "/v1/responses", json=body, timeout=30) as response:
        for line in response.iter_lines():
            if line.startswith("data: ") and '"response.completed"' in line:
                done = msgspec.json.decode(line[6:])["response"]
    output = done["output"]
    assert [item["type"] for item in output] == ["reasoning", "function_call"]
    assert output[0]["encrypted_content"]
    assert output[0]["summary"][0]["text"].strip() == THOUGHT
    result = {"type": "function_call_output", "call_id": output[1]["call_id"], "output": "sunny"}
    again = httpx.post(
        url + "/v1/responses", json={**body, "stream": False, "input": [USER, *output, result]}, timeout=30
    )
    assert again.status_code == 200, again.text
    assert again.json()["output"][-1]["content"][0]["text"] == "It is sunny in Paris."
    assert THOUGHT in runtime.calls[-1]["prompt"]  # read from the encrypted content


class Failing:
    """A model that refuses before its first event, or fails once its stream has begun."""

    name = "failing"

    def __init__(self, *, begun: bool) -> None:
        self.begun = begun

    async def generate(self, view: Request, *, call_prefix: str) -> AsyncGenerator[StreamEvent, None]:
        if not self.begun:
            raise ApiError(503, "the local model is busy", code="overloaded")
        yield MessageStart()
        yield BlockStart(index=0, block=Text(text=""))
        yield BlockDelta(index=0, delta=TextDelta("partial"))
        raise ApiError(500, "the local model failed: boom")


def test_a_refusal_comes_in_the_vendors_envelope(emulate: Emulate) -> None:
    url, app = emulate("anthropic", model=Failing(begun=False))
    body = {"model": "claude-emulated", "max_tokens": 10, "messages": [USER]}
    response = httpx.post(url + "/v1/messages", json=body)
    assert response.status_code == 529  # Anthropic's overloaded
    assert response.json()["error"]["message"] == "the local model is busy"
    assert [r.status for r in app.state.requests] == [503]


def test_a_failure_after_the_stream_began_goes_into_it(emulate: Emulate) -> None:
    url, _ = emulate("anthropic", model=Failing(begun=True))
    body = {"model": "claude-emulated", "max_tokens": 10, "messages": [USER], "stream": True}
    response = httpx.post(url + "/v1/messages", json=body)
    assert response.status_code == 200
    assert "event: error" in response.text
    assert "boom" in response.text
    whole = httpx.post(url + "/v1/messages", json={**body, "stream": False})
    assert whole.status_code == 500
    assert "boom" in whole.json()["error"]["message"]


def test_an_unknown_model_is_refused_before_anything_loads(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown model 'big'"):
        run_emulator("anthropic", "127.0.0.1", 0, model="big")
    env = {**os.environ, "THINKWIRE_HOME": str(tmp_path)}
    for args, code, said in [
        (["--model", "big"], 2, "--model: unknown model 'big'; expected one of scripted, local"),
        (["--model", "local"], 1, "thinkwire model pull"),
    ]:
        done = subprocess.run(
            [sys.executable, "-m", "thinkwire", "emulate", "anthropic", "--port", "0", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert done.returncode == code
        errors = [line for line in done.stderr.splitlines() if "error" in line]
        assert len(errors) == 1
        assert said in errors[0]
        assert "Traceback" not in done.stderr
