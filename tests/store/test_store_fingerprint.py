"""Turn keys: stable under what clients rewrite (arguments, whitespace, tool-call ids, older
history), different for what tells turns apart (visible part, the conversation right before
it, tenant, secret); tenants and the deployment secret."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from typing import Any

import pytest

from thinkwire.dialects.anthropic import CODEC as ANTHROPIC
from thinkwire.dialects.openai_chat import CODEC as CHAT
from thinkwire.ir import (
    Block,
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
from thinkwire.store import ANONYMOUS, Keys, canonical_arguments, visible_bytes
from thinkwire.store.fingerprint import id_core

SECRET = b"0123456789abcdef-test-secret"
TENANT = "t-alice"
RANDOM_ID = "toolu_01A09q90qw90lq917835lq9"
"""An Anthropic tool-use id; OpenAI-style clients send it back as ``call_<core>_0``."""
REWRITTEN_ID = "call_01A09q90qw90lq917835lq9_0"
OTHER_RANDOM_ID = "toolu_01B77zz55yy44xx33ww22vv1"


@pytest.fixture
def keys() -> Keys:
    return Keys(SECRET)


def assistant(*blocks: Block) -> Message:
    return Message(role="assistant", blocks=blocks)


def user(text: str) -> Message:
    return Message(role="user", blocks=(Text(text=text),), plain=True)


def result(call_id: str, content: str = "ok") -> Message:
    return Message(role="tool", blocks=(ToolResult(call_id=call_id, content=content),))


def call(arguments: str = "{}", id: str = "call_1", name: str = "get_weather") -> ToolCall:
    return ToolCall(id=id, name=name, arguments=arguments)


def keys_of(
    keys: Keys,
    *messages: Message,
    system: Sequence[Block] | None = None,
    tenant: str = TENANT,
    index: int = -1,
) -> tuple[str, ...]:
    """The keys of ``messages[index]`` (by default the last) in the conversation ``messages``."""
    return keys.turn_keys(tenant, system, messages, index % len(messages))


def alone(keys: Keys, turn: Message) -> tuple[str, ...]:
    """The keys of ``turn`` as the answer to one fixed question."""
    return keys_of(keys, user("what is the weather in Paris?"), turn)


# ---------------------------------------------------------------------------------------------
# the visible part: what survives a client


@pytest.mark.parametrize(
    "variant",
    [
        '{"city":"Paris","units":{"temp":"c","wind":"kmh"}}',
        '{ "units": {"wind": "kmh", "temp": "c"}, "city": "Paris" }',
        '{\n  "city": "Paris",\n  "units": {\n    "temp": "c",\n    "wind": "kmh"\n  }\n}',
        '{"city":"\\u0050aris","units":{"temp":"c","wind":"kmh"}}',
    ],
)
def test_reserialised_arguments_give_the_same_keys(keys: Keys, variant: str) -> None:
    original = '{"city": "Paris", "units": {"temp": "c", "wind": "kmh"}}'
    for id in ("call_1", RANDOM_ID):  # the context key alone, and the ids key too
        assert alone(keys, assistant(call(variant, id=id))) == alone(keys, assistant(call(original, id=id)))


def test_integral_floats_and_empty_arguments_give_the_same_keys(keys: Keys) -> None:
    assert alone(keys, assistant(call('{"days": 2.0}'))) == alone(keys, assistant(call('{"days":2}')))
    assert alone(keys, assistant(call(""))) == alone(keys, assistant(call("{}")))
    assert alone(keys, assistant(call(" \n"))) == alone(keys, assistant(call("{}")))


def test_canonical_arguments() -> None:
    assert canonical_arguments('{"b": [1.0, 2.5, {"z": 1, "a": "é"}], "a": null}') == (
        '{"a":null,"b":[1,2.5,{"a":"é","z":1}]}'
    )
    assert canonical_arguments("") == canonical_arguments("  ") == "{}"
    assert canonical_arguments('{"a": ') == '{"a": '  # not JSON: as is
    # what only Python's json reads is canonical too
    assert canonical_arguments('{ "b": NaN, "a": 2.0 }') == canonical_arguments('{"a":2,"b":NaN}')
    assert canonical_arguments('{"a": NaN}') == '{"a":NaN}'
    assert canonical_arguments('{"x": 9007199254740993.0}') == '{"x":9007199254740992.0}'  # >= 2**53: a float
    assert canonical_arguments(f'{{"n": {2**64 - 1}}}') == f'{{"n":{2**64 - 1}}}'


@pytest.mark.parametrize("big", [2**64, -(2**63) - 1, 10**30 + 1])
def test_integers_over_64_bits_are_kept_exactly(keys: Keys, big: int) -> None:
    """They take the slow path (Python's json), as ``canonical_arguments`` says: two calls whose
    arguments differ by one in a large integer (an account number, a snowflake id) are two
    different calls."""
    assert canonical_arguments(f'{{ "n": {big} }}') == f'{{"n":{big}}}'
    assert alone(keys, assistant(call(f'{{"n": {big}}}'))) != alone(
        keys, assistant(call(f'{{"n": {big + 1}}}'))
    )


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_deeply_nested_arguments_are_kept_as_they_are_and_never_raise(keys: Keys, depth: int) -> None:
    """Deeper than ``_normalise`` recurses (1,000) or than the parsers read (100,000): the
    RecursionError is caught and the text kept as is."""
    arrays = "[" * depth + "]" * depth
    assert canonical_arguments(arrays) == arrays
    spaced = '{"a": ' * depth + "1.0" + "}" * depth
    assert canonical_arguments(spaced) == spaced
    turn = assistant(call(spaced, id=RANDOM_ID))
    assert alone(keys, turn) == alone(keys, turn)
    assert alone(keys, turn) != alone(keys, assistant(call(arrays, id=RANDOM_ID)))


def test_whitespace_anywhere_in_text_does_not_count(keys: Keys) -> None:
    base = alone(keys, assistant(Text(text="The weather in Paris is sunny.")))
    for spelled in (
        "  The weather in Paris is sunny.\n",
        "The  weather in\nParis is\tsunny.",
        "The weather in Paris\r\n is sunny.",
        "Theweatherin Parisissunny.",
    ):
        assert alone(keys, assistant(Text(text=spelled))) == base, spelled


def test_texts_count_joined_whatever_their_split(keys: Keys) -> None:
    split = assistant(Text(text="Hello "), Thinking(text="x"), Text(text="world"))
    assert alone(keys, split) == alone(keys, assistant(Text(text="Hello world")))
    assert visible_bytes(split) == visible_bytes(assistant(Text(text="Helloworld")))


def test_reasoning_images_opaque_items_and_extra_do_not_count(keys: Keys) -> None:
    whole = assistant(
        Text(text="Let me check. ", extra={"anthropic": {"cache_control": {"type": "ephemeral"}}}),
        Thinking(text="need the weather", signature="sig"),
        call("{}", id=RANDOM_ID),
        RedactedThinking(data="opaque"),
        Image(media_type="image/png", data="iVBORw0KGgo="),
        Opaque(dialect="anthropic", data={"type": "server_tool_use", "id": "srv_1"}),
        Text(text="\n"),
    )
    visible = assistant(Text(text="  Let me check.\n"), call("", id=RANDOM_ID))
    assert alone(keys, whole) == alone(keys, visible)
    assert visible_bytes(whole) == visible_bytes(visible)


def test_the_order_of_text_and_tool_calls_does_not_count(keys: Keys) -> None:
    """OpenAI Chat writes content before the tool calls, whatever the turn's order."""
    interleaved = assistant(call('{"city": "Paris"}'), Text(text="Checking."))
    assert alone(keys, interleaved) == alone(
        keys, assistant(Text(text="Checking."), call('{"city":"Paris"}'))
    )


def test_empty_content_is_no_text(keys: Keys) -> None:
    assert alone(keys, assistant(Text(text=""), call())) == alone(keys, assistant(call()))


@pytest.mark.parametrize(
    "other",
    [
        assistant(call('{"city": "Paris"}', name="get_time")),
        assistant(call('{"city": "Lyon"}')),
        assistant(call('{"city": "Paris"}'), call('{"city": "Paris"}', id="call_2")),
        assistant(Text(text="Sure."), call('{"city": "Paris"}')),
        assistant(call('{"city": "Paris"}'), call("{}", id="call_2", name="get_time")),
    ],
)
def test_what_clients_keep_changes_the_keys(keys: Keys, other: Message) -> None:
    assert alone(keys, other) != alone(keys, assistant(call('{"city": "Paris"}')))


def test_the_order_of_tool_calls_counts(keys: Keys) -> None:
    a, b = call('{"city": "Paris"}'), call("{}", id="call_2", name="get_time")
    assert alone(keys, assistant(a, b)) != alone(keys, assistant(b, a))


def test_invalid_arguments_count_exactly(keys: Keys) -> None:
    assert alone(keys, assistant(call("{oops"))) == alone(keys, assistant(call("{oops")))
    assert alone(keys, assistant(call("{oops"))) != alone(keys, assistant(call("{ oops")))


def test_a_lone_surrogate_does_not_break_the_keys(keys: Keys) -> None:
    odd = assistant(Text(text="half a pair: \ud83d"), call('{"q": "\\ud83d"}'))
    history = (user("\udc00?"), odd, user("and?"), assistant(Text(text="no")))
    assert keys_of(keys, *history) == keys_of(keys, *history)
    assert keys_of(keys, *history, index=1) != keys_of(keys, *history)


# ---------------------------------------------------------------------------------------------
# tool-call ids: the ids key


@pytest.mark.parametrize(
    ("id", "core"),
    [
        (RANDOM_ID, "01A09q90qw90lq917835lq9"),
        (REWRITTEN_ID, "01A09q90qw90lq917835lq9"),
        ("fc_68a1b2c3d4e5f6a7b8c9d0e1", "68a1b2c3d4e5f6a7b8c9d0e1"),
        ("a234567890123456", "a234567890123456"),  # 16 characters, letters and digits
        ("a23456789012345", None),  # 15
        ("functions.get_weather:0", None),
        ("call_1", None),
        ("call_abcdefghijklmnopqrstuvwx", None),  # letters only
        ("call_1234567890123456789", None),  # digits only
        ("", None),
        ("---", None),
    ],
)
def test_id_core_is_the_long_random_run_of_an_id(id: str, core: str | None) -> None:
    assert id_core(id) == core


def test_a_rewritten_random_id_gives_the_same_ids_key(keys: Keys) -> None:
    recorded = alone(keys, assistant(call('{"city": "Paris"}', id=RANDOM_ID)))
    sent_back = alone(keys, assistant(call('{"city":"Paris"}', id=REWRITTEN_ID)))
    assert len(recorded) == 2  # ids, then context
    assert sent_back == recorded
    assert alone(keys, assistant(call('{"city": "Paris"}', id=OTHER_RANDOM_ID)))[0] != recorded[0]


def test_only_a_turn_whose_every_call_has_a_random_id_gets_an_ids_key(keys: Keys) -> None:
    assert len(alone(keys, assistant(Text(text="Done.")))) == 1
    assert len(alone(keys, assistant(call(id="call_1")))) == 1
    assert len(alone(keys, assistant(call(id="functions.get_weather:0")))) == 1
    assert len(alone(keys, assistant(call(id=RANDOM_ID), call(id="call_2")))) == 1
    assert len(alone(keys, assistant(call(id=RANDOM_ID), call(id=OTHER_RANDOM_ID)))) == 2


def test_non_random_ids_do_not_count(keys: Keys) -> None:
    """Clients renumber them; only the context key is made, and it holds no id."""
    assert alone(keys, assistant(call(id="call_1"))) == alone(keys, assistant(call(id="call_7")))
    assert alone(keys, assistant(call(id="call_1"))) == alone(keys, assistant(call(id="functions.f:0")))


def test_the_ids_key_finds_the_turn_wherever_the_client_moved_it(keys: Keys) -> None:
    """Compaction, injected reminders, another system prompt: the ids key stays, the context
    key changes."""
    turn = assistant(Text(text="Checking."), call('{"city": "Paris"}', id=RANDOM_ID))
    recorded = keys_of(keys, user("weather?"), turn, system=[Text(text="Be brief.")])
    moved = keys_of(
        keys,
        user("[summary of 40 earlier messages]"),
        assistant(Text(text="OK.")),
        user("<reminder>use metric</reminder>"),
        turn,
        system=[Text(text="Be verbose.")],
    )
    assert moved[0] == recorded[0]
    assert moved[1] != recorded[1]


def test_the_ids_and_context_keys_are_distinct(keys: Keys) -> None:
    ids, context = alone(keys, assistant(call(id=RANDOM_ID)))
    assert ids != context


# ---------------------------------------------------------------------------------------------
# the context key: the conversation right before the turn


def test_the_same_reply_after_different_user_messages_gets_different_keys(keys: Keys) -> None:
    done = assistant(Text(text="Done."))
    assert keys_of(keys, user("delete the file"), done) != keys_of(keys, user("create the file"), done)


def test_the_same_reply_after_different_tool_results_gets_different_keys(keys: Keys) -> None:
    asked = (user("run the tests"), assistant(call('{"cmd": "pytest"}', name="shell")))
    done = assistant(Text(text="Done."))
    assert keys_of(keys, *asked, result("call_1", "3 passed"), done) != keys_of(
        keys, *asked, result("call_1", "3 failed"), done
    )


def test_the_same_reply_after_different_random_tool_results_gets_different_keys(keys: Keys) -> None:
    """Results with random ids count by id: two generations never share one."""
    done = assistant(Text(text="Done."))
    first = (user("run the tests"), assistant(call(id=RANDOM_ID)), result(RANDOM_ID))
    second = (user("run the tests"), assistant(call(id=OTHER_RANDOM_ID)), result(OTHER_RANDOM_ID))
    assert keys_of(keys, *first, done) != keys_of(keys, *second, done)


def test_a_shortened_result_with_a_random_id_keeps_the_key(keys: Keys) -> None:
    """Apps shorten old tool outputs, never their ids: a random id names the result."""
    asked = (user("read it"), assistant(call(id=RANDOM_ID)))
    done = assistant(Text(text="Done."))
    long = keys_of(keys, *asked, result(RANDOM_ID, "line\n" * 500), done)
    assert keys_of(keys, *asked, result(REWRITTEN_ID, "[output truncated]"), done) == long


def test_the_same_reply_after_a_different_previous_turn_gets_different_keys(keys: Keys) -> None:
    done = assistant(Text(text="Done."))
    a = keys_of(keys, user("go"), assistant(call('{"path": "a.py"}', name="rm")), result("call_1"), done)
    b = keys_of(keys, user("go"), assistant(call('{"path": "b.py"}', name="rm")), result("call_1"), done)
    assert a != b


def test_compacted_or_edited_older_history_keeps_the_context_key(keys: Keys) -> None:
    """Only the previous assistant turn and what follows it count."""
    recent = (
        assistant(Text(text="Which file?")),
        user("  the README\n"),
        assistant(call('{"path": "README.md"}', name="read")),
        result("call_1", "# thinkwire"),
        assistant(Text(text="Done.")),
    )
    full = (user("hello"), assistant(Text(text="Hi! What shall I do?")), user("fix a typo"), *recent)
    target = len(full) - 1
    recorded = keys_of(keys, *full)
    compacted = keys_of(keys, user("[summary: the user wants a typo fixed]"), *recent)
    edited = keys_of(keys, user("hello there"), assistant(Text(text="Hi.")), user("fix a typo"), *recent)
    dropped = keys_of(keys, *recent[2:])  # even the previous assistant turn's predecessor gone
    assert compacted == edited == dropped == recorded
    # ... and the previous assistant turn's hidden reasoning is not part of it either
    thought = assistant(Thinking(text="open it", signature="s"), call('{"path":"README.md"}', name="read"))
    assert keys_of(keys, *full[: target - 2], thought, *full[target - 1 :]) == recorded


def test_the_window_ends_at_the_previous_assistant_turn(keys: Keys) -> None:
    """Messages between two assistant turns all count: here the user's words."""
    prior = (user("hi"), assistant(Text(text="Hello.")))
    assert keys_of(keys, *prior, user("a"), user("b"), assistant(Text(text="ok"))) != keys_of(
        keys, *prior, user("a"), assistant(Text(text="ok"))
    )
    assert keys_of(keys, *prior, user("a  b"), assistant(Text(text="ok"))) == keys_of(
        keys, *prior, user("ab"), assistant(Text(text="ok"))
    )


def test_a_system_prompt_change_changes_the_context_key(keys: Keys) -> None:
    history = (user("weather?"), assistant(call('{"city": "Paris"}')))
    brief = keys_of(keys, *history, system=[Text(text="Be brief.")])
    assert keys_of(keys, *history, system=[Text(text="Be verbose.")]) != brief
    assert keys_of(keys, *history) != brief
    assert keys_of(keys, *history, system=[Text(text=" Be\nbrief. ")]) == brief  # whitespace aside


def test_a_system_prompt_change_changes_the_context_key_of_a_later_turn(keys: Keys) -> None:
    history = (user("a"), assistant(Text(text="b")), user("c"), assistant(Text(text="d")))
    assert keys_of(keys, *history, system=[Text(text="one")]) != keys_of(
        keys, *history, system=[Text(text="two")]
    )


def test_keys_are_bound_to_the_tenant_and_the_secret(keys: Keys) -> None:
    turn = assistant(Text(text="Checking."), call(id=RANDOM_ID))
    ours = alone(keys, turn)
    assert all(len(k) == 64 and int(k, 16) >= 0 for k in ours)
    assert ours == alone(keys, turn)
    theirs = keys_of(keys, user("what is the weather in Paris?"), turn, tenant="t-bob")
    assert set(theirs).isdisjoint(ours)
    another_secret = alone(Keys(SECRET + b"!"), turn)
    assert set(another_secret).isdisjoint(ours)


# ---------------------------------------------------------------------------------------------
# round trips: a turn recorded as the server made it, sent back by a client without thinking


def recorded_keys(keys: Keys, request: Request, turn: Message) -> tuple[str, ...]:
    """The keys the server records ``turn`` under as the answer to ``request``
    (``ConversationState.turn_record``)."""
    messages = (*request.messages, turn)
    return keys.turn_keys(TENANT, request.system, messages, len(messages) - 1)


def reserialised(calls: list[dict[str, Any]], rename: bool) -> list[dict[str, Any]]:
    """What an OpenAI SDK app does to tool calls: parse and dump the arguments, and (some apps)
    rename the ids ``call_<core>_<n>``."""
    out = []
    for n, c in enumerate(calls):
        id = f"call_{id_core(c['id'])}_{n}" if rename else c["id"]
        arguments = json.dumps(json.loads(c["function"]["arguments"]))
        out.append({**c, "id": id, "function": {**c["function"], "arguments": arguments}})
    return out


@pytest.mark.parametrize("rename", [False, True])
def test_a_conversation_through_openai_chat_finds_its_recorded_turns(keys: Keys, rename: bool) -> None:
    """Two turns of one Chat conversation: each is sent back without its reasoning, arguments
    re-serialised (and ids renamed), and each has the keys it was recorded under."""
    first = assistant(
        Thinking(text="first the weather", signature="s1"),
        call('{"city": "Paris", "days": 2.0}', id=RANDOM_ID),
        Thinking(text="then the time", signature="s2"),
        call('{"tz": "Europe/Paris"}', id=OTHER_RANDOM_ID, name="get_time"),
    )
    second = assistant(Thinking(text="both known", signature="s3"), Text(text="Sunny,\n10:00."))
    opening: list[dict[str, Any]] = [
        {"role": "system", "content": "You are a weather bot."},
        {"role": "user", "content": "weather and time in Paris?"},
    ]
    request_1 = CHAT.decode_request({"model": "m", "messages": opening})
    keys_1 = recorded_keys(keys, request_1, first)
    assert len(keys_1) == 2

    sent = CHAT.encode_response(Response(blocks=first.blocks, stop_reason="tool_use")).value
    message = sent["choices"][0]["message"]
    assert "reasoning_content" in message
    calls = reserialised(message["tool_calls"], rename)
    back_1 = {"role": "assistant", "content": message["content"], "tool_calls": calls}
    results = [
        {"role": "tool", "tool_call_id": c["id"], "content": "sunny" if n == 0 else "10:00"}
        for n, c in enumerate(calls)
    ]
    request_2 = CHAT.decode_request({"model": "m", "messages": [*opening, back_1, *results]})
    assert not any(isinstance(b, Thinking) for b in request_2.messages[2].blocks)
    assert keys.turn_keys(TENANT, request_2.system, request_2.messages, 2) == keys_1
    keys_2 = recorded_keys(keys, request_2, second)

    answer = CHAT.encode_response(Response(blocks=second.blocks, stop_reason="end_turn")).value
    back_2 = {"role": "assistant", "content": answer["choices"][0]["message"]["content"].strip()}
    request_3 = CHAT.decode_request(
        {
            "model": "m",
            "messages": [*opening, back_1, *results, back_2, {"role": "user", "content": "thanks"}],
        }
    )
    index = 2 + 1 + len(results)
    assert request_3.messages[index].role == "assistant"
    assert keys.turn_keys(TENANT, request_3.system, request_3.messages, index) == keys_2
    assert keys.turn_keys(TENANT, request_3.system, request_3.messages, 2) == keys_1


def test_a_turn_through_anthropic_finds_its_recorded_keys(keys: Keys) -> None:
    """Anthropic carries arguments as an ``input`` object; a client strips the thinking blocks."""
    recorded = assistant(
        Text(text="Checking."),
        Thinking(text="hm", signature="s"),
        call('{"b": 1.0, "a": [1, 2]}', id=RANDOM_ID),
    )
    opening: dict[str, Any] = {
        "model": "m",
        "max_tokens": 10,
        "system": "You are a weather bot.",
        "messages": [{"role": "user", "content": "hi"}],
    }
    request_1 = ANTHROPIC.decode_request(opening)
    assert request_1.system is not None
    keys_1 = recorded_keys(keys, request_1, recorded)
    wire = ANTHROPIC.encode_response(Response(blocks=recorded.blocks, stop_reason="tool_use")).value
    content = [b for b in wire["content"] if b["type"] != "thinking"]
    tool_result = {"type": "tool_result", "tool_use_id": RANDOM_ID, "content": "sunny"}
    request_2 = ANTHROPIC.decode_request(
        {
            **opening,
            "messages": [
                *opening["messages"],
                {"role": "assistant", "content": content},
                {"role": "user", "content": [tool_result]},
            ],
        }
    )
    assert keys.turn_keys(TENANT, request_2.system, request_2.messages, 1) == keys_1
    other_system = ANTHROPIC.decode_request({**opening, "system": "You are a travel agent."})
    assert recorded_keys(keys, other_system, recorded)[1] != keys_1[1]


# ---------------------------------------------------------------------------------------------
# tenants and the secret


def test_tenants_are_keyed_digests_of_the_credential(keys: Keys) -> None:
    assert keys.tenant_of(None) == ANONYMOUS
    a = keys.tenant_of("sk-live-aaaa")
    assert a == keys.tenant_of("sk-live-aaaa")
    assert a != keys.tenant_of("sk-live-bbbb")
    assert a != Keys(SECRET + b"!").tenant_of("sk-live-aaaa")
    assert "sk-live" not in a
    assert a != ANONYMOUS
    assert keys.tenant_of("") != ANONYMOUS
    assert SECRET.decode() not in repr(keys)


def test_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        Keys("short")
    Keys("x" * 16)  # the minimum


def test_keys_use_their_own_subkey_of_the_deployment_secret() -> None:
    """The one deployment secret keys the state through a derived subkey: a tenant digest is
    never the plain HMAC of the secret, and a different secret gives different keys."""
    secret = b"the-one-deployment-secret"
    tenant = Keys(secret).tenant_of("sk-1")
    plain = "t-" + hmac.new(secret, b"tenant\0sk-1", hashlib.sha256).hexdigest()
    assert tenant != plain
    assert tenant == Keys(secret).tenant_of("sk-1")
    assert tenant != Keys(secret + b"!").tenant_of("sk-1")
