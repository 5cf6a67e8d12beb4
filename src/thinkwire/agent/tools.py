"""Tools for the agent: Python callables (or MCP tools) the model can call.

``tool(fn)`` turns a function with type hints and a docstring into an ``AgentTool``: its name
is the function's, its description the docstring's first paragraph, its parameters a JSON
Schema built by msgspec from the hints (``Args:`` lines of a Google-style docstring become the
properties' descriptions). Arguments the model sends are validated against the same types
before the call, so a bad call gets an error result that says what was wrong
(``Expected `int`, got `str` - at `$.count```), never a crash.

``run_tool`` never raises for the tool's sake: an exception in the tool, a timeout, an unknown
tool name or arguments that are not valid JSON all become an error ``ToolResult`` the model
sees, so it can reflect and try something else. Sync functions run on a worker thread, async
ones on the loop; a timed-out sync function cannot be killed and finishes in the background
(its result is dropped).

``load_tools("pkg.module:function", "path/to/file.py:function")`` imports tools by spec for
``thinkwire run --tools``; ``module:*`` takes every public function the module defines.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import inspect
import re
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, get_type_hints

import anyio.to_thread
import msgspec
import orjson

from thinkwire.errors import ThinkwireError
from thinkwire.ir.blocks import ToolCall, ToolResult
from thinkwire.ir.conversation import Tool

DEFAULT_TIMEOUT = 60.0
"""Seconds a tool may run before the model gets a timeout error instead of its result."""
MAX_OUTPUT = 20_000
"""Characters of a tool's output the model sees; longer output is cut and says so."""


class ToolError(ThinkwireError):
    """A tool cannot be built or loaded (bad spec, unsupported signature)."""


Call = Callable[[dict[str, Any]], Awaitable[Any]]


class AgentTool(msgspec.Struct, frozen=True, kw_only=True):
    """A tool as the model sees it (``spec``) and how to run it (``call``: validated arguments
    in, any value out; a ``str`` goes to the model as it is, anything else as JSON)."""

    spec: Tool
    call: Call
    timeout: float = DEFAULT_TIMEOUT

    @property
    def name(self) -> str:
        return self.spec.name


def tool(fn: Callable[..., Any], *, name: str | None = None, timeout: float = DEFAULT_TIMEOUT) -> AgentTool:
    """``fn`` as an agent tool (module docstring). ``ToolError`` when a parameter has no type
    hint or is ``*args`` / ``**kwargs``."""
    label = name or fn.__name__
    try:
        hints = get_type_hints(fn)
    except Exception as exc:  # unresolvable forward references
        raise ToolError(f"tool {label}: cannot read its type hints: {exc}") from None
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    for param in inspect.signature(fn).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise ToolError(f"tool {label}: *args and **kwargs cannot be described to a model")
        if param.name not in hints:
            raise ToolError(f"tool {label}: parameter {param.name!r} needs a type hint")
        if param.default is param.empty:
            fields.append((param.name, hints[param.name]))
        else:
            fields.append((param.name, hints[param.name], param.default))
    arguments = msgspec.defstruct(f"{label}_arguments", fields, kw_only=True, forbid_unknown_fields=True)
    summary, described = _docstring(fn.__doc__ or "")
    try:
        schema = _schema(arguments, described)
    except (TypeError, ValueError) as exc:  # a type msgspec cannot describe (object, complex, ...)
        bad = next((f[0] for f in fields if not _describable(f[1])), "?")
        why = str(exc).strip().splitlines()[-1]
        raise ToolError(f"tool {label}: parameter {bad!r} cannot be described to a model ({why})") from None
    is_async = inspect.iscoroutinefunction(fn)

    async def call(raw: dict[str, Any]) -> Any:
        try:
            value = msgspec.convert(raw, arguments)
        except msgspec.ValidationError as exc:
            raise ArgumentsError(str(exc)) from None
        kwargs = {f: getattr(value, f) for f in value.__struct_fields__}
        if is_async:
            return await fn(**kwargs)
        return await anyio.to_thread.run_sync(lambda: fn(**kwargs), abandon_on_cancel=True)

    spec = Tool(name=label, description=summary or None, parameters=schema)
    return AgentTool(spec=spec, call=call, timeout=timeout)


def _describable(hint: Any) -> bool:
    try:
        msgspec.json.schema(hint)
    except (TypeError, ValueError):
        return False
    return True


class ArgumentsError(Exception):
    """The model's arguments do not fit the tool's parameters."""


def _docstring(doc: str) -> tuple[str, dict[str, str]]:
    """The first paragraph, and parameter descriptions from an ``Args:`` section."""
    text = inspect.cleandoc(doc)
    summary = " ".join(text.split("\n\n", 1)[0].split()) if text else ""
    described: dict[str, str] = {}
    section = re.search(r"^(?:Args|Arguments|Parameters):\s*\n((?:[ \t]+.*\n?|\s*\n)+)", text, re.M)
    if section:
        current = None
        for line in section.group(1).splitlines():
            match = re.match(r"\s+(\w+)(?:\s*\([^)]*\))?:\s*(.*)", line)
            if match and (current is None or len(line) - len(line.lstrip()) <= 4):
                current = match.group(1)
                described[current] = match.group(2).strip()
            elif current is not None and line.strip():
                described[current] = f"{described[current]} {line.strip()}".strip()
    return summary, described


def _schema(arguments: type, described: dict[str, str]) -> dict[str, Any]:
    """The arguments struct's JSON Schema, inlined (small models do badly with ``$ref``)."""
    (ref,), components = msgspec.json.schema_components([arguments], ref_template="#/$defs/{name}")
    schema: dict[str, Any] = _inline(ref, components)
    schema.pop("title", None)
    schema.pop("additionalProperties", None)
    for field, text in described.items():
        if field in schema.get("properties", {}) and text:
            schema["properties"][field] = {**schema["properties"][field], "description": text}
    schema.setdefault("properties", {})
    schema.setdefault("required", [])
    return schema


def _inline(node: Any, components: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        if "$ref" in node and len(node) == 1:
            return _inline(components[node["$ref"].rsplit("/", 1)[1]], components)
        return {k: _inline(v, components) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline(v, components) for v in node]
    return node


class ToolRun(msgspec.Struct, frozen=True, kw_only=True):
    """One executed call: the result the model sees and how long it took."""

    result: ToolResult
    seconds: float


async def run_tool(tools: Sequence[AgentTool], call: ToolCall) -> ToolRun:
    """Run ``call`` with the matching tool; every failure is an error result (module docstring)."""
    started = time.monotonic()

    def done(content: str, *, error: bool = False) -> ToolRun:
        if len(content) > MAX_OUTPUT:
            cut = f"\n[output cut: {len(content)} characters, the first {MAX_OUTPUT} shown]"
            content = content[:MAX_OUTPUT] + cut
        return ToolRun(
            result=ToolResult(call_id=call.id, content=content, is_error=error),
            seconds=time.monotonic() - started,
        )

    found = next((t for t in tools if t.name == call.name), None)
    if found is None:
        names = ", ".join(t.name for t in tools) or "none"
        return done(f"error: there is no tool named {call.name!r} (tools: {names})", error=True)
    try:
        raw = call.parsed_arguments()
    except msgspec.DecodeError as exc:
        return done(f"error: the arguments are not valid JSON ({exc}): {call.arguments[:200]}", error=True)
    if not isinstance(raw, dict):
        return done(f"error: the arguments must be a JSON object, got {call.arguments[:200]}", error=True)
    try:
        with anyio.fail_after(found.timeout) as scope:
            value = await found.call(raw)
    except TimeoutError as exc:
        if not scope.cancel_called:  # the tool's own TimeoutError (a socket's, say), not ours
            return done(f"error: {type(exc).__name__}: {exc}", error=True)
        return done(f"error: {call.name} timed out after {found.timeout:g} s", error=True)
    except ArgumentsError as exc:
        return done(f"error: invalid arguments for {call.name}: {exc}", error=True)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        return done(f"error: {type(exc).__name__}: {exc}", error=True)
    return done(value if isinstance(value, str) else _json(value))


def _json(value: Any) -> str:
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS, default=_plain).decode()
    except TypeError:
        return repr(value)


def _plain(value: Any) -> Any:
    """What orjson cannot encode itself: a msgspec Struct as its fields, anything else as text."""
    return msgspec.to_builtins(value) if isinstance(value, msgspec.Struct) else str(value)


def load_tools(specs: Sequence[str]) -> list[AgentTool]:
    """Tools from ``module:function`` / ``file.py:function`` / ``module:*`` specs (module
    docstring); ``ToolError`` says which spec failed and why."""
    out: list[AgentTool] = []
    origins: dict[str, list[str]] = {}
    for spec in specs:
        before = len(out)
        where, sep, attr = spec.rpartition(":")
        if not sep or not where or not attr:
            raise ToolError(f"--tools {spec}: expected MODULE:FUNCTION or FILE.py:FUNCTION")
        module = _import(where, spec)
        if attr == "*":
            found = [
                f
                for n, f in vars(module).items()
                if inspect.isfunction(f) and f.__module__ == module.__name__ and not n.startswith("_")
            ]
            if not found:
                raise ToolError(f"--tools {spec}: {where} defines no public functions")
            out.extend(tool(f) for f in found)
        else:
            fn = getattr(module, attr, None)
            if not isinstance(fn, AgentTool) and not callable(fn):
                raise ToolError(f"--tools {spec}: {where} has no function {attr!r}")
            out.append(fn if isinstance(fn, AgentTool) else tool(fn))
        for made in out[before:]:
            origins.setdefault(made.name, []).append(spec)
    duplicated = {n: s for n, s in origins.items() if len(s) > 1}
    if duplicated:
        clashes = "; ".join(f"{n} (from {', '.join(s)})" for n, s in sorted(duplicated.items()))
        raise ToolError(f"--tools: more than one tool is named {clashes}")
    return out


def _import(where: str, spec: str) -> Any:
    try:
        if where.endswith(".py"):
            path = Path(where)
            if not path.is_file():
                raise ToolError(f"--tools {spec}: no file {where}")
            name = f"thinkwire_tools_{path.stem}"
            loader = importlib.util.spec_from_file_location(name, path)
            if loader is None or loader.loader is None:
                raise ToolError(f"--tools {spec}: cannot import {where}")
            module = importlib.util.module_from_spec(loader)
            sys.modules[name] = module
            loader.loader.exec_module(module)
            return module
        return importlib.import_module(where)
    except ToolError:
        raise
    except Exception as exc:
        raise ToolError(f"--tools {spec}: cannot import {where}: {type(exc).__name__}: {exc}") from None


__all__ = ["AgentTool", "ToolError", "ToolRun", "load_tools", "run_tool", "tool"]
