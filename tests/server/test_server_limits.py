"""Input that would crash a backend is a 400 saying where and why, and the connection stays up.

Measured before: tool-call arguments nested 1,000 deep (a RecursionError in the engine's
parser), a JSON Schema with ``required: [["a"]]`` (``TypeError: unhashable type``) and a tool
schema 300 arrays deep each gave a 500 naming a Python exception, and the keep-alive
connection was dropped after it."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from tests.support.scripts import weather_agent
from tests.support.servers import ScriptedServers

from thinkwire.errors import ApiError
from thinkwire.ir import Message, Request, Text, Tool, ToolCall
from thinkwire.server.limits import MAX_NESTING, check_request, nesting

SCHEMA: Any = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}


def nested(levels: int) -> str:
    return '{"a":' * levels + "1" + "}" * levels


def deep_schema(levels: int) -> Any:
    schema: Any = {"type": "string"}
    for _ in range(levels):
        schema = {"type": "array", "items": schema}
    return {"type": "object", "properties": {"a": schema}}


def chat(**fields: Any) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": "hi"}], **fields}


def tool(parameters: Any) -> Any:
    return [{"type": "function", "function": {"name": "f", "parameters": parameters}}]


def test_nesting_counts_objects_and_arrays_outside_strings() -> None:
    assert nesting('{"a": [1, {"b": "[[[{{{"}]}') == 3
    assert nesting(nested(1000)) == 1000
    assert nesting('"\\"{["') == 0
    assert nesting("not json {") == 1


@pytest.mark.parametrize(
    ("request_", "path"),
    [
        (
            Request(messages=(), tools=(Tool(name="f", parameters={"required": [["a"]]}),)),
            "tools[0].parameters.required[0]",
        ),
        (
            Request(messages=(), tools=(Tool(name="f", parameters={"required": "a"}),)),
            "tools[0].parameters.required",
        ),
        (
            Request(messages=(), tools=(Tool(name="f", parameters={"properties": [1]}),)),
            "tools[0].parameters.properties",
        ),
        (
            Request(messages=(), tools=(Tool(name="f", parameters=deep_schema(MAX_NESTING)),)),
            "tools[0].parameters",
        ),
        (
            Request(
                messages=(
                    Message(
                        role="assistant",
                        blocks=(
                            Text(text="x"),
                            ToolCall(id="c", name="f", arguments=nested(MAX_NESTING + 1)),
                        ),
                    ),
                )
            ),
            "messages[0].blocks[1].arguments",
        ),
    ],
)
def test_what_a_backend_cannot_take_is_refused_with_its_path(request_: Request, path: str) -> None:
    with pytest.raises(ApiError) as caught:
        check_request(request_, "max_tokens")
    assert caught.value.status == 400
    assert caught.value.param == path
    assert caught.value.message.startswith(path + ": ")


def test_a_property_named_like_a_keyword_and_ordinary_depth_pass() -> None:
    schema = {
        "type": "object",
        "properties": {"required": {"type": "string"}, "properties": {"type": "object"}},
    }
    fine = Request(
        messages=(
            Message(role="assistant", blocks=(ToolCall(id="c", name="f", arguments=nested(MAX_NESTING)),)),
        ),
        tools=(Tool(name="f", parameters=schema), Tool(name="g", parameters=deep_schema(MAX_NESTING - 4))),
    )
    check_request(fine, "max_tokens")


def test_over_http_each_is_a_400_and_the_keep_alive_connection_serves_the_next_request(
    serve: ScriptedServers,
) -> None:
    url, runtime, _ = serve(weather_agent)
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": nested(1000)}}
    bad = [
        chat(
            messages=[
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": None, "tool_calls": [call]},
                {"role": "tool", "tool_call_id": "call_1", "content": "ok"},
            ],
            tools=tool(SCHEMA),
        ),
        chat(tools=tool({"type": "object", "properties": {"a": {"type": "string"}}, "required": [["a"]]})),
        chat(tools=tool(deep_schema(300))),
    ]
    with httpx.Client(base_url=url, timeout=30) as client:
        for body in bad:
            refused = client.post("/v1/chat/completions", content=json.dumps(body))
            assert refused.status_code == 400, refused.text
            assert "Error" not in refused.json()["error"]["message"]  # no exception names
        answered = client.post("/v1/chat/completions", json=chat())  # the same connection
    assert answered.status_code == 200
    assert len(runtime.calls) == 1


def test_a_refused_schema_is_refused_every_time_and_a_passed_one_still_passes() -> None:
    """Schemas that pass are remembered (clients resend the same tools); refusals are not."""
    bad = Request(messages=(), tools=(Tool(name="f", parameters={"required": [["a"]]}),))
    good = Request(messages=(), tools=(Tool(name="f", parameters=SCHEMA),))
    for _ in range(2):
        with pytest.raises(ApiError):
            check_request(bad, "max_tokens")
        check_request(good, "max_tokens")
