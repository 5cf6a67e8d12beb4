"""Loss logging: other dialects' fields are reported, unless they carry nothing."""

from __future__ import annotations

from thinkwire.ir import Extra, LossLog


def test_foreign_fields_are_reported_and_own_fields_returned() -> None:
    log = LossLog()
    extra: Extra = {"anthropic": {"cache_control": {"type": "ephemeral"}}, "openai-chat": {"refusal": "no"}}
    assert log.foreign_extra("messages[1]", extra, "anthropic") == {"cache_control": {"type": "ephemeral"}}
    assert [(loss.path, loss.kind) for loss in log.items] == [("messages[1].refusal", "field")]


def test_empty_values_and_private_notes_are_not_losses() -> None:
    log = LossLog()
    extra: Extra = {
        "openai-chat": {
            "$form": {"content": "absent"},
            "logprobs": None,
            "annotations": [],
            "choices": [{"logprobs": None, "message": {"content": ""}}],
            "index": 0,
        }
    }
    assert log.foreign_extra("", extra, "anthropic") == {}
    assert [loss.path for loss in log.items] == ["index"]  # 0 is a value, not nothing


def test_late_extra_reports_only_what_the_stop_settles_differently() -> None:
    log = LossLog()
    start: Extra = {"openai-responses": {"annotations": [], "logprobs": [1]}}
    stop: Extra = {
        "openai-responses": {"annotations": [{"type": "url_citation"}], "logprobs": [1]},
        "anthropic": {"citations": [{"type": "char_location"}]},
    }
    log.late_extra("blocks[2]", start, stop, "anthropic")
    assert [(loss.path, loss.kind) for loss in log.items] == [
        ("blocks[2].annotations", "field"),
        ("blocks[2].citations", "value"),
    ]


def test_the_same_loss_is_recorded_once() -> None:
    log = LossLog()
    for _ in range(2):
        log.foreign_extra("", {"openai-responses": {"store": True}}, "anthropic")
    log.add("blocks[0]", "signature", "dropped")
    assert [loss.path for loss in log.items] == ["store", "blocks[0]"]
