"""What a request may hold before any backend sees it: checks the codecs leave to the server.

The codecs read any well-formed wire value (``thinkwire convert`` converts whatever it is
given); the server also has to run it. Input that would crash a backend is refused here with a
400 that says where and why, in the client's envelope, instead of a 500 naming a Python
exception (and a keep-alive connection dropped after it):

- nesting deeper than ``MAX_NESTING`` in a tool's JSON Schema or in tool-call arguments (the
  local engine's grammar and parser, and the state's fingerprints, walk them);
- a JSON Schema whose ``required`` is not a list of strings, or whose ``properties`` is not an
  object (the grammar builder reads them as such);
- an output-token limit below 1.

Paths name the request as the IR holds it: ``tools[2].parameters.properties.a.required[0]``,
``messages[3].blocks[1].arguments``. Every walk here is iterative, so the check itself cannot
run out of stack.
"""

from __future__ import annotations

import functools
import hashlib
from collections import OrderedDict
from typing import Any, Final

import msgspec

from thinkwire.dialects._wire import describe, join
from thinkwire.errors import ApiError
from thinkwire.ir.blocks import ToolCall
from thinkwire.ir.conversation import Request, Tool

MAX_NESTING: Final = 100
"""Levels of objects and arrays a schema or a call's arguments may nest."""


def check_request(request: Request, limit_name: str) -> None:
    """Raise ``ApiError`` 400 for what the module docstring lists; ``limit_name`` is the wire
    name of the client's output-token limit."""
    limit = request.sampling.max_tokens
    if limit is not None and limit < 1:
        raise ApiError(400, f"{limit_name}: must be at least 1, got {limit}", param=limit_name)
    for i, tool in enumerate(request.tools or ()):
        if isinstance(tool, Tool) and tool.parameters is not None:
            _check_schema_once(tool.parameters, f"tools[{i}].parameters")
    for i, message in enumerate(request.messages):
        for j, block in enumerate(message.blocks):
            if isinstance(block, ToolCall) and too_deep(block.arguments):
                path = f"messages[{i}].blocks[{j}].arguments"
                raise _refused(path, f"nested more than {MAX_NESTING} levels deep")


def too_deep(arguments: str) -> bool:
    """A call's JSON ``arguments`` nest deeper than ``MAX_NESTING`` (the brackets are counted
    in C first: most arguments have too few to nest that deep)."""
    return arguments.count("{") + arguments.count("[") > MAX_NESTING and nesting(arguments) > MAX_NESTING


def nesting(text: str) -> int:
    """How deep the objects and arrays of a JSON text nest (strings skipped; the text need not
    be valid JSON)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth = max(0, depth - 1)
    return deepest


MAPS: Final = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"})
"""Schema keywords whose value maps names to schemas (a property may be called ``required``)."""


PASSED: Final = 4096
"""Schemas remembered as checked (by a 16-byte digest each: 64 KiB of keys at most)."""
_passed: OrderedDict[bytes, None] = OrderedDict()


def _check_schema_once(schema: Any, base: str) -> None:
    """``_check_schema`` once per distinct schema: clients send the same tools with every
    request (Claude Code some twenty), and walking them each time cost about a millisecond.
    Only schemas that passed are remembered, by a digest of their JSON, the oldest forgotten
    first."""
    try:
        key = hashlib.blake2b(msgspec.json.encode(schema), digest_size=16).digest()
    except (RecursionError, msgspec.EncodeError):  # deeper than the encoder goes: just walk it
        _check_schema(schema, base)
        return
    if key in _passed:
        _passed.move_to_end(key)
        return
    _check_schema(schema, base)
    _passed[key] = None
    if len(_passed) > PASSED:
        _passed.popitem(last=False)


_Node = tuple[Any, "_Node | None", str | int]
"""A place in a schema: its value, its parent's node and its key there (a path built only when
a schema is refused, since most never are)."""


def _check_schema(schema: Any, base: str) -> None:
    stack: list[tuple[_Node, int, bool]] = [((schema, None, base), 1, False)]
    while stack:
        node, depth, names = stack.pop()
        value = node[0]
        if depth > MAX_NESTING:
            raise _refused(base, f"nested more than {MAX_NESTING} levels deep")
        if isinstance(value, list):
            stack.extend(((item, node, k), depth + 1, False) for k, item in enumerate(value) if _nests(item))
            continue
        if names:  # name -> schema: the names are not keywords
            stack.extend(((item, node, key), depth + 1, False) for key, item in value.items() if _nests(item))
            continue
        required = value.get("required")
        if required is not None and not isinstance(required, bool):
            if not isinstance(required, list):
                raise _refused(f"{_path(node)}.required", "expected an array of property names")
            for k, name in enumerate(required):
                if not isinstance(name, str):
                    where = f"{_path(node)}.required[{k}]"
                    raise _refused(where, f"expected a property name, got {describe(name)}")
        properties = value.get("properties")
        if properties is not None and not isinstance(properties, dict):
            raise _refused(f"{_path(node)}.properties", f"expected an object, got {describe(properties)}")
        stack.extend(
            ((item, node, key), depth + 1, key in MAPS) for key, item in value.items() if _nests(item)
        )


def _nests(value: Any) -> bool:
    return isinstance(value, dict | list)


def _path(node: _Node) -> str:
    """``node``'s path from the schema's base, e.g. ``tools[0].parameters.properties.a``."""
    keys: list[str | int] = []
    at: _Node | None = node
    while at is not None:
        keys.append(at[2])
        at = at[1]
    base, *rest = reversed(keys)
    return functools.reduce(join, rest, str(base))


def _refused(path: str, why: str) -> ApiError:
    return ApiError(400, f"{path}: {why}", param=path)
