"""``thinkwire check`` against proxies that misbehave byte by byte in front of the strict
emulators (``tamper``): each check defect the field report found is judged from the bytes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import orjson
from tests.conformance.tamper import closing, tampering

from thinkwire.conformance import PROBES, Card, Endpoint, run_check
from thinkwire.conformance.card import Row
from thinkwire.emulators.run import Emulate
from thinkwire.ir.blocks import Dialect

Json = dict[str, Any]


def check(url: str, dialect: Dialect, model: str, *ids: str, repeat: int = 1) -> Card:
    chosen = tuple(p for p in PROBES if not ids or p.id in ids)
    return asyncio.run(run_check(Endpoint(url, dialect, model), probes=chosen, repeat=repeat))


def events(change: Callable[[Json], Json | None]) -> Callable[[str], str]:
    """A stream change applying ``change`` to each event's JSON data (``None`` drops the event)."""

    def apply(text: str) -> str:
        out: list[str] = []
        for block in text.split("\n\n"):
            lines = block.split("\n")
            data = next((line[6:] for line in lines if line.startswith("data: ")), None)
            if data is None or not data.startswith("{"):
                out.append(block)
                continue
            changed = change(orjson.loads(data))
            if changed is not None:
                out.append(
                    "\n".join(x for x in lines if not x.startswith("data: "))
                    + "\ndata: "
                    + orjson.dumps(changed).decode()
                )
        return "\n\n".join(out)

    return apply


def stream_final(upstream: str, event: Callable[[Json], Json | None]) -> Row:
    """The stream-final row of a Responses emulator behind a proxy changing each stream event."""
    with tampering(upstream, stream=events(event)) as (url, _):
        return check(url, "openai-responses", "gpt-emulated", "stream-final").row("stream-final")


def signatures_failed(
    upstream: str,
    dialect: Dialect,
    model: str,
    whole: Callable[[Json], Json],
    event: Callable[[Json], Json | None],
) -> str:
    """The summary of the signatures fail behind a proxy changing whole answers and each event."""
    with tampering(upstream, whole=whole, stream=events(event)) as (url, _):
        row = check(url, dialect, model, "signatures").row("signatures")
    assert row.status == "fail", row.summary
    return row.summary


def test_a_server_closing_a_reused_connection_is_retried_on_a_fresh_one(emulate: Emulate) -> None:
    upstream, _ = emulate("anthropic")
    with closing(upstream) as (url, closed):
        card = check(url, "anthropic", "claude-emulated", "thinking-carrier", "stream-agrees", "accept-loop")
    assert closed, "the proxy never saw a reused connection"
    assert card.ok, card.to_text()
    notes = [n for r in card.rows for e in r.evidence for n in e.get("notes", [])]
    assert any("retried on a fresh one" in n for n in notes)


def test_an_anthropic_stream_ending_with_done_is_noted_not_failed(emulate: Emulate) -> None:
    upstream, _ = emulate("anthropic")
    with tampering(upstream, stream=lambda text: text + "data: [DONE]\n\n") as (url, _):
        card = check(url, "anthropic", "claude-emulated", "stream-agrees", "accept-streamed", "schema")
    assert card.ok, card.to_text()
    assert card.row("stream-agrees").status == "pass"
    assert card.row("accept-streamed").status == "pass"
    assert "[DONE]" in card.row("schema").summary


def test_a_429_with_retry_after_is_retried_before_any_verdict(emulate: Emulate) -> None:
    upstream, _ = emulate("deepseek")

    def limited(n: int) -> tuple[int, dict[str, str]] | None:
        return (429, {"retry-after": "1"}) if n == 1 else None

    with tampering(upstream, status=limited) as (url, proxy):
        card = check(url, "openai-chat", "deepseek-reasoner", "thinking-carrier", "accept-loop")
    assert card.ok, card.to_text()
    assert card.row("thinking-carrier").status == "pass"
    assert any("answered 429" in n for n in card.row("thinking-carrier").evidence[0]["notes"])
    assert len(proxy.bodies) >= 2


def test_the_turn_goes_back_with_the_fields_the_server_sent(emulate: Emulate) -> None:
    """LiteLLM answers with `thinking_blocks` next to `reasoning_content` and reads them back."""
    upstream, _ = emulate("deepseek")
    blocks = [{"type": "thinking", "thinking": "kept by the proxy", "signature": "sig"}]

    def add(body: Json) -> Json:
        body["choices"][0]["message"]["thinking_blocks"] = blocks
        return body

    def demand(body: Json) -> Json:
        for message in body["messages"]:
            if message["role"] == "assistant" and not body.get("stream"):
                assert message.get("thinking_blocks") == blocks, "the turn did not go back as it came"
        return body

    with tampering(upstream, whole=add, request=demand) as (url, proxy):
        card = check(url, "openai-chat", "deepseek-reasoner", "accept-loop")
    assert card.row("accept-loop").status == "pass", card.to_text()
    sent = [m for b in proxy.bodies for m in b["messages"] if m["role"] == "assistant"]
    assert sent
    assert all(m["thinking_blocks"] == blocks for m in sent)


def test_signatures_judge_the_stream_when_the_whole_response_has_no_thinking(emulate: Emulate) -> None:
    upstream, _ = emulate("anthropic")

    def no_thinking(body: Json) -> Json:
        body["content"] = [b for b in body["content"] if b["type"] != "thinking"]
        return body

    def unsigned(data: Json) -> Json | None:
        delta = data.get("delta", {})
        if delta.get("type") == "signature_delta":
            return None
        block = data.get("content_block", {})
        if block.get("type") == "thinking":
            block.pop("signature", None)
        return data

    summary = signatures_failed(upstream, "anthropic", "claude-emulated", no_thinking, unsigned)
    assert "without its signature" in summary
    assert "streamed response" in summary


def test_probes_that_tested_no_tool_call_say_so(emulate: Emulate) -> None:
    upstream, _ = emulate("deepseek")

    def no_tools(body: Json) -> Json:
        body.pop("tools", None)
        return body

    with tampering(upstream, request=no_tools) as (url, _):
        card = check(
            url, "openai-chat", "deepseek-reasoner", "accept-loop", "accept-streamed", "several-calls"
        )
    for probe in ("accept-loop", "accept-streamed"):
        assert card.row(probe).status == "n/a", card.to_text()
        assert "called no tool" in card.row(probe).summary
    assert card.row("several-calls").status == "n/a"


def test_probes_that_saw_no_thinking_say_so(emulate: Emulate) -> None:
    upstream, _ = emulate("deepseek")

    def whole(body: Json) -> Json:
        body["choices"][0]["message"].pop("reasoning_content", None)
        return body

    def chunk(data: Json) -> Json:
        for choice in data.get("choices", []):
            choice.get("delta", {}).pop("reasoning_content", None)
        return data

    with tampering(upstream, whole=whole, stream=events(chunk)) as (url, _):
        card = check(
            url, "openai-chat", "deepseek-reasoner", "thinking-carrier", "stream-agrees", "signatures"
        )
    assert card.row("thinking-carrier").status == "fail"
    assert "no thinking came back" in card.row("thinking-carrier").summary
    assert card.row("stream-agrees").status == "n/a", card.to_text()
    assert "neither the whole nor the streamed" in card.row("stream-agrees").summary
    assert card.row("signatures").status == "n/a"


def test_the_chat_scenario_asks_for_thinking(emulate: Emulate) -> None:
    upstream, _ = emulate("deepseek")
    with tampering(upstream) as (url, proxy):
        check(url, "openai-chat", "deepseek-reasoner", "thinking-carrier", "stream-agrees")
    assert proxy.bodies
    assert all(b.get("reasoning_effort") == "medium" for b in proxy.bodies)


def test_thinking_leaked_into_text_is_reported_as_a_leak(emulate: Emulate) -> None:
    """ant2oai's whole responses: the thinking becomes a visible text block."""
    upstream, _ = emulate("anthropic")

    def leak(body: Json) -> Json:
        body["content"] = [
            {"type": "text", "text": b["thinking"]} if b["type"] == "thinking" else b for b in body["content"]
        ]
        return body

    with tampering(upstream, whole=leak) as (url, _):
        card = check(url, "anthropic", "claude-emulated", "thinking-carrier", "thinking-hidden")
    assert card.row("thinking-carrier").status == "fail"
    assert "leaked into visible text" in card.row("thinking-carrier").summary
    hidden = card.row("thinking-hidden")
    assert hidden.status == "fail", card.to_text()
    assert "I note the code word" in hidden.summary


def test_reasoning_in_output_text_fails_thinking_hidden(emulate: Emulate) -> None:
    upstream, _ = emulate("openai-responses")

    def leak(body: Json) -> Json:
        reasoning = " ".join(
            part["text"]
            for item in body["output"]
            if item["type"] == "reasoning"
            for part in item.get("summary", [])
        )
        body["output_text"] = reasoning
        return body

    with tampering(upstream, whole=leak) as (url, _):
        card = check(url, "openai-responses", "gpt-emulated", "thinking-hidden")
    assert card.row("thinking-hidden").status == "fail", card.to_text()


def test_responses_items_without_ids_fail_the_schema(emulate: Emulate) -> None:
    """What broke @ai-sdk/openai: reasoning items without `id`, whole and streamed."""
    upstream, _ = emulate("openai-responses")

    def whole(body: Json) -> Json:
        for item in body["output"]:
            item.pop("id", None)
        return body

    def event(data: Json) -> Json:
        item = data.get("item")
        if isinstance(item, dict):
            item.pop("id", None)
        return data

    with tampering(upstream, whole=whole, stream=events(event)) as (url, _):
        card = check(url, "openai-responses", "gpt-emulated", "schema")
    row = card.row("schema")
    assert row.status == "fail", card.to_text()
    problems = row.details["problems"]
    assert any(p.startswith("whole response") and "output.0.id: Field required" in p for p in problems)
    assert any("event response.output_item.added" in p and "item.id: Field required" in p for p in problems)


def test_a_stream_whose_items_lack_what_completed_holds_fails_stream_final(emulate: Emulate) -> None:
    """LiteLLM over Anthropic: encrypted_content only on response.completed."""
    upstream, _ = emulate("openai-responses")

    def event(data: Json) -> Json:
        if data.get("type") == "response.output_item.done":
            data["item"].pop("encrypted_content", None)
        return data

    row = stream_final(upstream, event)
    assert row.status == "fail", row.summary
    assert "`encrypted_content` only in response.completed" in row.summary


def test_a_signature_only_on_response_completed_is_named_where_it_sits(emulate: Emulate) -> None:
    """The item events carry no encrypted_content, response.completed does: a fail (a client that
    builds the turn from the items loses it) that says where the signature is."""
    upstream, _ = emulate("openai-responses")

    def event(data: Json) -> Json:
        if data.get("type") == "response.output_item.done":
            data["item"].pop("encrypted_content", None)
        return data

    summary = signatures_failed(upstream, "openai-responses", "gpt-emulated", lambda data: data, event)
    assert "streamed response 2: signed only at response.output.0.encrypted_content" in summary
    assert "whole response 1" not in summary


def test_without_the_sdks_the_schema_probe_names_the_extra(emulate: Emulate, monkeypatch: Any) -> None:
    from thinkwire.conformance import schema

    monkeypatch.setattr(schema, "load", lambda dialect: None)
    upstream, _ = emulate("anthropic")
    card = check(upstream, "anthropic", "claude-emulated", "schema")
    assert card.row("schema").status == "n/a"
    assert "thinkwire[check]" in card.row("schema").summary


def test_fields_streamed_in_pieces_go_back_merged(emulate: Emulate) -> None:
    """LiteLLM streams `thinking_blocks` one fragment per delta, merged by `index`, the
    signature in a delta of its own; the turn sent back must hold the merged block."""
    upstream, _ = emulate("deepseek")

    def fragment(data: Json) -> Json:
        for choice in data.get("choices", []):
            delta = choice.get("delta", {})
            if delta.get("reasoning_content"):
                piece = {"type": "thinking", "thinking": delta["reasoning_content"], "signature": None}
                delta["thinking_blocks"] = [{**piece, "index": 0}]
            elif choice.get("finish_reason"):
                signed = {"type": "thinking", "thinking": "", "signature": "sig", "index": 0}
                delta["thinking_blocks"] = [signed]
        return data

    def demand(body: Json) -> Json:
        for message in body["messages"]:
            if message["role"] == "assistant" and "thinking_blocks" in message:
                (block,) = message["thinking_blocks"]
                assert block["thinking"] == message["reasoning_content"], "fragments were not joined"
                assert block["signature"] == "sig", "the signature delta was lost"
        return body

    with tampering(upstream, stream=events(fragment), request=demand) as (url, proxy):
        card = check(url, "openai-chat", "deepseek-reasoner", "accept-streamed")
    assert card.row("accept-streamed").status == "pass", card.to_text()
    sent = [m for b in proxy.bodies for m in b["messages"] if m["role"] == "assistant"]
    assert sent
    assert all(m["thinking_blocks"][0]["signature"] == "sig" for m in sent)


def test_a_server_dying_mid_answer_is_a_verdict_not_a_traceback(emulate: Emulate) -> None:
    upstream, _ = emulate("anthropic")
    with tampering(upstream, cut=lambda n: n == 2) as (url, _):
        card = check(url, "anthropic", "claude-emulated", "thinking-carrier", "stream-agrees")
    row = card.row("stream-agrees")
    assert row.status == "fail", card.to_text()
    assert "ClientPayloadError" in row.summary


def test_a_read_past_the_timeout_fails_that_probe_and_keeps_the_card(emulate: Emulate) -> None:
    upstream, _ = emulate("anthropic")
    chosen = tuple(p for p in PROBES if p.id in ("thinking-carrier", "stream-agrees"))
    with tampering(upstream, delay=lambda n: 3.0 if n == 2 else 0.0) as (url, _):
        endpoint = Endpoint(url, "anthropic", "claude-emulated", timeout=1.0)
        card = asyncio.run(run_check(endpoint, probes=chosen, repeat=1))
    assert card.row("thinking-carrier").status == "pass", card.to_text()
    row = card.row("stream-agrees")
    assert row.status == "fail", card.to_text()
    assert "--timeout 1 s" in row.summary


def test_stream_final_is_na_without_a_reasoning_item(emulate: Emulate) -> None:
    """llama.cpp's Responses stream: no reasoning item, no `output_index` on the item events."""
    upstream, _ = emulate("openai-responses")

    def event(data: Json) -> Json | None:
        item = data.get("item")
        if isinstance(item, dict) and item.get("type") == "reasoning":
            return None
        if data.get("type", "").startswith("response.reasoning"):
            return None
        if data.get("type") == "response.completed":
            output = data["response"]["output"]
            data["response"]["output"] = [i for i in output if i.get("type") != "reasoning"]
        data.pop("output_index", None)
        return data

    row = stream_final(upstream, event)
    assert row.status == "n/a", row.summary
    assert "no thinking was compared" in row.summary
    assert "output_item.done came for indexes" in row.summary


def test_the_stripped_control_strips_thinking_in_fields_thinkwire_does_not_model(emulate: Emulate) -> None:
    """LiteLLM answers with `thinking_blocks` too and trusts them when the turn comes back: a
    control that keeps them still carries the thinking."""
    upstream, _ = emulate("deepseek")

    def add(body: Json) -> Json:
        message = body["choices"][0]["message"]
        blocks = [{"type": "thinking", "thinking": message.get("reasoning_content", ""), "signature": "s"}]
        message["thinking_blocks"] = blocks
        message["provider_specific_fields"] = {"thinking_blocks": blocks}
        return body

    def trust(body: Json) -> Json:
        for message in body["messages"]:
            if message["role"] == "assistant" and message.get("thinking_blocks"):
                message["reasoning_content"] = message["thinking_blocks"][0]["thinking"]
        return body

    with tampering(upstream, whole=add, request=trust) as (url, _):
        card = check(url, "openai-chat", "deepseek-reasoner", "thought-recall", repeat=6)
    row = card.row("thought-recall")
    assert row.status == "pass", card.to_text()
    assert row.details["stripped"]["recalled"] == 0


def test_recall_fails_when_every_kept_trial_holding_a_value_was_refused(emulate: Emulate) -> None:
    """claude-code-router over DeepSeek: whole answers lose the thinking (no value noted), and
    streamed turns sent back lose it on the way up, so DeepSeek refuses them."""
    upstream, _ = emulate("deepseek")

    def whole(body: Json) -> Json:
        body["choices"][0]["message"].pop("reasoning_content", None)
        return body

    def untranslated(body: Json) -> Json:
        for message in body["messages"]:
            if body.get("stream") and message["role"] == "assistant":
                message.pop("reasoning_content", None)
        return body

    with tampering(upstream, whole=whole, request=untranslated) as (url, _):
        card = check(url, "openai-chat", "deepseek-reasoner", "thought-recall", repeat=2)
    row = card.row("thought-recall")
    assert row.status == "fail", card.to_text()
    assert "whose thinking held a value (1 of 2) was refused" in row.summary
    assert "reasoning_content" in row.summary


def test_signatures_moved_in_whole_answers_and_lost_in_streams_fail(emulate: Emulate) -> None:
    """LiteLLM over OpenRouter: whole answers move the signed `reasoning_details` under
    `provider_specific_fields`, streams carry them unsigned."""
    upstream, _ = emulate("openrouter")

    def moved(body: Json) -> Json:
        message = body["choices"][0]["message"]
        details = message.pop("reasoning_details", None)
        if details:
            message["reasoning_content"] = "".join(d.get("text", "") for d in details)
            message["provider_specific_fields"] = {"reasoning_details": details}
        return body

    def unsigned(data: Json) -> Json:
        for choice in data.get("choices", []):
            for entry in choice.get("delta", {}).get("reasoning_details") or []:
                entry.pop("signature", None)
        return data

    summary = signatures_failed(upstream, "openai-chat", "anthropic/claude-emulated", moved, unsigned)
    assert "provider_specific_fields.reasoning_details.0.signature" in summary
    assert "streamed response 2" in summary
