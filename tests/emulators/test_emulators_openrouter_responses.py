"""OpenRouter's Responses API beta on the ``openrouter`` emulator, with the official OpenAI SDK:
stateless, reasoning items with ``encrypted_content`` and ``summary``, the provider's rules."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.emulators.test_emulators_responses import (
    ENCRYPTED,
    OPEN,  # noqa: F401  (the emulate fixture closes the SDK clients in the module's OPEN)
    TOOLS,
    USER,
    answer,
    client,
    output,
    refused,
    result_for,
)

from thinkwire.emulators.run import Emulate
from thinkwire.emulators.vendors import GEMINI_CORRUPTED, INVALID_SIGNATURE, MISSING_THINKING, STATELESS

CLAUDE = "anthropic/claude-emulated"
GEMINI = "google/gemini-emulated"


def create(sdk: Any, items: list[Any], model: str = CLAUDE, **options: Any) -> dict[str, Any]:
    response = sdk.responses.create(model=model, input=items, tools=TOOLS, **options)
    whole: dict[str, Any] = response.model_dump(exclude_none=True)
    return whole


def provider_message(body: dict[str, Any]) -> str:
    """The provider's own message OpenRouter relays in ``metadata.raw``."""
    assert body["message"] == "Provider returned error"
    raw = json.loads(body["metadata"]["raw"])
    return str(raw["error"]["message"])


@pytest.mark.parametrize("stream", [False, True])
def test_claude_loop_over_responses_recalls_with_two_reasoning_items(emulate: Emulate, stream: bool) -> None:
    url, app = emulate("openrouter")
    sdk = client(url)
    if stream:
        events = list(
            sdk.responses.create(model=CLAUDE, input=[USER], tools=TOOLS, include=ENCRYPTED, stream=True)
        )
        first = next(e for e in events if e.type == "response.completed").response.model_dump(
            exclude_none=True
        )
    else:
        first = create(sdk, [USER], include=ENCRYPTED)
    assert [i["type"] for i in first["output"]] == ["reasoning", "reasoning", "function_call"]
    for item in first["output"][:2]:
        assert item["id"].startswith("rs_")
        assert item["encrypted_content"]
        assert item["summary"][0]["type"] == "summary_text"
    final = create(sdk, [USER, *output(first), result_for(first)])
    assert "The code word I noted was" in answer(final)
    assert [r.path for r in app.state.requests] == ["/v1/responses", "/v1/responses"]


def test_reasoning_items_sent_back_without_their_text_are_enough(emulate: Emulate) -> None:
    """Stateless clients send a reasoning item back as its id and ``encrypted_content``."""
    url, _ = emulate("openrouter")
    sdk = client(url)
    first = create(sdk, [USER], include=ENCRYPTED)
    bare = [{**i, "summary": []} if i["type"] == "reasoning" else i for i in output(first)]
    assert "The code word I noted was" in answer(create(sdk, [USER, *bare, result_for(first)]))


def test_it_is_stateless(emulate: Emulate) -> None:
    url, app = emulate("openrouter")
    sdk = client(url)
    first = create(sdk, [USER], include=ENCRYPTED)
    body = refused(sdk, [result_for(first)], model=CLAUDE, tools=TOOLS, previous_response_id=first["id"])
    assert body["message"] == STATELESS
    assert "user_id" not in body  # the SDK hands over the error object of OpenRouter's envelope
    assert app.state.requests[-1].status == 400


@pytest.mark.parametrize(
    ("model", "expected"),
    [(CLAUDE, MISSING_THINKING.format(i=1, found="tool_use")), (GEMINI, "is missing a thought_signature")],
)
def test_a_tool_turn_without_signed_reasoning_is_refused(emulate: Emulate, model: str, expected: str) -> None:
    url, _ = emulate("openrouter")
    sdk = client(url)
    first = create(sdk, [USER], model=model)  # encrypted_content not asked for
    assert all("encrypted_content" not in i for i in first["output"])
    body = refused(sdk, [USER, *output(first), result_for(first)], model=model, tools=TOOLS)
    assert expected in provider_message(body)
    body = refused(
        sdk, [USER, *output(first, drop=("reasoning",)), result_for(first)], model=model, tools=TOOLS
    )
    assert expected in provider_message(body)


@pytest.mark.parametrize(
    ("model", "expected"), [(CLAUDE, INVALID_SIGNATURE.format(i=1, j=0)), (GEMINI, GEMINI_CORRUPTED)]
)
def test_altered_reasoning_or_encrypted_content_is_refused(
    emulate: Emulate, model: str, expected: str
) -> None:
    url, _ = emulate("openrouter")
    sdk = client(url)
    first = create(sdk, [USER], model=model, include=ENCRYPTED)
    reasoning, *rest = output(first)
    edited = {**reasoning, "summary": [{"type": "summary_text", "text": "nothing to note"}]}
    forged = {**reasoning, "encrypted_content": reasoning["encrypted_content"][:-2] + "xx"}
    for item in (edited, forged):
        body = refused(sdk, [USER, item, *rest, result_for(first)], model=model, tools=TOOLS)
        assert provider_message(body) == expected


def test_drop_thinking_accepts_but_cannot_recall(emulate: Emulate) -> None:
    url, _ = emulate("openrouter", "drop-thinking")
    sdk = client(url)
    first = create(sdk, [USER], include=ENCRYPTED)
    final = create(sdk, [USER, *output(first), result_for(first)])
    assert answer(final).endswith("I have no note of a code word.")
