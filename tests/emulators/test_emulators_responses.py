"""The OpenAI Responses emulator with the official OpenAI SDK (WIRE.md 1 "OpenAI Responses", 2.11)."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from thinkwire.emulators.run import Emulate
from thinkwire.emulators.vendors import NO_FOLLOWING_ITEM

TOOLS: list[Any] = [
    {
        "type": "function",
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
]
USER: Any = {"role": "user", "content": "What is the weather in Paris?"}
ENCRYPTED: Any = ["reasoning.encrypted_content"]

OPEN: list[openai.OpenAI] = []  # SDK clients, closed by the emulate fixture (tests/conftest.py)


def client(url: str) -> openai.OpenAI:
    sdk = openai.OpenAI(base_url=url + "/v1", api_key="test", max_retries=0)
    OPEN.append(sdk)
    return sdk


def create(sdk: openai.OpenAI, items: list[Any], *, stream: bool = False, **options: Any) -> dict[str, Any]:
    """The response as a dict; streamed, the one ``response.completed`` carries."""
    params: dict[str, Any] = {"model": "gpt-emulated", "input": items, "tools": TOOLS, **options}
    if not stream:
        whole: dict[str, Any] = sdk.responses.create(**params).model_dump(exclude_none=True)
        return whole
    done = [e for e in sdk.responses.create(**params, stream=True) if e.type == "response.completed"]
    assert len(done) == 1
    streamed: dict[str, Any] = done[0].response.model_dump(exclude_none=True)
    return streamed


def output(response: dict[str, Any], *, drop: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The output items to send back, less the item types in ``drop``."""
    return [i for i in response["output"] if i["type"] not in drop]


def result_for(response: dict[str, Any]) -> dict[str, Any]:
    call = next(i for i in response["output"] if i["type"] == "function_call")
    return {"type": "function_call_output", "call_id": call["call_id"], "output": "sunny"}


def answer(response: dict[str, Any]) -> str:
    message = next(i for i in response["output"] if i["type"] == "message")
    return str(message["content"][0]["text"])


def refused(sdk: openai.OpenAI, items: list[Any], status: int = 400, **options: Any) -> dict[str, Any]:
    with pytest.raises(openai.APIStatusError) as caught:
        create(sdk, items, **options)
    assert caught.value.status_code == status
    body = caught.value.body
    assert isinstance(body, dict)
    return body


@pytest.mark.parametrize("stream", [False, True])
def test_stateless_tool_loop_with_encrypted_reasoning_recalls(emulate: Emulate, stream: bool) -> None:
    url, app = emulate("openai-responses")
    sdk = client(url)
    first = create(sdk, [USER], stream=stream, include=ENCRYPTED, store=False)
    assert [i["type"] for i in first["output"]] == ["reasoning", "function_call"]
    reasoning, call = first["output"]
    assert reasoning["id"].startswith("rs_")
    assert call["id"].startswith("fc_")
    assert reasoning["summary"][0]["text"].startswith("Step 1: I will call get_weather.")
    assert reasoning["encrypted_content"]
    assert (call["name"], call["arguments"]) == ("get_weather", '{"city":"Paris"}')
    word = reasoning["summary"][0]["text"].split()[-3]

    final = create(sdk, [USER, *output(first), result_for(first)], stream=stream, include=ENCRYPTED)
    assert answer(final) == f"get_weather returned: sunny. The code word I noted was {word}."
    assert [i["type"] for i in final["output"]] == ["reasoning", "message"]
    assert final["status"] == "completed"
    assert [r.status for r in app.state.requests] == [200, 200]


@pytest.mark.parametrize("stream", [False, True])
def test_previous_response_id_carries_the_reasoning(emulate: Emulate, stream: bool) -> None:
    url, _ = emulate("openai-responses")
    sdk = client(url)
    first = create(sdk, [USER], stream=stream)
    assert "encrypted_content" not in first["output"][0]  # not asked for in `include`
    final = create(sdk, [result_for(first)], stream=stream, previous_response_id=first["id"])
    assert "The code word I noted was" in answer(final)
    assert final["previous_response_id"] == first["id"]


def test_stored_reasoning_items_come_back_by_id(emulate: Emulate) -> None:
    url, _ = emulate("openai-responses")
    sdk = client(url)
    first = create(sdk, [USER])
    final = create(sdk, [USER, *output(first), result_for(first)])
    assert "The code word I noted was" in answer(final)


def test_streamed_and_whole_agree(emulate: Emulate) -> None:
    url, _ = emulate("openai-responses")
    sdk = client(url)
    whole = create(sdk, [USER], include=ENCRYPTED)
    assert create(sdk, [USER], stream=True, include=ENCRYPTED) == whole
    history = [USER, *output(whole), result_for(whole)]
    assert create(sdk, history, stream=True) == create(sdk, history)


def test_reasoning_without_its_following_item_is_refused(emulate: Emulate) -> None:
    url, app = emulate("openai-responses")
    sdk = client(url)
    first = create(sdk, [USER], include=ENCRYPTED)
    rs = first["output"][0]["id"]
    later: Any = {"role": "user", "content": "Never mind."}
    body = refused(sdk, [USER, *output(first, drop=("function_call",)), later])
    assert body == {
        "message": NO_FOLLOWING_ITEM.format(id=rs),
        "type": "invalid_request_error",
        "param": "input",
        "code": None,
    }
    assert body["message"] == (
        f"Item '{rs}' of type 'reasoning' was provided without its required following item."
    )
    # followed by another turn's call: not the item it preceded
    other = create(sdk, [{"role": "user", "content": "Again?"}], include=ENCRYPTED)
    swapped = [USER, first["output"][0], other["output"][1], result_for(other)]
    refused(sdk, swapped)
    assert [r.status for r in app.state.requests] == [200, 400, 200, 400]


def test_altered_encrypted_content_is_refused(emulate: Emulate) -> None:
    url, _ = emulate("openai-responses")
    sdk = client(url)
    first = create(sdk, [USER], include=ENCRYPTED)
    reasoning, call = first["output"]
    forged = {**reasoning, "encrypted_content": reasoning["encrypted_content"][:-2] + "xx"}
    body = refused(sdk, [USER, forged, call, result_for(first)])
    assert body["code"] == "invalid_encrypted_content"
    assert body["message"].endswith("could not be verified.")


def test_unstored_reasoning_without_encrypted_content_is_not_found(emulate: Emulate) -> None:
    url, _ = emulate("openai-responses")
    sdk = client(url)
    first = create(sdk, [USER], store=False)
    body = refused(sdk, [USER, *output(first), result_for(first)], status=404)
    assert body["message"].startswith(f"Item with id '{first['output'][0]['id']}' not found.")
    refused(sdk, [result_for(first)], previous_response_id=first["id"])  # not stored either


def test_edited_summary_is_not_what_the_model_reads(emulate: Emulate) -> None:
    url, _ = emulate("openai-responses")
    sdk = client(url)
    first = create(sdk, [USER], include=ENCRYPTED, store=False)
    reasoning, call = first["output"]
    edited = {**reasoning, "summary": [{"type": "summary_text", "text": "nothing to note"}]}
    final = create(sdk, [USER, edited, call, result_for(first)])
    assert "The code word I noted was" in answer(final)


def test_drop_thinking_accepts_but_cannot_recall(emulate: Emulate) -> None:
    strict, _ = emulate("openai-responses")
    broken, app = emulate("openai-responses", "drop-thinking")
    first = create(client(broken), [USER], include=ENCRYPTED)
    assert first == create(client(strict), [USER], include=ENCRYPTED)
    history = [USER, *output(first), result_for(first)]
    good = create(client(strict), history)
    bad = create(client(broken), history)
    assert "The code word I noted was" in answer(good)
    assert answer(bad).endswith("I have no note of a code word.")
    assert bad["usage"]["input_tokens"] < good["usage"]["input_tokens"]
    stateful = create(client(broken), [result_for(first)], previous_response_id=first["id"])
    assert answer(stateful).endswith("I have no note of a code word.")
    later: Any = {"role": "user", "content": "Never mind."}
    refused(client(broken), [USER, *output(first, drop=("function_call",)), later])
    assert [r.status for r in app.state.requests] == [200, 200, 200, 400]
