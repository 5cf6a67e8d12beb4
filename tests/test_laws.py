"""The law checker itself: it must catch each way a conversion can go wrong."""

from __future__ import annotations

from thinkwire.ir import Loss, Message, Opaque, RedactedThinking, Text, Thinking, ToolCall, ToolResult
from thinkwire.laws import assistant_trace, cross_dialect_problems

CALL = ToolCall(id="c1", name="f", arguments='{"a": 1}')
TURN = Message(
    role="assistant",
    blocks=(
        Thinking(text="first thought", signature="sig"),
        CALL,
        Thinking(text="second thought"),
        Text(text="ok"),
    ),
)
BEFORE = (Message(role="user", blocks=(Text(text="hi"),)), TURN)


def loss(kind: str) -> Loss:
    return Loss(path="p", kind=kind, detail="d")  # type: ignore[arg-type]


def after(*blocks: object) -> tuple[Message, ...]:
    return (BEFORE[0], Message(role="assistant", blocks=blocks))  # type: ignore[arg-type]


def test_identical_conversations_have_no_problems() -> None:
    assert cross_dialect_problems(BEFORE, BEFORE, []) == []


def test_tool_call_arguments_compare_by_value_not_bytes() -> None:
    moved = after(
        Thinking(text="first thought", signature="sig"),
        ToolCall(id="c1", name="f", arguments='{"a":1}'),
        Thinking(text="second thought"),
        Text(text="ok"),
    )
    assert cross_dialect_problems(BEFORE, moved, []) == []


def test_reordered_thinking_needs_an_order_loss() -> None:
    moved = after(
        Thinking(text="first thought", signature="sig"),
        Thinking(text="second thought"),
        Text(text="ok"),
        CALL,
    )
    assert cross_dialect_problems(BEFORE, moved, [])
    assert cross_dialect_problems(BEFORE, moved, [loss("order")]) == []


def test_merged_thinking_needs_a_shape_loss_and_an_order_loss_here() -> None:
    merged = after(Thinking(text="first thought\n\nsecond thought", signature="sig"), Text(text="ok"), CALL)
    assert cross_dialect_problems(BEFORE, merged, [loss("order")])
    assert cross_dialect_problems(BEFORE, merged, [loss("order"), loss("shape")]) == []
    run_together = after(Thinking(text="first thoughtsecond thought", signature="sig"), Text(text="ok"), CALL)
    assert cross_dialect_problems(BEFORE, run_together, [loss("order"), loss("shape")])  # no separator


def test_dropped_signature_needs_a_signature_loss() -> None:
    unsigned = after(Thinking(text="first thought"), CALL, Thinking(text="second thought"), Text(text="ok"))
    assert cross_dialect_problems(BEFORE, unsigned, []) != []
    assert cross_dialect_problems(BEFORE, unsigned, [loss("signature")]) == []


def test_dropped_thinking_is_always_a_problem() -> None:
    dropped = after(CALL, Thinking(text="second thought"), Text(text="ok"))
    assert cross_dialect_problems(BEFORE, dropped, [loss("order"), loss("signature"), loss("shape")])


def test_reasoning_turned_into_visible_text_is_caught() -> None:
    leaked = after(CALL, Text(text="first thought"), Thinking(text="second thought"), Text(text="ok"))
    problems = cross_dialect_problems(BEFORE, leaked, [loss("order"), loss("signature")])
    assert any("leaked" in p for p in problems)


def test_redacted_blocks_may_go_only_with_a_redacted_loss() -> None:
    before = (Message(role="assistant", blocks=(RedactedThinking(data="ENCRYPTED=="), Text(text="x"))),)
    after_ = (Message(role="assistant", blocks=(Text(text="x"),)),)
    assert cross_dialect_problems(before, after_, [])
    assert cross_dialect_problems(before, after_, [loss("redacted")]) == []


def test_changed_tool_results_and_calls_are_always_problems() -> None:
    before = (TURN, Message(role="tool", blocks=(ToolResult(call_id="c1", content="42"),)))
    changed = (TURN, Message(role="tool", blocks=(ToolResult(call_id="c1", content="43"),)))
    assert cross_dialect_problems(before, changed, [loss("field")])


def test_trace_separates_turns_and_merges_adjacent_text() -> None:
    trace = assistant_trace(
        [
            Message(role="assistant", blocks=(Text(text="a"), Text(text="b"))),
            Message(role="tool", blocks=(ToolResult(call_id="c", content="r"),)),
            Message(role="assistant", blocks=(Thinking(text="t"),)),
        ]
    )
    assert trace == [("text", "ab"), ("|",), ("thinking", "t")]


def test_a_turn_of_only_dropped_opaque_blocks_may_vanish_with_a_block_loss() -> None:
    refusal = Opaque(dialect="openai-responses", data={"type": "message", "content": [{"type": "refusal"}]})
    before = (Message(role="user", blocks=(Text(text="hi"),)), Message(role="assistant", blocks=(refusal,)))
    after_ = (Message(role="user", blocks=(Text(text="hi"),)),)
    assert cross_dialect_problems(before, after_, [])
    assert cross_dialect_problems(before, after_, [loss("block")]) == []
