"""The Responses codec's fast paths write exactly what its general paths write.

Each fast path handles one common shape inline; these tests run the same inputs through the
general code (``*_general``, or the equivalent longer route) and compare values, key order
and losses.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from thinkwire.dialects.openai_responses.items import encode_call, plain_turn
from thinkwire.dialects.openai_responses.reasoning import (
    decode_reasoning,
    decode_reasoning_general,
    encode_reasoning,
    encode_reasoning_general,
)
from thinkwire.dialects.openai_responses.request import _turn
from thinkwire.errors import DecodeError
from thinkwire.ir import Block, LossLog, Message, Origin, Text, Thinking, ToolCall

ENC = "gAAAAABouaT2fvv_yJOCwYdV5alURK7--cjllvSo75wm7cATg-8REZU3Z_Zc"


def _summary(*parts: Any) -> dict[str, Any]:
    return {"type": "reasoning", "summary": list(parts), "encrypted_content": ENC}


REASONING_ITEMS = [
    # the fast shape
    _summary({"type": "summary_text", "text": "Checking the city."}),
    # near misses: each must fall through to the general path
    _summary({"type": "summary_text", "text": ""}),
    _summary({"type": "summary_text", "text": "a", "extra": 1}),
    _summary({"type": "other_text", "text": "a"}),
    _summary({"type": "summary_text", "text": "a"}, {"type": "summary_text", "text": "b"}),
    _summary(),
    {"type": "reasoning", "summary": [{"type": "summary_text", "text": "a"}], "encrypted_content": None},
    {"type": "reasoning", "summary": [{"type": "summary_text", "text": "a"}], "id": "rs_1"},
    {"type": "reasoning", "summary": [{"type": "summary_text", "text": "a"}], "content": []},
    {"summary": [{"type": "summary_text", "text": "a"}], "encrypted_content": ENC, "id": "rs_1"},
    {
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": "a"}],
        "encrypted_content": ENC,
        "x": 1,
    },
]


@pytest.mark.parametrize("item", REASONING_ITEMS)
@pytest.mark.parametrize(("provider", "model"), [(None, None), ("openai", "gpt-5")])
def test_decode_reasoning_fast_path_matches_the_general_path(
    item: dict[str, Any], provider: str | None, model: str | None
) -> None:
    original = copy.deepcopy(item)
    assert decode_reasoning(item, "input", 2, provider, model) == decode_reasoning_general(
        item, "input", 2, provider, model
    )
    assert item == original


@pytest.mark.parametrize(
    "item",
    [
        {"type": "reasoning", "summary": [{"type": "summary_text", "text": 5}], "encrypted_content": ENC},
        {"type": "reasoning", "summary": [{"type": "summary_text", "text": "a"}], "encrypted_content": 5},
        {"type": "reasoning", "summary": ["a"], "encrypted_content": ENC},
    ],
)
def test_decode_reasoning_fast_path_leaves_errors_to_the_general_path(item: dict[str, Any]) -> None:
    with pytest.raises(DecodeError) as fast:
        decode_reasoning(item, "input", 2, None, None)
    with pytest.raises(DecodeError) as general:
        decode_reasoning_general(item, "input", 2, None, None)
    assert str(fast.value) == str(general.value)


OURS = Origin(dialect="openai-responses", provider="openai", model="gpt-5")
THINKING_BLOCKS = [
    # the fast shapes: no origin, or ours with nothing stored; with and without signature/text
    Thinking(text="Checking the city.", signature=ENC),
    Thinking(text="Checking the city."),
    Thinking(text="", signature=ENC),
    Thinking(text=""),
    Thinking(text="Checking the city.", signature=ENC, origin=OURS),
    Thinking(text="", origin=OURS),
    # general only
    Thinking(text="a", signature=ENC, origin=Origin(dialect="openai-responses", extra={"id": "rs_1"})),
    Thinking(text="a", signature="sig", origin=Origin(dialect="anthropic")),
    Thinking(text="a", extra={"openai-responses": {"x": 1}}),
]


@pytest.mark.parametrize("block", THINKING_BLOCKS)
@pytest.mark.parametrize("message", [3, -1])
def test_encode_reasoning_fast_path_matches_the_general_path(block: Thinking, message: int) -> None:
    fast_log, general_log = LossLog(), LossLog()
    fast = encode_reasoning(block, fast_log, message, 1)
    general = encode_reasoning_general(block, general_log, message, 1)
    assert list(fast.items()) == list(general.items())  # same keys, same order, same values
    assert fast_log.items == general_log.items


def test_encode_call_fast_path_matches_the_general_path() -> None:
    log = LossLog()
    bare = ToolCall(id="call_1", name="lookup", arguments='{"q":1}')
    # an empty own-dialect extra takes the general path and must write the same item
    tagged = ToolCall(id="call_1", name="lookup", arguments='{"q":1}', extra={"openai-responses": {}})
    fast, general = encode_call(bare, log, 0, 0), encode_call(tagged, log, 0, 0)
    assert list(fast.items()) == list(general.items())
    assert log.items == []


TURNS: list[list[Block]] = [
    [Thinking(text="a", signature=ENC, origin=OURS), ToolCall(id="c", name="n", arguments="{}")],
    [Text(text="a"), Text(text="b", extra={"openai-responses": {"plain": True}})],
    [Text(text="a", extra={"openai-responses": {"plain": True}})],
    [Text(text="a")],
]


@pytest.mark.parametrize("blocks", TURNS)
def test_turn_fast_path_matches_plain_turn(blocks: list[Block]) -> None:
    final, plain = plain_turn(list(blocks))
    assert _turn(list(blocks)) == Message(role="assistant", blocks=final, plain=plain)
