"""OpenAI Chat responses: choices, finish reasons, usage, vendor fields, foreign responses."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from thinkwire.dialects.openai_chat import CODEC
from thinkwire.errors import DecodeError
from thinkwire.ir import Origin, RedactedThinking, Response, Text, Thinking, ToolCall, Usage

MESSAGE = {"role": "assistant", "content": "Hello!"}


def _response(**fields: Any) -> dict[str, Any]:
    choice = {"index": 0, "message": MESSAGE, "logprobs": None, "finish_reason": "stop"}
    base = {
        "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
        "object": "chat.completion",
        "created": 1741570283,
        "model": "gpt-4o-2024-08-06",
    }
    return {**base, "choices": [choice], **fields}


def _round_trip(wire: dict[str, Any]) -> Response:
    response = CODEC.decode_response(wire)
    encoded = CODEC.encode_response(response)
    assert encoded.value == wire
    assert encoded.losses == ()
    return response


@pytest.mark.parametrize(
    ("finish", "stop_reason"),
    [
        ("stop", "end_turn"),
        ("tool_calls", "tool_use"),
        ("length", "max_tokens"),
        ("content_filter", "refusal"),
    ],
)
def test_finish_reasons_map_both_ways(finish: str, stop_reason: str) -> None:
    wire = _response()
    wire["choices"][0]["finish_reason"] = finish
    assert _round_trip(wire).stop_reason == stop_reason


@pytest.mark.parametrize("finish", ["insufficient_system_resource", "function_call", None])
def test_unmapped_finish_reason_stays_raw(finish: str | None) -> None:
    wire = _response()
    wire["choices"][0]["finish_reason"] = finish
    response = _round_trip(wire)
    assert response.stop_reason is None
    assert response.extra["openai-chat"]["choices"][0]["finish_reason"] == finish


def test_vllm_response_with_its_nulls_round_trips() -> None:
    wire = {
        "id": "chatcmpl-1f2e3d4c5b6a",
        "object": "chat.completion",
        "created": 1763813340,
        "model": "Qwen/Qwen3-8B",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "408",
                    "refusal": None,
                    "annotations": None,
                    "audio": None,
                    "function_call": None,
                    "tool_calls": [],
                    "reasoning": "17 * 24 = 408.",
                    "reasoning_content": None,
                },
                "logprobs": None,
                "finish_reason": "stop",
                "stop_reason": None,
                "token_ids": None,
            }
        ],
        "service_tier": None,
        "system_fingerprint": None,
        "usage": {
            "prompt_tokens": 18,
            "total_tokens": 30,
            "completion_tokens": 12,
            "prompt_tokens_details": None,
        },
        "prompt_logprobs": None,
        "prompt_token_ids": None,
        "kv_transfer_params": None,
    }
    response = _round_trip(wire)
    thinking, text = response.blocks
    assert isinstance(thinking, Thinking)
    assert thinking.origin is not None
    assert (thinking.text, thinking.origin.carrier, thinking.origin.model) == (
        "17 * 24 = 408.",
        "reasoning",
        "Qwen/Qwen3-8B",
    )
    assert text == Text(text="408")


@pytest.mark.parametrize(
    "change",
    [
        lambda w: w.pop("object"),
        lambda w: w.update(object="text_completion"),
        lambda w: w.update(choices=[]),
        lambda w: w["choices"].append(
            {"index": 1, "message": {"role": "assistant", "content": "Hi!"}, "finish_reason": "stop"}
        ),
        lambda w: w["choices"][0].pop("index"),
        lambda w: w["choices"][0].update(index=2),
        lambda w: w["choices"][0]["message"].update(
            content=None,
            tool_calls=[{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
        ),
        lambda w: w["choices"][0]["message"].update(content=""),
        lambda w: w.update(usage=None),
    ],
)
def test_odd_response_shapes_round_trip(change: Any) -> None:
    wire = copy.deepcopy(_response())
    change(wire)
    _round_trip(wire)


@pytest.mark.parametrize(
    "usage",
    [
        {"prompt_tokens": 19, "completion_tokens": 10, "total_tokens": 29},
        {"prompt_tokens": 19, "completion_tokens": 10},
        {"prompt_tokens": 19, "completion_tokens": 10, "total_tokens": 31},
        {
            "prompt_tokens": 1117,
            "completion_tokens": 46,
            "total_tokens": 1163,
            "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 32,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
            },
        },
        {
            "prompt_tokens": 5,
            "completion_tokens": 1,
            "total_tokens": 6,
            "prompt_tokens_details": None,
            "completion_tokens_details": {},
        },
    ],
)
def test_usage_round_trips(usage: dict[str, Any]) -> None:
    _round_trip(_response(usage=usage))


def test_usage_details_map_onto_the_ir() -> None:
    usage = {
        "prompt_tokens": 1117,
        "completion_tokens": 46,
        "total_tokens": 1163,
        "prompt_tokens_details": {"cached_tokens": 1024},
        "completion_tokens_details": {"reasoning_tokens": 32},
        "prompt_cache_hit_tokens": 1024,
    }
    decoded = CODEC.decode_response(_response(usage=usage)).usage
    assert decoded is not None
    assert (
        decoded.input_tokens,
        decoded.output_tokens,
        decoded.reasoning_tokens,
        decoded.cache_read_tokens,
    ) == (1117, 46, 32, 1024)


@pytest.mark.parametrize(
    ("wire", "path", "message"),
    [
        ([], "", "expected an object"),
        ({"id": "x"}, "choices", "required field is missing"),
        ({"choices": [3]}, "choices[0]", "expected an object"),
        ({"choices": [{"index": 0}]}, "choices[0].message", "required field is missing"),
        (
            {"choices": [{"message": {"role": "assistant", "content": 1}}]},
            "choices[0].message.content",
            "expected a string",
        ),
        (
            {"choices": [{"message": MESSAGE, "finish_reason": 1}]},
            "choices[0].finish_reason",
            "expected a string",
        ),
        ({"choices": [], "usage": "lots"}, "usage", "expected an object"),
        ({"choices": [], "usage": {"prompt_tokens": "5"}}, "usage.prompt_tokens", "expected an integer"),
    ],
)
def test_bad_responses_name_the_spot(wire: Any, path: str, message: str) -> None:
    with pytest.raises(DecodeError) as caught:
        CODEC.decode_response(wire)
    assert caught.value.path == path
    assert message in caught.value.message


def test_provider_and_model_are_recorded_in_the_origin() -> None:
    wire = _response()
    wire["choices"][0]["message"] = {"role": "assistant", "content": "x", "reasoning_content": "why"}
    thinking = CODEC.decode_response(wire, provider="deepseek").blocks[0]
    assert isinstance(thinking, Thinking)
    assert thinking.origin == Origin(
        dialect="openai-chat", carrier="reasoning_content", provider="deepseek", model="gpt-4o-2024-08-06"
    )


def test_foreign_response_is_written_as_one_string_with_losses() -> None:
    claude = Origin(dialect="anthropic", model="claude-sonnet-4-5")
    response = Response(
        id="msg_01XFDUDYJgAACzvnptvVoYEL",
        model="claude-sonnet-4-5",
        blocks=(
            Thinking(text="Check the docs first.", signature="EqQBCkgI", origin=claude),
            RedactedThinking(data="EmwKAhgB", origin=claude),
            Text(text="Here is the answer"),
            Text(
                text=" in two parts.",
                extra={"anthropic": {"citations": [{"type": "char_location", "cited_text": "two"}]}},
            ),
            ToolCall(id="toolu_01", name="search", arguments='{"q": "docs"}'),
        ),
        stop_reason="pause_turn",
        stop_sequence="###",
        usage=Usage(
            input_tokens=12,
            output_tokens=30,
            reasoning_tokens=20,
            extra={"anthropic": {"service_tier": "standard"}},
        ),
    )
    encoded = CODEC.encode_response(response)
    assert encoded.value == {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "object": "chat.completion",
        "model": "claude-sonnet-4-5",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Here is the answer in two parts.",
                    "reasoning_content": "Check the docs first.",
                    "tool_calls": [
                        {
                            "id": "toolu_01",
                            "type": "function",
                            "function": {"name": "search", "arguments": '{"q": "docs"}'},
                        }
                    ],
                },
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 12,
            "completion_tokens": 30,
            "total_tokens": 42,
            "completion_tokens_details": {"reasoning_tokens": 20},
        },
    }
    assert [(loss.path, loss.kind) for loss in encoded.losses] == [
        ("blocks[3].citations", "field"),
        ("blocks[0]", "signature"),
        ("blocks[1]", "redacted"),
        ("stop_reason", "value"),
        ("stop_sequence", "field"),
        ("usage.service_tier", "field"),
    ]


def test_forced_reasoning_details_carries_a_foreign_signature_with_its_format() -> None:
    response = Response(
        blocks=(Thinking(text="t", signature="EqQB", origin=Origin(dialect="anthropic")), Text(text="x"))
    )
    encoded = CODEC.encode_response(response, carrier="reasoning_details")
    assert encoded.value["choices"][0]["message"]["reasoning_details"] == [
        {
            "type": "reasoning.text",
            "text": "t",
            "signature": "EqQB",
            "format": "anthropic-claude-v1",
            "index": 0,
        }
    ]
    assert encoded.losses == ()
