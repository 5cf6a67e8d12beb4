"""The pure parts of the check's verdicts: trials needed, retry delays, leaks, stream finals."""

from __future__ import annotations

from thinkwire.conformance.endpoint import RETRY_CAP, Exchange, retry_delay
from thinkwire.conformance.leaks import leak
from thinkwire.conformance.recall import trials_needed
from thinkwire.conformance.streams import differences
from thinkwire.evals.stats import mcnemar_exact
from thinkwire.ir.blocks import Text, ToolCall


def test_trials_needed_follows_the_paired_test() -> None:
    assert trials_needed(1.0, 0.0) == 6  # 6 discordant pairs: p = 2/64
    assert mcnemar_exact(6, 0) < 0.05 <= mcnemar_exact(5, 0)
    assert trials_needed(0.4, 0.4) is None  # equal rates: no number of trials shows a difference
    assert trials_needed(0.2, 0.6) is None
    needed = trials_needed(0.6, 0.3)
    assert needed is not None
    assert needed > 20


def test_retry_delay_honours_retry_after_up_to_a_cap() -> None:
    assert retry_delay("1", 0) == 1.0
    assert retry_delay("0.5", 2) == 0.5
    assert retry_delay("3600", 0) == RETRY_CAP
    assert retry_delay(None, 0) == 1.0
    assert retry_delay(None, 2) == 4.0
    assert retry_delay("Wed, 21 Oct 2026 07:28:00 GMT", 1) == 2.0  # a date counts as the default


def test_leak_finds_tags_notes_and_thinking_texts_in_visible_text_only() -> None:
    thought = "Step 1: I will call get_weather and keep the number."
    assert leak((Text(text="<think>hmm</think> Oslo"),), []) == "<think>"
    assert leak((Text(text="I note the code word lantern-3f2a for later."),), []) is not None
    assert leak((Text(text=f"Here: {thought}"),), [thought]) == thought
    assert leak((Text(text="Secret: 4821"),), [thought]) is None
    call = ToolCall(id="c", name="get_weather", arguments='{"city": "<think>"}')
    assert leak((call,), []) is None  # tool arguments are not visible text
    assert leak((), [], "\n" + thought) is None  # output_text is looked at only with a thinking list
    assert leak((), [thought], "\n" + thought) == thought


def _stream(*events: dict[str, object]) -> Exchange:
    exchange = Exchange(body={}, stream=True)
    exchange.events = [(str(e["type"]), e) for e in events]
    return exchange


def test_differences_compare_completed_with_the_item_events() -> None:
    item = {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "e"}
    bare = {k: v for k, v in item.items() if k != "encrypted_content"}
    good = _stream(
        {"type": "response.output_item.added", "output_index": 0, "item": {**bare, "status": "in_progress"}},
        {"type": "response.output_item.done", "output_index": 0, "item": item},
        {"type": "response.completed", "response": {"output": [item]}},
    )
    assert differences(good) == []
    late = _stream(
        {"type": "response.output_item.done", "output_index": 0, "item": bare},
        {"type": "response.completed", "response": {"output": [item]}},
    )
    assert differences(late) == ["item 0 (reasoning): `encrypted_content` only in response.completed"]
    assert differences(_stream()) == ["the stream has no response.completed event"]
