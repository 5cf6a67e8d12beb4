"""Local engine on the default model: generation speed against raw xllamacpp, and what keeping
earlier thinking saves in a tool loop. One run, same prompts.

(a) **Generation.** The same requests go through ``LocalEngine.complete`` and straight to
``xllamacpp.Server.handle_completions`` with exactly the params the engine sends (prompt,
grammar, stops, sampling, seed; read from an engine built on a recording runtime). The two
runtimes are loaded side by side with the engine's settings and called one at a time, never
together; the side that goes first alternates every round, and every round opens with a
different system text, so neither side finds its prompt in its cache. tokens/s = completion
tokens / wall time of the call measured here (prompt processing included; both sides process
the same prompt and, with the same seed, generate the same text, which is checked); the
runtime's own ``predicted_per_second`` (generation only) is printed next to it. The full run
also times the raw runtime without the grammar (information: what the grammar costs).
Target: median thinkwire tokens/s >= 0.9x median raw.

(b) **Tool loop.** A scripted session on a tiny in-script filesystem (``list_dir``,
``read_file``): the user asks about a project, one question at a time. Every call the model
makes gets a deterministic result; the next question follows an answer (or a turn cut off
by the token budget) and, at the latest, a question's second turn (the user moves on, after
the call's result). Every one of the N turns (6; 3 with ``--quick``) is an assistant turn.
``keep`` decides the conversation: each turn is generated under ``keep``, then the very same
request (history, seed, and as many tokens as the keep turn generated) is sent under each
stripping policy. Every policy has its own freshly loaded engine, so its KV cache (and
llama.cpp's RAM prompt cache) only ever held its own prompts, as if the session had been run
under that policy throughout. Per turn: prompt tokens, cached, processed (prompt - cached),
generated, the runtime's prefill and generation ms, and wall time.

Which policy strips "as the Qwen3 template does": that template writes an assistant turn's
reasoning only after the last real user message, which is thinkwire's ``current-turn``.
Within one question's tool loop it strips nothing, so it renders the same prompt as ``keep``;
at the next question it strips the previous question's turns, and the prompt departs from the
cache at that question's first thinking. ``--check`` compares ``keep`` with it. ``discard``
strips every earlier turn (QwQ / DeepSeek-R1 templates, clients that drop reasoning): its
prompt departs from the cache right after the previous turn's assistant header, so only that
turn's call or answer is processed again; it is reported too.

    python benchmarks/local_engine.py              # full run: 5 rounds, 6 turns
    python benchmarks/local_engine.py --quick      # 2 short rounds, 3 turns, current-turn only
                                                   # (CI smoke)
    python benchmarks/local_engine.py --check      # exit 1 when (a) < 0.9x, or keep does not
                                                   # process fewer prompt tokens than
                                                   # current-turn over turns 2..N
    python benchmarks/local_engine.py --json out.json

Exit 2 (one line, no traceback) when xllamacpp is missing or the model is not pulled. The
runtime's own logs are hidden unless ``--verbose``. The CPU may be shared with other work:
the load average is printed at the start and the end.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import importlib.util
import json
import os
import secrets
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import msgspec
import orjson

from thinkwire.ir import Message, Request, Sampling, Text, Tool, ToolCall, ToolResult
from thinkwire.local.engine import INSTALL_HINT, EngineResult, EngineUnavailable, LocalEngine
from thinkwire.local.model_files import DEFAULT_MODEL, ModelStoreError, default_home, model_path
from thinkwire.local.templates import DEFAULT_TEMPLATE
from thinkwire.policy import Policy

TARGET = 0.9
TEMPLATE = DEFAULT_TEMPLATE
N_CTX = 8192  # the engine's default context
SEED = 42
SECRET = secrets.token_bytes(32)  # both engines sign and check with it; nothing is written

Params = dict[str, Any]
Result = dict[str, Any]


@dataclass(frozen=True)
class Mode:
    rounds: int
    gen_tokens: int
    turns: int
    turn_tokens: int
    strip: tuple[Policy, ...]
    bare_baseline: bool


STRIP: tuple[Policy, ...] = ("current-turn", "discard")
CHECKED: Policy = "current-turn"  # what --check compares keep with
FULL = Mode(rounds=5, gen_tokens=160, turns=6, turn_tokens=256, strip=STRIP, bare_baseline=True)
QUICK = Mode(rounds=2, gen_tokens=48, turns=3, turn_tokens=96, strip=(CHECKED,), bare_baseline=False)


class Unavailable(Exception):
    """The benchmark cannot run here (exit 2)."""


# ---------------------------------------------------------------------------------------------
# runtimes


def _empty_answer(params: Params) -> Result:
    return {"choices": [{"text": "", "finish_reason": "stop"}]}


class Tap:
    """A ``handle_completions`` wrapper that keeps the last params and result (for ``timings``)."""

    def __init__(self, fn: Callable[[Params], Result] = _empty_answer) -> None:
        self.fn = fn
        self.params: Params = {}
        self.result: Result = {}

    def __call__(self, params: Params) -> Result:
        self.params = params
        self.result = self.fn(params)
        return self.result


def load_runtime() -> Any:
    if importlib.util.find_spec("xllamacpp") is None:
        raise Unavailable(f"xllamacpp is not installed: {INSTALL_HINT}")
    return importlib.import_module("xllamacpp")


def find_model() -> Path:
    try:
        return model_path(DEFAULT_MODEL, default_home())
    except ModelStoreError as exc:
        raise Unavailable(str(exc)) from None


def _started(complete: Callable[[Params], Result]) -> None:
    """One token on an unrelated prompt. Besides warming up, this matters: an
    ``xllamacpp.Server`` freed before its loop has served anything can hang in its destructor
    ("waiting for main loop exit")."""
    _check(complete({"prompt": "Hello", "n_predict": 1, "cache_prompt": False}))


@contextlib.contextmanager
def raw_server(xllamacpp: Any, path: Path, threads: int, *, quiet: bool = False) -> Iterator[Any]:
    """An ``xllamacpp.Server`` set up as ``LocalEngine`` sets up its own (one slot), freed on
    exit; ``quiet``: llama.cpp logs nothing."""
    params = xllamacpp.CommonParams()
    if quiet:
        params.verbosity = -1
    params.model.path = str(path)
    params.n_ctx = N_CTX
    params.n_parallel = 1
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    holder = [xllamacpp.Server(params)]
    try:
        _started(holder[0].handle_completions)
        yield holder[0]
    finally:
        holder.clear()  # the last reference: the C++ destructor stops the runtime
        gc.collect()


@contextlib.contextmanager
def engine(path: Path, threads: int) -> Iterator[tuple[LocalEngine, Tap]]:
    """A freshly loaded engine (nothing in its caches) and a tap on its runtime call, closed on
    exit. The engine does not report the runtime's ``timings``; the tap (on the engine's private
    ``_complete``) reads them and changes nothing that is sent."""
    eng = LocalEngine(path, TEMPLATE, n_ctx=N_CTX, threads=threads, secret=SECRET)
    assert eng._complete is not None
    tap = Tap(eng._complete)
    eng._complete = tap
    try:
        _started(tap.fn)
        yield eng, tap
    finally:
        eng.close()
        tap.fn = _empty_answer  # the bound method kept the runtime alive
        gc.collect()


@contextlib.contextmanager
def native_stderr_hidden(hidden: bool) -> Iterator[None]:
    """Send file descriptor 2 (where llama.cpp logs, from its own threads) to /dev/null."""
    if not hidden:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _check(result: Result) -> Result:
    if "error" in result or "choices" not in result:
        raise RuntimeError(f"raw xllamacpp failed: {str(result)[:200]}")
    return result


# ---------------------------------------------------------------------------------------------
# (a) generation

TOPICS = ("Chemistry", "Astronomy", "Cooking", "Geology", "Music", "Sailing", "Botany", "Typography")


def generation_request(round_: int, max_tokens: int) -> Request:
    """A long-answer request whose prompt shares (almost) nothing with other rounds'."""
    topic = TOPICS[round_ % len(TOPICS)]
    system = f"{topic} tutor (session {round_ + 1}). Explain with care and in depth."
    ask = f"Teach me the basics of {topic.lower()} in a long, detailed answer of several paragraphs."
    return Request(
        system=(Text(text=system),),
        messages=(Message(role="user", blocks=(Text(text=ask),)),),
        sampling=Sampling(max_tokens=max_tokens),
    )


@dataclass
class GenRun:
    round: int
    side: str
    prompt_tokens: int
    cached_tokens: int
    completion_tokens: int
    wall_s: float
    tokens_per_s: float
    runtime_tokens_per_s: float
    same_text: bool | None = None


def _gen_run(round_: int, side: str, result: Result, wall: float) -> GenRun:
    timings = result.get("timings") or {}
    completion = int(timings.get("predicted_n", 0))
    return GenRun(
        round=round_,
        side=side,
        prompt_tokens=int(timings.get("prompt_n", 0)) + int(timings.get("cache_n", 0)),
        cached_tokens=int(timings.get("cache_n", 0)),
        completion_tokens=completion,
        wall_s=wall,
        tokens_per_s=completion / wall if wall else 0.0,
        runtime_tokens_per_s=float(timings.get("predicted_per_second", 0.0)),
    )


def generation(xllamacpp: Any, path: Path, threads: int, mode: Mode) -> dict[str, Any]:
    capture = Tap()
    recorder = LocalEngine(path, TEMPLATE, secret=SECRET, runtime=capture)  # loads nothing
    runs: list[GenRun] = []
    sides = ["thinkwire", "raw"]
    with engine(path, threads) as (eng, tap), raw_server(xllamacpp, path, threads) as raw:
        warm = generation_request(len(TOPICS) - 1, 8)
        eng.complete(warm, seed=SEED)
        recorder.complete(warm, seed=SEED)
        _check(raw.handle_completions(capture.params))
        for round_ in range(mode.rounds):
            request = generation_request(round_, mode.gen_tokens)
            recorder.complete(request, seed=SEED + round_)
            params = capture.params
            texts: dict[str, str] = {}
            for side in sides[round_ % 2 :] + sides[: round_ % 2]:
                start = time.perf_counter()
                if side == "thinkwire":
                    texts[side] = eng.complete(request, seed=SEED + round_).completion
                    runs.append(_gen_run(round_, side, tap.result, time.perf_counter() - start))
                    if tap.params != params:
                        print("warning: the engine sent other params than the recorded ones")
                else:
                    out = _check(raw.handle_completions(params))
                    runs.append(_gen_run(round_, side, out, time.perf_counter() - start))
                    texts[side] = str(out["choices"][0].get("text") or "")
            same = bool(texts["raw"]) and texts["thinkwire"].startswith(texts["raw"])
            for run in runs[-2:]:
                run.same_text = same
            if mode.bare_baseline:  # same prompt, no grammar, no cache: what the grammar costs
                bare = {k: v for k, v in params.items() if k != "grammar"} | {"cache_prompt": False}
                start = time.perf_counter()
                out = _check(raw.handle_completions(bare))
                runs.append(_gen_run(round_, "raw, no grammar", out, time.perf_counter() - start))

    print(
        f"(a) generation: {mode.rounds} rounds, up to {mode.gen_tokens} tokens, "
        f"{threads} threads, sides alternate"
    )
    header = (
        f"{'round':>5} {'side':16} {'prompt':>6} {'cached':>6} {'gen':>4} {'wall s':>7} "
        f"{'tok/s':>6} {'runtime tok/s':>13} {'same text':>9}"
    )
    print(header)
    for run in runs:
        alike = "-" if run.same_text is None else "yes" if run.same_text else "no"
        print(
            f"{run.round + 1:5d} {run.side:16} {run.prompt_tokens:6d} {run.cached_tokens:6d} "
            f"{run.completion_tokens:4d} {run.wall_s:7.2f} {run.tokens_per_s:6.1f} "
            f"{run.runtime_tokens_per_s:13.1f} {alike:>9}"
        )
    medians: dict[str, dict[str, float]] = {}
    for side in dict.fromkeys(run.side for run in runs):
        mine = [run for run in runs if run.side == side]
        medians[side] = {
            "tokens_per_s": statistics.median(run.tokens_per_s for run in mine),
            "runtime_tokens_per_s": statistics.median(run.runtime_tokens_per_s for run in mine),
        }
    ratio = medians["thinkwire"]["tokens_per_s"] / medians["raw"]["tokens_per_s"]
    runtime_ratio = medians["thinkwire"]["runtime_tokens_per_s"] / medians["raw"]["runtime_tokens_per_s"]
    for side, median in medians.items():
        print(
            f"median {side:16} {median['tokens_per_s']:6.1f} tok/s wall, "
            f"{median['runtime_tokens_per_s']:6.1f} tok/s runtime"
        )
    verdict = "meets" if ratio >= TARGET else "MISSES"
    print(
        f"thinkwire / raw: {ratio:.3f} (wall), {runtime_ratio:.3f} (runtime): "
        f"{verdict} the target of {TARGET:.1f}x"
    )
    if "raw, no grammar" in medians:
        bare_ratio = medians["thinkwire"]["tokens_per_s"] / medians["raw, no grammar"]["tokens_per_s"]
        print(f"thinkwire / raw without grammar: {bare_ratio:.3f} (wall; information only)")
    return {
        "runs": [asdict(run) for run in runs],
        "medians": medians,
        "ratio": ratio,
        "runtime_ratio": runtime_ratio,
        "meets_target": ratio >= TARGET,
    }


# ---------------------------------------------------------------------------------------------
# (b) tool loop

FILES = {
    "/project/README.md": (
        "# tally\nA small web service that keeps a running tally of monthly sales and serves it "
        "as JSON. Start it with `python -m tally`.\n"
    ),
    "/project/config.toml": (
        '[server]\nhost = "0.0.0.0"\nport = 8080\nworkers = 4\n\n[data]\nfile = "data/sales.csv"\n'
    ),
    "/project/data/sales.csv": "month,amount\njan,120\nfeb,95\nmar,143\napr,88\n",
    "/project/src/app.py": (
        "from tally.util import load_sales, total\n\n\ndef handler(request):\n"
        "    rows = load_sales('data/sales.csv')\n    return {'total': total(rows)}\n"
    ),
    "/project/src/util.py": (
        "import csv\n\n\ndef load_sales(path):\n    with open(path) as f:\n"
        "        return list(csv.DictReader(f))\n\n\ndef total(rows):\n"
        "    return sum(int(r['amount']) for r in rows)\n"
    ),
}
TOOLS = (
    Tool(
        name="list_dir",
        description="List the entries of a directory (subdirectories end with /).",
        parameters={"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
    ),
    Tool(
        name="read_file",
        description="Read a text file and return its content.",
        parameters={"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
    ),
)
SYSTEM = "You are a careful coding assistant. You inspect files with the tools before you answer."
QUESTIONS = (
    "There is a project in /project. List its files with the tools, then tell me what it is.",
    "Which port does the server listen on? Check the config file.",
    "What is the total of the amounts in /project/data/sales.csv?",
    "Does src/app.py use anything from src/util.py? Read both to be sure.",
    "How many workers does the server start with?",
)
TURNS_PER_QUESTION = 2
FOLLOW_UP = "Go on: use a tool to check one more file you have not read yet, then tell me what it holds."


def run_tool(call: ToolCall) -> tuple[str, bool]:
    """The deterministic result of ``call`` on ``FILES``: (content, is_error)."""
    try:
        arguments = json.loads(call.arguments or "{}")
    except ValueError:
        return "invalid JSON arguments", True
    raw = str(arguments.get("path", "/project")) if isinstance(arguments, dict) else "/project"
    path = raw if raw.startswith("/") else "/project/" + raw.removeprefix("./")
    path = path.rstrip("/") or "/"
    if call.name == "read_file":
        return (FILES[path], False) if path in FILES else (f"no such file: {raw}", True)
    if call.name == "list_dir":
        prefix = "" if path == "/" else path
        entries = sorted(
            {
                rest.split("/")[0] + ("/" if "/" in rest else "")
                for name in FILES
                if name.startswith(prefix + "/") and (rest := name[len(prefix) + 1 :])
            }
        )
        return ("\n".join(entries), False) if entries else (f"no such directory: {raw}", True)
    return f"unknown tool: {call.name}", True


def user(text: str) -> Message:
    return Message(role="user", blocks=(Text(text=text),))


@dataclass
class TurnRow:
    turn: int
    policy: str
    step: str
    prompt_tokens: int
    cached_tokens: int
    processed_tokens: int
    completion_tokens: int
    prefill_ms: float
    generation_ms: float
    wall_s: float

    @property
    def prompt_s(self) -> float:
        """Wall time without the runtime's generation: prefill and thinkwire's own work."""
        return self.wall_s - self.generation_ms / 1000


def measure(
    eng: LocalEngine, tap: Tap, request: Request, policy: Policy, turn: int
) -> tuple[TurnRow, EngineResult]:
    start = time.perf_counter()
    result = eng.complete(request, policy=policy, seed=SEED + turn)
    wall = time.perf_counter() - start
    calls = [b.name for b in result.response.blocks if isinstance(b, ToolCall)]
    reason = result.response.stop_reason
    step = "call " + ", ".join(calls) if calls else "cut off" if reason == "max_tokens" else "answer"
    timings = tap.result.get("timings") or {}
    row = TurnRow(
        turn=turn + 1,
        policy=policy,
        step=step,
        prompt_tokens=result.prompt_tokens,
        cached_tokens=result.cached_tokens,
        processed_tokens=result.processed_tokens,
        completion_tokens=result.completion_tokens,
        prefill_ms=float(timings.get("prompt_ms", 0.0)),
        generation_ms=float(timings.get("predicted_ms", 0.0)),
        wall_s=wall,
    )
    return row, result


def _next_messages(result: EngineResult, turns_on_question: int, questions: Iterator[str]) -> list[Message]:
    """What the script sends after an assistant turn: results for its calls; the next question
    after an answer (or a turn cut off), or after a question's second turn in any case."""
    calls = [b for b in result.response.blocks if isinstance(b, ToolCall)]
    out: list[Message] = []
    if calls:
        results = []
        for call in calls:
            content, is_error = run_tool(call)
            results.append(ToolResult(call_id=call.id, content=content, is_error=is_error))
        out.append(Message(role="tool", blocks=tuple(results)))
    if not calls or turns_on_question >= TURNS_PER_QUESTION:
        out.append(user(next(questions, FOLLOW_UP)))
    return out


def session(
    engines: dict[Policy, tuple[LocalEngine, Tap]], mode: Mode
) -> tuple[dict[Policy, list[TurnRow]], list[Message]]:
    """Run the session: each turn under ``keep`` (which decides the conversation), then the
    same request under every stripping policy, each on its own engine."""
    messages = [user(QUESTIONS[0])]
    questions = iter(QUESTIONS[1:])
    rows: dict[Policy, list[TurnRow]] = {policy: [] for policy in engines}
    turns_on_question = 0
    for turn in range(mode.turns):
        request = Request(
            system=(Text(text=SYSTEM),),
            messages=tuple(messages),
            tools=TOOLS,
            sampling=Sampling(max_tokens=mode.turn_tokens),
        )
        eng, tap = engines["keep"]
        row, result = measure(eng, tap, request, "keep", turn)
        rows["keep"].append(row)
        same_budget = msgspec.structs.replace(
            request, sampling=Sampling(max_tokens=max(1, result.completion_tokens))
        )
        for policy in mode.strip:
            eng, tap = engines[policy]
            rows[policy].append(measure(eng, tap, same_budget, policy, turn)[0])
        messages.append(result.response.to_message())
        turns_on_question += 1
        following = _next_messages(result, turns_on_question, questions)
        if following[-1].role == "user":
            turns_on_question = 0
        messages += following
    return rows, messages


def _print_turns(rows: Sequence[TurnRow]) -> None:
    print(f"  policy {rows[0].policy}")
    print(
        f"  {'turn':>4} {'step':18} {'prompt':>6} {'cached':>6} {'processed':>9} {'gen':>4} "
        f"{'prefill ms':>10} {'gen ms':>7} {'wall s':>7}"
    )
    for row in rows:
        print(
            f"  {row.turn:4d} {row.step:18} {row.prompt_tokens:6d} {row.cached_tokens:6d} "
            f"{row.processed_tokens:9d} {row.completion_tokens:4d} {row.prefill_ms:10.0f} "
            f"{row.generation_ms:7.0f} {row.wall_s:7.2f}"
        )
    print(
        f"  {'all':>4} {'':18} {sum(r.prompt_tokens for r in rows):6d} "
        f"{sum(r.cached_tokens for r in rows):6d} {sum(r.processed_tokens for r in rows):9d} "
        f"{sum(r.completion_tokens for r in rows):4d} {sum(r.prefill_ms for r in rows):10.0f} "
        f"{sum(r.generation_ms for r in rows):7.0f} {sum(r.wall_s for r in rows):7.2f}"
    )


def _ratio(a: float, b: float) -> float:
    return a / b if b else float("inf")


def compare(keep: Sequence[TurnRow], strip: Sequence[TurnRow]) -> dict[str, Any]:
    """Keep against one stripping policy, per turn and in total. The policies may generate
    different numbers of tokens (the strip side stops where its own output ends, at most as
    many as keep generated), so besides the wall time the table shows the wall time without
    the runtime's generation ms: what the prompt costs (thinkwire's own work included)."""
    name = strip[0].policy
    print(f"  keep vs {name} ('strip'), per turn; 'pre s' = wall s - generation ms")
    print(
        f"  {'turn':>4} {'proc keep':>9} {'proc strip':>10} {'ratio':>6} {'gen keep':>8} "
        f"{'gen strip':>9} {'pre s keep':>10} {'pre s strip':>11} {'wall keep':>9} {'wall strip':>10}"
    )
    for k, s in zip(keep, strip, strict=True):
        print(
            f"  {k.turn:4d} {k.processed_tokens:9d} {s.processed_tokens:10d} "
            f"{_ratio(s.processed_tokens, k.processed_tokens):6.2f} {k.completion_tokens:8d} "
            f"{s.completion_tokens:9d} {k.prompt_s:10.2f} {s.prompt_s:11.2f} {k.wall_s:9.2f} "
            f"{s.wall_s:10.2f}"
        )

    def total(rows: Sequence[TurnRow], field: str) -> float:
        return float(sum(getattr(row, field) for row in rows))

    def ratio(field: str, first: int = 0) -> float:
        return _ratio(total(strip[first:], field), total(keep[first:], field))

    later_k, later_s = keep[1:], strip[1:]
    out = {
        "processed_keep_from_turn_2": total(later_k, "processed_tokens"),
        "processed_strip_from_turn_2": total(later_s, "processed_tokens"),
        "processed_ratio": ratio("processed_tokens"),
        "processed_ratio_from_turn_2": ratio("processed_tokens", 1),
        "prefill_ms_ratio": ratio("prefill_ms"),
        "prefill_ms_ratio_from_turn_2": ratio("prefill_ms", 1),
        "wall_ratio": ratio("wall_s"),
        "wall_ratio_from_turn_2": ratio("wall_s", 1),
        "wall_without_generation_ratio": ratio("prompt_s"),
        "wall_without_generation_ratio_from_turn_2": ratio("prompt_s", 1),
        "completion_tokens_keep": total(keep, "completion_tokens"),
        "completion_tokens_strip": total(strip, "completion_tokens"),
        "turns_keep_fewer": sum(
            k.processed_tokens < s.processed_tokens for k, s in zip(later_k, later_s, strict=True)
        ),
        "turns_keep_more": sum(
            k.processed_tokens > s.processed_tokens for k, s in zip(later_k, later_s, strict=True)
        ),
    }
    print(
        f"  processed(strip) / processed(keep): {out['processed_ratio']:.2f} all turns, "
        f"{out['processed_ratio_from_turn_2']:.2f} from turn 2 "
        f"({out['processed_strip_from_turn_2']:.0f} vs {out['processed_keep_from_turn_2']:.0f} tokens)"
    )
    print(
        f"  wall(strip) / wall(keep): {out['wall_ratio']:.2f} all turns, "
        f"{out['wall_ratio_from_turn_2']:.2f} from turn 2 (generated "
        f"{out['completion_tokens_strip']:.0f} vs {out['completion_tokens_keep']:.0f} tokens)"
    )
    print(
        f"  without generation: {out['wall_without_generation_ratio']:.2f} all turns, "
        f"{out['wall_without_generation_ratio_from_turn_2']:.2f} from turn 2; runtime prefill ms "
        f"{out['prefill_ms_ratio']:.2f} all turns, {out['prefill_ms_ratio_from_turn_2']:.2f} from turn 2"
    )
    print(
        f"  turns 2-{len(keep)}: keep processed fewer prompt tokens on {out['turns_keep_fewer']}, "
        f"more on {out['turns_keep_more']}, as many on "
        f"{len(later_k) - out['turns_keep_fewer'] - out['turns_keep_more']}"
    )
    return out


def tool_loop(path: Path, threads: int, mode: Mode) -> dict[str, Any]:
    with contextlib.ExitStack() as stack:
        engines = {policy: stack.enter_context(engine(path, threads)) for policy in ("keep", *mode.strip)}
        rows, messages = session(engines, mode)
    print(
        f"\n(b) tool loop: {mode.turns} turns, up to {mode.turn_tokens} tokens a turn under keep "
        f"(as many as keep generated under the others), seed {SEED}+turn"
    )
    for policy_rows in rows.values():
        _print_turns(policy_rows)
    comparisons = {policy: compare(rows["keep"], rows[policy]) for policy in mode.strip}
    return {
        "turns": {
            policy: [asdict(row) | {"prompt_s": row.prompt_s} for row in policy_rows]
            for policy, policy_rows in rows.items()
        },
        "comparisons": comparisons,
        "conversation": [msgspec.to_builtins(message) for message in messages],
    }


# ---------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer rounds and turns (CI smoke)")
    parser.add_argument(
        "--check", action="store_true", help=f"exit 1 when (a) < {TARGET}x or keep saves nothing"
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the numbers to FILE")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="runtime threads")
    parser.add_argument("--verbose", action="store_true", help="show llama.cpp's own logs")
    args = parser.parse_args()
    mode = QUICK if args.quick else FULL

    try:
        xllamacpp = load_runtime()
        path = find_model()
    except Unavailable as exc:
        print(f"local_engine benchmark: {exc}", file=sys.stderr)
        return 2

    start = time.perf_counter()
    load_start = os.getloadavg()
    run = "quick" if args.quick else "full"
    print(f"model {path.name}, template {TEMPLATE}, {args.threads} threads, {run} run")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in load_start)} (the CPU may be shared)\n")
    try:
        with native_stderr_hidden(not args.verbose):
            gen = generation(xllamacpp, path, args.threads, mode)
            gen["section_s"] = time.perf_counter() - start
            print(f"(a) took {gen['section_s']:.1f} s, loading two runtimes included")
            loop = tool_loop(path, args.threads, mode)
            loop["section_s"] = time.perf_counter() - start - gen["section_s"]
            print(f"(b) took {loop['section_s']:.1f} s, loading {1 + len(mode.strip)} engines included")
    except EngineUnavailable as exc:
        print(f"local_engine benchmark: {exc}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - start
    load_end = os.getloadavg()
    print(f"\nload average at end: {' '.join(f'{x:.2f}' for x in load_end)}")
    print(f"total {elapsed:.1f} s")

    failures = []
    if not gen["meets_target"]:
        failures.append(f"generation ratio {gen['ratio']:.3f} < {TARGET}")
    checked = loop["comparisons"][CHECKED]
    if not checked["processed_keep_from_turn_2"] < checked["processed_strip_from_turn_2"]:
        failures.append(f"keep did not process fewer prompt tokens than {CHECKED} from turn 2 on")
    if args.json:
        report = {
            "model": str(path),
            "template": TEMPLATE,
            "threads": args.threads,
            "mode": run,
            "settings": asdict(mode),
            "load_average": {"start": load_start, "end": load_end},
            "generation": gen,
            "tool_loop": loop,
            "failures": failures,
            "runtime_s": elapsed,
        }
        args.json.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    for failure in failures:
        print(f"check: {failure}")
    return 1 if args.check and failures else 0


if __name__ == "__main__":
    sys.exit(main())
