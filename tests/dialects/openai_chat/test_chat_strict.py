"""OpenAI Chat: shapes a decoder used to accept and then write back differently (law a).

Each one is either refused with a ``DecodeError`` at its path, or kept so that it comes back
exactly.
"""

from __future__ import annotations

import copy
from typing import Any

import msgspec
import pytest

from thinkwire.dialects.openai_chat import CODEC
from thinkwire.dialects.sse import parse
from thinkwire.errors import DecodeError

TOOL_CALL = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}


def _response(message: Any = None, **choice_fields: Any) -> dict[str, Any]:
    choice = {
        "index": 0,
        "message": message if message is not None else {"role": "assistant", "content": "Hi"},
        "finish_reason": "stop",
        **choice_fields,
    }
    return {"id": "chatcmpl-1", "object": "chat.completion", "model": "m", "choices": [choice]}


def _request(assistant: dict[str, Any]) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": "Hi"}, assistant]}


def _raises(decode: Any, wire: Any, path: str) -> None:
    with pytest.raises(DecodeError) as info:
        decode(wire)
    assert info.value.path == path


def _response_round_trips(wire: dict[str, Any]) -> None:
    encoded = CODEC.encode_response(CODEC.decode_response(copy.deepcopy(wire)))
    assert encoded.value == wire
    assert encoded.losses == ()


@pytest.mark.parametrize("role", [{"id": "x"}, False, 0, [], None, "user", "x"])
def test_response_message_role_other_than_assistant_is_refused(role: Any) -> None:
    _raises(CODEC.decode_response, _response({"role": role, "content": "Hi"}), "choices[0].message.role")


@pytest.mark.parametrize("message", [{}, {"content": "Hi"}, {"id": "x", "text": "t"}])
def test_response_message_without_a_role_is_refused(message: dict[str, Any]) -> None:
    _raises(CODEC.decode_response, _response(message), "choices[0].message.role")


def test_response_without_finish_reason_round_trips_without_one() -> None:
    wire = _response()
    del wire["choices"][0]["finish_reason"]
    _response_round_trips(wire)
    response = CODEC.decode_response(wire)
    assert response.stop_reason is None


def test_response_without_finish_reason_or_index_round_trips() -> None:
    wire = _response()
    del wire["choices"][0]["finish_reason"]
    del wire["choices"][0]["index"]
    _response_round_trips(wire)


def test_null_finish_reason_is_still_written_back_as_null() -> None:
    _response_round_trips(_response(finish_reason=None))


def test_response_without_finish_reason_given_a_stop_reason_writes_it() -> None:
    wire = _response()
    del wire["choices"][0]["finish_reason"]
    edited = msgspec.structs.replace(CODEC.decode_response(wire), stop_reason="end_turn")
    assert CODEC.encode_response(edited).value["choices"][0]["finish_reason"] == "stop"


@pytest.mark.parametrize("kind", ["user", "", "assistant", "x"])
def test_tool_call_of_another_type_without_its_payload_is_refused(kind: str) -> None:
    call = {**TOOL_CALL, "type": kind}
    message = {"role": "assistant", "content": None, "tool_calls": [call]}
    _raises(CODEC.decode_response, _response(message), "choices[0].message.tool_calls[0].type")
    _raises(CODEC.decode_request, _request(message), "messages[1].tool_calls[0].type")


def test_custom_tool_call_without_an_id_is_refused() -> None:
    call = {"type": "custom", "custom": {"name": "g", "input": "x"}}
    message = {"role": "assistant", "content": None, "tool_calls": [call]}
    _raises(CODEC.decode_response, _response(message), "choices[0].message.tool_calls[0].id")


def test_custom_tool_call_round_trips_among_the_tool_calls() -> None:
    call = {"id": "call_2", "type": "custom", "custom": {"name": "g", "input": "x"}}
    message = {"role": "assistant", "content": None, "tool_calls": [TOOL_CALL, call]}
    _response_round_trips(_response(message))


@pytest.mark.parametrize("kind", ["ab", "", "text", "image_url"])
def test_reasoning_details_item_of_a_non_reasoning_type_is_refused(kind: str) -> None:
    item = {"type": kind, "text": "thought", "signature": "sig"}
    message = {"role": "assistant", "content": "Hi", "reasoning_details": [item]}
    _raises(CODEC.decode_response, _response(message), "choices[0].message.reasoning_details[0].type")
    _raises(CODEC.decode_request, _request(message), "messages[1].reasoning_details[0].type")


def test_reasoning_details_item_that_reads_as_a_tool_call_is_refused() -> None:
    item = {"type": "reasoning.x", "id": "r1", "reasoning.x": {}}
    message = {"role": "assistant", "content": "Hi", "reasoning_details": [item]}
    _raises(CODEC.decode_response, _response(message), "choices[0].message.reasoning_details[0].type")


def test_unknown_reasoning_details_item_round_trips() -> None:
    item = {"type": "reasoning.future", "id": "r1", "blob": 3}
    message = {"role": "assistant", "content": "Hi", "reasoning_details": [item]}
    _response_round_trips(_response(message))


@pytest.mark.parametrize(
    "part",
    [
        {"type": "reasoning.text", "text": "t"},
        {"type": "custom", "id": "c", "custom": {}},
    ],
)
def test_assistant_content_part_that_belongs_to_another_slot_is_refused(part: dict[str, Any]) -> None:
    message = {"role": "assistant", "content": [{"type": "text", "text": "a"}, part]}
    _raises(CODEC.decode_response, _response(message), "choices[0].message.content[1].type")
    _raises(CODEC.decode_request, _request(message), "messages[1].content[1].type")


def test_user_content_part_of_an_unknown_type_still_round_trips() -> None:
    wire = {
        "model": "m",
        "messages": [{"role": "user", "content": [{"type": "custom", "id": "c", "custom": {}}]}],
    }
    encoded = CODEC.encode_request(CODEC.decode_request(copy.deepcopy(wire)))
    assert encoded.value == wire
    assert encoded.losses == ()


def test_streamed_reasoning_details_item_of_a_non_reasoning_type_is_refused() -> None:
    chunk = (
        '{"id":"c","object":"chat.completion.chunk","model":"m","choices":[{"index":0,'
        '"delta":{"role":"assistant","reasoning_details":[{"type":"ab","text":"t"}]},'
        '"finish_reason":null}]}'
    )
    (event,) = parse(f"data: {chunk}\n\n".encode())
    with pytest.raises(DecodeError) as info:
        CODEC.stream_decoder().feed(event)
    assert info.value.path.endswith("delta.reasoning_details[0].type")
