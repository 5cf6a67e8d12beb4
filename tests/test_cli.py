"""The `thinkwire` command, run as a user runs it (a subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
EXAMPLE = ROOT / "examples" / "anthropic_interleaved.json"


def run(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "thinkwire", *args], input=stdin, capture_output=True, timeout=60, check=False
    )


def test_convert_to_reasoning_details_keeps_signatures_and_order() -> None:
    done = run(
        "convert",
        "--from",
        "anthropic",
        "--to",
        "openai-chat",
        "--carrier",
        "reasoning_details",
        str(EXAMPLE),
    )
    assert done.returncode == 0, done.stderr
    message = json.loads(done.stdout)["choices"][0]["message"]
    details = message["reasoning_details"]
    assert [d["text"] for d in details] == [
        "The user wants the weather in Paris and Tokyo. I'll look up Paris first.",
        "Paris is queued. Tokyo is independent of it, so I can ask for it in the same turn.",
    ]
    assert all(d["signature"].startswith("E") and d["format"] == "anthropic-claude-v1" for d in details)
    assert [c["id"] for c in message["tool_calls"]] == [
        "toolu_01A09q90qw90lq917835lq9",
        "toolu_01B7ySSBo1fGmxg8Wm4hmV3q",
    ]
    # the second thinking block followed a tool call: Chat has fixed slots, so that is reported
    assert b"loss[order]" in done.stderr
    assert b"Traceback" not in done.stderr


def test_losses_are_reported_one_per_line_and_strict_fails_after_writing() -> None:
    done = run(
        "convert",
        "--from",
        "anthropic",
        "--to",
        "openai-chat",
        "--carrier",
        "reasoning_content",
        str(EXAMPLE),
    )
    assert done.returncode == 0
    lines = done.stderr.decode().splitlines()
    assert sum("loss[signature]" in line for line in lines) == 2
    strict = run("convert", "--strict", "--from", "anthropic", "--to", "openai-chat", str(EXAMPLE))
    assert strict.returncode == 1
    assert json.loads(strict.stdout)["choices"][0]["message"]["tool_calls"]


def test_same_dialect_from_stdin_is_identity() -> None:
    done = run("convert", "--from", "anthropic", "--to", "anthropic", "--compact", stdin=EXAMPLE.read_bytes())
    assert done.returncode == 0
    assert json.loads(done.stdout) == json.loads(EXAMPLE.read_bytes())
    assert done.stderr == b""


@pytest.mark.parametrize(
    ("stdin", "args", "message"),
    [
        (b'{"messages": [', (), "malformed JSON"),
        (b"[1, 2]", (), "expected a JSON object"),
        (
            b'{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"},'
            b'{"role":"assistant","content":[{"type":"thinking","thinking":"x","signature":42}]}]}',
            (),
            "messages[1].content[0].signature: expected a string, got the number 42",
        ),
        (
            b'{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"tool_result",'
            b'"tool_use_id":"toolu_nope","content":"x"}]}]}',
            (),
            "messages[0].content[0]",
        ),
        (EXAMPLE.read_bytes(), ("--max-bytes", "100"), "over the limit of 100 bytes"),
        (b"{}", (), "not a anthropic request or response"),
    ],
)
def test_bad_input_gives_one_line_with_its_path_and_exit_2(
    stdin: bytes, args: tuple[str, ...], message: str
) -> None:
    done = run("convert", "--from", "anthropic", "--to", "openai-chat", *args, stdin=stdin)
    assert done.returncode == 2
    err = done.stderr.decode()
    assert message in err
    assert err.count("\n") == 1
    assert "Traceback" not in err
    assert done.stdout == b""


def test_usage_errors_exit_2() -> None:
    assert (
        run("convert", "--from", "anthropic", "--to", "anthropic", "--carrier", "reasoning").returncode == 2
    )
    assert run("convert", "--from", "klingon", "--to", "anthropic").returncode == 2
    missing = run("convert", "--from", "anthropic", "--to", "anthropic", "/no/such/file.json")
    assert missing.returncode == 2
    assert b"Traceback" not in missing.stderr


def test_help_explains_the_options() -> None:
    done = run("convert", "--help")
    assert done.returncode == 0
    for word in (b"--from", b"--to", b"--carrier", b"--stream", b"--strict", b"reasoning_details"):
        assert word in done.stdout
    assert run("--version").stdout.startswith(b"thinkwire ")


def test_stream_conversion_from_stdin() -> None:
    fixture = ROOT / "tests" / "golden" / "anthropic" / "interleaved_tools" / "stream.sse"
    done = run(
        "convert", "--from", "anthropic", "--to", "openai-chat", "--stream", stdin=fixture.read_bytes()
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout.decode()
    assert out.rstrip().endswith("data: [DONE]")
    chunks = [json.loads(line[6:]) for line in out.splitlines() if line.startswith("data: {")]
    reasoning = "".join(
        c["choices"][0]["delta"].get("reasoning_content") or "" for c in chunks if c.get("choices")
    )
    assert reasoning  # thinking travelled in the stream


def test_truncated_stream_is_an_error_not_a_silent_success() -> None:
    fixture = ROOT / "tests" / "golden" / "anthropic" / "interleaved_tools" / "stream.sse"
    data = fixture.read_bytes()
    done = run(
        "convert", "--from", "anthropic", "--to", "openai-chat", "--stream", stdin=data[: len(data) // 2]
    )
    assert done.returncode == 2
    assert b"Traceback" not in done.stderr


def test_model_commands_on_an_empty_store(tmp_path: Path) -> None:
    listed = run("model", "list", "--home", str(tmp_path))
    assert listed.returncode == 0
    assert listed.stdout.decode().split("\t")[:2] == ["qwen2.5-coder-1.5b-instruct", "missing"]
    missing = run("model", "path", "--home", str(tmp_path))
    assert missing.returncode == 1
    assert b"not pulled yet: run `thinkwire model pull`" in missing.stderr
    assert b"Traceback" not in missing.stderr
    unknown = run("model", "pull", "no-such-model", "--home", str(tmp_path))
    assert unknown.returncode == 2
    assert list(tmp_path.iterdir()) == [] or all(p.is_dir() for p in tmp_path.iterdir())


def test_serve_takes_calls_only_for_the_scripted_model() -> None:
    refused = run("serve", "--calls", "2", "--port", "0")
    assert refused.returncode == 2
    assert b"--calls: only the scripted model takes it" in refused.stderr
