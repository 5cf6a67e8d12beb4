"""Agent traces: JSONL, one record per event, readable back into typed records.

A run writes, in order:

- ``run_start``: the task, the model, the policy, the tools offered (their specs), the limits;
- per step ``request``: the messages **as sent** — the transcript after the policy, so what
  the model could see — and what the policy removed (``removed``: a ``PolicyReport`` naming
  the messages whose thinking was hidden);
- per step ``response``: the whole assistant turn (every block in order: thinking, text, tool
  calls), its stop reason, usage, seconds and time to the first event;
- per tool call ``tool``: the call and its result (error results included) and seconds;
- ``run_end``: how the run ended (``answered``, ``limit``, ``error``, ``interrupted``), the
  answer or the reason, totals.

``at`` on every record is seconds since the run started. Each line is flushed as written, so a
run stopped by Ctrl-C or a crash leaves every record up to that point. ``read_trace`` checks
every line and names the bad one (``trace.jsonl:7: ...``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Literal

import msgspec

from thinkwire.errors import ThinkwireError
from thinkwire.ir.blocks import ToolCall, ToolResult, is_reasoning
from thinkwire.ir.conversation import Message, Tool, Usage
from thinkwire.policy import Policy, PolicyReport

Status = Literal["answered", "limit", "error", "interrupted"]


class RunStart(msgspec.Struct, frozen=True, kw_only=True, tag="run_start"):
    task: str
    model: str
    policy: Policy
    tools: tuple[Tool, ...] = ()
    system: str | None = None
    limits: dict[str, Any] = {}
    seed: int | None = None
    """The sampling seed the run asked for (``None``: none)."""
    temperature: float | None = None
    """The sampling temperature the run asked for (``None``: the model's default)."""
    started: float
    """Wall-clock start (seconds since the epoch)."""
    at: float = 0.0


class ModelRequest(msgspec.Struct, frozen=True, kw_only=True, tag="request"):
    step: int
    messages: tuple[Message, ...]
    removed: PolicyReport
    at: float


class ModelResponse(msgspec.Struct, frozen=True, kw_only=True, tag="response"):
    step: int
    message: Message
    stop_reason: str | None = None
    usage: Usage | None = None
    seconds: float
    first_event: float | None = None
    """Seconds from the request to the model's first streamed content."""
    at: float


class ToolExecution(msgspec.Struct, frozen=True, kw_only=True, tag="tool"):
    step: int
    call: ToolCall
    result: ToolResult
    seconds: float
    at: float


class RunEnd(msgspec.Struct, frozen=True, kw_only=True, tag="run_end"):
    status: Status
    answer: str | None = None
    reason: str | None = None
    steps: int
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float | None = None
    seconds: float
    at: float


TraceRecord = RunStart | ModelRequest | ModelResponse | ToolExecution | RunEnd


def thinking_seen(request: ModelRequest) -> tuple[int, int]:
    """How many earlier thinking blocks the model could see in ``request``, and how many the
    policy hid from it."""
    seen = sum(1 for m in request.messages if m.role == "assistant" for b in m.blocks if is_reasoning(b))
    return seen, request.removed.removed_blocks


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(TraceRecord)


class TraceError(ThinkwireError):
    """A trace file cannot be read (the message names the file and line)."""


class TraceWriter:
    """Appends records to ``path`` (or an open binary ``stream``), one flushed line each."""

    def __init__(self, path: str | Path | None = None, *, stream: IO[bytes] | None = None) -> None:
        if (path is None) == (stream is None):
            raise ValueError("give a path or a stream")
        self.path = Path(path) if path is not None else None
        if stream is None:
            assert self.path is not None
            self.path.parent.mkdir(parents=True, exist_ok=True)
            stream = open(self.path, "wb")  # noqa: SIM115
            self._owned = True
        else:
            self._owned = False
        self._stream = stream

    def write(self, record: TraceRecord) -> None:
        self._stream.write(_encoder.encode(record) + b"\n")
        self._stream.flush()

    def close(self) -> None:
        if self._owned:
            self._stream.close()

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def iter_trace(path: str | Path) -> Iterator[TraceRecord]:
    """The records of the trace at ``path``; ``TraceError`` naming the first bad line."""
    path = Path(path)
    try:
        handle = open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        raise TraceError(f"{path}: {exc.strerror}") from None
    with handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                yield _decoder.decode(line)
            except msgspec.DecodeError as exc:
                raise TraceError(f"{path}:{number}: not a trace record: {exc}") from None


def read_trace(path: str | Path) -> list[TraceRecord]:
    """Every record of the trace at ``path`` (``iter_trace``), checked to begin with ``run_start``."""
    records = list(iter_trace(path))
    if not records or not isinstance(records[0], RunStart):
        raise TraceError(f"{path}: a trace begins with a run_start record")
    return records


__all__ = [
    "ModelRequest",
    "ModelResponse",
    "RunEnd",
    "RunStart",
    "Status",
    "ToolExecution",
    "TraceError",
    "TraceRecord",
    "TraceWriter",
    "iter_trace",
    "read_trace",
    "thinking_seen",
]
