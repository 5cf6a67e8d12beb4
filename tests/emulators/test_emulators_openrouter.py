"""The OpenRouter emulator with the official OpenAI SDK (WIRE.md 1 "reasoning_details", 2.10)."""

from __future__ import annotations

from typing import Any

import msgspec
import openai
import pytest

from thinkwire.emulators.run import Emulate
from thinkwire.emulators.vendors import GEMINI_CORRUPTED, INVALID_SIGNATURE, MISSING_THINKING

TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]
USER: Any = {"role": "user", "content": "What is the weather in Paris?"}
CLAUDE = "anthropic/claude-emulated"
GEMINI = "google/gemini-emulated"

OPEN: list[openai.OpenAI] = []  # SDK clients, closed by the emulate fixture (tests/conftest.py)


def client(url: str) -> openai.OpenAI:
    sdk = openai.OpenAI(base_url=url + "/v1", api_key="test", max_retries=0)
    OPEN.append(sdk)
    return sdk


def create(sdk: openai.OpenAI, model: str, messages: list[Any], *, stream: bool = False) -> dict[str, Any]:
    """The assistant message as a dict; streamed, the chunks accumulated into the same shape,
    ``reasoning_details`` pieces merged by ``index`` as OpenRouter's docs say, the plain
    ``reasoning`` string concatenated."""
    if not stream:
        completion = sdk.chat.completions.create(model=model, messages=messages, tools=TOOLS)
        message = completion.choices[0].message.model_dump(exclude_none=True)
        message.pop("refusal", None)
        return {**message, "$finish": completion.choices[0].finish_reason}
    out: dict[str, Any] = {"role": "assistant"}
    calls: dict[int, dict[str, Any]] = {}
    details: dict[int, dict[str, Any]] = {}
    for chunk in sdk.chat.completions.create(model=model, messages=messages, tools=TOOLS, stream=True):
        for choice in chunk.choices:
            delta = choice.delta.model_dump(exclude_none=True)
            if "content" in delta:
                out["content"] = out.get("content", "") + delta["content"]
            if "reasoning" in delta:
                out["reasoning"] = out.get("reasoning", "") + delta["reasoning"]
            for piece in delta.get("reasoning_details", []):
                merged = details.setdefault(piece["index"], {})
                for key, value in piece.items():
                    both = key in ("text", "signature") and key in merged
                    merged[key] = merged[key] + value if both else value
            for piece in delta.get("tool_calls", []):
                call = calls.setdefault(piece["index"], {"function": {"arguments": ""}})
                call.update({k: piece[k] for k in ("id", "type") if k in piece})
                function = piece.get("function", {})
                if "name" in function:
                    call["function"]["name"] = function["name"]
                call["function"]["arguments"] += function.get("arguments", "")
            if choice.finish_reason is not None:
                out["$finish"] = choice.finish_reason
    if calls:
        out["tool_calls"] = [calls[i] for i in sorted(calls)]
    if details:
        out["reasoning_details"] = [details[i] for i in sorted(details)]
    return out


DROPPED = ("reasoning_details", "reasoning")
"""What a client that drops OpenRouter's reasoning leaves out: the array and its plain mirror."""


def assistant(message: dict[str, Any], **changes: Any) -> dict[str, Any]:
    kept = {k: v for k, v in message.items() if not k.startswith("$")}
    return {**kept, **changes}


def tool_result(message: dict[str, Any]) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": message["tool_calls"][0]["id"], "content": "sunny"}


def refused(sdk: openai.OpenAI, model: str, messages: list[Any]) -> tuple[str, dict[str, Any]]:
    """The provider's name and its error body, as OpenRouter relays them."""
    with pytest.raises(openai.BadRequestError) as caught:
        create(sdk, model, messages)
    body = caught.value.body
    assert isinstance(body, dict)
    assert body["message"] == "Provider returned error"
    assert body["code"] == 400
    metadata = body["metadata"]
    assert metadata["is_byok"] is False
    return metadata["provider_name"], msgspec.json.decode(metadata["raw"])


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("model", "entries", "fmt"), [(CLAUDE, 2, "anthropic-claude-v1"), (GEMINI, 1, "google-gemini-v1")]
)
def test_tool_loop_with_reasoning_details_recalls(
    emulate: Emulate, stream: bool, model: str, entries: int, fmt: str
) -> None:
    url, app = emulate("openrouter")
    sdk = client(url)
    first = create(sdk, model, [USER], stream=stream)
    details = first["reasoning_details"]
    assert [(d["type"], d["format"], d["index"]) for d in details] == [
        ("reasoning.text", fmt, k) for k in range(entries)
    ]
    assert all(d["signature"] for d in details)
    assert details[0]["text"].startswith("Step 1: I will call get_weather.")
    assert first["$finish"] == "tool_calls"
    word = details[-1]["text"].split()[-3]

    final = create(sdk, model, [USER, assistant(first), tool_result(first)], stream=stream)
    assert final["content"] == f"get_weather returned: sunny. The code word I noted was {word}."
    assert final["$finish"] == "stop"
    assert [r.status for r in app.state.requests] == [200, 200]


@pytest.mark.parametrize("model", [CLAUDE, GEMINI])
def test_streamed_and_whole_agree(emulate: Emulate, model: str) -> None:
    url, _ = emulate("openrouter")
    sdk = client(url)
    whole = create(sdk, model, [USER])
    assert create(sdk, model, [USER], stream=True) == whole
    history = [USER, assistant(whole), tool_result(whole)]
    assert create(sdk, model, history, stream=True) == create(sdk, model, history)


def test_claude_tool_turn_without_reasoning_details_is_refused(emulate: Emulate) -> None:
    url, app = emulate("openrouter")
    sdk = client(url)
    first = create(sdk, CLAUDE, [USER])
    stripped = {k: v for k, v in assistant(first).items() if k not in DROPPED}
    provider, raw = refused(sdk, CLAUDE, [USER, stripped, tool_result(first)])
    assert provider == "Anthropic"
    message = MISSING_THINKING.format(i=1, found="tool_use")
    assert raw == {"type": "error", "error": {"type": "invalid_request_error", "message": message}}
    assert app.state.requests[-1].status == 400
    assert app.state.requests[-1].error == message
    # unsigned entries do not count
    unsigned = [{k: v for k, v in d.items() if k != "signature"} for d in first["reasoning_details"]]
    refused(sdk, CLAUDE, [USER, assistant(first, reasoning_details=unsigned), tool_result(first)])


def test_gemini_tool_turn_without_reasoning_details_is_refused(emulate: Emulate) -> None:
    url, _ = emulate("openrouter")
    sdk = client(url)
    first = create(sdk, GEMINI, [USER])
    stripped = {k: v for k, v in assistant(first).items() if k not in DROPPED}
    provider, raw = refused(sdk, GEMINI, [USER, stripped, tool_result(first)])
    assert provider == "Google AI Studio"
    assert raw["error"]["status"] == "INVALID_ARGUMENT"
    assert raw["error"]["message"].startswith("Function call is missing a thought_signature")
    assert "`default_api:get_weather`" in raw["error"]["message"]


@pytest.mark.parametrize("model", [CLAUDE, GEMINI])
def test_altered_signature_or_text_is_refused(emulate: Emulate, model: str) -> None:
    url, _ = emulate("openrouter")
    sdk = client(url)
    first = create(sdk, model, [USER])
    details = first["reasoning_details"]
    forged = [{**details[0], "signature": details[0]["signature"][:-2] + "xx"}, *details[1:]]
    edited = [{**details[0], "text": "I note nothing."}, *details[1:]]
    for changed in (forged, edited):
        _, raw = refused(sdk, model, [USER, assistant(first, reasoning_details=changed), tool_result(first)])
        if model == CLAUDE:
            assert raw["error"]["message"] == INVALID_SIGNATURE.format(i=1, j=0)
        else:
            assert raw["error"]["message"] == GEMINI_CORRUPTED


def test_earlier_turns_need_no_reasoning_details(emulate: Emulate) -> None:
    url, _ = emulate("openrouter")
    sdk = client(url)
    first = create(sdk, CLAUDE, [USER])
    final = create(sdk, CLAUDE, [USER, assistant(first), tool_result(first)])
    stripped = {k: v for k, v in assistant(first).items() if k not in DROPPED}
    later = [USER, stripped, tool_result(first), assistant(final), {"role": "user", "content": "Thanks"}]
    assert create(sdk, CLAUDE, later)["$finish"] == "tool_calls"  # accepted: a new turn


def test_reasoning_disabled_has_no_details_and_no_rule(emulate: Emulate) -> None:
    url, _ = emulate("openrouter")
    sdk = client(url)
    off = {"reasoning": {"enabled": False}}
    first = sdk.chat.completions.create(model=CLAUDE, messages=[USER], tools=TOOLS, extra_body=off)
    message = first.choices[0].message.model_dump(exclude_none=True)
    assert "reasoning_details" not in message
    history = [USER, {k: v for k, v in message.items() if k != "refusal"}, tool_result(message)]
    final = sdk.chat.completions.create(model=CLAUDE, messages=history, tools=TOOLS, extra_body=off)
    assert (final.choices[0].message.content or "").endswith("I have no note of a code word.")


@pytest.mark.parametrize("case", ["drop-thinking", "ignore-carrier"])
def test_breaks_accept_but_cannot_recall(emulate: Emulate, case: str) -> None:
    strict, _ = emulate("openrouter")
    broken, app = emulate("openrouter", case)
    first = create(client(broken), CLAUDE, [USER])
    assert first == create(client(strict), CLAUDE, [USER])
    history = [USER, assistant(first), tool_result(first)]
    good = create(client(strict), CLAUDE, history)
    bad = create(client(broken), CLAUDE, history)
    assert "The code word I noted was" in good["content"]
    assert bad["content"].endswith("I have no note of a code word.")
    assert app.state.requests[-1].view.messages[1].blocks[0].__class__.__name__ == "ToolCall"
    # validation is unchanged
    stripped = {k: v for k, v in assistant(first).items() if k not in DROPPED}
    refused(client(broken), CLAUDE, [USER, stripped, tool_result(first)])
    assert [r.status for r in app.state.requests] == [200, 200, 400]


def test_merge_stream_blocks_collapses_claude_entries(emulate: Emulate) -> None:
    url, app = emulate("openrouter", "merge-stream-blocks")
    sdk = client(url)
    whole = create(sdk, CLAUDE, [USER])
    streamed = create(sdk, CLAUDE, [USER], stream=True)
    assert len(whole["reasoning_details"]) == 2
    assert len(streamed["reasoning_details"]) == 1
    merged = streamed["reasoning_details"][0]
    assert merged["text"] == "".join(d["text"] for d in whole["reasoning_details"])
    assert merged["signature"] == whole["reasoning_details"][1]["signature"]
    _, raw = refused(sdk, CLAUDE, [USER, assistant(streamed), tool_result(streamed)])
    assert raw["error"]["message"] == INVALID_SIGNATURE.format(i=1, j=0)
    assert create(sdk, CLAUDE, [USER, assistant(whole), tool_result(whole)])["content"]
    assert [r.status for r in app.state.requests] == [200, 200, 400, 200]


@pytest.mark.parametrize("model", [CLAUDE, GEMINI])
def test_the_plain_reasoning_string_repeats_the_details_text(emulate: Emulate, model: str) -> None:
    """OpenRouter sends ``reasoning`` beside ``reasoning_details``; clients that read only the
    string (and proxies that forward only it) see the same text."""
    url, _ = emulate("openrouter")
    sdk = client(url)
    for message in (create(sdk, model, [USER]), create(sdk, model, [USER], stream=True)):
        assert message["reasoning"] == "".join(d["text"] for d in message["reasoning_details"])
