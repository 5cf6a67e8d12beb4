"""Recording turns as the gateway produces them, and putting their reasoning back later.

``record`` after a response, ``restore`` before the next request goes upstream::

    messages, restored = restore(store, tenant, request.messages)
    ...                                   # call the upstream, header thinkwire-restored: restored
    record(store, tenant, response.to_message())

A restored turn is the recorded turn's block order (reasoning back in place, in order) with
the client's own visible blocks in it: its tool calls (equal to the recorded ones by the
fingerprint, but the client's ``extra`` is kept), its text blocks when they pair one to one
with the recorded ones (else the recorded texts, whose joined text is the client's), and any
image or opaque block the client sent. The message-level fields (``plain``, ``extra``) are
the client's.
"""

from __future__ import annotations

from collections.abc import Sequence

from thinkwire.ir.blocks import Block, Text, ToolCall, is_reasoning
from thinkwire.ir.conversation import Message
from thinkwire.store.base import StateStore
from thinkwire.store.fingerprint import has_visible


def record(store: StateStore, tenant: str, response_message: Message) -> bool:
    """Record the assistant turn the gateway just produced (see ``StateStore.put``).

    Record the turn with the visible values the client received (the same tool-call ids and
    arguments), or the client's copy will not match it.
    """
    return store.put(tenant, response_message)


def needs_restore(message: Message) -> bool:
    """An assistant turn with something visible and no reasoning at all."""
    return (
        message.role == "assistant"
        and not any(is_reasoning(b) for b in message.blocks)
        and has_visible(message)
    )


def restore(store: StateStore, tenant: str, messages: Sequence[Message]) -> tuple[tuple[Message, ...], int]:
    """Put recorded reasoning back into the assistant turns that lack it.

    Turns that already hold any reasoning are left alone. Returns the messages (the same
    values where nothing changed) and how many turns were restored. All lookups go to the
    store in one ``get_many``.
    """
    wanted = [i for i, m in enumerate(messages) if needs_restore(m)]
    if not wanted:
        return tuple(messages), 0
    found = store.get_many(tenant, [store.keys.fingerprint(tenant, messages[i]) for i in wanted])
    out = list(messages)
    count = 0
    for i, stored in zip(wanted, found, strict=True):
        if stored is not None:
            merged = merge(messages[i], stored)
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
    others = [b for b in client.blocks if not isinstance(b, Text | ToolCall)]
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
