"""Thinking policies over a conversation with two user turns and a tool loop."""

from __future__ import annotations

import pytest

from thinkwire.ir import Message, RedactedThinking, Text, Thinking, ToolCall, ToolResult
from thinkwire.policy import POLICIES, apply_policy, current_turn_start, is_real_user_message

CALL = ToolCall(id="c1", name="lookup", arguments="{}")
CONVERSATION = (
    Message(role="user", blocks=(Text(text="first question"),)),
    Message(role="assistant", blocks=(Thinking(text="t1", signature="s1"), Text(text="answer 1"))),
    Message(role="user", blocks=(Text(text="second question"),)),
    Message(role="assistant", blocks=(Thinking(text="t2"), CALL, RedactedThinking(data="r2"))),
    Message(role="user", blocks=(ToolResult(call_id="c1", content="42"),)),
    Message(role="assistant", blocks=(Thinking(text="t3"), Text(text="answer 2"))),
)


def _thinking(messages: tuple[Message, ...]) -> list[str]:
    return [
        b.text if isinstance(b, Thinking) else b.data
        for m in messages
        for b in m.blocks
        if isinstance(b, Thinking | RedactedThinking)
    ]


def test_keep_changes_nothing() -> None:
    messages, report = apply_policy(CONVERSATION, "keep")
    assert messages == CONVERSATION
    assert report.removed_blocks == 0


def test_discard_removes_all_thinking_and_reports_it() -> None:
    messages, report = apply_policy(CONVERSATION, "discard")
    assert _thinking(messages) == []
    assert (report.removed_blocks, report.messages) == (4, (1, 3, 5))
    assert messages[3].blocks == (CALL,)  # tool calls and text stay, in order


def test_current_turn_keeps_thinking_after_the_last_real_user_message() -> None:
    messages, report = apply_policy(CONVERSATION, "current-turn")
    # the tool result does not start a new turn: the tool loop's thinking stays
    assert _thinking(messages) == ["t2", "r2", "t3"]
    assert (report.removed_blocks, report.messages) == (1, (1,))


def test_a_turn_of_only_thinking_becomes_an_empty_text_turn() -> None:
    conversation = (
        Message(role="user", blocks=(Text(text="q"),)),
        Message(role="assistant", blocks=(Thinking(text="only thought"),)),
        Message(role="user", blocks=(Text(text="q2"),)),
    )
    messages, _ = apply_policy(conversation, "discard")
    assert messages[1].blocks == (Text(text=""),)


def test_turn_boundaries() -> None:
    assert current_turn_start(CONVERSATION) == 3
    assert current_turn_start(()) == 0
    assert not is_real_user_message(CONVERSATION[4])
    assert is_real_user_message(CONVERSATION[2])


def test_every_policy_keeps_visible_blocks_in_order() -> None:
    visible = [b for m in CONVERSATION for b in m.blocks if not isinstance(b, Thinking | RedactedThinking)]
    for policy in POLICIES:
        messages, _ = apply_policy(CONVERSATION, policy)
        assert [
            b for m in messages for b in m.blocks if not isinstance(b, Thinking | RedactedThinking)
        ] == visible


def test_unknown_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown thinking policy 'drop'"):
        apply_policy(CONVERSATION, "drop")  # type: ignore[arg-type]
