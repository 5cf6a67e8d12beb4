"""Thinking policies over a conversation with two user turns and a tool loop."""

from __future__ import annotations

import pytest

from thinkwire.ir import Message, RedactedThinking, Text, Thinking, ToolCall, ToolResult
from thinkwire.ir.blocks import Block, Origin
from thinkwire.policy import (
    POLICIES,
    apply_origin_rule,
    apply_policy,
    current_turn_start,
    is_real_user_message,
)

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


def _signed(provider: str | None, signature: str | None = "sig") -> Thinking:
    origin = Origin(dialect="anthropic", provider=provider) if provider else None
    return Thinking(text=f"thought by {provider}", signature=signature, origin=origin)


def _turns(*blocks: Block) -> list[Message]:
    call = ToolCall(id="c1", name="f", arguments="{}")
    return [
        Message(role="user", blocks=(Text(text="go"),)),
        Message(role="assistant", blocks=(*blocks, call)),
    ]


def test_the_origin_rule_keeps_the_issuers_own_and_unknown_blocks() -> None:
    messages = _turns(_signed("anthropic"), _signed(None))
    out, losses = apply_origin_rule(messages, "anthropic", accepts_unsigned=False)
    assert out == tuple(messages)
    assert losses == ()


def test_a_foreign_signature_is_dropped_where_unsigned_reasoning_is_accepted() -> None:
    out, losses = apply_origin_rule(_turns(_signed("minimax")), "deepseek", accepts_unsigned=True)
    assert out[1].blocks[0] == Thinking(
        text="thought by minimax", origin=Origin(dialect="anthropic", provider="minimax")
    )
    assert [(loss.path, loss.kind) for loss in losses] == [("messages[1].blocks[0]", "signature")]
    assert "minimax's signature dropped for deepseek" in losses[0].detail


def test_foreign_signed_and_redacted_thinking_is_left_out_where_it_would_be_refused() -> None:
    redacted = RedactedThinking(data="opaque", origin=Origin(dialect="anthropic", provider="minimax"))
    out, losses = apply_origin_rule(_turns(_signed("minimax"), redacted), "anthropic", accepts_unsigned=False)
    assert [type(b).__name__ for b in out[1].blocks] == ["ToolCall"]
    assert [(loss.path, loss.kind) for loss in losses] == [
        ("messages[1].blocks[0]", "signature"),
        ("messages[1].blocks[1]", "redacted"),
    ]


def test_unsigned_foreign_thinking_moves_freely_but_not_to_a_vendor_that_refuses_it() -> None:
    messages = _turns(_signed("deepseek", signature=None))
    out, losses = apply_origin_rule(messages, "minimax", accepts_unsigned=True)
    assert out == tuple(messages)
    assert losses == ()
    out, losses = apply_origin_rule(messages, "anthropic", accepts_unsigned=False)
    assert [type(b).__name__ for b in out[1].blocks] == ["ToolCall"]
    assert [loss.detail for loss in losses] == [
        "unsigned thinking from deepseek left out: anthropic refuses it"
    ]
