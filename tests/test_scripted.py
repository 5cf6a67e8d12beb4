"""The scripted model over the IR: schema-satisfying calls, steps, recall, determinism."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from thinkwire.ir import Message, Request, Response, Text, Thinking, Tool, ToolCall, ToolResult
from thinkwire.scripted import code_word, prompt_tokens, reply, schema_example

WEATHER = Tool(
    name="get_weather",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


@pytest.mark.parametrize(
    ("schema", "value"),
    [
        ({"type": "string"}, "example"),
        ({"type": "integer"}, 1),
        ({"type": "number", "minimum": 5}, 6),
        ({"type": "boolean"}, True),
        ({"type": "string", "enum": ["celsius", "fahrenheit"]}, "celsius"),
        ({"type": "array", "items": {"type": "integer"}}, [1]),
        ({"type": ["null", "string"]}, "example"),
        ({"anyOf": [{"type": "boolean"}, {"type": "string"}]}, True),
        (
            {
                "type": "object",
                "properties": {
                    "where": {
                        "type": "object",
                        "properties": {"city": {"type": "string"}, "zip": {"type": "string"}},
                        "required": ["city"],
                    },
                    "days": {"type": "integer"},
                    "optional": {"type": "string"},
                },
                "required": ["where", "days"],
            },
            {"where": {"city": "example"}, "days": 1},
        ),
    ],
)
def test_schema_example_satisfies_the_schema(schema: Any, value: Any) -> None:
    assert schema_example(schema) == value


def test_a_draft_3_required_true_marks_no_property() -> None:
    """``required: true`` (JSON Schema draft 3, which the server lets through) made ``serve
    --model scripted`` fail mid-stream with "'bool' object is not iterable" (the fuzz run)."""
    schema = {"type": "object", "properties": {"a": {"type": "string", "required": True}}, "required": True}
    assert schema_example(schema) == {}


def user(text: str) -> Message:
    return Message(role="user", blocks=(Text(text=text),))


def test_with_tools_it_thinks_then_calls_the_first_tool() -> None:
    view = Request(messages=(user("Weather in Paris?"),), tools=(WEATHER, Tool(name="other")))
    response = reply(view)
    thinking, call = response.blocks
    assert isinstance(thinking, Thinking)
    assert thinking.text.startswith("Step 1: I will call get_weather.")
    assert isinstance(call, ToolCall)
    assert (call.name, call.parsed_arguments()) == (
        "get_weather",
        {"city": "Paris"},
    )  # the subject asked about
    assert response.stop_reason == "tool_use"
    assert reply(view) == response  # deterministic
    assert reply(msgspec.structs.replace(view, messages=(user("Other city?"),))).blocks[1] != call


def test_after_the_tool_result_it_answers_quoting_what_its_thinking_noted() -> None:
    first = Request(messages=(user("Weather?"),), tools=(WEATHER,))
    turn = reply(first, split_thinking=True)
    assert len(turn.blocks) == 3
    call = turn.blocks[2]
    assert isinstance(call, ToolCall)
    result = Message(role="tool", blocks=(ToolResult(call_id=call.id, content="sunny"),))
    kept = Request(messages=(*first.messages, turn.to_message(), result), tools=(WEATHER,))
    answer = reply(kept)
    word = code_word(first.messages)
    assert isinstance(answer.blocks[0], Thinking)
    assert answer.blocks[0].text.startswith("Step 2: get_weather returned a result")
    assert answer.blocks[-1] == Text(text=f"get_weather returned: sunny. The code word I noted was {word}.")
    assert answer.stop_reason == "end_turn"

    stripped = msgspec.structs.replace(
        turn.to_message(), blocks=tuple(b for b in turn.blocks if not isinstance(b, Thinking))
    )
    blind = Request(messages=(*first.messages, stripped, result), tools=(WEATHER,))
    text = reply(blind).blocks[-1]
    assert isinstance(text, Text)
    assert text.text.endswith("I have no note of a code word.")
    assert prompt_tokens(blind) < prompt_tokens(kept)


def test_without_tools_it_thinks_and_answers() -> None:
    response = reply(Request(messages=(user("hello there"),)))
    assert [type(b) for b in response.blocks] == [Thinking, Text]
    assert response.blocks[1] == Text(text="You said: hello there")


def test_tool_choice_none_answers_and_a_named_tool_is_called() -> None:
    from thinkwire.ir import ToolChoice

    view = Request(messages=(user("x"),), tools=(WEATHER, Tool(name="other")))
    none = reply(msgspec.structs.replace(view, tool_choice=ToolChoice(mode="none")))
    assert isinstance(none.blocks[-1], Text)
    named = reply(msgspec.structs.replace(view, tool_choice=ToolChoice(mode="tool", name="other")))
    assert isinstance(named.blocks[-1], ToolCall)
    assert named.blocks[-1].name == "other"


def run_turn(view: Request, *, calls: int, result: str = "ok", steps: int = 10) -> list[Response]:
    """The tool loop of one user turn, thinking sent back every step."""
    replies: list[Response] = []
    for _ in range(steps):
        turn = reply(view, calls=calls)
        replies.append(turn)
        call = turn.blocks[-1]
        if not isinstance(call, ToolCall):
            break
        back = Message(role="tool", blocks=(ToolResult(call_id=call.id, content=result),))
        view = msgspec.structs.replace(view, messages=(*view.messages, turn.to_message(), back))
    return replies


def test_it_makes_the_calls_asked_for_round_the_tools_and_recalls_its_note_at_each_step() -> None:
    view = Request(messages=(user("Weather?"),), tools=(WEATHER, Tool(name="other")))
    turns = run_turn(view, calls=3)
    assert [b.name for t in turns for b in t.blocks if isinstance(b, ToolCall)] == [
        "get_weather",
        "other",
        "get_weather",
    ]
    word = code_word(view.messages)
    middle = turns[1].blocks[0]
    assert isinstance(middle, Thinking)
    assert middle.text == (
        "Step 2: get_weather returned a result; I will call other. "
        f"My earlier thinking noted a code word: {word}."
    )
    assert turns[-1].blocks[-1] == Text(text=f"get_weather returned: ok. The code word I noted was {word}.")
    ids = [b.id for t in turns for b in t.blocks if isinstance(b, ToolCall)]
    assert len(set(ids)) == 3


def test_tool_choice_required_calls_after_every_result() -> None:
    """As the vendors do: a harness that forces a tool call (tau2's solo agent) gets one every
    step, not an answer after the first result."""
    from thinkwire.ir import ToolChoice

    view = Request(messages=(user("x"),), tools=(WEATHER,), tool_choice=ToolChoice(mode="required"))
    turns = run_turn(view, calls=1, steps=4)
    assert [type(t.blocks[-1]) for t in turns] == [ToolCall] * 4
    assert [t.stop_reason for t in turns] == ["tool_use"] * 4
