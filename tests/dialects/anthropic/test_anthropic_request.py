"""Anthropic requests: decoding details, exact round trips, and errors with their paths."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from thinkwire.dialects.anthropic import CODEC
from thinkwire.dialects.base import get_codec
from thinkwire.errors import DecodeError
from thinkwire.ir import Image, Opaque, RedactedThinking, Text, Thinking, ThinkingConfig, ToolCall, ToolResult

SIGNATURE = "EqoBCkgIBxABGAIiQKt7wN3xGz1vYq0bRk4mC2hT8sJdL5pXe9fUaV6iZoW1nQyM3rB0cHjK7gE4tS2uD8lPGAE="


def _request(*messages: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"model": "claude-sonnet-4-5", "max_tokens": 1024, "messages": list(messages), **fields}


def _round_trip(wire: dict[str, Any]) -> None:
    original = copy.deepcopy(wire)
    encoded = CODEC.encode_request(CODEC.decode_request(wire))
    assert encoded.value == original
    assert encoded.losses == ()


TOOL_TURN = {
    "role": "assistant",
    "content": [
        {"type": "thinking", "thinking": "Need the file list.", "signature": SIGNATURE},
        {"type": "tool_use", "id": "toolu_01A", "name": "list_files", "input": {"path": "src"}},
    ],
}


def test_plain_string_content_and_system_are_marked_plain() -> None:
    request = CODEC.decode_request(_request({"role": "user", "content": "hi"}, system="Be brief."))
    assert request.system == (Text(text="Be brief."),)
    assert request.system_plain
    assert request.messages[0].plain
    assert request.messages[0].blocks == (Text(text="hi"),)


def test_thinking_in_history_keeps_signature_and_gets_an_anthropic_origin() -> None:
    request = CODEC.decode_request(
        _request({"role": "user", "content": "ls"}, TOOL_TURN), provider="anthropic"
    )
    thinking = request.messages[1].blocks[0]
    assert isinstance(thinking, Thinking)
    assert thinking.signature == SIGNATURE
    assert thinking.origin is not None
    assert (thinking.origin.dialect, thinking.origin.provider, thinking.origin.model) == (
        "anthropic",
        "anthropic",
        None,
    )


def test_tool_use_input_becomes_compact_json_text() -> None:
    request = CODEC.decode_request(_request({"role": "user", "content": "ls"}, TOOL_TURN))
    call = request.messages[1].blocks[1]
    assert call == ToolCall(id="toolu_01A", name="list_files", arguments='{"path":"src"}')


@pytest.mark.parametrize(
    "block",
    [
        {"type": "thinking", "thinking": "unsigned reasoning from a compatible endpoint"},
        {"type": "thinking", "thinking": "", "signature": SIGNATURE},
        {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIw"},
        {"type": "text", "text": "cited", "citations": [{"type": "char_location", "cited_text": "x"}]},
        {"type": "server_tool_use", "id": "srvtoolu_01", "name": "web_search", "input": {"query": "q"}},
        {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_01", "content": []},
        {"type": "future_block", "payload": {"nested": [1, 2]}},
    ],
)
def test_assistant_blocks_round_trip_exactly(block: dict[str, Any]) -> None:
    _round_trip(_request({"role": "user", "content": "q"}, {"role": "assistant", "content": [block]}))


def test_unknown_block_is_kept_opaque_in_place() -> None:
    future = {"type": "future_block", "payload": 1}
    request = CODEC.decode_request(
        _request(
            {
                "role": "user",
                "content": [{"type": "text", "text": "a"}, future, {"type": "text", "text": "b"}],
            }
        )
    )
    assert request.messages[0].blocks == (
        Text(text="a"),
        Opaque(dialect="anthropic", data=future),
        Text(text="b"),
    )


@pytest.mark.parametrize(
    "result",
    [
        {"type": "tool_result", "tool_use_id": "toolu_01A", "content": "src/main.py"},
        {"type": "tool_result", "tool_use_id": "toolu_01A"},
        {"type": "tool_result", "tool_use_id": "toolu_01A", "content": "boom", "is_error": True},
        {"type": "tool_result", "tool_use_id": "toolu_01A", "content": "ok", "is_error": False},
        {
            "type": "tool_result",
            "tool_use_id": "toolu_01A",
            "content": [
                {"type": "text", "text": "chart:"},
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
                },
                {"type": "search_result", "source": "https://example.com", "title": "t", "content": []},
            ],
        },
    ],
)
def test_tool_results_round_trip_exactly(result: dict[str, Any]) -> None:
    _round_trip(_request({"role": "user", "content": "ls"}, TOOL_TURN, {"role": "user", "content": [result]}))


def test_tool_result_decodes_in_place_in_its_user_message() -> None:
    result = {
        "type": "tool_result",
        "tool_use_id": "toolu_01A",
        "content": [{"type": "text", "text": "a.py"}],
    }
    after = {"type": "text", "text": "thanks"}
    request = CODEC.decode_request(
        _request({"role": "user", "content": "ls"}, TOOL_TURN, {"role": "user", "content": [result, after]})
    )
    message = request.messages[2]
    assert message.role == "user"
    assert message.blocks == (
        ToolResult(call_id="toolu_01A", content=(Text(text="a.py"),)),
        Text(text="thanks"),
    )


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQ"},
            Image(media_type="image/jpeg", data="/9j/4AAQ"),
        ),
        ({"type": "url", "url": "https://example.com/a.png"}, Image(url="https://example.com/a.png")),
    ],
)
def test_images_map_onto_the_ir(source: dict[str, Any], expected: Image) -> None:
    wire = _request({"role": "user", "content": [{"type": "image", "source": source}]})
    assert CODEC.decode_request(wire).messages[0].blocks == (expected,)
    _round_trip(wire)


def test_image_from_the_files_api_stays_opaque() -> None:
    image = {"type": "image", "source": {"type": "file", "file_id": "file_011CNha8iCJcU1wXNR6q4V8w"}}
    wire = _request({"role": "user", "content": [image]})
    assert CODEC.decode_request(wire).messages[0].blocks == (Opaque(dialect="anthropic", data=image),)
    _round_trip(wire)


def test_tools_custom_and_server_tools() -> None:
    custom = {"type": "custom", "name": "lookup", "input_schema": {"type": "object"}}
    plain = {
        "name": "fetch",
        "description": "Fetch a URL",
        "input_schema": {"type": "object"},
        "strict": True,
    }
    server = {"type": "bash_20250124", "name": "bash"}
    wire = _request({"role": "user", "content": "go"}, tools=[custom, plain, server])
    request = CODEC.decode_request(wire)
    assert request.tools is not None
    first, second, third = request.tools
    assert not isinstance(first, Opaque)
    assert first.extra == {"anthropic": {"type": "custom"}}
    assert not isinstance(second, Opaque)
    assert (second.name, second.description, second.parameters) == (
        "fetch",
        "Fetch a URL",
        {"type": "object"},
    )
    assert second.extra == {"anthropic": {"strict": True}}
    assert third == Opaque(dialect="anthropic", data=server)
    _round_trip(wire)


@pytest.mark.parametrize(
    ("choice", "mode", "name", "parallel"),
    [
        ({"type": "auto"}, "auto", None, None),
        ({"type": "any", "disable_parallel_tool_use": True}, "required", None, False),
        ({"type": "tool", "name": "lookup", "disable_parallel_tool_use": False}, "tool", "lookup", True),
        ({"type": "none"}, "none", None, None),
    ],
)
def test_tool_choice(choice: dict[str, Any], mode: str, name: str | None, parallel: bool | None) -> None:
    wire = _request({"role": "user", "content": "go"}, tool_choice=choice)
    decoded = CODEC.decode_request(wire).tool_choice
    assert decoded is not None
    assert (decoded.mode, decoded.name, decoded.parallel) == (mode, name, parallel)
    _round_trip(wire)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {"thinking": {"type": "enabled", "budget_tokens": 4096}},
            ThinkingConfig(mode="enabled", budget_tokens=4096),
        ),
        ({"thinking": {"type": "disabled"}}, ThinkingConfig(mode="disabled")),
        (
            {"thinking": {"type": "adaptive", "display": "omitted"}, "output_config": {"effort": "medium"}},
            ThinkingConfig(mode="adaptive", display="omitted", effort="medium"),
        ),
        ({"output_config": {"effort": "low"}}, ThinkingConfig(effort="low")),
        (
            {"thinking": {"type": "interleaved_v9", "depth": 3}},
            ThinkingConfig(extra={"anthropic": {"type": "interleaved_v9", "depth": 3}}),
        ),
        ({"output_config": {"format": {"type": "json_schema"}}}, None),
    ],
)
def test_thinking_config(fields: dict[str, Any], expected: ThinkingConfig | None) -> None:
    wire = _request({"role": "user", "content": "go"}, **fields)
    assert CODEC.decode_request(wire).thinking == expected
    _round_trip(wire)


def test_output_config_keeps_its_other_fields_beside_effort() -> None:
    output = {"effort": "high", "format": {"type": "json_schema", "schema": {"type": "object"}}}
    wire = _request({"role": "user", "content": "go"}, output_config=output)
    request = CODEC.decode_request(wire)
    assert request.thinking == ThinkingConfig(effort="high")
    assert request.extra == {"anthropic": {"output_config": {"format": output["format"]}}}
    _round_trip(wire)


def test_sampling_and_unknown_top_level_fields() -> None:
    wire = _request(
        {"role": "user", "content": "go"},
        temperature=0.2,
        top_p=0.9,
        top_k=40,
        stop_sequences=["</answer>"],
        stream=False,
        metadata={"user_id": "u_1"},
        container="container_011CQ",
        mcp_servers=[{"type": "url", "url": "https://mcp.example.com/sse", "name": "docs"}],
    )
    request = CODEC.decode_request(wire)
    assert request.sampling.stop == ("</answer>",)
    assert set(request.extra["anthropic"]) == {"metadata", "container", "mcp_servers"}
    _round_trip(wire)


def test_system_list_with_cache_control() -> None:
    system = [{"type": "text", "text": "Rules.", "cache_control": {"type": "ephemeral", "ttl": "1h"}}]
    wire = _request({"role": "user", "content": "go"}, system=system)
    request = CODEC.decode_request(wire)
    assert request.system == (
        Text(text="Rules.", extra={"anthropic": {"cache_control": system[0]["cache_control"]}}),
    )
    assert not request.system_plain
    _round_trip(wire)


def test_history_order_is_preserved_exactly() -> None:
    turn = {
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": "plan", "signature": "c2lnLTE="},
            {"type": "tool_use", "id": "toolu_1", "name": "a", "input": {}},
            {"type": "redacted_thinking", "data": "cmVkYWN0ZWQ="},
            {"type": "thinking", "thinking": "", "signature": "c2lnLTI="},
            {"type": "tool_use", "id": "toolu_2", "name": "b", "input": {"x": [1, 2.5, None, "é"]}},
            {"type": "text", "text": "done"},
        ],
    }
    request = CODEC.decode_request(_request({"role": "user", "content": "go"}, turn))
    kinds = [type(b) for b in request.messages[1].blocks]
    assert kinds == [Thinking, ToolCall, RedactedThinking, Thinking, ToolCall, Text]
    _round_trip(_request({"role": "user", "content": "go"}, turn))


# -- errors -------------------------------------------------------------------------------------


def _error(wire: Any) -> DecodeError:
    with pytest.raises(DecodeError) as info:
        CODEC.decode_request(wire)
    return info.value


def _with_block(block: Any) -> dict[str, Any]:
    return _request(
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": [{"type": "text", "text": "a"}]},
        {"role": "user", "content": "q2"},
        {"role": "assistant", "content": [{"type": "text", "text": "b"}, block]},
    )


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        (
            _with_block({"type": "thinking", "thinking": "x", "signature": 42}),
            "messages[3].content[1].signature: expected a string, got the number 42",
        ),
        (
            _with_block({"type": "thinking", "signature": "abc"}),
            "messages[3].content[1].thinking: required field is missing",
        ),
        (
            _with_block({"type": "tool_use", "id": "toolu_1", "name": "f", "input": "{}"}),
            "messages[3].content[1].input: expected an object, got a string",
        ),
        (
            _with_block({"type": "redacted_thinking", "data": None}),
            "messages[3].content[1].data: expected a string, got null",
        ),
        (_with_block({"thinking": "untyped"}), "messages[3].content[1].type: required field is missing"),
        (_with_block("text"), "messages[3].content[1]: expected an object, got a string"),
        (
            _request({"role": "developer", "content": "x"}),
            "messages[0].role: expected 'user', 'assistant' or 'system', got 'developer'",
        ),
        (
            _request({"role": "user", "content": 7}),
            "messages[0].content: expected a string or an array, got the number 7",
        ),
        (_request({"role": "user"}), "messages[0].content: required field is missing"),
        ({"model": "m"}, "messages: required field is missing"),
        ([], "expected an object, got an array"),
        (
            _request({"role": "user", "content": "q"}, max_tokens="1024"),
            "max_tokens: expected an integer, got a string",
        ),
        (
            _request({"role": "user", "content": "q"}, stream=1),
            "stream: expected a boolean, got the number 1",
        ),
        (
            _request({"role": "user", "content": "q"}, stop_sequences=["ok", 3]),
            "stop_sequences[1]: expected a string, got the number 3",
        ),
        (
            _request({"role": "user", "content": "q"}, tool_choice={"type": "tool"}),
            "tool_choice.name: required field is missing",
        ),
        (
            _request({"role": "user", "content": "q"}, tool_choice={"type": "sometimes"}),
            "tool_choice.type: expected one of auto, any, tool, none, got 'sometimes'",
        ),
        (
            _request({"role": "user", "content": "q"}, thinking={"type": "enabled", "budget_tokens": "lots"}),
            "thinking.budget_tokens: expected an integer, got a string",
        ),
        (
            _request({"role": "user", "content": "q"}, output_config={"effort": 3}),
            "output_config.effort: expected a string, got the number 3",
        ),
        (
            _request({"role": "user", "content": "q"}, tools=[{"description": "x"}]),
            "tools[0].name: required field is missing",
        ),
        (
            _request({"role": "user", "content": "q"}, system=[{"type": "text"}]),
            "system[0].text: required field is missing",
        ),
        (
            _request(
                {"role": "user", "content": [{"type": "image", "source": {"type": "base64", "data": "x"}}]}
            ),
            "messages[0].content[0].source.media_type: required field is missing",
        ),
    ],
)
def test_malformed_requests_name_the_exact_spot(wire: Any, message: str) -> None:
    assert str(_error(wire)) == message


def test_tool_result_without_a_preceding_call_is_rejected_at_its_block() -> None:
    result = {"type": "tool_result", "tool_use_id": "toolu_missing", "content": "x"}
    error = _error(
        _request({"role": "user", "content": "ls"}, TOOL_TURN, {"role": "user", "content": [result]})
    )
    assert error.path == "messages[2].content[0]"
    assert error.message == "no tool call with id 'toolu_missing' precedes this result"


def test_tool_result_before_its_call_is_rejected() -> None:
    result = {"type": "tool_result", "tool_use_id": "toolu_01A", "content": "early"}
    error = _error(_request({"role": "user", "content": [result]}, TOOL_TURN))
    assert error.path == "messages[0].content[0]"


def test_tool_result_content_of_the_wrong_type() -> None:
    result = {"type": "tool_result", "tool_use_id": "toolu_01A", "content": {"text": "x"}}
    error = _error(
        _request({"role": "user", "content": "ls"}, TOOL_TURN, {"role": "user", "content": [result]})
    )
    assert str(error) == "messages[2].content[0].content: expected a string or an array, got an object"


def test_a_mid_conversation_system_message_stays_in_place() -> None:
    """Claude Code's default model sends ``role: "system"`` inside ``messages``; it was a 400.
    It reads as a system message where it stood, comes back in place, and goes to Chat as a
    system message in the same place, with nothing lost."""
    wire = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 100,
        "system": "You are Claude Code.",
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
            {
                "role": "system",
                "content": [{"type": "text", "text": "<system-reminder>todo</system-reminder>"}],
            },
            {"role": "user", "content": "go"},
        ],
    }
    request = CODEC.decode_request(wire)
    assert [m.role for m in request.messages] == ["user", "assistant", "system", "user"]
    again = CODEC.encode_request(request)
    assert (again.value, again.losses) == (wire, ())
    chat = get_codec("openai-chat").encode_request(request)
    assert [m["role"] for m in chat.value["messages"]] == ["system", "user", "assistant", "system", "user"]
    assert chat.losses == ()
