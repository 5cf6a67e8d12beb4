"""The experiment's report: report.md and a self-contained report.html from a ``Summary``.

``render_markdown(summary, meta)`` gives the tables in MiniMax's form, one row for the suite
and one per family::

    | family | kept | discarded | absolute delta | relative delta | 95% CI | p (McNemar)
      | discordant (b/c) | n |

then per policy pass^1 with its CI (and pass^k when tasks ran more than one trial), then
tokens, seconds and cost per run. Every comparison is the first policy against one other
(keep vs discard, keep vs current-turn). Each comparison ends with a sentence saying plainly
whether the difference is significant, and at what n.

``render_html(summary, meta, outcomes, trace_links)`` has the same tables, plots embedded as
base64 PNG (pass rate per family and policy with CI error bars, the paired outcomes per
family, tokens per policy) and every run with a link to its trace page. No scripts, fonts or
external URLs; every string is escaped.

``write_report(out_dir, outcomes, meta)`` summarizes, renders the trace page of each run that
left a trace (beside the trace, ``run.jsonl`` -> ``run.html``) and writes both reports.
"""

from __future__ import annotations

import base64
import html
import io
import os
import urllib.parse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import msgspec

from thinkwire.agent.trace import TraceError
from thinkwire.agent.view import write_html
from thinkwire.evals.episode import Outcome
from thinkwire.evals.stats import RESAMPLES, SEED, Group, Paired, Summary, summarize

if TYPE_CHECKING:
    from matplotlib.figure import Figure

ALPHA = 0.05
LABELS = {"keep": "kept", "discard": "discarded"}
"""Column names for policies, in MiniMax's words; other policies keep their own name."""
REFERENCE = "MiniMax's published result for reference: Tau^2 87 (kept) vs 64 (discarded)."
SMALL_TASKS = 20
"""Fewer tasks than this and the report calls the bootstrap interval rough."""

RunKey = tuple[str, int, str]
"""(task, trial, policy): one run, the key of ``trace_links``."""


class ReportMeta(msgspec.Struct, frozen=True, kw_only=True):
    """What ran, shown at the top of both reports."""

    model: str
    suite: str
    trials: int
    date: str
    command: str = ""


class ReportFiles(NamedTuple):
    markdown: Path
    html: Path
    traces: tuple[Path, ...]
    """The trace pages written."""


class _Table(NamedTuple):
    title: str
    header: tuple[str, ...]
    rows: Sequence[tuple[str, ...]]
    notes: Sequence[str]
    verdicts: Sequence[str] = ()
    suite_row: bool = False
    """The first row is the whole suite (shown bold)."""


def run_key(outcome: Outcome) -> RunKey:
    return (outcome.task, outcome.trial, outcome.policy)


def label(policy: str) -> str:
    return LABELS.get(policy, policy)


# --- numbers as text -------------------------------------------------------------------------


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _pp(x: float) -> str:
    return f"{100 * x:+.1f} pp"


def _p(p: float) -> str:
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _rel(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:+.1f}%"


def _ci(low: float, high: float) -> str:
    return f"[{100 * low:+.1f}, {100 * high:+.1f}] pp"


def _num(x: float) -> str:
    return f"{x:,.0f}"


def _cost(x: float | None) -> str:
    return "unknown" if x is None else f"${x:.4f}"


def _groups(summary: Summary) -> list[Group]:
    return [summary.suite, *summary.families]


def _comparison(group: Group, a: str, b: str) -> Paired | None:
    return next((c for c in group.comparisons if (c.a, c.b) == (a, b)), None)


def _verdict(c: Paired, tasks: int) -> str:
    """One honest sentence on a suite-level comparison."""
    a, b = label(c.a), label(c.b)
    discordant = c.a_only + c.b_only
    text = (
        f"{c.a} vs {c.b} over n={c.pairs} paired runs ({c.tasks} tasks): {a} {_pct(c.a_rate)} vs "
        f"{b} {_pct(c.b_rate)}, {_pp(c.delta)} (95% CI {_ci(c.ci_low, c.ci_high)}), "
        f"exact McNemar p = {_p(c.p_value)} on {discordant} discordant pairs ({c.a_only}/{c.b_only}): "
    )
    covers_zero = c.ci_low <= 0 <= c.ci_high
    if c.p_value < ALPHA:
        text += f"significant at the {ALPHA:.0%} level."
        if covers_zero:
            text += " The task-resampled CI still includes 0 (a task's trials are not independent)."
    else:
        text += f"not significant at n={c.pairs} (p = {_p(c.p_value)}); the CI "
        text += "includes 0." if covers_zero else "excludes 0, but the exact test does not agree."
    if discordant < 6:
        text += (
            f" With only {discordant} discordant pairs no split of them could reach p < {ALPHA}; "
            "more tasks or trials are needed."
        )
    if tasks < SMALL_TASKS:
        text += f" With {tasks} tasks the bootstrap interval is rough."
    if c.unpaired:
        text += f" {c.unpaired} runs had no partner under the other policy and are left out."
    return text


# --- the tables, shared by both renderers ----------------------------------------------------


def _comparison_tables(summary: Summary) -> list[_Table]:
    first, others = summary.policies[0], summary.policies[1:]
    tables: list[_Table] = []
    for other in others:
        a, b = label(first), label(other)
        header = (
            "family",
            a,
            b,
            "absolute delta",
            "relative delta",
            "95% CI",
            "p (McNemar)",
            "discordant (b/c)",
            "n",
        )
        rows: list[tuple[str, ...]] = []
        for group in _groups(summary):
            c = _comparison(group, first, other)
            if c is None:
                rows.append((group.name, *["—"] * 7, "0"))
                continue
            rows.append(
                (
                    group.name,
                    _pct(c.a_rate),
                    _pct(c.b_rate),
                    _pp(c.delta),
                    _rel(c.relative),
                    _ci(c.ci_low, c.ci_high),
                    _p(c.p_value),
                    f"{c.a_only}/{c.b_only}",
                    str(c.pairs),
                )
            )
        verdicts: list[str] = []
        whole = _comparison(summary.suite, first, other)
        if whole is not None:
            verdicts.append(_verdict(whole, summary.suite.tasks))
        if (first, other) == ("keep", "discard"):
            verdicts.append(REFERENCE)
        notes = [
            f"n: paired (task, trial) runs; b: only {a} passed, c: only {b} passed; "
            f"relative delta = ({a} - {b}) / {b}. CI: {summary.resamples} bootstrap resamples of "
            f"whole tasks (seed {summary.seed}). The first row is the whole suite; family rows have "
            "fewer pairs and their p-values are not corrected for multiple comparisons.",
        ]
        title = f"Pass rate: {first} vs {other}"
        tables.append(_Table(title, header, rows, notes, verdicts=verdicts, suite_row=True))
    return tables


def _policy_table(summary: Summary) -> _Table:
    ks = [k for k in summary.k_values if k > 1 and summary.suite.trials > 1]
    header = ("family", "policy", "pass^1", "95% CI", *[f"pass^{k}" for k in ks], "tasks", "runs")
    rows: list[tuple[str, ...]] = []
    for group in _groups(summary):
        for s in group.policies:
            values = [s.pass_k.get(k) for k in ks]
            rows.append(
                (
                    group.name,
                    s.policy,
                    _pct(s.pass_rate),
                    f"[{_pct(s.ci_low)}, {_pct(s.ci_high)}]",
                    *["n/a" if v is None else _pct(v) for v in values],
                    str(s.tasks),
                    str(s.runs),
                )
            )
    notes = ["pass^1 is the mean over tasks of each task's pass rate; its CI resamples tasks."]
    if ks:
        notes.append(
            "pass^k (tau-bench): per task C(c, k) / C(n, k) for c passes in n trials — the chance "
            "that k trials all pass — averaged over tasks; n/a where a task ran fewer than k trials."
        )
    return _Table("Per policy", header, rows, notes)


def _cost_table(summary: Summary) -> _Table:
    header = (
        "policy",
        "runs",
        "input tokens",
        "output tokens",
        "seconds",
        "cost",
        "ended at a limit",
        "ended in an error",
    )
    rows = [
        (
            s.policy,
            str(s.runs),
            _num(s.mean_input_tokens),
            _num(s.mean_output_tokens),
            f"{s.mean_seconds:.1f}",
            _cost(s.mean_cost),
            str(s.limit_runs),
            str(s.error_runs),
        )
        for s in summary.suite.policies
    ]
    notes = ["Means per run over the whole suite; cost in US$, unknown when any run's price is."]
    return _Table("Tokens, latency and cost", header, rows, notes)


def _no_comparison(summary: Summary) -> str | None:
    if len(summary.policies) > 1:
        return None
    text = f"No comparison: only one policy ran ({summary.policies[0]})"
    if summary.missing:
        text += f"; no runs of {', '.join(summary.missing)}"
    return text + "."


def _meta_rows(meta: ReportMeta) -> list[tuple[str, str]]:
    return [
        ("model", meta.model),
        ("suite", meta.suite),
        ("trials", str(meta.trials)),
        ("date", meta.date),
        ("command", meta.command),
    ]


def _title(summary: Summary) -> str:
    return f"thinkwire eval: {' vs '.join(summary.policies)}"


# --- markdown --------------------------------------------------------------------------------


def _md_cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _md_code(text: str) -> str:
    fence = "`"
    while fence in text:
        fence += "`"
    return f"{fence} {text} {fence}" if text else ""


def _md_table(table: _Table) -> str:
    lines = [f"## {table.title}", ""]
    lines.append("| " + " | ".join(_md_cell(h) for h in table.header) + " |")
    lines.append("|" + "|".join("---" if i == 0 else "---:" for i in range(len(table.header))) + "|")
    for number, row in enumerate(table.rows):
        cells = [_md_cell(c) for c in row]
        if number == 0 and table.suite_row:
            cells[0] = f"**{cells[0]}**"
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    for note in [*table.verdicts, *table.notes]:
        lines += [_md_cell(note), ""]
    return "\n".join(lines)


def render_markdown(summary: Summary, meta: ReportMeta) -> str:
    """report.md (module docstring)."""
    parts = [f"# {_md_cell(_title(summary))}", ""]
    parts += ["| | |", "|---|---|"]
    for key, value in _meta_rows(meta):
        parts.append(f"| {key} | {_md_code(value) if key == 'command' else _md_cell(value)} |")
    parts.append("")
    missing = _no_comparison(summary)
    if missing is not None:
        parts += ["## Comparison", "", missing, ""]
    elif summary.missing:
        parts += [f"No runs of {', '.join(summary.missing)}.", ""]
    for table in [*_comparison_tables(summary), _policy_table(summary), _cost_table(summary)]:
        parts.append(_md_table(table))
    return "\n".join(parts).rstrip() + "\n"


# --- plots -----------------------------------------------------------------------------------

COLORS = ("#3d7cc9", "#c7851f", "#3c9a55", "#8b6fd6", "#c8423b")


def _png(figure: Figure) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _plot_pass_rates(summary: Summary) -> str:
    from matplotlib.figure import Figure
    from matplotlib.ticker import PercentFormatter

    groups = _groups(summary)
    figure = Figure(figsize=(max(6.0, 1.1 * len(groups) * max(1, len(summary.policies)) / 1.6), 3.6))
    axes = figure.add_subplot()
    width = 0.8 / len(summary.policies)
    for index, policy in enumerate(summary.policies):
        xs, heights, below, above = [], [], [], []
        for x, group in enumerate(groups):
            s = next((p for p in group.policies if p.policy == policy), None)
            if s is None:
                continue
            xs.append(x + (index - (len(summary.policies) - 1) / 2) * width)
            heights.append(s.pass_rate)
            below.append(max(0.0, s.pass_rate - s.ci_low))
            above.append(max(0.0, s.ci_high - s.pass_rate))
        axes.bar(
            xs,
            heights,
            width,
            yerr=[below, above],
            capsize=3,
            label=label(policy),
            color=COLORS[index % len(COLORS)],
        )
    axes.set_xticks(range(len(groups)), [g.name for g in groups])
    axes.set_ylim(0, 1.08)
    axes.yaxis.set_major_formatter(PercentFormatter(1.0))
    axes.set_ylabel("pass^1 (95% CI)")
    axes.set_title("Pass rate per family and policy")
    axes.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8)
    axes.grid(axis="y", alpha=0.3)
    return _png(figure)


def _plot_pairs(summary: Summary) -> str | None:
    from matplotlib.figure import Figure
    from matplotlib.ticker import PercentFormatter

    first = summary.policies[0]
    others = summary.policies[1:]
    if not others:
        return None
    groups = _groups(summary)
    figure = Figure(figsize=(7.5, 0.9 + 0.45 * len(groups) * len(others)))
    for number, other in enumerate(others):
        axes = figure.add_subplot(len(others), 1, number + 1)
        names: list[str] = []
        cells: list[list[float]] = []
        for group in groups:
            c = _comparison(group, first, other)
            names.append(f"{group.name} (n={0 if c is None else c.pairs})")
            counts = [0, 0, 0, 0] if c is None else [c.both_pass, c.a_only, c.b_only, c.both_fail]
            cells.append([x / max(1, sum(counts)) for x in counts])
        kinds = (
            ("both pass", "#3c9a55"),
            (f"only {label(first)}", "#3d7cc9"),
            (f"only {label(other)}", "#c7851f"),
            ("both fail", "#b9c0c8"),
        )
        lefts = [0.0] * len(groups)
        for column, (kind, color) in enumerate(kinds):
            widths = [row[column] for row in cells]
            axes.barh(names, widths, left=lefts, color=color, label=kind)
            lefts = [left + w for left, w in zip(lefts, widths, strict=True)]
        axes.invert_yaxis()
        axes.set_xlim(0, 1)
        axes.xaxis.set_major_formatter(PercentFormatter(1.0))
        axes.set_xlabel("share of paired runs")
        axes.set_title(f"Paired outcomes: {first} vs {other}", fontsize=10)
        axes.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8)
    figure.tight_layout()
    return _png(figure)


def _plot_tokens(summary: Summary) -> str:
    from matplotlib.figure import Figure

    stats = summary.suite.policies
    figure = Figure(figsize=(7.0, 3.0))
    for number, (title, values) in enumerate(
        (
            ("input tokens per run", [s.mean_input_tokens for s in stats]),
            ("output tokens per run", [s.mean_output_tokens for s in stats]),
        )
    ):
        axes = figure.add_subplot(1, 2, number + 1)
        axes.bar(
            [label(s.policy) for s in stats],
            values,
            color=[COLORS[i % len(COLORS)] for i in range(len(stats))],
        )
        axes.set_title(title, fontsize=10)
        axes.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    return _png(figure)


# --- html ------------------------------------------------------------------------------------

CSS = """
:root { --ink:#1d232b; --mute:#66707c; --line:#dde2e8; --bg:#f5f7fa; --ok:#3c9a55; --bad:#c8423b; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--ink);
  font:15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 20px 60px; }
section { background:#fff; border:1px solid var(--line); border-radius:10px;
  margin:18px 0 0; padding:14px 22px 16px; overflow-x:auto; }
h1 { margin:0 0 12px; font-size:22px; } h2 { margin:0 0 10px; font-size:17px; }
table { border-collapse:collapse; font-size:13px; }
th, td { padding:3px 10px; border-bottom:1px solid var(--line); text-align:right; white-space:nowrap; }
th:first-child, td:first-child { text-align:left; }
th { color:var(--mute); font-weight:600; }
tr.suite td { font-weight:600; }
table.meta td { text-align:left; white-space:normal; } table.meta code { font-size:12px; }
table.runs td.text { text-align:left; white-space:normal; max-width:360px; overflow-wrap:anywhere; }
.note { color:var(--mute); font-size:13px; margin:8px 0 0; }
.verdict { font-size:14px; margin:10px 0 0; }
.pass { color:var(--ok); font-weight:600; } .fail { color:var(--bad); font-weight:600; }
img { max-width:100%; display:block; margin:6px 0; }
"""
DETAIL_CLIP = 200


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _html_table(table: _Table) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in table.header)
    body = []
    for number, row in enumerate(table.rows):
        kind = ' class="suite"' if number == 0 and table.suite_row else ""
        body.append(f"<tr{kind}>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>")
    notes = "".join(f'<p class="verdict">{_e(v)}</p>' for v in table.verdicts)
    notes += "".join(f'<p class="note">{_e(n)}</p>' for n in table.notes)
    return (
        f"<section><h2>{_e(table.title)}</h2><table><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>{notes}</section>"
    )


def _image(data: str, alt: str) -> str:
    return f'<img src="data:image/png;base64,{data}" alt="{_e(alt)}">'


def _runs_table(summary: Summary, outcomes: Sequence[Outcome], trace_links: Mapping[RunKey, str]) -> str:
    families = {g.name: n for n, g in enumerate(summary.families)}
    order = {p: n for n, p in enumerate(summary.policies)}
    runs = sorted(
        (o for o in outcomes if o.policy in order),
        key=lambda o: (families.get(o.family, len(families)), o.task, o.trial, order[o.policy]),
    )
    header = (
        "task",
        "family",
        "trial",
        "policy",
        "result",
        "status",
        "detail",
        "steps",
        "input tokens",
        "output tokens",
        "seconds",
        "cost",
        "trace",
    )
    rows = []
    for o in runs:
        result = '<span class="pass">pass</span>' if o.passed else '<span class="fail">fail</span>'
        detail = " — ".join(x for x in (o.reason or "", o.detail) if x)
        if len(detail) > DETAIL_CLIP:
            detail = detail[:DETAIL_CLIP] + "…"
        link = trace_links.get(run_key(o))
        trace = f'<a href="{_e(link)}">trace</a>' if link is not None else "—"
        cells = [
            f'<td class="text">{_e(o.task)}</td>',
            f"<td>{_e(o.family)}</td>",
            f"<td>{o.trial}</td>",
            f"<td>{_e(o.policy)}</td>",
            f"<td>{result}</td>",
            f"<td>{_e(o.status)}</td>",
            f'<td class="text">{_e(detail)}</td>',
            f"<td>{o.steps}</td>",
            f"<td>{_num(o.input_tokens)}</td>",
            f"<td>{_num(o.output_tokens)}</td>",
            f"<td>{o.seconds:.1f}</td>",
            f"<td>{_e(_cost(o.cost))}</td>",
            f"<td>{trace}</td>",
        ]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    return (
        f'<section><h2>Every run ({len(runs)})</h2><table class="runs"><thead><tr>{head}</tr>'
        f"</thead><tbody>{''.join(rows)}</tbody></table></section>"
    )


def render_html(
    summary: Summary,
    meta: ReportMeta,
    outcomes: Sequence[Outcome],
    trace_links: Mapping[RunKey, str],
) -> str:
    """report.html (module docstring); ``trace_links`` maps a run to its trace page's URL,
    relative to the report."""
    rows = "".join(
        f"<tr><td>{_e(k)}</td><td>{f'<code>{_e(v)}</code>' if k == 'command' else _e(v)}</td></tr>"
        for k, v in _meta_rows(meta)
    )
    parts = [f'<section><h1>{_e(_title(summary))}</h1><table class="meta">{rows}</table></section>']
    missing = _no_comparison(summary)
    if missing is not None:
        parts.append(f'<section><h2>Comparison</h2><p class="verdict">{_e(missing)}</p></section>')
    elif summary.missing:
        absent = ", ".join(summary.missing)
        parts.append(f'<section><p class="note">No runs of {_e(absent)}.</p></section>')
    plots = [_image(_plot_pass_rates(summary), "pass rate per family and policy, with 95% CIs")]
    pairs = _plot_pairs(summary)
    if pairs is not None:
        plots.append(_image(pairs, "paired outcomes per family"))
    plots.append(_image(_plot_tokens(summary), "mean tokens per run and policy"))
    parts.append(f"<section><h2>Plots</h2>{''.join(plots)}</section>")
    for table in [*_comparison_tables(summary), _policy_table(summary), _cost_table(summary)]:
        parts.append(_html_table(table))
    parts.append(_runs_table(summary, outcomes, trace_links))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(_title(summary))} — {_e(meta.suite)}</title><style>{CSS}</style></head>"
        f"<body><main>{''.join(parts)}</main></body></html>\n"
    )


# --- files -----------------------------------------------------------------------------------


def write_report(
    out_dir: str | Path,
    outcomes: Sequence[Outcome],
    meta: ReportMeta,
    *,
    policies: Sequence[str] = ("keep", "discard"),
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> ReportFiles:
    """Write ``out_dir``/report.md and report.html, and the trace page of every run whose trace
    file exists (a trace that cannot be read gets no page and no link)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = summarize(outcomes, policies, suite=meta.suite, resamples=resamples, seed=seed)
    links: dict[RunKey, str] = {}
    pages: list[Path] = []
    for o in outcomes:
        if o.trace is None or not Path(o.trace).is_file():
            continue
        try:
            page = write_html(Path(o.trace))
        except TraceError:
            continue
        pages.append(page)
        relative = Path(os.path.relpath(page.resolve(), out.resolve())).as_posix()
        links[run_key(o)] = urllib.parse.quote(relative)
    markdown = out / "report.md"
    markdown.write_text(render_markdown(summary, meta), encoding="utf-8")
    page = out / "report.html"
    page.write_text(render_html(summary, meta, outcomes, links), encoding="utf-8")
    return ReportFiles(markdown=markdown, html=page, traces=tuple(pages))


__all__ = [
    "ReportFiles",
    "ReportMeta",
    "RunKey",
    "render_html",
    "render_markdown",
    "run_key",
    "write_report",
]
