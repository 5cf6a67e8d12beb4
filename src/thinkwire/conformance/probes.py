"""What a probe is, what it answers, and the run they share.

A ``Probe`` is data plus one coroutine: its ``id``, a ``title``, the ``rule`` it checks with
its WIRE.md reference, and the dialects it applies to (``not_applicable`` gives the reason
for the others). ``run(context)`` returns a ``Result``: ``pass``, ``fail`` or ``n/a`` (a probe
that applies to the dialect can still find nothing to check, and says why), a one-line
``summary``, the ``evidence`` (request and response excerpts of the exchanges that decided it)
and ``details`` (figures: token counts, rates, intervals).

``Context`` holds the endpoint's ``Wire`` and the exchanges several probes read (the first
turn, whole and streamed; the tool loop), each made once on first use.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from thinkwire.conformance.endpoint import Exchange, Wire
from thinkwire.conformance.scenario import Loop, base_request, first_messages, tool_loop
from thinkwire.ir.blocks import Carrier, Dialect, Thinking
from thinkwire.ir.conversation import Request

Status = Literal["pass", "fail", "inconclusive", "n/a"]
STATUSES: tuple[Status, ...] = ("pass", "fail", "inconclusive", "n/a")


@dataclass
class Result:
    status: Status
    summary: str
    evidence: list[dict[str, Any]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


def passed(summary: str, *exchanges: Exchange, **details: Any) -> Result:
    return Result("pass", summary, [e.evidence() for e in exchanges], details)


def failed(summary: str, *exchanges: Exchange, **details: Any) -> Result:
    return Result("fail", summary, [e.evidence() for e in exchanges], details)


def not_applicable(reason: str, *exchanges: Exchange, **details: Any) -> Result:
    return Result("n/a", reason, [e.evidence() for e in exchanges], details)


def inconclusive(summary: str, *exchanges: Exchange, **details: Any) -> Result:
    return Result("inconclusive", summary, [e.evidence() for e in exchanges], details)


@dataclass
class Context:
    """One check run: the wire, the options, and exchanges shared between probes."""

    wire: Wire
    repeat: int = 1
    _first: dict[bool, Exchange] = field(default_factory=dict)
    _loops: dict[bool, Loop] = field(default_factory=dict)

    @property
    def dialect(self) -> Dialect:
        return self.wire.endpoint.dialect

    @property
    def carrier(self) -> Carrier | None:
        """The Chat carrier the user named (``--carrier``)."""
        return self.wire.endpoint.carrier

    async def send(self, request: Request, *, stream: bool = False) -> Exchange:
        return await self.wire.send(request, stream=stream)

    async def first(self, *, stream: bool = False) -> Exchange:
        """The first turn of the scenario (thinking, then a tool call), whole or streamed."""
        if stream not in self._first:
            self._first[stream] = await self.send(base_request(self.dialect, first_messages()), stream=stream)
        return self._first[stream]

    async def loop(self, *, stream: bool = False) -> Loop:
        """The scenario's tool loop, each turn sent back unchanged."""
        if stream not in self._loops:

            async def send(request: Request) -> Exchange:
                return await self.send(request, stream=stream)

            self._loops[stream] = await tool_loop(send, self.dialect, first_messages())
        return self._loops[stream]

    async def observed(self) -> list[Exchange]:
        """Every exchange of the shared scenario: the first turn whole and streamed, and each
        tool loop's requests (whole, then streamed). Probes that judge each response read these."""
        out = [await self.first(), await self.first(stream=True)]
        for stream in (False, True):
            out += (await self.loop(stream=stream)).exchanges
        return out

    async def own_carrier(self) -> Carrier | None:
        """The Chat carrier reasoning is expected in: ``--carrier``, else the one the
        endpoint's first turn used (``None``: no thinking came back)."""
        if self.carrier is not None:
            return self.carrier
        first = await self.first()
        blocks = first.response.blocks if first.response is not None else ()
        return next((b.origin.carrier for b in blocks if isinstance(b, Thinking) and b.origin), None)


Run = Callable[[Context], Awaitable[Result]]


@dataclass(frozen=True)
class Probe:
    id: str
    kind: Literal["structural", "acceptance", "behavioural", "carrier"]
    title: str
    rule: str
    ref: str
    """Where WIRE.md describes the rule or the break (``1 Anthropic Messages``, ``2.7``)."""
    run: Run
    dialects: frozenset[Dialect] = frozenset({"anthropic", "openai-chat", "openai-responses"})

    def not_applicable(self, dialect: Dialect) -> str | None:
        if dialect in self.dialects:
            return None
        return f"applies to {', '.join(sorted(self.dialects))} only, not {dialect}"
