"""The tools ``thinkwire run`` offers unless told otherwise: safe, read-only, no network.

- ``calculate(expression)``: arithmetic (``+ - * / // % **``, parentheses, ``round``, ``abs``,
  ``min``, ``max``, ``sqrt``) evaluated over the syntax tree, never ``eval``;
- ``list_files(directory)`` and ``read_file(path)``: the working directory's tree only (a path
  that leaves it is refused), text files, output cut at ``thinkwire.agent.tools.MAX_OUTPUT``;
  hidden files and folders (a name starting with ``.``, such as ``.env``) are neither listed
  nor read. ``read_file`` opens the resolved path without following a link in its last part
  and checks where the opened file really is, so a link swapped in between the check and the
  open cannot lead it out of the directory;
- ``current_time()``: the local date and time.
"""

from __future__ import annotations

import ast
import datetime
import math
import operator
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from thinkwire.agent.tools import AgentTool, tool

_BINARY: Final[dict[type[ast.operator], Callable[[Any, Any], Any]]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: Final[dict[type[ast.unaryop], Callable[[Any], Any]]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}
_MAX_BITS: Final = 10_000
"""The largest power ``calculate`` computes, in bits (about 3,000 digits)."""
_FUNCTIONS: Final[dict[str, Callable[..., Any]]] = {
    "round": round,
    "abs": abs,
    "min": min,
    "max": max,
    "sqrt": math.sqrt,
}


def calculate(expression: str) -> str:
    """Evaluate an arithmetic expression and return the number.

    Args:
        expression: Arithmetic such as "2 * (3 + 4)"; supports + - * / // % **,
            parentheses, round, abs, min, max and sqrt.
    """
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"not an arithmetic expression: {exc.msg}") from None
    value = _evaluate(tree.body)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        value = int(value)
    return str(value)


def _evaluate(node: ast.expr) -> Any:
    if (
        isinstance(node, ast.Constant)
        and isinstance(node.value, int | float)
        and not isinstance(node.value, bool)
    ):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > 1000:
            raise ValueError("exponent too large")
        if isinstance(node.op, ast.Pow) and abs(left) > 1 and right * math.log2(abs(left)) > _MAX_BITS:
            raise ValueError("result too large")  # (2**1000)**1000: each exponent small, the power not
        return _BINARY[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_evaluate(node.operand))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS:
        return _FUNCTIONS[node.func.id](*(_evaluate(a) for a in node.args))
    raise ValueError(f"unsupported in an arithmetic expression: {ast.unparse(node)}")


def _inside(path: str) -> Path:
    root = Path.cwd().resolve()
    target = (root / path).resolve()
    if target != root and root not in target.parents:
        raise PermissionError(f"{path} is outside the working directory")
    return target


def list_files(directory: str = ".") -> str:
    """List the files and folders in a directory under the working directory.

    Args:
        directory: A path relative to the working directory.
    """
    target = _inside(directory)
    if not target.is_dir():
        raise FileNotFoundError(f"no directory {directory}")
    names = sorted(
        p.name + ("/" if p.is_dir() else "") for p in target.iterdir() if not p.name.startswith(".")
    )
    return "\n".join(names) or "(empty)"


def read_file(path: str) -> str:
    """Read a text file under the working directory.

    Args:
        path: A path relative to the working directory.
    """
    root = Path.cwd().resolve()
    target = _inside(path)
    if any(part.startswith(".") for part in target.relative_to(root).parts):
        raise PermissionError(f"{path} is hidden (a name starting with '.'); hidden files are not read")
    try:
        fd = os.open(target, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        raise FileNotFoundError(f"no file {path}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise FileNotFoundError(f"no file {path}")
    with os.fdopen(fd, "rb") as opened:
        real = _opened_path(fd)
        if real is not None and real != root and root not in real.parents:
            raise PermissionError(f"{path} is outside the working directory")
        return opened.read().decode("utf-8", errors="replace")


def _opened_path(fd: int) -> Path | None:
    """Where an open file really is (Linux's ``/proc``; ``None`` where that cannot be known)."""
    try:
        return Path(os.readlink(f"/proc/self/fd/{fd}"))
    except OSError:
        return None


def current_time() -> str:
    """The current local date and time (ISO 8601)."""
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


def builtin_tools() -> list[AgentTool]:
    return [tool(calculate), tool(list_files), tool(read_file), tool(current_time)]


__all__ = ["builtin_tools", "calculate", "current_time", "list_files", "read_file"]
