"""OpenAI Responses response objects: decoding, stop reasons, usage, errors, foreign IR."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from thinkwire.dialects.openai_responses import CODEC
from thinkwire.errors import DecodeError
from thinkwire.ir import (
    Opaque,
    Origin,
    RedactedThinking,
    Response,
    StopReason,
    Text,
    Thinking,
    ToolCall,
    Usage,
)

USAGE = {
    "input_tokens": 57,
    "input_tokens_details": {"cached_tokens": 0},
    "output_tokens": 120,
    "output_tokens_details": {"reasoning_tokens": 64},
    "total_tokens": 177,
}


def response(*output: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "id": "resp_68b5ebab461881969ed94149372c2a53",
        "object": "response",
        "created_at": 1756752811,
        "status": "completed",
        "error": None,
        "incomplete_details": None,
        "model": "o4-mini-2025-04-16",
        "output": list(output),
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": USAGE,
        **fields,
    }


def message(*texts: str, **fields: Any) -> dict[str, Any]:
    parts = [{"type": "output_text", "annotations": [], "logprobs": [], "text": t} for t in texts]
    return {
        "id": "msg_1",
        "type": "message",
        "status": "completed",
        "content": parts,
        "role": "assistant",
        **fields,
    }


CALL = {
    "id": "fc_1",
    "type": "function_call",
    "status": "completed",
    "arguments": '{"city":"Paris"}',
    "call_id": "call_1",
    "name": "get_weather",
}


def round_trip(wire: dict[str, Any]) -> Response:
    original = copy.deepcopy(wire)
    decoded = CODEC.decode_response(wire)
    encoded = CODEC.encode_response(decoded)
    assert encoded.value == original
    assert encoded.losses == ()
    return decoded


@pytest.mark.parametrize(
    ("status", "details", "output", "stop"),
    [
        ("completed", None, [message("Hi.")], "end_turn"),
        ("completed", None, [CALL], "tool_use"),
        (
            "completed",
            None,
            [{"type": "custom_tool_call", "call_id": "c", "name": "apply_patch", "input": "x"}],
            "tool_use",
        ),
        ("incomplete", {"reason": "max_output_tokens"}, [], "max_tokens"),
        ("incomplete", {"reason": "content_filter"}, [message("I can")], "refusal"),
        ("failed", None, [], "error"),
        ("in_progress", None, [], None),
    ],
)
def test_stop_reason(status: str, details: Any, output: list[Any], stop: StopReason | None) -> None:
    decoded = round_trip(response(*output, status=status, incomplete_details=details))
    assert decoded.stop_reason == stop


def test_output_items_become_ordered_blocks_and_echoes_stay_in_extra() -> None:
    reasoning = {
        "id": "rs_1",
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": "**Plan**\n\nCall it."}],
    }
    decoded = round_trip(
        response(reasoning, CALL, message("Checking."), instructions="Be brief.", store=True)
    )
    assert [type(b) for b in decoded.blocks] == [Thinking, ToolCall, Text]
    thinking = decoded.blocks[0]
    assert isinstance(thinking, Thinking)
    assert thinking.origin == Origin(
        dialect="openai-responses", model="o4-mini-2025-04-16", extra={"id": "rs_1"}
    )
    assert decoded.extra["openai-responses"]["instructions"] == "Be brief."
    assert decoded.usage == Usage(
        input_tokens=57, output_tokens=120, reasoning_tokens=64, cache_read_tokens=0
    )


def test_provider_is_recorded_on_reasoning() -> None:
    wire = response({"id": "rs_1", "type": "reasoning", "summary": [], "encrypted_content": "gAAAA"})
    block = CODEC.decode_response(wire, provider="azure").blocks[0]
    assert isinstance(block, RedactedThinking)
    assert block.origin is not None
    assert block.origin.provider == "azure"


def test_message_items_with_anything_but_text_are_kept_whole() -> None:
    refusal = {
        "id": "msg_r",
        "type": "message",
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "refusal", "refusal": "I can't help with that."}],
    }
    empty = {"id": "msg_e", "type": "message", "status": "completed", "role": "assistant", "content": []}
    decoded = round_trip(response(refusal, empty))
    assert decoded.blocks == (
        Opaque(dialect="openai-responses", data=refusal),
        Opaque(dialect="openai-responses", data=empty),
    )


def test_several_parts_and_several_message_items() -> None:
    decoded = round_trip(response(message("One.", "Two."), message("Three.", id="msg_2")))
    assert [b.text for b in decoded.blocks] == ["One.", "Two.", "Three."]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "usage",
    [
        {"input_tokens": 10, "output_tokens": 3, "total_tokens": 13},
        {"input_tokens": 10, "input_tokens_details": None, "output_tokens": 3, "total_tokens": 13},
        {**USAGE, "input_tokens_details": {"cached_tokens": 0, "audio_tokens": 0}},
        {**USAGE, "total_tokens": 999},
        {"input_tokens": 10, "output_tokens": 3},
    ],
)
def test_every_usage_shape_round_trips(usage: dict[str, Any]) -> None:
    decoded = round_trip(response(message("Hi."), usage=usage))
    assert decoded.usage is not None
    assert (decoded.usage.input_tokens, decoded.usage.output_tokens) == (
        usage["input_tokens"],
        usage["output_tokens"],
    )


def test_the_common_usage_shape_adds_nothing_to_extra() -> None:
    assert round_trip(response(message("Hi."))).usage == Usage(
        input_tokens=57, output_tokens=120, reasoning_tokens=64, cache_read_tokens=0
    )


@pytest.mark.parametrize(
    ("wire", "path", "message"),
    [
        ("resp", "", "expected an object"),
        ({"id": "resp_1", "status": "completed"}, "output", "required field is missing"),
        ({**response(), "output": ["x"]}, "output[0]", "expected an object"),
        (response({"id": "x"}), "output[0].type", "required field is missing"),
        (response({"type": "function_call", "call_id": "c", "name": "f"}), "output[0].arguments", "missing"),
        (
            response(
                {
                    "type": "reasoning",
                    "summary": [{"type": "summary_text", "text": "a"}, {"type": "summary_text"}],
                }
            ),
            "output[0].summary[1].text",
            "expected a string, got null",
        ),
        (
            response(message("ok", content=[{"type": "output_text", "text": None}])),
            "output[0].content[0].text",
            "string",
        ),
        (response(usage=[1]), "usage", "expected an object"),
        (response(usage={"input_tokens": "9"}), "usage.input_tokens", "expected an integer"),
        (response(model=4), "model", "expected a string"),
    ],
)
def test_bad_responses_name_the_spot(wire: Any, path: str, message: str) -> None:
    with pytest.raises(DecodeError) as info:
        CODEC.decode_response(wire)
    assert (info.value.path, message in info.value.message) == (path, True)


# ---------------------------------------------------------------- other dialects' responses


def test_a_foreign_response_gets_the_fields_an_sdk_needs() -> None:
    foreign = Response(
        id="msg_01XFDUDYJgAACzvnptvVoYEL",
        model="claude-sonnet-4-5",
        blocks=(
            Thinking(text="Compute.", signature="EqQBCkYIBxgC", origin=Origin(dialect="anthropic")),
            Text(text="4"),
        ),
        stop_reason="end_turn",
        usage=Usage(input_tokens=12, output_tokens=30),
    )
    encoded = CODEC.encode_response(foreign)
    assert encoded.value == {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "object": "response",
        "created_at": 0,
        "status": "completed",
        "error": None,
        "incomplete_details": None,
        "model": "claude-sonnet-4-5",
        "output": [
            {"type": "reasoning", "summary": [{"type": "summary_text", "text": "Compute."}]},
            {
                "type": "message",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "annotations": [], "text": "4"}],
            },
        ],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": {
            "input_tokens": 12,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": 30,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 42,
        },
    }
    assert [(x.path, x.kind) for x in encoded.losses] == [("blocks[0]", "signature")]


@pytest.mark.parametrize(
    ("stop", "status", "details"),
    [
        ("max_tokens", "incomplete", {"reason": "max_output_tokens"}),
        ("refusal", "incomplete", {"reason": "content_filter"}),
        ("error", "failed", None),
        ("tool_use", "completed", None),
    ],
)
def test_foreign_stop_reasons_map_onto_status(stop: StopReason, status: str, details: Any) -> None:
    value = CODEC.encode_response(Response(blocks=(Text(text="x"),), stop_reason=stop)).value
    assert (value["status"], value["incomplete_details"]) == (status, details)
    assert "id" not in value
    assert "model" not in value


def test_a_stop_sequence_has_no_place() -> None:
    encoded = CODEC.encode_response(
        Response(blocks=(Text(text="x"),), stop_reason="stop_sequence", stop_sequence="END")
    )
    assert encoded.value["status"] == "completed"
    assert [(x.path, x.kind) for x in encoded.losses] == [("stop_sequence", "field")]


def test_interleaved_foreign_turn_keeps_its_order() -> None:
    blocks = (
        Thinking(text="first", origin=Origin(dialect="anthropic")),
        ToolCall(id="toolu_1", name="f", arguments='{"a":1}'),
        Thinking(text="second", origin=Origin(dialect="anthropic")),
        ToolCall(id="toolu_2", name="f", arguments='{"a":2}'),
        Text(text="done"),
    )
    value = CODEC.encode_response(Response(blocks=blocks, stop_reason="tool_use")).value
    assert [item["type"] for item in value["output"]] == [
        "reasoning",
        "function_call",
        "reasoning",
        "function_call",
        "message",
    ]
    back = CODEC.decode_response(value)
    assert [getattr(b, "text", getattr(b, "id", None)) for b in back.blocks] == [
        "first",
        "toolu_1",
        "second",
        "toolu_2",
        "done",
    ]
