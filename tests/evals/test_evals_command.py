"""``thinkwire eval``: the whole suite with the sanity agents as a user runs it (a subprocess),
and typer's CliRunner for selection, resuming and the error paths."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest
from typer.testing import CliRunner, Result

from thinkwire.cli import app
from thinkwire.evals.episode import Outcome
from thinkwire.evals.runner import META, RESULTS, Meta

THINKWIRE = Path(sys.executable).with_name("thinkwire")
KEYS = ("ANTHROPIC_API_KEY", "DEEPSEEK_API_KEY", "MINIMAX_API_KEY", "OPENROUTER_API_KEY", "OPENAI_API_KEY")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """$THINKWIRE_HOME in tmp_path, no vendor keys, and tmp_path as the working directory."""
    home = tmp_path / "home"
    monkeypatch.setenv("THINKWIRE_HOME", str(home))
    monkeypatch.setenv("COLUMNS", "200")
    for key in KEYS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(tmp_path)
    return home


def invoke(*args: str) -> Result:
    return CliRunner().invoke(app, ["eval", *args])


def outcomes(out: Path) -> list[Outcome]:
    return [msgspec.json.decode(line, type=Outcome) for line in (out / RESULTS).read_bytes().splitlines()]


def suite_row(report: str, suite: str) -> list[str]:
    """The cells of the whole-suite row of report.md's first table."""
    [row] = [line for line in report.splitlines() if line.startswith(f"| **{suite}** |")]
    return [cell.strip() for cell in row.strip("|").split("|")][1:]


def one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("thinkwire: error: ")]
    assert len(errors) == 1, stderr
    return errors[0]


# --- as a user runs it ------------------------------------------------------------------------


def test_the_oracle_passes_the_whole_builtin_suite(home: Path, tmp_path: Path) -> None:
    out = tmp_path / "oracle"
    done = subprocess.run(
        [str(THINKWIRE), "eval", "--model", "oracle", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=tmp_path,
        env=dict(os.environ),
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == f"{out / 'report.md'}\n{out / 'report.html'}\n"
    assert "120 run(s) in" in done.stderr
    runs = outcomes(out)
    assert len(runs) == 120
    assert all(r.passed and r.status == "answered" for r in runs)
    assert {(r.task, r.policy) for r in runs} == {
        (f"{f}-{n:02d}", p)
        for f in ("carry", "diagnose", "cascade", "choose", "followup", "control")
        for n in range(1, 11)
        for p in ("keep", "discard")
    }
    assert all(r.trace is not None and (out / r.trace).is_file() for r in runs)
    report = (out / "report.md").read_text()
    assert report.startswith("# thinkwire eval: keep vs discard")
    kept, discarded, delta, *_, n = suite_row(report, "builtin")
    assert (kept, discarded, delta, n) == ("100.0%", "100.0%", "+0.0 pp", "60")
    page = (out / "report.html").read_text()
    assert page.lstrip().lower().startswith("<!doctype html>")
    # every run links its trace page, written beside its trace (cwd is not the out dir)
    for r in runs:
        assert r.trace is not None
        assert f'href="{r.trace.removesuffix(".jsonl")}.html"' in page
        assert (out / r.trace).with_suffix(".html").is_file()
    meta = msgspec.json.decode((out / META).read_bytes(), type=Meta)
    assert (meta.model, meta.suite, meta.policies, meta.trials) == (
        "oracle",
        "builtin",
        ("keep", "discard"),
        1,
    )
    assert meta.command == f"thinkwire eval --model oracle --out {out}"


# --- CliRunner: selection and reports -----------------------------------------------------------


def test_noop_fails_every_control_task_and_one_policy_gives_the_single_policy_report(
    home: Path, tmp_path: Path
) -> None:
    out = tmp_path / "noop"
    result = invoke("--model", "noop", "--suite", "builtin:control", "--policies", "keep", "--out", str(out))
    assert result.exit_code == 0, result.output
    runs = outcomes(out)
    assert len(runs) == 10
    assert {r.policy for r in runs} == {"keep"}
    assert not any(r.passed for r in runs)
    report = (out / "report.md").read_text()
    assert report.startswith("# thinkwire eval: keep\n")
    assert "No comparison: only one policy ran (keep)." in report
    assert "| builtin:control | keep | 0.0% |" in report
    assert "| kept | discarded |" not in report


def test_tasks_select_by_id(home: Path, tmp_path: Path) -> None:
    out = tmp_path / "some"
    result = invoke("--model", "oracle", "--tasks", "control-03, carry-02", "--out", str(out))
    assert result.exit_code == 0, result.output
    # in suite order, whatever the order given
    assert [(r.task, r.policy) for r in outcomes(out)] == [
        ("carry-02", "keep"),
        ("carry-02", "discard"),
        ("control-03", "keep"),
        ("control-03", "discard"),
    ]
    assert msgspec.json.decode((out / META).read_bytes(), type=Meta).tasks == ("carry-02", "control-03")


def test_per_family_takes_the_first_tasks_of_each_family(home: Path, tmp_path: Path) -> None:
    out = tmp_path / "few"
    result = invoke(
        "--model", "oracle", "--suite", "builtin:diagnose,followup", "--per-family", "2", "--out", str(out)
    )
    assert result.exit_code == 0, result.output
    assert sorted({r.task for r in outcomes(out)}) == [
        "diagnose-01",
        "diagnose-02",
        "followup-01",
        "followup-02",
    ]
    assert len(outcomes(out)) == 8


def test_tasks_and_per_family_together(home: Path, tmp_path: Path) -> None:
    out = tmp_path / "both"
    result = invoke(
        "--model", "oracle", "--tasks", "carry-05,carry-07,choose-09", "--per-family", "1", "--out", str(out)
    )
    assert result.exit_code == 0, result.output
    assert sorted({r.task for r in outcomes(out)}) == ["carry-05", "choose-09"]


def test_trials_and_three_policies(home: Path, tmp_path: Path) -> None:
    out = tmp_path / "trials"
    result = invoke(
        "--model",
        "oracle",
        "--tasks",
        "cascade-01",
        "--trials",
        "2",
        "--policies",
        "keep,discard,current-turn,keep",
        "--out",
        str(out),
    )
    assert result.exit_code == 0, result.output
    runs = outcomes(out)
    assert [(r.trial, r.policy) for r in runs] == [
        (trial, policy) for trial in (0, 1) for policy in ("keep", "discard", "current-turn")
    ]
    assert len({r.seed for r in runs if r.trial == 0}) == 1
    assert {r.seed for r in runs if r.trial == 0} != {r.seed for r in runs if r.trial == 1}
    report = (out / "report.md").read_text()
    assert "keep vs discard" in report
    assert "keep vs current-turn" in report


def test_the_default_out_dir_is_named_after_model_and_suite(home: Path, tmp_path: Path) -> None:
    result = invoke("--model", "oracle", "--suite", "builtin:control,carry", "--per-family", "1")
    assert result.exit_code == 0, result.output
    out = tmp_path / "evals" / "oracle-builtin-control+carry"
    assert len(outcomes(out)) == 4
    assert (out / "report.md").is_file()
    assert 'href="traces/control-01/t0-discard.html"' in (out / "report.html").read_text()


def test_a_rerun_skips_every_run_and_rewrites_the_report(home: Path, tmp_path: Path) -> None:
    out = tmp_path / "again"
    args = ("--model", "oracle", "--suite", "builtin:choose", "--per-family", "3", "--out", str(out))
    assert invoke(*args).exit_code == 0
    results = (out / RESULTS).read_bytes()
    (out / "report.md").unlink()
    (out / "report.html").unlink()

    again = invoke(*args)
    assert again.exit_code == 0, again.output
    assert "6 run(s) already in" in again.stderr
    assert (out / RESULTS).read_bytes() == results  # nothing played, nothing appended
    assert (out / "report.md").is_file()
    assert (out / "report.html").is_file()
    assert suite_row((out / "report.md").read_text(), "builtin:choose")[:2] == ["100.0%", "100.0%"]

    more = invoke(*args[:-4], "--per-family", "4", "--out", str(out))
    assert more.exit_code == 0, more.output
    assert "6 run(s) already in" in more.stderr
    assert len(outcomes(out)) == 8


# --- CliRunner: errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--tasks", "carry-01,carry-99"), "--tasks: no task carry-99 in suite builtin"),
        (
            ("--suite", "builtin:control", "--tasks", "carry-01"),
            "--tasks: no task carry-01 in suite builtin:control",
        ),
        (
            ("--policies", "keep,forget"),
            "--policies: unknown policy 'forget'; expected some of keep, discard",
        ),
        (("--policies", " , "), "--policies: give at least one policy"),
        (("--suite", "nope"), "unknown suite 'nope'; expected builtin"),
        (("--suite", "builtin:nope"), "unknown family 'nope'; expected one of carry"),
    ],
)
def test_bad_selections_exit_2_with_one_error_line(
    home: Path, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    out = tmp_path / "never"
    result = invoke("--model", "oracle", *args, "--out", str(out))
    assert result.exit_code == 2
    assert one_error_line(result.stderr).startswith(f"thinkwire: error: {message}")
    assert not out.exists()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no-such-model", "unknown model 'no-such-model'; expected local"),
        ("anthropic:claude-sonnet-4", "needs $ANTHROPIC_API_KEY in the environment"),
        ("openai-chat:nohost", "expected openai-chat:URL#MODEL"),
    ],
)
def test_an_unknown_model_spec_exits_2_with_one_error_line(
    home: Path, tmp_path: Path, spec: str, message: str
) -> None:
    out = tmp_path / "never"
    result = invoke("--model", spec, "--out", str(out))
    assert result.exit_code == 2
    assert message in one_error_line(result.stderr)
    assert not out.exists()


def test_a_corrupt_results_file_exits_2_naming_its_line(home: Path, tmp_path: Path) -> None:
    out = tmp_path / "corrupt"
    args = ("--model", "oracle", "--tasks", "control-01", "--out", str(out))
    assert invoke(*args).exit_code == 0
    with (out / RESULTS).open("ab") as handle:
        handle.write(b"{oops\n")
    result = invoke(*args)
    assert result.exit_code == 2
    assert one_error_line(result.stderr).startswith(f"thinkwire: error: {out / RESULTS}:3: not an outcome")


def test_another_models_out_dir_is_refused_before_anything_runs(home: Path, tmp_path: Path) -> None:
    out = tmp_path / "taken"
    assert invoke("--model", "oracle", "--tasks", "control-01", "--out", str(out)).exit_code == 0
    results = (out / RESULTS).read_bytes()
    result = invoke("--model", "noop", "--tasks", "control-01", "--out", str(out))
    assert result.exit_code == 2
    line = one_error_line(result.stderr)
    assert f"{out} holds runs of model 'oracle', not 'noop': use another --out" in line
    assert "already in" not in result.stderr
    assert (out / RESULTS).read_bytes() == results


def test_threads_reach_the_local_model_and_zero_is_refused(
    home: Path, tmp_path: Path, opened_options: list[dict[str, object]]
) -> None:
    result = invoke(
        "--tasks", "control-01", "--policies", "keep", "--threads", "1", "--out", str(tmp_path / "o")
    )
    assert [o["threads"] for o in opened_options] == [1]
    assert (tmp_path / "o" / RESULTS).is_file(), result.stderr
    bad = invoke("--threads", "0", "--out", str(tmp_path / "never"))
    assert bad.exit_code == 2
    assert "--threads" in bad.stderr
    assert not (tmp_path / "never").exists()
