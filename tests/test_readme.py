"""The README's server examples run as written, against the server on a scripted model."""

from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path

import pytest

from tests.support.scripts import weather_agent
from tests.support.servers import ScriptedServers

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    section = README.read_text().split("## `thinkwire serve`", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.DOTALL)


def test_the_serve_section_has_the_three_examples() -> None:
    blocks = python_blocks()
    assert len(blocks) == 3
    assert "chat.completions" in blocks[0]
    assert "anthropic.Anthropic(" in blocks[1]
    assert "responses.create" in blocks[2]


@pytest.mark.parametrize("index", [0, 1, 2])
def test_readme_example_runs(index: int, monkeypatch: pytest.MonkeyPatch) -> None:
    servers = ScriptedServers()
    try:
        url, runtime, _ = servers(weather_agent)
        monkeypatch.setitem(os.environ, "THINKWIRE_URL", url)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(python_blocks()[index], f"README.md python block {index}", "exec"), {})
    finally:
        servers.close()
    printed = out.getvalue()
    assert len(runtime.calls) == 2  # a call, then an answer after the tool result
    assert runtime.calls[1]["prompt"].startswith(runtime.calls[0]["prompt"])
    assert "sunny in Paris" in printed or (index == 1 and "It is sunny in Paris." in printed)
