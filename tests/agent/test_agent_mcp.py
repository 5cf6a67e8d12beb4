"""MCP servers as agent tools, against a real stdio server (mcp_demo_server.py, the SDK's MCPServer)."""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import anyio
import pytest

from thinkwire.agent.mcp import _list_tools, mcp_tools, mcp_toolsets
from thinkwire.agent.tools import ToolError, run_tool
from thinkwire.ir.blocks import ToolCall
from thinkwire.ir.conversation import Tool

pytestmark = pytest.mark.anyio

SERVER = f"{shlex.quote(sys.executable)} {shlex.quote(str(Path(__file__).with_name('mcp_demo_server.py')))}"
PYTHON = shlex.quote(sys.executable)
LIMIT = 20  # seconds any one test may take


def call(name: str, arguments: str) -> ToolCall:
    return ToolCall(id="call_1", name=name, arguments=arguments)


async def test_tools_are_listed_with_descriptions_and_schemas() -> None:
    with anyio.fail_after(LIMIT):
        async with mcp_tools(SERVER) as tools:
            by_name = {t.name: t.spec for t in tools}
    assert set(by_name) == {"add", "echo", "fail", "picture", "weather"}
    add = by_name["add"]
    assert isinstance(add, Tool)
    assert add.description == "Add two integers."
    assert add.parameters is not None
    assert add.parameters["type"] == "object"
    assert add.parameters["required"] == ["a", "b"]
    assert add.parameters["properties"]["a"]["type"] == "integer"


async def test_results_reach_the_model_through_run_tool() -> None:
    with anyio.fail_after(LIMIT):
        async with mcp_tools(SERVER) as tools:
            added = await run_tool(tools, call("add", '{"a": 2, "b": 40}'))
            echoed = await run_tool(tools, call("echo", '{"text": "hi", "times": 3}'))
            picture = await run_tool(tools, call("picture", "{}"))
            weather = await run_tool(tools, call("weather", '{"city": "Oslo"}'))
    assert (added.result.content, added.result.is_error) == ("42", False)
    assert echoed.result.content == "hi\nhi\nhi"
    assert picture.result.content == "[image image/png, 100 bytes]"
    assert weather.result.content == '{"city":"Oslo","celsius":21.5}'


async def test_tool_failures_and_bad_arguments_are_error_results() -> None:
    with anyio.fail_after(LIMIT):
        async with mcp_tools(SERVER) as tools:
            failed = await run_tool(tools, call("fail", '{"reason": "the disk is full"}'))
            wrong_type = await run_tool(tools, call("add", '{"a": "two", "b": 1}'))
            missing = await run_tool(tools, call("add", '{"a": 1}'))
            not_json = await run_tool(tools, call("add", '{"a": 1,'))
    assert failed.result.is_error
    assert failed.result.content == "error: MCPToolError: Error executing tool fail: the disk is full"
    assert wrong_type.result.is_error
    assert "valid integer" in wrong_type.result.content
    assert missing.result.is_error
    assert "Field required" in missing.result.content
    assert not_json.result.is_error
    assert "not valid JSON" in not_json.result.content


async def test_the_body_s_exception_comes_out_unwrapped() -> None:
    with anyio.fail_after(LIMIT), pytest.raises(KeyError, match="mine"):
        async with mcp_tools(SERVER):
            raise KeyError("mine")


@pytest.mark.parametrize(
    ("command", "why"),
    [
        ("thinkwire-no-such-mcp-server --flag", "no such command: thinkwire-no-such-mcp-server"),
        (
            f"{PYTHON} -c \"import sys; sys.exit('cannot open the database')\"",
            "the server exited or closed its output before it was ready; stderr: cannot open the database",
        ),
        ("", "the command is empty"),
        ("'unbalanced", "cannot split the command"),
    ],
    ids=["missing", "exits-at-once", "empty", "unbalanced-quote"],
)
async def test_a_server_that_cannot_start_is_a_quick_tool_error(command: str, why: str) -> None:
    started = time.monotonic()
    with anyio.fail_after(LIMIT), pytest.raises(ToolError) as caught:
        async with mcp_tools(command):
            pass
    message = str(caught.value)
    assert why in message
    assert "\n" not in message
    assert time.monotonic() - started < 5


async def test_a_server_that_never_answers_initialize_times_out() -> None:
    # Ignores stdin closing too, so closing has to go on to SIGTERM.
    script = "import sys, time; print('listening...', file=sys.stderr, flush=True); time.sleep(60)"
    silent = f"{PYTHON} -c {shlex.quote(script)}"
    started = time.monotonic()
    with anyio.fail_after(LIMIT), pytest.raises(ToolError) as caught:
        async with mcp_tools(silent, start_timeout=0.5):
            pass
    assert str(caught.value) == (
        f"--mcp {silent!r}: no answer to initialize / tools/list within 0.5 s; stderr: listening..."
    )
    assert time.monotonic() - started < 5


async def test_several_servers_give_one_list() -> None:
    with anyio.fail_after(LIMIT):
        async with mcp_toolsets([SERVER, f"{SERVER} b_"]) as tools:
            names = [t.name for t in tools]
            run = await run_tool(tools, call("b_add", '{"a": 1, "b": 1}'))
    assert names == [
        "add",
        "echo",
        "fail",
        "picture",
        "weather",
        "b_add",
        "b_echo",
        "b_fail",
        "b_picture",
        "b_weather",
    ]
    assert run.result.content == "2"


async def test_two_servers_with_a_clashing_tool_name_are_a_tool_error() -> None:
    with anyio.fail_after(LIMIT), pytest.raises(ToolError) as caught:
        async with mcp_toolsets([SERVER, SERVER]):
            pass
    assert str(caught.value) == f"--mcp: two servers offer a tool named 'add': {SERVER!r} and {SERVER!r}"


async def test_tool_listing_follows_the_cursor() -> None:
    pages = {None: (["a", "b"], "page2"), "page2": (["c"], None)}

    class Session:
        async def list_tools(self, *, params: Any = None) -> Any:
            names, after = pages[params.cursor if params else None]
            tools = [SimpleNamespace(name=n) for n in names]
            return SimpleNamespace(tools=tools, next_cursor=after)

    listed = await _list_tools(Session())  # type: ignore[arg-type]
    assert [t.name for t in listed] == ["a", "b", "c"]
