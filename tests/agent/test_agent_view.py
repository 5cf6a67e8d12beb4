"""The trace page: built from trace records, checked as HTML and in a real headless Chromium."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from thinkwire.agent.trace import (
    ModelRequest,
    ModelResponse,
    RunEnd,
    RunStart,
    ToolExecution,
    TraceRecord,
    TraceWriter,
)
from thinkwire.agent.view import render_html, write_html
from thinkwire.ir import Message, Text, Thinking, ToolCall, ToolResult, Usage
from thinkwire.policy import Policy, apply_policy

EVIL = "<script>alert('x')</script>"
THOUGHTS = ["I should look up Paris first.", "Now Berlin, to compare.", "Retry Berlin.", "Paris wins."]
TOOL_OUT = [("18C sunny", False), ("city not found: Berln", True), ("12C rain", False)]


def run_records(
    policy: Policy,
    *,
    steps: int = 4,
    ended: bool = True,
    task: str = "Compare the weather",
    history: tuple[Message, ...] = (),
) -> list[TraceRecord]:
    """Records of a scripted run: a tool call per step, then an answer, ``policy`` applied to
    each request exactly as the agent does; ``history`` goes before the task's message."""
    transcript = [*history, Message(role="user", blocks=(Text(text=task),))]
    records: list[TraceRecord] = [RunStart(task=task, model="scripted", policy=policy, started=0.0)]
    at = 0.0
    for step in range(1, steps + 1):
        sent, removed = apply_policy(transcript, policy)
        records.append(ModelRequest(step=step, messages=sent, removed=removed, at=at))
        blocks: tuple[Thinking | Text | ToolCall, ...] = (Thinking(text=THOUGHTS[(step - 1) % 4]),)
        last = step == steps
        call = ToolCall(id=f"c{step}", name="get_weather", arguments=f'{{"city": "city{step}"}}')
        blocks += (Text(text="Paris is warmer."),) if last else (call,)
        message = Message(role="assistant", blocks=blocks)
        usage = Usage(input_tokens=100 * step, output_tokens=20)
        at += 1.5
        records.append(ModelResponse(step=step, message=message, usage=usage, seconds=1.5, at=at))
        transcript.append(message)
        if not last:
            content, is_error = TOOL_OUT[(step - 1) % 3]
            result = ToolResult(call_id=call.id, content=content, is_error=is_error)
            records.append(ToolExecution(step=step, call=call, result=result, seconds=0.25, at=at))
            transcript.append(Message(role="user", blocks=(result,)))
    if ended:
        records.append(
            RunEnd(
                status="answered",
                answer="Paris is warmer.",
                steps=steps,
                input_tokens=1000,
                cost=0.0123,
                seconds=at,
                at=at,
            )
        )
    return records


def sections(page: str) -> dict[int, str]:
    found = re.findall(r'<section class="step" id="step-(\d+)">(.*?)</section>', page, re.S)
    return {int(n): body for n, body in found}


def hidden_indices(section: str) -> list[int]:
    marks = re.findall(
        r'<div class="msg" data-index="(\d+)"><div class="role">[^<]*<span class="hidden-mark">', section
    )
    return [int(i) for i in marks]


def test_steps_render_in_order_with_thinking_text_calls_and_results() -> None:
    page = render_html(run_records("keep"))
    positions = [page.index(f'id="step-{n}"') for n in range(1, 5)]
    assert positions == sorted(positions)
    steps = sections(page)
    assert list(steps) == [1, 2, 3, 4]
    for n, body in steps.items():
        assert (
            f'<span class="label">thinking</span><p class="body">{THOUGHTS[n - 1]}</p>'
            in body.split("<details")[0]
        )
    assert '<pre class="body">{\n  &quot;city&quot;: &quot;city1&quot;\n}</pre>' in steps[1]  # pretty JSON
    for expected in ("get_weather", "18C sunny", "0.25 s"):
        assert expected in steps[1]
    for expected in ("400 in / 20 out", "1.50 s"):
        assert expected in steps[4]


def test_header_shows_task_model_policy_status_answer_and_totals() -> None:
    page = render_html(run_records("discard"))
    header = page.split("</header>")[0]
    for expected in (
        "Compare the weather",
        "scripted",
        "discard",
        ">answered<",
        "Paris is warmer.",
        "$0.0123",
    ):
        assert expected in header
    assert "<b>4</b> steps" in header
    assert "<b>1000</b> in" in header


def test_an_error_tool_result_is_styled_as_an_error() -> None:
    step2 = sections(render_html(run_records("keep")))[2]
    assert re.search(r'class="block result error"><span class="label">error from <code>get_weather', step2)
    assert "city not found: Berln" in step2
    assert (
        'class="block result error"' not in sections(render_html(run_records("keep")))[1].split("<details")[0]
    )


def test_keep_shows_every_earlier_thinking_block_and_hides_none() -> None:
    records = run_records("keep")
    steps = sections(render_html(records))
    for n, body in steps.items():
        assert f"saw {n - 1} earlier thinking block{'s' if n != 2 else ''}, 0 hidden" in body
        assert hidden_indices(body) == []
        saw = body.split('<details class="saw">')[1]
        for earlier in THOUGHTS[: n - 1]:
            assert earlier in saw


@pytest.mark.parametrize("policy", ["discard", "current-turn"])
def test_hidden_marks_are_exactly_where_the_request_says(policy: Policy) -> None:
    # an earlier task in the same conversation, so current-turn hides that task's thinking
    earlier = [r for r in run_records("keep", steps=2) if isinstance(r, ModelRequest)][-1].messages
    done = Message(role="assistant", blocks=(Thinking(text="first task done"), Text(text="done")))
    records = run_records(policy, steps=3, task="And Rome?", history=(*earlier, done))
    steps = sections(render_html(records))
    requests = [r for r in records if isinstance(r, ModelRequest)]
    assert all(r.removed.messages for r in requests)
    for request in requests:
        body = steps[request.step]
        assert hidden_indices(body) == list(request.removed.messages)
        assert f"{request.removed.removed_blocks} hidden</b> (policy {policy})" in body
        assert body.count(f"thinking hidden by policy ({policy})") == len(request.removed.messages)
    if policy == "current-turn":  # this task's own thinking stays visible
        assert "saw 2 earlier thinking blocks, 2 hidden" in steps[3]


def test_discard_counts_hidden_blocks_at_a_glance() -> None:
    steps = sections(render_html(run_records("discard")))
    assert "saw 0 earlier thinking blocks, 3 hidden" in steps[4]
    assert hidden_indices(steps[4]) == [1, 3, 5]
    saw = steps[4].split('<details class="saw">')[1]
    assert not any(t in saw for t in THOUGHTS[:3])


def test_a_trace_without_run_end_renders_marked_incomplete() -> None:
    records = run_records("keep", steps=3, ended=False)
    first = records[1]
    assert isinstance(first, ModelRequest)
    records.append(
        ModelRequest(step=4, messages=first.messages, removed=first.removed, at=9.0)
    )  # then Ctrl-C
    page = render_html(records)
    assert '<span class="status incomplete">incomplete</span>' in page
    assert "trace ends without run_end" in page
    steps = sections(page)
    assert list(steps) == [1, 2, 3, 4]
    assert "no response recorded" in steps[4]
    assert "<b>3</b> steps" in page  # totals from the records there are
    assert "<b>9.0</b> s" in page


def test_untrusted_text_is_escaped_everywhere() -> None:
    call = ToolCall(id="c1", name=EVIL, arguments=f'{{"q": "{EVIL}"}}')
    message = Message(role="assistant", blocks=(Thinking(text=EVIL), Text(text=EVIL), call))
    result = ToolResult(call_id="c1", content=EVIL, is_error=True)
    sent, removed = apply_policy([Message(role="user", blocks=(Text(text=EVIL),))], "keep")
    records: list[TraceRecord] = [
        RunStart(task=EVIL, model=EVIL, policy="keep", started=0.0),
        ModelRequest(step=1, messages=sent, removed=removed, at=0.0),
        ModelResponse(step=1, message=message, seconds=1.0, at=1.0),
        ToolExecution(step=1, call=call, result=result, seconds=0.1, at=1.1),
        RunEnd(status="error", reason=EVIL, steps=1, seconds=1.1, at=1.1),
    ]
    page = render_html(records)
    assert "<script" not in page.lower()
    assert page.count("&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;") >= 7


def test_step_navigation_only_past_three_steps() -> None:
    assert '<nav class="steps"' not in render_html(run_records("keep", steps=3))
    page = render_html(run_records("keep", steps=5))
    nav = re.search(r'<nav class="steps"[^>]*>(.*?)</nav>', page, re.S)
    assert nav is not None
    assert re.findall(r'href="#step-(\d+)"', nav.group(1)) == ["1", "2", "3", "4", "5"]


def test_write_html_reads_a_trace_file_and_writes_beside_it(tmp_path: Path) -> None:
    trace = tmp_path / "run.jsonl"
    with TraceWriter(trace) as writer:
        for record in run_records("keep"):
            writer.write(record)
    out = write_html(trace)
    assert out == tmp_path / "run.html"
    assert out.read_text(encoding="utf-8") == render_html(run_records("keep"))
    assert write_html(trace, tmp_path / "page.html") == tmp_path / "page.html"
    assert (tmp_path / "page.html").read_text(encoding="utf-8") == out.read_text(encoding="utf-8")


def test_the_page_is_self_contained() -> None:
    page = render_html(run_records("keep"))
    assert not re.search(r"(src|href)=\"(?!#)", page)
    for external in ("http://", "https://", "@import", "<link", "<img"):
        assert external not in page


# -- a real browser ----------------------------------------------------------------------------


def png_rows(png: bytes) -> list[bytes]:
    """The filtered scanlines of an 8-bit PNG (enough to tell a blank page from a drawn one)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, channels = 8, b"", 0, 0
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind, data = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, _height, depth, colour = struct.unpack(">IIBB", data[:10])
            assert depth == 8
            channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour]
        elif kind == b"IDAT":
            idat += data
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = 1 + width * channels
    return [raw[i : i + stride] for i in range(0, len(raw), stride)]


def chromium(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    command = [
        "chromium",
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        f"--user-data-dir={home / 'profile'}",
    ]
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")}
    return subprocess.run(
        [*command, *args],
        capture_output=True,
        text=True,
        timeout=90,
        env=env,
        check=True,
        stdin=subprocess.DEVNULL,
    )


def test_the_page_renders_in_headless_chromium(tmp_path: Path) -> None:
    if shutil.which("chromium") is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: CI must install Debian's chromium (.ci/run)")
        pytest.skip("chromium is not installed")
    page = tmp_path / "trace.html"
    page.write_text(render_html(run_records("discard")), encoding="utf-8")
    shot = tmp_path / "trace.png"
    home = tmp_path / "home"
    chromium(f"--screenshot={shot}", "--window-size=1280,2000", page.as_uri(), home=home)
    dom = chromium("--dump-dom", page.as_uri(), home=home).stdout
    for n in range(1, 5):
        assert f'<section class="step" id="step-{n}">' in dom
    for thought in THOUGHTS:
        assert thought in dom
    png = shot.read_bytes()
    assert len(png) > 1000
    rows = png_rows(png)
    assert len(rows) == 2000
    # a page of one colour filters every row alike; a drawn page has many different rows
    assert len(set(rows)) > 50
