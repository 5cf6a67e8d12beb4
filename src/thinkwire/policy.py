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

The origin rule (``apply_origin_rule``) is the other place: a signature or opaque blob goes back
only to the provider that issued it. When a conversation moves to another provider, a foreign
signed block is sent as unsigned reasoning where the target accepts that, and left out where
the target would refuse it (Anthropic refuses unsigned or foreign-signed thinking); redacted
thinking, opaque by nature, is left out. Each change is a ``Loss`` the gateway reports.
A block whose issuer is unknown (``origin.provider`` unset: a client sent it) is left alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, get_args

import msgspec

from thinkwire.ir.blocks import Block, RedactedThinking, Text, Thinking, ToolResult
from thinkwire.ir.conversation import Message
from thinkwire.ir.losses import Loss

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


def apply_origin_rule(
    messages: Sequence[Message], provider: str, *, accepts_unsigned: bool
) -> tuple[tuple[Message, ...], tuple[Loss, ...]]:
    """``messages`` as ``provider`` may receive them, and what changed (module docstring).

    ``accepts_unsigned``: the target takes reasoning without a signature (Chat vendors do;
    Anthropic does not)."""
    out: list[Message] = []
    losses: list[Loss] = []
    for index, message in enumerate(messages):
        if message.role != "assistant":
            out.append(message)
            continue
        blocks: list[Block] = []
        for position, block in enumerate(message.blocks):
            issuer = (
                block.origin.provider
                if isinstance(block, Thinking | RedactedThinking) and block.origin
                else None
            )
            if not isinstance(block, Thinking | RedactedThinking) or issuer is None or issuer == provider:
                blocks.append(block)
                continue
            path = f"messages[{index}].blocks[{position}]"
            if isinstance(block, RedactedThinking):
                detail = f"redacted thinking from {issuer} left out for {provider}"
                losses.append(Loss(path=path, kind="redacted", detail=detail))
            elif accepts_unsigned:
                blocks.append(msgspec.structs.replace(block, signature=None))
                if block.signature:
                    detail = f"{issuer}'s signature dropped for {provider}; the thinking goes unsigned"
                    losses.append(Loss(path=path, kind="signature", detail=detail))
            else:
                what = (
                    f"thinking signed by {issuer}" if block.signature else f"unsigned thinking from {issuer}"
                )
                detail = f"{what} left out: {provider} refuses it"
                losses.append(Loss(path=path, kind="signature", detail=detail))
        if len(blocks) == len(message.blocks) and all(
            a is b for a, b in zip(blocks, message.blocks, strict=True)
        ):
            out.append(message)
        else:
            out.append(msgspec.structs.replace(message, blocks=tuple(blocks) or (Text(text=""),)))
    return tuple(out), tuple(losses)
