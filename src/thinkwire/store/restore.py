"""Putting recorded reasoning back into a request: which turns to look up, and the merge.

Pure functions; ``thinkwire.store.state.ConversationState.restore`` does the lookups::

    want = wanted(keys, tenant, request)           # indexes and their keys
    found = [(i, <first hit of keys>) for i, keys in want]
    messages, count = restore(request.messages, found)

Two kinds of turn are looked up: those with no reasoning at all (a client that drops it), and
those whose reasoning came back *lossy* — the same thinking text, but no signature, no
redacted or encrypted part (a client whose dialect has no slot for them: a Chat client's
``reasoning_content`` holding what was a signed Anthropic turn, a Responses client's summary of
what a Chat upstream signed). A lossy turn is upgraded only when its thinking text is the
recorded text (whitespace aside) and the recording carries more than the client sent.
Omitted thinking (Anthropic ``display: "omitted"``: empty text) is looked up too, and so is a
turn whose only reasoning is opaque (a Responses client that read no reasoning text sends the
item back as ``encrypted_content`` alone, which holds the signature the recording has with
its text; any other opaque data matches nothing and is left alone): an empty block with no
signature (what ``thinkwire.store.issuer`` leaves of one the gateway signed) counts
as no reasoning at all, and empty blocks whose signatures the recording holds with their text
(a vendor's signature on thinking the gateway emptied for the client) get that text back.

A restored turn is the recorded turn's block order (reasoning back in place, in order) with
the client's own visible blocks in it: its tool calls (equal to the recorded ones by the
fingerprint, but the client's ``extra`` is kept), its text blocks when they pair one to one
with the recorded ones (else the recorded texts, whose text is the client's, whitespace aside), and any
image or opaque block the client sent. The message-level fields (``plain``, ``extra``) are
the client's.
"""

from __future__ import annotations

from collections.abc import Sequence

from thinkwire.ir.blocks import Block, RedactedThinking, Text, Thinking, ToolCall, is_reasoning
from thinkwire.ir.conversation import Message, Request
from thinkwire.store.fingerprint import Keys, has_visible


def needs_restore(message: Message) -> bool:
    """An assistant turn with something visible and no reasoning, or only lossy reasoning."""
    if message.role != "assistant" or not has_visible(message):
        return False
    reasoning = _reasoning(message)
    return not reasoning or is_lossy(message) or _emptied(reasoning)


def _reasoning(message: Message) -> list[Block]:
    """The turn's reasoning, less empty unsigned thinking (which holds nothing)."""
    return [
        b
        for b in message.blocks
        if is_reasoning(b) and not (isinstance(b, Thinking) and not b.text and not b.signature)
    ]


def _token(block: Block) -> str | None:
    """What an omitted block still carries: an empty thinking block's signature, or the opaque
    data of a redacted one (a Responses client that read no reasoning text sends the item back
    as ``encrypted_content`` alone, which decodes as redacted thinking)."""
    if isinstance(block, Thinking):
        return block.signature if not block.text else None
    if isinstance(block, RedactedThinking):
        return block.data
    return None


def _emptied(reasoning: list[Block]) -> bool:
    """Only omitted thinking: empty text with a signature, or opaque data alone."""
    return all(_token(b) for b in reasoning)


def _refills(client: Message, stored: Message) -> bool:
    """Each of the client's omitted blocks is recorded with its text under the same signature
    (redacted data of the client's equal to a signature the recording holds with text)."""
    reasoning = _reasoning(client)
    recorded = {b.signature for b in stored.blocks if isinstance(b, Thinking) and b.text and b.signature}
    return _emptied(reasoning) and all(_token(b) in recorded for b in reasoning)


def is_lossy(message: Message) -> bool:
    """Reasoning with no signature and nothing redacted: what a dialect without those slots
    leaves of a turn."""
    reasoning = _reasoning(message)
    return bool(reasoning) and all(isinstance(b, Thinking) and not b.signature for b in reasoning)


def _thinking_text(message: Message) -> str:
    return "".join("".join(b.text.split()) for b in message.blocks if isinstance(b, Thinking))


def _upgrades(client: Message, stored: Message) -> bool:
    """The recording holds the client's lossy reasoning and more (module docstring)."""
    richer = any(
        isinstance(b, RedactedThinking) or (isinstance(b, Thinking) and b.signature) for b in stored.blocks
    )
    return richer and _thinking_text(client) == _thinking_text(stored)


def wanted(keys: Keys, tenant: str, request: Request) -> list[tuple[int, tuple[str, ...]]]:
    """The assistant turns of ``request`` to look up (``needs_restore``), each with its keys in
    lookup order (``Keys.turn_keys``)."""
    messages = request.messages
    return [
        (i, keys.turn_keys(tenant, request.system, messages, i))
        for i, m in enumerate(messages)
        if needs_restore(m)
    ]


def restore(
    messages: Sequence[Message], found: Sequence[tuple[int, Message | None]]
) -> tuple[tuple[Message, ...], int]:
    """Put recorded reasoning back into turns that lack it or hold it lossy.

    ``found`` pairs each wanted index with the turn the store has under the first of its keys
    that hit (``None``: none). Turns whose reasoning is signed, redacted or not the recorded
    text are left alone (omitted blocks aside: module docstring). Returns the messages (the
    same values where nothing changed) and how many turns were restored.
    """
    out = list(messages)
    count = 0
    for i, stored in found:
        client = messages[i]
        if stored is not None and (
            not _reasoning(client) or _upgrades(client, stored) or _refills(client, stored)
        ):
            merged = merge(client, stored)
            if merged is not None:
                out[i] = merged
                count += 1
    return tuple(out), count


def merge(client: Message, stored: Message) -> Message | None:
    """The stored turn's block order with the client's visible blocks in place.

    ``None`` when the two do not line up (different tool-call counts: cannot happen for equal
    fingerprints, checked all the same).
    """
    calls = [b for b in client.blocks if isinstance(b, ToolCall)]
    if len(calls) != sum(isinstance(b, ToolCall) for b in stored.blocks):
        return None
    texts = [b for b in client.blocks if isinstance(b, Text) and b.text.strip()]
    stored_texts = [b for b in stored.blocks if isinstance(b, Text) and b.text.strip()]
    pair_texts = len(texts) == len(stored_texts) and all(
        a.text.strip() == b.text.strip() for a, b in zip(texts, stored_texts, strict=True)
    )
    others = [b for b in client.blocks if not isinstance(b, Text | ToolCall) and not is_reasoning(b)]
    call_iter, text_iter = iter(calls), iter(texts)
    blocks: list[Block] = []
    for block in stored.blocks:
        if isinstance(block, ToolCall):
            blocks.append(next(call_iter))
        elif isinstance(block, Text):
            blocks.append(next(text_iter) if pair_texts and block.text.strip() else block)
        elif is_reasoning(block):
            blocks.append(block)
        else:  # image / opaque: the client's, in order, where the recorded turn had one
            blocks.append(others.pop(0) if others else block)
    blocks.extend(others)
    return Message(role=client.role, blocks=tuple(blocks), plain=client.plain, extra=client.extra)
