"""The embedded agent on the public task set: does the default model think, call what it needs, answer?

Runs every task of ``tests/agent/local_agent_tasks.py`` (25 small tool tasks, 0-3 calls each,
one shared toolbox of seven typed functions) through ``thinkwire.agent.Agent`` on the local
default model, once per seed, as ``thinkwire run`` would (``keep``, the engine ``thinkwire
run`` builds), and prints:

- tasks passed (answer right, every needed call made, no irrelevant or repeated call);
- calls per task, and the share of calls that were irrelevant or repeated;
- the share of steps whose thinking is prose (words, not call markup: ``is_prose``);
- seconds per task (median and 90th percentile) and steps per task;
- per task, how many seeds passed, and why the failures failed.

Targets (issue 14): >= 90% passed over 3 seeds, <= 5% of calls irrelevant or repeated, prose
thinking in >= 95% of steps, median task < 30 s on a 2-core CPU.

    python benchmarks/local_agent.py                      # 25 tasks x seeds 1,2,3
    python benchmarks/local_agent.py --seeds 1 --tasks two-,three-   # a quick look
    python benchmarks/local_agent.py --json out.json --show-failures
    python benchmarks/local_agent.py --template qwen2.5-decide     # another chat template
    python benchmarks/local_agent.py --set bare_calls=false --rerun-repeats   # a variant

``--template NAME`` runs the local default model on another built-in chat template; ``--set
FIELD=JSON`` changes a field of it (``thinkwire.local.templates.ChatTemplate``), to measure
what one piece of a template does.

``--threads N`` runs the local model on N threads: on a machine other jobs load, llama.cpp's
threads wait for each other and one thread was ten times faster than two (0.3 against 3 tokens
a second, measured here with two other model processes running).

``--check`` exits 1 when a target is missed. Exit 2 (one line) when xllamacpp is missing or
the model is not pulled. The CPU may be shared: the load average is printed at both ends.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

import msgspec

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # tests/agent, when run as python benchmarks/local_agent.py
    sys.path.insert(0, str(ROOT))

from tests.agent.local_agent_tasks import Task, Verdict, check, find_tasks, toolbox  # noqa: E402

from thinkwire.agent.loop import Agent, Limits  # noqa: E402
from thinkwire.agent.models import EngineModel, Model, open_model  # noqa: E402
from thinkwire.errors import ThinkwireError  # noqa: E402
from thinkwire.ir.blocks import Text, Thinking, ToolCall, ToolResult  # noqa: E402
from thinkwire.local.templates import ChatTemplate  # noqa: E402
from thinkwire.policy import Policy  # noqa: E402

TARGETS = {"passed": 0.90, "bad_calls": 0.05, "prose": 0.95, "median_seconds": 30.0}


@dataclass
class Row:
    task: str
    seed: int
    passed: bool
    failures: list[str]
    calls: int
    irrelevant: int
    repeated: int
    steps: int
    prose_steps: int
    seconds: float
    answer: str | None


def _transcript(result: Any) -> str:
    lines = []
    for message in result.transcript[1:]:
        for block in message.blocks:
            if isinstance(block, Thinking):
                lines.append(f"    think: {block.text!r}")
            elif isinstance(block, ToolCall):
                lines.append(f"    call:  {block.name} {block.arguments}")
            elif isinstance(block, ToolResult):
                lines.append(f"    result: {block.content_text()[:160]!r}")
            elif isinstance(block, Text):
                lines.append(f"    text:  {block.text[:300]!r}")
    return "\n".join(lines)


async def run_one(model: Model, task: Task, seed: int, args: argparse.Namespace) -> tuple[Row, str]:
    agent = Agent(
        model,
        toolbox(),
        policy=cast(Policy, args.policy),
        limits=Limits(max_steps=args.max_steps, max_seconds=args.max_seconds),
        max_tokens=args.max_tokens,
        seed=seed,
        rerun_repeats=args.rerun_repeats,
    )
    result = await agent.run(task.prompt)
    verdict: Verdict = check(task, result)
    row = Row(
        task=task.id,
        seed=seed,
        passed=verdict.passed,
        failures=verdict.failures,
        calls=verdict.calls,
        irrelevant=verdict.irrelevant,
        repeated=verdict.repeated,
        steps=verdict.steps,
        prose_steps=verdict.prose_steps,
        seconds=result.seconds,
        answer=result.answer,
    )
    return row, _transcript(result)


def summarize(rows: list[Row]) -> dict[str, float]:
    calls = sum(r.calls for r in rows)
    steps = sum(r.steps for r in rows)
    seconds = sorted(r.seconds for r in rows)
    return {
        "runs": len(rows),
        "passed": sum(r.passed for r in rows) / len(rows),
        "calls_per_task": calls / len(rows),
        "bad_calls": sum(r.irrelevant + r.repeated for r in rows) / calls if calls else 0.0,
        "irrelevant_calls": sum(r.irrelevant for r in rows) / calls if calls else 0.0,
        "repeated_calls": sum(r.repeated for r in rows) / calls if calls else 0.0,
        "prose": sum(r.prose_steps for r in rows) / steps if steps else 0.0,
        "steps_per_task": steps / len(rows),
        "median_seconds": statistics.median(seconds),
        "p90_seconds": seconds[min(len(seconds) - 1, int(0.9 * len(seconds)))],
    }


def report(rows: list[Row], seeds: list[int]) -> dict[str, float]:
    summary = summarize(rows)
    print(f"\n{len(rows)} runs ({len(rows) // len(seeds)} tasks x seeds {','.join(map(str, seeds))})")
    print(
        f"  tasks passed            {summary['passed']:6.1%}   (target >= {TARGETS['passed']:.0%})\n"
        f"  calls per task          {summary['calls_per_task']:6.2f}\n"
        f"  irrelevant or repeated  {summary['bad_calls']:6.1%}   (target <= {TARGETS['bad_calls']:.0%}; "
        f"irrelevant {summary['irrelevant_calls']:.1%}, repeated {summary['repeated_calls']:.1%})\n"
        f"  steps with prose thinking {summary['prose']:4.1%}   (target >= {TARGETS['prose']:.0%})\n"
        f"  steps per task          {summary['steps_per_task']:6.2f}\n"
        f"  seconds per task        {summary['median_seconds']:6.1f} median, {summary['p90_seconds']:.1f} p90"
        f"   (target median < {TARGETS['median_seconds']:g} s)"
    )
    print("\nper task (seeds passed, failures):")
    for task in dict.fromkeys(r.task for r in rows):
        mine = [r for r in rows if r.task == task]
        why = "; ".join(f"s{r.seed}: {', '.join(r.failures)}" for r in mine if not r.passed)
        print(f"  {task:24} {sum(r.passed for r in mine)}/{len(mine)}  {why}")
    return summary


def missed(summary: dict[str, float]) -> list[str]:
    out = []
    if summary["passed"] < TARGETS["passed"]:
        out.append("passed")
    if summary["bad_calls"] > TARGETS["bad_calls"]:
        out.append("irrelevant or repeated calls")
    if summary["prose"] < TARGETS["prose"]:
        out.append("prose thinking")
    if summary["median_seconds"] >= TARGETS["median_seconds"]:
        out.append("median seconds")
    return out


def with_changes(base: ChatTemplate, items: Sequence[str]) -> tuple[ChatTemplate, dict[str, Any]]:
    """``base`` with the fields that ``items`` (``--set FIELD=JSON``) give changed, and the changes.
    ``ValueError`` for a value that is not JSON, ``msgspec.ValidationError`` for a bad field."""
    changes = {}
    for item in items:
        field, _, value = item.partition("=")
        try:
            changes[field] = json.loads(value)
        except ValueError as exc:
            raise ValueError(f"--set {item!r}: write FIELD=JSON, the value as JSON ({exc})") from None
    return msgspec.convert({**msgspec.to_builtins(base), **changes}, ChatTemplate), changes


def variant(args: argparse.Namespace) -> Model:
    """The local default model on ``--template`` (default: its own) with ``--set`` fields changed."""
    from thinkwire.local.build import EngineOptions, build_engine
    from thinkwire.local.service import EngineService
    from thinkwire.local.templates import get_template

    options = EngineOptions(max_tokens=args.max_tokens, log_level="warning", threads=args.threads)
    engine = build_engine(options)
    base = get_template(args.template) if args.template else engine.template
    engine.template, changes = with_changes(base, args.set)
    print(f"template {engine.template.name} with {changes}", file=sys.stderr)
    return EngineModel(EngineService(engine), name=engine.model_id)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", default="1,2,3", help="comma-separated seeds (default 1,2,3)")
    parser.add_argument("--tasks", default="", help="comma-separated task id prefixes (default: all)")
    parser.add_argument("--policy", default="keep", choices=("keep", "discard", "current-turn"))
    parser.add_argument("--max-tokens", type=int, default=1024, help="per model turn (thinkwire run's)")
    parser.add_argument("--max-steps", type=int, default=6, help="model turns per task")
    parser.add_argument("--max-seconds", type=float, default=180.0, help="per task")
    parser.add_argument("--model", default="local", help="an agent model spec (default: local)")
    parser.add_argument("--template", help="a built-in chat template for the local model")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=JSON",
        help="change a field of the local model's chat template (repeatable)",
    )
    parser.add_argument(
        "--rerun-repeats", action="store_true", help="run repeated identical calls again (no note)"
    )
    parser.add_argument(
        "--threads", type=int, help="the local model's threads (default: every core; 1 on a loaded machine)"
    )
    parser.add_argument("--json", type=Path, help="write every run and the summary here")
    parser.add_argument("--show-failures", action="store_true", help="print a failed run's transcript")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    try:
        tasks = find_tasks([t.strip() for t in args.tasks.split(",") if t.strip()])
    except KeyError as exc:
        parser.error(str(exc.args[0]))

    print(f"load average at start: {', '.join(f'{x:.2f}' for x in os.getloadavg())}", file=sys.stderr)
    try:
        local = args.set or args.template or args.threads
        model = variant(args) if local else open_model(args.model, max_tokens=args.max_tokens)
    except ThinkwireError as exc:
        print(f"local_agent: {exc}", file=sys.stderr)
        return 2
    rows: list[Row] = []
    total = len(tasks) * len(seeds)

    async def run_all() -> None:
        try:
            for seed in seeds:
                for task in tasks:
                    row, transcript = await run_one(model, task, seed, args)
                    rows.append(row)
                    mark = "pass" if row.passed else "FAIL " + "; ".join(row.failures)
                    print(
                        f"[{len(rows)}/{total}] seed {seed} {task.id:24} {row.seconds:5.1f} s "
                        f"{row.calls} calls {row.prose_steps}/{row.steps} prose  {mark}",
                        file=sys.stderr,
                        flush=True,
                    )
                    if args.show_failures and not row.passed:
                        print(f"    answer: {row.answer!r}\n{transcript}", file=sys.stderr, flush=True)
        finally:
            await model.aclose()

    started = time.monotonic()
    asyncio.run(run_all())
    summary = report(rows, seeds)
    print(f"\nwall time {time.monotonic() - started:.0f} s", file=sys.stderr)
    print(f"load average at end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "runs": [asdict(r) for r in rows]}, indent=1))
    failed = missed(summary)
    if failed:
        print(f"targets missed: {', '.join(failed)}")
    return 1 if args.check and failed else 0


if __name__ == "__main__":
    sys.exit(main())
