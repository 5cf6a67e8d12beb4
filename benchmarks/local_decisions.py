"""The default model's next-step decisions on the agent task set, scored by its own log-probabilities.

``benchmarks/local_agent.py`` runs whole tasks: a seed takes 10-20 minutes on this CPU, and two
seeds of one template can differ by 16 points. This benchmark measures one part of a run, the
*decision*, without sampling: at every point of the task set where the model chooses its next
step, does it choose right?

- The points: for every task of ``tests/agent/local_agent_tasks.py``, along its reference calls
  (``Task.solution``, run on the task set's real tools), the step after the user's message and
  the step after each result. The right step there is the reference's next call, a call that
  meets the same need another way (``Need.ways``), or the answer after the last result (also
  after a result when the reference's next call is optional).
- At each point the prompt is the engine's own: the template's rendering under ``keep``, its
  prefill and the thought's lead (``ThoughtShape.lead``; after results ``after_result``). The
  earlier steps' thoughts are the ones this benchmark generated there, ended by the right
  decision, as a run that decided right would have them.
- The model writes the thought's first line greedily (temperature 0, one line of prose). Then
  each decision the template offers (``ThoughtShape.decision``: the answer's words, or the call
  words with each tool's name) is forced by a grammar, and the model's log-probabilities of its
  tokens are summed. The decision chosen is the likeliest; ``p(right)`` normalizes over the
  offered decisions.

It prints the share of points decided right, by kind of point (first step: no tool needed /
a tool needed; after a result: more needed / nothing more), and the points decided wrong with
the line the model wrote there. Greedy decoding makes the numbers repeat on the same machine
and runtime. It needs a template whose thought has ``decision`` phrases and ``decide_last``
(``qwen2.5-step``, the default, and ``qwen2.5-decide``-like variants through ``--set``).

    python benchmarks/local_decisions.py                      # every task, the default template
    python benchmarks/local_decisions.py --tasks two-,three-  # some tasks
    python benchmarks/local_decisions.py --set think_instruction='"..."' --json out.json

Exit 2 (one line) when xllamacpp is missing, the model is not pulled or the template has no
decision phrases.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import msgspec

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # tests/agent, when run as python benchmarks/local_decisions.py
    sys.path.insert(0, str(ROOT))

from tests.agent.local_agent_tasks import Task, find_tasks, toolbox  # noqa: E402

from benchmarks.local_agent import with_changes  # noqa: E402
from benchmarks.local_engine import Unavailable, find_model, load_runtime, raw_server  # noqa: E402
from thinkwire.agent.tools import AgentTool, run_tool  # noqa: E402
from thinkwire.ir.blocks import Text, Thinking, ToolCall  # noqa: E402
from thinkwire.ir.conversation import Message, Request  # noqa: E402
from thinkwire.local.budget import UNBOUNDED  # noqa: E402
from thinkwire.local.render import render  # noqa: E402
from thinkwire.local.templates import DEFAULT_TEMPLATE, ChatTemplate, ThoughtShape, get_template  # noqa: E402

ANSWER = "answer"
LINE_GRAMMAR = 'root ::= [^<>{}\\x00-\\x1F]+ "\\n"'
"""The thought's first line as the engine's grammar allows it: prose, no markup, one line."""
LINE_TOKENS = 100


@dataclass
class Point:
    """One decision: the task, how many reference calls came before, what is right there."""

    task: str
    step: int
    right: list[str]
    kind: str
    line: str = ""
    chosen: str = ""
    p_right: float = 0.0
    scores: dict[str, float] | None = None

    @property
    def correct(self) -> bool:
        return self.chosen in self.right


def right_steps(task: Task, step: int) -> list[str]:
    """What is right at ``step`` of ``task``'s reference: its next call's tool, another tool that
    meets the same need, or the answer (after the last call, or before an optional one)."""
    if step >= len(task.solution):
        return [ANSWER]
    name, args = task.solution[step]
    needs = [n for n in task.needs if n.met_by(name, args)]
    ways = sorted({name, *(w for n in needs for w in n.ways)})
    return ways if needs else [*ways, ANSWER]


def kind_of(task: Task, step: int) -> str:
    if step == 0:
        return "first step, tool needed" if task.solution else "first step, no tool needed"
    return "after a result, more needed" if step < len(task.solution) else "after a result, nothing more"


def _phrase(shape: ThoughtShape, choice: str) -> str:
    """The decision's words for ``choice`` (``ANSWER`` or a tool name), without the line break
    that opens them (the first line's grammar wrote it)."""
    assert shape.decision is not None
    return (shape.decision[0] if choice == ANSWER else shape.call_words(choice)).removeprefix("\n")


def _gbnf_literal(text: str) -> str:
    return json.dumps(text)  # a JSON string is a valid GBNF literal for these phrases


class Prober:
    """Scores decisions at points of one task set on one runtime (``handle_completions``)."""

    def __init__(self, complete: Any, template: ChatTemplate, tools: list[AgentTool]) -> None:
        self.complete, self.template, self.tools = complete, template, tools
        self.specs = tuple(t.spec for t in tools)

    def _run(self, prompt: str, grammar: str, n_predict: int) -> dict[str, Any]:
        params = {
            "prompt": prompt,
            "n_predict": n_predict,
            "grammar": grammar,
            "temperature": 0,
            "cache_prompt": True,
            "logprobs": 1,
        }
        result: dict[str, Any] = self.complete(params)
        if "choices" not in result:
            raise RuntimeError(f"the runtime failed: {str(result)[:200]}")
        choice: dict[str, Any] = result["choices"][0]
        return choice

    def _score(self, prompt: str, phrase: str) -> float:
        choice = self._run(prompt, "root ::= " + _gbnf_literal(phrase), n_predict=64)
        total, seen = 0.0, 0
        for token in choice["logprobs"]["content"]:
            if seen >= len(phrase.encode()) or not token["bytes"]:
                break
            total += token["logprob"]
            seen += len(token["bytes"])
        return total

    def decide(self, messages: list[Message], point: Point, reference: str) -> str:
        """Fill in ``point`` (line, scores, choice) at the end of ``messages``; returns the
        thought as a run that took the ``reference`` step would keep it."""
        after = point.step > 0
        shape = self.template.shape(after_result=after)
        assert shape is not None
        assert shape.decision is not None
        request = Request(model="local", messages=tuple(messages), tools=self.specs)
        prompt = render(
            request, self.template, "keep", prefill=UNBOUNDED.prefill(self.template, shape.lead)
        ).prompt
        line = self._run(prompt, LINE_GRAMMAR, LINE_TOKENS)["text"]
        line = line if line.endswith("\n") else line + "\n"
        choices = [ANSWER, *(t.name for t in self.tools)]
        scores = {c: self._score(prompt + line, _phrase(shape, c)) for c in choices}
        top = max(scores.values())
        weights = {c: math.exp(s - top) for c, s in scores.items()}
        point.line = shape.lead + line.rstrip("\n")
        point.scores = scores
        point.chosen = max(scores, key=lambda c: scores[c])
        point.p_right = sum(weights[c] for c in point.right) / sum(weights.values())
        return point.line + "\n" + _phrase(shape, reference).rstrip("\n")

    def task_points(self, task: Task) -> list[Point]:
        messages = [Message(role="user", blocks=(Text(text=task.prompt),))]
        points = []
        for step in range(len(task.solution) + 1):
            point = Point(task=task.id, step=step, right=right_steps(task, step), kind=kind_of(task, step))
            if step == len(task.solution):
                self.decide(messages, point, ANSWER)
                points.append(point)
                break
            name, args = task.solution[step]
            thought = self.decide(messages, point, name)
            points.append(point)
            call = ToolCall(id=f"call_{step}", name=name, arguments=json.dumps(args))
            ran = asyncio.run(run_tool(self.tools, call))
            messages += [
                Message(role="assistant", blocks=(Thinking(text=thought), call)),
                Message(role="user", blocks=(ran.result,)),
            ]
        return points


def summarize(points: list[Point]) -> dict[str, Any]:
    kinds: dict[str, list[Point]] = {}
    for p in points:
        kinds.setdefault(p.kind, []).append(p)
    return {
        "points": len(points),
        "right": sum(p.correct for p in points) / len(points),
        "mean_p_right": sum(p.p_right for p in points) / len(points),
        "by_kind": {k: [sum(p.correct for p in ps), len(ps)] for k, ps in sorted(kinds.items())},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n", 1)[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.epilog = __doc__.split("\n\n", 1)[1]
    parser.add_argument("--tasks", default="", help="comma-separated task id prefixes (default: all)")
    parser.add_argument("--template", default=DEFAULT_TEMPLATE, help="a built-in chat template")
    parser.add_argument(
        "--set", action="append", default=[], metavar="FIELD=JSON", help="change a field of the template"
    )
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="llama.cpp threads")
    parser.add_argument("--json", type=Path, help="write every point and the summary here")
    args = parser.parse_args(argv)
    try:
        template, _ = with_changes(get_template(args.template), args.set)
        shape = template.thought
        if shape is None or shape.decision is None or not shape.decide_last:
            raise Unavailable(f"template {template.name}: its thought has no decision phrases to score")
        tasks = find_tasks([t for t in args.tasks.split(",") if t])
        xllamacpp, path = load_runtime(), find_model()
    except (Unavailable, KeyError, ValueError, msgspec.ValidationError) as exc:
        print(f"local_decisions: {exc}", file=sys.stderr)
        return 2
    started = time.monotonic()
    points: list[Point] = []
    with raw_server(xllamacpp, path, args.threads, quiet=True) as server:
        prober = Prober(server.handle_completions, template, toolbox())
        for task in tasks:
            for p in prober.task_points(task):
                points.append(p)
                mark = "right" if p.correct else "WRONG"
                print(
                    f"{p.task:24} step {p.step}  {mark}  chose {p.chosen:14} p(right) {p.p_right:.2f}  "
                    f"{p.line[:110]!r}",
                    flush=True,
                )
    summary = summarize(points)
    print(f"\npoints decided right: {summary['right']:.1%} of {summary['points']}")
    print(f"mean p(right): {summary['mean_p_right']:.2f}")
    for kind, (right, total) in summary["by_kind"].items():
        print(f"  {kind:32} {right}/{total}")
    print(f"wall time {time.monotonic() - started:.0f} s")
    if args.json:
        args.json.write_text(
            json.dumps({"summary": summary, "points": [asdict(p) for p in points]}, indent=1)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
