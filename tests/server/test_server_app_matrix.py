"""The app matrix: the coding agents people use, run as users run them, against thinkwire.

Each app of ``tests.support.apps_cli.APPS`` (Claude Code, Codex CLI, Qwen Code, Cline, Factory
Droid; pinned in ``tests/apps``) runs non-interactively on one task, in a temporary home and
working folder, with its telemetry and updates switched off, against two targets:

- ``serve``: ``thinkwire serve --model scripted --calls 2`` (the same engine, in process);
- the gateway with its state in front of a strict emulator, which refuses a tool turn sent
  back without its thinking: the one of the app's API (Anthropic for Claude Code and Cline,
  OpenAI Responses for Codex, DeepSeek's Chat for Qwen Code and Droid), then Claude's and
  DeepSeek's for every app, so thinking also crosses dialects (``App.upstreams``). Droid in
  front of Claude is the case of a client rewriting the tool-call ids it got (``toolu_X`` back
  as ``call_X_0``): the restore must still find the turn.

The scripted model calls two of the tools the app offers before it answers, notes a code word
only in its first thinking, and quotes it at the end only if that thinking is still in what it
sees. Each case asserts the app exits 0, every model request was answered 200, the task took
at least two tool steps, with the two read-only tools ``App.calls`` names (the settings give
each app such tools first, so the scripted model's calls change nothing), each later step
carried the earlier thinking (the app sent it back) or thinkwire restored it
(``thinkwire-restored``), whether the app sends it back itself is as ``App.sends_thinking``
(and the docs) say, and the code word comes back in the app's output.
An app that fails prints its own output in the failure. The control: the apps that do not
send thinking back, against the gateway without its state (``--no-state``), are refused by the
strict vendor at their second step and fail.

What the apps still try to reach on the network, seen through a proxy that forwards nothing
(``tests.support.recording.Outbound``) with the switches of ``APPS`` on, on 2026-12-05:
Claude Code, Codex CLI and Qwen Code nothing; Cline ``data.cline.bot`` (its feature flags, on
a fresh home); Droid ``api.factory.ai`` and ``telemetry.factory.ai`` (no switch found for
either; both complete without them). Without the switches: Codex syncs its plugins from
github.com, api.github.com and chatgpt.com, and Cline sends telemetry to otel.cline.bot.
Run under ``strace -f -e trace=connect``, no app connected anywhere but loopback except
Droid's own DNS look-ups of ``telemetry.factory.ai`` and an OpenTelemetry collector
(``otel-collector-….us-central1.run.app``), which go past the proxy settings. Each case asserts
the app reached no host beyond ``App.reaches``. The whole matrix runs in CI
(eighteen cases, about 125 s on two cores): ``.venv/bin/pytest tests/server/test_server_app_matrix.py``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pytest
from tests.support.apps import sqlite_state, stateful_app, vendor_gateway
from tests.support.apps_cli import APPS, App, Run, app_section, apps_table, run_app
from tests.support.clients import Exchange
from tests.support.recording import Outbound, Recorder

from thinkwire.asgi.serving import serving
from thinkwire.dialects.base import get_codec
from thinkwire.emulators.run import Emulate
from thinkwire.ir.blocks import REASONING_TYPES, ToolCall
from thinkwire.local.build import EngineOptions, build_engine
from thinkwire.local.service import EngineService
from thinkwire.server.reply import RESTORED_HEADER
from thinkwire.upstreams.profiles import PATHS

DOCS: Final = Path(__file__).resolve().parents[2] / "docs" / "coding-agents.md"
QUOTED: Final = re.compile(r"The code word I noted was [a-z]+-[0-9a-f]{4}\.")
DIALECTS: Final = {path: dialect for dialect, path in PATHS.items()}
CALLS: Final = 2


@dataclass
class Step:
    """One model request an app sent in its tool loop, after at least one tool call."""

    carried: bool
    """The request held thinking on an earlier assistant turn."""
    restored: int
    """Turns whose thinking thinkwire put back (its ``thinkwire-restored`` header)."""
    calls: tuple[str, ...]
    """The names of the tool calls it sends back, in order."""


def tool_steps(exchanges: list[Exchange]) -> list[Step]:
    """The model requests (by path) that send an assistant tool call back, decoded with the
    app's dialect, with whether each carried thinking and how many turns were restored."""
    steps = []
    for exchange in exchanges:
        dialect = DIALECTS.get(exchange.url.split("?", 1)[0])
        if exchange.method != "POST" or dialect is None:
            continue
        request = get_codec(dialect).decode_request(json.loads(exchange.body))
        turns = [m for m in request.messages if m.role == "assistant"]
        if not any(isinstance(b, ToolCall) for m in turns for b in m.blocks):
            continue
        carried = any(isinstance(b, REASONING_TYPES) for m in turns for b in m.blocks)
        calls = tuple(b.name for m in turns for b in m.blocks if isinstance(b, ToolCall))
        steps.append(Step(carried, int(exchange.headers.get(RESTORED_HEADER, "0")), calls))
    return steps


@contextmanager
def target(
    kind: str, emulate: Emulate, folder: Path, *, state: bool = True
) -> Iterator[tuple[str, Recorder]]:
    """thinkwire, recorded, on a loopback port: ``serve``, or the gateway over the emulator of
    vendor ``kind``; with its conversation state unless ``state`` is false (``--no-state``)."""
    conversations = sqlite_state(folder / "state.db") if state else None
    if kind == "serve":
        engine = build_engine(EngineOptions(model="scripted", calls=CALLS, home=folder))
        app_, _ = stateful_app(EngineService(engine), conversations)
    else:
        upstream, _ = emulate(kind, calls=CALLS)
        app_, _ = stateful_app(vendor_gateway(upstream, kind), conversations)
    recorder = Recorder(app_)
    with serving(recorder) as url:
        yield url, recorder


def run_against(
    app: App, kind: str, emulate: Emulate, folder: Path, *, state: bool = True
) -> tuple[Run, Recorder, Outbound]:
    """``app`` run once on the task against ``target(kind)``, in a home and working folder of
    its own under ``folder``."""
    home, cwd = folder / "home", folder / "work"
    home.mkdir()
    cwd.mkdir()
    (cwd / "NOTES.md").write_text("Nothing to see here.\n")
    outbound = Outbound()
    try:
        with target(kind, emulate, folder, state=state) as (url, recorder):
            run = run_app(app, url, home, cwd, outbound.url)
    finally:
        outbound.close()
    return run, recorder, outbound


CASES: Final = [
    pytest.param(app, kind, id=f"{app.id}-{kind}") for app in APPS for kind in ("serve", *app.upstreams)
]


@pytest.mark.usefixtures("apps_project")
@pytest.mark.parametrize(("app", "kind"), CASES)
def test_the_app_keeps_its_thinking_across_two_tool_steps(
    app: App, kind: str, emulate: Emulate, tmp_path: Path
) -> None:
    run, recorder, outbound = run_against(app, kind, emulate, tmp_path)
    assert run.status == 0, f"{app.name} failed against {kind}: {run.describe()}"
    models = [x for x in recorder.exchanges if x.method == "POST" and x.url.split("?")[0] in DIALECTS]
    assert [x.status for x in models] == [200] * len(models), run.describe()
    steps = tool_steps(recorder.exchanges)
    assert len(steps) >= CALLS, f"{app.name} made {len(steps)} tool steps: {run.describe()}"
    assert steps[-1].calls == app.calls, steps  # the read-only tools the matrix chose
    assert all(s.carried or s.restored for s in steps), steps
    assert all(s.carried for s in steps) == app.sends_thinking, steps
    assert QUOTED.search(run.stdout), f"no code word in what {app.name} printed: {run.describe()}"
    assert set(outbound.hosts) <= set(app.reaches), f"{app.name} reached {outbound.hosts}"


DROPPING: Final = [pytest.param(app, id=app.id) for app in APPS if not app.sends_thinking]


@pytest.mark.usefixtures("apps_project")
@pytest.mark.parametrize("app", DROPPING)
def test_without_the_state_an_app_that_drops_thinking_is_refused(
    app: App, emulate: Emulate, tmp_path: Path
) -> None:
    """The control: the gateway with ``--no-state`` in front of the strict vendor of the app's
    API. The app's second step comes without the thinking and is refused, so the app fails:
    thinkwire's restore is what keeps these apps working."""
    run, recorder, _ = run_against(app, app.upstreams[0], emulate, tmp_path, state=False)
    statuses = [x.status for x in recorder.exchanges if x.method == "POST"]
    assert run.status != 0, run.describe()
    assert statuses[:2] == [200, 400], statuses


def test_the_docs_show_the_settings_the_matrix_runs() -> None:
    page = DOCS.read_text()
    assert apps_table() in page, f"docs/coding-agents.md should hold this table:\n{apps_table()}"
    for app in APPS:
        section = app_section(app)
        assert section in page, f"docs/coding-agents.md should hold, for {app.name}:\n{section}"
