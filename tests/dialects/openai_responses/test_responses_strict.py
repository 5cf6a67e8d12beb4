"""Law (a) on shapes found by mutating golden fixtures: what the Responses decoder accepts
comes back exactly from its encoder, or with a reported loss; what it refuses is a
``DecodeError`` at the spot."""

from __future__ import annotations

import json
from typing import Any

import pytest

from thinkwire.dialects.openai_responses import CODEC
from thinkwire.dialects.sse import SSEEvent
from thinkwire.errors import DecodeError
from thinkwire.ir import BlockStart, Opaque, RedactedThinking, StreamEvent, Tool, fold, response_events

ENC = "gAAAAB-encrypted"


def exact_request(wire: dict[str, Any]) -> None:
    encoded = CODEC.encode_request(CODEC.decode_request(wire))
    assert encoded.value == wire
    assert encoded.losses == ()


def exact_response(wire: dict[str, Any]) -> None:
    wire = {"object": "response", "status": "completed", **wire}  # a response of this dialect
    encoded = CODEC.encode_response(CODEC.decode_response(wire))
    assert encoded.value == wire
    assert encoded.losses == ()


def refused(wire: dict[str, Any], path: str, *, response: bool = False) -> DecodeError:
    with pytest.raises(DecodeError) as info:
        CODEC.decode_response(wire) if response else CODEC.decode_request(wire)
    assert info.value.path == path
    return info.value


# ---------------------------------------------------------------- content parts


@pytest.mark.parametrize("kind", [{"a": 1}, [1], ["input_text"]])
def test_a_part_type_of_no_json_string_is_a_decode_error(kind: Any) -> None:
    wire = {"input": [{"role": "user", "content": [{"type": "input_text", "text": "a"}, {"type": kind}]}]}
    refused(wire, "input[0].content[1].type")


def test_an_assistant_part_type_of_no_json_string_keeps_the_item_whole() -> None:
    item = {"type": "message", "role": "assistant", "content": [{"type": {"a": 1}, "text": "x"}]}
    wire = {"output": [item]}
    assert CODEC.decode_response(wire).blocks == (Opaque(dialect="openai-responses", data=item),)
    exact_response(wire)


@pytest.mark.parametrize("role", ["user", "developer", "system"])
def test_an_empty_content_array_comes_back(role: str) -> None:
    exact_request({"input": [{"role": role, "content": []}, {"role": "user", "content": "hi"}]})
    exact_request({"input": [{"type": "message", "role": role, "content": []}]})


@pytest.mark.parametrize("part", [{"type": "x", "text": None}, {"type": ""}, {"type": "text"}])
def test_an_unknown_part_stays_a_part_of_its_message(part: dict[str, Any]) -> None:
    wire = {"input": [{"role": "user", "content": [{"type": "input_text", "text": "a"}, part]}]}
    assert CODEC.decode_request(wire).messages[0].blocks[1] == Opaque(dialect="openai-responses", data=part)
    exact_request(wire)
    exact_request({"input": [{"role": "user", "content": [part]}]})


@pytest.mark.parametrize("kind", ["item_reference", "function_call_output", "computer_call_output"])
def test_a_part_of_an_input_item_type_is_refused(kind: str) -> None:
    wire = {"input": [{"role": "user", "content": [{"type": kind, "id": "x"}]}]}
    error = refused(wire, "input[0].content[0].type")
    assert "input item type" in str(error)


def test_input_items_in_user_messages_are_still_items() -> None:
    wire = {
        "previous_response_id": "resp_1",
        "input": [
            {"type": "item_reference", "id": "msg_1"},
            {"type": "computer_call_output", "call_id": "c", "output": {"type": "computer_screenshot"}},
            {"role": "user", "content": "go on"},
        ],
    }
    exact_request(wire)


# ---------------------------------------------------------------- reasoning


def test_empty_encrypted_content_with_no_summary_parts_is_redacted_and_comes_back() -> None:
    item = {"id": "rs_1", "type": "reasoning", "encrypted_content": "", "summary": []}
    wire = {"input": [item, {"role": "assistant", "content": "ok"}]}
    block = CODEC.decode_request(wire).messages[0].blocks[0]
    assert type(block) is RedactedThinking
    assert block.data == ""
    exact_request(wire)
    exact_response({"output": [item]})


@pytest.mark.parametrize(
    ("item", "note"),
    [
        ({"id": "rs_1", "type": "reasoning"}, "had no summary"),
        ({"id": "rs_1", "type": "reasoning", "encrypted_content": ENC}, "had no summary"),
        ({"id": "rs_1", "type": "reasoning", "summary": None, "encrypted_content": ENC}, "summary: null"),
        (
            {"id": "rs_1", "type": "reasoning", "content": [{"type": "reasoning_text", "text": "hm"}]},
            "had no summary",
        ),
        (
            {
                "id": "rs_1",
                "type": "reasoning",
                "summary": None,
                "content": [{"type": "reasoning_text", "text": "hm"}],
            },
            "summary: null",
        ),
    ],
)
def test_a_missing_or_null_summary_is_written_as_an_empty_list_and_reported(
    item: dict[str, Any], note: str
) -> None:
    wire = {"input": [item, {"role": "assistant", "content": "ok"}]}
    request = CODEC.decode_request(wire)
    encoded = CODEC.encode_request(request)
    assert encoded.value["input"][0] == {**item, "summary": []}
    (loss,) = encoded.losses
    assert (loss.path, loss.kind) == ("messages[0].blocks[0]", "value")
    assert note in loss.detail
    # the same in a response, and in its stream encoding
    response = CODEC.decode_response({"object": "response", "status": "completed", "output": [item]})
    (loss,) = CODEC.encode_response(response).losses
    assert (loss.path, loss.kind) == ("blocks[0]", "value")
    encoder = CODEC.stream_encoder()
    for event in response_events(response):
        encoder.feed(event)
    encoder.close()
    assert [(loss.path, loss.kind) for loss in encoder.losses] == [("blocks[0]", "value")]


def test_a_present_summary_reports_nothing() -> None:
    exact_request(
        {
            "input": [
                {"id": "rs_1", "type": "reasoning", "summary": []},
                {"role": "assistant", "content": "ok"},
            ]
        }
    )


@pytest.mark.parametrize("summary", ["", {}, 0, False, "auto"])
def test_a_summary_of_another_type_is_refused_beside_content_too(summary: Any) -> None:
    content = [{"type": "reasoning_text", "text": "hm"}]
    wire = {"input": [{"type": "reasoning", "summary": summary, "content": content}]}
    refused(wire, "input[0].summary")
    refused({"input": [{"type": "reasoning", "summary": summary}]}, "input[0].summary")


# ---------------------------------------------------------------- request fields


def test_a_function_tool_without_strict_comes_back_without_it() -> None:
    tool = {"type": "function", "name": "f", "description": "d", "parameters": {"type": "object"}}
    request = CODEC.decode_request({"tools": [tool]})
    assert request.tools == (
        Tool(name="f", description="d", parameters={"type": "object"}, extra={"openai-responses": {}}),
    )
    exact_request({"tools": [tool]})
    exact_request({"tools": [{"type": "function", "name": "f"}]})


def test_tools_of_other_dialects_still_get_strict_false() -> None:
    request = CODEC.decode_request({"tools": [{"type": "function", "name": "f"}]})
    foreign = Tool(name="f")
    encoded = CODEC.encode_request(type(request)(tools=(foreign,)))
    assert encoded.value["tools"] == [{"type": "function", "name": "f", "parameters": None, "strict": False}]


@pytest.mark.parametrize("value", [3, True, 1.5])
def test_instructions_of_another_type_are_refused(value: Any) -> None:
    refused({"instructions": value}, "instructions")


def test_instructions_as_a_list_or_null_come_back() -> None:
    exact_request({"instructions": [{"role": "developer", "content": "Be brief."}], "input": "hi"})
    exact_request({"instructions": None, "input": "hi"})


@pytest.mark.parametrize("value", [3, True, [], ["auto"]])
def test_a_tool_choice_of_another_type_is_refused(value: Any) -> None:
    refused({"tool_choice": value}, "tool_choice")


@pytest.mark.parametrize(
    "value", [None, "auto", "other", {"type": "allowed_tools", "mode": "auto"}, {"type": "function"}]
)
def test_other_tool_choices_come_back(value: Any) -> None:
    exact_request({"tool_choice": value, "parallel_tool_calls": False})


# ---------------------------------------------------------------- usage


@pytest.mark.parametrize("key", ["input_tokens", "output_tokens"])
def test_a_null_token_count_comes_back_null(key: str) -> None:
    usage = {
        "input_tokens": 5,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 7,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 12,
    }
    usage[key] = None
    response = CODEC.decode_response({"id": "resp_1", "output": [], "usage": usage})
    assert response.usage is not None
    assert getattr(response.usage, key) is None
    exact_response({"id": "resp_1", "output": [], "usage": usage})


def test_an_absent_token_count_stays_absent() -> None:
    exact_response({"output": [], "usage": {"output_tokens": 7}})


# ---------------------------------------------------------------- streams


def _feed(*events: tuple[str, dict[str, Any]]) -> list[StreamEvent]:
    """The IR events the stream decodes to."""
    decoder = CODEC.stream_decoder()
    out: list[StreamEvent] = []
    for name, data in events:
        out += decoder.feed(SSEEvent(event=name, data=json.dumps({"type": name, **data})))
    return out + decoder.close()


ADDED = (
    "response.output_item.added",
    {"output_index": 0, "item": {"id": "msg_1", "type": "message", "role": "assistant", "content": []}},
)


@pytest.mark.parametrize("index", [{"a": 1}, [0], "0", None])
@pytest.mark.parametrize(
    "event", ["response.output_text.delta", "response.output_text.done", "response.content_part.added"]
)
def test_a_content_index_of_another_type_is_a_decode_error(index: Any, event: str) -> None:
    data = {"output_index": 0, "content_index": index, "delta": "x", "text": "x"}
    data["part"] = {"type": "output_text", "text": ""}
    with pytest.raises(DecodeError) as info:
        _feed(ADDED, (event, data))
    assert info.value.path == f"{event}.content_index"


@pytest.mark.parametrize("item", [{"id": "x"}, {"type": {"a": 1}}, {"type": [1]}])
def test_an_added_item_without_a_string_type_is_a_decode_error(item: dict[str, Any]) -> None:
    with pytest.raises(DecodeError) as info:
        _feed(("response.output_item.added", {"output_index": 0, "item": item}))
    assert info.value.path == "response.output_item.added.item.type"


@pytest.mark.parametrize("kind", [{"a": 1}, [1]])
def test_part_types_of_no_json_string_in_streams_keep_the_item_whole(kind: Any) -> None:
    part = {"type": kind, "text": "x"}
    final = {"id": "msg_1", "type": "message", "role": "assistant", "content": [part]}
    events = _feed(
        ADDED,
        ("response.content_part.added", {"output_index": 0, "content_index": 0, "part": part}),
        ("response.content_part.done", {"output_index": 0, "content_index": 0, "part": part}),
        ("response.output_item.done", {"output_index": 0, "item": final}),
        (
            "response.completed",
            {"response": {"id": "r", "status": "completed", "output": [{**final, "type": kind}]}},
        ),
    )
    # the part starts no text block; the finished item is kept whole, as the decoder of the
    # whole response keeps it (the terminal copy of an item already done is not read again)
    assert not any(isinstance(e, BlockStart) and not isinstance(e.block, Opaque) for e in events)
    response = fold(events)
    assert response.blocks == (Opaque(dialect="openai-responses", data=final),)
    assert response.blocks == CODEC.decode_response({"output": [final]}).blocks
    assert response.stop_reason == "end_turn"
    encoded = CODEC.encode_response(response)
    assert encoded.value["output"] == [final]  # and it comes back exactly
    assert encoded.losses == ()
