"""Model specs (open_model), and agents on vendor specs against the strict emulators over loopback."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from starlette.applications import Starlette
from starlette.requests import Request as HttpRequest
from starlette.responses import JSONResponse
from starlette.routing import Route

from thinkwire.agent.loop import Agent, RunResult
from thinkwire.agent.models import (
    FORMS,
    FunctionModel,
    ModelSpecError,
    Price,
    UpstreamModel,
    open_model,
    price_of,
)
from thinkwire.agent.tools import tool
from thinkwire.asgi.serving import serving
from thinkwire.emulators.run import Emulate
from thinkwire.errors import ThinkwireError
from thinkwire.ir.blocks import Text, Thinking, ToolCall, ToolResult
from thinkwire.ir.conversation import Message, Request, Tool
from thinkwire.ir.stream import StreamEvent, fold
from thinkwire.scripted import CODE_WORD, reply
from thinkwire.upstreams.profiles import PROFILES

pytestmark = pytest.mark.anyio
LIMIT = 30  # seconds any one run may take


@pytest.fixture
def nowhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty home, and an empty working directory: no thinkwire.toml routes anything."""
    monkeypatch.chdir(tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    return home


def upstream_of(model: object) -> UpstreamModel:
    assert isinstance(model, UpstreamModel)
    return model


# -- specs ------------------------------------------------------------------------------------------


async def test_scripted_is_the_deterministic_function_model() -> None:
    model = open_model("scripted", environ={})
    assert isinstance(model, FunctionModel)
    assert model.name == "scripted"
    assert model.price == Price(0.0, 0.0)

    def asking(words: str, *tools: Tool) -> Request:
        return Request(
            model="scripted", messages=(Message(role="user", blocks=(Text(text=words),)),), tools=tools
        )

    async def events_for(request: Request) -> list[StreamEvent]:
        return [event async for event in model.stream(request)]

    hi, bye = asking("hi"), asking("bye")
    weather = Tool(
        name="get_weather",
        parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    )
    with_tool = asking("hi", weather)
    events = {"hi": await events_for(hi), "bye": await events_for(bye), "tool": await events_for(with_tool)}
    # the same request, the same events: again, and from another scripted model
    assert await events_for(hi) == events["hi"]
    again = open_model("scripted", environ={})
    assert [event async for event in again.stream(hi)] == events["hi"]
    assert events["bye"] != events["hi"]
    # the events fold to exactly what the function returns for each request
    assert fold(events["hi"]) == reply(hi)
    assert fold(events["bye"]) == reply(bye)
    assert fold(events["tool"]) == reply(with_tool)
    # and that is the scripted model's answer: the user's words back, or a call of the tool offered
    for words in ("hi", "bye"):
        answer = fold(events[words]).blocks[-1]
        assert isinstance(answer, Text)
        assert answer.text.endswith(words)
    called = fold(events["tool"])
    assert called.stop_reason == "tool_use"
    call = called.blocks[-1]
    assert isinstance(call, ToolCall)
    assert call.name == "get_weather"
    assert set(json.loads(call.arguments)) == {"city"}  # the schema's required arguments
    await model.aclose()


@pytest.mark.parametrize(
    ("vendor", "key", "kind", "base_url", "profile"),
    [
        ("anthropic", "ANTHROPIC_API_KEY", "anthropic", "https://api.anthropic.com", "anthropic"),
        ("minimax", "MINIMAX_API_KEY", "openai-chat", "https://api.minimax.io", "minimax"),
        ("deepseek", "DEEPSEEK_API_KEY", "openai-chat", "https://api.deepseek.com", "deepseek"),
        ("openrouter", "OPENROUTER_API_KEY", "openai-chat", "https://openrouter.ai/api", "openrouter"),
        (
            "openai-responses",
            "OPENAI_API_KEY",
            "openai-responses",
            "https://api.openai.com",
            "openai-responses",
        ),
    ],
)
async def test_a_vendor_spec_with_its_key_is_an_upstream_model(
    vendor: str, key: str, kind: str, base_url: str, profile: str
) -> None:
    model = upstream_of(open_model(f"{vendor}:some-model", environ={key: "sk-test"}))
    try:
        assert model.name == "some-model"
        assert model.upstream.kind == kind
        assert model.upstream.base_url == base_url
        assert model.upstream.profile == PROFILES[profile]
        assert model.upstream.api_key_env == key
        assert model.upstream.api_key({key: "sk-test"}) == "sk-test"
    finally:
        await model.aclose()


async def test_the_base_url_can_be_overridden_per_vendor() -> None:
    environ = {
        "OPENAI_API_KEY": "sk-test",
        "THINKWIRE_OPENAI_RESPONSES_BASE_URL": "http://127.0.0.1:9/",
    }
    model = upstream_of(open_model("openai-responses:gpt-x", environ=environ))
    assert model.upstream.base_url == "http://127.0.0.1:9/"
    await model.aclose()


@pytest.mark.parametrize("value", [None, ""])
async def test_a_vendor_spec_without_its_key_names_the_variable(value: str | None) -> None:
    environ = {} if value is None else {"DEEPSEEK_API_KEY": value}
    with pytest.raises(ModelSpecError) as raised:
        open_model("deepseek:deepseek-reasoner", environ=environ)
    assert (
        str(raised.value) == "model 'deepseek:deepseek-reasoner' needs $DEEPSEEK_API_KEY in the environment"
    )


async def test_a_vendor_spec_without_a_model_name_is_refused() -> None:
    with pytest.raises(ModelSpecError) as raised:
        open_model("anthropic:", environ={"ANTHROPIC_API_KEY": "sk-test"})
    assert str(raised.value) == "model 'anthropic:': give the model name after anthropic:"


@pytest.mark.parametrize(
    ("spec", "base_url", "name"),
    [
        ("openai-chat:http://127.0.0.1:8000/v1#qwen", "http://127.0.0.1:8000", "qwen"),
        ("openai-chat:http://127.0.0.1:8000/v1/#qwen", "http://127.0.0.1:8000", "qwen"),
        ("openai-chat:https://example.test/api#org/model:free", "https://example.test/api", "org/model:free"),
        ("openai-chat:http://h:1/v1#a#b", "http://h:1/v1#a", "b"),  # the last # splits
    ],
)
async def test_openai_chat_url_and_model_are_parsed(spec: str, base_url: str, name: str) -> None:
    model = upstream_of(open_model(spec, environ={}))  # no key needed
    try:
        assert (model.upstream.base_url, model.name) == (base_url, name)
        assert model.upstream.kind == "openai-chat"
        assert model.upstream.profile == PROFILES["vllm"]
    finally:
        await model.aclose()


@pytest.mark.parametrize(
    "spec",
    [
        "openai-chat:http://127.0.0.1:8000/v1",
        "openai-chat:#qwen",
        "openai-chat:http://127.0.0.1:8000/v1#",
        "openai-chat:127.0.0.1:8000#qwen",
        "openai-chat:",
    ],
)
async def test_openai_chat_without_url_and_model_is_refused(spec: str) -> None:
    with pytest.raises(ModelSpecError) as raised:
        open_model(spec, environ={})
    assert str(raised.value) == (
        f"model {spec!r}: expected openai-chat:URL#MODEL, e.g. http://127.0.0.1:8000/v1#qwen"
    )


TOML = """
[[upstreams]]
name = "team"
kind = "anthropic"
base_url = "http://127.0.0.1:9"
api_key_env = "TEAM_KEY"
models = ["team-*"]
"""


async def test_a_model_name_is_routed_by_the_given_config(nowhere: Path, tmp_path: Path) -> None:
    config = tmp_path / "elsewhere.toml"
    config.write_text(TOML)
    model = upstream_of(open_model("team-large", config=config, home=nowhere, environ={"TEAM_KEY": "k"}))
    try:
        assert model.name == "team-large"
        assert (model.upstream.name, model.upstream.kind) == ("team", "anthropic")
        assert model.upstream.base_url == "http://127.0.0.1:9"
    finally:
        await model.aclose()
    with pytest.raises(ModelSpecError) as raised:
        open_model("team-large", config=config, home=nowhere, environ={})
    assert str(raised.value) == "model 'team-large' (upstream team) needs $TEAM_KEY in the environment"
    with pytest.raises(ModelSpecError, match=r"unknown model 'solo-small'"):
        open_model("solo-small", config=config, home=nowhere, environ={"TEAM_KEY": "k"})


async def test_a_model_name_is_routed_by_the_config_in_home(nowhere: Path) -> None:
    (nowhere / "thinkwire.toml").write_text(TOML)
    model = upstream_of(open_model("team-small", home=nowhere, environ={"TEAM_KEY": "k"}))
    assert model.upstream.name == "team"
    await model.aclose()
    # and through $THINKWIRE_HOME when no home is given
    model = upstream_of(open_model("team-small", environ={"TEAM_KEY": "k", "THINKWIRE_HOME": str(nowhere)}))
    assert model.upstream.name == "team"
    await model.aclose()


async def test_a_config_given_but_missing_is_an_error_naming_it(nowhere: Path) -> None:
    with pytest.raises(ThinkwireError, match=r"missing\.toml: no such file"):
        open_model("team-small", config=nowhere / "missing.toml", environ={})


@pytest.mark.parametrize("spec", ["gpt-9", "openai-chat", "anthropic", "nope:thing"])
async def test_an_unknown_spec_lists_the_forms(nowhere: Path, spec: str) -> None:
    with pytest.raises(ModelSpecError) as raised:
        open_model(spec, home=nowhere, environ={})
    assert str(raised.value) == f"unknown model {spec!r}; expected {FORMS}"
    for form in ("scripted", "anthropic:MODEL", "openai-chat:URL#MODEL", "thinkwire.toml"):
        assert form in str(raised.value)


def test_prices_match_model_globs() -> None:
    assert price_of("claude-sonnet-4-5") == Price(3.0, 15.0)
    assert price_of("deepseek-reasoner") == Price(0.28, 0.42)
    assert price_of("some-other-model") is None


# -- agents on vendor specs, against the emulators ------------------------------------------------------


def lookup(city: str) -> str:
    """Look up the weather in a city.

    Args:
        city: The city's name.
    """
    return f"sunny in {city}"


def vendor_env(vendor: str, url: str) -> dict[str, str]:
    return {f"THINKWIRE_{vendor.upper()}_BASE_URL": url, f"{vendor.upper()}_API_KEY": "sk-emulated"}


async def run_agent(spec: str, environ: dict[str, str], policy: Any) -> RunResult:
    model = open_model(spec, environ=environ)
    try:
        with anyio.fail_after(LIMIT):
            return await Agent(model, [tool(lookup)], policy=policy).run("What is the weather like?")
    finally:
        await model.aclose()


def noted_code_word(result: RunResult) -> str:
    """The code word the model noted in its first turn's thinking."""
    first = next(m for m in result.transcript if m.role == "assistant")
    thinking = " ".join(b.text for b in first.blocks if isinstance(b, Thinking))
    found = re.search(r"I note the code word ([a-z]+-[0-9a-f]{4})", thinking)
    assert found is not None, thinking
    return found.group(1)


@pytest.mark.parametrize(
    ("vendor", "spec"),
    [("anthropic", "anthropic:claude-emulated"), ("deepseek", "deepseek:deepseek-reasoner")],
)
async def test_keep_answers_and_quotes_the_code_word_its_thinking_noted(
    emulate: Emulate, vendor: str, spec: str
) -> None:
    url, app = emulate(vendor)
    result = await run_agent(spec, vendor_env(vendor, url), "keep")
    assert result.status == "answered", result.reason
    assert result.steps == 2
    word = noted_code_word(result)
    assert result.answer == f"lookup returned: sunny in example. The code word I noted was {word}."
    assert [e.status for e in app.state.requests] == [200, 200]
    # the tool really ran, and its result went back
    results = [b for m in result.transcript for b in m.blocks if isinstance(b, ToolResult)]
    assert [r.content for r in results] == ["sunny in example"]
    assert [b.name for m in result.transcript for b in m.blocks if isinstance(b, ToolCall)] == ["lookup"]


async def test_an_agent_without_max_tokens_still_sends_anthropic_one(emulate: Emulate) -> None:
    url, app = emulate("anthropic")
    result = await run_agent("anthropic:claude-emulated", vendor_env("anthropic", url), "keep")
    assert result.status == "answered", result.reason
    body = app.state.requests[0].body
    # Anthropic requires max_tokens, and above the thinking budget the upstream profile asks for
    assert body["max_tokens"] > body["thinking"]["budget_tokens"] > 0


async def test_discard_on_anthropic_is_refused_because_the_tool_loop_s_thinking_is_required(
    emulate: Emulate,
) -> None:
    url, app = emulate("anthropic")
    result = await run_agent("anthropic:claude-emulated", vendor_env("anthropic", url), "discard")
    assert result.status == "error"
    assert result.answer is None
    assert result.steps == 2
    assert result.reason is not None
    assert result.reason.startswith(
        "step 2: upstream 'anthropic' answered 400: messages.1.content.0.type: Expected `thinking` "
        "or `redacted_thinking`, but found `tool_use`. When `thinking` is enabled, a final "
        "`assistant` message must start with a thinking block"
    )
    assert [e.status for e in app.state.requests] == [200, 400]
    assert app.state.requests[1].error in result.reason


async def test_discard_on_deepseek_is_refused_because_reasoning_content_must_come_back(
    emulate: Emulate,
) -> None:
    url, app = emulate("deepseek")
    result = await run_agent("deepseek:deepseek-reasoner", vendor_env("deepseek", url), "discard")
    assert result.status == "error"
    assert result.reason == (
        "step 2: upstream 'deepseek' answered 400: "
        "The 'reasoning_content' in the thinking mode must be passed back to the API."
    )
    assert [e.status for e in app.state.requests] == [200, 400]


@pytest.mark.parametrize(
    ("vendor", "spec"),
    [("anthropic", "anthropic:claude-emulated"), ("deepseek", "deepseek:deepseek-reasoner")],
)
async def test_current_turn_keeps_the_tool_loop_s_thinking(emulate: Emulate, vendor: str, spec: str) -> None:
    url, app = emulate(vendor)
    result = await run_agent(spec, vendor_env(vendor, url), "current-turn")
    assert result.status == "answered", result.reason
    assert result.answer is not None
    found = CODE_WORD.search(result.answer.replace("I noted was", "the code word"))
    assert found is not None
    assert found.group(1) == noted_code_word(result)
    assert [e.status for e in app.state.requests] == [200, 200]


async def test_the_key_checked_in_environ_is_the_key_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    seen: list[str | None] = []

    async def messages(http: HttpRequest) -> JSONResponse:
        seen.append(http.headers.get("x-api-key"))
        error = {"type": "authentication_error", "message": "invalid x-api-key"}
        return JSONResponse({"type": "error", "error": error}, status_code=401)

    app = Starlette(routes=[Route("/v1/messages", messages, methods=["POST"])])
    with serving(app) as url:
        environ = {"ANTHROPIC_API_KEY": "sk-from-environ", "THINKWIRE_ANTHROPIC_BASE_URL": url}
        model = open_model("anthropic:claude-emulated", environ=environ)
        request = Request(model="x", messages=(Message(role="user", blocks=(Text(text="hi"),)),))
        try:
            with anyio.fail_after(LIMIT), pytest.raises(ThinkwireError):
                await drain(model.stream(request))
        finally:
            await model.aclose()
    assert seen == ["sk-from-environ"]


async def drain(events: AsyncIterator[object]) -> None:
    async for _ in events:
        pass


async def test_local_runs_on_the_threads_it_is_given(nowhere: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``threads`` reaches the engine's options (the scripted engine stands in for the model file);
    without it the engine takes every core."""
    import dataclasses

    from thinkwire.local import build

    seen: list[int | None] = []
    real = build.build_engine

    def built(options: build.EngineOptions) -> object:
        seen.append(options.threads)
        return real(dataclasses.replace(options, model="scripted"))

    monkeypatch.setattr(build, "build_engine", built)
    for threads in (1, None):
        model = open_model("local", home=nowhere, environ={}, threads=threads)
        await model.aclose()
    assert seen == [1, None]
