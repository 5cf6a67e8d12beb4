"""``/v1/responses`` driven by the official ``openai`` SDK over loopback."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest
from tests.support.scripts import WEATHER_TOOL, weather_agent
from tests.support.servers import ScriptedServers

TOOLS: list[Any] = [{"type": "function", **WEATHER_TOOL}]


def client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)


def test_previous_response_id_continues_with_the_stored_reasoning(serve: ScriptedServers) -> None:
    url, runtime, _ = serve(weather_agent)
    c = client(url)
    first: Any = c.responses.create(model="local", input="What is the weather in Kyiv?", tools=TOOLS)
    assert [item.type for item in first.output] == ["reasoning", "function_call"]
    reasoning, call = first.output
    assert reasoning.type == "reasoning"
    assert call.type == "function_call"
    assert reasoning.content is not None
    assert reasoning.content[0].text == "I need the weather for Kyiv, so I call the tool."
    assert call.name == "get_weather"
    assert call.arguments == '{"city": "Kyiv"}'
    assert first.status == "completed"
    assert first.store is True
    assert first.created_at > 0

    second: Any = c.responses.create(
        model="local",
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "snow"}],
        tools=TOOLS,
    )
    assert second.output_text == "It is sunny in Kyiv."
    assert second.previous_response_id == first.id
    prompt = runtime.calls[1]["prompt"]
    assert prompt.startswith(runtime.calls[0]["prompt"])
    assert "I need the weather for Kyiv, so I call the tool." in prompt
    assert first.usage is not None
    assert second.usage is not None
    cached = second.usage.input_tokens_details.cached_tokens
    assert cached == first.usage.input_tokens + first.usage.output_tokens


def test_stateless_loop_sends_the_output_items_back(serve: ScriptedServers) -> None:
    url, runtime, _ = serve(weather_agent)
    c = client(url)
    items: list[Any] = [{"role": "user", "content": "Weather in Accra?"}]
    first: Any = c.responses.create(
        model="local", input=items, tools=TOOLS, store=False, include=["reasoning.encrypted_content"]
    )
    reasoning = first.output[0]
    assert reasoning.type == "reasoning"
    assert reasoning.encrypted_content is not None
    assert reasoning.encrypted_content.startswith("tw1.")
    call = first.output[1]
    assert call.type == "function_call"
    items += [item.model_dump(exclude_none=True) for item in first.output]
    items += [{"type": "function_call_output", "call_id": call.call_id, "output": "hot"}]
    second: Any = c.responses.create(model="local", input=items, tools=TOOLS, store=False)
    assert second.output_text == "It is sunny in Accra."
    assert runtime.calls[1]["prompt"].startswith(runtime.calls[0]["prompt"])
    with pytest.raises(openai.NotFoundError):
        c.responses.retrieve(first.id)  # store=False kept nothing


def test_stream_events_and_the_final_response(serve: ScriptedServers) -> None:
    url, _, _ = serve(weather_agent)
    c = client(url)
    whole: Any = c.responses.create(model="local", input="Weather in Cairo?", tools=TOOLS)
    kinds: list[str] = []
    final: Any = None
    for event in c.responses.create(model="local", input="Weather in Cairo?", tools=TOOLS, stream=True):
        kinds.append(event.type)
        if event.type == "response.completed":
            final = event.response
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    assert "response.reasoning_text.delta" in kinds
    assert "response.function_call_arguments.done" in kinds
    assert final is not None
    assert [i.type for i in final.output] == [i.type for i in whole.output]
    assert final.output[1].model_dump(exclude={"id", "call_id"}) == whole.output[1].model_dump(
        exclude={"id", "call_id"}
    )
    # a streamed response is stored too, and continues like a whole one
    again: Any = c.responses.create(
        model="local",
        previous_response_id=final.id,
        input=[{"type": "function_call_output", "call_id": final.output[1].call_id, "output": "dry"}],
    )
    assert again.output_text == "It is sunny in Cairo."


def test_retrieve_and_delete_a_stored_response(serve: ScriptedServers) -> None:
    url, _, _ = serve(weather_agent)
    c = client(url)
    made: Any = c.responses.create(model="local", input="Weather in Delhi?", tools=TOOLS)
    got: Any = c.responses.retrieve(made.id)
    assert got.id == made.id
    assert got.output[1].model_dump() == made.output[1].model_dump()
    c.responses.delete(made.id)
    with pytest.raises(openai.NotFoundError):
        c.responses.retrieve(made.id)


def test_unknown_previous_response_is_a_404_naming_the_parameter(serve: ScriptedServers) -> None:
    url, runtime, _ = serve(weather_agent)
    response = httpx.post(
        url + "/v1/responses", json={"model": "m", "input": "hi", "previous_response_id": "resp_nope"}
    )
    assert response.status_code == 404
    assert response.json()["error"] == {
        "message": "Previous response with id 'resp_nope' not found.",
        "type": "invalid_request_error",
        "param": "previous_response_id",
        "code": "previous_response_not_found",
    }
    assert runtime.calls == []


def test_encrypted_reasoning_the_server_cannot_read_is_a_reported_loss(serve: ScriptedServers) -> None:
    """A stateless client sends back ``{id, encrypted_content, summary: []}`` that no one here
    issued (OpenAI's own): the local model cannot see it, and the response says so instead of
    dropping it silently."""
    url, runtime, _ = serve(weather_agent)
    items: list[Any] = [
        {"role": "user", "content": "What is the weather in Paris?"},
        {"type": "reasoning", "id": "rs_foreign", "encrypted_content": "gAAAAABforeign", "summary": []},
        {
            "type": "function_call",
            "call_id": "call_1",
            "name": "get_weather",
            "arguments": '{"city": "Paris"}',
        },
        {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
    ]
    answer = httpx.post(
        url + "/v1/responses", json={"model": "m", "input": items, "tools": TOOLS, "store": False}, timeout=30
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["thinkwire-thinking-losses"] == "1"
    assert "gAAAAABforeign" not in runtime.calls[-1]["prompt"]
