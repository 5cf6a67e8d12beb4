"""The assistant turn as the server sent it, ready to go back into the conversation.

A correct client appends the assistant message it received, as it came: every field, the
ones thinkwire's IR does not model too (LiteLLM's ``thinking_blocks`` next to
``reasoning_content``, vendor ids). ``Response.to_message()`` keeps only the blocks, so the
check reads the message from the answer's JSON instead and decodes it with the dialect's
*request* codec, which keeps unknown message fields in ``Message.extra`` and writes them back.
A streamed answer has no JSON of its own: its folded response is written whole by the codec
first (what the stream carried, in the form a whole answer would have). Chat message fields
thinkwire does not model can come in pieces over several deltas (LiteLLM streams
``thinking_blocks`` one fragment per delta, the signature in a later one): ``streamed_fields``
merges them the way the whole answer would hold them, and they replace the fold's own (which
keeps only the last delta's).
"""

from __future__ import annotations

from typing import Any, Final

from thinkwire.dialects.base import Codec
from thinkwire.dialects.openai_chat.messages import ASSISTANT_KEYS
from thinkwire.errors import ThinkwireError
from thinkwire.ir.conversation import Message, Response

MODELLED: Final = ASSISTANT_KEYS | {"refusal"}
"""Chat message fields the codec decodes itself (its ``ASSISTANT_KEYS``, and the ``refusal``
the response decoder reads); the others are sent back as they came."""
LABELS: Final = frozenset({"type", "index", "id", "format"})
"""Keys of a streamed list entry that name it rather than hold its text: kept, not joined."""


def merge(old: Any, new: Any) -> Any:
    """Two deltas of one field as one value: strings joined, dicts merged key by key, list
    entries merged by their ``index`` (by position when they have none), anything else the
    later value; ``None`` adds nothing."""
    if new is None:
        return old
    if old is None:
        return new
    if isinstance(old, str) and isinstance(new, str):
        return old + new
    if isinstance(old, dict) and isinstance(new, dict):
        out = dict(old)
        for key, value in new.items():
            if key in LABELS and out.get(key) not in (None, ""):
                continue
            out[key] = merge(out.get(key), value)
        return out
    if isinstance(old, list) and isinstance(new, list):
        entries = list(old)
        for position, entry in enumerate(new):
            index = entry.get("index", position) if isinstance(entry, dict) else position
            at = next(
                (
                    n
                    for n, e in enumerate(entries)
                    if (e.get("index", n) if isinstance(e, dict) else n) == index
                ),
                None,
            )
            if at is None:
                entries.append(entry)
            else:
                entries[at] = merge(entries[at], entry)
        return entries
    return new


def streamed_fields(events: list[tuple[str | None, Any]]) -> dict[str, Any]:
    """The Chat message fields thinkwire does not model, merged over a stream's deltas (a field
    that was only ever null is left out)."""
    fields: dict[str, Any] = {}
    for _, data in events:
        choices = data.get("choices") if isinstance(data, dict) else None
        delta = (
            choices[0].get("delta")
            if isinstance(choices, list) and choices and isinstance(choices[0], dict)
            else None
        )
        if not isinstance(delta, dict):
            continue
        for key, value in delta.items():
            if key not in MODELLED:
                fields[key] = merge(fields.get(key), value)
    return {k: v for k, v in fields.items() if v is not None}


def _as_request(dialect: str, body: Any) -> dict[str, Any] | None:
    """A request body whose history is the answer's assistant output (``None``: no output)."""
    if not isinstance(body, dict):
        return None
    if dialect == "anthropic":
        content = body.get("content")
        return {"model": "m", "max_tokens": 1, "messages": [{"role": "assistant", "content": content}]}
    if dialect == "openai-chat":
        choices = body.get("choices")
        message = choices[0].get("message") if isinstance(choices, list) and choices else None
        return {"model": "m", "messages": [message]} if isinstance(message, dict) else None
    output = body.get("output")
    return {"model": "m", "input": output} if isinstance(output, list) else None


def sent_turn(
    codec: Codec, response: Response, body: Any = None, fields: dict[str, Any] | None = None
) -> tuple[Message, ...]:
    """The assistant message(s) to send back: from ``body`` (the whole answer's JSON), else
    from ``response`` written whole with ``fields`` (``streamed_fields``) on its Chat message;
    ``response.to_message()`` when neither decodes."""
    if body is None:
        try:
            body = dict(codec.encode_response(response).value)
        except ThinkwireError:
            body = None
        if fields and codec.dialect == "openai-chat" and isinstance(body, dict):
            choices = body.get("choices")
            if isinstance(choices, list) and choices and isinstance(choices[0].get("message"), dict):
                body["choices"] = [
                    {**choices[0], "message": {**choices[0]["message"], **fields}},
                    *choices[1:],
                ]
    request = _as_request(codec.dialect, body)
    if request is not None:
        try:
            messages = codec.decode_request(request).messages
        except ThinkwireError:
            messages = ()
        if messages and all(m.role == "assistant" for m in messages):
            return messages
    return (response.to_message(),)
