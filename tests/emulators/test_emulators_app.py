"""The emulator app: construction errors, envelopes, recording, the break registry."""

from __future__ import annotations

import inspect

import httpx
import pytest

from thinkwire.emulators import BREAKS, VENDORS, create_emulator, run_emulator
from thinkwire.emulators.run import emulating


def test_unknown_vendor_and_inapplicable_break_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown vendor 'nope'"):
        create_emulator("nope")
    with pytest.raises(ValueError, match="unknown break case 'x'"):
        create_emulator("anthropic", break_case="x")
    with pytest.raises(ValueError, match="does not apply to 'anthropic'"):
        create_emulator("anthropic", break_case="ignore-carrier")


def test_every_break_case_is_documented_and_applies_to_known_vendors() -> None:
    assert set(BREAKS) == {"drop-thinking", "ignore-carrier", "merge-stream-blocks"}
    for case in BREAKS.values():
        assert case.imitates
        assert case.observed
        assert case.vendors <= set(VENDORS)
        for vendor in case.vendors:
            create_emulator(vendor, break_case=case.name)


@pytest.mark.parametrize(
    ("vendor", "path", "body", "status", "envelope"),
    [
        ("anthropic", "/v1/messages", b"{", 400, "anthropic"),
        ("anthropic", "/v1/messages", b'{"model": "m", "messages": []}', 400, "anthropic"),
        ("anthropic", "/v1/nowhere", b"{}", 404, "anthropic"),
        ("deepseek", "/v1/chat/completions", b'{"model": "m", "messages": "x"}', 400, "openai"),
        ("minimax", "/v1/chat/completions", b'{"model": "m", "messages": []}', 400, "openai"),
        ("openai-responses", "/v1/responses", b'{"model": "m", "input": []}', 400, "openai"),
        (
            "openai-responses",
            "/v1/responses",
            b'{"model": "m", "input": "x", "previous_response_id": "r"}',
            400,
            "openai",
        ),
        ("openrouter", "/v1/chat/completions", b'{"model": "m", "messages": []}', 400, "openrouter"),
        ("openrouter", "/v1/nowhere", b"{}", 404, "openrouter"),
    ],
)
def test_errors_come_in_the_vendors_envelope_and_are_recorded(
    vendor: str, path: str, body: bytes, status: int, envelope: str
) -> None:
    with emulating(vendor) as (url, app):
        response = httpx.post(url + path, content=body, headers={"content-type": "application/json"})
    assert response.status_code == status
    data = response.json()
    if envelope == "anthropic":
        assert data["type"] == "error"
        assert data["error"]["type"] in ("invalid_request_error", "not_found_error")
    elif envelope == "openrouter":
        assert data["error"]["code"] == status
        assert data["error"]["message"]
    else:
        assert data["error"]["type"] == "invalid_request_error"
    if status == 400:
        assert [(r.path, r.status) for r in app.state.requests] == [(path, 400)]


def test_models_lists_the_vendors_models() -> None:
    with emulating("deepseek") as (url, _):
        ids = [m["id"] for m in httpx.get(url + "/v1/models").json()["data"]]
    assert ids == ["deepseek-reasoner", "deepseek-chat"]


def test_run_emulator_takes_what_the_command_passes() -> None:
    params = inspect.signature(run_emulator).parameters
    assert list(params)[:4] == ["vendor", "host", "port", "break_case"]
    with pytest.raises(ValueError, match="does not apply"):
        run_emulator("deepseek", "127.0.0.1", 0, "merge-stream-blocks")
