"""The codec laws as functions: what a conversion must keep, checked on two IR values.

``cross_dialect_problems(before, after, losses)`` compares a conversation before and after a
trip through another dialect (A -> IR -> B -> IR) and lists every way thinking or tool calls
changed that the reported losses do not account for. An empty list means the law holds.
Used by the golden and property tests; usable on any pair of conversations.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec

from thinkwire.dialects.openai_chat.carriers import SEPARATOR
from thinkwire.ir.blocks import Opaque, RedactedThinking, Text, Thinking, ToolCall, ToolResult
from thinkwire.ir.conversation import Message, Response
from thinkwire.ir.losses import Loss

Token = tuple[Any, ...]
_SEPARATOR: Token = ("|",)


def _arguments(call: ToolCall) -> Any:
    try:
        return msgspec.json.decode(call.arguments) if call.arguments else {}
    except msgspec.DecodeError:
        return ("raw", call.arguments)


def assistant_trace(messages: Iterable[Message]) -> list[Token]:
    """Assistant blocks in order, runs of assistant messages separated by ``("|",)``.

    Adjacent text is merged (dialects split text differently); thinking blocks stay apart.
    """
    out: list[Token] = []
    for message in messages:
        if message.role != "assistant":
            if out and out[-1] != _SEPARATOR:
                out.append(_SEPARATOR)
            continue
        for block in message.blocks:
            if isinstance(block, Text):
                if out and out[-1][0] == "text":
                    out[-1] = ("text", out[-1][1] + block.text)
                else:
                    out.append(("text", block.text))
            elif isinstance(block, Thinking):
                out.append(("thinking", block.text))
            elif isinstance(block, RedactedThinking):
                out.append(("redacted", block.data))
            elif isinstance(block, ToolCall):
                out.append(("call", block.id, block.name, _arguments(block)))
            elif isinstance(block, Opaque):
                out.append(("opaque", block.dialect))
    while out and out[-1] == _SEPARATOR:
        out.pop()
    return out


def tool_results(messages: Iterable[Message]) -> list[Token]:
    return [
        ("result", b.call_id, b.content_text(), b.is_error)
        for m in messages
        for b in m.blocks
        if isinstance(b, ToolResult)
    ]


def _signatures(messages: Iterable[Message]) -> list[str | None]:
    return [b.signature for m in messages for b in m.blocks if isinstance(b, Thinking)]


def _turns(trace: list[Token]) -> list[list[Token]]:
    """The trace split at separators, empty turns left out."""
    turns: list[list[Token]] = [[]]
    for token in trace:
        if token == _SEPARATOR:
            turns.append([])
        else:
            turns[-1].append(token)
    return [turn for turn in turns if turn]


def _of(turn: list[Token], kind: str) -> list[Any]:
    return [token[1:] if kind == "call" else token[1] for token in turn if token[0] == kind]


def _turn_problems(before: list[Token], after: list[Token], kinds: set[str]) -> list[str]:
    """What changed in one assistant turn that the loss kinds do not cover."""
    if "shape" in kinds:  # blocks joined into one string are joined by the carrier's separator
        before, after = _merge(before, "thinking", SEPARATOR), _merge(after, "thinking")
    problems = []
    thinking_before, thinking_after = _of(before, "thinking"), _of(after, "thinking")
    merged_equal = SEPARATOR.join(thinking_before) == "".join(thinking_after)
    if thinking_before != thinking_after and ("shape" not in kinds or not merged_equal):
        problems.append(f"thinking changed: {thinking_before} -> {thinking_after}")
    if _of(before, "redacted") != _of(after, "redacted"):
        problems.append("redacted thinking changed without a reported loss")
    if "".join(_of(before, "text")) != "".join(_of(after, "text")):
        problems.append(f"text changed: {_of(before, 'text')} -> {_of(after, 'text')}")
    if len(_of(before, "opaque")) != len(_of(after, "opaque")):
        problems.append("opaque blocks changed without a reported loss")
    if before != after and "order" not in kinds and not problems:
        problems.append(f"blocks reordered without a reported loss: {before} -> {after}")
    return problems


def _merge(trace: list[Token], kind: str, joiner: str = "") -> list[Token]:
    """Adjacent tokens of ``kind`` (``text`` or ``thinking``) joined into one by ``joiner``."""
    out: list[Token] = []
    for token in trace:
        if token[0] == kind and out and out[-1][0] == kind:
            out[-1] = (kind, out[-1][1] + joiner + token[1])
        else:
            out.append(token)
    return out


def _visible_text(messages: Iterable[Message]) -> str:
    return "\n".join(b.text for m in messages for b in m.blocks if isinstance(b, Text))


def cross_dialect_problems(
    before: Sequence[Message], after: Sequence[Message], losses: Iterable[Loss]
) -> list[str]:
    """Every change from ``before`` to ``after`` that ``losses`` do not report."""
    kinds: set[str] = {loss.kind for loss in losses}
    problems: list[str] = []
    calls_before = [t for t in assistant_trace(before) if t[0] == "call"]
    calls_after = [t for t in assistant_trace(after) if t[0] == "call"]
    if calls_before != calls_after:
        problems.append(f"tool calls changed: {calls_before} -> {calls_after}")
    results_before, results_after = tool_results(before), tool_results(after)
    if "field" in kinds:  # a target without an error flag (OpenAI Chat) reports it as a field loss
        results_before = [r[:3] for r in results_before]
        results_after = [r[:3] for r in results_after]
    if results_before != results_after:
        problems.append(f"tool results changed: {results_before} -> {results_after}")

    trace_before, trace_after = assistant_trace(before), assistant_trace(after)
    # blocks dropped with a reported loss: the text around them joins up, and a turn that
    # held nothing else disappears whole
    dropped = {kind for kind, loss in (("redacted", "redacted"), ("opaque", "block")) if loss in kinds}
    if dropped:
        trace_before = _merge([t for t in trace_before if t[0] not in dropped], "text")
        trace_after = _merge([t for t in trace_after if t[0] not in dropped], "text")
    turns_before, turns_after = _turns(trace_before), _turns(trace_after)
    if len(turns_before) != len(turns_after):
        problems.append(f"assistant turns changed: {len(turns_before)} -> {len(turns_after)}")
    for n, (turn_before, turn_after) in enumerate(zip(turns_before, turns_after, strict=False)):
        problems += [f"assistant turn {n}: {p}" for p in _turn_problems(turn_before, turn_after, kinds)]

    signed_before = [s for s in _signatures(before) if s]
    signed_after = [s for s in _signatures(after) if s]
    if signed_before != signed_after and "signature" not in kinds:
        problems.append(f"signatures changed without a reported loss: {signed_before} -> {signed_after}")

    visible_before, visible_after = _visible_text(before), _visible_text(after)
    for message in before:
        for block in message.blocks:
            secret = (
                block.text
                if isinstance(block, Thinking)
                else block.data
                if isinstance(block, RedactedThinking)
                else None
            )
            if secret and len(secret) >= 8 and secret in visible_after and secret not in visible_before:
                problems.append(f"reasoning leaked into visible text: {secret[:40]!r}")
            signature = block.signature if isinstance(block, Thinking) else None
            if signature and signature in visible_after:
                problems.append("a signature leaked into visible text")
    return problems


def with_canonical_arguments(response: Response) -> Response:
    """``response`` with every tool call's arguments re-serialised canonically (sorted keys).

    Anthropic sends tool input as an object in a whole response but as JSON text fragments
    when streamed, so the exact text of the two differs while the value is the same; compare
    streamed and whole Anthropic responses through this.
    """
    blocks = tuple(
        msgspec.structs.replace(b, arguments=json.dumps(_arguments(b), sort_keys=True))
        if isinstance(b, ToolCall)
        else b
        for b in response.blocks
    )
    return msgspec.structs.replace(response, blocks=blocks)
