"""``--break`` cases: ways an emulator misbehaves on purpose, as real servers do.

Each case is data: its name, the real misbehaviour it imitates (with the WIRE.md reference),
the vendors it applies to, and how a client or probe observes it. A broken emulator still
validates requests exactly as the strict one does (the real bugs are silent); what changes
is what the model sees or what the stream carries.
"""

from __future__ import annotations

from typing import Final

import msgspec


class BreakCase(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    imitates: str
    observed: str
    vendors: frozenset[str]


DROP_THINKING: Final = BreakCase(
    name="drop-thinking",
    imitates=(
        "A server (or its chat template) that renders the prompt without the earlier thinking "
        "it was sent: Qwen3/GLM templates that keep <think> only after the last user message, "
        "harnesses that drop reasoning when building history (WIRE.md 2.16, tau2-bench#92)."
    ),
    observed=(
        "Requests are accepted, but after a tool result the scripted model cannot find the code "
        "word it noted in its earlier thinking ('I have no note of a code word.'), and the "
        "prompt-token count is lower than the strict emulator's for the same request."
    ),
    vendors=frozenset(
        {"anthropic", "deepseek", "deepseek-anthropic", "minimax", "openai-responses", "openrouter"}
    ),
)

IGNORE_CARRIER: Final = BreakCase(
    name="ignore-carrier",
    imitates=(
        "A Chat server that reads reasoning from another field than the one the vendor documents "
        "and silently renders empty thinking (WIRE.md 2.9: vllm#38488 reads only `reasoning`, "
        "ollama#18534; WIRE.md 2.14 for MiniMax's inline <think>; WIRE.md 2.10 for OpenRouter). "
        "DeepSeek then reads only `reasoning` (not `reasoning_content`); MiniMax ignores <think> "
        "in content; OpenRouter ignores `reasoning_details` (its rules still check them)."
    ),
    observed=(
        "Reasoning sent back in the documented carrier does not reach the model: no recall of the "
        "code word, fewer prompt tokens; the same reasoning in the other field is rendered."
    ),
    vendors=frozenset({"deepseek", "minimax", "openrouter"}),
)

MERGE_STREAM_BLOCKS: Final = BreakCase(
    name="merge-stream-blocks",
    imitates=(
        "A stream that collapses consecutive thinking blocks into one carrying the last "
        "signature (WIRE.md 2.7); for OpenRouter, Claude's two `reasoning_details` entries "
        "streamed as one index (WIRE.md 1: pieces are merged by index)."
    ),
    observed=(
        "A streamed turn has one thinking block where the whole response has two; sending the "
        "merged block back gets Anthropic's 400 Invalid `signature` in `thinking` block "
        "(through OpenRouter: relayed as `Provider returned error`)."
    ),
    vendors=frozenset({"anthropic", "deepseek-anthropic", "openrouter"}),
)

BREAKS: Final[dict[str, BreakCase]] = {
    c.name: c for c in (DROP_THINKING, IGNORE_CARRIER, MERGE_STREAM_BLOCKS)
}
"""Every break case by name."""


def get_break(name: str | None, vendor: str) -> BreakCase | None:
    """The case named ``name`` for ``vendor`` (``None`` for none); ``ValueError`` when unknown
    or not applicable to the vendor."""
    if name is None:
        return None
    case = BREAKS.get(name)
    if case is None:
        raise ValueError(f"unknown break case {name!r}; expected one of {', '.join(BREAKS)}")
    if vendor not in case.vendors:
        applies = ", ".join(sorted(case.vendors))
        raise ValueError(f"break case {name!r} does not apply to {vendor!r} (only to {applies})")
    return case
