"""A request body nested deeper than ``MAX_DEPTH`` is refused once, at decode, naming where.

Measured before (the fuzz run, tests/server/test_server_fuzz.py): a Responses request with
``store`` or a tool nested 1,000 deep was a 500 naming ``RecursionError`` or ``TypeError:
Recursion limit reached`` (the answer echoes the request's tools a few levels down)."""

from __future__ import annotations

from typing import Any

import pytest

from thinkwire.asgi.http import MAX_DEPTH, check_depth
from thinkwire.errors import ApiError


def nest(levels: int, leaf: Any = 1) -> Any:
    value = leaf
    for i in range(levels):
        value = {"a": value} if i % 2 else [value]
    return value


def test_a_body_at_the_limit_passes() -> None:
    check_depth({"tools": nest(MAX_DEPTH - 1)})  # the body's own object is a level


@pytest.mark.parametrize("levels", [MAX_DEPTH, 1000])
def test_a_deeper_body_is_a_400_naming_where_the_nesting_is(levels: int) -> None:
    with pytest.raises(ApiError) as caught:
        check_depth({"model": "m", "input": [{"role": "user", "content": "hi"}], "store": nest(levels)})
    assert caught.value.status == 400
    assert caught.value.message.startswith("store.")
    assert f"nested more than {MAX_DEPTH} levels deep" in caught.value.message
    assert caught.value.param is not None
    assert len(caught.value.param) < 100  # a path 1,000 levels deep is cut short
