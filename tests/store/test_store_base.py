"""URLs as they may appear in logs and errors (``thinkwire.store.base.without_password``)."""

from __future__ import annotations

import pytest

from thinkwire.store.base import without_password


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:hunter2@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
        ("redis://user:hunter2@host/0", "redis://user:***@host/0"),
        ("https://token@api.example.com/v1", "https://***@api.example.com/v1"),
        ("https://api.example.com/v1?key=sk-live-123", "https://api.example.com/v1?***"),
        ("https://u:p@api.example.com/v1?key=k", "https://u:***@api.example.com/v1?***"),
        ("http://127.0.0.1:8090", "http://127.0.0.1:8090"),
    ],
)
def test_passwords_and_query_strings_never_reach_a_log(url: str, shown: str) -> None:
    assert without_password(url) == shown
