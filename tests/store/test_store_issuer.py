"""Gateway-issued signatures (``thinkwire.store.issuer``): tokens, the answer's events, the
request's blocks, and the gateway end to end — an Anthropic client over DeepSeek gets signed
thinking, an altered signature is a 400 with its block's path, the upstream never sees the
gateway's signatures, omitted thinking comes back from the store (and without one is reported
lost, not fatal); a vendor's own signature is never touched."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from tests.support.apps import sqlite_state, stateful_app, vendor_gateway

from thinkwire.asgi.serving import serving
from thinkwire.emulators import emulating
from thinkwire.errors import ApiError
from thinkwire.ir.blocks import Origin, RedactedThinking, Text, Thinking, ToolCall
from thinkwire.ir.conversation import Message
from thinkwire.ir.stream import (
    BlockDelta,
    BlockStart,
    BlockStop,
    SignatureDelta,
    StreamEvent,
    TextDelta,
    ThinkingDelta,
)
from thinkwire.local.signing import is_engine_signature
from thinkwire.store.issuer import GATEWAY_PROVIDER, PREFIX, SEALED, Issuer, Omitted, is_gateway_signature
from thinkwire.upstreams.client import UpstreamClient

SECRET = b"g" * 32
ISSUER = Issuer(SECRET)


# ---------------------------------------------------------------------------------------------
# tokens


def test_a_signature_is_bound_to_its_tenant_and_text() -> None:
    signature = ISSUER.sign("t-1", "I think.")
    assert signature.startswith(PREFIX)
    assert is_gateway_signature(signature)
    assert not is_engine_signature(signature)  # the engine never claims it
    assert ISSUER.sign("t-1", "I think.") == signature
    assert ISSUER.verify("t-1", "I think.", signature)
    assert not ISSUER.verify("t-1", "I think!", signature)
    assert not ISSUER.verify("t-2", "I think.", signature)
    assert not Issuer(b"h" * 32).verify("t-1", "I think.", signature)
    assert not ISSUER.verify("t-1", "I think.", "tw1." + signature.removeprefix(PREFIX))


# ---------------------------------------------------------------------------------------------
# the answer's events


def _thinking_events(block: Thinking, *pieces: str, signature: str | None = None) -> list[StreamEvent]:
    events: list[StreamEvent] = [BlockStart(index=0, block=block)]
    events += [BlockDelta(index=0, delta=ThinkingDelta(text=p)) for p in pieces]
    if signature is not None:
        events.append(BlockDelta(index=0, delta=SignatureDelta(signature=signature)))
    events += [
        BlockStop(index=0),
        BlockStart(index=1, block=Text(text="")),
        BlockDelta(index=1, delta=TextDelta(text="Hi")),
    ]
    return [*events, BlockStop(index=1)]


def _fed(events: list[StreamEvent], dialect: Any) -> list[StreamEvent]:
    signer = ISSUER.signer("t-1", dialect)
    assert signer is not None
    return [shown for event in events for shown in signer.feed(event)]


def test_unsigned_thinking_gets_the_gateways_signature_just_before_its_stop() -> None:
    origin = Origin(dialect="openai-chat", carrier="reasoning_content", provider="deepseek")
    events = _thinking_events(Thinking(text="", origin=origin), "Let me ", "think.")
    out = _fed(events, "anthropic")
    assert out[:3] == events[:3]
    assert out[3] == BlockDelta(index=0, delta=SignatureDelta(signature=ISSUER.sign("t-1", "Let me think.")))
    assert out[4:] == events[3:]


def test_a_foreign_signature_is_replaced_and_the_block_becomes_the_gateways() -> None:
    origin = Origin(dialect="openai-responses", provider="openai", model="gpt", extra={"id": "rs_1"})
    start = Thinking(text="", signature=None, origin=origin)
    events = _thinking_events(start, "Deep.", signature="gAAAA-encrypted")
    events[3] = BlockStop(index=0, origin=origin)  # a Responses upstream finishes its origin at the stop
    out = _fed(events, "anthropic")
    opened = out[0]
    assert isinstance(opened, BlockStart)
    assert isinstance(opened.block, Thinking)
    assert opened.block.origin == Origin(dialect="anthropic", provider=GATEWAY_PROVIDER, model="gpt")
    signatures = [
        e.delta.signature for e in out if isinstance(e, BlockDelta) and isinstance(e.delta, SignatureDelta)
    ]
    assert signatures == [ISSUER.sign("t-1", "Deep.")]  # the vendor's is gone: anthropic cannot carry it
    assert BlockStop(index=0) in out  # its origin dropped, the start's (ours) stays


def test_a_vendor_signature_the_client_carries_goes_through_untouched() -> None:
    origin = Origin(dialect="anthropic", provider="anthropic", model="claude")
    events = _thinking_events(Thinking(text="", origin=origin), "Claude thinks.", signature="EqQBCkYIB")
    assert _fed(events, "anthropic") == events
    responses = Origin(dialect="openai-responses", provider="openai")
    events = _thinking_events(Thinking(text="", origin=responses), "o-series.", signature="gAAAA")
    assert _fed(events, "openai-responses") == events


def test_chat_clients_get_no_gateway_signature() -> None:
    assert ISSUER.signer("t-1", "openai-chat") is None


# ---------------------------------------------------------------------------------------------
# the request's blocks


def _turn(*blocks: Any) -> tuple[Message, ...]:
    call = ToolCall(id="call_1", name="get_weather", arguments='{"city":"Oslo"}')
    return (
        Message(role="user", blocks=(Text(text="Weather?"),)),
        Message(role="assistant", blocks=(*blocks, call)),
    )


def test_the_gateways_signature_is_checked_and_removed_on_the_way_in() -> None:
    signed = Thinking(text="Oslo first.", signature=ISSUER.sign("t-1", "Oslo first."))
    messages, omitted = ISSUER.inbound(_turn(signed), "t-1")
    assert messages[1].blocks[0] == Thinking(text="Oslo first.")
    assert omitted == ()


@pytest.mark.parametrize("tenant", ["t-1", "t-2"])
def test_an_altered_gateway_signature_is_a_400_naming_the_block(tenant: str) -> None:
    text = "Oslo first." if tenant == "t-2" else "Paris first."  # another tenant, or altered text
    block = Thinking(text=text, signature=ISSUER.sign("t-1", "Oslo first."))
    with pytest.raises(ApiError) as caught:
        ISSUER.inbound(_turn(block), tenant)
    assert caught.value.status == 400
    assert caught.value.param == "messages[1].blocks[0]"
    assert caught.value.code == "invalid_signature"


def test_a_vendor_signature_is_left_alone_on_the_way_in() -> None:
    messages = _turn(
        Thinking(text="Claude.", signature="EqQBCkYIB"),
        Thinking(text="", signature="EqQBomitted"),
        Thinking(text="engine", signature="tw1.abc"),
    )
    out, omitted = ISSUER.inbound(messages, "t-1")
    assert out == messages
    assert out[1] is messages[1]
    assert omitted == ()


def test_omitted_thinking_is_checked_against_what_the_store_put_back() -> None:
    signature = ISSUER.sign("t-1", "Oslo first.")
    _, omitted = ISSUER.inbound(_turn(Thinking(text="", signature=signature)), "t-1")
    assert omitted == (Omitted(message=1, path="messages[1].blocks[0]", signature=signature),)
    restored = _turn(Thinking(text="Oslo first.", signature="upstream-sig"))
    assert ISSUER.settle(restored, omitted, "t-1") == (restored, ())
    with pytest.raises(ApiError) as caught:
        ISSUER.settle(_turn(Thinking(text="Something else.")), omitted, "t-1")
    assert caught.value.param == "messages[1].blocks[0]"


def test_omitted_thinking_nothing_restored_is_left_out_as_a_loss() -> None:
    signature = ISSUER.sign("t-1", "Oslo first.")
    messages, omitted = ISSUER.inbound(_turn(Thinking(text="", signature=signature)), "t-1")
    out, losses = ISSUER.settle(messages, omitted, "t-1")
    assert [type(b) for b in out[1].blocks] == [ToolCall]
    assert [(loss.path, loss.kind) for loss in losses] == [("messages[1].blocks[0]", "signature")]


# ---------------------------------------------------------------------------------------------
# the gateway end to end: an Anthropic client over DeepSeek


@contextmanager
def _gateway(state: Path | None) -> Iterator[tuple[str, Starlette]]:
    with emulating("deepseek") as (upstream, app):
        gateway = vendor_gateway(upstream, "deepseek", client=UpstreamClient(backoff=0.01))
        app_, _ = stateful_app(gateway, sqlite_state(state) if state is not None else None, secret=SECRET)
        with serving(app_) as url:
            yield url, app


def _ask(url: str, messages: list[Any], *, omitted: bool = False) -> httpx.Response:
    thinking: dict[str, Any] = {"type": "enabled", "budget_tokens": 1024}
    if omitted:
        thinking["display"] = "omitted"
    body = {"model": "deepseek-reasoner", "max_tokens": 2048, "thinking": thinking, "messages": messages}
    return httpx.post(url + "/v1/messages", json=body, headers={"x-api-key": "app-key"}, timeout=30)


def _history(content: list[dict[str, Any]]) -> list[Any]:
    return [
        {"role": "user", "content": "Say hello."},
        {"role": "assistant", "content": content},
        {"role": "user", "content": "Again, please."},
    ]


def _sent_upstream(app: Starlette) -> str:
    return str([exchange.body for exchange in app.state.requests])


def test_an_anthropic_client_over_deepseek_gets_and_returns_signed_thinking(tmp_path: Path) -> None:
    with _gateway(tmp_path / "state.db") as (url, app):
        first = _ask(url, [{"role": "user", "content": "Say hello."}])
        assert first.status_code == 200, first.text
        content = first.json()["content"]
        assert content[0]["type"] == "thinking"
        assert content[0]["signature"].startswith(PREFIX)
        again = _ask(url, _history(content))
        assert again.status_code == 200, again.text
        altered = [{**content[0], "thinking": content[0]["thinking"] + " (edited)"}, *content[1:]]
        refused = _ask(url, _history(altered))
        assert PREFIX not in _sent_upstream(app)  # ours never go upstream
    assert refused.status_code == 400
    error = refused.json()
    assert error["type"] == "error"
    assert error["error"]["type"] == "invalid_request_error"
    assert "messages[1].blocks[0]" in error["error"]["message"]


def test_omitted_thinking_comes_back_from_the_store(tmp_path: Path) -> None:
    with _gateway(tmp_path / "state.db") as (url, app):
        content = _ask(url, [{"role": "user", "content": "Say hello."}], omitted=True).json()["content"]
        assert content[0]["thinking"] == ""
        assert content[0]["signature"].startswith(PREFIX)
        again = _ask(url, _history(content), omitted=True)
        sent = app.state.requests[-1].body["messages"][1]
        forged = [{**content[0], "signature": PREFIX + "A" * 43}, *content[1:]]
        refused = _ask(url, _history(forged), omitted=True)
    assert again.status_code == 200, again.text
    assert again.headers["thinkwire-restored"] == "1"
    assert sent["reasoning_content"]  # the recorded text went upstream
    assert refused.status_code == 400, refused.text
    assert "messages[1].blocks[0]" in refused.json()["error"]["message"]


def test_without_a_store_the_gateway_still_signs_and_strips_and_reports_omitted_text_lost() -> None:
    with _gateway(None) as (url, app):
        content = _ask(url, [{"role": "user", "content": "Say hello."}]).json()["content"]
        assert content[0]["signature"].startswith(PREFIX)
        assert _ask(url, _history(content)).status_code == 200
        omitted = _ask(url, [{"role": "user", "content": "Say hello."}], omitted=True).json()["content"]
        again = _ask(url, _history(omitted), omitted=True)
        assert PREFIX not in _sent_upstream(app)
    assert again.status_code == 200, again.text
    assert int(again.headers["thinkwire-losses"]) >= 1


# ---------------------------------------------------------------------------------------------
# sealed reasoning (Responses clients: encrypted_content holds the reasoning itself)

CLAUDE_BLOCK = Thinking(
    text="Oslo first.", signature="claude-sig", origin=Origin(dialect="anthropic", provider="anthropic")
)


def test_sealed_reasoning_opens_only_for_its_tenant_and_deployment() -> None:
    token = ISSUER.seal("t-1", CLAUDE_BLOCK)
    assert token.startswith(SEALED)
    body = token.removeprefix(SEALED)
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    assert b"Oslo" not in raw  # encrypted, not merely encoded
    assert b"claude-sig" not in raw
    assert ISSUER.unseal("t-1", token) == CLAUDE_BLOCK
    assert ISSUER.seal("t-1", CLAUDE_BLOCK) == token  # streamed and whole answers agree
    assert ISSUER.seal("t-2", CLAUDE_BLOCK) != token
    assert ISSUER.unseal("t-2", token) is None
    assert Issuer(b"h" * 32).unseal("t-1", token) is None
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    assert ISSUER.unseal("t-1", flipped) is None
    assert ISSUER.unseal("t-1", SEALED + "!!not-base64!!") is None
    assert ISSUER.unseal("t-1", SEALED) is None


def test_a_responses_client_gets_the_upstream_block_sealed_with_its_signature() -> None:
    signer = ISSUER.signer("t-1", "openai-responses")
    assert signer is not None
    events: list[StreamEvent] = [
        BlockStart(index=0, block=Thinking(text="", origin=CLAUDE_BLOCK.origin)),
        BlockDelta(index=0, delta=ThinkingDelta("Oslo first.")),
        BlockDelta(index=0, delta=SignatureDelta("claude-sig")),
        BlockStop(index=0),
    ]
    out = [e for event in events for e in signer.feed(event)]
    signatures = [
        e.delta.signature for e in out if isinstance(e, BlockDelta) and isinstance(e.delta, SignatureDelta)
    ]
    assert len(signatures) == 1  # Claude's signature is not sent: the sealed block is
    assert ISSUER.unseal("t-1", signatures[0]) == CLAUDE_BLOCK


def test_sealed_reasoning_sent_back_without_text_becomes_the_upstream_block_again() -> None:
    token = ISSUER.seal("t-1", CLAUDE_BLOCK)
    call = ToolCall(id="call_1", name="get_weather", arguments="{}")
    stateless = Message(role="assistant", blocks=(RedactedThinking(data=token), call))
    messages, omitted = ISSUER.inbound([stateless], "t-1")
    assert messages[0].blocks == (CLAUDE_BLOCK, call)
    assert omitted == ()


def test_sealed_reasoning_that_does_not_open_is_a_400_naming_the_block() -> None:
    other = Issuer(b"h" * 32).seal("t-1", CLAUDE_BLOCK)
    with pytest.raises(ApiError) as caught:
        ISSUER.inbound(
            [Message(role="assistant", blocks=(Text(text="x"), RedactedThinking(data=other)))], "t-1"
        )
    assert caught.value.status == 400
    assert caught.value.code == "invalid_encrypted_content"
    assert caught.value.param == "messages[0].blocks[1]"


@pytest.mark.parametrize("vendor", ["anthropic", "deepseek"])
def test_a_stateless_responses_client_keeps_its_thinking_with_no_store(vendor: str) -> None:
    """``store: false`` with ``include: ["reasoning.encrypted_content"]``, the reasoning item
    sent back as ``{id, encrypted_content, summary: []}`` only (what @ai-sdk/openai and Codex
    do), and the gateway has no state: the sealed reasoning alone brings Claude's signed
    thinking (or DeepSeek's reasoning_content) back, and the model recalls its note."""
    import openai

    model = {"anthropic": "claude-sonnet", "deepseek": "deepseek-reasoner"}[vendor]
    tools: Any = [
        {
            "type": "function",
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        }
    ]
    with emulating(vendor) as (upstream, emulator):
        app, _ = stateful_app(vendor_gateway(upstream, vendor), None, secret=SECRET)
        with serving(app) as gw, openai.OpenAI(base_url=gw + "/v1", api_key="k", max_retries=0) as client:
            asked: Any = [{"role": "user", "content": "What is the weather in Oslo?"}]
            options: Any = {
                "store": False,
                "include": ["reasoning.encrypted_content"],
                "max_output_tokens": 4000,
            }
            first = client.responses.create(model=model, input=asked, tools=tools, **options)
            items = [item.model_dump(exclude_none=True) for item in first.output]
            reasoning, call = items[:-1], items[-1]  # Claude thinks in two blocks: two items
            assert all(r["encrypted_content"].startswith(SEALED) for r in reasoning)
            bare = [
                {k: r[k] for k in ("type", "id", "encrypted_content")} | {"summary": []} for r in reasoning
            ]
            back = [*bare, {k: call[k] for k in ("type", "id", "call_id", "name", "arguments")}]
            result = {"type": "function_call_output", "call_id": call["call_id"], "output": "sunny"}
            again: Any = [*asked, *back, result]
            second = client.responses.create(model=model, input=again, tools=tools, **options)
        sent = emulator.state.requests[-1]
    assert sent.status == 200, sent.error
    assert "The code word I noted was" in second.output_text, second.output_text
