"""Thinking policies: the one place thinking is removed from a conversation.

A policy decides which earlier thinking a model sees on its next request:

- ``keep``: every thinking block of every earlier assistant turn stays, in place (interleaved
  thinking done right);
- ``discard``: thinking is removed from all earlier assistant turns (the control condition of
  the keep-vs-discard experiment);
- ``current-turn``: thinking is kept only in assistant turns after the last real user message
  (a user message that is not only tool results), which is what Qwen3-style chat templates and
  older Claude do.

"Thinking" means ``Thinking`` and ``RedactedThinking`` blocks. A policy never turns thinking
into text and never reorders what it keeps. Removing thinking is reported (``PolicyReport``),
since losing thinking silently is a bug everywhere else in thinkwire. The agent, the evals, the
local engine's renderer and the gateway all call ``apply_policy``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, get_args

import msgspec

from thinkwire.ir.blocks import RedactedThinking, Text, Thinking, ToolResult
from thinkwire.ir.conversation import Message

Policy = Literal["keep", "discard", "current-turn"]
POLICIES: tuple[Policy, ...] = get_args(Policy)


class PolicyReport(msgspec.Struct, frozen=True, kw_only=True):
    """What a policy removed: the number of thinking blocks and the messages they were in."""

    policy: Policy
    removed_blocks: int = 0
    messages: tuple[int, ...] = ()


def is_real_user_message(message: Message) -> bool:
    """A user turn that is not only tool results (a tool loop continues the same turn)."""
    if message.role != "user":
        return False
    return not message.blocks or any(not isinstance(b, ToolResult) for b in message.blocks)


def current_turn_start(messages: Sequence[Message]) -> int:
    """Index of the first message after the last real user message (0 when there is none)."""
    for index in range(len(messages) - 1, -1, -1):
        if is_real_user_message(messages[index]):
            return index + 1
    return 0


def apply_policy(messages: Sequence[Message], policy: Policy) -> tuple[tuple[Message, ...], PolicyReport]:
    """``messages`` as the model sees them under ``policy``, and what was removed.

    Raises ``ValueError`` for an unknown policy name.
    """
    if policy not in POLICIES:
        raise ValueError(f"unknown thinking policy {policy!r}; expected one of {', '.join(POLICIES)}")
    if policy == "keep":
        return tuple(messages), PolicyReport(policy=policy)
    keep_from = current_turn_start(messages) if policy == "current-turn" else len(messages)
    out: list[Message] = []
    removed = 0
    touched: list[int] = []
    for index, message in enumerate(messages):
        if message.role != "assistant" or index >= keep_from:
            out.append(message)
            continue
        kept = tuple(b for b in message.blocks if not isinstance(b, Thinking | RedactedThinking))
        if len(kept) == len(message.blocks):
            out.append(message)
            continue
        removed += len(message.blocks) - len(kept)
        touched.append(index)
        # a turn that held only thinking stays as an empty text turn, so roles still alternate
        out.append(msgspec.structs.replace(message, blocks=kept or (Text(text=""),)))
    return tuple(out), PolicyReport(policy=policy, removed_blocks=removed, messages=tuple(touched))
