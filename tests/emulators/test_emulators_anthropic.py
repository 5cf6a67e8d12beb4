"""The Anthropic emulator with the official SDK: tool loops, the 400s of WIRE.md 2.1-2.5, breaks."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

from thinkwire.emulators.run import Emulate
from thinkwire.emulators.vendors import MISSING_THINKING

TOOLS: list[Any] = [
    {
        "name": "get_weather",
        "description": "The weather in a city.",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
]
THINKING: Any = {"type": "enabled", "budget_tokens": 2048}
USER: Any = {"role": "user", "content": "What is the weather in Paris?"}

OPEN: list[anthropic.Anthropic] = []  # SDK clients, closed by the emulate fixture (tests/conftest.py)


def client(url: str) -> anthropic.Anthropic:
    """An SDK client for ``url``, closed when the test's emulators stop."""
    sdk = anthropic.Anthropic(base_url=url, api_key="test", max_retries=0)
    OPEN.append(sdk)
    return sdk


def create(sdk: anthropic.Anthropic, messages: list[Any], *, stream: bool = False, **options: Any) -> Any:
    params: dict[str, Any] = {
        "model": "claude-emulated",
        "max_tokens": 4096,
        "messages": messages,
        "tools": TOOLS,
        "thinking": THINKING,
        **options,
    }
    if stream:
        with sdk.messages.stream(**params) as events:
            return events.get_final_message()
    return sdk.messages.create(**params)


def blocks(message: Any) -> list[dict[str, Any]]:
    return [b.model_dump(exclude_none=True) for b in message.content]


def result_for(first: Any) -> dict[str, Any]:
    call = next(b for b in first.content if b.type == "tool_use")
    return {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "sunny"}]}


def second(sdk: anthropic.Anthropic, first: Any, content: list[Any], **options: Any) -> Any:
    return create(sdk, [USER, {"role": "assistant", "content": content}, result_for(first)], **options)


@pytest.mark.parametrize("stream", [False, True])
def test_a_tool_loop_sent_back_whole_succeeds_and_recalls(emulate: Emulate, stream: bool) -> None:
    url, app = emulate("anthropic")
    sdk = client(url)
    first = create(sdk, [USER], stream=stream)
    assert [b.type for b in first.content] == ["thinking", "thinking", "tool_use"]
    assert first.content[0].thinking == "Step 1: I will call get_weather."
    assert first.content[1].thinking.startswith("I note the code word ")
    word = first.content[1].thinking.split()[-3]
    assert first.content[2].input == {"city": "Paris"}  # the subject of the question
    assert first.stop_reason == "tool_use"

    final = second(sdk, first, first.content, stream=stream)
    assert [b.type for b in final.content] == ["thinking", "thinking", "text"]
    assert final.content[-1].text == f"get_weather returned: sunny. The code word I noted was {word}."
    assert final.stop_reason == "end_turn"
    assert final.usage.input_tokens > first.usage.input_tokens
    assert [r.status for r in app.state.requests] == [200, 200]
    assert app.state.requests[1].stream is stream


def test_streamed_and_whole_agree(emulate: Emulate) -> None:
    url, _ = emulate("anthropic")
    sdk = client(url)
    whole, streamed = create(sdk, [USER]), create(sdk, [USER], stream=True)
    assert streamed.model_dump() == whole.model_dump()
    assert (
        second(sdk, whole, whole.content, stream=True).model_dump()
        == second(sdk, whole, whole.content).model_dump()
    )


def test_without_tools_it_answers(emulate: Emulate) -> None:
    url, _ = emulate("anthropic")
    message = client(url).messages.create(
        model="claude-emulated", max_tokens=100, messages=[{"role": "user", "content": "hi"}]
    )
    assert [b.type for b in message.content] == ["text"]  # thinking not enabled: none shown
    assert [b.model_dump() for b in message.content] == [
        {"type": "text", "text": "You said: hi", "citations": None}
    ]


def bad_request(sdk: anthropic.Anthropic, first: Any, content: list[Any], **options: Any) -> str:
    with pytest.raises(anthropic.BadRequestError) as caught:
        second(sdk, first, content, **options)
    body = caught.value.body
    assert isinstance(body, dict)
    assert body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"
    return str(body["error"]["message"])


def test_a_tool_turn_sent_back_without_its_thinking_is_refused(emulate: Emulate) -> None:
    url, app = emulate("anthropic")
    sdk = client(url)
    first = create(sdk, [USER])
    message = bad_request(sdk, first, [b for b in blocks(first) if b["type"] != "thinking"])
    assert message == MISSING_THINKING.format(i=1, found="tool_use")
    assert message.startswith("messages.1.content.0.type: Expected `thinking` or `redacted_thinking`")
    assert app.state.requests[-1].status == 400


def test_thinking_off_accepts_a_turn_without_thinking(emulate: Emulate) -> None:
    url, _ = emulate("anthropic")
    sdk = client(url)
    first = create(sdk, [USER])
    content = [b for b in blocks(first) if b["type"] != "thinking"]
    final = second(sdk, first, content, thinking={"type": "disabled"})
    assert final.content[-1].text.endswith("I have no note of a code word.")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ("altered", "messages.1.content.1: Invalid `signature` in `thinking` block"),
        ("blanked", "messages.1.content.1: Invalid `signature` in `thinking` block"),
        ("unsigned", "messages.1.content.1.thinking.signature: Field required"),
        ("reordered", "messages.1.content.0: `thinking` or `redacted_thinking` blocks in the latest"),
        ("dropped", "messages.1.content.0: `thinking` or `redacted_thinking` blocks in the latest"),
        ("redacted", "messages.1.content.0: Invalid `data` in `redacted_thinking` block"),
    ],
)
def test_modified_thinking_is_refused(emulate: Emulate, change: str, expected: str) -> None:
    url, _ = emulate("anthropic")
    sdk = client(url)
    first = create(sdk, [USER])
    content = blocks(first)
    if change == "altered":
        content[1]["thinking"] += " (edited)"
    elif change == "blanked":
        content[1]["thinking"] = ""
    elif change == "unsigned":
        del content[1]["signature"]
    elif change == "reordered":
        content[0], content[1] = content[1], content[0]
    elif change == "dropped":
        del content[0]
    else:
        content.insert(0, {"type": "redacted_thinking", "data": "Zm9yZWlnbg"})
    assert bad_request(sdk, first, content).startswith(expected)


def test_a_signature_from_another_provider_is_refused(emulate: Emulate) -> None:
    url, _ = emulate("anthropic")
    other, _ = emulate("anthropic", secret="another provider")
    first = create(client(other), [USER])
    message = bad_request(client(url), first, blocks(first))
    assert message == "messages.1.content.0: Invalid `signature` in `thinking` block"


def test_tool_choice_may_not_force_a_tool_with_thinking(emulate: Emulate) -> None:
    url, _ = emulate("anthropic")
    with pytest.raises(anthropic.BadRequestError, match="tool_choice forces tool use"):
        create(client(url), [USER], tool_choice={"type": "any"})


def test_omitted_thinking_comes_empty_and_is_restored_when_sent_back(emulate: Emulate) -> None:
    url, app = emulate("anthropic")
    sdk = client(url)
    omitted: Any = {**THINKING, "display": "omitted"}
    first = create(sdk, [USER], thinking=omitted)
    assert [(b.type, getattr(b, "thinking", None)) for b in first.content][:2] == [("thinking", "")] * 2
    assert all(b.signature for b in first.content if b.type == "thinking")
    final = second(sdk, first, first.content, thinking=omitted)
    assert "The code word I noted was" in final.content[-1].text
    assert bad_request(sdk, first, blocks(first)[1:], thinking=omitted).startswith("messages.1.content")
    assert app.state.requests[1].view.messages[1].blocks[0].text == "Step 1: I will call get_weather."


def test_break_drop_thinking_accepts_but_cannot_recall(emulate: Emulate) -> None:
    strict, _ = emulate("anthropic")
    broken, app = emulate("anthropic", "drop-thinking")
    first = create(client(broken), [USER])
    assert first.model_dump() == create(client(strict), [USER]).model_dump()
    good = second(client(strict), first, first.content)
    bad = second(client(broken), first, first.content)
    assert "The code word I noted was" in good.content[-1].text
    assert bad.content[-1].text.endswith("I have no note of a code word.")
    assert bad.usage.input_tokens < good.usage.input_tokens
    assert app.state.requests[-1].status == 200
    # validation is unchanged: the broken server still refuses a missing thinking block
    assert bad_request(client(broken), first, blocks(first)[2:]).startswith("messages.1.content.0.type")


def test_break_merge_stream_blocks_merges_thinking_in_streams_only(emulate: Emulate) -> None:
    url, _ = emulate("anthropic", "merge-stream-blocks")
    sdk = client(url)
    whole = create(sdk, [USER])
    streamed = create(sdk, [USER], stream=True)
    assert [b.type for b in whole.content] == ["thinking", "thinking", "tool_use"]
    assert [b.type for b in streamed.content] == ["thinking", "tool_use"]
    assert streamed.content[0].thinking == whole.content[0].thinking + whole.content[1].thinking
    assert streamed.content[0].signature == whole.content[1].signature
    # the merged block, sent back, is refused, and the session stays broken
    assert bad_request(sdk, streamed, streamed.content) == (
        "messages.1.content.0: Invalid `signature` in `thinking` block"
    )
    assert second(sdk, whole, whole.content).stop_reason == "end_turn"


def test_deepseeks_anthropic_route_thinks_signs_its_own_and_refuses_claudes(emulate: Emulate) -> None:
    """DeepSeek's Anthropic-compatible API (``/anthropic``): deepseek-reasoner thinks without
    being asked, its tool loop works with its own signed thinking sent back, and thinking
    signed by Claude is refused (a signature is good only where it was issued)."""
    url, _ = emulate("deepseek-anthropic")
    sdk = client(url + "/anthropic")
    asked: dict[str, Any] = {"model": "deepseek-reasoner", "thinking": anthropic.NOT_GIVEN}
    first = create(sdk, [USER], **asked)
    assert [b.type for b in first.content] == ["thinking", "thinking", "tool_use"]
    kept = second(sdk, first, blocks(first), **asked)
    assert "The code word I noted was" in kept.content[-1].text
    claude_url, _ = emulate("anthropic")
    claude = create(client(claude_url), [USER])
    with pytest.raises(anthropic.BadRequestError, match="Invalid `signature`"):
        second(sdk, claude, blocks(claude), **asked)
    off = create(sdk, [USER], model="deepseek-chat", thinking=anthropic.NOT_GIVEN)
    assert "thinking" not in [b.type for b in off.content]
