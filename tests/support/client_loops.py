"""Tool loops of real client libraries, each as its docs show, for the client matrix.

Every loop asks ``QUESTION`` with two tools offered (``get_weather`` and ``get_time``), runs
each tool call with the library's own machinery, sends each turn back the way that library
does, and returns what the user would see: the final answer and how many tools ran. Nothing is
patched: a library that drops thinking drops it here too, and the server's state is what puts
it back. The loops take the base URL (ending ``/v1``), the model name and a ``Traffic`` whose
clients record the bytes where the library accepts an HTTP client (the ``openai`` SDK and
everything built on it; the ``anthropic`` SDK takes no ``httpx2`` client and is judged from its
own objects).

``LOOPS`` names them, with the API each speaks; ``run_loop`` runs one by name.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import anthropic
import openai
from agents import Agent, OpenAIChatCompletionsModel, Runner, function_tool, set_tracing_disabled
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from langgraph.prebuilt import create_react_agent
from pydantic import SecretStr

from tests.support.clients import Traffic
from tests.support.js import JS

QUESTION: Final = "What is the weather in Oslo?"
STEPS: Final = 6
"""Model calls a loop may make before it is a failure (two tool steps and the answer need 3)."""
TIMEOUT: Final = 60.0


def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny, 21 C in {city}"


def get_time(city: str) -> str:
    """The local time in a city."""
    return f"14:05 in {city}"


FUNCTIONS: Final[dict[str, Callable[..., str]]] = {"get_weather": get_weather, "get_time": get_time}
SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}
DESCRIPTIONS: Final = {name: (fn.__doc__ or "").strip() for name, fn in FUNCTIONS.items()}


@dataclass
class Outcome:
    """What the user saw: the final answer, and the tools the library ran, in order."""

    answer: str
    ran: list[str]


class Ran:
    """Counts tool runs (the libraries call the functions themselves)."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def call(self, name: str, arguments: Any) -> str:
        self.names.append(name)
        args = json.loads(arguments) if isinstance(arguments, str) else dict(arguments)
        return FUNCTIONS[name](**args)


def _chat_tools() -> list[Any]:
    return [
        {"type": "function", "function": {"name": n, "description": DESCRIPTIONS[n], "parameters": SCHEMA}}
        for n in FUNCTIONS
    ]


# --- the openai SDK: Chat Completions ---------------------------------------------------------


def openai_chat(url: str, model: str, traffic: Traffic, *, stream: bool) -> Outcome:
    """The app appends the SDK's message object (whole) or what it accumulated from the deltas
    (streamed: ``reasoning_content`` is no typed field, so it is dropped)."""
    ran = Ran()
    client = openai.OpenAI(base_url=url, api_key="sk-dummy", http_client=traffic.client(), max_retries=0)
    messages: list[Any] = [{"role": "user", "content": QUESTION}]
    for _ in range(STEPS):
        if stream:
            content, turn = streamed_turn(client, model, messages, _chat_tools())
            if not turn:
                return Outcome(content, ran.names)
            messages.append({"role": "assistant", "content": content or None, "tool_calls": turn})
            for piece in turn:
                result = ran.call(piece["function"]["name"], piece["function"]["arguments"])
                messages.append({"role": "tool", "tool_call_id": piece["id"], "content": result})
            continue
        message = client.chat.completions.create(model=model, messages=messages, tools=_chat_tools())
        reply = message.choices[0].message
        messages.append(reply)
        if not reply.tool_calls:
            return Outcome(reply.content or "", ran.names)
        for call in reply.tool_calls:
            assert call.type == "function"
            result = ran.call(call.function.name, call.function.arguments)
            messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
    raise AssertionError("the tool loop did not end")


def streamed_turn(
    client: openai.OpenAI, model: str, messages: list[Any], tools: list[Any]
) -> tuple[str, list[dict[str, Any]]]:
    """One streamed turn as an app accumulates it: the content and the tool calls."""
    content, calls = "", dict[int, dict[str, Any]]()
    with client.chat.completions.create(model=model, messages=messages, tools=tools, stream=True) as chunks:
        for chunk in chunks:
            if not chunk.choices:
                continue
            delta = chunk.choices[0].delta
            content += delta.content or ""
            for piece in delta.tool_calls or []:
                empty = {"id": "", "type": "function", "function": {"name": "", "arguments": ""}}
                call = calls.setdefault(piece.index, empty)
                call["id"] = piece.id or call["id"]
                if piece.function is not None:
                    call["function"]["name"] += piece.function.name or ""
                    call["function"]["arguments"] += piece.function.arguments or ""
    return content, [calls[i] for i in sorted(calls)]


# --- the openai SDK: Responses ----------------------------------------------------------------


def openai_responses(url: str, model: str, traffic: Traffic, *, stream: bool) -> Outcome:
    """The app sends the output items back as input, as OpenAI's function-calling guide does
    (stateless: ``store: false`` with the encrypted reasoning included)."""
    ran = Ran()
    client = openai.OpenAI(base_url=url, api_key="sk-dummy", http_client=traffic.client(), max_retries=0)
    tools: Any = [
        {"type": "function", "name": n, "description": DESCRIPTIONS[n], "parameters": SCHEMA}
        for n in FUNCTIONS
    ]
    items: list[Any] = [{"role": "user", "content": QUESTION}]
    options: Any = {"store": False, "include": ["reasoning.encrypted_content"], "max_output_tokens": 4000}
    for _ in range(STEPS):
        if stream:
            with client.responses.stream(model=model, input=items, tools=tools, **options) as events:
                for _event in events:
                    pass
                response = events.get_final_response()
        else:
            response = client.responses.create(model=model, input=items, tools=tools, **options)
        calls = [item for item in response.output if item.type == "function_call"]
        items += [item.model_dump(exclude_none=True) for item in response.output]
        if not calls:
            return Outcome(response.output_text, ran.names)
        for call in calls:
            result = ran.call(call.name, call.arguments)
            items.append({"type": "function_call_output", "call_id": call.call_id, "output": result})
    raise AssertionError("the tool loop did not end")


# --- the anthropic SDK ------------------------------------------------------------------------


def anthropic_messages(url: str, model: str, traffic: Traffic, *, stream: bool) -> Outcome:
    """The tool loop of Anthropic's tool-use docs: ``response.content`` appended as it came."""
    ran = Ran()
    with anthropic.Anthropic(base_url=url.removesuffix("/v1"), api_key="sk-dummy", max_retries=0) as client:
        tools: Any = [{"name": n, "description": DESCRIPTIONS[n], "input_schema": SCHEMA} for n in FUNCTIONS]
        messages: list[Any] = [{"role": "user", "content": QUESTION}]
        thinking: Any = {"type": "enabled", "budget_tokens": 1024}
        for _ in range(STEPS):
            message: Any
            if stream:
                with client.messages.stream(
                    model=model, max_tokens=4000, messages=messages, tools=tools, thinking=thinking
                ) as events:
                    message = events.get_final_message()
            else:
                message = client.messages.create(
                    model=model, max_tokens=4000, messages=messages, tools=tools, thinking=thinking
                )
            messages.append({"role": "assistant", "content": message.content})
            calls = [block for block in message.content if block.type == "tool_use"]
            if not calls:
                return Outcome("".join(b.text for b in message.content if b.type == "text"), ran.names)
            messages.append(
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": c.id, "content": ran.call(c.name, c.input)}
                        for c in calls
                    ],
                }
            )
        raise AssertionError("the tool loop did not end")


# --- the OpenAI Agents SDK --------------------------------------------------------------------


def openai_agents(url: str, model: str, traffic: Traffic, *, stream: bool) -> Outcome:
    """``Runner.run`` / ``run_streamed`` on ``OpenAIChatCompletionsModel`` (it replays
    ``reasoning_content`` only to models named like DeepSeek)."""
    ran = Ran()

    def make(name: str) -> Any:
        def run(city: str) -> str:
            return ran.call(name, {"city": city})

        return function_tool(run, name_override=name, description_override=DESCRIPTIONS[name])

    answer = asyncio.run(
        asyncio.wait_for(
            agents_answer(url, model, traffic, [make(n) for n in FUNCTIONS], stream=stream), TIMEOUT
        )
    )
    return Outcome(answer, ran.names)


async def agents_answer(
    url: str, model: str, traffic: Traffic, tools: list[Any], *, stream: bool, steps: int = STEPS
) -> str:
    """The OpenAI Agents SDK's ``Runner.run`` (or ``run_streamed``, its events read through)
    with ``tools``, on recording clients; the final output."""
    set_tracing_disabled(True)
    async with (
        traffic.async_client() as http,
        openai.AsyncOpenAI(base_url=url, api_key="sk-dummy", http_client=http, max_retries=0) as client,
    ):
        agent = Agent(
            name="assistant",
            instructions="Use the tools to answer.",
            model=OpenAIChatCompletionsModel(model=model, openai_client=client),
            tools=tools,
        )
        if stream:
            streamed = Runner.run_streamed(agent, QUESTION, max_turns=steps)
            async for _ in streamed.stream_events():
                pass
            return str(streamed.final_output)
        return str((await Runner.run(agent, QUESTION, max_turns=steps)).final_output)


# --- LangChain and LangGraph ------------------------------------------------------------------


def chat_openai(url: str, model: str, traffic: Traffic) -> ChatOpenAI:
    return ChatOpenAI(
        model=model,
        base_url=url,
        api_key=SecretStr("sk-dummy"),
        http_client=traffic.client(),
        http_async_client=traffic.async_client(),
        max_retries=0,
        timeout=TIMEOUT / 2,
    )


def _langchain_tools(ran: Ran) -> list[Any]:
    def make(name: str) -> Any:
        def run(city: str) -> str:
            return ran.call(name, {"city": city})

        run.__doc__ = DESCRIPTIONS[name]
        return tool(name)(run)

    return [make(n) for n in FUNCTIONS]


def langchain(url: str, model: str, traffic: Traffic, *, stream: bool) -> Outcome:
    """The manual loop of LangChain's tool-calling docs on ``ChatOpenAI.bind_tools``."""
    ran = Ran()
    tools = {t.name: t for t in _langchain_tools(ran)}
    llm = chat_openai(url, model, traffic).bind_tools(list(tools.values()))
    return Outcome(langchain_answer(llm, tools, stream=stream), ran.names)


def langchain_answer(llm: Any, tools: dict[str, Any], *, stream: bool, steps: int = STEPS) -> str:
    """The loop of LangChain's tool-calling docs: invoke (or stream and add up the chunks), run
    each tool call with the tool of its name, repeat until a turn calls none; its text."""
    messages: list[BaseMessage] = [HumanMessage(QUESTION)]
    for _ in range(steps):
        ai: AIMessage
        if stream:
            gathered: AIMessageChunk | None = None
            for chunk in llm.stream(messages):
                assert isinstance(chunk, AIMessageChunk)
                gathered = chunk if gathered is None else gathered + chunk
            assert gathered is not None
            ai = gathered
        else:
            invoked = llm.invoke(messages)
            assert isinstance(invoked, AIMessage)
            ai = invoked
        messages.append(ai)
        if not ai.tool_calls:
            return str(ai.content)
        messages.extend(tools[call["name"]].invoke(call) for call in ai.tool_calls)
    raise AssertionError("the tool loop did not end")


def langgraph(url: str, model: str, traffic: Traffic, *, stream: bool) -> Outcome:
    """LangGraph's prebuilt ReAct agent on ``ChatOpenAI``."""
    ran = Ran()
    agent = create_react_agent(chat_openai(url, model, traffic), _langchain_tools(ran))
    inputs: Any = {"messages": [("user", QUESTION)]}
    config: Any = {"recursion_limit": 2 * STEPS}
    if stream:
        said = [
            m.content
            for m, _ in agent.stream(inputs, config, stream_mode="messages")
            if isinstance(m, AIMessage) and isinstance(m.content, str)
        ]
        return Outcome("".join(said), ran.names)
    return Outcome(str(agent.invoke(inputs, config)["messages"][-1].content), ran.names)


# --- the Vercel AI SDK (node) -----------------------------------------------------------------


def vercel(provider: str) -> Callable[..., Outcome]:
    """The AI SDK's ``generateText`` / ``streamText`` tool loop (``stopWhen: stepCountIs(6)``)
    on one of its providers, run by ``tests/js/matrix_loop.mjs`` (the statuses it saw are
    checked here, since its HTTP client is node's)."""

    def loop(url: str, model: str, traffic: Traffic, *, stream: bool) -> Outcome:
        command = ["node", "matrix_loop.mjs", "--provider", provider, "--base-url", url, "--model", model]
        command += ["--stream"] if stream else []
        done = subprocess.run(
            command, cwd=JS, capture_output=True, text=True, timeout=TIMEOUT + 30, check=False
        )
        try:
            summary = json.loads(done.stdout.strip().splitlines()[-1])
        except (IndexError, ValueError):
            raise AssertionError(
                f"matrix_loop.mjs printed no summary:\n{done.stdout}\n{done.stderr}"
            ) from None
        assert summary["ok"], summary
        assert all(status == 200 for status in summary["statuses"]), summary
        return Outcome(summary["text"], summary["toolCalls"])

    return loop


Loop = Callable[..., Outcome]


@dataclass(frozen=True)
class Client:
    """One library in the matrix: its name, the API it speaks, how it is run."""

    name: str
    api: str
    loop: Loop
    modes: tuple[str, str]
    """What the whole and the streamed run are called in the library's terms."""

    @property
    def node(self) -> bool:
        """A JavaScript library (``tests/js``, installed by the ``js_project`` fixture)."""
        return self.name.startswith("@")


GENERATE: Final = ("generateText", "streamText")

LOOPS: Final[tuple[Client, ...]] = (
    Client("openai", "openai-chat", openai_chat, ("create", "create(stream=True)")),
    Client("openai", "openai-responses", openai_responses, ("responses.create", "responses.stream")),
    Client("anthropic", "anthropic", anthropic_messages, ("messages.create", "messages.stream")),
    Client("openai-agents", "openai-chat", openai_agents, ("Runner.run", "Runner.run_streamed")),
    Client("langchain-openai", "openai-chat", langchain, ("invoke", "stream")),
    Client("langgraph", "openai-chat", langgraph, ("invoke", "stream")),
    Client("@ai-sdk/openai-compatible", "openai-chat", vercel("openai-compatible"), GENERATE),
    Client("@ai-sdk/openai", "openai-responses", vercel("openai"), GENERATE),
    Client("@ai-sdk/anthropic", "anthropic", vercel("anthropic"), GENERATE),
)
