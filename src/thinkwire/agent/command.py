"""``thinkwire run`` and ``thinkwire trace view``: the agent from the command line."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, NoReturn, TypeVar

import typer

from thinkwire.errors import ThinkwireError
from thinkwire.options import POLICY, PolicyName, Threads, fail

T = TypeVar("T")


def _default_trace(home: Path | None) -> Path:
    from thinkwire.local.model_files import default_home

    folder = (home or default_home()) / "traces"
    stamp = time.strftime("run-%Y%m%d-%H%M%S")
    path, n = folder / f"{stamp}.jsonl", 1
    while path.exists():  # another run in the same second: keep its trace
        n += 1
        path = folder / f"{stamp}-{n}.jsonl"
    return path


def run_command(
    task: Annotated[str, typer.Argument(help="What the agent should do.")],
    model: Annotated[
        str,
        typer.Option(
            help="local, local:NAME, scripted, anthropic:MODEL, minimax:MODEL, deepseek:MODEL, "
            "openrouter:MODEL, openai-responses:MODEL, openai-chat:URL#MODEL, or a model name "
            "routed by thinkwire.toml.",
        ),
    ] = "local",
    policy: Annotated[
        PolicyName, typer.Option(help="Which earlier thinking the model sees at each step.")
    ] = PolicyName.keep,
    tools: Annotated[
        list[str] | None,
        typer.Option("--tools", help="A tool: MODULE:FUNCTION, FILE.py:FUNCTION or MODULE:* (repeatable)."),
    ] = None,
    mcp: Annotated[
        list[str] | None,
        typer.Option("--mcp", help='An MCP server over stdio, as one string: "CMD ARGS" (repeatable).'),
    ] = None,
    builtin: Annotated[
        bool,
        typer.Option(
            "--builtin/--no-builtin",
            help="Offer the built-in tools (calculate, list_files, read_file under the working "
            "directory, current_time).",
        ),
    ] = True,
    max_steps: Annotated[int, typer.Option(help="Model turns before the run stops.", min=1)] = 12,
    max_seconds: Annotated[float | None, typer.Option(help="Wall-time limit of the run.", min=0)] = None,
    max_run_tokens: Annotated[
        int | None, typer.Option(help="Input + output tokens over the whole run.", min=1)
    ] = None,
    max_cost: Annotated[
        float | None, typer.Option(help="US$ limit (models with a known price).", min=0)
    ] = None,
    max_tokens: Annotated[int, typer.Option(help="Tokens per model turn (thinking included).", min=1)] = 1024,
    seed: Annotated[
        int | None,
        typer.Option(
            help="Sampling seed: the local model's run repeats with the same seed, tools and task "
            "(remote APIs may ignore it).",
            min=0,
        ),
    ] = None,
    temperature: Annotated[
        float | None,
        typer.Option(help="Sampling temperature (default: the model's own; 0 is greedy).", min=0),
    ] = None,
    threads: Threads = None,
    system: Annotated[str | None, typer.Option(help="A system prompt.")] = None,
    trace: Annotated[
        Path | None,
        typer.Option(help="Write the trace here (default: $THINKWIRE_HOME/traces/run-TIME.jsonl)."),
    ] = None,
    config: Annotated[Path | None, typer.Option(help="thinkwire.toml routing model names.")] = None,
    home: Annotated[
        Path | None, typer.Option(help="Where models and traces live (default $THINKWIRE_HOME).")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the answer.")] = False,
) -> None:
    """Run a tool-using agent whose earlier thinking goes back to the model at every step.

    The live view (stderr) shows each step's thinking, tool calls and results; the answer goes
    to stdout. Every step is recorded in a JSONL trace; open it with `thinkwire trace view`.
    Exit 0 answered, 1 limit or error, 130 interrupted (the trace is kept).
    """
    from rich.console import Console

    from thinkwire.agent.builtin import builtin_tools
    from thinkwire.agent.live import LiveView
    from thinkwire.agent.loop import Agent, Limits
    from thinkwire.agent.models import open_model
    from thinkwire.agent.tools import ToolError, load_tools
    from thinkwire.agent.trace import TraceWriter

    loaded = _or_fail(lambda: load_tools(tools or []))
    offered = builtin_tools() if builtin else []
    shadowed = sorted({t.name for t in loaded} & {t.name for t in offered})
    if shadowed:
        fail(f"--tools: {', '.join(shadowed)} is a built-in tool's name too (rename it, or use --no-builtin)")
    offered += loaded
    path = trace or _default_trace(home)
    console = Console(stderr=True, highlight=False)
    if not quiet:
        console.print(f"[dim]loading model {model}...[/dim]")
    chosen = _or_fail(
        lambda: open_model(model, config=config, home=home, max_tokens=max_tokens, threads=threads)
    )
    limits = Limits(
        max_steps=max_steps, max_seconds=max_seconds, max_tokens=max_run_tokens, max_cost=max_cost
    )

    async def main() -> int:
        async with contextlib.AsyncExitStack() as stack:
            stack.push_async_callback(chosen.aclose)
            every = list(offered)
            if mcp:
                from thinkwire.agent.mcp import mcp_toolsets

                logging.getLogger("mcp").setLevel(logging.CRITICAL)  # a server's noise is not ours
                served = await stack.enter_async_context(mcp_toolsets(mcp))
                clash = sorted({t.name for t in served} & {t.name for t in every})
                if clash:
                    raise ToolError(
                        f"--mcp: a server offers {', '.join(clash)}, which --tools or the builtins offer too"
                    )
                every += served
            with TraceWriter(path) as writer:
                agent = Agent(
                    chosen,
                    every,
                    policy=POLICY[policy],
                    limits=limits,
                    system=system,
                    max_tokens=max_tokens,
                    temperature=temperature,
                    seed=seed,
                    trace=writer,
                    observer=None if quiet else LiveView(console),
                )
                result = await agent.run(task)
        if result.answer:
            sys.stdout.write(result.answer + "\n")
        if result.status != "answered" and result.reason:
            sys.stderr.write(f"thinkwire: {result.status}: {result.reason}\n")
        if not quiet:
            console.print(f"[dim]trace: {path} (open it with: thinkwire trace view {path})[/dim]")
        return 0 if result.status == "answered" else 1

    try:
        code = asyncio.run(main())
    except KeyboardInterrupt:
        sys.stderr.write(f"thinkwire: interrupted; the trace is kept at {path}\n")
        _exit_now(130)
    except ThinkwireError as exc:
        fail(str(exc), 1)
    raise typer.Exit(code)


def _exit_now(code: int) -> NoReturn:
    """Exit at once: a tool still running on a worker thread (a sync function cannot be
    stopped) would otherwise hold the process until it returns. The trace is closed already."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _or_fail(make: Callable[[], T]) -> T:
    try:
        return make()
    except (ThinkwireError, ValueError) as exc:
        fail(str(exc))


trace_app = typer.Typer(name="trace", help="Look at agent traces.", no_args_is_help=True)


@trace_app.command("view")
def trace_view(
    file: Annotated[Path, typer.Argument(help="A trace written by thinkwire run or thinkwire eval.")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="The HTML file (default: FILE with .html).")
    ] = None,
) -> None:
    """Write one self-contained HTML page showing the thinking interleaved with actions and
    results, step by step, and what the model saw at each step."""
    from thinkwire.agent.view import write_html

    written = _or_fail(lambda: write_html(file, output))
    sys.stdout.write(f"{written}\n")
