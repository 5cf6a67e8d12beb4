"""The report card: one row per probe, and its three forms (text, json, md).

``json`` and ``md`` carry everything: the rule each probe checks with its WIRE.md reference,
the verdict, a one-line summary, the figures and the evidence (request and response excerpts).
``text`` is the terminal form: a rich table of verdicts and summaries.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

from thinkwire.conformance.probes import STATUSES, Probe, Result, Status


@dataclass
class Row:
    id: str
    kind: str
    title: str
    rule: str
    wire_ref: str
    status: Status
    summary: str
    evidence: list[dict[str, Any]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, probe: Probe, result: Result) -> Row:
        return cls(
            probe.id,
            probe.kind,
            probe.title,
            probe.rule,
            probe.ref,
            result.status,
            result.summary,
            result.evidence,
            result.details,
        )


@dataclass
class Card:
    base_url: str
    dialect: str
    model: str
    carrier: str | None
    repeat: int
    rows: list[Row]
    requests: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """No probe failed (an inconclusive one did not fail)."""
        return all(r.status != "fail" for r in self.rows)

    def counts(self) -> dict[str, int]:
        return {s: sum(r.status == s for r in self.rows) for s in STATUSES}

    def row(self, probe_id: str) -> Row:
        return next(r for r in self.rows if r.id == probe_id)

    def failed(self) -> list[str]:
        return [r.id for r in self.rows if r.status == "fail"]

    def to_json(self) -> bytes:
        data = asdict(self)
        data["ok"] = self.ok
        data["counts"] = self.counts()
        return orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n"

    def to_markdown(self) -> str:
        counts = self.counts()
        out = [
            f"# thinkwire check: {self.model} at {self.base_url}",
            "",
            f"Dialect **{self.dialect}**"
            + (f", carrier **{self.carrier}**" if self.carrier else "")
            + f", {self.repeat} recall trial(s) per condition, "
            f"{self.requests} requests in {self.seconds:.1f} s. "
            f"**{'PASS' if self.ok else 'FAIL'}**: {_counted(counts)}.",
            "",
            "| probe | kind | verdict | summary | WIRE.md |",
            "|---|---|---|---|---|",
        ]
        for r in self.rows:
            out.append(f"| `{r.id}` | {r.kind} | **{r.status}** | {_cell(r.summary)} | {r.wire_ref} |")
        for r in self.rows:
            out += ["", f"## `{r.id}`: {r.title} ({r.status})", "", f"Rule: {r.rule}", "", r.summary]
            if r.details:
                out += [
                    "",
                    "Details:",
                    "",
                    "```json",
                    orjson.dumps(r.details, option=orjson.OPT_INDENT_2).decode(),
                    "```",
                ]
            for n, e in enumerate(r.evidence, 1):
                head = f"Exchange {n}: {'streamed' if e.get('stream') else 'whole'}, HTTP {e.get('status')}"
                out += ["", head, "", "```", f"> {e.get('request', '')}", f"< {e.get('response', '')}"]
                if e.get("error"):
                    out.append(f"! {e['error']}")
                out.append("```")
        return "\n".join(out) + "\n"

    def to_text(self, width: int = 110, color: bool = False) -> str:
        buffer = io.StringIO()
        console = Console(file=buffer, width=width, force_terminal=color, no_color=not color, highlight=False)
        style = {"pass": "green", "fail": "bold red", "inconclusive": "yellow", "n/a": "dim"}
        table = Table(title=f"thinkwire check: {self.model} ({self.dialect}) at {self.base_url}", expand=True)
        table.add_column("probe", no_wrap=True)
        table.add_column("verdict", no_wrap=True)
        table.add_column("summary", ratio=1)
        for r in self.rows:
            table.add_row(r.id, f"[{style[r.status]}]{r.status}[/]", r.summary)
        console.print(table)
        counts = self.counts()
        verdict = "[green]PASS[/]" if self.ok else "[bold red]FAIL[/]"
        console.print(
            f"{verdict}: {_counted(counts)} ({self.requests} requests, {self.seconds:.1f} s). "
            "Evidence: --format json or md."
        )
        return buffer.getvalue()


def _counted(counts: dict[str, int]) -> str:
    return (
        f"{counts['pass']} passed, {counts['fail']} failed, {counts['inconclusive']} inconclusive, "
        f"{counts['n/a']} not applicable"
    )


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
