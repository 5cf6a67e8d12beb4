"""What every ``thinkwire`` command shares: the one-line error exit, the choice enums and shared options."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Annotated, Final, NoReturn

import typer

from thinkwire.ir.blocks import CARRIERS, Carrier
from thinkwire.policy import POLICIES, Policy

Threads = Annotated[
    int | None,
    typer.Option(
        help="The local model's CPU threads (default: every core; on a machine other jobs load, "
        "fewer can be much faster).",
        min=1,
    ),
]
"""``--threads`` of the commands that run the local model (``serve``, ``run``, ``eval``)."""


def fail(message: str, code: int = 2) -> NoReturn:
    """``thinkwire: error: MESSAGE`` on stderr and exit ``code`` (2: usage), never a traceback."""
    sys.stderr.write(f"thinkwire: error: {message}\n")
    raise typer.Exit(code)


class DialectName(StrEnum):
    anthropic = "anthropic"
    openai_chat = "openai-chat"
    openai_responses = "openai-responses"


class CarrierName(StrEnum):
    reasoning_content = "reasoning_content"
    reasoning = "reasoning"
    reasoning_details = "reasoning_details"
    think_tags = "think-tags"


class PolicyName(StrEnum):
    keep = "keep"
    discard = "discard"
    current_turn = "current-turn"


class DurabilityName(StrEnum):
    commit = "commit"
    fsync = "fsync"
    async_ = "async"


CARRIER: Final[dict[CarrierName, Carrier]] = {CarrierName(c): c for c in CARRIERS}
POLICY: Final[dict[PolicyName, Policy]] = {PolicyName(p): p for p in POLICIES}

__all__ = ["CARRIER", "POLICY", "DurabilityName", "CarrierName", "DialectName", "PolicyName", "fail"]
