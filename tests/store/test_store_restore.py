"""Which turns are looked up (``wanted``) and how recorded reasoning is put back (``restore``,
``merge``): lossy upgrades, omitted thinking refilled, signed and redacted turns left alone,
the recorded order with the client's own blocks, and the count."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest

from thinkwire.dialects.anthropic import CODEC as ANTHROPIC
from thinkwire.dialects.openai_chat import CODEC as CHAT
from thinkwire.ir import (
    Image,
    Message,
    Opaque,
    RedactedThinking,
    Request,
    Response,
    Text,
    Thinking,
    ToolCall,
    ToolResult,
)
from thinkwire.store import Keys, recordable
from thinkwire.store.restore import merge, needs_restore, restore, wanted

TENANT = "t-alice"
KEYS = Keys(b"0123456789abcdef-test-secret")


class Recorded:
    """Turns kept the way the state keeps them (under ``Keys.turn_keys``, per tenant) and
    looked up the way it looks them up (the first of a turn's keys that hits)."""

    def __init__(self) -> None:
        self.turns: dict[str, Message] = {}

    def record(self, request: Request, turn: Message, tenant: str = TENANT) -> None:
        messages = (*request.messages, turn)
        for key in KEYS.turn_keys(tenant, request.system, messages, len(messages) - 1):
            self.turns[key] = turn

    def found(self, request: Request, tenant: str = TENANT) -> list[tuple[int, Message | None]]:
        return [
            (i, next((self.turns[k] for k in keys if k in self.turns), None))
            for i, keys in wanted(KEYS, tenant, request)
        ]

    def restore(self, *messages: Message, tenant: str = TENANT) -> tuple[tuple[Message, ...], int]:
        request = Request(messages=messages)
        return restore(messages, self.found(request, tenant))


@pytest.fixture
def recorded() -> Recorded:
    return Recorded()


QUESTION = Message(role="user", blocks=(Text(text="weather and time in Paris?"),), plain=True)
TWO_CALLS = Message(
    role="assistant",
    blocks=(
        Thinking(text="I need the weather first.", signature="sig-1"),
        ToolCall(id="call_1", name="get_weather", arguments='{"city": "Paris"}'),
        Thinking(text="And the local time.", signature="sig-2"),
        ToolCall(id="call_2", name="get_time", arguments='{"tz": "Europe/Paris"}'),
    ),
)


def user(text: str) -> Message:
    return Message(role="user", blocks=(Text(text=text),), plain=True)


def results(*ids: str) -> Message:
    return Message(role="tool", blocks=tuple(ToolResult(call_id=i, content="ok") for i in ids))


def visible(message: Message) -> Message:
    return Message(
        role="assistant", blocks=tuple(b for b in message.blocks if isinstance(b, Text | ToolCall))
    )


def with_reasoning(message: Message, *reasoning: Thinking | RedactedThinking) -> Message:
    return Message(role="assistant", blocks=(*reasoning, *visible(message).blocks))


def asked(*messages: Message) -> Request:
    return Request(messages=messages)


# ---------------------------------------------------------------------------------------------
# what is looked up


def test_wanted_is_every_turn_without_reasoning_or_with_lossy_reasoning() -> None:
    lossy = with_reasoning(TWO_CALLS, Thinking(text="my summary"))
    emptied = with_reasoning(TWO_CALLS, Thinking(text="", signature="sig-1"))
    leftover = with_reasoning(TWO_CALLS, Thinking(text=""))  # an empty, unsigned block: nothing
    signed = with_reasoning(TWO_CALLS, Thinking(text="mine", signature="s"))
    redacted = with_reasoning(TWO_CALLS, RedactedThinking(data="opaque"))
    mixed = with_reasoning(TWO_CALLS, Thinking(text="plain"), RedactedThinking(data="opaque"))
    cut_off = Message(role="assistant", blocks=(Thinking(text="and then"),))
    blank = Message(role="assistant", blocks=(Text(text=" \n"),))
    request = asked(
        QUESTION,
        visible(TWO_CALLS),
        lossy,
        emptied,
        leftover,
        signed,
        redacted,
        mixed,
        cut_off,
        blank,
        user("?"),
    )
    want = wanted(KEYS, TENANT, request)
    # redacted alone may be a signature whose text the recording holds (a Responses client's
    # encrypted_content); mixed with text, signed, cut off or blank: nothing to look up
    assert [i for i, _ in want] == [1, 2, 3, 4, 6]
    for i, keys in want:  # each with its keys, in lookup order
        assert keys == KEYS.turn_keys(TENANT, None, request.messages, i)
    expected = [False, True, True, True, True, False, True, False, False, False, False]
    assert [needs_restore(m) for m in request.messages] == expected
    assert wanted(KEYS, TENANT, asked()) == []


def test_only_assistant_turns_with_reasoning_and_something_visible_are_recordable() -> None:
    assert recordable(TWO_CALLS)
    assert recordable(Message(role="assistant", blocks=(RedactedThinking(data="x"), Text(text="42"))))
    assert not recordable(visible(TWO_CALLS))
    assert not recordable(Message(role="user", blocks=(Thinking(text="x"), Text(text="y"))))
    assert not recordable(Message(role="assistant", blocks=(Thinking(text="cut off"),)))
    assert not recordable(Message(role="assistant", blocks=(Thinking(text="x"), Text(text=" \n"))))


# ---------------------------------------------------------------------------------------------
# putting it back


def test_thinking_goes_back_in_order_between_the_calls(recorded: Recorded) -> None:
    recorded.record(asked(QUESTION), TWO_CALLS)
    history = (QUESTION, visible(TWO_CALLS), results("call_1", "call_2"))
    messages, count = recorded.restore(*history)
    assert count == 1
    assert messages == (history[0], TWO_CALLS, history[2])
    assert messages[0] is history[0]
    assert messages[2] is history[2]


def test_an_openai_sdk_turn_is_restored_and_an_anthropic_upstream_gets_it_signed(recorded: Recorded) -> None:
    """The client got the turn as OpenAI Chat, re-serialised the arguments and sent it back."""
    first = CHAT.decode_request(
        {"model": "m", "messages": [{"role": "user", "content": "weather and time?"}]}
    )
    recorded.record(first, TWO_CALLS)
    message = CHAT.encode_response(Response(blocks=TWO_CALLS.blocks, stop_reason="tool_use")).value[
        "choices"
    ][0]["message"]
    calls = [
        {**c, "function": {**c["function"], "arguments": json.dumps(json.loads(c["function"]["arguments"]))}}
        for c in message["tool_calls"]
    ]
    request = CHAT.decode_request(
        {
            "model": "m",
            "messages": [
                {"role": "user", "content": "weather and time?"},
                {"role": "assistant", "content": None, "tool_calls": calls},
                {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
                {"role": "tool", "tool_call_id": "call_2", "content": "10:00"},
            ],
        }
    )
    assert [type(b).__name__ for b in request.messages[1].blocks] == ["ToolCall", "ToolCall"]
    messages, count = restore(request.messages, recorded.found(request))
    assert count == 1
    turn = messages[1]
    assert [type(b).__name__ for b in turn.blocks] == ["Thinking", "ToolCall", "Thinking", "ToolCall"]
    assert turn.blocks[0] == TWO_CALLS.blocks[0]
    assert turn.blocks[2] == TWO_CALLS.blocks[2]
    assert turn.blocks[1] == request.messages[1].blocks[0]  # the client's own call
    encoded = ANTHROPIC.encode_request(Request(model="m", messages=messages)).value
    assert [b["type"] for b in encoded["messages"][1]["content"]] == [
        "thinking",
        "tool_use",
        "thinking",
        "tool_use",
    ]
    assert encoded["messages"][1]["content"][2]["signature"] == "sig-2"


def test_turns_that_hold_their_own_thinking_are_left_alone(recorded: Recorded) -> None:
    recorded.record(asked(QUESTION), TWO_CALLS)
    own = with_reasoning(TWO_CALLS, Thinking(text="my own summary"))  # lossy, not the recorded text
    signed = with_reasoning(TWO_CALLS, Thinking(text="mine", signature="s"))
    redacted = with_reasoning(TWO_CALLS, RedactedThinking(data="theirs"))
    for turn in (own, signed, redacted):
        history = (QUESTION, turn)
        messages, count = recorded.restore(*history)
        assert (messages, count) == (history, 0)
        assert messages[1] is turn


def test_lossy_thinking_with_the_recorded_text_gets_its_signatures_back(recorded: Recorded) -> None:
    """A Chat client's reasoning_content: both blocks' text in one unsigned block."""
    recorded.record(asked(QUESTION), TWO_CALLS)
    lossy = with_reasoning(TWO_CALLS, Thinking(text="I need the weather first.\nAnd the local time."))
    messages, count = recorded.restore(QUESTION, lossy)
    assert count == 1
    assert messages[1].blocks == TWO_CALLS.blocks


def test_lossy_thinking_is_upgraded_with_redacted_reasoning(recorded: Recorded) -> None:
    whole = Message(
        role="assistant",
        blocks=(Thinking(text="Look it up."), RedactedThinking(data="enc"), Text(text="Sunny.")),
    )
    recorded.record(asked(QUESTION), whole)
    messages, count = recorded.restore(QUESTION, with_reasoning(whole, Thinking(text="Look it up.")))
    assert (messages[1], count) == (whole, 1)


def test_lossy_thinking_is_not_upgraded_from_a_recording_without_more(recorded: Recorded) -> None:
    unsigned = Message(
        role="assistant",
        blocks=tuple(Thinking(text=b.text) if isinstance(b, Thinking) else b for b in TWO_CALLS.blocks),
    )
    recorded.record(asked(QUESTION), unsigned)
    lossy = with_reasoning(TWO_CALLS, Thinking(text="I need the weather first. And the local time."))
    messages, count = recorded.restore(QUESTION, lossy)
    assert (messages[1], count) == (lossy, 0)


def test_omitted_thinking_gets_its_recorded_text_back(recorded: Recorded) -> None:
    """Anthropic ``display: "omitted"``: empty text under the vendor's signatures."""
    recorded.record(asked(QUESTION), TWO_CALLS)
    omitted = Message(
        role="assistant",
        blocks=tuple(
            Thinking(text="", signature=b.signature) if isinstance(b, Thinking) else b
            for b in TWO_CALLS.blocks
        ),
    )
    messages, count = recorded.restore(QUESTION, omitted)
    assert (messages[1], count) == (TWO_CALLS, 1)


def test_omitted_thinking_with_a_signature_not_recorded_is_left_alone(recorded: Recorded) -> None:
    recorded.record(asked(QUESTION), TWO_CALLS)
    foreign = with_reasoning(
        TWO_CALLS, Thinking(text="", signature="sig-1"), Thinking(text="", signature="sig-9")
    )
    messages, count = recorded.restore(QUESTION, foreign)
    assert (messages[1], count) == (foreign, 0)


def test_a_signature_sent_back_as_opaque_data_gets_its_recorded_text_back(recorded: Recorded) -> None:
    """A Responses client that read no reasoning text sends the item back as
    ``encrypted_content`` alone, which decodes as redacted thinking holding the signature."""
    recorded.record(asked(QUESTION), TWO_CALLS)
    opaque = Message(
        role="assistant",
        blocks=tuple(
            RedactedThinking(data=b.signature or "") if isinstance(b, Thinking) else b
            for b in TWO_CALLS.blocks
        ),
    )
    messages, count = recorded.restore(QUESTION, opaque)
    assert (messages[1], count) == (TWO_CALLS, 1)


def test_opaque_data_that_is_no_recorded_signature_is_left_alone(recorded: Recorded) -> None:
    """Real encrypted reasoning (an OpenAI item, an Anthropic redacted block) goes on as it came."""
    recorded.record(asked(QUESTION), TWO_CALLS)
    opaque = with_reasoning(TWO_CALLS, RedactedThinking(data="sig-1"), RedactedThinking(data="gAAAA-opaque"))
    messages, count = recorded.restore(QUESTION, opaque)
    assert (messages[1], count) == (opaque, 0)


def test_empty_unsigned_thinking_counts_as_no_reasoning(recorded: Recorded) -> None:
    """What the issuer leaves of a block the gateway signed itself."""
    recorded.record(asked(QUESTION), TWO_CALLS)
    messages, count = recorded.restore(QUESTION, with_reasoning(TWO_CALLS, Thinking(text="")))
    assert (messages[1], count) == (TWO_CALLS, 1)


def test_another_tenant_gets_nothing(recorded: Recorded) -> None:
    recorded.record(asked(QUESTION), TWO_CALLS)
    history = (QUESTION, visible(TWO_CALLS))
    assert recorded.restore(*history, tenant="t-mallory") == (history, 0)


def test_a_turn_of_another_conversation_with_the_same_reply_is_not_used(recorded: Recorded) -> None:
    done = Message(role="assistant", blocks=(Thinking(text="deleted it", signature="s"), Text(text="Done.")))
    recorded.record(asked(user("delete the file")), done)
    history = (user("create the file"), visible(done))
    assert recorded.restore(*history) == (history, 0)


def test_every_restorable_turn_is_counted(recorded: Recorded) -> None:
    answer = Message(
        role="assistant", blocks=(Thinking(text="both known", signature="s3"), Text(text="Sunny, 10:00."))
    )
    tool_results = results("call_1", "call_2")
    recorded.record(asked(QUESTION), TWO_CALLS)
    recorded.record(asked(QUESTION, TWO_CALLS, tool_results), answer)
    unknown = Message(role="assistant", blocks=(Text(text="never recorded"),))
    client_answer = Message(role="assistant", blocks=(Text(text="Sunny, 10:00.\n"),), plain=True)
    history = (
        QUESTION,
        visible(TWO_CALLS),
        tool_results,
        client_answer,
        user("again"),
        unknown,
        user("thanks"),
    )
    messages, count = recorded.restore(*history)
    assert count == 2
    assert messages[1] == TWO_CALLS
    assert messages[3] == Message(
        role="assistant", blocks=(answer.blocks[0], client_answer.blocks[0]), plain=True
    )
    assert messages[5] is unknown
    assert all(messages[i] is history[i] for i in (0, 2, 4, 6))


def test_nothing_found_changes_nothing() -> None:
    history = (QUESTION, visible(TWO_CALLS))
    messages, count = restore(history, [(1, None)])
    assert (messages, count) == (history, 0)
    assert messages[1] is history[1]
    assert restore((), []) == ((), 0)


# ---------------------------------------------------------------------------------------------
# the merge


def test_merged_text_takes_the_recorded_texts(recorded: Recorded) -> None:
    """OpenAI Chat joins a turn's texts into one content string; the recorded split comes back."""
    whole = Message(
        role="assistant",
        blocks=(
            Text(text="Let me look. "),
            Thinking(text="which file?"),
            ToolCall(id="c1", name="read", arguments='{"path": "a.py"}'),
            Text(text="Reading a.py."),
        ),
    )
    recorded.record(asked(QUESTION), whole)
    client = Message(
        role="assistant",
        blocks=(
            Text(text="Let me look. Reading a.py."),
            ToolCall(id="c1", name="read", arguments='{"path":"a.py"}'),
        ),
    )
    messages, count = recorded.restore(QUESTION, client)
    assert count == 1
    assert messages[1].blocks == (whole.blocks[0], whole.blocks[1], client.blocks[1], whole.blocks[3])


def test_the_clients_own_blocks_and_fields_are_kept(recorded: Recorded) -> None:
    whole = Message(
        role="assistant",
        blocks=(
            Thinking(text="t", signature="s"),
            Text(text="Done."),
            ToolCall(id="c", name="f", arguments="{}"),
        ),
    )
    recorded.record(asked(QUESTION), whole)
    cache = {"anthropic": {"cache_control": {"type": "ephemeral"}}}
    note = Opaque(dialect="anthropic", data={"type": "server_tool_use", "id": "x"})
    picture = Image(media_type="image/png", data="iVBORw0KGgo=")
    client = Message(
        role="assistant",
        blocks=(
            Text(text="Done.", extra=cache),
            ToolCall(id="c", name="f", arguments="", extra=cache),
            note,
            picture,
        ),
        extra={"anthropic": {"note": 1}},
    )
    messages, count = recorded.restore(QUESTION, client)
    assert count == 1
    assert messages[1] == Message(
        role="assistant", blocks=(whole.blocks[0], *client.blocks), extra={"anthropic": {"note": 1}}
    )


def test_the_clients_opaque_items_take_the_recorded_ones_places() -> None:
    stored = Message(
        role="assistant",
        blocks=(
            Thinking(text="search first", signature="s1"),
            Opaque(dialect="anthropic", data={"type": "server_tool_use", "id": "srv_1"}),
            Thinking(text="now answer", signature="s2"),
            Text(text="Found it."),
        ),
    )
    theirs = Opaque(dialect="anthropic", data={"type": "server_tool_use", "id": "srv_1", "cached": True})
    extra_image = Image(url="https://example.com/a.png")
    client = Message(role="assistant", blocks=(theirs, Text(text="Found it."), extra_image))
    assert merge(client, stored) == Message(
        role="assistant",
        blocks=(stored.blocks[0], theirs, stored.blocks[2], client.blocks[1], extra_image),
    )


def test_a_recorded_opaque_item_stays_when_the_client_sent_none() -> None:
    stored = Message(
        role="assistant",
        blocks=(
            Thinking(text="t", signature="s"),
            Opaque(dialect="anthropic", data={"id": "x"}),
            Text(text="ok"),
        ),
    )
    client = Message(role="assistant", blocks=(Text(text="ok"),), plain=True)
    assert merge(client, stored) == Message(
        role="assistant", blocks=(*stored.blocks[:2], client.blocks[0]), plain=True
    )


def test_texts_that_do_not_pair_one_to_one_take_the_recorded_texts() -> None:
    stored = Message(role="assistant", blocks=(Thinking(text="t"), Text(text="a b"), Text(text="c")))
    client = Message(role="assistant", blocks=(Text(text="a  b"), Text(text="c")))  # inner spacing differs
    merged = merge(client, stored)
    assert merged is not None
    assert merged.blocks == stored.blocks


@pytest.mark.parametrize(
    "client_calls",
    [
        (),
        (ToolCall(id="c1", name="f", arguments="{}"), ToolCall(id="c2", name="f", arguments="{}")),
    ],
)
def test_turns_that_do_not_line_up_are_not_merged(client_calls: Sequence[ToolCall]) -> None:
    stored = Message(
        role="assistant",
        blocks=(Thinking(text="t", signature="s"), ToolCall(id="c1", name="f", arguments="{}")),
    )
    client = Message(role="assistant", blocks=(Text(text="x"), *client_calls))
    assert merge(client, stored) is None
    messages, count = restore((client,), [(0, stored)])
    assert (messages, count) == ((client,), 0)
    assert messages[0] is client
