"""report.md and report.html from hand-built outcomes: the numbers, the wording, the plots,
escaping, and the trace links written by write_report."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import pytest

from thinkwire.agent.trace import RunEnd, RunStart, TraceWriter
from thinkwire.evals.episode import Outcome
from thinkwire.evals.report import ReportMeta, render_html, render_markdown, run_key, write_report
from thinkwire.evals.stats import Summary, summarize
from thinkwire.policy import Policy

EVIL = "<script>alert('x')</script>"
META = ReportMeta(model="scripted", suite="builtin", trials=1, date="2026-01-02", command="thinkwire eval")
PNG = "data:image/png;base64,"


def run(
    task: str,
    policy: Policy,
    passed: bool,
    *,
    trial: int = 0,
    family: str = "carry",
    **fields: object,
) -> Outcome:
    values: dict[str, object] = {"status": "answered", **fields}
    return Outcome(
        task=task,
        family=family,
        policy=policy,
        trial=trial,
        passed=passed,
        **values,  # type: ignore[arg-type]
    )


PAIR: tuple[Policy, Policy] = ("keep", "discard")


def paired(results: dict[str, list[tuple[bool, bool]]], family: str = "carry") -> list[Outcome]:
    """(keep, discard) results per task, one pair per trial."""
    return [
        run(task, policy, passed, trial=trial, family=family)
        for task, pairs in results.items()
        for trial, both in enumerate(pairs)
        for policy, passed in zip(PAIR, both, strict=True)
    ]


def hand_built() -> list[Outcome]:
    """carry: keep 4/4, discard 1/4 (b=3, c=0); diagnose: keep 2/4, discard 3/4 (b=0, c=1)."""
    carry = {"c1": [(True, True)], "c2": [(True, False)], "c3": [(True, False)], "c4": [(True, False)]}
    diagnose = {"d1": [(True, True)], "d2": [(True, True)], "d3": [(False, True)], "d4": [(False, False)]}
    return [*paired(carry, "carry"), *paired(diagnose, "diagnose")]


def table_rows(markdown: str, title: str) -> dict[str, list[str]]:
    """The rows of the markdown table under ``## title``, by first cell (bold removed)."""
    section = markdown.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, list[str]] = {}
    for line in section.splitlines():
        if line.startswith("| ") and not line.startswith("| family") and not line.startswith("| policy"):
            cells = [c.strip() for c in line.strip("|").split(" | ")]
            rows[cells[0].strip("*")] = cells[1:]
    return rows


def summary_of(outcomes: list[Outcome], policies: Sequence[str] = ("keep", "discard")) -> Summary:
    return summarize(outcomes, policies, suite="builtin", resamples=400)


# --- markdown --------------------------------------------------------------------------------


def test_markdown_table_matches_the_hand_built_numbers() -> None:
    summary = summary_of(hand_built())
    markdown = render_markdown(summary, META)
    assert (
        "| family | kept | discarded | absolute delta | relative delta | 95% CI | p (McNemar) "
        "| discordant (b/c) | n |" in markdown
    )
    rows = table_rows(markdown, "Pass rate: keep vs discard")
    assert list(rows) == ["builtin", "carry", "diagnose"]
    whole, carry, diagnose = rows["builtin"], rows["carry"], rows["diagnose"]
    # suite: keep 6/8, discard 4/8; b=3, c=1; p = 2 * (1 + 4) / 16
    assert whole[:4] == ["75.0%", "50.0%", "+25.0 pp", "+50.0%"]
    assert whole[5:] == ["0.625", "3/1", "8"]
    assert carry[:4] == ["100.0%", "25.0%", "+75.0 pp", "+300.0%"]
    assert carry[5:] == ["0.250", "3/0", "4"]
    assert diagnose[:4] == ["50.0%", "75.0%", "-25.0 pp", "-33.3%"]
    assert diagnose[5:] == ["1.000", "0/1", "4"]
    c = summary.suite.comparisons[0]
    assert whole[4] == f"[{100 * c.ci_low:+.1f}, {100 * c.ci_high:+.1f}] pp"


def test_markdown_meta_at_the_top_and_the_reference() -> None:
    markdown = render_markdown(summary_of(hand_built()), META)
    head = markdown.split("## ", 1)[0]
    for text in ("| model | scripted |", "| suite | builtin |", "| trials | 1 |", "| date | 2026-01-02 |"):
        assert text in head
    assert "`thinkwire eval`" in head.replace("` thinkwire eval `", "`thinkwire eval`")
    assert "Tau^2 87 (kept) vs 64 (discarded)" in markdown


def test_markdown_says_plainly_when_n_is_small() -> None:
    markdown = render_markdown(summary_of(hand_built()), META)
    assert "not significant at n=8 (p = 0.625)" in markdown
    assert "With only 4 discordant pairs no split of them could reach p < 0.05" in markdown
    assert "With 8 tasks the bootstrap interval is rough." in markdown


def test_markdown_says_significant_when_it_is() -> None:
    outcomes = paired({f"t{i}": [(True, i >= 12)] for i in range(30)})
    markdown = render_markdown(summary_of(outcomes), META)
    assert "12/0" in markdown
    assert "significant at the 5% level." in markdown
    assert "not significant" not in markdown
    assert "rough" not in markdown


def test_markdown_one_trial_has_no_pass_k_columns() -> None:
    markdown = render_markdown(summary_of(hand_built()), META)
    assert "pass^1" in markdown
    assert "pass^2" not in markdown


def test_markdown_three_trials_has_pass_k_columns() -> None:
    outcomes = paired(
        {
            "t1": [(True, True), (True, False), (True, False)],
            "t2": [(True, False), (False, False), (True, True)],
        }
    )
    markdown = render_markdown(summary_of(outcomes), META)
    assert "| family | policy | pass^1 | 95% CI | pass^2 | pass^3 | tasks | runs |" in markdown
    keep = next(line for line in markdown.splitlines() if line.startswith("| builtin | keep |"))
    cells = [c.strip() for c in keep.strip("|").split(" | ")]
    # keep: t1 3/3, t2 2/3 -> pass^1 (1 + 2/3)/2, pass^2 (1 + 1/3)/2, pass^3 (1 + 0)/2
    assert cells[2] == "83.3%"
    assert cells[4:8] == ["66.7%", "50.0%", "2", "6"]


def test_markdown_tokens_latency_cost_per_policy() -> None:
    outcomes = [
        run("t1", "keep", True, input_tokens=1000, output_tokens=100, seconds=2.0, cost=0.02),
        run(
            "t2", "keep", False, input_tokens=3000, output_tokens=300, seconds=4.0, cost=0.04, status="limit"
        ),
        run("t1", "discard", True, input_tokens=500, output_tokens=50, seconds=1.0, cost=None),
        run("t2", "discard", False, input_tokens=500, output_tokens=50, seconds=1.0, status="error"),
    ]
    rows = table_rows(render_markdown(summary_of(outcomes), META), "Tokens, latency and cost")
    assert rows["keep"] == ["2", "2,000", "200", "3.0", "$0.0300", "1", "0"]
    assert rows["discard"] == ["2", "500", "50", "1.0", "unknown", "0", "1"]


def test_markdown_single_policy_has_no_comparison_and_says_so() -> None:
    outcomes = [run("t1", "keep", True), run("t2", "keep", False)]
    markdown = render_markdown(summary_of(outcomes), META)
    assert "No comparison: only one policy ran (keep); no runs of discard." in markdown
    assert "Pass rate:" not in markdown
    assert "| builtin | keep | 50.0% |" in markdown


def test_markdown_three_policies_compare_keep_with_each_other() -> None:
    outcomes = [
        *paired({"t1": [(True, False)], "t2": [(True, True)]}),
        run("t1", "current-turn", True),
        run("t2", "current-turn", False),
    ]
    summary = summary_of(outcomes, policies=("keep", "discard", "current-turn"))
    markdown = render_markdown(summary, META)
    assert "## Pass rate: keep vs discard" in markdown
    assert "## Pass rate: keep vs current-turn" in markdown
    other = table_rows(markdown, "Pass rate: keep vs current-turn")["builtin"]
    assert other[:4] == ["100.0%", "50.0%", "+50.0 pp", "+100.0%"]
    assert "| family | kept | current-turn |" in markdown
    assert markdown.count("Tau^2 87") == 1


def test_markdown_escapes_table_pipes() -> None:
    outcomes = paired({"t1": [(True, False)]}, family="a|b")
    markdown = render_markdown(summary_of(outcomes), META)
    assert "| a\\|b |" in markdown


# --- html ------------------------------------------------------------------------------------


def test_html_has_plots_tables_and_every_run() -> None:
    outcomes = hand_built()
    page = render_html(summary_of(outcomes), META, outcomes, {})
    assert page.startswith("<!DOCTYPE html>")
    assert page.count(PNG) == 3  # pass rates, paired outcomes, tokens
    assert "Pass rate: keep vs discard" in page
    assert "<td>+25.0 pp</td>" in page
    assert f"Every run ({len(outcomes)})" in page
    assert "<script" not in page
    assert "http://" not in page
    assert "https://" not in page


def test_html_escapes_task_ids_and_meta() -> None:
    outcomes = [
        run(EVIL, "keep", True, detail=f"saw {EVIL}"),
        run(EVIL, "discard", False, reason=EVIL),
    ]
    meta = ReportMeta(model=EVIL, suite="builtin", trials=1, date="today", command=f"eval {EVIL}")
    page = render_html(summary_of(outcomes), meta, outcomes, {run_key(outcomes[0]): f'x".html{EVIL}'})
    assert EVIL not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert 'href="x&quot;.html&lt;script&gt;' in page


def test_html_links_traces() -> None:
    outcomes = hand_built()
    links = {run_key(outcomes[0]): "traces/c1-keep-0.html", run_key(outcomes[3]): "traces/c2-discard.html"}
    page = render_html(summary_of(outcomes), META, outcomes, links)
    assert '<a href="traces/c1-keep-0.html">trace</a>' in page
    assert '<a href="traces/c2-discard.html">trace</a>' in page
    assert page.count(">trace</a>") == 2


def test_html_with_three_trials() -> None:
    outcomes = paired({f"t{i}": [(True, i % 2 == 0), (i % 3 != 0, False), (True, True)] for i in range(6)})
    page = render_html(summary_of(outcomes), META, outcomes, {})
    assert page.count(PNG) == 3
    assert "<th>pass^3</th>" in page
    assert "Every run (36)" in page


def test_html_single_policy_says_there_is_no_comparison() -> None:
    outcomes = [run("t1", "keep", True), run("t2", "keep", False)]
    page = render_html(summary_of(outcomes), META, outcomes, {})
    assert "No comparison: only one policy ran (keep); no runs of discard." in page
    assert page.count(PNG) == 2  # no paired-outcome plot


def test_html_three_policies() -> None:
    outcomes = [
        *paired({"t1": [(True, False)], "t2": [(True, True)]}),
        run("t1", "current-turn", True),
        run("t2", "current-turn", False),
    ]
    summary = summary_of(outcomes, policies=("keep", "discard", "current-turn"))
    page = render_html(summary, META, outcomes, {})
    assert page.count(PNG) == 3
    assert "Pass rate: keep vs discard" in page
    assert "Pass rate: keep vs current-turn" in page
    assert "Every run (6)" in page


# --- files -----------------------------------------------------------------------------------


def write_trace(path: Path, task: str) -> None:
    with TraceWriter(path) as trace:
        trace.write(RunStart(task=task, model="scripted", policy="keep", started=0.0))
        trace.write(RunEnd(status="answered", answer="done", steps=1, seconds=0.5, at=0.5))


def test_write_report_writes_both_files_and_trace_pages(tmp_path: Path) -> None:
    traces = tmp_path / "traces"
    write_trace(traces / "c1 keep.jsonl", "carry the value")
    (traces / "broken.jsonl").write_text("not json\n")
    outcomes = [
        run("c1", "keep", True, trace=str(traces / "c1 keep.jsonl")),
        run("c1", "discard", False, trace=str(traces / "broken.jsonl")),
        run("c2", "keep", True, trace=str(traces / "gone.jsonl")),
        run("c2", "discard", True),
    ]
    files = write_report(tmp_path / "report", outcomes, META, resamples=200)
    assert files.markdown == tmp_path / "report" / "report.md"
    assert files.html == tmp_path / "report" / "report.html"
    assert files.traces == (traces / "c1 keep.html",)
    assert "carry the value" in files.traces[0].read_text()
    markdown = files.markdown.read_text()
    assert "| **builtin** | 100.0% | 50.0% |" in markdown
    page = files.html.read_text()
    assert page.count(PNG) == 3
    links = re.findall(r'<a href="([^"]+)">trace</a>', page)
    assert links == ["../traces/c1%20keep.html"]
    assert (files.html.parent / "../traces/c1 keep.html").resolve() == files.traces[0].resolve()


@pytest.mark.parametrize("trials", [1, 3])
def test_write_report_with_one_and_three_trials(tmp_path: Path, trials: int) -> None:
    outcomes = paired({f"t{i}": [(i % 2 == 0, i % 3 == 0)] * trials for i in range(5)})
    meta = ReportMeta(model="m", suite="builtin", trials=trials, date="d")
    files = write_report(tmp_path, outcomes, meta, resamples=100)
    markdown = files.markdown.read_text()
    assert ("pass^3" in markdown) == (trials == 3)
    assert "| **builtin** | 60.0% | 40.0% | +20.0 pp | +50.0% |" in markdown
    assert files.traces == ()
