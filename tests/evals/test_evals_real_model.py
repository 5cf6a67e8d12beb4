"""A short eval on the real default model: 2 tasks x keep, discard (marked ``model``).

Two single-step ``control`` tasks, so the run is short (a tool call and an answer each) and the
policy still has something to hide: under ``discard`` the answer step must not see the thinking
of the call step, under ``keep`` it must. What the model scores is not asserted (that is the
measurement); that every run is played, traced, paired and reported is.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from thinkwire.agent.loop import Limits
from thinkwire.agent.models import open_model
from thinkwire.agent.trace import ModelRequest, read_trace, thinking_seen
from thinkwire.evals.episode import Outcome
from thinkwire.evals.report import ReportMeta, write_report
from thinkwire.evals.runner import Meta, Runner
from thinkwire.evals.suite import load_suite

pytestmark = pytest.mark.model
TASKS = ("control-01", "control-02")


def test_a_short_local_eval_is_played_paired_traced_and_reported(tmp_path: Path, default_model: Path) -> None:
    tasks = [t for t in load_suite("builtin:control") if t.id in TASKS]
    meta = Meta(suite="builtin:control", model="local", policies=("keep", "discard"), trials=1, tasks=TASKS)

    async def main() -> list[Outcome]:
        model = open_model("local", max_tokens=384)
        try:
            runner = Runner(tasks, model, meta, tmp_path, limits=Limits(max_steps=6), max_tokens=384)
            return await runner.run()
        finally:
            await model.aclose()

    outcomes = asyncio.run(main())
    assert [(o.task, o.policy) for o in outcomes] == [(t, p) for t in TASKS for p in ("keep", "discard")]
    for outcome in outcomes:
        assert outcome.status in ("answered", "limit"), outcome.reason
        assert outcome.trace is not None
        requests = [r for r in read_trace(tmp_path / outcome.trace) if isinstance(r, ModelRequest)]
        for request in requests[1:]:
            seen, hidden = thinking_seen(request)
            if outcome.policy == "keep":  # every earlier turn thought, and all of it went back
                assert hidden == 0
                assert seen >= request.step - 1
            else:
                assert seen == 0
                assert hidden >= 1
    files = write_report(
        tmp_path, outcomes, ReportMeta(model="local", suite="builtin:control", trials=1, date="test")
    )
    report = files.markdown.read_text()
    assert "builtin:control" in report
    assert "data:image/png;base64" in files.html.read_text()
