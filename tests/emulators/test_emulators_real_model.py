"""The real default model behind the Anthropic emulator (``--model local``; marked ``model``).

One short tool turn, streamed as the model generates it: the thinking comes back signed by the
emulator, and the next request, carrying that thinking and the tool result, is accepted and
answered.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest
from tests.support.scripts import WEATHER_TOOL

from thinkwire.emulators.models import LocalModel
from thinkwire.emulators.run import Emulate
from thinkwire.local.engine import LocalEngine
from thinkwire.local.service import EngineService

pytestmark = pytest.mark.model
TOOLS: list[Any] = [
    {
        "name": "get_weather",
        "description": WEATHER_TOOL["description"],
        "input_schema": WEATHER_TOOL["parameters"],
    }
]
USER: Any = {"role": "user", "content": "What is the weather in Paris right now? Use the tool."}
OPEN: list[anthropic.Anthropic] = []  # closed by the emulate fixture (tests/conftest.py)


@pytest.fixture(scope="module")
def local(default_model: Path) -> Iterator[LocalModel]:
    path = default_model
    model = LocalModel(
        EngineService(LocalEngine(path, "qwen2.5-think", max_tokens=120, runtime_logs=False)), seed=7
    )
    yield model
    model.close()


def test_a_tool_turn_comes_back_signed_and_the_thinking_is_accepted(
    emulate: Emulate, local: LocalModel
) -> None:
    url, app = emulate("anthropic", model=local)
    sdk = anthropic.Anthropic(base_url=url, api_key="test", max_retries=0, timeout=600)
    OPEN.append(sdk)
    params: dict[str, Any] = {
        "model": "claude-emulated",
        "max_tokens": 120,
        "tools": TOOLS,
        "thinking": {"type": "enabled", "budget_tokens": 48},
        "extra_body": {"temperature": 0},  # the SDK's stream() takes no temperature
    }
    with sdk.messages.stream(messages=[USER], **params) as events:
        first: Any = events.get_final_message()
    kinds = [b.type for b in first.content]
    assert kinds[0] == "thinking", first
    assert "tool_use" in kinds, first
    thinking = first.content[0]
    assert thinking.thinking.strip()
    signed = app.state.vendor.signer.verify(thinking.signature)
    assert signed is not None
    assert signed.t == thinking.thinking
    assert signed.i == 0
    call = next(b for b in first.content if b.type == "tool_use")
    assert call.name == "get_weather"
    assert call.id.startswith("toolu_")
    assert first.stop_reason == "tool_use"

    result: Any = {"type": "tool_result", "tool_use_id": call.id, "content": "Paris: 18 C, light rain."}
    messages: list[Any] = [USER, {"role": "assistant", "content": first.content}]
    final = sdk.messages.create(messages=[*messages, {"role": "user", "content": [result]}], **params)
    assert [r.status for r in app.state.requests] == [200, 200]
    view = app.state.requests[1].view
    assert view.messages[1].blocks[0].text == thinking.thinking  # the model read its thinking back
    assert final.content, final
