"""Requests decoded from other dialects, encoded as Responses: what is and is not a loss."""

from __future__ import annotations

from thinkwire.dialects.openai_chat import CODEC as CHAT
from thinkwire.dialects.openai_responses import CODEC as RESPONSES

CALL = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}


def test_a_chat_codecs_notes_on_an_assistant_turn_are_not_losses() -> None:
    request = CHAT.decode_request(
        {
            "model": "m",
            "messages": [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "name": "bot", "tool_calls": [CALL]},  # content absent: a "$form" note
                {"role": "tool", "tool_call_id": "c1", "content": "x"},
            ],
        }
    )
    losses = RESPONSES.encode_request(request).losses
    assert [loss.path for loss in losses] == ["messages[1].name"]  # a real field, and no "$" notes
