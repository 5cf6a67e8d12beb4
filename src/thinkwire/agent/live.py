"""The live view of ``thinkwire run``: thinking, tool calls, results and the answer as they happen.

``LiveView(console)`` is an ``Observer`` (``thinkwire.agent.loop``): thinking and text stream
token by token (thinking dim and italic), each step opens with what the model could see of its
earlier thinking under the policy, tool calls and results follow, and the run ends with a
summary line. Nothing from the model is read as rich markup.
"""

from __future__ import annotations

from rich.console import Console
from rich.text import Text as RichText

from thinkwire.agent.trace import (
    ModelRequest,
    ModelResponse,
    RunEnd,
    RunStart,
    ToolExecution,
    TraceRecord,
    thinking_seen,
)
from thinkwire.ir.blocks import Text, Thinking, ToolCall
from thinkwire.ir.stream import BlockDelta, BlockStart, BlockStop, StreamEvent, TextDelta, ThinkingDelta

PREVIEW = 400
"""Characters of a tool result shown (the trace keeps all of it)."""


class LiveView:
    def __init__(self, console: Console) -> None:
        self.console = console
        self._open = False

    def __call__(self, item: TraceRecord | StreamEvent) -> None:
        out = self.console
        if isinstance(item, RunStart):
            tools = ", ".join(t.name for t in item.tools) or "none"
            out.print(RichText(f"model {item.model} · policy {item.policy} · tools: {tools}", style="dim"))
        elif isinstance(item, ModelRequest):
            seen, hidden = thinking_seen(item)
            note = f"sees {seen} earlier thinking block(s)" + (
                f", {hidden} hidden by policy" if hidden else ""
            )
            out.rule(RichText(f"step {item.step} · {note}", style="bold"), align="left")
        elif isinstance(item, BlockStart):
            if isinstance(item.block, Thinking):
                out.print(RichText("thinking: ", style="magenta"), end="")
                self._open = True
            elif isinstance(item.block, Text):
                self._open = True
        elif isinstance(item, BlockDelta) and isinstance(item.delta, ThinkingDelta | TextDelta):
            style = "dim italic" if isinstance(item.delta, ThinkingDelta) else ""
            out.print(RichText(item.delta.text, style=style), end="")
        elif isinstance(item, BlockStop) and self._open:
            out.print()
            self._open = False
        elif isinstance(item, ModelResponse):
            for block in item.message.blocks:
                if isinstance(block, ToolCall):
                    out.print(RichText(f"→ {block.name}({block.arguments})", style="cyan"))
            tokens = item.usage.output_tokens if item.usage is not None else None
            spent = f"{tokens} tokens, " if tokens is not None else ""
            out.print(RichText(f"  ({spent}{item.seconds:.1f} s)", style="dim"))
        elif isinstance(item, ToolExecution):
            text = item.result.content_text()
            short = text if len(text) <= PREVIEW else text[:PREVIEW] + f"… ({len(text)} chars)"
            style = "red" if item.result.is_error else "green"
            out.print(RichText(f"← {item.call.name}: {short}", style=style))
        elif isinstance(item, RunEnd):
            cost = f", ${item.cost:.4f}" if item.cost else ""
            summary = (
                f"{item.status} after {item.steps} step(s), {item.input_tokens} in / "
                f"{item.output_tokens} out tokens{cost}, {item.seconds:.1f} s"
            )
            out.rule(RichText(summary, style="bold green" if item.status == "answered" else "bold yellow"))
            if item.reason:
                out.print(RichText(item.reason, style="yellow"))


__all__ = ["LiveView"]
