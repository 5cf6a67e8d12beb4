"""The gateway: any client dialect in front of any upstream dialect, driven by the SDKs.

The upstream is thinkwire's own server on the scripted model (it speaks all three dialects),
so the translation is tested end to end on loopback with nothing else running.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest
from starlette.applications import Starlette
from starlette.requests import Request as HttpRequest
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from tests.support.scripts import WEATHER_TOOL, weather_agent
from tests.support.servers import ScriptedServers

from thinkwire.asgi.serving import serving
from thinkwire.emulators.run import Emulate
from thinkwire.ir.blocks import ToolCall
from thinkwire.ir.stream import ArgumentsDelta, BlockDelta, BlockStart, BlockStop, StreamEvent
from thinkwire.server import ServerState, create_app
from thinkwire.server.gateway import GatewayService, _check_arguments
from thinkwire.server.limits import MAX_NESTING
from thinkwire.upstreams.client import UpstreamClient, UpstreamError
from thinkwire.upstreams.config import parse_config

CHAT_TOOLS: Any = [{"type": "function", "function": WEATHER_TOOL}]
KINDS = ["anthropic", "openai-chat", "openai-responses"]


def gateway(*upstreams: dict[str, Any], backoff: float = 0.01) -> Any:
    config = parse_config({"upstreams": list(upstreams)})
    service = GatewayService(config, client=UpstreamClient(backoff=backoff))
    return serving(create_app(ServerState(service=service)))


@pytest.fixture
def upstream(serve: ScriptedServers) -> tuple[str, Any]:
    url, runtime, _ = serve(weather_agent)
    return url, runtime


@pytest.mark.parametrize("kind", KINDS)
def test_an_openai_chat_client_runs_a_tool_loop_through_any_upstream_dialect(
    upstream: tuple[str, Any], kind: str
) -> None:
    url, runtime = upstream
    with gateway({"name": "up", "kind": kind, "base_url": url, "profile": "thinkwire"}) as gw:
        c = openai.OpenAI(base_url=gw + "/v1", api_key="k", max_retries=0)
        messages: list[Any] = [{"role": "user", "content": "Weather in Oslo?"}]
        first: Any = c.chat.completions.create(
            model="any", messages=messages, tools=CHAT_TOOLS, max_tokens=300
        )
        message = first.choices[0].message
        assert message.model_extra["reasoning_content"] == "I need the weather for Oslo, so I call the tool."
        # an Anthropic upstream's whole answer holds the input as an object: same JSON, own spacing
        assert json.loads(message.tool_calls[0].function.arguments) == {"city": "Oslo"}
        assert first.model == "any"  # the upstream's echo of the name the client asked for
        messages += [message.model_dump(exclude_none=True)]
        messages += [{"role": "tool", "tool_call_id": message.tool_calls[0].id, "content": "sun"}]
        chunks = c.chat.completions.create(
            model="any", messages=messages, tools=CHAT_TOOLS, max_tokens=300, stream=True
        )
        answer = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert answer == "It is sunny in Oslo."
    # the upstream saw the thinking the client sent back, and its prompt still extends the last
    assert "I need the weather for Oslo, so I call the tool." in runtime.calls[1]["prompt"]
    assert runtime.calls[1]["prompt"].startswith(runtime.calls[0]["prompt"])


def test_an_anthropic_client_through_an_openai_chat_upstream(upstream: tuple[str, Any]) -> None:
    url, runtime = upstream
    tools: Any = [{"name": "get_weather", "description": "w", "input_schema": WEATHER_TOOL["parameters"]}]
    with gateway({"name": "up", "kind": "openai-chat", "base_url": url, "profile": "thinkwire"}) as gw:
        c = anthropic.Anthropic(base_url=gw, api_key="k", max_retries=0)
        messages: list[Any] = [{"role": "user", "content": "Weather in Lima?"}]
        first: Any = c.messages.create(model="any", max_tokens=300, messages=messages, tools=tools)
        assert [b.type for b in first.content] == ["thinking", "tool_use"]
        assert first.content[0].thinking == "I need the weather for Lima, so I call the tool."
        messages += [
            {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]}
        ]
        messages += [
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": first.content[1].id, "content": "x"}],
            }
        ]
        with c.messages.stream(model="any", max_tokens=300, messages=messages, tools=tools) as stream:
            final: Any = stream.get_final_message()
    assert final.content[-1].text == "It is sunny in Lima."
    assert runtime.calls[1]["prompt"].startswith(runtime.calls[0]["prompt"])


def test_models_are_routed_by_pattern_and_listed(upstream: tuple[str, Any]) -> None:
    url, _ = upstream
    with gateway(
        {"name": "a", "kind": "anthropic", "base_url": url, "profile": "thinkwire", "models": ["claude-*"]},
        {
            "name": "b",
            "kind": "openai-chat",
            "base_url": url,
            "profile": "thinkwire",
            "models": ["qwen*", "llama"],
        },
    ) as gw:
        listed = [m.id for m in openai.OpenAI(base_url=gw + "/v1", api_key="k").models.list()]
        missing = httpx.post(
            gw + "/v1/chat/completions",
            json={"model": "gpt-5", "messages": [{"role": "user", "content": "hi"}]},
        )
        routed = httpx.post(
            gw + "/v1/chat/completions",
            json={"model": "qwen3", "messages": [{"role": "user", "content": "hi in Rome"}]},
        )
    assert listed == ["claude-*", "qwen*", "llama"]
    assert missing.status_code == 404
    assert "'gpt-5' is not routed" in missing.json()["error"]["message"]
    assert routed.status_code == 200


def test_an_upstream_refusal_is_passed_on_in_the_clients_dialect(upstream: tuple[str, Any]) -> None:
    url, _ = upstream
    tools: Any = [{"name": "get_weather", "description": "w", "input_schema": WEATHER_TOOL["parameters"]}]
    with gateway({"name": "up", "kind": "anthropic", "base_url": url, "profile": "thinkwire"}) as gw:
        c = anthropic.Anthropic(base_url=gw, api_key="k", max_retries=0)
        messages: list[Any] = [{"role": "user", "content": "Weather in Kyiv?"}]
        first: Any = c.messages.create(model="any", max_tokens=300, messages=messages, tools=tools)
        turn = [b.model_dump(exclude_none=True) for b in first.content]
        turn[0]["thinking"] = "tampered"
        messages += [{"role": "assistant", "content": turn}]
        messages += [
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": turn[1]["id"], "content": "x"}],
            }
        ]
        with pytest.raises(anthropic.BadRequestError, match="invalid thinking signature"):
            c.messages.create(model="any", max_tokens=300, messages=messages, tools=tools)


@pytest.fixture
def broken_upstream() -> Iterator[str]:
    async def limited(http: HttpRequest) -> Response:
        return JSONResponse(
            {"error": {"message": "slow down", "type": "rate_limit"}}, 429, {"retry-after": "7"}
        )

    async def cut(http: HttpRequest) -> Response:
        async def body() -> Any:
            yield (
                b'data: {"id":"c1","object":"chat.completion.chunk","model":"m",'
                b'"choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"}}]}\n\n'
            )

        return StreamingResponse(body(), media_type="text/event-stream")

    async def garbage(http: HttpRequest) -> Response:
        return Response(b"<html>proxy error</html>", media_type="text/html")

    app = Starlette(
        routes=[
            Route("/limited/v1/chat/completions", limited, methods=["POST"]),
            Route("/cut/v1/chat/completions", cut, methods=["POST"]),
            Route("/garbage/v1/chat/completions", garbage, methods=["POST"]),
        ]
    )
    with serving(app) as url:
        yield url


def test_upstream_failures_keep_their_meaning(broken_upstream: str) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    with gateway(
        {
            "name": "limited",
            "kind": "openai-chat",
            "base_url": broken_upstream + "/limited",
            "models": ["limited"],
        },
        {"name": "cut", "kind": "openai-chat", "base_url": broken_upstream + "/cut", "models": ["cut"]},
        {"name": "gone", "kind": "openai-chat", "base_url": "http://127.0.0.1:9", "models": ["gone"]},
        {
            "name": "garbage",
            "kind": "openai-chat",
            "base_url": broken_upstream + "/garbage",
            "models": ["garbage"],
        },
    ) as gw:
        garbage = httpx.post(gw + "/v1/chat/completions", json={**body, "model": "garbage"})
        limited = httpx.post(gw + "/v1/chat/completions", json={**body, "model": "limited"})
        gone = httpx.post(gw + "/v1/messages", json={**body, "model": "gone", "max_tokens": 10})
        with httpx.stream(
            "POST", gw + "/v1/chat/completions", json={**body, "model": "cut", "stream": True}
        ) as r:
            streamed = "".join(r.iter_text())
    assert garbage.status_code == 502
    assert "sent a broken response" in garbage.json()["error"]["message"]
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "7"
    assert "slow down" in limited.json()["error"]["message"]
    assert gone.status_code == 502
    assert gone.json()["error"]["type"] == "api_error"
    assert "unreachable" in gone.json()["error"]["message"]
    assert '"content":"Hel"' in streamed  # what arrived was passed on at once ...
    assert '"error"' in streamed
    assert "broken stream" in streamed


@pytest.fixture
def cut_off_upstream() -> Iterator[tuple[str, list[bytes]]]:
    """Answers every request with one SSE chunk, then drops the connection mid-body."""
    listener = socket.create_server(("127.0.0.1", 0))
    requests: list[bytes] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                requests.append(conn.recv(65536))
                event = (
                    b'data: {"id":"c1","object":"chat.completion.chunk","model":"m",'
                    b'"choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"}}]}\n\n'
                )
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                    b"transfer-encoding: chunked\r\n\r\n%x\r\n%s\r\n" % (len(event), event)
                )

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", requests
    finally:
        listener.close()
        thread.join(5)


def test_a_connection_lost_mid_answer_ends_it_with_an_error_and_no_retry(
    cut_off_upstream: tuple[str, list[bytes]],
) -> None:
    url, requests = cut_off_upstream
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    with gateway({"name": "cut", "kind": "openai-chat", "base_url": url}) as gw:
        with httpx.stream("POST", gw + "/v1/chat/completions", json={**body, "stream": True}) as r:
            streamed = "".join(r.iter_text())
        assert len(requests) == 1  # events were passed on: a retry would repeat them
        whole = httpx.post(gw + "/v1/chat/completions", json=body)
    assert '"content":"Hel"' in streamed
    assert "broken stream" in streamed
    # the upstream said 200 and began its answer: asking again would pay for it twice
    assert whole.status_code == 502
    assert "sent a broken response" in whole.json()["error"]["message"]
    assert len(requests) == 1 + 1


def test_a_local_upstream_is_the_embedded_engine(upstream: tuple[str, Any]) -> None:
    from thinkwire.local.scripted import scripted_engine
    from thinkwire.local.service import EngineService

    url, remote = upstream
    engine, local = scripted_engine(weather_agent)
    config = parse_config(
        {
            "upstreams": [
                {"name": "here", "kind": "local", "models": ["local"]},
                {"name": "there", "kind": "openai-chat", "base_url": url, "profile": "thinkwire"},
            ]
        }
    )
    service = GatewayService(config, local=EngineService(engine))
    with serving(create_app(ServerState(service=service))) as gw:
        c = openai.OpenAI(base_url=gw + "/v1", api_key="k", max_retries=0)
        here: Any = c.chat.completions.create(
            model="local", messages=[{"role": "user", "content": "Weather in Bonn?"}]
        )
        there: Any = c.chat.completions.create(
            model="other", messages=[{"role": "user", "content": "Weather in Graz?"}]
        )
    assert here.choices[0].message.model_extra["reasoning_content"].endswith("Bonn, so I call the tool.")
    assert there.choices[0].message.model_extra["reasoning_content"].endswith("Graz, so I call the tool.")
    assert len(local.calls) == 1
    assert len(remote.calls) == 1


def test_a_chat_client_without_max_tokens_gets_the_vendors_required_default(emulate: Emulate) -> None:
    """Anthropic refuses a request without max_tokens; a Chat client may leave it out."""
    url, app = emulate("anthropic")
    upstream = {"name": "claude", "kind": "anthropic", "base_url": url, "profile": "anthropic"}
    with gateway(upstream) as gw:
        c = openai.OpenAI(base_url=gw + "/v1", api_key="k", max_retries=0)
        answer: Any = c.chat.completions.create(
            model="claude-x", messages=[{"role": "user", "content": "hi"}]
        )
    assert answer.choices[0].message.content
    sent = app.state.requests[-1].body
    assert sent["max_tokens"] == 8192


@pytest.fixture
def trickling_upstream() -> Iterator[str]:
    """Answers 200, then one byte every 0.2 s, forever (well under any read timeout)."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                try:
                    conn.sendall(
                        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n"
                    )
                    while not stop.wait(0.2):
                        conn.sendall(b" ")
                except OSError:
                    continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        listener.close()
        thread.join(5)


def test_an_upstream_that_trickles_ends_at_its_deadline(trickling_upstream: str) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    upstream = {
        "name": "slow",
        "kind": "openai-chat",
        "base_url": trickling_upstream,
        "timeout": 1,
        "deadline": 2,
    }
    with gateway(upstream) as gw:
        started = time.monotonic()
        answer = httpx.post(gw + "/v1/chat/completions", json=body, timeout=30)
        took = time.monotonic() - started
    assert answer.status_code == 504
    assert "took over its 2 s deadline" in answer.json()["error"]["message"]
    assert took < 10  # not held open by the trickle


def test_an_upstreams_error_event_reaches_each_client_in_its_own_shape_and_is_counted() -> None:
    """A Chat upstream's mid-stream ``{"error": {...}}`` went to an Anthropic client verbatim
    (OpenAI's type and code in Anthropic's envelope) and was not counted as an upstream error."""

    async def erroring(http: HttpRequest) -> Response:
        async def body() -> Any:
            yield (
                b'data: {"id":"c1","object":"chat.completion.chunk","model":"m",'
                b'"choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"}}]}\n\n'
            )
            yield (
                b'data: {"error":{"message":"overloaded mid-stream","type":"server_error",'
                b'"code":"overloaded"}}\n\n'
            )

        return StreamingResponse(body(), media_type="text/event-stream")

    app = Starlette(routes=[Route("/v1/chat/completions", erroring, methods=["POST"])])
    messages = [{"role": "user", "content": "hi"}]
    with serving(app) as url, gateway({"name": "x", "kind": "openai-chat", "base_url": url}) as gw:
        claude = httpx.post(
            gw + "/v1/messages", json={"model": "m", "max_tokens": 9, "messages": messages, "stream": True}
        )
        chat = httpx.post(
            gw + "/v1/chat/completions", json={"model": "m", "messages": messages, "stream": True}
        )
        errors = httpx.get(gw + "/healthz").json()["upstream_errors"]
    anthropic_error = [json.loads(line[6:]) for line in claude.text.splitlines() if '"type":"error"' in line]
    assert anthropic_error == [
        {"type": "error", "error": {"type": "api_error", "message": "overloaded mid-stream"}}
    ]
    assert '"code":"overloaded"' in chat.text  # an OpenAI client gets the vendor's own code
    assert "overloaded mid-stream" in chat.text
    assert errors == 2


def deep(levels: int) -> str:
    return "[" * levels + "1" + "]" * levels


@pytest.mark.parametrize(("levels", "refused"), [(MAX_NESTING, False), (MAX_NESTING + 1, True)])
def test_tool_arguments_deeper_than_a_client_may_send_back_are_a_broken_answer(
    levels: int, refused: bool
) -> None:
    """An upstream's call nested 1,000 deep went to the client as a success, a turn the client
    could never send back (its arguments are refused at MAX_NESTING): it is a 502 before the
    turn ends, streamed in fragments or whole."""
    text = deep(levels)
    events: list[StreamEvent] = [
        BlockStart(index=0, block=ToolCall(id="c", name="f", arguments=text[:5])),
        *(BlockDelta(index=0, delta=ArgumentsDelta(text[i : i + 50])) for i in range(5, len(text), 50)),
        BlockStop(index=0),
    ]
    arguments: dict[int, list[str]] = {}
    for event in events[:-1]:  # nothing is refused before the block ends
        _check_arguments(event, arguments, "up")
    if not refused:
        _check_arguments(events[-1], arguments, "up")
        return
    with pytest.raises(UpstreamError, match="nested more than 100 levels deep") as caught:
        _check_arguments(events[-1], arguments, "up")
    assert caught.value.status == 502
