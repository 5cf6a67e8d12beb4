"""Fingerprints: stable under what clients rewrite, different for what they keep; tenants."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from thinkwire.dialects.anthropic import CODEC as ANTHROPIC
from thinkwire.dialects.openai_chat import CODEC as CHAT
from thinkwire.ir import Message, RedactedThinking, Response, Text, Thinking, ToolCall
from thinkwire.store import ANONYMOUS, Keys, canonical_arguments, load_secret, visible_bytes
from thinkwire.store.fingerprint import SECRET_ENV, SECRET_FILE

SECRET = b"0123456789abcdef-test-secret"


@pytest.fixture
def keys() -> Keys:
    return Keys(SECRET)


def turn(*blocks: Text | Thinking | RedactedThinking | ToolCall) -> Message:
    return Message(role="assistant", blocks=blocks)


def call(arguments: str, id: str = "call_1", name: str = "get_weather") -> ToolCall:
    return ToolCall(id=id, name=name, arguments=arguments)


@pytest.mark.parametrize(
    "variant",
    [
        '{"city":"Paris","units":{"temp":"c","wind":"kmh"}}',
        '{ "units": {"wind": "kmh", "temp": "c"}, "city": "Paris" }',
        '{\n  "city": "Paris",\n  "units": {\n    "temp": "c",\n    "wind": "kmh"\n  }\n}',
        '{"city":"\\u0050aris","units":{"temp":"c","wind":"kmh"}}',
    ],
)
def test_reserialised_arguments_give_the_same_fingerprint(keys: Keys, variant: str) -> None:
    original = '{"city": "Paris", "units": {"temp": "c", "wind": "kmh"}}'
    assert keys.fingerprint("t", turn(call(variant))) == keys.fingerprint("t", turn(call(original)))


def test_canonical_arguments() -> None:
    assert canonical_arguments('{"b": [1.0, 2.5, {"z": 1, "a": "é"}], "a": null}') == (
        '{"a":null,"b":[1,2.5,{"a":"é","z":1}]}'
    )
    assert canonical_arguments("") == canonical_arguments("  ") == "{}"
    assert canonical_arguments('{"a": ') == '{"a": '  # not JSON: as is
    # what only Python's json reads is canonical too
    assert canonical_arguments('{ "b": NaN, "a": 2.0 }') == canonical_arguments('{"a":2,"b":NaN}')
    assert canonical_arguments('{"a": NaN}') == '{"a":NaN}'


def test_reasoning_and_end_whitespace_do_not_count(keys: Keys) -> None:
    whole = turn(
        Text(text="Let me check. "),
        Thinking(text="need the weather", signature="sig"),
        call("{}"),
        RedactedThinking(data="opaque"),
        Text(text="\n"),
    )
    visible = turn(Text(text="  Let me check.\n"), call(""))
    assert keys.fingerprint("t", whole) == keys.fingerprint("t", visible)
    assert visible_bytes(whole) == visible_bytes(visible)


def test_texts_count_joined_as_the_chat_encoder_joins_them(keys: Keys) -> None:
    split = turn(Text(text="Hello "), Thinking(text="x"), Text(text="world"))
    assert keys.fingerprint("t", split) == keys.fingerprint("t", turn(Text(text="Hello world")))


@pytest.mark.parametrize(
    "other",
    [
        turn(call('{"city": "Paris"}', id="call_2")),
        turn(call('{"city": "Paris"}', name="get_time")),
        turn(call('{"city": "Lyon"}')),
        turn(call('{"city": "Paris"}'), call('{"city": "Paris"}', id="call_2")),
        turn(Text(text="Sure."), call('{"city": "Paris"}')),
    ],
)
def test_what_clients_keep_changes_the_fingerprint(keys: Keys, other: Message) -> None:
    assert keys.fingerprint("t", other) != keys.fingerprint("t", turn(call('{"city": "Paris"}')))


def test_inner_text_and_invalid_arguments_count_exactly(keys: Keys) -> None:
    assert keys.fingerprint("t", turn(Text(text="a b"))) != keys.fingerprint("t", turn(Text(text="a  b")))
    assert keys.fingerprint("t", turn(call("{oops"))) == keys.fingerprint("t", turn(call("{oops")))
    assert keys.fingerprint("t", turn(call("{oops"))) != keys.fingerprint("t", turn(call("{ oops")))


def test_fingerprint_is_keyed_by_tenant_and_secret(keys: Keys) -> None:
    t = turn(call("{}"))
    fp = keys.fingerprint("tenant-a", t)
    assert len(fp) == 64
    assert int(fp, 16) >= 0
    assert fp == keys.fingerprint("tenant-a", t)
    assert fp != keys.fingerprint("tenant-b", t)
    assert fp != Keys(SECRET + b"!").fingerprint("tenant-a", t)


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


def test_a_turn_through_openai_chat_matches_what_was_recorded(keys: Keys) -> None:
    """The OpenAI SDK drops reasoning and re-serialises arguments; the turn is still found."""
    recorded = turn(
        Thinking(text="first the weather", signature="s1"),
        call('{"city": "Paris", "days": 2.0}'),
        Thinking(text="then the time", signature="s2"),
        call('{"tz": "Europe/Paris"}', id="call_2", name="get_time"),
    )
    wire = CHAT.encode_response(Response(blocks=recorded.blocks, stop_reason="tool_use")).value
    sent = wire["choices"][0]["message"]
    back = {
        "role": "assistant",
        "content": sent["content"],
        "tool_calls": [
            {
                **c,
                "function": {
                    **c["function"],
                    "arguments": json.dumps(json.loads(c["function"]["arguments"])),
                },
            }
            for c in sent["tool_calls"]
        ],
    }
    request = CHAT.decode_request({"model": "m", "messages": [{"role": "user", "content": "hi"}, back]})
    assert keys.fingerprint("t", request.messages[1]) == keys.fingerprint("t", recorded)


def test_a_turn_through_anthropic_matches_what_was_recorded(keys: Keys) -> None:
    """Anthropic carries arguments as an ``input`` object; a client strips the thinking blocks."""
    recorded = turn(Text(text="Checking."), Thinking(text="hm", signature="s"), call('{"b": 1, "a": [1, 2]}'))
    wire = ANTHROPIC.encode_response(Response(blocks=recorded.blocks, stop_reason="tool_use")).value
    content = [b for b in wire["content"] if b["type"] != "thinking"]
    request = ANTHROPIC.decode_request(
        {
            "model": "m",
            "max_tokens": 10,
            "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": content}],
        }
    )
    assert keys.fingerprint("t", request.messages[1]) == keys.fingerprint("t", recorded)


def test_load_secret_prefers_the_environment(tmp_path: Path) -> None:
    assert load_secret(tmp_path, {SECRET_ENV: "from-the-environment"}) == b"from-the-environment"
    assert not (tmp_path / SECRET_FILE).exists()


def test_load_secret_creates_a_private_file_once(tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = load_secret(home, {})
    assert len(first) == 64
    assert load_secret(home, {}) == first
    assert stat.S_IMODE(os.stat(home / SECRET_FILE).st_mode) == 0o600
    assert os.listdir(home) == [SECRET_FILE]
    Keys(first)  # long enough
