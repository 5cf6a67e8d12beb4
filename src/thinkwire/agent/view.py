"""The trace page: one self-contained HTML file that shows an agent run step by step.

``render_html(records)`` turns the records of a trace (``thinkwire.agent.trace``) into a page;
``write_html(trace)`` reads a trace file and writes the page beside it (``run.jsonl`` ->
``run.html``). The page has inline CSS and no script, fonts or external URLs.

Per step it shows the model's turn in order (thinking tinted and labelled, text, tool calls
with their arguments as pretty JSON), then each tool's result, and a collapsed "what the model
saw": the request's messages as sent, where the assistant turns whose thinking the policy
removed (``request.removed.messages``) are marked. A trace with no ``run_end`` (Ctrl-C, a
crash) still renders, marked "incomplete". Everything from the model, the tools and the task
is untrusted and escaped.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from pathlib import Path

from thinkwire.agent.trace import (
    ModelRequest,
    ModelResponse,
    RunEnd,
    RunStart,
    ToolExecution,
    TraceRecord,
    read_trace,
    thinking_seen,
)
from thinkwire.ir.blocks import Block, Image, Opaque, RedactedThinking, Text, Thinking, ToolCall, ToolResult

SAW_CLIP = 2000
"""Characters of a non-thinking block shown in "what the model saw" (the step shows it whole)."""

CSS = """
:root { --ink:#1d232b; --mute:#66707c; --line:#dde2e8; --bg:#f5f7fa; --think:#f1ecfb;
  --think-edge:#8b6fd6; --tool:#eef5fc; --tool-edge:#3d7cc9; --ok:#edf7ef; --ok-edge:#3c9a55;
  --err:#fdeeee; --err-edge:#c8423b; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--ink);
  font:15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; }
main { max-width: 980px; margin: 0 auto; padding: 24px 20px 60px; }
header.run { background:#fff; border:1px solid var(--line); border-radius:10px; padding:18px 22px; }
header.run h1 { margin:0 0 8px; font-size:20px; }
.task { white-space:pre-wrap; margin:0 0 12px; font-size:16px; }
.meta { display:flex; flex-wrap:wrap; gap:6px 18px; color:var(--mute); font-size:13px; }
.meta b { color:var(--ink); font-weight:600; }
.status { display:inline-block; padding:1px 10px; border-radius:12px; font-weight:600;
  font-size:13px; color:#fff; background:var(--mute); }
.status.answered { background:var(--ok-edge); } .status.error { background:var(--err-edge); }
.status.limit, .status.interrupted, .status.incomplete { background:#c7851f; }
.outcome { white-space:pre-wrap; margin:12px 0 0; padding:10px 14px; border-radius:8px;
  background:var(--ok); border-left:4px solid var(--ok-edge); }
.outcome.bad { background:var(--err); border-left-color:var(--err-edge); }
nav.steps { margin:14px 0 0; display:flex; flex-wrap:wrap; gap:6px; }
nav.steps a { text-decoration:none; color:var(--tool-edge); border:1px solid var(--line);
  background:#fff; border-radius:6px; padding:2px 9px; font-size:13px; }
section.step { background:#fff; border:1px solid var(--line); border-radius:10px;
  margin:18px 0 0; padding:14px 22px 16px; }
section.step > h2 { margin:0 0 10px; font-size:16px; display:flex; gap:14px; align-items:baseline; }
section.step > h2 small { color:var(--mute); font-weight:400; font-size:13px; }
.block { margin:8px 0; padding:8px 12px; border-radius:8px; border-left:4px solid var(--line); }
.label { display:block; font:600 11px/1.6 system-ui, sans-serif; letter-spacing:.06em;
  text-transform:uppercase; color:var(--mute); font-style:normal; }
.body { white-space:pre-wrap; overflow-wrap:anywhere; margin:0; }
pre.body { font:13px/1.45 ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
.thinking { background:var(--think); border-left-color:var(--think-edge); font-style:italic; color:#3b3358; }
.label code, .label .n { text-transform:none; letter-spacing:0; }
.label code { font-size:12px; }
.thinking .label { color:var(--think-edge); }
.text { background:#fafbfc; }
.call { background:var(--tool); border-left-color:var(--tool-edge); }
.call .label, .call code { color:var(--tool-edge); }
.result { background:var(--ok); border-left-color:var(--ok-edge); }
.result.error { background:var(--err); border-left-color:var(--err-edge); }
.result.error .label { color:var(--err-edge); }
.opaque { background:#f3f3f3; color:var(--mute); }
details.saw { margin-top:12px; border-top:1px dashed var(--line); padding-top:8px; }
details.saw summary { cursor:pointer; color:var(--mute); font-size:13px; }
details.saw summary b { color:var(--ink); } details.saw summary b.hid { color:var(--err-edge); }
.msg { margin:8px 0 0 14px; padding-left:10px; border-left:2px solid var(--line); }
.role { font:600 12px/1.8 system-ui, sans-serif; color:var(--mute); }
.hidden-mark { display:inline-block; margin-left:8px; padding:0 8px; border-radius:10px;
  background:var(--err); color:var(--err-edge); font-size:11px; font-weight:600; }
.msg .block { margin:4px 0; padding:4px 10px; font-size:13px; }
.none { color:var(--mute); font-style:italic; }
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _clip(text: str, limit: int | None) -> str:
    if limit is None or len(text) <= limit:
        return text
    return f"{text[:limit]}\n… ({len(text) - limit} more characters)"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _pretty_json(arguments: str) -> str:
    try:
        return json.dumps(json.loads(arguments or "{}"), indent=2, ensure_ascii=False)
    except ValueError:
        return arguments  # not valid JSON: shown exactly as the model sent it


def _result_text(result: ToolResult) -> str:
    if isinstance(result.content, str):
        return result.content
    parts = [b.text if isinstance(b, Text) else f"[{type(b).__name__.lower()}]" for b in result.content]
    return "\n".join(parts)


def _block(block: Block, clip: int | None = None) -> str:
    """One content block; ``clip`` shortens the non-thinking ones."""
    if isinstance(block, Thinking):
        body = _e(block.text) or "(thinking omitted by the provider; its signature is kept)"
        return (
            f'<div class="block thinking"><span class="label">thinking</span><p class="body">{body}</p></div>'
        )
    if isinstance(block, RedactedThinking):
        return (
            '<div class="block thinking"><span class="label">thinking (redacted)</span>'
            f'<p class="body">encrypted, {len(block.data)} characters</p></div>'
        )
    if isinstance(block, Text):
        return f'<div class="block text"><p class="body">{_e(_clip(block.text, clip))}</p></div>'
    if isinstance(block, ToolCall):
        args = _clip(_pretty_json(block.arguments), clip)
        return (
            f'<div class="block call"><span class="label">tool call <code>{_e(block.name)}</code></span>'
            f'<pre class="body">{_e(args)}</pre></div>'
        )
    if isinstance(block, ToolResult):
        kind = "result error" if block.is_error else "result"
        label = "tool error" if block.is_error else "tool result"
        return (
            f'<div class="block {kind}"><span class="label">{label} <code>{_e(block.call_id)}</code></span>'
            f'<pre class="body">{_e(_clip(_result_text(block), clip))}</pre></div>'
        )
    if isinstance(block, Image):
        return f'<div class="block opaque">[image {_e(block.media_type or block.url or "")}]</div>'
    assert isinstance(block, Opaque)
    return f'<div class="block opaque">[{_e(block.dialect)} item the IR does not model]</div>'


def _saw(request: ModelRequest) -> str:
    """The collapsed "what the model saw" of one step."""
    removed = request.removed
    seen, _ = thinking_seen(request)
    hidden_in = set(removed.messages)
    items = []
    for index, message in enumerate(request.messages):
        mark = ""
        if index in hidden_in:
            mark = f'<span class="hidden-mark">thinking hidden by policy ({_e(removed.policy)})</span>'
        blocks = "".join(_block(b, SAW_CLIP) for b in message.blocks)
        items.append(
            f'<div class="msg" data-index="{index}"><div class="role">#{index} {_e(message.role)}{mark}</div>'
            f"{blocks}</div>"
        )
    hid = ' class="hid"' if removed.removed_blocks else ""
    summary = (
        f"what the model saw: {_count(len(request.messages), 'message')} — "
        f"<b{hid}>saw {_count(seen, 'earlier thinking block')}, "
        f"{removed.removed_blocks} hidden</b> (policy {_e(removed.policy)})"
    )
    return f'<details class="saw"><summary>{summary}</summary>{"".join(items)}</details>'


def _step(
    number: int, request: ModelRequest | None, response: ModelResponse | None, tools: list[ToolExecution]
) -> str:
    facts = []
    if response is not None:
        usage = response.usage
        if usage is not None:
            tokens = f"{usage.input_tokens or 0} in / {usage.output_tokens or 0} out"
            if usage.reasoning_tokens:
                tokens += f" ({usage.reasoning_tokens} reasoning)"
            facts.append(tokens)
        facts.append(f"{response.seconds:.2f} s")
        if response.first_event is not None:
            facts.append(f"first event {response.first_event:.2f} s")
        if response.stop_reason:
            facts.append(f"stop: {_e(response.stop_reason)}")
    parts = [
        f'<section class="step" id="step-{number}"><h2>Step {number} <small>{" · ".join(facts)}</small></h2>'
    ]
    if response is None:
        parts.append('<p class="none">no response recorded (the run stopped here)</p>')
    else:
        parts.extend(_block(b) for b in response.message.blocks)
    for execution in tools:
        result = execution.result
        kind = "result error" if result.is_error else "result"
        label = "error from" if result.is_error else "result of"
        parts.append(
            f'<div class="block {kind}"><span class="label">{label} <code>{_e(execution.call.name)}</code>'
            f' · <span class="n">{execution.seconds:.2f} s</span></span>'
            f'<pre class="body">{_e(_result_text(result))}</pre></div>'
        )
    if request is not None:
        parts.append(_saw(request))
    parts.append("</section>")
    return "".join(parts)


def _header(
    start: RunStart | None, end: RunEnd | None, responses: list[ModelResponse], last_at: float
) -> str:
    status = end.status if end is not None else "incomplete"
    if end is not None:
        steps, seconds, cost = end.steps, end.seconds, end.cost
        tokens_in, tokens_out = end.input_tokens, end.output_tokens
    else:  # no run_end: totals from what was recorded
        steps, seconds, cost = len(responses), last_at, None
        tokens_in = sum((r.usage.input_tokens or 0) for r in responses if r.usage)
        tokens_out = sum((r.usage.output_tokens or 0) for r in responses if r.usage)
    meta = [
        f'<span class="status {_e(status)}">{_e(status)}</span>',
        f"model <b>{_e(start.model if start else '?')}</b>",
        f"policy <b>{_e(start.policy if start else '?')}</b>",
        f"<b>{steps}</b> step{'' if steps == 1 else 's'}",
        f"<b>{tokens_in}</b> in / <b>{tokens_out}</b> out tokens",
        f"<b>{seconds:.1f}</b> s",
    ]
    if cost is not None:
        meta.append(f"cost <b>${cost:.4f}</b>")
    if start is not None and start.tools:
        meta.append("tools " + ", ".join(f"<code>{_e(t.name)}</code>" for t in start.tools))
    if end is None:
        outcome = '<p class="outcome bad">incomplete: the trace ends without run_end (stopped or crashed)</p>'
    elif end.answer is not None:
        outcome = f'<p class="outcome">{_e(end.answer)}</p>'
    else:
        outcome = f'<p class="outcome bad">{_e(end.reason or status)}</p>'
    task = _e(start.task) if start is not None else '<span class="none">no run_start record</span>'
    return (
        f'<header class="run"><h1>thinkwire trace</h1><p class="task">{task}</p>'
        f'<div class="meta">{"".join(f"<span>{m}</span>" for m in meta)}</div>{outcome}</header>'
    )


def render_html(records: Sequence[TraceRecord]) -> str:
    """The page for a trace's records, in the order they were written."""
    start = next((r for r in records if isinstance(r, RunStart)), None)
    end = next((r for r in records if isinstance(r, RunEnd)), None)
    steps: list[int] = []
    requests: dict[int, ModelRequest] = {}
    responses: dict[int, ModelResponse] = {}
    tools: dict[int, list[ToolExecution]] = {}
    for record in records:
        if isinstance(record, ModelRequest | ModelResponse | ToolExecution):
            if record.step not in tools:
                steps.append(record.step)
                tools[record.step] = []
            if isinstance(record, ModelRequest):
                requests[record.step] = record
            elif isinstance(record, ModelResponse):
                responses[record.step] = record
            else:
                tools[record.step].append(record)
    last_at = max((r.at for r in records), default=0.0)
    header = _header(start, end, list(responses.values()), last_at)
    if len(steps) > 3:
        links = "".join(f'<a href="#step-{n}">{n}</a>' for n in steps)
        header += f'<nav class="steps" aria-label="steps">{links}</nav>'
    body = "".join(_step(n, requests.get(n), responses.get(n), tools[n]) for n in steps)
    title = _e(f"trace: {start.task[:80]}" if start else "trace")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title><style>{CSS}</style></head>"
        f"<body><main>{header}{body}</main></body></html>\n"
    )


def write_html(trace: Path, out: Path | None = None) -> Path:
    """Render the trace file ``trace`` to ``out`` (default: the same path with ``.html``)."""
    out = out if out is not None else trace.with_suffix(".html")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html(read_trace(trace)), encoding="utf-8")
    return out


__all__ = ["render_html", "write_html"]
