"""``thinkwire eval``: the keep-vs-discard experiment from the command line."""

from __future__ import annotations

import asyncio
import shlex
import sys
import time
from pathlib import Path
from typing import Annotated

import msgspec
import typer

from thinkwire.errors import ThinkwireError
from thinkwire.options import Threads, fail
from thinkwire.policy import POLICIES, Policy


def _policies(text: str) -> tuple[Policy, ...]:
    chosen: list[Policy] = []
    for name in (p.strip() for p in text.split(",") if p.strip()):
        policy = next((p for p in POLICIES if p == name), None)
        if policy is None:
            fail(f"--policies: unknown policy {name!r}; expected some of {', '.join(POLICIES)}")
        if policy not in chosen:
            chosen.append(policy)
    if not chosen:
        fail("--policies: give at least one policy")
    return tuple(chosen)


def eval_command(
    model: Annotated[
        str,
        typer.Option(
            help="oracle and noop (sanity agents), local, or any spec thinkwire run takes "
            "(anthropic:MODEL, openai-chat:URL#MODEL, a name routed by thinkwire.toml, ...).",
        ),
    ] = "local",
    suite: Annotated[
        str,
        typer.Option(
            help="builtin, builtin:FAMILY,... (carry, diagnose, cascade, choose, followup, control)"
        ),
    ] = "builtin",
    policies: Annotated[
        str, typer.Option(help="Comma-separated: keep, discard, current-turn.")
    ] = "keep,discard",
    trials: Annotated[int, typer.Option(help="Trials of each task (pass^k needs k <= trials).", min=1)] = 1,
    tasks: Annotated[
        str | None, typer.Option(help="Only these task ids, comma-separated (e.g. carry-01,diagnose-03).")
    ] = None,
    per_family: Annotated[
        int | None, typer.Option(help="Only the first N tasks of each family.", min=1)
    ] = None,
    concurrency: Annotated[int, typer.Option(help="Runs at once (the local engine runs one).", min=1)] = 1,
    rpm: Annotated[
        float | None, typer.Option(help="At most this many model requests per minute.", min=0)
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Output directory (default: evals/MODEL-SUITE).")] = None,
    max_steps: Annotated[int, typer.Option(help="Model turns per user turn.", min=1)] = 12,
    max_tokens: Annotated[int, typer.Option(help="Tokens per model turn (thinking included).", min=1)] = 1024,
    max_seconds: Annotated[float | None, typer.Option(help="Wall-time limit of each run.", min=0)] = None,
    threads: Threads = None,
    retry_errors: Annotated[bool, typer.Option(help="Rerun runs that ended in an error.")] = False,
    config: Annotated[Path | None, typer.Option(help="thinkwire.toml routing model names.")] = None,
    home: Annotated[Path | None, typer.Option(help="Where models live (default $THINKWIRE_HOME).")] = None,
) -> None:
    """Measure what keeping the model's earlier thinking is worth: every task under every
    policy with the same seed, paired statistics, report.md and report.html.

    Resumable: run the same command again and finished runs are skipped. Each run's trace is
    saved under OUT/traces. Exit 0 when every run was played, 1 when the eval stopped.
    """
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from thinkwire.agent.loop import Limits
    from thinkwire.agent.models import Model, open_model
    from thinkwire.evals.episode import ModelSource, Outcome
    from thinkwire.evals.runner import Meta, RateLimited, Runner
    from thinkwire.evals.sanity import SANITY_MODELS
    from thinkwire.evals.suite import load_suite

    chosen_policies = _policies(policies)
    try:
        selected = load_suite(suite)
    except ThinkwireError as exc:
        fail(str(exc))
    if tasks:
        wanted = [t.strip() for t in tasks.split(",") if t.strip()]
        unknown = sorted(set(wanted) - {t.id for t in selected})
        if unknown:
            fail(f"--tasks: no task {', '.join(unknown)} in suite {suite}")
        selected = [t for t in selected if t.id in wanted]
    if per_family is not None:
        counts: dict[str, int] = {}
        kept = []
        for task in selected:
            counts[task.family] = counts.get(task.family, 0) + 1
            if counts[task.family] <= per_family:
                kept.append(task)
        selected = kept
    label = model.replace(":", "-").replace("/", "-").replace("#", "-")
    directory = out or Path("evals") / f"{label}-{suite.replace(':', '-').replace(',', '+')}"
    meta = Meta(
        suite=suite,
        model=model,
        policies=chosen_policies,
        trials=trials,
        tasks=tuple(t.id for t in selected),
        started=time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        command="thinkwire eval " + shlex.join(sys.argv[2:]),
    )
    console = Console(stderr=True, highlight=False)
    source: ModelSource = model
    opened: Model | None = None
    if model not in SANITY_MODELS:
        console.print(f"[dim]loading model {model}...[/dim]")
        try:
            opened = open_model(model, config=config, home=home, max_tokens=max_tokens, threads=threads)
        except (ThinkwireError, ValueError) as exc:
            fail(str(exc))
        source = RateLimited(opened, 60.0 / rpm) if rpm else opened
    passed: dict[str, list[bool]] = {p: [] for p in chosen_policies}

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=console,
    ) as progress:

        def describe() -> str:
            rates = ", ".join(f"{p} {sum(v)}/{len(v)}" for p, v in passed.items() if v)
            return f"eval {model}" + (f" · passed {rates}" if rates else "")

        def on_outcome(outcome: Outcome) -> None:
            passed[outcome.policy].append(outcome.passed)
            progress.update(bar, advance=1, description=describe())

        runner = Runner(
            selected,
            source,
            meta,
            directory,
            concurrency=concurrency,
            limits=Limits(max_steps=max_steps, max_seconds=max_seconds),
            max_tokens=max_tokens,
            retry_errors=retry_errors,
            on_outcome=on_outcome,
        )
        try:
            runner.prepare()  # another eval's directory is refused before any run counts as done
            pending = runner.pending()
        except ThinkwireError as exc:
            fail(str(exc))
        skipped = len(runner.plan()) - len(pending)
        if skipped:
            console.print(f"[dim]{skipped} run(s) already in {directory}, skipped[/dim]")
        bar = progress.add_task(describe(), total=len(pending))

        async def main() -> list[Outcome]:
            try:
                return await runner.run()
            finally:
                if opened is not None:
                    await opened.aclose()

        try:
            outcomes = asyncio.run(main())
        except KeyboardInterrupt:
            console.print(f"interrupted; finished runs are kept in {directory} (rerun to resume)")
            raise typer.Exit(130) from None
        except ThinkwireError as exc:
            fail(str(exc), 1)
    if not outcomes:
        fail("no runs to report", 1)
    from thinkwire.evals.report import ReportMeta, write_report

    report = ReportMeta(model=model, suite=suite, trials=trials, date=meta.started, command=meta.command)
    # results.jsonl keeps trace paths relative to the directory; the report opens them from here
    located = [msgspec.structs.replace(o, trace=str(directory / o.trace)) if o.trace else o for o in outcomes]
    files = write_report(directory, located, report, policies=chosen_policies)
    played = len(outcomes) == len(runner.plan())
    console.print(
        f"{len(outcomes)} run(s) in {directory}" + ("" if played else f" ({len(runner.plan())} planned)")
    )
    sys.stdout.write(f"{files.markdown}\n{files.html}\n")
    if not played:
        raise typer.Exit(1)
