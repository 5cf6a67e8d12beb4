"""The Anthropic codec's fast paths write exactly what its general paths write.

``decode_blocks`` / ``_messages`` build the common shapes inline and hand everything else to
``decode_block`` / ``_message``; ``encode_blocks`` / ``_encode_messages`` /
``_merge_tool_message`` do the same with ``encode_block``. These tests feed each common
shape (and near misses that must leave the fast path) to both and compare results, the
``calls`` set, losses and error paths.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from thinkwire.dialects.anthropic.blocks import decode_block, decode_blocks, encode_block, encode_blocks
from thinkwire.dialects.anthropic.request import _merge_tool_message, _message, _messages
from thinkwire.errors import DecodeError
from thinkwire.ir import (
    Block,
    LossLog,
    Message,
    Opaque,
    Origin,
    RedactedThinking,
    Text,
    Thinking,
    ToolCall,
    ToolResult,
)

ORIGIN = Origin(dialect="anthropic", provider="anthropic")

# Each wire block, with the call ids that must precede it.
WIRE_BLOCKS: list[dict[str, Any]] = [
    {"type": "text", "text": "hello"},
    {"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}},
    {"type": "thinking", "thinking": "hmm", "signature": "sig"},
    {"type": "thinking", "thinking": "unsigned"},
    {"type": "thinking", "thinking": "null signature", "signature": None},
    {"type": "thinking", "thinking": "", "signature": "omitted"},
    {"type": "thinking", "thinking": "x", "signature": "s", "extra_field": 1},
    {"type": "redacted_thinking", "data": "opaque"},
    {"type": "redacted_thinking", "data": "opaque", "cache_control": {"type": "ephemeral"}},
    {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": [1, 2.5, None]}},
    {"type": "tool_use", "id": "toolu_2", "name": "f", "input": {}, "cache_control": {"type": "ephemeral"}},
    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok"},
    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "bad", "is_error": True},
    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "fine", "is_error": False},
    {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "r"}]},
    {"type": "tool_result", "tool_use_id": "toolu_1"},
    {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
    {"type": "document", "source": {"type": "text", "data": "doc"}},
]


@pytest.mark.parametrize("wire", WIRE_BLOCKS, ids=lambda w: str(sorted(w)))
def test_block_decode_fast_path_equals_general_path(wire: dict[str, Any]) -> None:
    fast_calls, general_calls = {"toolu_1"}, {"toolu_1"}
    fast = decode_blocks([copy.deepcopy(wire)], 0, ORIGIN, fast_calls)
    general = (decode_block(copy.deepcopy(wire), "messages[0].content[0]", ORIGIN, general_calls),)
    assert fast == general
    assert fast_calls == general_calls
    assert decode_blocks([copy.deepcopy(wire)], "content", ORIGIN, None) == (
        decode_block(copy.deepcopy(wire), "content[0]", ORIGIN, None),
    )


@pytest.mark.parametrize(
    ("wire", "path"),
    [
        ({"type": "text", "text": 3}, "messages[2].content[1].text"),
        ({"type": "thinking", "thinking": "x", "signature": 5}, "messages[2].content[1].signature"),
        ({"type": "thinking", "signature": "s"}, "messages[2].content[1].thinking"),
        ({"type": "tool_use", "id": "t", "name": "f", "input": [1]}, "messages[2].content[1].input"),
        ({"type": "tool_use", "id": "t", "name": "f", "input": {"n": 2**70}}, "messages[2].content[1].input"),
        ({"type": "tool_result", "tool_use_id": "nope", "content": "x"}, "messages[2].content[1]"),
        ({"type": "redacted_thinking", "data": None}, "messages[2].content[1].data"),
        ({"type": 1}, "messages[2].content[1].type"),
        ("text", "messages[2].content[1]"),
    ],
)
def test_blocks_leaving_the_fast_path_report_their_path(wire: Any, path: str) -> None:
    content = [{"type": "text", "text": "first"}, wire]
    with pytest.raises(DecodeError) as caught:
        decode_blocks(content, 2, ORIGIN, set())
    assert caught.value.path == path


@pytest.mark.parametrize(
    "wire",
    [
        {"role": "user", "content": "plain"},
        {
            "role": "assistant",
            "content": [{"type": "text", "text": "a"}, {"type": "thinking", "thinking": "t"}],
        },
        {"role": "user", "content": []},
        {"role": "user", "content": "x", "name": "extra field"},
        {"role": "system", "content": "not a role here"},
        {"role": "user", "content": None},
        {"role": "user"},
        {"role": ["user"], "content": "x"},
        {"content": "x", "role": "assistant"},
    ],
)
def test_message_fast_path_equals_general_path(wire: dict[str, Any]) -> None:
    def outcome(decode: Any) -> Any:
        try:
            return decode()
        except DecodeError as exc:
            return ("error", exc.path, exc.message)

    fast = outcome(lambda: _messages([copy.deepcopy(wire)], ORIGIN, set()))
    general = outcome(lambda: (_message(copy.deepcopy(wire), 0, ORIGIN, set()),))
    assert fast == general


IR_BLOCKS: list[Block] = [
    Text(text="hello"),
    Text(text="hi", extra={"anthropic": {"cache_control": {"type": "ephemeral"}}}),
    Text(text="hi", extra={"openai-chat": {"name": "x"}}),
    Thinking(text="t"),
    Thinking(text="t", signature="s"),
    Thinking(text="t", signature="s", origin=ORIGIN),
    Thinking(text="t", origin=Origin(dialect="openai-chat", carrier="reasoning_content")),
    Thinking(text="t", signature="s", origin=Origin(dialect="openai-responses")),
    Thinking(text="t", signature="s", origin=Origin(dialect="openai-chat", extra={"format": "unknown"})),
    Thinking(text="t", origin=Origin(dialect="openai-responses", extra={"id": "rs_1"})),
    Thinking(
        text="t", signature="s", origin=Origin(dialect="anthropic", extra={"format": "openai-responses-v1"})
    ),
    Thinking(text="t", signature="s", extra={"anthropic": {"x": 1}}),
    RedactedThinking(data="d"),
    RedactedThinking(data="d", origin=ORIGIN),
    RedactedThinking(data="d", origin=Origin(dialect="openai-responses")),
    ToolCall(id="c", name="f", arguments='{"a": 1}'),
    ToolCall(id="c", name="f", arguments=""),
    ToolCall(id="c", name="f", arguments="[1]"),
    ToolCall(id="c", name="f", arguments="{not json"),
    ToolResult(call_id="c", content="ok"),
    ToolResult(call_id="c", content="bad", is_error=True),
    ToolResult(call_id="c", content=(Text(text="r"),)),
    ToolResult(call_id="c", content="ok", extra={"anthropic": {"cache_control": {"type": "ephemeral"}}}),
    Opaque(dialect="anthropic", data={"type": "document"}),
    Opaque(dialect="openai-chat", data={"type": "x"}),
]


@pytest.mark.parametrize("block", IR_BLOCKS, ids=repr)
@pytest.mark.parametrize("assistant", [False, True])
def test_block_encode_fast_path_equals_general_path(block: Block, assistant: bool) -> None:
    fast_log, general_log = LossLog(), LossLog()
    fast = encode_blocks((Text(text="first"), block), 3, fast_log, assistant=assistant)
    general = [
        item
        for i, b in enumerate((Text(text="first"), block))
        if (item := encode_block(b, "messages[3].blocks", i, general_log, assistant=assistant)) is not None
    ]
    assert fast == general
    assert fast_log.items == general_log.items


@pytest.mark.parametrize("block", IR_BLOCKS, ids=repr)
def test_tool_message_fast_path_equals_general_path(block: Block) -> None:
    message = Message(role="tool", blocks=(block, ToolResult(call_id="c2", content="done")))
    results: list[dict[str, Any]] = []
    trailing: list[dict[str, Any]] = []
    log = LossLog()
    _merge_tool_message(message, 5, results, trailing, log)

    general_log = LossLog()
    items = [
        encode_block(b, "messages[5].blocks", i, general_log, assistant=False)
        for i, b in enumerate(message.blocks)
    ]
    expected_results = [
        item for b, item in zip(message.blocks, items, strict=True) if isinstance(b, ToolResult)
    ]
    expected_trailing = [
        item
        for b, item in zip(message.blocks, items, strict=True)
        if item is not None and not isinstance(b, ToolResult)
    ]
    if expected_trailing:
        general_log.add(
            "messages[5].blocks[1]", "order", "tool result moved before other content of the user turn"
        )
    assert results == expected_results
    assert trailing == expected_trailing
    assert log.items == general_log.items
