"""MCP servers as agent tools (``thinkwire run --mcp "CMD ARGS"``).

``async with mcp_tools("npx -y some-server --flag") as tools:`` starts the server as a child
process speaking MCP over stdio (the command string is split with ``shlex``; ``env`` adds
variables over the SDK's small default environment, not over ours), initialises the session,
lists its tools (following pagination cursors) and yields one ``AgentTool`` per tool: its spec
is the server's name, description and ``inputSchema``; its ``call`` sends ``tools/call`` over
the session, so the server validates the arguments. A result becomes one string: text parts
joined with newlines, other parts described briefly (``[image image/png, 1234 bytes]``), the
structured content as JSON when there is no text. A result flagged ``isError`` raises
``MCPToolError`` with the server's text, and a protocol error raises the SDK's ``MCPError``:
``run_tool`` turns either into an error result the model sees.

``mcp_toolsets(commands)`` starts several servers in one ``AsyncExitStack`` and yields all
their tools in one list; two tools with the same name are a ``ToolError`` naming both servers.

A command that does not exist, exits at once, or does not answer ``initialize`` and
``tools/list`` within ``start_timeout`` seconds is a one-line ``ToolError`` naming the command
and why, ending with the tail of the server's stderr (which goes to an unlinked temporary file,
not to our terminal). Closing is bounded by the SDK: stdin is closed, then the process group is
sent SIGTERM and SIGKILL within a few seconds. Exceptions from inside the ``async with`` body
come out as themselves, not wrapped in the SDK's task-group ``ExceptionGroup``.
"""

from __future__ import annotations

import os
import shlex
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import IO, Any, TextIO, cast

import anyio
import orjson
from mcp import ClientSession, StdioServerParameters, stdio_client, types
from mcp.shared.exceptions import MCPError

from thinkwire.agent.tools import DEFAULT_TIMEOUT, AgentTool, ArgumentsError, ToolError
from thinkwire.ir.conversation import Tool

START_TIMEOUT = 30.0
"""Seconds a server has to answer ``initialize`` and list its tools."""
STDERR_TAIL = 300
"""Characters of the server's stderr quoted in a startup error."""


class MCPToolError(Exception):
    """An MCP tool reported an error (``isError``); the message is the server's text."""


@asynccontextmanager
async def mcp_tools(
    command: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    env: dict[str, str] | None = None,
    start_timeout: float = START_TIMEOUT,
) -> AsyncIterator[list[AgentTool]]:
    """The tools of the MCP server that ``command`` starts, while it runs (module docstring);
    ``timeout`` bounds each call."""
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise ToolError(f"--mcp {command!r}: cannot split the command: {exc}") from None
    if not argv:
        raise ToolError("--mcp: the command is empty")
    params = StdioServerParameters(command=argv[0], args=argv[1:], env=env)
    with tempfile.TemporaryFile() as errlog:
        why = ""
        raised: BaseException | None = None
        try:
            async with AsyncExitStack() as stack:
                try:
                    streams = await stack.enter_async_context(stdio_client(params, cast(TextIO, errlog)))
                    session = await stack.enter_async_context(ClientSession(*streams))
                    with anyio.fail_after(start_timeout):
                        await session.initialize()
                        listed = await _list_tools(session)
                except Exception as exc:
                    why = _startup_failure(exc, argv[0], start_timeout)
                else:
                    try:
                        yield [_agent_tool(session, t, timeout) for t in listed]
                    except BaseException as exc:
                        raised = exc
                        raise
                    return
        except BaseExceptionGroup as group:
            if raised is None or _only_leaf(group) is not raised:
                raise
            raise raised from raised.__cause__  # the body's own exception, unwrapped
        raise ToolError(f"--mcp {command!r}: {why}{_tail(errlog)}")


@asynccontextmanager
async def mcp_toolsets(
    commands: Sequence[str], *, timeout: float = DEFAULT_TIMEOUT, env: dict[str, str] | None = None
) -> AsyncIterator[list[AgentTool]]:
    """The tools of every server in ``commands``, in order; ``ToolError`` on a name offered twice."""
    async with AsyncExitStack() as stack:
        tools: list[AgentTool] = []
        owner: dict[str, str] = {}
        for command in commands:
            for t in await stack.enter_async_context(mcp_tools(command, timeout=timeout, env=env)):
                if t.name in owner:
                    raise ToolError(
                        f"--mcp: two servers offer a tool named {t.name!r}: {owner[t.name]!r} and {command!r}"
                    )
                owner[t.name] = command
                tools.append(t)
        yield tools


async def _list_tools(session: ClientSession) -> list[types.Tool]:
    listed: list[types.Tool] = []
    cursor: str | None = None
    while True:
        page = await session.list_tools(
            params=types.PaginatedRequestParams(cursor=cursor) if cursor else None
        )
        listed.extend(page.tools)
        cursor = page.next_cursor
        if not cursor:
            return listed


def _agent_tool(session: ClientSession, listed: types.Tool, timeout: float) -> AgentTool:
    name = listed.name

    async def call(arguments: dict[str, Any]) -> str:
        try:
            result = await session.call_tool(name, arguments)
        except MCPError as exc:
            if exc.code == types.INVALID_PARAMS:
                raise ArgumentsError(exc.message) from None
            raise
        text = _text(result)
        if result.is_error:
            raise MCPToolError(text or "the tool reported an error and said nothing more")
        return text

    spec = Tool(name=name, description=listed.description or None, parameters=listed.input_schema)
    return AgentTool(spec=spec, call=call, timeout=timeout)


def _text(result: types.CallToolResult) -> str:
    parts = [_describe(part) for part in result.content]
    if result.structured_content is not None and not any(
        isinstance(p, types.TextContent) for p in result.content
    ):
        parts.append(orjson.dumps(result.structured_content).decode())
    return "\n".join(parts)


def _describe(part: types.ContentBlock) -> str:
    if isinstance(part, types.TextContent):
        return part.text
    if isinstance(part, types.ImageContent | types.AudioContent):
        return f"[{part.type} {part.mime_type}, {_decoded_size(part.data)} bytes]"
    if isinstance(part, types.ResourceLink):
        return f"[resource link {part.uri}{f' ({part.mime_type})' if part.mime_type else ''}]"
    resource = part.resource
    if isinstance(resource, types.TextResourceContents):
        return f"[resource {resource.uri}]\n{resource.text}"
    return f"[resource {resource.uri} {resource.mime_type or 'blob'}, {_decoded_size(resource.blob)} bytes]"


def _decoded_size(base64_data: str) -> int:
    data = base64_data.strip()
    return len(data) * 3 // 4 - (len(data) - len(data.rstrip("=")))


def _startup_failure(exc: BaseException, program: str, start_timeout: float) -> str:
    exc = _only_leaf(exc) or exc
    if isinstance(exc, FileNotFoundError):
        return f"no such command: {program}"
    if isinstance(exc, PermissionError):
        return f"cannot run {program}: permission denied"
    if isinstance(exc, TimeoutError):
        return f"no answer to initialize / tools/list within {start_timeout:g} s"
    if isinstance(exc, MCPError) and exc.code == types.CONNECTION_CLOSED:
        return "the server exited or closed its output before it was ready"
    if isinstance(exc, OSError):
        return f"cannot start {program}: {exc.strerror or exc}"
    return f"the server failed to start: {type(exc).__name__}: {exc}"


def _only_leaf(exc: BaseException) -> BaseException | None:
    """The one exception inside nested single-member groups (None if there are several)."""
    while isinstance(exc, BaseExceptionGroup):
        if len(exc.exceptions) != 1:
            return None
        exc = exc.exceptions[0]
    return exc


def _tail(errlog: IO[bytes]) -> str:
    """The end of the server's stderr as ``; stderr: ...`` on one line (empty when silent)."""
    fd = errlog.fileno()
    size = os.fstat(fd).st_size
    text = os.pread(fd, 4 * STDERR_TAIL, max(0, size - 4 * STDERR_TAIL)).decode(errors="replace")
    text = " | ".join(line.strip() for line in text.splitlines() if line.strip())
    if not text:
        return ""
    return f"; stderr: {'...' if len(text) > STDERR_TAIL else ''}{text[-STDERR_TAIL:]}"


__all__ = ["START_TIMEOUT", "MCPToolError", "mcp_tools", "mcp_toolsets"]
