"""Which reasoning a target dialect can carry: signature families and formats.

A signature (or encrypted reasoning) is only meaningful to the family that issued it. The
``reasoning_details`` ``format`` names that family; a block decoded from a dialect's own
thinking belongs to that dialect's family. Codecs ask ``carries_signature`` before writing
one into a slot, and report a ``signature`` / ``redacted`` loss when the answer is no.
Provider-level rules (a MiniMax signature is not Claude's, even on the Anthropic wire) live
in ``thinkwire.policy``; codecs only know wire families.
"""

from __future__ import annotations

from thinkwire.ir.blocks import Dialect, RedactedThinking, Thinking

ANTHROPIC_FORMAT = "anthropic-claude-v1"
OPENAI_FORMAT = "openai-responses-v1"
UNKNOWN_FORMAT = "unknown"

_FAMILY_OF_FORMAT = {
    ANTHROPIC_FORMAT: "anthropic",
    OPENAI_FORMAT: "openai-responses",
    "azure-openai-responses-v1": "openai-responses",
}
_FORMAT_OF_DIALECT = {"anthropic": ANTHROPIC_FORMAT, "openai-responses": OPENAI_FORMAT}


def signature_format(block: Thinking | RedactedThinking) -> str:
    """The ``reasoning_details`` format naming who issued this block's signature or data."""
    origin = block.origin
    if origin is None:
        return UNKNOWN_FORMAT
    fmt = origin.extra.get("format")
    if isinstance(fmt, str):
        return fmt
    return _FORMAT_OF_DIALECT.get(origin.dialect, UNKNOWN_FORMAT)


def carries_signature(block: Thinking | RedactedThinking, target: Dialect) -> bool:
    """Whether ``target``'s own signature slot may hold this block's signature / data.

    Anthropic and Responses slots take only their own family (or blocks of unknown origin,
    e.g. made by the local engine). OpenAI Chat's ``reasoning_details`` carries every family,
    labelled by ``format``; its other carriers have no slot at all (the caller checks that).
    """
    if target == "openai-chat":
        return True
    fmt = signature_format(block)
    return fmt == UNKNOWN_FORMAT or _FAMILY_OF_FORMAT.get(fmt) == target
