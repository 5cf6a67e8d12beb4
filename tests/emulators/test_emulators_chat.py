"""The DeepSeek and MiniMax emulators with the official OpenAI SDK (WIRE.md 2.8, 2.9, 2.14)."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from thinkwire.emulators.run import Emulate
from thinkwire.emulators.vendors import DEEPSEEK_MISSING

TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
                "required": ["city", "unit"],
            },
        },
    }
]
USER: Any = {"role": "user", "content": "What is the weather in Paris?"}

OPEN: list[openai.OpenAI] = []  # SDK clients, closed by the emulate fixture (tests/conftest.py)


def client(url: str) -> openai.OpenAI:
    """An SDK client for ``url``, closed when the test's emulators stop."""
    sdk = openai.OpenAI(base_url=url + "/v1", api_key="test", max_retries=0)
    OPEN.append(sdk)
    return sdk


def create(
    sdk: openai.OpenAI, model: str, messages: list[Any], *, stream: bool = False, **extra: Any
) -> dict[str, Any]:
    """The assistant message as a dict (the stream accumulated into the same shape), plus usage."""
    if not stream:
        completion = sdk.chat.completions.create(
            model=model, messages=messages, tools=TOOLS, extra_body=extra
        )
        message = completion.choices[0].message.model_dump(exclude_none=True)
        message.pop("refusal", None)
        assert completion.usage is not None
        return {
            **message,
            "$finish": completion.choices[0].finish_reason,
            "$usage": completion.usage.prompt_tokens,
        }
    out: dict[str, Any] = {"role": "assistant"}
    calls: dict[int, dict[str, Any]] = {}
    for chunk in sdk.chat.completions.create(
        model=model, messages=messages, tools=TOOLS, stream=True, extra_body=extra
    ):
        if chunk.usage is not None:
            out["$usage"] = chunk.usage.prompt_tokens
        for choice in chunk.choices:
            delta = choice.delta.model_dump(exclude_none=True)
            for key in ("content", "reasoning_content"):
                if key in delta:
                    out[key] = out.get(key, "") + delta[key]
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
    return out


def assistant(message: dict[str, Any], *, drop: tuple[str, ...] = ()) -> dict[str, Any]:
    return {k: v for k, v in message.items() if not k.startswith("$") and k not in drop}


def tool_result(message: dict[str, Any]) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": message["tool_calls"][0]["id"], "content": "sunny"}


# ---------------------------------------------------------------------------------------------
# DeepSeek


@pytest.mark.parametrize("stream", [False, True])
def test_deepseek_tool_loop_with_reasoning_content_succeeds(emulate: Emulate, stream: bool) -> None:
    url, app = emulate("deepseek")
    sdk = client(url)
    first = create(sdk, "deepseek-reasoner", [USER], stream=stream)
    assert first["reasoning_content"].startswith("Step 1: I will call get_weather. I note the code word ")
    assert not first.get("content")
    call = first["tool_calls"][0]
    assert (call["function"]["name"], call["function"]["arguments"]) == (
        "get_weather",
        '{"city":"Paris","unit":"c"}',
    )
    assert first["$finish"] == "tool_calls"
    word = first["reasoning_content"].split()[-3]

    final = create(sdk, "deepseek-reasoner", [USER, assistant(first), tool_result(first)], stream=stream)
    assert final["content"] == f"get_weather returned: sunny. The code word I noted was {word}."
    assert final["reasoning_content"].startswith("Step 2: get_weather returned a result")
    assert final["$finish"] == "stop"
    assert [r.status for r in app.state.requests] == [200, 200]


def test_deepseek_streamed_and_whole_agree(emulate: Emulate) -> None:
    url, _ = emulate("deepseek")
    sdk = client(url)
    whole = create(sdk, "deepseek-reasoner", [USER])
    assert create(sdk, "deepseek-reasoner", [USER], stream=True) == whole
    history = [USER, assistant(whole), tool_result(whole)]
    assert create(sdk, "deepseek-reasoner", history, stream=True) == create(sdk, "deepseek-reasoner", history)


def refused(sdk: openai.OpenAI, model: str, messages: list[Any]) -> dict[str, Any]:
    with pytest.raises(openai.BadRequestError) as caught:
        create(sdk, model, messages)
    assert caught.value.status_code == 400
    body = caught.value.body
    assert isinstance(body, dict)
    return body


def test_deepseek_tool_turn_without_reasoning_content_is_refused(emulate: Emulate) -> None:
    url, app = emulate("deepseek")
    sdk = client(url)
    first = create(sdk, "deepseek-reasoner", [USER])
    body = refused(
        sdk, "deepseek-reasoner", [USER, assistant(first, drop=("reasoning_content",)), tool_result(first)]
    )
    assert body == {
        "message": DEEPSEEK_MISSING,
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_request_error",
    }
    assert app.state.requests[-1].status == 400
    # the reasoning in vLLM's `reasoning` field is not DeepSeek's carrier: still refused
    moved = {**assistant(first, drop=("reasoning_content",)), "reasoning": first["reasoning_content"]}
    refused(sdk, "deepseek-reasoner", [USER, moved, tool_result(first)])


def test_deepseek_empty_reasoning_content_passes_but_is_not_recalled(emulate: Emulate) -> None:
    url, _ = emulate("deepseek")
    sdk = client(url)
    first = create(sdk, "deepseek-reasoner", [USER])
    final = create(
        sdk, "deepseek-reasoner", [USER, {**assistant(first), "reasoning_content": ""}, tool_result(first)]
    )
    assert final["content"].endswith("I have no note of a code word.")


def test_deepseek_once_one_turn_carries_reasoning_all_must(emulate: Emulate) -> None:
    url, _ = emulate("deepseek")
    sdk = client(url)
    earlier = [
        USER,
        {"role": "assistant", "content": "Hello."},
        {"role": "assistant", "content": "Hi.", "reasoning_content": "r"},
    ]
    refused(sdk, "deepseek-reasoner", [*earlier, {"role": "user", "content": "again"}])


def test_deepseek_chat_has_no_thinking_and_no_rule(emulate: Emulate) -> None:
    url, _ = emulate("deepseek")
    sdk = client(url)
    first = create(sdk, "deepseek-chat", [USER])
    assert "reasoning_content" not in first
    final = create(sdk, "deepseek-chat", [USER, assistant(first), tool_result(first)])
    assert final["content"].endswith("I have no note of a code word.")


@pytest.mark.parametrize("case", ["drop-thinking", "ignore-carrier"])
def test_deepseek_breaks_accept_but_cannot_recall(emulate: Emulate, case: str) -> None:
    strict, _ = emulate("deepseek")
    broken, app = emulate("deepseek", case)
    first = create(client(broken), "deepseek-reasoner", [USER])
    assert first == create(client(strict), "deepseek-reasoner", [USER])
    history = [USER, assistant(first), tool_result(first)]
    good = create(client(strict), "deepseek-reasoner", history)
    bad = create(client(broken), "deepseek-reasoner", history)
    assert "The code word I noted was" in good["content"]
    assert bad["content"].endswith("I have no note of a code word.")
    assert bad["$usage"] < good["$usage"]
    # validation is unchanged
    refused(
        client(broken),
        "deepseek-reasoner",
        [USER, assistant(first, drop=("reasoning_content",)), tool_result(first)],
    )
    assert [r.status for r in app.state.requests] == [200, 200, 400]


def test_deepseek_ignore_carrier_renders_the_reasoning_field_instead(emulate: Emulate) -> None:
    url, app = emulate("deepseek", "ignore-carrier")
    sdk = client(url)
    first = create(sdk, "deepseek-reasoner", [USER])
    moved = {**assistant(first), "reasoning": first["reasoning_content"]}
    moved["reasoning_content"] = ""  # DeepSeek's rule is met; the reasoning sits in `reasoning`
    final = create(sdk, "deepseek-reasoner", [USER, moved, tool_result(first)])
    assert "The code word I noted was" in final["content"]  # vllm#38488: reads only `reasoning`
    seen = app.state.requests[-1].view.messages[1].blocks
    assert [type(b).__name__ for b in seen] == ["Thinking", "ToolCall"]


# ---------------------------------------------------------------------------------------------
# MiniMax


@pytest.mark.parametrize("stream", [False, True])
def test_minimax_inline_think_echoed_back_is_recalled(emulate: Emulate, stream: bool) -> None:
    url, _ = emulate("minimax")
    sdk = client(url)
    first = create(sdk, "MiniMax-M2", [USER], stream=stream)
    assert first["content"].startswith("<think>Step 1: I will call get_weather.")
    assert first["content"].endswith("</think>")
    final = create(sdk, "MiniMax-M2", [USER, assistant(first), tool_result(first)], stream=stream)
    assert final["content"].startswith("<think>Step 2:")
    assert "The code word I noted was" in final["content"]


def test_minimax_streamed_and_whole_agree(emulate: Emulate) -> None:
    url, _ = emulate("minimax")
    sdk = client(url)
    whole = create(sdk, "MiniMax-M2", [USER])
    assert create(sdk, "MiniMax-M2", [USER], stream=True) == whole


def test_minimax_think_split_out_of_content_is_not_recalled(emulate: Emulate) -> None:
    url, _ = emulate("minimax")
    sdk = client(url)
    first = create(sdk, "MiniMax-M2", [USER])
    stripped = {**assistant(first), "content": first["content"].split("</think>", 1)[1]}
    final = create(sdk, "MiniMax-M2", [USER, stripped, tool_result(first)])
    assert final["content"].endswith("I have no note of a code word.")


def test_minimax_reasoning_split_uses_reasoning_details(emulate: Emulate) -> None:
    url, _ = emulate("minimax")
    sdk = client(url)
    first = create(sdk, "MiniMax-M2", [USER], reasoning_split=True)
    assert "<think>" not in (first.get("content") or "")
    assert first["reasoning_details"][0]["text"].startswith("Step 1:")
    final = create(sdk, "MiniMax-M2", [USER, assistant(first), tool_result(first)], reasoning_split=True)
    assert "The code word I noted was" in final["content"]


def test_minimax_ignore_carrier_drops_inline_thinking(emulate: Emulate) -> None:
    url, _ = emulate("minimax", "ignore-carrier")
    sdk = client(url)
    first = create(sdk, "MiniMax-M2", [USER])
    final = create(sdk, "MiniMax-M2", [USER, assistant(first), tool_result(first)])
    assert final["content"].endswith("I have no note of a code word.")
