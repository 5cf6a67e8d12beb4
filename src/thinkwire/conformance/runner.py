"""Running the probes against one endpoint, in order, into a report card."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

from thinkwire.conformance import acceptance, carriers, leaks, recall, schema, streams, structural
from thinkwire.conformance.card import Card, Row
from thinkwire.conformance.endpoint import Endpoint, Unreachable, Wire
from thinkwire.conformance.probes import Context, Probe, Result
from thinkwire.errors import ThinkwireError

PROBES: Final[tuple[Probe, ...]] = (
    *structural.PROBES,
    *leaks.PROBES,
    *streams.PROBES,
    *schema.PROBES,
    *acceptance.PROBES,
    *recall.PROBES,
    *carriers.PROBES,
)
"""Every probe, in the order they run and are reported."""


class CheckError(ThinkwireError):
    """The check cannot run: the endpoint is unreachable or refuses the very first request in
    a way that says the options are wrong (401, 403, 404)."""


async def run_check(
    endpoint: Endpoint,
    *,
    repeat: int = recall.REPEAT,
    probes: tuple[Probe, ...] = PROBES,
    on_result: Callable[[Probe, Result], None] | None = None,
) -> Card:
    """Run ``probes`` against ``endpoint`` and return the card (``CheckError`` when it cannot)."""
    started = time.monotonic()
    wire = Wire(endpoint)
    ctx = Context(wire, repeat=repeat)
    rows: list[Row] = []
    try:
        first = await ctx.first()
        if first.status in (401, 403, 404):
            raise CheckError(
                f"{endpoint.url} answered {first.status} to the first request: {first.error} "
                "(check --base-url, --dialect, --model and --api-key-env)"
            )
        for probe in probes:
            reason = probe.not_applicable(endpoint.dialect)
            if reason is not None:
                result = Result("n/a", reason)
            else:
                try:
                    result = await probe.run(ctx)
                except Unreachable as exc:  # it answered the first request: keep the card
                    result = Result("fail", f"the endpoint stopped answering: {exc}")
                except ThinkwireError as exc:
                    result = Result("fail", f"the probe could not run: {exc}")
            rows.append(Row.of(probe, result))
            if on_result is not None:
                on_result(probe, result)
    except Unreachable as exc:
        raise CheckError(str(exc)) from None
    finally:
        await wire.aclose()
    return Card(
        base_url=endpoint.base_url,
        dialect=endpoint.dialect,
        model=endpoint.model,
        carrier=endpoint.carrier,
        repeat=repeat,
        rows=rows,
        requests=wire.calls,
        seconds=time.monotonic() - started,
    )
