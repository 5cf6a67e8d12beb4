"""``thinkwire run`` and ``thinkwire trace view``: as a user runs them (a subprocess), and through
typer's CliRunner for the many error paths."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from thinkwire.agent.trace import ModelRequest, ModelResponse, RunEnd, RunStart, ToolExecution, read_trace
from thinkwire.cli import app

THINKWIRE = Path(sys.executable).with_name("thinkwire")
ANSWER = re.compile(
    r"^calculate returned: error: ValueError: unsupported in an arithmetic expression: example\. "
    r"The code word I noted was ([a-z]+-[0-9a-f]{4})\.\n$"
)
KEYS = ("ANTHROPIC_API_KEY", "DEEPSEEK_API_KEY", "MINIMAX_API_KEY", "OPENROUTER_API_KEY", "OPENAI_API_KEY")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """$THINKWIRE_HOME in tmp_path, no vendor keys, and tmp_path as the working directory."""
    home = tmp_path / "home"
    monkeypatch.setenv("THINKWIRE_HOME", str(home))
    monkeypatch.setenv("COLUMNS", "200")  # rich wraps help and errors at the terminal's width
    for key in KEYS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(tmp_path)
    return home


def thinkwire(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The installed command, with the environment the ``home`` fixture set."""
    return subprocess.run(
        [str(THINKWIRE), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=cwd,
        env=dict(os.environ),
    )


def invoke(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def one_error_line(stderr: str) -> str:
    """The single ``thinkwire: error:`` line of a failed command (no traceback, nothing else)."""
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("thinkwire: error: ")]
    assert len(errors) == 1, stderr
    return errors[0]


# -- thinkwire run, as a user runs it ---------------------------------------------------------------


def test_run_answers_on_stdout_and_writes_a_trace_that_reads_back(home: Path, tmp_path: Path) -> None:
    trace = tmp_path / "run.jsonl"
    done = thinkwire("run", "--model", "scripted", "add two numbers", "--trace", str(trace), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert ANSWER.match(done.stdout), done.stdout  # the answer alone on stdout
    assert "step 1" in done.stderr  # the live view goes to stderr
    assert f"trace: {trace}" in done.stderr

    records = read_trace(trace)
    assert [type(r) for r in records] == [
        RunStart,
        ModelRequest,
        ModelResponse,
        ToolExecution,
        ModelRequest,
        ModelResponse,
        RunEnd,
    ]
    start, end = records[0], records[-1]
    assert isinstance(start, RunStart)
    assert isinstance(end, RunEnd)
    assert (start.task, start.model, start.policy) == ("add two numbers", "scripted", "keep")
    assert [t.name for t in start.tools] == ["calculate", "list_files", "read_file", "current_time"]
    assert (end.status, end.steps) == ("answered", 2)
    assert f"{end.answer}\n" == done.stdout
    tool_run = records[3]
    assert isinstance(tool_run, ToolExecution)
    assert tool_run.call.name == "calculate"
    assert tool_run.result.is_error
    assert not (home / "traces").exists()  # --trace given: nothing under the home


def test_the_default_trace_lands_under_thinkwire_home(home: Path, tmp_path: Path) -> None:
    done = thinkwire("run", "--model", "scripted", "--quiet", "hello", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (trace,) = (home / "traces").iterdir()
    assert re.fullmatch(r"run-\d{8}-\d{6}\.jsonl", trace.name)
    end = read_trace(trace)[-1]
    assert isinstance(end, RunEnd)
    assert f"{end.answer}\n" == done.stdout


def test_quiet_prints_only_the_answer(home: Path, tmp_path: Path) -> None:
    done = thinkwire("run", "--model", "scripted", "-q", "hello", "--trace", "t.jsonl", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert ANSWER.match(done.stdout)
    assert done.stderr == ""
    assert (tmp_path / "t.jsonl").is_file()


def test_discard_hides_the_thinking_so_the_answer_has_no_code_word(home: Path, tmp_path: Path) -> None:
    kept = thinkwire("run", "--model", "scripted", "-q", "hello", cwd=tmp_path)
    discarded = thinkwire(
        "run", "--model", "scripted", "-q", "--policy", "discard", "hello", "--trace", "d.jsonl", cwd=tmp_path
    )
    assert (kept.returncode, discarded.returncode) == (0, 0), discarded.stderr
    assert "The code word I noted was" in kept.stdout
    assert discarded.stdout == (
        "calculate returned: error: ValueError: unsupported in an arithmetic expression: example. "
        "I have no note of a code word.\n"
    )
    start = read_trace(tmp_path / "d.jsonl")[0]
    assert isinstance(start, RunStart)
    assert start.policy == "discard"


def test_a_step_limit_exits_1_with_a_limit_line(home: Path, tmp_path: Path) -> None:
    done = thinkwire(
        "run", "--model", "scripted", "-q", "--max-steps", "1", "hi", "--trace", "t.jsonl", cwd=tmp_path
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == "thinkwire: limit: max_steps: 1 steps without an answer\n"
    end = read_trace(tmp_path / "t.jsonl")[-1]
    assert isinstance(end, RunEnd)
    assert (end.status, end.steps) == ("limit", 1)


def test_tools_from_a_file_are_offered_and_called(home: Path, tmp_path: Path) -> None:
    (tmp_path / "mytools.py").write_text(
        'def shout(text: str) -> str:\n    """Shout the text."""\n    return text.upper() + "!"\n'
    )
    done = thinkwire(
        "run", "--model", "scripted", "-q", "--no-builtin", "--tools", "mytools.py:shout", "hi",
        "--trace", "t.jsonl", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("shout returned: EXAMPLE!. The code word I noted was ")
    start = read_trace(tmp_path / "t.jsonl")[0]
    assert isinstance(start, RunStart)
    assert [(t.name, t.description) for t in start.tools] == [("shout", "Shout the text.")]


def test_an_unknown_model_exits_2_with_one_error_line(home: Path, tmp_path: Path) -> None:
    done = thinkwire("run", "--model", "no-such-model", "hi", cwd=tmp_path)
    assert done.returncode == 2
    assert one_error_line(done.stderr).startswith(
        "thinkwire: error: unknown model 'no-such-model'; expected local,"
    )
    assert done.stdout == ""
    assert not (home / "traces").exists()


# -- thinkwire run, error paths (CliRunner) ------------------------------------------------------------


def test_a_missing_key_exits_2_naming_the_variable(home: Path) -> None:
    result = invoke("run", "--model", "anthropic:claude-sonnet-4-5", "-q", "hi")
    assert result.exit_code == 2
    assert one_error_line(result.stderr) == (
        "thinkwire: error: model 'anthropic:claude-sonnet-4-5' needs $ANTHROPIC_API_KEY in the environment"
    )
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nocolon", "--tools nocolon: expected MODULE:FUNCTION or FILE.py:FUNCTION"),
        ("missing.py:fn", "--tools missing.py:fn: no file missing.py"),
        ("tools.py:nope", "--tools tools.py:nope: tools.py has no function 'nope'"),
        ("no_such_module_for_thinkwire:fn", "--tools no_such_module_for_thinkwire:fn: cannot import"),
    ],
)
def test_bad_tools_exit_2_with_one_error_line(home: Path, tmp_path: Path, spec: str, message: str) -> None:
    (tmp_path / "tools.py").write_text("def fn(x: int) -> int:\n    return x\n")
    result = invoke("run", "--model", "scripted", "--tools", spec, "hi")
    assert result.exit_code == 2
    assert one_error_line(result.stderr).startswith(f"thinkwire: error: {message}")


def test_a_tool_clashing_with_a_builtin_exits_2(home: Path, tmp_path: Path) -> None:
    (tmp_path / "tools.py").write_text("def calculate(expression: str) -> str:\n    return expression\n")
    result = invoke("run", "--model", "scripted", "--tools", "tools.py:calculate", "hi")
    assert result.exit_code == 2
    assert one_error_line(result.stderr) == (
        "thinkwire: error: --tools: calculate is a built-in tool's name too (rename it, or use --no-builtin)"
    )
    allowed = invoke(
        "run", "--model", "scripted", "-q", "--no-builtin", "--tools", "tools.py:calculate", "hi"
    )
    assert allowed.exit_code == 0, allowed.stderr
    assert allowed.stdout.startswith("calculate returned: example.")


def test_run_help_mentions_the_model_forms(home: Path) -> None:
    result = invoke("run", "--help")
    assert result.exit_code == 0
    text = " ".join(result.stdout.replace("│", " ").split())
    for form in ("scripted", "anthropic:MODEL", "deepseek:MODEL", "openai-chat:URL#MODEL", "thinkwire.toml"):
        assert form in text, form


# -- thinkwire trace view ---------------------------------------------------------------------------


@pytest.fixture
def trace(home: Path, tmp_path: Path) -> Path:
    path = tmp_path / "run.jsonl"
    result = invoke("run", "--model", "scripted", "-q", "hello", "--trace", str(path))
    assert result.exit_code == 0, result.stderr
    return path


def test_trace_view_writes_the_html_beside_the_trace(trace: Path, tmp_path: Path) -> None:
    done = thinkwire("trace", "view", str(trace), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    page = trace.with_suffix(".html")
    assert done.stdout == f"{page}\n"
    html = page.read_text(encoding="utf-8")
    assert html.lstrip().lower().startswith("<!doctype html")
    assert "I note the code word" in html  # the thinking is on the page


def test_trace_view_writes_where_o_says(trace: Path, tmp_path: Path) -> None:
    out = tmp_path / "pages" / "page.html"
    out.parent.mkdir()
    result = invoke("trace", "view", str(trace), "-o", str(out))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"{out}\n"
    assert "I note the code word" in out.read_text(encoding="utf-8")
    assert not trace.with_suffix(".html").exists()


def test_trace_view_of_a_missing_file_exits_2_naming_it(home: Path, tmp_path: Path) -> None:
    missing = tmp_path / "missing.jsonl"
    done = thinkwire("trace", "view", str(missing), cwd=tmp_path)
    assert done.returncode == 2
    assert one_error_line(done.stderr) == f"thinkwire: error: {missing}: No such file or directory"


def test_trace_view_of_a_corrupt_file_exits_2_naming_the_file_and_line(trace: Path, tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.jsonl"
    first = trace.read_text(encoding="utf-8").splitlines()[0]
    corrupt.write_text(f"{first}\n\nnot json at all\n", encoding="utf-8")
    result = invoke("trace", "view", str(corrupt))
    assert result.exit_code == 2
    assert one_error_line(result.stderr).startswith(f"thinkwire: error: {corrupt}:3: not a trace record:")
    assert not corrupt.with_suffix(".html").exists()

    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    result = invoke("trace", "view", str(empty))
    assert result.exit_code == 2
    assert (
        one_error_line(result.stderr) == f"thinkwire: error: {empty}: a trace begins with a run_start record"
    )


def test_runs_in_the_same_second_keep_their_own_traces(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("thinkwire.agent.command.time.strftime", lambda fmt: "run-20250101-120000")
    answers = []
    for task in ("first", "second", "third"):
        result = invoke("run", "--model", "scripted", "-q", "--no-builtin", task)
        assert result.exit_code == 0, result.stderr
        answers.append(result.stdout)
    names = sorted(p.name for p in (home / "traces").iterdir())
    assert names == [
        "run-20250101-120000-2.jsonl",
        "run-20250101-120000-3.jsonl",
        "run-20250101-120000.jsonl",
    ]
    tasks = []
    for name in names:
        start = read_trace(home / "traces" / name)[0]
        assert isinstance(start, RunStart)
        tasks.append(start.task)
    assert sorted(tasks) == ["first", "second", "third"]
    assert answers == ["You said: first\n", "You said: second\n", "You said: third\n"]


def test_ctrl_c_during_a_tool_exits_130_at_once_and_keeps_the_trace(home: Path, tmp_path: Path) -> None:
    (tmp_path / "slow.py").write_text(
        "import time\n\n\ndef wait(seconds: int) -> str:\n"
        '    """Waits far longer than the test."""\n    time.sleep(120)\n    return "waited"\n'
    )
    path = tmp_path / "t.jsonl"
    args = [
        "run",
        "--model",
        "scripted",
        "--no-builtin",
        "--tools",
        "slow.py:wait",
        "go",
        "--trace",
        str(path),
    ]
    process = subprocess.Popen(
        [str(THINKWIRE), *args], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        for _ in range(300):  # the tool has started once its call is in the trace
            if process.poll() is not None or (path.is_file() and b'"type":"response"' in path.read_bytes()):
                break
            time.sleep(0.1)
        process.send_signal(2)  # SIGINT, as Ctrl-C
        _, stderr = process.communicate(timeout=20)  # the sync tool sleeps 120 s: must not wait for it
    finally:
        process.kill()
    assert process.returncode == 130
    assert f"interrupted; the trace is kept at {path}" in stderr
    assert "Traceback" not in stderr
    end = read_trace(path)[-1]
    assert isinstance(end, RunEnd)
    assert end.status == "interrupted"


def test_run_takes_a_seed_and_a_temperature_and_the_trace_records_them(home: Path, tmp_path: Path) -> None:
    trace = tmp_path / "run.jsonl"
    args = ("run", "--model", "scripted", "-q", "hello", "--trace", str(trace))
    done = thinkwire(*args, "--seed", "7", "--temperature", "0.2", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    start = read_trace(trace)[0]
    assert isinstance(start, RunStart)
    assert (start.seed, start.temperature) == (7, 0.2)
    bad = thinkwire(*args, "--seed", "-1", cwd=tmp_path)
    assert bad.returncode == 2
    assert "--seed" in bad.stderr


def test_run_passes_threads_to_the_local_model_and_refuses_zero(
    home: Path, tmp_path: Path, opened_options: list[dict[str, object]]
) -> None:
    done = invoke("run", "-q", "hello", "--threads", "1", "--trace", str(tmp_path / "t.jsonl"))
    assert done.exit_code == 0, done.stderr
    assert [o["threads"] for o in opened_options] == [1]
    bad = invoke("run", "-q", "hello", "--threads", "0")
    assert bad.exit_code == 2
    assert "--threads" in bad.stderr
