"""``thinkwire check``: the command line of the conformance suite."""

from __future__ import annotations

import asyncio
import os
import sys
from enum import StrEnum
from typing import Annotated

import typer

from thinkwire.conformance.endpoint import Endpoint
from thinkwire.conformance.probes import Probe, Result
from thinkwire.conformance.recall import REPEAT
from thinkwire.conformance.runner import CheckError, run_check
from thinkwire.ir.blocks import Dialect
from thinkwire.options import CARRIER, CarrierName, DialectName, fail


class CheckFormat(StrEnum):
    text = "text"
    json = "json"
    md = "md"


def check_command(
    base_url: Annotated[
        str,
        typer.Option(help="The endpoint's base URL, e.g. https://api.anthropic.com or http://host:8000/v1."),
    ],
    dialect: Annotated[DialectName, typer.Option(help="The API it speaks.")],
    model: Annotated[str, typer.Option(help="The model to probe.")],
    carrier: Annotated[
        CarrierName | None,
        typer.Option(
            help="OpenAI Chat only: the field reasoning must come back in and be read from "
            "(default: the one the endpoint answers in)."
        ),
    ] = None,
    api_key_env: Annotated[
        str | None, typer.Option(help="Environment variable holding the API key (never printed).")
    ] = None,
    repeat: Annotated[
        int,
        typer.Option(
            help="Thought-recall trials per condition (kept, stripped); 6 is the fewest at which a "
            "perfect split is significant.",
            min=1,
            max=200,
        ),
    ] = REPEAT,
    output: Annotated[
        CheckFormat, typer.Option("--format", help="text (terminal), json or md.")
    ] = CheckFormat.text,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each read.", min=1)] = 120.0,
) -> None:
    """Probe an endpoint for the interleaved-thinking rules it breaks, with evidence.

    Structural probes (thinking in a documented carrier; streamed and whole agree; signatures
    present; no thinking in visible text; a Responses stream agrees with its final response;
    every answer parses with the official SDK types, with thinkwire[check]), acceptance probes
    (its own output sent back unchanged: the tool loop, streamed turns, omitted and redacted
    thinking, several tool calls in one turn), thought recall (a value settled only in thinking
    is used after a tool result, against a control with thinking stripped: a paired test over
    `--repeat` trials, and the prompt tokens on the wire) and, for OpenAI Chat, the carrier
    probe (prompt tokens per reasoning field). Exit 0 when no probe fails (inconclusive and n/a
    are not failures), 1 when one fails, 2 on a usage error or an endpoint that cannot be
    reached.

    Example: thinkwire check --base-url http://127.0.0.1:8000 --dialect anthropic --model claude-x
    """
    if not base_url.startswith(("http://", "https://")):
        fail(f"--base-url: expected an http:// or https:// URL, got {base_url!r}")
    if carrier is not None and dialect is not DialectName.openai_chat:
        fail("--carrier applies only with --dialect openai-chat")
    key: str | None = None
    if api_key_env is not None:
        key = os.environ.get(api_key_env)
        if not key:
            fail(f"--api-key-env: the environment variable {api_key_env} is not set")
    dialect_value: Dialect = dialect.value
    endpoint = Endpoint(
        base_url=base_url,
        dialect=dialect_value,
        model=model,
        carrier=None if carrier is None else CARRIER[carrier],
        api_key=key,
        timeout=timeout,
    )
    progress = output is CheckFormat.text and sys.stderr.isatty()

    def report(probe: Probe, result: Result) -> None:
        if progress:
            sys.stderr.write(f"thinkwire: {probe.id}: {result.status}\n")

    try:
        card = asyncio.run(run_check(endpoint, repeat=repeat, on_result=report))
    except CheckError as exc:
        fail(str(exc))
    if output is CheckFormat.json:
        sys.stdout.buffer.write(card.to_json())
    elif output is CheckFormat.md:
        sys.stdout.write(card.to_markdown())
    else:
        sys.stdout.write(card.to_text(color=sys.stdout.isatty()))
    sys.stdout.flush()
    if not card.ok:
        raise typer.Exit(1)
