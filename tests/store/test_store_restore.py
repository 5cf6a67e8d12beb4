"""Recording turns and putting their reasoning back, on each backend."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from thinkwire.dialects.anthropic import CODEC as ANTHROPIC
from thinkwire.dialects.openai_chat import CODEC as CHAT
from thinkwire.ir import Message, Opaque, Request, Response, Text, Thinking, ToolCall, ToolResult
from thinkwire.store import Keys, SQLiteStore, StateStore, record, restore
from thinkwire.store.testing import RedisServer, redis_server_binary

TENANT = "t-alice"


@pytest.fixture(scope="module")
def redis_server() -> Iterator[str]:
    if redis_server_binary() is None or importlib.util.find_spec("redis") is None:
        pytest.skip("needs redis-server (apt-get install redis-server) and redis-py")
    with RedisServer() as server:
        yield server.url


@pytest.fixture(params=["sqlite", "redis"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    """Each backend in turn (the Redis one skips without redis-server)."""
    keys = Keys(b"0123456789abcdef-test-secret")
    store: StateStore
    if request.param == "sqlite":
        store = SQLiteStore(tmp_path / "state.db", keys=keys)
    else:
        import redis

        from thinkwire.store.redis import RedisStore

        url = request.getfixturevalue("redis_server") + "/0"
        with redis.Redis.from_url(url) as client:
            client.flushdb()
        store = RedisStore(url, keys=keys)
    yield store
    store.close()


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


def test_thinking_goes_back_in_order_between_the_calls(any_store: StateStore) -> None:
    assert record(any_store, TENANT, TWO_CALLS)
    history = (user("weather and time in Paris?"), visible(TWO_CALLS), results("call_1", "call_2"))
    messages, restored = restore(any_store, TENANT, history)
    assert restored == 1
    assert messages == (history[0], TWO_CALLS, history[2])
    assert any_store.stats().hits == 1


def test_an_openai_sdk_turn_is_restored(any_store: StateStore) -> None:
    """The client got the turn as OpenAI Chat, re-serialised the arguments and sent it back."""
    record(any_store, TENANT, TWO_CALLS)
    message = CHAT.encode_response(Response(blocks=TWO_CALLS.blocks, stop_reason="tool_use")).value[
        "choices"
    ][0]["message"]
    calls = [
        {**c, "function": {**c["function"], "arguments": json.dumps(json.loads(c["function"]["arguments"]))}}
        for c in message["tool_calls"]
    ]
    wire = {
        "model": "m",
        "messages": [
            {"role": "user", "content": "weather and time in Paris?"},
            {"role": "assistant", "content": None, "tool_calls": calls},
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
            {"role": "tool", "tool_call_id": "call_2", "content": "10:00"},
        ],
    }
    request = CHAT.decode_request(wire)
    assert [type(b).__name__ for b in request.messages[1].blocks] == ["ToolCall", "ToolCall"]
    messages, restored = restore(any_store, TENANT, request.messages)
    assert restored == 1
    turn = messages[1]
    assert [type(b).__name__ for b in turn.blocks] == ["Thinking", "ToolCall", "Thinking", "ToolCall"]
    assert turn.blocks[0] == TWO_CALLS.blocks[0]
    assert turn.blocks[2] == TWO_CALLS.blocks[2]
    assert turn.blocks[1] == request.messages[1].blocks[0]  # the client's own call
    # ... and an Anthropic upstream now gets the signed thinking in place.
    encoded = ANTHROPIC.encode_request(Request(model="m", messages=messages)).value
    assert [b["type"] for b in encoded["messages"][1]["content"]] == [
        "thinking",
        "tool_use",
        "thinking",
        "tool_use",
    ]
    assert encoded["messages"][1]["content"][2]["signature"] == "sig-2"


def test_turns_that_hold_thinking_are_left_alone(any_store: StateStore) -> None:
    record(any_store, TENANT, TWO_CALLS)
    own = Message(
        role="assistant",
        blocks=(Thinking(text="my own summary"), *visible(TWO_CALLS).blocks),
    )
    history = (user("q"), own)
    messages, restored = restore(any_store, TENANT, history)
    assert restored == 0
    assert messages == history
    signed = Message(
        role="assistant", blocks=(Thinking(text="mine", signature="s"), *visible(TWO_CALLS).blocks)
    )
    messages, restored = restore(any_store, TENANT, (user("q"), signed))
    assert restored == 0
    assert any_store.stats().hits == 1  # only the unsigned one was looked up, and not used


def test_lossy_thinking_with_the_recorded_text_gets_its_signatures_back(any_store: StateStore) -> None:
    """A Chat client's reasoning_content: both blocks' text in one unsigned block."""
    record(any_store, TENANT, TWO_CALLS)
    merged = Thinking(text="I need the weather first.\nAnd the local time.")
    lossy = Message(role="assistant", blocks=(merged, *visible(TWO_CALLS).blocks))
    messages, restored = restore(any_store, TENANT, (user("q"), lossy))
    assert restored == 1
    assert messages[1].blocks == TWO_CALLS.blocks


def test_lossy_thinking_is_not_upgraded_from_a_recording_without_more(any_store: StateStore) -> None:
    unsigned = Message(
        role="assistant",
        blocks=tuple(Thinking(text=b.text) if isinstance(b, Thinking) else b for b in TWO_CALLS.blocks),
    )
    record(any_store, TENANT, unsigned)
    lossy = Message(
        role="assistant",
        blocks=(Thinking(text="I need the weather first. And the local time."), *visible(TWO_CALLS).blocks),
    )
    messages, restored = restore(any_store, TENANT, (user("q"), lossy))
    assert (messages[1], restored) == (lossy, 0)


def test_another_tenant_gets_nothing(any_store: StateStore) -> None:
    record(any_store, TENANT, TWO_CALLS)
    history = (user("q"), visible(TWO_CALLS))
    messages, restored = restore(any_store, "t-mallory", history)
    assert (messages, restored) == (history, 0)
    assert any_store.stats().misses == 1


def test_every_restorable_turn_is_counted(any_store: StateStore) -> None:
    answer = Message(
        role="assistant", blocks=(Thinking(text="both known", signature="s3"), Text(text="Sunny, 10:00."))
    )
    record(any_store, TENANT, TWO_CALLS)
    record(any_store, TENANT, answer)
    unknown = Message(role="assistant", blocks=(Text(text="never recorded"),))
    client_answer = Message(role="assistant", blocks=(Text(text="Sunny, 10:00.\n"),), plain=True)
    history = (
        user("q"),
        visible(TWO_CALLS),
        results("call_1", "call_2"),
        client_answer,
        user("again"),
        unknown,
        user("thanks"),
    )
    messages, restored = restore(any_store, TENANT, history)
    assert restored == 2
    assert messages[1] == TWO_CALLS
    assert messages[3] == Message(
        role="assistant", blocks=(answer.blocks[0], client_answer.blocks[0]), plain=True
    )
    assert messages[5] is unknown
    assert [messages[i] for i in (0, 2, 4, 6)] == [history[i] for i in (0, 2, 4, 6)]
    stats = any_store.stats()
    assert (stats.hits, stats.misses) == (2, 1)


def test_nothing_to_look_up_touches_nothing(any_store: StateStore) -> None:
    history = (user("q"), TWO_CALLS)
    assert restore(any_store, TENANT, history) == (history, 0)
    assert restore(any_store, TENANT, []) == ((), 0)
    stats = any_store.stats()
    assert (stats.hits, stats.misses) == (0, 0)


def test_only_assistant_turns_with_reasoning_and_something_visible_are_recorded(
    any_store: StateStore,
) -> None:
    assert not record(any_store, TENANT, visible(TWO_CALLS))
    assert not record(any_store, TENANT, Message(role="user", blocks=(Thinking(text="x"), Text(text="y"))))
    assert not record(any_store, TENANT, Message(role="assistant", blocks=(Thinking(text="cut off"),)))
    assert not record(
        any_store, TENANT, Message(role="assistant", blocks=(Thinking(text="x"), Text(text=" \n")))
    )
    assert any_store.stats().entries == 0


def test_merged_text_takes_the_recorded_texts(any_store: StateStore) -> None:
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
    record(any_store, TENANT, whole)
    client = Message(
        role="assistant",
        blocks=(
            Text(text="Let me look. Reading a.py."),
            ToolCall(id="c1", name="read", arguments='{"path":"a.py"}'),
        ),
    )
    messages, restored = restore(any_store, TENANT, [client])
    assert restored == 1
    assert messages[0].blocks == (whole.blocks[0], whole.blocks[1], client.blocks[1], whole.blocks[3])


def test_the_clients_own_blocks_and_fields_are_kept(any_store: StateStore) -> None:
    whole = Message(
        role="assistant",
        blocks=(
            Thinking(text="t", signature="s"),
            Text(text="Done."),
            ToolCall(id="c", name="f", arguments="{}"),
        ),
    )
    record(any_store, TENANT, whole)
    cache = {"anthropic": {"cache_control": {"type": "ephemeral"}}}
    note = Opaque(dialect="anthropic", data={"type": "server_tool_use", "id": "x"})
    client = Message(
        role="assistant",
        blocks=(Text(text="Done.", extra=cache), ToolCall(id="c", name="f", arguments="", extra=cache), note),
        extra={"anthropic": {"note": 1}},
    )
    messages, restored = restore(any_store, TENANT, [client])
    assert restored == 1
    assert messages[0] == Message(
        role="assistant", blocks=(whole.blocks[0], *client.blocks), extra={"anthropic": {"note": 1}}
    )


def test_a_later_turn_with_the_same_visible_part_replaces_the_earlier(any_store: StateStore) -> None:
    first = Message(role="assistant", blocks=(Thinking(text="first"), Text(text="OK")))
    second = Message(role="assistant", blocks=(Thinking(text="second"), Text(text="OK")))
    record(any_store, TENANT, first)
    record(any_store, TENANT, second)
    messages, _ = restore(any_store, TENANT, [visible(first)])
    assert messages[0] == second
    assert any_store.stats().entries == 1
