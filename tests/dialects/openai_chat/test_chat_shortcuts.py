"""OpenAI Chat shortcuts for the common message shapes: each must give exactly what the general
path gives (same IR, same wire, same losses in the same order, same errors), and must actually
be taken for the shapes it is meant for."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from thinkwire.dialects.openai_chat import CODEC, assistant, messages
from thinkwire.errors import DecodeError
from thinkwire.ir import (
    Image,
    Message,
    Opaque,
    Origin,
    RedactedThinking,
    Request,
    Response,
    Text,
    Thinking,
    ToolCall,
    ToolResult,
)
from thinkwire.ir.losses import LossLog

CALL = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"c": 1}'}}
ASK = {"role": "assistant", "content": None, "tool_calls": [CALL]}
"""Precedes each decoded message, so that a tool message has a call to answer."""
SIG = "c2lnbmF0dXJl"
RC = Origin(dialect="openai-chat", carrier="reasoning_content")
ANTHROPIC = Origin(dialect="anthropic", provider="anthropic", model="claude-sonnet-4-5")

COMMON_WIRE: list[dict[str, Any]] = [
    {"role": "user", "content": "hi"},
    {"role": "system", "content": ""},
    {"role": "developer", "content": "be brief"},
    {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
    {"role": "user", "content": []},
    {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    {"role": "assistant", "content": "hi"},
    {"role": "assistant", "content": ""},
    {"role": "assistant", "content": None},
    {"role": "assistant", "content": "a", "reasoning_content": "think"},
    {"role": "assistant", "content": "<think>x</think>a", "reasoning_content": ""},
    {"role": "assistant", "content": None, "reasoning": "think", "tool_calls": [CALL]},
    {
        "role": "assistant",
        "content": None,
        "reasoning_content": "t",
        "tool_calls": [CALL, {**CALL, "id": "c2"}],
    },
    {"role": "assistant", "content": "", "tool_calls": [CALL]},
]
OTHER_WIRE: list[Any] = [
    "not a message",
    {"content": "no role"},
    {"role": 7, "content": "x"},
    {"role": ["user"], "content": "x"},
    {"role": "robot", "content": "x"},
    {"role": "user", "content": "hi", "name": "ann"},
    {"role": "user", "content": None},
    {"role": "user", "content": 5},
    {"role": "user", "content": [{"type": "text", "text": "a", "cache_control": {"type": "ephemeral"}}]},
    {"role": "user", "content": [{"type": "text", "text": None}]},
    {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]},
    {"role": "user", "content": ["a"]},
    {"role": "tool", "tool_call_id": "nope", "content": "x"},
    {"role": "tool", "tool_call_id": 3, "content": "x"},
    {"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": "x"}]},
    {"role": "tool", "tool_call_id": "call_1", "content": "x", "name": "get_weather"},
    {"role": "function", "name": "f", "content": "x"},
    {"role": "assistant"},
    {"role": "assistant", "tool_calls": [CALL]},
    {"role": "assistant", "content": "<think>a</think>b"},
    {"role": "assistant", "content": [{"type": "text", "text": "a"}]},
    {"role": "assistant", "content": 5},
    {"role": "assistant", "content": "a", "reasoning_content": None},
    {"role": "assistant", "content": "a", "reasoning_content": 5},
    {"role": "assistant", "content": "a", "reasoning_content": "x", "reasoning": "x"},
    {"role": "assistant", "content": "a", "reasoning_content": "x", "reasoning": "y"},
    {"role": "assistant", "content": "a", "reasoning_details": [{"type": "reasoning.text", "text": "x"}]},
    {"role": "assistant", "content": "a", "refusal": None},
    {"role": "assistant", "content": None, "tool_calls": []},
    {"role": "assistant", "content": None, "tool_calls": None},
    {"role": "assistant", "content": None, "tool_calls": "x"},
    {"role": "assistant", "content": None, "tool_calls": ["x"]},
    {"role": "assistant", "content": None, "tool_calls": [{"id": "c", "function": CALL["function"]}]},
    {"role": "assistant", "content": None, "tool_calls": [{**CALL, "index": 0}]},
    {"role": "assistant", "content": None, "tool_calls": [{**CALL, "id": None}]},
    {"role": "assistant", "content": None, "tool_calls": [{**CALL, "type": "custom", "custom": {}}]},
    {"role": "assistant", "content": None, "tool_calls": [{**CALL, "function": {"name": "f"}}]},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [{**CALL, "function": {"name": "f", "arguments": {}}}],
    },
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [{**CALL, "function": {"name": "f", "arguments": "{}", "strict": True}}],
    },
]


def _decode(wire: Any) -> Any:
    try:
        return CODEC.decode_request({"messages": [copy.deepcopy(ASK), wire]})
    except DecodeError as exc:
        return ("error", str(exc))


@pytest.mark.parametrize("wire", COMMON_WIRE + OTHER_WIRE)
def test_decode_shortcut_gives_what_the_general_path_gives(
    wire: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = _decode(wire)
    monkeypatch.setattr(messages, "_decode_common", lambda *args: None)
    assert fast == _decode(wire)


@pytest.mark.parametrize("wire", COMMON_WIRE)
def test_decode_shortcut_is_taken_for_the_common_shapes(wire: dict[str, Any]) -> None:
    origins = messages.Origins(None, None)
    assert messages._decode_common(wire, origins, {"call_1"}) is not None


@pytest.mark.parametrize("wire", [w for w in OTHER_WIRE if isinstance(w, dict)])
def test_decode_shortcut_leaves_the_other_shapes_alone(wire: dict[str, Any]) -> None:
    assert messages._decode_common(wire, messages.Origins(None, None), {"call_1"}) is None


# ---------------------------------------------------------------------------------------------
# encoding

RESULT = ToolResult(call_id="call_1", content="sunny")
ENCODE_MESSAGES: list[Message] = [
    Message(role="user", blocks=(Text(text="hi"),), plain=True),
    Message(role="user", blocks=(Text(text="hi"),)),
    Message(role="system", blocks=(Text(text=""),), plain=True),
    Message(role="developer", blocks=(Text(text="x"),)),
    Message(role="tool", blocks=(RESULT,)),
    Message(role="user", blocks=(RESULT,)),  # an Anthropic user turn of one result
    Message(role="tool", blocks=(RESULT,), plain=True),
    # not for the shortcut
    Message(role="user", blocks=(Text(text="hi"),), plain=True, extra={"openai-chat": {"name": "ann"}}),
    Message(role="user", blocks=(Text(text="hi"),), extra={"anthropic": {"cache": 1}}),
    Message(role="user", blocks=(Text(text="hi", extra={"openai-chat": {"cache_control": {}}}),)),
    Message(role="user", blocks=(Text(text="hi", extra={"anthropic": {"citations": [1]}}),)),
    Message(role="user", blocks=(Text(text="a"), Text(text="b")), plain=True),
    Message(role="user", blocks=(Image(url="https://x/y.png"),)),
    Message(role="user", blocks=(Opaque(dialect="anthropic", data={"type": "document"}),)),
    Message(role="user", blocks=()),
    Message(role="tool", blocks=(Text(text="x"),)),
    Message(role="tool", blocks=(RESULT,), extra={"openai-chat": {"name": "f"}}),
    Message(role="tool", blocks=(ToolResult(call_id="call_1", content="x", is_error=True),)),
    Message(role="tool", blocks=(ToolResult(call_id="call_1", content=(Text(text="x"),)),)),
    Message(role="tool", blocks=(ToolResult(call_id="call_1", content="x", extra={"anthropic": {"c": 1}}),)),
    Message(role="user", blocks=(RESULT, Text(text="and then?"))),
    Message(role="assistant", blocks=(Text(text="hi"),), plain=True),
]


def _encode_request(request: Request, carrier: Any = None) -> Any:
    encoded = CODEC.encode_request(request, carrier=carrier)
    return encoded.value, encoded.losses


@pytest.mark.parametrize("message", ENCODE_MESSAGES)
def test_encode_shortcut_writes_what_the_general_path_writes(
    message: Message, monkeypatch: pytest.MonkeyPatch
) -> None:
    request = Request(messages=(Message(role="user", blocks=(Text(text="q"),)), message))
    fast = _encode_request(request)
    monkeypatch.setattr(messages, "_encode_common", lambda *args: None)
    assert fast == _encode_request(request)


@pytest.mark.parametrize("message", ENCODE_MESSAGES[:7])
def test_encode_shortcut_is_taken_for_the_common_shapes(message: Message) -> None:
    assert messages._encode_common(message) is not None


SIGNED_TURNS: list[tuple[Any, ...]] = [
    (Thinking(text="a", signature=SIG), ToolCall(id="c", name="f", arguments="{}")),
    (Thinking(text="a", signature=SIG, origin=ANTHROPIC), Text(text="b")),
    (Thinking(text="a", signature=SIG, origin=RC), Text(text="b"), Text(text="c")),
    (
        Thinking(text="a", signature=SIG, origin=Origin(dialect="openai-chat", carrier="think-tags")),
        Text(text="b"),
    ),
    (Thinking(text="a", signature=SIG, origin=Origin(dialect="openai-chat", carrier="reasoning")),),
    (Thinking(text="a", signature=SIG, origin=Origin(dialect="openai-responses", extra={"id": "rs_1"})),),
    (Thinking(text="a", signature=SIG), Thinking(text="b", signature=SIG)),
    (Thinking(text="a"), Thinking(text="b", signature=SIG)),
    (Text(text="a"), Thinking(text="b", signature=SIG)),
    (Thinking(text="a", signature=SIG), RedactedThinking(data="xyz")),
    (Thinking(text="a", signature=SIG, extra={"anthropic": {"x": 1}}), Text(text="b")),
]


@pytest.mark.parametrize("blocks", SIGNED_TURNS)
@pytest.mark.parametrize("plain", [True, False])
@pytest.mark.parametrize(
    "carrier", [None, "reasoning_content", "reasoning", "reasoning_details", "think-tags"]
)
def test_signed_thinking_shortcut_writes_what_the_collector_writes(
    blocks: tuple[Any, ...], plain: bool, carrier: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # two turns plus a foreign field, so that the losses' order across messages is checked too
    turn = Message(role="assistant", blocks=blocks, plain=plain)
    request = Request(
        messages=(Message(role="user", blocks=(Text(text="q"),)), turn, turn),
        extra={"anthropic": {"metadata": {"user_id": "u"}}},
    )
    response = Response(id="r", model="m", blocks=blocks, stop_reason="end_turn")

    def both() -> Any:
        encoded = CODEC.encode_response(response, carrier=carrier)
        return _encode_request(request, carrier), (encoded.value, encoded.losses)

    fast = both()
    monkeypatch.setattr(assistant, "_common_shape", lambda *args: None)
    assert fast == both()


def test_signed_thinking_shortcut_is_taken_and_reports_the_signature() -> None:
    request = Request(messages=(Message(role="user", blocks=(Text(text="q"),)), *_turns(2)))
    value, losses = _encode_request(request)
    assert value["messages"][1] == {
        "role": "assistant",
        "content": None,
        "reasoning_content": "a",
        "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
    }
    assert [(loss.path, loss.kind) for loss in losses] == [
        ("messages[1].blocks[0]", "signature"),
        ("messages[2].blocks[0]", "signature"),
    ]
    assert (
        assistant._common_shape(request.messages[1].blocks, None, {}, False, False, "", LossLog()) is not None
    )


def _turns(count: int) -> tuple[Message, ...]:
    call = ToolCall(id="c", name="f", arguments="{}")
    return tuple(
        Message(role="assistant", blocks=(Thinking(text="a", signature=SIG), call)) for _ in range(count)
    )


def test_a_dense_conversation_round_trips_through_the_shortcuts(monkeypatch: pytest.MonkeyPatch) -> None:
    """The benchmark's shapes: shortcut and general path agree both ways."""
    turns: list[Message] = []
    for n in range(6):
        call = ToolCall(id=f"call_{n}", name="get_weather", arguments=f'{{"day": {n}}}')
        turns += [
            Message(role="user", blocks=(Text(text=f"question {n}"),), plain=n % 2 == 0),
            Message(role="assistant", blocks=(Thinking(text="plan", signature=SIG, origin=ANTHROPIC), call)),
            Message(role="tool", blocks=(ToolResult(call_id=call.id, content="rain"),)),
            Message(role="assistant", blocks=(Thinking(text="so", origin=RC), Text(text=f"answer {n}"))),
        ]
    request = Request(model="m", messages=tuple(turns))
    fast_wire = _encode_request(request)
    fast_ir = CODEC.decode_request(copy.deepcopy(fast_wire[0]))
    monkeypatch.setattr(messages, "_encode_common", lambda *args: None)
    monkeypatch.setattr(messages, "_decode_common", lambda *args: None)
    monkeypatch.setattr(assistant, "_common_shape", lambda *args: None)
    assert fast_wire == _encode_request(request)
    assert fast_ir == CODEC.decode_request(copy.deepcopy(fast_wire[0]))
    assert CODEC.encode_request(fast_ir).value == fast_wire[0]
