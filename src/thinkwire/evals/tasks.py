"""Eval tasks: deterministic environments in pure Python, with reference actions and a check.

A ``Task`` builds a fresh ``Episode`` for every run. The episode holds the environment's state,
the tools bound to that state (``AgentTool``s, at most 8), and the scripted conversation: one
or more ``Turn``s, each a user message with the reference tool calls and the reference answer
that solve it. After the run, ``Episode.check(answers)`` decides success from the state the
tools left (state assertions) and/or the agent's final answer of each turn (exact values,
``answer_has``), and says why in one line.

The reference is what the sanity agents replay: ``oracle`` (``thinkwire.evals.sanity``) calls
the reference actions in order and gives the reference answers, and must pass every task;
``noop`` answers at once without a tool and must fail every task.

Families (``FAMILIES``), each built so success depends on reasoning carried across steps:

- ``carry``: a value derived early and needed late, never visible in a tool call;
- ``diagnose``: terse error codes that need diagnosis, with traps that invite retrying a
  hypothesis already ruled out;
- ``cascade``: dependent faults (fix A, re-check, find B);
- ``choose``: pick among options by a multi-criterion rule, then execute several steps;
- ``followup``: scripted follow-up user turns that refer to an earlier conclusion;
- ``control``: single-step negative controls, where keeping thinking should change nothing.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import msgspec

from thinkwire.agent.tools import AgentTool

FAMILIES: Final = ("carry", "diagnose", "cascade", "choose", "followup", "control")


class Action(msgspec.Struct, frozen=True):
    """One reference tool call."""

    tool: str
    arguments: dict[str, Any] = {}


class Turn(msgspec.Struct, frozen=True):
    """A user message, the reference calls that solve it (in order) and the reference answer."""

    user: str
    actions: tuple[Action, ...] = ()
    answer: str = ""


class Check(msgspec.Struct, frozen=True):
    """Whether a run succeeded, and why (one line, shown in the report)."""

    passed: bool
    detail: str = ""


class Episode(ABC):
    """One run's environment. Subclasses set ``turns`` and keep their state on ``self``."""

    turns: tuple[Turn, ...]

    @abstractmethod
    def tools(self) -> list[AgentTool]:
        """The tools bound to this episode's state (the same list for every turn)."""

    @abstractmethod
    def check(self, answers: Sequence[str | None]) -> Check:
        """Success from the state and the final answer of each turn (``None``: the agent gave
        none for that turn; a run that stops early leaves later turns ``None``)."""


@dataclass(frozen=True)
class Task:
    """``id`` is ``FAMILY-NN``; ``build`` makes a fresh episode; ``system``: the system prompt."""

    id: str
    family: str
    build: Callable[[], Episode]
    system: str | None = None
    description: str = ""


_NUMBER = re.compile(r"(?:(?<![\w-])-)?\d+(?:,\d{3})*(?!\d)(?:\.\d+)?")
"""A number: commas only between groups of three digits; a minus only where no word or
hyphen comes before it (``T-925``, ``5-10`` and ``2024-05-17`` hold no negative number)."""


def normalise(text: str) -> str:
    """Lower case, whitespace collapsed, thousands separators removed from numbers."""
    text = _NUMBER.sub(lambda m: m.group(0).replace(",", ""), text)
    return " ".join(text.lower().split())


def answer_has(answer: str | None, *expected: str | int | float) -> bool:
    """``answer`` contains every expected value (``normalise``d; numbers matched whole, so 12
    is not found in 123)."""
    if answer is None:
        return False
    said = normalise(answer)
    numbers = {float(n) for n in _NUMBER.findall(said)}
    for value in expected:
        if isinstance(value, int | float):
            if float(value) not in numbers:
                return False
        elif normalise(value) not in said:
            return False
    return True


__all__ = ["FAMILIES", "Action", "Check", "Episode", "Task", "Turn", "answer_has", "normalise"]
