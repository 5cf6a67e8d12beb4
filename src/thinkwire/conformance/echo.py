"""The assistant turn as the server sent it, ready to go back into the conversation.

A correct client appends the assistant message it received, as it came: every field, the
ones thinkwire's IR does not model too (LiteLLM's ``thinking_blocks`` next to
``reasoning_content``, vendor ids). ``Response.to_message()`` keeps only the blocks, so the
check reads the message from the answer's JSON instead and decodes it with the dialect's
*request* codec, which keeps unknown message fields in ``Message.extra`` and writes them back.
A streamed answer has no JSON of its own: its folded response is written whole by the codec
first (what the stream carried, in the form a whole answer would have).
"""

from __future__ import annotations

from typing import Any

from thinkwire.dialects.base import Codec
from thinkwire.errors import ThinkwireError
from thinkwire.ir.conversation import Message, Response


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


def sent_turn(codec: Codec, response: Response, body: Any = None) -> tuple[Message, ...]:
    """The assistant message(s) to send back: from ``body`` (the whole answer's JSON), else
    from ``response`` written whole; ``response.to_message()`` when neither decodes."""
    if body is None:
        try:
            body = codec.encode_response(response).value
        except ThinkwireError:
            body = None
    request = _as_request(codec.dialect, body)
    if request is not None:
        try:
            messages = codec.decode_request(request).messages
        except ThinkwireError:
            messages = ()
        if messages and all(m.role == "assistant" for m in messages):
            return messages
    return (response.to_message(),)
