"""Anthropic responses: stop reasons, usage, exact round trips and errors."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from thinkwire.dialects.anthropic import CODEC
from thinkwire.errors import DecodeError
from thinkwire.ir import Origin, Response, Text, Thinking, Usage


def _response(*content: dict[str, Any], **fields: Any) -> dict[str, Any]:
    wire: dict[str, Any] = {
        "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF",
        "type": "message",
        "role": "assistant",
        "model": "claude-opus-4-6",
        "content": list(content),
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 25, "output_tokens": 40},
    }
    wire.update(fields)
    return wire


def _round_trip(wire: dict[str, Any]) -> Response:
    original = copy.deepcopy(wire)
    response = CODEC.decode_response(wire)
    encoded = CODEC.encode_response(response)
    assert encoded.value == original
    assert encoded.losses == ()
    return response


def test_thinking_origin_names_provider_and_model() -> None:
    wire = _response(
        {"type": "thinking", "thinking": "hm", "signature": "c2ln"}, {"type": "text", "text": "hi"}
    )
    response = CODEC.decode_response(wire, provider="anthropic")
    assert response.blocks[0] == Thinking(
        text="hm",
        signature="c2ln",
        origin=Origin(dialect="anthropic", provider="anthropic", model="claude-opus-4-6"),
    )


def test_thinking_without_signature_is_kept_unsigned() -> None:
    response = _round_trip(_response({"type": "thinking", "thinking": "from an Anthropic-compatible server"}))
    block = response.blocks[0]
    assert isinstance(block, Thinking)
    assert block.signature is None


@pytest.mark.parametrize(
    "reason", ["end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal"]
)
def test_known_stop_reasons_map_one_to_one(reason: str) -> None:
    assert _round_trip(_response(stop_reason=reason)).stop_reason == reason


def test_unknown_stop_reason_is_kept_raw_and_written_back() -> None:
    response = _round_trip(_response(stop_reason="model_context_window_exceeded"))
    assert response.stop_reason is None
    assert response.extra == {"anthropic": {"stop_reason": "model_context_window_exceeded"}}


def test_stop_sequence_and_null_stop_reason() -> None:
    assert (
        _round_trip(_response(stop_reason="stop_sequence", stop_sequence="</answer>")).stop_sequence
        == "</answer>"
    )
    assert _round_trip(_response(stop_reason=None)).stop_reason is None


def test_usage_maps_cache_reads_and_keeps_the_rest_as_it_came() -> None:
    usage = {
        "input_tokens": 12,
        "cache_creation_input_tokens": 2048,
        "cache_read_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 2048, "ephemeral_1h_input_tokens": 0},
        "output_tokens": 310,
        "server_tool_use": {"web_search_requests": 1},
        "service_tier": "standard",
    }
    response = _round_trip(_response(usage=usage))
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens, response.usage.cache_read_tokens) == (
        12,
        310,
        0,
    )
    assert set(response.usage.extra["anthropic"]) == {
        "cache_creation_input_tokens",
        "cache_creation",
        "server_tool_use",
        "service_tier",
    }


def test_null_usage_counts_round_trip() -> None:
    usage = {"input_tokens": 12, "cache_read_input_tokens": None, "output_tokens": 3}
    response = _round_trip(_response(usage=usage))
    assert response.usage == Usage(
        input_tokens=12, output_tokens=3, extra={"anthropic": {"cache_read_input_tokens": None}}
    )


def test_unknown_top_level_fields_round_trip() -> None:
    container = {"id": "container_011CZ", "expires_at": "2025-10-17T12:00:00Z"}
    management = {"applied_edits": [{"type": "clear_thinking_20251015", "cleared_thinking_turns": 2}]}
    response = _round_trip(_response(container=container, context_management=management))
    assert response.extra == {"anthropic": {"container": container, "context_management": management}}


def test_server_tool_blocks_stay_opaque_in_order() -> None:
    wire = _response(
        {"type": "text", "text": "Searching."},
        {
            "type": "server_tool_use",
            "id": "srvtoolu_01",
            "name": "web_search",
            "input": {"query": "lisbon rain"},
        },
        {
            "type": "web_search_tool_result",
            "tool_use_id": "srvtoolu_01",
            "content": [
                {
                    "type": "web_search_result",
                    "url": "https://example.com",
                    "title": "t",
                    "encrypted_content": "Eu8B",
                }
            ],
        },
        {
            "type": "text",
            "text": "Rain is likely.",
            "citations": [
                {"type": "web_search_result_location", "url": "https://example.com", "cited_text": "rain"}
            ],
        },
    )
    response = _round_trip(wire)
    assert [type(b).__name__ for b in response.blocks] == ["Text", "Opaque", "Opaque", "Text"]


def test_encoding_fills_counts_anthropic_clients_require() -> None:
    encoded = CODEC.encode_response(
        Response(id="msg_1", model="m", blocks=(Text(text="hi"),), stop_reason="end_turn")
    )
    assert encoded.value["usage"] == {"input_tokens": 0, "output_tokens": 0}
    assert [(loss.path, loss.kind) for loss in encoded.losses] == [
        ("usage.input_tokens", "value"),
        ("usage.output_tokens", "value"),
    ]


def test_encoding_an_error_stop_reason_reports_it() -> None:
    encoded = CODEC.encode_response(
        Response(stop_reason="error", usage=Usage(input_tokens=1, output_tokens=0))
    )
    assert encoded.value["stop_reason"] is None
    assert [(loss.path, loss.kind) for loss in encoded.losses] == [("stop_reason", "value")]


def test_reasoning_token_count_has_no_anthropic_slot() -> None:
    usage = Usage(input_tokens=1, output_tokens=9, reasoning_tokens=7)
    encoded = CODEC.encode_response(Response(usage=usage))
    assert [(loss.path, loss.kind) for loss in encoded.losses] == [("usage.reasoning_tokens", "field")]


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        (
            _response({"type": "thinking", "thinking": "x", "signature": 42}),
            "content[0].signature: expected a string, got the number 42",
        ),
        (_response(content="hello"), "content: expected an array, got a string"),
        ({"type": "message", "role": "assistant"}, "content: required field is missing"),
        (_response(stop_reason=1), "stop_reason: expected a string, got the number 1"),
        (_response(usage={"input_tokens": "12"}), "usage.input_tokens: expected an integer, got a string"),
        (_response(usage=[]), "usage: expected an object, got an array"),
        (
            {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
            "an error response, not a message: {'type': 'overloaded_error', 'message': 'Overloaded'}",
        ),
    ],
)
def test_malformed_responses_name_the_exact_spot(wire: Any, message: str) -> None:
    with pytest.raises(DecodeError) as info:
        CODEC.decode_response(wire)
    assert str(info.value) == message
