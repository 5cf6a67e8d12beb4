"""OpenAI Responses requests: decoding, exact re-encoding, errors, and encoding foreign IR."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from thinkwire.dialects.openai_responses import CODEC
from thinkwire.errors import DecodeError
from thinkwire.ir import (
    Image,
    Message,
    Opaque,
    Origin,
    RedactedThinking,
    Request,
    Sampling,
    Text,
    Thinking,
    ThinkingConfig,
    Tool,
    ToolCall,
    ToolChoice,
    ToolResult,
)

ENC = "gAAAAABouaT2fvv_yJOCwYdV5alURK7--cjllvSo75wm7cATg-8REZU3Z_Zc"
RS = "rs_68b5ebabc0088196afb9fa86b487732d0698ecbf1b9f2704"
FC = "fc_68b5ebae5a708196b74b94f22ca8995e0698ecbf1b9f2704"
CALL = "call_Gd2yIvKbYnO4yEzB1Zq2XkPa"


def round_trip(wire: dict[str, Any]) -> Request:
    """Decode, check that encoding gives the same wire back with no loss, return the IR."""
    original = copy.deepcopy(wire)
    request = CODEC.decode_request(wire)
    encoded = CODEC.encode_request(request)
    assert encoded.value == original
    assert encoded.losses == ()
    return request


def losses(request: Request) -> dict[str, str]:
    return {loss.path: loss.kind for loss in CODEC.encode_request(request).losses}


# ---------------------------------------------------------------- input shapes


def test_string_input_is_one_plain_user_message() -> None:
    request = round_trip({"model": "gpt-5", "input": "What is 2 + 2?"})
    assert request.messages == (Message(role="user", blocks=(Text(text="What is 2 + 2?"),), plain=True),)


def test_string_input_and_a_lone_listed_message_each_keep_their_form() -> None:
    listed = {"model": "gpt-5", "input": [{"role": "user", "content": "Hi"}]}
    assert CODEC.encode_request(CODEC.decode_request(listed)).value == listed
    bare = {"model": "gpt-5", "input": "Hi"}
    assert CODEC.encode_request(CODEC.decode_request(bare)).value == bare
    foreign = Request(model="gpt-5", messages=(Message(role="user", blocks=(Text(text="Hi"),), plain=True),))
    assert CODEC.encode_request(foreign).value == listed


def test_short_and_typed_message_forms_are_both_kept() -> None:
    request = round_trip(
        {
            "model": "gpt-5",
            "input": [
                {
                    "type": "message",
                    "role": "developer",
                    "content": [{"type": "input_text", "text": "Be brief."}],
                },
                {"role": "system", "content": "Answer in French."},
                {"role": "user", "content": [{"type": "input_text", "text": "Bonjour"}]},
            ],
        }
    )
    developer, system, user = request.messages
    assert developer.extra == {"openai-responses": {"type": "message"}}
    assert (system.role, system.plain, system.extra) == ("system", True, {})
    assert (user.plain, user.extra) == (False, {})


def test_assistant_side_items_of_one_turn_form_one_message_in_order() -> None:
    request = round_trip(
        {
            "input": [
                {"role": "user", "content": "Weather in Paris?"},
                {"id": RS, "type": "reasoning", "summary": [], "encrypted_content": ENC},
                {
                    "type": "message",
                    "id": "msg_1",
                    "status": "completed",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": "Checking.", "annotations": []}],
                },
                {
                    "type": "function_call",
                    "id": FC,
                    "call_id": CALL,
                    "name": "get_weather",
                    "arguments": "{}",
                },
                {"type": "function_call_output", "call_id": CALL, "output": "18C"},
            ]
        }
    )
    turn = request.messages[1]
    assert turn.role == "assistant"
    assert [type(b) for b in turn.blocks] == [RedactedThinking, Text, ToolCall]
    assert turn.blocks[2] == ToolCall(
        id=CALL, name="get_weather", arguments="{}", extra={"openai-responses": {"id": FC}}
    )
    assert request.messages[2] == Message(role="tool", blocks=(ToolResult(call_id=CALL, content="18C"),))


def test_tool_call_arguments_are_kept_byte_for_byte() -> None:
    arguments = '{ "city" : "Paris",\n  "unit":"celsius" }'
    request = round_trip(
        {"input": [{"type": "function_call", "call_id": CALL, "name": "get_weather", "arguments": arguments}]}
    )
    assert request.messages[0].blocks[0].arguments == arguments  # type: ignore[union-attr]


def test_adjacent_assistant_message_items_keep_their_boundary() -> None:
    two_items = [
        {"role": "assistant", "content": [{"type": "output_text", "text": "First."}]},
        {"role": "assistant", "content": [{"type": "output_text", "text": "Second."}]},
    ]
    one_item = [
        {
            "role": "assistant",
            "content": [
                {"type": "output_text", "text": "First."},
                {"type": "output_text", "text": "Second."},
            ],
        }
    ]
    separate, joined = round_trip({"input": two_items}), round_trip({"input": one_item})
    assert len(separate.messages) == len(joined.messages) == 1
    assert [b.text for b in separate.messages[0].blocks] == ["First.", "Second."]  # type: ignore[union-attr]
    assert separate.messages[0].blocks[1].extra == {"openai-responses": {"item": {}}}  # type: ignore[union-attr]
    assert joined.messages[0].blocks[1].extra == {}  # type: ignore[union-attr]


def test_string_content_of_an_assistant_item() -> None:
    alone = round_trip({"input": [{"role": "assistant", "content": "Sure."}]})
    assert alone.messages[0] == Message(role="assistant", blocks=(Text(text="Sure."),), plain=True)
    mixed = round_trip(
        {"input": [{"type": "reasoning", "summary": []}, {"role": "assistant", "content": "Sure."}]}
    )
    assert mixed.messages[0].plain is False
    assert mixed.messages[0].blocks[1] == Text(text="Sure.", extra={"openai-responses": {"plain": True}})


def test_sdk_dumps_with_explicit_nulls_round_trip() -> None:
    round_trip(
        {
            "model": "o4-mini",
            "instructions": None,
            "tools": None,
            "temperature": None,
            "input": [
                {"role": "user", "content": "Hi"},
                {
                    "id": RS,
                    "type": "reasoning",
                    "summary": [{"type": "summary_text", "text": "**Greeting**\n\nSay hello back."}],
                    "content": None,
                    "encrypted_content": None,
                    "status": None,
                },
                {
                    "id": "msg_1",
                    "type": "message",
                    "role": "assistant",
                    "status": "completed",
                    "content": [
                        {"type": "output_text", "text": "Hello!", "annotations": [], "logprobs": None}
                    ],
                },
            ],
        }
    )


def test_missing_summary_is_tolerated_and_written_back_as_an_empty_list() -> None:
    request = CODEC.decode_request({"input": [{"id": RS, "type": "reasoning"}]})
    assert request.messages[0].blocks[0].text == ""  # type: ignore[union-attr]
    assert CODEC.encode_request(request).value["input"] == [{"id": RS, "type": "reasoning", "summary": []}]


def test_reasoning_text_from_content_parts() -> None:
    wire = {
        "input": [
            {
                "id": "rs_1",
                "type": "reasoning",
                "summary": [],
                "content": [
                    {"type": "reasoning_text", "text": "The user greets me. "},
                    {"type": "reasoning_text", "text": "Reply."},
                ],
            },
            {"role": "assistant", "content": "Hello!"},
        ]
    }
    thinking = round_trip(wire).messages[0].blocks[0]
    assert isinstance(thinking, Thinking)
    assert thinking.text == "The user greets me. Reply."
    assert thinking.origin is not None
    assert thinking.origin.extra["source"] == "content"


def test_edited_reasoning_text_is_written_as_one_part() -> None:
    request = CODEC.decode_request(
        {
            "input": [
                {
                    "id": RS,
                    "type": "reasoning",
                    "summary": [
                        {"type": "summary_text", "text": "**A**\n\nfirst"},
                        {"type": "summary_text", "text": "**B**\n\nsecond"},
                    ],
                },
                {"role": "assistant", "content": "ok"},
            ]
        }
    )
    thinking = request.messages[0].blocks[0]
    assert isinstance(thinking, Thinking)
    assert thinking.text == "**A**\n\nfirst\n\n**B**\n\nsecond"
    edited = Message(
        role="assistant", blocks=(Thinking(text="shorter", origin=thinking.origin), Text(text="ok"))
    )
    item = CODEC.encode_request(Request(messages=(edited,))).value["input"][0]
    assert item == {"id": RS, "type": "reasoning", "summary": [{"type": "summary_text", "text": "shorter"}]}


def test_parts_images_and_files() -> None:
    request = round_trip(
        {
            "input": [
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "What is on these?"},
                        {
                            "type": "input_image",
                            "image_url": "data:image/png;base64,iVBORw0KGgo=",
                            "detail": "high",
                        },
                        {"type": "input_image", "image_url": "https://example.com/cat.jpg", "detail": "auto"},
                        {"type": "input_image", "file_id": "file-4kFqz2", "detail": "low"},
                        {"type": "input_file", "file_id": "file-9dPp1x"},
                    ],
                }
            ]
        }
    )
    blocks = request.messages[0].blocks
    assert blocks[1] == Image(
        media_type="image/png", data="iVBORw0KGgo=", extra={"openai-responses": {"detail": "high"}}
    )
    assert blocks[2] == Image(
        url="https://example.com/cat.jpg", extra={"openai-responses": {"detail": "auto"}}
    )
    assert [type(b) for b in blocks[3:]] == [Opaque, Opaque]


def test_tool_output_as_parts() -> None:
    request = round_trip(
        {
            "input": [
                {"type": "function_call", "call_id": CALL, "name": "screenshot", "arguments": "{}"},
                {
                    "type": "function_call_output",
                    "call_id": CALL,
                    "output": [
                        {"type": "input_text", "text": "Captured."},
                        {"type": "input_image", "image_url": "https://example.com/s.png"},
                    ],
                },
            ]
        }
    )
    result = request.messages[1].blocks[0]
    assert isinstance(result, ToolResult)
    assert result.content_text() == "Captured."


def test_other_items_stay_opaque_in_place() -> None:
    search = {
        "id": "ws_1",
        "type": "web_search_call",
        "status": "completed",
        "action": {"type": "search", "query": "x"},
    }
    reference = {"type": "item_reference", "id": "msg_0"}
    custom_output = {"type": "custom_tool_call_output", "call_id": "call_c", "output": "done"}
    request = round_trip(
        {"input": [reference, search, {"role": "assistant", "content": "Found it."}, custom_output]}
    )
    assert [m.role for m in request.messages] == ["user", "assistant", "user"]
    assert request.messages[1].blocks[0] == Opaque(dialect="openai-responses", data=search)


def test_tools_choice_reasoning_and_sampling() -> None:
    request = round_trip(
        {
            "model": "gpt-5",
            "tools": [
                {
                    "type": "function",
                    "name": "get_weather",
                    "description": "Weather.",
                    "parameters": {"type": "object"},
                    "strict": True,
                },
                {"type": "web_search"},
            ],
            "tool_choice": {"type": "function", "name": "get_weather"},
            "parallel_tool_calls": False,
            "reasoning": {"effort": "high", "summary": "auto"},
            "max_output_tokens": 4096,
            "temperature": 1,
            "top_p": 0.9,
            "input": "Go.",
        }
    )
    assert request.tools == (
        Tool(
            name="get_weather",
            description="Weather.",
            parameters={"type": "object"},
            extra={"openai-responses": {"strict": True}},
        ),
        Opaque(dialect="openai-responses", data={"type": "web_search"}),
    )
    assert request.tool_choice == ToolChoice(mode="tool", name="get_weather", parallel=False)
    assert request.thinking == ThinkingConfig(effort="high", summary="auto")
    assert request.sampling == Sampling(max_tokens=4096, temperature=1, top_p=0.9)


def test_tool_choice_forms_the_ir_does_not_model_stay_in_extra() -> None:
    allowed = {"type": "allowed_tools", "mode": "auto", "tools": [{"type": "function", "name": "a"}]}
    request = round_trip({"tool_choice": allowed, "parallel_tool_calls": True, "input": "x"})
    assert request.tool_choice is None
    assert request.extra == {
        "openai-responses": {"$input": "string", "tool_choice": allowed, "parallel_tool_calls": True}
    }


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("wire", "path", "message"),
    [
        ([], "", "expected an object, got an array"),
        ({"input": 3}, "input", "expected a string or an array"),
        ({"input": ["hi"]}, "input[0]", "expected an object, got a string"),
        ({"input": [{"content": "hi"}]}, "input[0].type", "required field is missing"),
        ({"input": [{"role": "bot", "content": "hi"}]}, "input[0].role", "expected one of"),
        ({"input": [{"role": "user"}]}, "input[0].content", "required field is missing"),
        (
            {"input": [{"role": "user", "content": [{"type": "input_text"}]}]},
            "input[0].content[0].text",
            "missing",
        ),
        (
            {
                "input": [
                    {"role": "user", "content": "a"},
                    {"type": "reasoning", "summary": [{"type": "summary_text", "text": 7}]},
                ]
            },
            "input[1].summary[0].text",
            "expected a string, got the number 7",
        ),
        ({"input": [{"type": "reasoning", "summary": "none"}]}, "input[0].summary", "expected an array"),
        (
            {"input": [{"type": "reasoning", "summary": [], "encrypted_content": 1}]},
            "input[0].encrypted_content",
            "string",
        ),
        (
            {"input": [{"type": "function_call", "name": "f", "arguments": "{}"}]},
            "input[0].call_id",
            "missing",
        ),
        (
            {"input": [{"type": "function_call", "call_id": "c", "name": "f", "arguments": {}}]},
            "input[0].arguments",
            "string",
        ),
        (
            {
                "input": [
                    {"role": "user", "content": "a"},
                    {"type": "function_call_output", "call_id": "call_x", "output": "1"},
                ]
            },
            "input[1].call_id",
            "no tool call with id 'call_x' precedes this result",
        ),
        ({"input": [{"type": 5}]}, "input[0].type", "expected a string"),
        ({"tools": {"type": "function"}, "input": "x"}, "tools", "expected an array"),
        ({"tools": [{"type": "function"}], "input": "x"}, "tools[0].name", "missing"),
        ({"reasoning": "high", "input": "x"}, "reasoning", "expected an object"),
        ({"max_output_tokens": "100", "input": "x"}, "max_output_tokens", "expected an integer"),
        ({"stream": "yes", "input": "x"}, "stream", "expected a boolean"),
    ],
)
def test_bad_input_names_the_spot(wire: Any, path: str, message: str) -> None:
    with pytest.raises(DecodeError) as info:
        CODEC.decode_request(wire)
    assert info.value.path == path
    assert message in info.value.message


@pytest.mark.parametrize(
    "state",
    [
        {"previous_response_id": "resp_1"},
        {"conversation": "conv_1"},
    ],
)
def test_a_result_may_answer_a_call_held_server_side(state: dict[str, Any]) -> None:
    wire = {**state, "input": [{"type": "function_call_output", "call_id": "call_x", "output": "1"}]}
    assert round_trip(wire).messages[0].blocks == (ToolResult(call_id="call_x", content="1"),)


def test_a_result_may_answer_a_call_behind_an_item_reference() -> None:
    round_trip(
        {
            "input": [
                {"type": "item_reference", "id": FC},
                {"type": "function_call_output", "call_id": "c", "output": "1"},
            ]
        }
    )


# ---------------------------------------------------------------- encoding other dialects' IR

CLAUDE = Origin(dialect="anthropic", model="claude-sonnet-4-5")


def assistant(*blocks: Any) -> Request:
    return Request(
        model="gpt-5",
        messages=(Message(role="user", blocks=(Text(text="q"),)), Message(role="assistant", blocks=blocks)),
    )


def test_a_foreign_signature_is_never_sent_as_encrypted_content() -> None:
    encoded = CODEC.encode_request(
        assistant(Thinking(text="plan", signature="EqQBCkYIBxgCKkA", origin=CLAUDE), Text(text="ok"))
    )
    assert encoded.value["input"][1] == {
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": "plan"}],
    }
    assert [(x.path, x.kind) for x in encoded.losses] == [("messages[1].blocks[0]", "signature")]


def test_a_signature_of_unknown_origin_is_carried() -> None:
    encoded = CODEC.encode_request(assistant(Thinking(text="plan", signature=ENC), Text(text="ok")))
    assert encoded.value["input"][1]["encrypted_content"] == ENC
    assert encoded.losses == ()


def test_openai_reasoning_relayed_by_openrouter_keeps_its_item_id() -> None:
    origin = Origin(
        dialect="openai-chat",
        carrier="reasoning_details",
        extra={"id": RS, "format": "openai-responses-v1", "index": 0},
    )
    encoded = CODEC.encode_request(assistant(RedactedThinking(data=ENC, origin=origin), Text(text="ok")))
    assert encoded.value["input"][1] == {
        "id": RS,
        "type": "reasoning",
        "summary": [],
        "encrypted_content": ENC,
    }
    assert {(x.path, x.kind) for x in encoded.losses} == {("messages[1].blocks[0]", "origin")}


def test_redacted_reasoning_of_another_family_is_omitted_with_a_loss() -> None:
    encoded = CODEC.encode_request(
        assistant(RedactedThinking(data="EmwKAhgBEgy3va3p", origin=CLAUDE), Text(text="ok"))
    )
    assert encoded.value["input"][1:] == [
        {"role": "assistant", "content": [{"type": "output_text", "text": "ok"}]}
    ]
    assert [(x.path, x.kind) for x in encoded.losses] == [("messages[1].blocks[0]", "redacted")]


def test_empty_signed_thinking_comes_back_as_thinking_not_redacted() -> None:
    encoded = CODEC.encode_request(
        assistant(Thinking(text="", signature=ENC), ToolCall(id=CALL, name="f", arguments="{}"))
    )
    back = CODEC.decode_request(encoded.value).messages[1].blocks[0]
    assert isinstance(back, Thinking)
    assert (back.text, back.signature) == ("", ENC)


def test_reasoning_left_last_by_a_conversion_is_kept_and_reported() -> None:
    request = assistant(Text(text="Done."), Thinking(text="afterthought", origin=CLAUDE))
    encoded = CODEC.encode_request(request)
    assert encoded.value["input"][-1]["type"] == "reasoning"
    assert [(x.path, x.kind) for x in encoded.losses] == [("messages[1].blocks[1]", "order")]
    # the same shape decoded from this dialect is written back as it came, silently
    assert CODEC.encode_request(CODEC.decode_request(encoded.value)).losses == ()


def test_what_responses_cannot_carry_is_reported() -> None:
    request = Request(
        system=(
            Text(text="Be brief."),
            Text(text="Use metric units.", extra={"anthropic": {"cache_control": {"type": "ephemeral"}}}),
        ),
        messages=(
            Message(role="user", blocks=(Text(text="q"),)),
            Message(
                role="assistant",
                blocks=(ToolCall(id=CALL, name="f", arguments="{}"), Image(url="https://x/y.png")),
            ),
            Message(role="tool", blocks=(ToolResult(call_id=CALL, content="boom", is_error=True),)),
        ),
        thinking=ThinkingConfig(mode="enabled", budget_tokens=8000, display="summarized"),
        sampling=Sampling(top_k=40, stop=("END",)),
        extra={"anthropic": {"metadata": {"user_id": "u1"}}},
    )
    encoded = CODEC.encode_request(request)
    assert encoded.value["instructions"] == "Be brief.\n\nUse metric units."
    assert encoded.value["reasoning"] == {}
    assert {(x.path, x.kind) for x in encoded.losses} == {
        ("metadata", "field"),
        ("system[1].cache_control", "field"),
        ("system", "shape"),
        ("messages[1].blocks[1]", "block"),
        ("messages[2].blocks[0].is_error", "field"),
        ("thinking.budget_tokens", "value"),
        ("thinking.display", "field"),
        ("sampling.top_k", "field"),
        ("sampling.stop", "field"),
    }


def test_tools_of_other_dialects_are_not_made_strict() -> None:
    encoded = CODEC.encode_request(
        Request(tools=(Tool(name="f", parameters={"type": "object"}),), messages=())
    )
    assert encoded.value["tools"] == [
        {"type": "function", "name": "f", "parameters": {"type": "object"}, "strict": False}
    ]


def test_tool_results_inside_a_user_message_become_items_in_place() -> None:
    """Anthropic puts tool results and new text in one user message."""
    user = Message(
        role="user",
        blocks=(
            ToolResult(call_id="a", content="1"),
            ToolResult(call_id="b", content="2"),
            Text(text="Now compare."),
        ),
    )
    calls = Message(
        role="assistant",
        blocks=(ToolCall(id="a", name="f", arguments="{}"), ToolCall(id="b", name="f", arguments="{}")),
    )
    encoded = CODEC.encode_request(Request(messages=(calls, user)))
    assert [item.get("type", item.get("role")) for item in encoded.value["input"]] == [
        "function_call",
        "function_call",
        "function_call_output",
        "function_call_output",
        "user",
    ]


def test_disabled_thinking_has_no_switch() -> None:
    encoded = CODEC.encode_request(Request(thinking=ThinkingConfig(mode="disabled")))
    assert "reasoning" not in encoded.value
    assert [(x.path, x.kind) for x in encoded.losses] == [("thinking.mode", "value")]
