"""Whatever the Anthropic decoder accepts comes back exactly from its encoder (law a).

Shapes found by mutating golden fixtures: optional fields sent as explicit ``null`` (kept in
the record's ``extra`` and written back), fields the encoder always writes (``type``,
``role``, ``stop_reason``, ``stop_sequence``) and what happens when they are odd or missing.
"""

from __future__ import annotations

import copy
from typing import Any

import msgspec
import pytest

from thinkwire.dialects.anthropic import CODEC
from thinkwire.dialects.anthropic.blocks import decode_block, decode_blocks
from thinkwire.dialects.base import get_codec
from thinkwire.dialects.sse import parse
from thinkwire.errors import DecodeError
from thinkwire.ir import (
    CARRIERS,
    DIALECTS,
    Origin,
    Thinking,
    ThinkingConfig,
    ToolResult,
    fold,
    response_events,
)

ORIGIN = Origin(dialect="anthropic")

TOOL_TURN = {
    "role": "assistant",
    "content": [{"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": 1}}],
}


def _request(**fields: Any) -> dict[str, Any]:
    wire: dict[str, Any] = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": "hi"}],
    }
    wire.update(fields)
    return wire


def _response(**fields: Any) -> dict[str, Any]:
    wire: dict[str, Any] = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [{"type": "text", "text": "hello"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 3, "output_tokens": 1},
    }
    wire.update(fields)
    return wire


def _exact_request(wire: dict[str, Any]) -> None:
    encoded = CODEC.encode_request(CODEC.decode_request(copy.deepcopy(wire)))
    assert encoded.value == wire
    assert encoded.losses == ()


def _exact_response(wire: dict[str, Any]) -> None:
    encoded = CODEC.encode_response(CODEC.decode_response(copy.deepcopy(wire)))
    assert encoded.value == wire
    assert encoded.losses == ()


def _no_losses_elsewhere(ir: Any) -> None:
    """A kept null carries nothing, so other dialects report no loss for it."""
    for target in DIALECTS:
        if target == "anthropic":
            continue
        codec = get_codec(target)
        for carrier in CARRIERS if target == "openai-chat" else (None,):
            if hasattr(ir, "messages"):
                encoded = codec.encode_request(ir, carrier=carrier)
            else:
                encoded = codec.encode_response(ir, carrier=carrier)
            assert not [loss for loss in encoded.losses if loss.kind == "field"], target


# ---------------------------------------------------------------------------------------------
# requests: explicit nulls


@pytest.mark.parametrize(
    "key",
    [
        "model",
        "max_tokens",
        "temperature",
        "top_p",
        "top_k",
        "stop_sequences",
        "stream",
        "system",
        "tools",
        "tool_choice",
        "thinking",
        "output_config",
    ],
)
def test_top_level_null_comes_back(key: str) -> None:
    wire = _request(**{key: None})
    _exact_request(wire)
    request = CODEC.decode_request(copy.deepcopy(wire))
    assert request.extra == {"anthropic": {key: None}}
    _no_losses_elsewhere(request)


def test_null_output_config_beside_thinking_comes_back() -> None:
    _exact_request(_request(thinking={"type": "adaptive"}, output_config=None))
    _exact_request(_request(thinking=None, output_config={"effort": "high"}))


def test_kept_null_never_overwrites_a_value_the_ir_supplies() -> None:
    request = CODEC.decode_request(_request(model=None))
    encoded = CODEC.encode_request(msgspec.structs.replace(request, model="claude-opus-4-6"))
    assert encoded.value["model"] == "claude-opus-4-6"


@pytest.mark.parametrize(
    "tool",
    [
        {"name": "f", "description": None, "input_schema": {"type": "object"}},
        {"name": "f", "description": "d", "input_schema": None},
        {"name": "f", "description": None, "input_schema": None, "type": None},
    ],
)
def test_tool_null_fields_come_back(tool: dict[str, Any]) -> None:
    wire = _request(tools=[tool])
    _exact_request(wire)
    _no_losses_elsewhere(CODEC.decode_request(copy.deepcopy(wire)))


@pytest.mark.parametrize(
    "choice",
    [
        {"type": "auto", "disable_parallel_tool_use": None},
        {"type": "any", "name": None},
        {"type": "tool", "name": "f", "disable_parallel_tool_use": None},
    ],
)
def test_tool_choice_null_fields_come_back(choice: dict[str, Any]) -> None:
    _exact_request(_request(tools=[{"name": "f"}], tool_choice=choice))


def test_tool_choice_tool_still_requires_a_name() -> None:
    with pytest.raises(DecodeError) as info:
        CODEC.decode_request(_request(tool_choice={"type": "tool", "name": None}))
    assert info.value.path == "tool_choice.name"


@pytest.mark.parametrize(
    "thinking",
    [
        {"type": "enabled", "budget_tokens": None},
        {"type": "adaptive", "display": None},
        {"type": "something_new", "budget_tokens": None, "display": None},
    ],
)
def test_thinking_null_fields_come_back(thinking: dict[str, Any]) -> None:
    _exact_request(_request(thinking=thinking))


@pytest.mark.parametrize(
    "output",
    [{"effort": None}, {"effort": None, "format": {"type": "json_schema"}}, {}, {"effort": "low", "x": 1}],
)
def test_output_config_effort_null_comes_back(output: dict[str, Any]) -> None:
    _exact_request(_request(thinking={"type": "adaptive"}, output_config=output))
    _exact_request(_request(output_config=output))


def test_effort_from_the_ir_wins_over_a_kept_null_effort() -> None:
    request = CODEC.decode_request(
        _request(thinking={"type": "adaptive"}, output_config={"effort": None, "x": 1})
    )
    assert request.thinking is not None
    edited = msgspec.structs.replace(
        request, thinking=msgspec.structs.replace(request.thinking, effort="high")
    )
    assert CODEC.encode_request(edited).value["output_config"] == {"effort": "high", "x": 1}
    assert CODEC.encode_request(
        msgspec.structs.replace(request, thinking=ThinkingConfig(effort="low"))
    ).value["output_config"] == {"effort": "low", "x": 1}


# ---------------------------------------------------------------------------------------------
# blocks


NULL_BLOCKS: list[tuple[dict[str, Any], str]] = [
    ({"type": "thinking", "thinking": "x", "signature": None}, "assistant"),
    ({"type": "tool_result", "tool_use_id": "toolu_1", "content": []}, "user"),
    ({"type": "tool_result", "tool_use_id": "toolu_1", "content": None}, "user"),
    ({"type": "tool_result", "tool_use_id": "toolu_1"}, "user"),
    ({"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok", "is_error": None}, "user"),
    ({"type": "tool_result", "tool_use_id": "toolu_1", "content": [], "is_error": False}, "user"),
    ({"type": "tool_result", "tool_use_id": "toolu_1", "content": None, "is_error": True}, "user"),
]


@pytest.mark.parametrize(("block", "role"), NULL_BLOCKS, ids=lambda v: str(v))
def test_block_null_or_empty_fields_come_back(block: dict[str, Any], role: str) -> None:
    messages: list[dict[str, Any]] = [{"role": "user", "content": "go"}]
    if role == "user":
        messages.append(TOOL_TURN)
    messages.append({"role": role, "content": [block]})
    wire = _request(messages=messages)
    _exact_request(wire)
    if block.get("is_error") is None:  # an error flag (even ``false``) is a value elsewhere
        _no_losses_elsewhere(CODEC.decode_request(copy.deepcopy(wire)))


@pytest.mark.parametrize(("block", "role"), NULL_BLOCKS, ids=lambda v: str(v))
def test_block_fast_path_equals_general_path_for_null_shapes(block: dict[str, Any], role: str) -> None:
    fast_calls, general_calls = {"toolu_1"}, {"toolu_1"}
    fast = decode_blocks([copy.deepcopy(block)], 0, ORIGIN, fast_calls)
    general = decode_block(copy.deepcopy(block), "messages[0].content[0]", ORIGIN, general_calls)
    assert fast == (general,)
    assert fast_calls == general_calls


def test_null_signature_reads_as_unsigned() -> None:
    response = CODEC.decode_response(
        _response(content=[{"type": "thinking", "thinking": "x", "signature": None}])
    )
    block = response.blocks[0]
    assert isinstance(block, Thinking)
    assert block.signature is None
    assert block.extra == {"anthropic": {"signature": None}}


def test_empty_tool_result_content_reads_as_no_content() -> None:
    request = CODEC.decode_request(
        _request(
            messages=[
                {"role": "user", "content": "go"},
                TOOL_TURN,
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": []}],
                },
            ]
        )
    )
    result = request.messages[2].blocks[0]
    assert isinstance(result, ToolResult)
    assert result.content == ()
    assert result.extra == {"anthropic": {"content": []}}


# ---------------------------------------------------------------------------------------------
# responses


@pytest.mark.parametrize("value", [None, "", "user", 0, True, [], {}, {"type": "text"}])
def test_response_role_other_than_assistant_is_an_error(value: Any) -> None:
    with pytest.raises(DecodeError) as info:
        CODEC.decode_response(_response(role=value))
    assert info.value.path == "role"


@pytest.mark.parametrize("value", [None, "", "assistant", "text", 3, False, [1], {"id": "x"}])
def test_response_type_other_than_message_is_an_error(value: Any) -> None:
    with pytest.raises(DecodeError) as info:
        CODEC.decode_response(_response(type=value))
    assert info.value.path == "type"


@pytest.mark.parametrize("key", ["type", "role"])
def test_response_type_and_role_are_required(key: str) -> None:
    wire = _response()
    del wire[key]
    with pytest.raises(DecodeError) as info:
        CODEC.decode_response(wire)
    assert info.value.path == key
    assert "required field is missing" in str(info.value)


@pytest.mark.parametrize("key", ["id", "model"])
def test_response_null_id_and_model_come_back(key: str) -> None:
    wire = _response(**{key: None})
    _exact_response(wire)
    response = CODEC.decode_response(copy.deepcopy(wire))
    assert response.extra == {"anthropic": {key: None}}
    _no_losses_elsewhere(response)


@pytest.mark.parametrize("missing", [("stop_reason",), ("stop_sequence",), ("stop_reason", "stop_sequence")])
def test_response_without_stop_fields_comes_back_without_them(missing: tuple[str, ...]) -> None:
    wire = _response()
    for key in missing:
        del wire[key]
    _exact_response(wire)
    response = CODEC.decode_response(copy.deepcopy(wire))
    _no_losses_elsewhere(response)


def test_absent_stop_fields_yield_to_values_the_ir_supplies() -> None:
    wire = _response()
    del wire["stop_reason"]
    response = CODEC.decode_response(wire)
    edited = msgspec.structs.replace(response, stop_reason="max_tokens")
    assert CODEC.encode_response(edited).value["stop_reason"] == "max_tokens"


def test_absent_note_and_kept_nulls_in_a_stream() -> None:
    """The ``$absent`` note never reaches the wire of a stream (which always sends both
    fields); a kept ``"id": null`` goes into ``message_start`` and decodes back the same."""
    wire = _response(id=None)
    del wire["stop_sequence"]
    response = CODEC.decode_response(wire)
    encoder = CODEC.stream_encoder()
    data = b"".join(b"".join(encoder.feed(event)) for event in response_events(response))
    data += b"".join(encoder.close())
    assert b"$absent" not in data
    assert encoder.losses == []
    decoder = CODEC.stream_decoder()
    events = [out for event in parse(data) for out in decoder.feed(event)] + decoder.close()
    folded = fold(events)
    assert folded.extra == {"anthropic": {"id": None}}
    assert folded.blocks == response.blocks
