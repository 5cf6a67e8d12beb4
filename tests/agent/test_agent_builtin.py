"""The built-in tools: calculate's arithmetic and refusals, files under the working directory, time."""

from __future__ import annotations

import datetime
import os
import re
from pathlib import Path

import pytest

from thinkwire.agent.builtin import builtin_tools, calculate, current_time, list_files, read_file
from thinkwire.agent.tools import run_tool
from thinkwire.ir.blocks import ToolCall


@pytest.mark.parametrize(
    ("expression", "shown"),
    [
        ("2 + 3 * 4", "14"),
        ("(2 + 3) * 4", "20"),
        ("2 ** 3 ** 2", "512"),  # right-associative
        ("-2 ** 2", "-4"),  # the power binds tighter than the sign
        ("7 / 2", "3.5"),
        ("7 // 2", "3"),
        ("-7 % 3", "2"),
        ("+5 - -5", "10"),
        ("0.1 + 0.2", "0.30000000000000004"),
        ("1.5 * 2", "3"),  # a whole float is shown as an integer
        ("10 / 4 * 4", "10"),
        ("2 ** 0.5", "1.4142135623730951"),
        ("1e20", "1e+20"),  # too large to be shown as an exact integer
        ("sqrt(16)", "4"),
        ("sqrt(2)", "1.4142135623730951"),
        ("round(3.14159, 2)", "3.14"),
        ("round(2.5)", "2"),
        ("abs(-3.5)", "3.5"),
        ("min(3, 1, 2)", "1"),
        ("max(3, 1, 2) + 1", "4"),
        ("2 ** 1000 // 2 ** 999", "2"),
        ("  6 * 7  ", "42"),
    ],
)
def test_calculate_evaluates_arithmetic(expression: str, shown: str) -> None:
    assert calculate(expression) == shown


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("x + 1", "unsupported in an arithmetic expression: x"),
        ("__import__('os')", "unsupported in an arithmetic expression: __import__('os')"),
        ("(1).real", "unsupported in an arithmetic expression: 1 .real"),
        ("print(1)", "unsupported in an arithmetic expression: print(1)"),
        ("math.sqrt(4)", "unsupported in an arithmetic expression: math.sqrt(4)"),
        ("'a' * 3", "unsupported in an arithmetic expression: 'a'"),
        ("True + 1", "unsupported in an arithmetic expression: True"),
        ("[1, 2]", "unsupported in an arithmetic expression: [1, 2]"),
        ("1j * 2", "unsupported in an arithmetic expression: 1j"),
        ("1 << 2", "unsupported in an arithmetic expression: 1 << 2"),
        ("1 < 2", "unsupported in an arithmetic expression: 1 < 2"),
        ("2 ** 1001", "exponent too large"),
        ("9 ** 9 ** 9", "exponent too large"),
        ("(2 ** 1000) ** 1000", "result too large"),  # each exponent small, the power not
        ("((2 ** 1000) ** 1000) ** 1000", "result too large"),
        ("1 +", "not an arithmetic expression: invalid syntax"),
        ("", "not an arithmetic expression"),
        ("x = 1", "not an arithmetic expression: invalid syntax"),
    ],
)
def test_calculate_refuses_what_is_not_arithmetic_with_a_clear_value_error(
    expression: str, message: str
) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}"):
        calculate(expression)


def test_calculate_reports_arithmetic_errors_as_python_does() -> None:
    with pytest.raises(ZeroDivisionError):
        calculate("1 / 0")
    with pytest.raises(ValueError, match="math domain error"):
        calculate("sqrt(-1)")


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with files and folders (and a secret beside it), made the cwd."""
    work = tmp_path / "work"
    (work / "docs" / "deep").mkdir(parents=True)
    (work / "notes.txt").write_text("first line\nsecond line\n", encoding="utf-8")
    (work / "docs" / "guide.md").write_text("# Guide\n", encoding="utf-8")
    (work / "docs" / "deep" / "x.txt").write_text("deep", encoding="utf-8")
    (work / ".hidden").write_text("hidden", encoding="utf-8")
    (work / "empty").mkdir()
    (tmp_path / "secret.txt").write_text("do not read", encoding="utf-8")
    monkeypatch.chdir(work)
    return work


def test_list_files_lists_the_working_directory_sorted_with_folders_marked(tree: Path) -> None:
    assert list_files() == "docs/\nempty/\nnotes.txt"
    assert list_files("docs") == "deep/\nguide.md"
    assert list_files("docs/deep/..") == "deep/\nguide.md"
    assert list_files("empty") == "(empty)"


def test_read_file_reads_text_under_the_working_directory(tree: Path) -> None:
    assert read_file("notes.txt") == "first line\nsecond line\n"
    assert read_file("docs/deep/x.txt") == "deep"
    assert read_file(str(tree / "docs" / "guide.md")) == "# Guide\n"  # absolute, but inside


def test_read_file_replaces_bytes_that_are_not_utf8(tree: Path) -> None:
    (tree / "binary.bin").write_bytes(b"ab\xffcd")
    assert read_file("binary.bin") == "ab\ufffdcd"


@pytest.mark.parametrize("path", ["../secret.txt", "docs/../../secret.txt", "..", "/etc/passwd"])
def test_paths_that_leave_the_working_directory_are_refused(tree: Path, path: str) -> None:
    with pytest.raises(PermissionError, match="is outside the working directory"):
        read_file(path)
    with pytest.raises(PermissionError, match="is outside the working directory"):
        list_files(path)


def test_a_symlink_out_of_the_working_directory_is_refused(tree: Path) -> None:
    os.symlink(tree.parent / "secret.txt", tree / "link.txt")
    with pytest.raises(PermissionError, match=r"link\.txt is outside the working directory"):
        read_file("link.txt")


def test_hidden_files_are_not_read(tree: Path) -> None:
    """``list_files`` hides dotfiles; ``read_file`` read them all the same (``.env``)."""
    (tree / ".config").mkdir()
    (tree / ".config" / "token").write_text("sk-secret", encoding="utf-8")
    for path in (".hidden", ".config/token", "docs/../.hidden"):
        with pytest.raises(PermissionError, match="is hidden"):
            read_file(path)


def test_a_link_swapped_in_after_the_check_is_not_followed_out(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race: the path is checked, then replaced by a link to a file outside before the
    open. Simulated by checking one path and opening another that is such a link."""
    os.symlink(tree.parent / "secret.txt", tree / "swapped.txt")
    monkeypatch.setattr("thinkwire.agent.builtin._inside", lambda path: tree / "swapped.txt")
    with pytest.raises((PermissionError, FileNotFoundError)):
        read_file("notes.txt")
    os.symlink(tree.parent, tree / "up")  # a folder link in the middle of the path
    monkeypatch.setattr("thinkwire.agent.builtin._inside", lambda path: tree / "up" / "secret.txt")
    with pytest.raises(PermissionError, match="is outside the working directory"):
        read_file("notes.txt")


def test_missing_files_and_directories_are_clear_errors(tree: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"no file nothing\.txt"):
        read_file("nothing.txt")
    with pytest.raises(FileNotFoundError, match="no file docs"):
        read_file("docs")
    with pytest.raises(FileNotFoundError, match=r"no directory notes\.txt"):
        list_files("notes.txt")


def test_current_time_is_iso_8601_local_time_with_its_offset() -> None:
    before = datetime.datetime.now().astimezone().replace(microsecond=0)
    shown = current_time()
    after = datetime.datetime.now().astimezone()
    parsed = datetime.datetime.fromisoformat(shown)
    assert parsed.tzinfo is not None
    assert parsed.microsecond == 0
    assert before <= parsed <= after


@pytest.mark.anyio
async def test_the_builtin_tools_are_offered_and_their_errors_reach_the_model(tree: Path) -> None:
    tools = builtin_tools()
    assert [t.name for t in tools] == ["calculate", "list_files", "read_file", "current_time"]
    calculate_spec = tools[0].spec
    assert calculate_spec.description == "Evaluate an arithmetic expression and return the number."
    assert (calculate_spec.parameters or {})["required"] == ["expression"]
    assert (tools[1].spec.parameters or {})["required"] == []

    answered = await run_tool(tools, ToolCall(id="c1", name="calculate", arguments='{"expression": "6*7"}'))
    assert (answered.result.content, answered.result.is_error) == ("42", False)
    refused = await run_tool(
        tools, ToolCall(id="c2", name="read_file", arguments='{"path": "../secret.txt"}')
    )
    assert refused.result.is_error
    assert refused.result.content == "error: PermissionError: ../secret.txt is outside the working directory"
    listed = await run_tool(tools, ToolCall(id="c3", name="list_files", arguments="{}"))
    assert listed.result.content == "docs/\nempty/\nnotes.txt"
