"""``thinkwire serve`` restores the thinking that real client libraries drop from a tool loop.

Most agent frameworks speak OpenAI Chat Completions and know nothing of ``reasoning_content``:
they read the model's tool call, run the tool, and send the assistant turn back without the
thinking that led to the call. The server records every assistant turn it answers and, when a
turn comes back without its thinking, puts the thinking back before the model runs, saying so
in the response header ``thinkwire-restored: N`` (N assistant turns restored). These tests run
the two-step weather loop of the ``scripted`` model (``thinkwire serve --model scripted``, a
child process on a loopback port) through third-party clients used as their docs show, with
their own tool-loop machinery and no patching:

- the OpenAI Agents SDK (``OpenAIChatCompletionsModel``), ``Runner.run`` and ``run_streamed``:
  it reads ``reasoning_content`` but replays it only to models named like DeepSeek (its default
  ``should_replay_reasoning_content``);
- LangChain's ``ChatOpenAI.bind_tools`` in the manual loop of its docs, ``invoke`` and ``stream``,
  and LangGraph's prebuilt ReAct agent on it, ``invoke`` and ``stream_mode="messages"``:
  ``ChatOpenAI`` does not read non-standard fields such as ``reasoning_content`` at all;
- the ``openai`` SDK with ``stream=True``, the app accumulating content and tool calls itself
  (``delta.reasoning_content`` is no typed field, so such apps never see it).

Each client gets an ``httpx2`` client that records the bytes (``tests.support.clients``), and each
test judges from them: the loop ends with the model's answer; the server sent the thinking with
the tool call; the client's second request carries the tool-call turn *without* it (so the
client really drops it); and the response to that request says ``thinkwire-restored: 1``.

One client keeps the thinking: the ``openai`` SDK without streaming, the app appending the SDK's
own message object, sends ``reasoning_content`` back (the SDK re-sends the extra field it
received). Its turn is then *lossy*, not dropped: the text without the signature the server
recorded, and the server puts the recorded turn back all the same (``thinkwire.store.restore``
calls it an upgrade and counts it in ``thinkwire-restored``, as the gateway with a config does
today).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import openai
import pytest
from agents import function_tool
from langchain_core.messages import AIMessage
from langchain_core.tools import tool
from langgraph.prebuilt import create_react_agent
from tests.support.client_loops import agents_answer, chat_openai, langchain_answer, streamed_turn
from tests.support.clients import Exchange, Traffic
from tests.support.processes import serve_process, stop
from tests.support.scripts import WEATHER_TOOL

from thinkwire.scripted import CODE_WORD

QUESTION: Final = "What is the weather in Oslo?"
CALL_THINKING: Final = "Step 1: I will call get_weather. I note the code word "
"""How the scripted model's thinking before it calls ``get_weather`` starts (the code word
follows: it is derived from the conversation)."""
TIMEOUT: Final = 60.0
"""Seconds one whole tool loop may take (each HTTP request has half of it)."""
THINKING_FIELDS: Final = ("reasoning_content", "reasoning", "reasoning_details", "thinking")
# LangGraph 1.x deprecates its prebuilt create_react_agent in favour of create_agent in the
# separate `langchain` package; the prebuilt agent is the one under test, so its warning is ignored
REACT_AGENT_DEPRECATED: Final = (
    "ignore:create_react_agent has been moved:langgraph.warnings.LangGraphDeprecatedSinceV10"
)


pytestmark = pytest.mark.usefixtures("offline_clients")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """``thinkwire serve --model scripted`` (no config), its ``/v1`` base URL."""
    process, url = serve_process(["--model", "scripted"], home=tmp_path)
    try:
        yield url + "/v1"
    finally:
        err = stop(process)
    assert "Traceback" not in err, err


@pytest.fixture
def traffic() -> Iterator[Traffic]:
    with Traffic(timeout=TIMEOUT / 2) as recorded:
        yield recorded


def weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny, 21 C in {city}"


# judging the bytes


def thinking_sent(exchange: Exchange) -> str:
    """The ``reasoning_content`` the server sent in a chat response, whole or streamed."""
    if exchange.streamed:
        deltas = [c["choices"][0]["delta"] for c in exchange.events() if c.get("choices")]
        return "".join(d.get("reasoning_content") or "" for d in deltas)
    return str(exchange.response_json()["choices"][0]["message"].get("reasoning_content") or "")


def tool_call_turns(exchange: Exchange) -> list[dict[str, Any]]:
    """The assistant turns with tool calls in a chat request, as the client encoded them."""
    messages = exchange.request_json()["messages"]
    return [m for m in messages if m.get("role") == "assistant" and m.get("tool_calls")]


def carries_thinking(turn: dict[str, Any]) -> bool:
    """Whether an assistant turn holds thinking in any carrier: a field, ``<think>`` in its
    text, or a thinking part in its content list."""
    content = turn.get("content")
    if isinstance(content, str):
        inline = "<think>" in content
    else:
        inline = any(isinstance(p, dict) and "thinking" in str(p.get("type")) for p in content or [])
    return inline or any(turn.get(name) for name in THINKING_FIELDS)


def judge(traffic: Traffic, answer: str, *, stream: bool, keeps: bool = False) -> None:
    """The loop ended with the answer; the server sent the thinking with the tool call; the
    client's second request sent the tool-call turn back without it (``keeps``: with it, as
    received); and the server restored that turn."""
    assert "sunny, 21 C in Oslo" in answer
    chats = traffic.chat()
    assert [c.status for c in chats] == [200, 200], [bytes(c.response) for c in chats]
    first, second = chats
    assert [c.request_json().get("stream", False) for c in chats] == [stream, stream]
    assert first.streamed == second.streamed == stream
    thought = thinking_sent(first)
    assert thought.startswith(CALL_THINKING), thought
    noted = CODE_WORD.search(thought)
    assert noted is not None, thought
    # the model found its note again, so the thinking restored (or kept) really reached it
    assert f"The code word I noted was {noted.group(1)}." in answer, answer
    assert "thinkwire-restored" not in first.headers
    assert not tool_call_turns(first)
    [turn] = tool_call_turns(second)
    assert carries_thinking(turn) == keeps, turn
    if keeps:
        assert turn["reasoning_content"] == thought
    assert second.headers.get("thinkwire-restored") == "1", dict(second.headers)


# the OpenAI Agents SDK

AGENTS_WEATHER = function_tool(weather, name_override="get_weather")


@pytest.mark.parametrize("stream", [False, True], ids=["run", "run_streamed"])
def test_openai_agents_sdk_drops_thinking_and_the_server_restores_it(
    server: str, traffic: Traffic, stream: bool
) -> None:
    loop = agents_answer(server, "scripted", traffic, [AGENTS_WEATHER], stream=stream, steps=4)
    answer = asyncio.run(asyncio.wait_for(loop, TIMEOUT))
    judge(traffic, answer, stream=stream)


# LangChain and LangGraph

LANGCHAIN_WEATHER = tool("get_weather")(weather)


@pytest.mark.parametrize("stream", [False, True], ids=["invoke", "stream"])
def test_langchain_chat_openai_drops_thinking_and_the_server_restores_it(
    server: str, traffic: Traffic, stream: bool
) -> None:
    llm = chat_openai(server, "scripted", traffic).bind_tools([LANGCHAIN_WEATHER])
    answer = langchain_answer(llm, {"get_weather": LANGCHAIN_WEATHER}, stream=stream, steps=4)
    judge(traffic, answer, stream=stream)


@pytest.mark.filterwarnings(REACT_AGENT_DEPRECATED)
@pytest.mark.parametrize("stream", [False, True], ids=["invoke", "stream_messages"])
def test_langgraph_react_agent_drops_thinking_and_the_server_restores_it(
    server: str, traffic: Traffic, stream: bool
) -> None:
    agent = create_react_agent(chat_openai(server, "scripted", traffic), [LANGCHAIN_WEATHER])
    inputs: Any = {"messages": [("user", QUESTION)]}
    config: Any = {"recursion_limit": 8}
    if stream:
        said = []
        for message, _ in agent.stream(inputs, config, stream_mode="messages"):
            if isinstance(message, AIMessage) and isinstance(message.content, str):
                said.append(message.content)
        answer = "".join(said)
    else:
        answer = str(agent.invoke(inputs, config)["messages"][-1].content)
    judge(traffic, answer, stream=stream)


# the plain openai SDK

TOOLS: Final[list[Any]] = [{"type": "function", "function": WEATHER_TOOL}]


def openai_client(base_url: str, traffic: Traffic) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key="sk-dummy", http_client=traffic.client(), max_retries=0)


def test_openai_sdk_streaming_app_drops_thinking_and_the_server_restores_it(
    server: str, traffic: Traffic
) -> None:
    client = openai_client(server, traffic)
    messages: list[Any] = [{"role": "user", "content": QUESTION}]
    answer = ""
    for _ in range(4):
        content, turn = streamed_turn(client, "scripted", messages, TOOLS)
        if not turn:
            answer = content
            break
        messages.append({"role": "assistant", "content": content or None, "tool_calls": turn})
        for call in turn:
            result = weather(**json.loads(call["function"]["arguments"]))
            messages.append({"role": "tool", "tool_call_id": call["id"], "content": result})
    judge(traffic, answer, stream=True)


def test_openai_sdk_app_appending_the_message_object_keeps_thinking_and_the_server_upgrades_it(
    server: str, traffic: Traffic
) -> None:
    client = openai_client(server, traffic)
    messages: list[Any] = [{"role": "user", "content": QUESTION}]
    answer = ""
    for _ in range(4):
        completion = client.chat.completions.create(model="scripted", messages=messages, tools=TOOLS)
        message = completion.choices[0].message
        messages.append(message)
        if not message.tool_calls:
            answer = message.content or ""
            break
        for call in message.tool_calls:
            assert call.type == "function"
            result = weather(**json.loads(call.function.arguments))
            messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
    judge(traffic, answer, stream=False, keeps=True)
