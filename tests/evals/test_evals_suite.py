"""Suites by name: builtin, builtin:FAMILY,..., and errors that list what exists."""

from __future__ import annotations

from collections import Counter

import pytest

from thinkwire.evals.suite import SuiteError, builtin_suite, family_tasks, load_suite
from thinkwire.evals.tasks import FAMILIES, Task


def test_builtin_has_sixty_tasks_ten_per_family_with_unique_ids() -> None:
    tasks = load_suite("builtin")
    assert len(tasks) == 60
    assert Counter(t.family for t in tasks) == dict.fromkeys(FAMILIES, 10)
    assert len({t.id for t in tasks}) == 60
    assert all(isinstance(t, Task) for t in tasks)
    # in family order, each family's tasks numbered in order
    assert [t.id for t in tasks] == [f"{f}-{n:02d}" for f in FAMILIES for n in range(1, 11)]


def test_families_are_chosen_in_the_order_given() -> None:
    tasks = load_suite("builtin:carry,control")
    assert [t.family for t in tasks] == ["carry"] * 10 + ["control"] * 10
    assert [t.id for t in tasks] == [t.id for t in family_tasks("carry") + family_tasks("control")]
    assert [t.family for t in load_suite("builtin:control,carry")] == ["control"] * 10 + ["carry"] * 10


def test_spaces_and_empty_names_in_the_family_list_are_ignored() -> None:
    assert [t.id for t in load_suite("builtin: diagnose , ,")] == [t.id for t in family_tasks("diagnose")]
    assert len(load_suite("builtin:")) == 60  # no family named: all of them


def test_builtin_suite_matches_load_suite() -> None:
    assert [t.id for t in builtin_suite()] == [t.id for t in load_suite("builtin")]
    assert [t.id for t in builtin_suite(["cascade"])] == [t.id for t in load_suite("builtin:cascade")]


@pytest.mark.parametrize("spec", ["builtin:nope", "builtin:carry,nope", "builtin:Carry"])
def test_an_unknown_family_lists_the_families(spec: str) -> None:
    with pytest.raises(SuiteError) as raised:
        load_suite(spec)
    message = str(raised.value)
    assert message.startswith("unknown family ")
    assert all(family in message for family in FAMILIES)


@pytest.mark.parametrize("spec", ["", "nope", "builtins", "tau:airline", "carry"])
def test_an_unknown_suite_lists_the_suites(spec: str) -> None:
    with pytest.raises(SuiteError, match=rf"unknown suite '{spec}'; expected builtin, builtin:FAMILY"):
        load_suite(spec)


def test_family_tasks_of_an_unknown_family() -> None:
    with pytest.raises(SuiteError, match="unknown family 'x'; expected one of carry, diagnose"):
        family_tasks("x")


def test_each_load_gives_a_new_list() -> None:
    first = load_suite("builtin")
    first.clear()
    assert len(load_suite("builtin")) == 60
