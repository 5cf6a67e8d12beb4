"""OpenAI Chat requests: odd wire forms round trip, errors name their path, every carrier can
be forced on encode, and IR of other dialects is written with the right losses."""

from __future__ import annotations

from typing import Any

import pytest

from thinkwire.dialects.openai_chat import CODEC, assistant
from thinkwire.errors import DecodeError
from thinkwire.ir import (
    Image,
    Message,
    Opaque,
    Origin,
    RedactedThinking,
    Request,
    Text,
    Thinking,
    ThinkingConfig,
    Tool,
    ToolCall,
    ToolResult,
)
from thinkwire.ir.losses import Loss

CALL = {
    "id": "call_1",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
}
ANTHROPIC = Origin(dialect="anthropic", provider="anthropic", model="claude-sonnet-4-5")
RC = Origin(dialect="openai-chat", carrier="reasoning_content")


def _round_trip(wire: dict[str, Any]) -> None:
    encoded = CODEC.encode_request(CODEC.decode_request(wire))
    assert encoded.value == wire
    assert encoded.losses == ()


def _kinds(losses: tuple[Loss, ...]) -> list[tuple[str, str]]:
    return [(loss.path, loss.kind) for loss in losses]


# ---------------------------------------------------------------------------------------------
# wire forms that must come back exactly


@pytest.mark.parametrize(
    "message",
    [
        {"role": "assistant", "tool_calls": [CALL]},  # no content field at all
        {"role": "assistant", "content": None, "tool_calls": [CALL]},
        {"role": "assistant", "content": "", "tool_calls": [CALL]},
        {"role": "assistant", "content": [], "tool_calls": [CALL]},
        {"role": "assistant", "content": [{"type": "text", "text": "one part"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
        {"role": "assistant", "content": [{"type": "refusal", "refusal": "I can't help with that."}]},
        {"role": "assistant", "content": "x", "tool_calls": []},
        {"role": "assistant", "content": "x", "tool_calls": None, "reasoning_content": None, "refusal": None},
        {"role": "assistant", "content": "x", "reasoning_details": [], "name": "planner"},
        {"role": "assistant", "content": "", "reasoning_content": ""},  # DeepSeek's older turns
        {"role": "assistant", "content": "x", "function_call": {"name": "f", "arguments": "{}"}},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{**CALL, "index": 0, "extra_content": {"google": {"thought_signature": "c2ln"}}}],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "call_2", "function": {"name": "f", "arguments": ""}}],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "ct_1", "type": "custom", "custom": {"name": "sql", "input": "SELECT 1"}}],
        },
    ],
)
def test_assistant_message_forms_round_trip(message: dict[str, Any]) -> None:
    _round_trip({"model": "gpt-4.1", "messages": [{"role": "user", "content": "hi"}, message]})


def test_user_parts_images_and_vendor_fields_round_trip() -> None:
    _round_trip(
        {
            "model": "gpt-4.1",
            "messages": [
                {
                    "role": "developer",
                    "content": [
                        {"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}
                    ],
                },
                {
                    "role": "user",
                    "name": "alice",
                    "content": [
                        {"type": "text", "text": "What is in these?"},
                        {
                            "type": "image_url",
                            "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "high"},
                        },
                        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
                        {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
                    ],
                },
            ],
        }
    )


def test_tool_message_with_parts_and_name_round_trips() -> None:
    wire = {
        "messages": [
            {"role": "assistant", "content": None, "tool_calls": [CALL]},
            {
                "role": "tool",
                "tool_call_id": "call_1",
                "name": "get_weather",
                "content": [{"type": "text", "text": "3 °C"}],
            },
        ]
    }
    result = CODEC.decode_request(wire).messages[1].blocks[0]
    assert result == ToolResult(
        call_id="call_1", content=(Text(text="3 °C"),), extra={"openai-chat": {"name": "get_weather"}}
    )
    _round_trip(wire)


def test_inline_image_is_split_into_media_type_and_data() -> None:
    part = {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ", "detail": "low"}}
    request = CODEC.decode_request({"messages": [{"role": "user", "content": [part]}]})
    assert request.messages[0].blocks == (
        Image(media_type="image/jpeg", data="/9j/4AAQ", extra={"openai-chat": {"detail": "low"}}),
    )


@pytest.mark.parametrize(
    "fields",
    [
        {"tool_choice": "required", "parallel_tool_calls": False},
        {"tool_choice": {"type": "function", "function": {"name": "get_weather"}}},
        {"tool_choice": {"type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": []}}},
        {"parallel_tool_calls": True},
        {"tool_choice": None, "temperature": None},
        {"max_completion_tokens": 2048},
        {"max_completion_tokens": 2048, "max_tokens": 1024},
        {"stop": "\n\n"},
        {"stop": ["</answer>", "Observation:"]},
        {"temperature": 0, "top_p": 0.95, "top_k": 20, "seed": 7, "n": 1},
        {"reasoning_effort": "high", "stream": True, "stream_options": {"include_usage": True}},
        {"chat_template_kwargs": {"enable_thinking": True}, "reasoning_split": True},
        {"tools": []},
        {
            "tools": [
                {
                    "type": "function",
                    "function": {"name": "f", "parameters": {"type": "object"}, "strict": True},
                },
                {"type": "function", "function": {"name": "g", "description": None}},
                {"type": "function", "function": {"name": "h"}, "cache_control": {"type": "ephemeral"}},
                {"type": "custom", "custom": {"name": "sql"}},
            ]
        },
    ],
)
def test_top_level_fields_round_trip(fields: dict[str, Any]) -> None:
    _round_trip({"model": "m", "messages": [{"role": "user", "content": "hi"}], **fields})


def test_modelled_fields_land_in_the_ir() -> None:
    request = CODEC.decode_request(
        {
            "model": "deepseek-reasoner",
            "messages": [],
            "tools": [{"type": "function", "function": {"name": "f", "strict": True}}],
            "tool_choice": {"type": "function", "function": {"name": "f"}},
            "parallel_tool_calls": False,
            "reasoning_effort": "low",
            "max_completion_tokens": 100,
            "stop": "END",
            "thinking": {"type": "enabled"},
        }
    )
    assert request.tool_choice is not None
    assert (request.tool_choice.mode, request.tool_choice.name, request.tool_choice.parallel) == (
        "tool",
        "f",
        False,
    )
    assert request.thinking == ThinkingConfig(effort="low")
    assert (request.sampling.max_tokens, request.sampling.stop, request.sampling.stop_plain) == (
        100,
        ("END",),
        True,
    )
    assert request.tools is not None
    assert request.tools[0] == Tool(name="f", extra={"openai-chat": {"strict": True}})
    assert request.extra["openai-chat"]["thinking"] == {"type": "enabled"}


def test_legacy_function_message_is_kept_whole() -> None:
    message = {"role": "function", "name": "get_weather", "content": '{"temp": 3}'}
    request = CODEC.decode_request({"messages": [message]})
    assert request.messages[0] == Message(role="tool", blocks=(Opaque(dialect="openai-chat", data=message),))
    _round_trip({"messages": [message]})


def test_reasoning_mirror_is_noted_and_a_differing_field_is_reasoning_of_its_own() -> None:
    details = [{"type": "reasoning.text", "text": "abc", "format": "unknown", "index": 0}]
    same = CODEC.decode_request(
        {
            "messages": [
                {"role": "assistant", "content": "x", "reasoning": "abc", "reasoning_details": details}
            ]
        }
    )
    first = same.messages[0].blocks[0]
    assert isinstance(first, Thinking)
    assert first.origin is not None
    assert first.origin.extra["mirror"] == ["reasoning"]
    assert same.messages[0].extra == {}
    wire = {
        "messages": [
            {"role": "assistant", "content": "x", "reasoning": "other", "reasoning_details": details}
        ]
    }
    differing = CODEC.decode_request(wire)
    assert differing.messages[0].extra == {}
    thinking = [b for b in differing.messages[0].blocks if isinstance(b, Thinking)]
    assert [(b.text, b.origin.carrier if b.origin else None) for b in thinking] == [
        ("abc", "reasoning_details"),
        ("other", "reasoning"),
    ]
    _round_trip(wire)


def test_reasoning_content_outranks_reasoning_and_think_tags() -> None:
    request = CODEC.decode_request(
        {
            "messages": [
                {
                    "role": "assistant",
                    "content": "<think>literal</think>x",
                    "reasoning_content": "rc",
                    "reasoning": "rc",
                }
            ]
        }
    )
    thinking, text = request.messages[0].blocks
    assert isinstance(thinking, Thinking)
    assert thinking.origin is not None
    assert (thinking.text, thinking.origin.carrier, thinking.origin.extra) == (
        "rc",
        "reasoning_content",
        {"mirror": ["reasoning"]},
    )
    assert text == Text(text="<think>literal</think>x")


# ---------------------------------------------------------------------------------------------
# errors


@pytest.mark.parametrize(
    ("wire", "path", "message"),
    [
        ({}, "messages", "required field is missing"),
        ({"messages": {}}, "messages", "expected an array"),
        ({"messages": ["hi"]}, "messages[0]", "expected an object"),
        ({"messages": [{"content": "hi"}]}, "messages[0].role", "required field is missing"),
        ({"messages": [{"role": "robot", "content": "hi"}]}, "messages[0].role", "unknown role 'robot'"),
        (
            {"messages": [{"role": "user", "content": None}]},
            "messages[0].content",
            "expected a string or an array",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": 1}]}]},
            "messages[0].content[0].type",
            "expected a string",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "text"}]}]},
            "messages[0].content[0].text",
            "required",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
            "messages[0].content[0].image_url.url",
            "required",
        ),
        (
            {"messages": [{"role": "tool", "tool_call_id": "call_9", "content": "42"}]},
            "messages[0].tool_call_id",
            "no tool call with id 'call_9' precedes this result",
        ),
        (
            {"messages": [{"role": "assistant", "reasoning_content": 3}]},
            "messages[0].reasoning_content",
            "expected a string",
        ),
        (
            {"messages": [{"role": "assistant", "reasoning_details": {}}]},
            "messages[0].reasoning_details",
            "expected an array",
        ),
        (
            {"messages": [{"role": "assistant", "content": 3}]},
            "messages[0].content",
            "expected a string, an array or null",
        ),
        (
            {
                "messages": [
                    {
                        "role": "assistant",
                        "tool_calls": [
                            {"id": "c", "type": "function", "function": {"name": "f", "arguments": {}}}
                        ],
                    }
                ]
            },
            "messages[0].tool_calls[0].function.arguments",
            "expected a string, got an object",
        ),
        (
            {
                "messages": [
                    {
                        "role": "assistant",
                        "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": ""}}],
                    }
                ]
            },
            "messages[0].tool_calls[0].id",
            "required",
        ),
        (
            {"messages": [], "tools": [{"type": "function", "function": {}}]},
            "tools[0].function.name",
            "required",
        ),
        ({"messages": [], "stop": ["a", 1]}, "stop[1]", "expected a string"),
        ({"messages": [], "max_tokens": "100"}, "max_tokens", "expected an integer"),
        ({"messages": [], "parallel_tool_calls": "yes"}, "parallel_tool_calls", "expected a boolean"),
    ],
)
def test_bad_requests_name_the_spot(wire: Any, path: str, message: str) -> None:
    with pytest.raises(DecodeError) as caught:
        CODEC.decode_request(wire)
    assert caught.value.path == path
    assert message in caught.value.message


# ---------------------------------------------------------------------------------------------
# carriers forced on encode


def _one_turn(*blocks: Any) -> Request:
    return Request(model="m", messages=(Message(role="assistant", blocks=tuple(blocks)),))


def _wire_turn(request: Request, carrier: Any) -> tuple[dict[str, Any], tuple[Loss, ...]]:
    encoded = CODEC.encode_request(request, carrier=carrier)
    return encoded.value["messages"][0], encoded.losses


def test_each_carrier_can_be_forced_for_native_thinking() -> None:
    request = _one_turn(
        Thinking(text="plan", origin=RC), Text(text="answer"), ToolCall(id="c1", name="f", arguments="{}")
    )
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    expected = {
        "reasoning_content": {
            "role": "assistant",
            "content": "answer",
            "reasoning_content": "plan",
            "tool_calls": [call],
        },
        "reasoning": {"role": "assistant", "content": "answer", "reasoning": "plan", "tool_calls": [call]},
        "reasoning_details": {
            "role": "assistant",
            "content": "answer",
            "reasoning_details": [
                {"type": "reasoning.text", "text": "plan", "format": "unknown", "index": 0}
            ],
            "tool_calls": [call],
        },
        "think-tags": {"role": "assistant", "content": "<think>plan</think>answer", "tool_calls": [call]},
    }
    for carrier, message in expected.items():
        wire, losses = _wire_turn(request, carrier)
        assert (wire, losses) == (message, ()), carrier
        back = CODEC.decode_request({"messages": [wire]}).messages[0]
        assert [type(b) for b in back.blocks] == [Thinking, Text, ToolCall]


INTERLEAVED = _one_turn(
    Thinking(text="First I need the forecast.", signature="sigA", origin=ANTHROPIC),
    ToolCall(id="toolu_1", name="get_forecast", arguments='{"city": "Lisbon"}'),
    RedactedThinking(data="EmwKAhgB", origin=ANTHROPIC),
    Thinking(text="Rain until noon, so pack a jacket.", signature="sigB", origin=ANTHROPIC),
    Text(text="Pack a light rain jacket."),
)


def test_foreign_interleaved_turn_in_reasoning_content_reports_every_loss() -> None:
    wire, losses = _wire_turn(INTERLEAVED, None)
    # the two blocks in one string, a blank line between (not "forecast.Rain")
    assert wire["reasoning_content"] == "First I need the forecast.\n\nRain until noon, so pack a jacket."
    assert wire["content"] == "Pack a light rain jacket."
    assert "sigA" not in str(wire)
    assert "EmwKAhgB" not in str(wire)
    assert _kinds(losses) == [
        ("messages[0].blocks[2]", "order"),
        ("messages[0].blocks[3]", "order"),
        ("messages[0].blocks[4]", "order"),
        ("messages[0].blocks[0]", "signature"),
        ("messages[0].blocks[2]", "redacted"),
        ("messages[0].blocks[3]", "signature"),
        ("messages[0].blocks[3]", "shape"),
    ]


def test_foreign_interleaved_turn_in_reasoning_details_keeps_signatures() -> None:
    wire, losses = _wire_turn(INTERLEAVED, "reasoning_details")
    assert wire["reasoning_details"] == [
        {
            "type": "reasoning.text",
            "text": "First I need the forecast.",
            "signature": "sigA",
            "format": "anthropic-claude-v1",
            "index": 0,
        },
        {"type": "reasoning.encrypted", "data": "EmwKAhgB", "format": "anthropic-claude-v1", "index": 1},
        {
            "type": "reasoning.text",
            "text": "Rain until noon, so pack a jacket.",
            "signature": "sigB",
            "format": "anthropic-claude-v1",
            "index": 2,
        },
    ]
    assert {kind for _, kind in _kinds(losses)} == {"order"}


def test_foreign_interleaved_turn_in_think_tags_never_shows_signatures() -> None:
    wire, losses = _wire_turn(INTERLEAVED, "think-tags")
    assert (
        wire["content"]
        == "<think>First I need the forecast.</think><think>Rain until noon, so pack a jacket.</think>"
        "Pack a light rain jacket."
    )
    assert {kind for _, kind in _kinds(losses)} == {"order", "signature", "redacted"}
    back = CODEC.decode_request({"messages": [wire]}).messages[0]
    assert [b.text for b in back.blocks if isinstance(b, Text)] == ["Pack a light rain jacket."]


def test_thinking_after_text_is_moved_to_its_slot_with_an_order_loss() -> None:
    request = _one_turn(Text(text="Let me check."), Thinking(text="hmm", origin=RC))
    wire, losses = _wire_turn(request, None)
    assert wire == {"role": "assistant", "content": "Let me check.", "reasoning_content": "hmm"}
    assert _kinds(losses) == [("messages[0].blocks[1]", "order")]
    tags, tag_losses = _wire_turn(request, "think-tags")
    assert tags["content"] == "Let me check.<think>hmm</think>"
    assert tag_losses == ()


def test_origin_details_lost_when_a_details_block_goes_to_a_string_carrier() -> None:
    details = Origin(
        dialect="openai-chat",
        carrier="reasoning_details",
        extra={"id": "reasoning-text-1", "format": "MiniMax-response-v1", "index": 0},
    )
    _, losses = _wire_turn(_one_turn(Thinking(text="t", origin=details)), "reasoning")
    assert [(loss.kind, loss.detail) for loss in losses] == [
        (
            "origin",
            "re-emission details of openai-chat reasoning_details (format, id, index) have no place here",
        )
    ]


def test_anthropic_user_turn_with_tool_results_becomes_tool_messages_first() -> None:
    request = Request(
        messages=(
            Message(
                role="assistant",
                blocks=(
                    ToolCall(id="t1", name="f", arguments="{}"),
                    ToolCall(id="t2", name="g", arguments="{}"),
                ),
            ),
            Message(
                role="user",
                blocks=(
                    ToolResult(call_id="t1", content="sunny"),
                    Text(text="Also, hurry."),
                    ToolResult(
                        call_id="t2", content=(Text(text="rain"), Image(url="https://x/y.png")), is_error=True
                    ),
                ),
            ),
        )
    )
    encoded = CODEC.encode_request(request)
    assert encoded.value["messages"][1:] == [
        {"role": "tool", "tool_call_id": "t1", "content": "sunny"},
        {"role": "tool", "tool_call_id": "t2", "content": [{"type": "text", "text": "rain"}]},
        {"role": "user", "content": [{"type": "text", "text": "Also, hurry."}]},
    ]
    assert _kinds(encoded.losses) == [
        ("messages[1].blocks[2]", "order"),
        ("messages[1].blocks[2].content[1]", "block"),
        ("messages[1].blocks[2]", "field"),
    ]


def test_foreign_system_and_thinking_config() -> None:
    request = Request(
        system=(Text(text="You are terse."),),
        messages=(Message(role="user", blocks=(Text(text="hi"),), plain=True),),
        thinking=ThinkingConfig(mode="enabled", budget_tokens=2048, effort="medium"),
        extra={"anthropic": {"metadata": {"user_id": "u1"}}},
    )
    encoded = CODEC.encode_request(request)
    assert encoded.value == {
        "messages": [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "hi"}],
        "reasoning_effort": "medium",
    }
    assert _kinds(encoded.losses) == [
        ("metadata", "field"),
        ("thinking.mode", "field"),
        ("thinking.budget_tokens", "field"),
    ]


@pytest.mark.parametrize(
    "blocks",
    [
        (Thinking(text="a", origin=RC), Text(text="b"), ToolCall(id="c", name="f", arguments="{}")),
        (Thinking(text="", origin=RC), ToolCall(id="c", name="f", arguments="{}")),
        (Thinking(text="a", origin=Origin(dialect="anthropic")), Text(text="b"), Text(text="c")),
        (Thinking(text="a", origin=Origin(dialect="openai-chat", carrier="think-tags")), Text(text="\n\nb")),
        (
            Text(text="x"),
            Thinking(text="a", origin=Origin(dialect="openai-chat", carrier="think-tags")),
            Text(text="y"),
        ),
        (Thinking(text="a", origin=Origin(dialect="openai-chat", carrier="reasoning")),),
        (ToolCall(id="c", name="f", arguments="{}"), ToolCall(id="d", name="g", arguments="[]")),
        (),
    ],
)
@pytest.mark.parametrize("plain", [True, False])
@pytest.mark.parametrize("carrier", [None, "reasoning", "think-tags"])
def test_common_shape_shortcut_writes_what_the_general_path_writes(
    blocks: tuple[Any, ...], plain: bool, carrier: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    request = Request(messages=(Message(role="assistant", blocks=blocks, plain=plain),))
    fast = CODEC.encode_request(request, carrier=carrier)
    monkeypatch.setattr(assistant, "_common_shape", lambda *args: None)
    general = CODEC.encode_request(request, carrier=carrier)
    assert fast == general
