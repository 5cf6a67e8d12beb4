"""A tiny MCP server for tests/agent/test_agent_mcp.py: ``python mcp_demo_server.py [PREFIX]``.

Speaks MCP over stdio. ``PREFIX`` (optional) is put before every tool name, so two copies can
be started with clashing or distinct names.
"""

from __future__ import annotations

import sys

from mcp.server.mcpserver import Image, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult

PREFIX = sys.argv[1] if len(sys.argv) > 1 else ""
PNG = b"\x89PNG\r\n\x1a\n" + bytes(92)

server = MCPServer("thinkwire-demo")


@server.tool(name=f"{PREFIX}add")
def add(a: int, b: int) -> str:
    """Add two integers."""
    return str(a + b)


@server.tool(name=f"{PREFIX}echo")
def echo(text: str, times: int = 1) -> list[str]:
    """Repeat the text, one part per repetition."""
    return [text] * times


@server.tool(name=f"{PREFIX}fail")
def fail(reason: str) -> str:
    """Always fails with the given reason."""
    raise ToolError(reason)


@server.tool(name=f"{PREFIX}picture")
def picture() -> Image:
    """A 100-byte PNG."""
    return Image(data=PNG, format="png")


@server.tool(name=f"{PREFIX}weather")
def weather(city: str) -> CallToolResult:
    """Structured content and no text."""
    return CallToolResult(content=[], structured_content={"city": city, "celsius": 21.5})


if __name__ == "__main__":
    server.run()
