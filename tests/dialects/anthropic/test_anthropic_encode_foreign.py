"""Encoding IR that came from other dialects into Anthropic: what goes where, what is lost."""

from __future__ import annotations

from typing import Any

from thinkwire.dialects.anthropic import CODEC
from thinkwire.ir import (
    Image,
    Message,
    Opaque,
    Origin,
    RedactedThinking,
    Request,
    Response,
    Sampling,
    Text,
    Thinking,
    ThinkingConfig,
    Tool,
    ToolCall,
    ToolChoice,
    ToolResult,
    Usage,
)
from thinkwire.ir.losses import Encoded

RESPONSES = Origin(dialect="openai-responses", extra={"id": "rs_68f1a2b3c4d5"})
CHAT = Origin(dialect="openai-chat", carrier="reasoning_content", provider="deepseek")
CLAUDE_VIA_OPENROUTER = Origin(
    dialect="openai-chat", carrier="reasoning_details", extra={"format": "anthropic-claude-v1", "index": 0}
)
USER = Message(role="user", blocks=(Text(text="What's 17 * 23?"),), plain=True)


def _losses(encoded: Encoded[Any]) -> list[tuple[str, str]]:
    return [(loss.path, loss.kind) for loss in encoded.losses]


def _assistant(*blocks: Any) -> Request:
    return Request(model="claude-sonnet-4-5", messages=(USER, Message(role="assistant", blocks=blocks)))


def test_foreign_signature_is_never_written_and_reported() -> None:
    thinking = Thinking(text="17*23 = 391", signature="gAAAAABo8xZ-encrypted", origin=RESPONSES)
    encoded = CODEC.encode_request(_assistant(thinking, Text(text="391")))
    block = encoded.value["messages"][1]["content"][0]
    assert block == {"type": "thinking", "thinking": "17*23 = 391"}
    assert _losses(encoded) == [("messages[1].blocks[0]", "signature"), ("messages[1].blocks[0]", "origin")]


def test_claude_signature_carried_through_reasoning_details_is_written() -> None:
    thinking = Thinking(text="plan", signature="EqoBCkgIBxAB", origin=CLAUDE_VIA_OPENROUTER)
    encoded = CODEC.encode_request(_assistant(thinking, Text(text="ok")))
    assert encoded.value["messages"][1]["content"][0]["signature"] == "EqoBCkgIBxAB"
    assert _losses(encoded) == [("messages[1].blocks[0]", "origin")]


def test_unsigned_reasoning_from_chat_becomes_an_unsigned_thinking_block_without_loss() -> None:
    encoded = CODEC.encode_request(_assistant(Thinking(text="carry the 1", origin=CHAT), Text(text="391")))
    assert encoded.value["messages"][1]["content"] == [
        {"type": "thinking", "thinking": "carry the 1"},
        {"type": "text", "text": "391"},
    ]
    assert encoded.losses == ()


def test_signature_of_unknown_origin_is_carried() -> None:
    encoded = CODEC.encode_request(_assistant(Thinking(text="t", signature="hmac-local"), Text(text="x")))
    assert encoded.value["messages"][1]["content"][0]["signature"] == "hmac-local"
    assert encoded.losses == ()


def test_foreign_redacted_reasoning_is_omitted_with_a_loss_and_order_kept() -> None:
    encoded = CODEC.encode_request(
        _assistant(
            Thinking(text="a", origin=CHAT),
            RedactedThinking(data="gAAAAABo-only-encrypted", origin=Origin(dialect="openai-responses")),
            ToolCall(id="call_1", name="calc", arguments='{"expr": "17*23"}'),
        )
    )
    assert [b["type"] for b in encoded.value["messages"][1]["content"]] == ["thinking", "tool_use"]
    assert _losses(encoded) == [("messages[1].blocks[1]", "redacted")]


def test_display_omitted_thinking_is_kept_with_its_signature() -> None:
    thinking = Thinking(text="", signature="EuYBCkYICxgC", origin=Origin(dialect="anthropic"))
    encoded = CODEC.encode_request(_assistant(thinking, ToolCall(id="toolu_1", name="f", arguments="{}")))
    assert encoded.value["messages"][1]["content"][0] == {
        "type": "thinking",
        "thinking": "",
        "signature": "EuYBCkYICxgC",
    }


def test_tool_call_arguments_that_are_not_an_object() -> None:
    encoded = CODEC.encode_request(
        _assistant(
            ToolCall(id="call_1", name="f", arguments='{"city": "Par'),
            ToolCall(id="call_2", name="g", arguments="[1, 2]"),
            ToolCall(id="call_3", name="h", arguments=""),
        )
    )
    assert [b["input"] for b in encoded.value["messages"][1]["content"]] == [{}, {}, {}]
    assert _losses(encoded) == [("messages[1].blocks[0]", "value"), ("messages[1].blocks[1]", "value")]


def test_tool_messages_merge_into_one_user_turn_results_first() -> None:
    calls = (
        ToolCall(id="call_a", name="f", arguments="{}"),
        ToolCall(id="call_b", name="g", arguments="{}"),
    )
    request = Request(
        messages=(
            USER,
            Message(role="assistant", blocks=calls),
            Message(role="tool", blocks=(ToolResult(call_id="call_a", content="1"),)),
            Message(role="tool", blocks=(ToolResult(call_id="call_b", content="2", is_error=True),)),
            Message(role="user", blocks=(Text(text="and?"),), plain=True),
        )
    )
    encoded = CODEC.encode_request(request)
    assert encoded.value["messages"][2:] == [
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "call_a", "content": "1"},
                {"type": "tool_result", "tool_use_id": "call_b", "content": "2", "is_error": True},
            ],
        },
        {"role": "user", "content": "and?"},
    ]
    assert encoded.losses == ()
    assert CODEC.decode_request(encoded.value).messages[2].blocks[1] == ToolResult(
        call_id="call_b", content="2", is_error=True
    )


def test_system_and_developer_messages_are_hoisted_and_late_ones_reported() -> None:
    request = Request(
        messages=(
            Message(role="system", blocks=(Text(text="Be exact."),), plain=True),
            USER,
            Message(role="developer", blocks=(Text(text="Answer in French."),), plain=True),
        )
    )
    encoded = CODEC.encode_request(request)
    assert encoded.value["system"] == [
        {"type": "text", "text": "Be exact."},
        {"type": "text", "text": "Answer in French."},
    ]
    assert encoded.value["messages"] == [{"role": "user", "content": "What's 17 * 23?"}]
    assert _losses(encoded) == [("messages[2]", "order")]


def test_a_single_leading_plain_system_message_becomes_a_system_string() -> None:
    request = Request(messages=(Message(role="system", blocks=(Text(text="Be exact."),), plain=True), USER))
    encoded = CODEC.encode_request(request)
    assert encoded.value["system"] == "Be exact."
    assert encoded.losses == ()


def test_config_from_other_dialects() -> None:
    request = Request(
        messages=(USER,),
        thinking=ThinkingConfig(effort="medium", summary="auto"),
        tool_choice=ToolChoice(mode="required", parallel=False),
        tools=(
            Tool(name="calc", parameters={"type": "object"}, extra={"openai-chat": {"strict": True}}),
            Opaque(dialect="openai-responses", data={"type": "file_search", "vector_store_ids": ["vs_1"]}),
        ),
        sampling=Sampling(max_tokens=512, stop=("END",), stop_plain=True),
        extra={"openai-chat": {"seed": 7}},
    )
    encoded = CODEC.encode_request(request)
    value = encoded.value
    assert "thinking" not in value
    assert value["output_config"] == {"effort": "medium"}
    assert value["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert value["tools"] == [{"name": "calc", "input_schema": {"type": "object"}}]
    assert value["stop_sequences"] == ["END"]
    assert sorted(_losses(encoded)) == [
        ("seed", "field"),
        ("thinking.summary", "field"),
        ("tools[0].strict", "field"),
        ("tools[1]", "block"),
    ]


def test_budget_without_mode_means_enabled() -> None:
    encoded = CODEC.encode_request(Request(messages=(USER,), thinking=ThinkingConfig(budget_tokens=2048)))
    assert encoded.value["thinking"] == {"type": "enabled", "budget_tokens": 2048}


def test_images_and_foreign_opaque_blocks() -> None:
    request = Request(
        messages=(
            Message(
                role="user",
                blocks=(
                    Image(url="https://example.com/chart.png"),
                    Image(media_type="image/png", data="iVBORw0KGgo="),
                    Opaque(
                        dialect="openai-chat", data={"type": "input_audio", "input_audio": {"data": "UklGR"}}
                    ),
                    Text(
                        text="Explain.",
                        extra={"openai-responses": {"annotations": [], "logprobs": [{"token": "E"}]}},
                    ),
                ),
            ),
        )
    )
    encoded = CODEC.encode_request(request)
    assert encoded.value["messages"][0]["content"] == [
        {"type": "image", "source": {"type": "url", "url": "https://example.com/chart.png"}},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
        {"type": "text", "text": "Explain."},
    ]
    assert _losses(encoded) == [
        ("messages[0].blocks[2]", "block"),
        ("messages[0].blocks[3].logprobs", "field"),  # the empty annotations carry nothing
    ]


def test_response_from_another_dialect() -> None:
    response = Response(
        id="resp_68f1",
        model="gpt-5",
        blocks=(
            Thinking(text="check units", signature="gAAAAABo", origin=RESPONSES),
            ToolCall(id="call_1", name="convert", arguments='{"value": 18.5}'),
            Image(url="https://example.com/x.png"),
        ),
        stop_reason="tool_use",
        usage=Usage(input_tokens=10, output_tokens=5, reasoning_tokens=3),
        extra={"openai-responses": {"status": "completed"}},
    )
    encoded = CODEC.encode_response(response)
    assert encoded.value == {
        "id": "resp_68f1",
        "type": "message",
        "role": "assistant",
        "model": "gpt-5",
        "content": [
            {"type": "thinking", "thinking": "check units"},
            {"type": "tool_use", "id": "call_1", "name": "convert", "input": {"value": 18.5}},
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 5},
    }
    assert _losses(encoded) == [
        ("status", "field"),
        ("blocks[0]", "signature"),
        ("blocks[0]", "origin"),
        ("blocks[2]", "block"),
        ("usage.reasoning_tokens", "field"),
    ]
