"""Paired statistics: known values worked by hand with math.comb, and the bootstrap's laws."""

from __future__ import annotations

import math
import random
import time

import pytest

from thinkwire.evals.episode import Outcome
from thinkwire.evals.stats import (
    bootstrap_ci,
    compare,
    mcnemar_exact,
    pass_hat_k,
    pass_k,
    policy_stats,
    summarize,
)
from thinkwire.policy import Policy


def run(
    task: str,
    policy: Policy,
    passed: bool,
    *,
    trial: int = 0,
    family: str = "carry",
    status: str = "answered",
    input_tokens: int = 0,
    output_tokens: int = 0,
    cost: float | None = None,
    seconds: float = 0.0,
) -> Outcome:
    return Outcome(
        task=task,
        family=family,
        policy=policy,
        trial=trial,
        passed=passed,
        status=status,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cost=cost,
        seconds=seconds,
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


# --- McNemar ---------------------------------------------------------------------------------


def test_mcnemar_known_value() -> None:
    by_hand = 2 * (math.comb(12, 0) + math.comb(12, 1) + math.comb(12, 2)) / 2**12
    assert by_hand == pytest.approx(0.03857, abs=1e-5)
    assert mcnemar_exact(10, 2) == pytest.approx(by_hand, rel=1e-12)


def test_mcnemar_no_discordant_pairs_is_one() -> None:
    assert mcnemar_exact(0, 0) == 1.0


@pytest.mark.parametrize(("b", "c"), [(10, 2), (7, 0), (3, 4), (25, 11), (1, 0)])
def test_mcnemar_is_symmetric_and_a_probability(b: int, c: int) -> None:
    assert mcnemar_exact(b, c) == mcnemar_exact(c, b)
    assert 0 < mcnemar_exact(b, c) <= 1


def test_mcnemar_balanced_is_capped_at_one() -> None:
    assert mcnemar_exact(5, 5) == 1.0


def test_mcnemar_five_discordant_pairs_can_never_be_significant() -> None:
    assert mcnemar_exact(5, 0) == pytest.approx(2 / 32)
    assert mcnemar_exact(6, 0) == pytest.approx(2 / 64)


def test_mcnemar_rejects_negative_counts() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        mcnemar_exact(-1, 2)


# --- pass^k ----------------------------------------------------------------------------------


def test_pass_hat_k_by_hand() -> None:
    assert pass_hat_k(4, 2, 1) == 0.5
    assert pass_hat_k(4, 2, 2) == pytest.approx(1 / 6)  # C(2,2)/C(4,2)
    assert pass_hat_k(4, 3, 2) == pytest.approx(3 / 6)
    assert pass_hat_k(3, 3, 3) == 1.0
    assert pass_hat_k(3, 2, 3) == 0.0


def test_pass_k_averages_over_tasks_and_needs_k_trials() -> None:
    counts = [(3, 3), (3, 2), (3, 0)]
    assert pass_k(counts, 1) == pytest.approx((1 + 2 / 3 + 0) / 3)
    assert pass_k(counts, 2) == pytest.approx((1 + 1 / 3 + 0) / 3)
    assert pass_k(counts, 3) == pytest.approx(1 / 3)
    assert pass_k(counts, 4) is None
    assert pass_k([], 1) is None


def test_pass_hat_k_rejects_impossible_counts() -> None:
    with pytest.raises(ValueError, match="c <= n"):
        pass_hat_k(2, 3, 1)
    with pytest.raises(ValueError, match="k <= n"):
        pass_hat_k(2, 1, 3)


def test_policy_stats_on_a_hand_built_case() -> None:
    outcomes = [
        run("t1", "keep", True, trial=0, input_tokens=100, output_tokens=10, seconds=1.0, cost=0.01),
        run("t1", "keep", True, trial=1, input_tokens=300, output_tokens=30, seconds=3.0, cost=0.03),
        run("t1", "keep", False, trial=2, status="limit", cost=0.02),
        run("t2", "keep", False, trial=0, status="error", cost=0.0),
        run("t2", "keep", True, trial=1, cost=0.0),
        run("t2", "keep", False, trial=2, cost=0.0),
        run("t1", "discard", False),  # another policy: ignored
    ]
    stats = policy_stats(outcomes, "keep", (1, 2, 3, 4), resamples=200)
    assert (stats.tasks, stats.runs, stats.passed) == (2, 6, 3)
    assert stats.pass_rate == pytest.approx((2 / 3 + 1 / 3) / 2)
    assert stats.pass_k[2] == pytest.approx((1 / 3 + 0) / 2)
    assert stats.pass_k[3] == 0.0
    assert stats.pass_k[4] is None
    assert stats.mean_input_tokens == pytest.approx(400 / 6)
    assert stats.mean_output_tokens == pytest.approx(40 / 6)
    assert stats.mean_seconds == pytest.approx(4 / 6)
    assert stats.mean_cost == pytest.approx(0.06 / 6)
    assert (stats.limit_runs, stats.error_runs) == (1, 1)
    assert stats.ci_low <= stats.pass_rate <= stats.ci_high


def test_mean_cost_is_none_when_any_cost_is_unknown() -> None:
    outcomes = [run("t1", "keep", True, cost=0.5), run("t2", "keep", True, cost=None)]
    assert policy_stats(outcomes, "keep", (1,), resamples=10).mean_cost is None


def test_policy_stats_needs_runs() -> None:
    with pytest.raises(ValueError, match="no runs"):
        policy_stats([run("t1", "keep", True)], "discard", (1,))


# --- paired comparison -----------------------------------------------------------------------


def test_compare_counts_the_four_cells() -> None:
    outcomes = paired(
        {
            "t1": [(True, True), (True, False), (True, False)],
            "t2": [(False, False), (False, True), (True, False)],
            "t3": [(True, True), (True, True), (False, False)],
        }
    )
    result = compare(outcomes, "keep", "discard", resamples=500)
    assert (result.pairs, result.tasks, result.unpaired) == (9, 3, 0)
    assert (result.both_pass, result.both_fail, result.a_only, result.b_only) == (3, 2, 3, 1)
    assert result.a_rate == pytest.approx(6 / 9)
    assert result.b_rate == pytest.approx(4 / 9)
    assert result.delta == pytest.approx(2 / 9)
    assert result.relative == pytest.approx(0.5)
    assert result.p_value == mcnemar_exact(3, 1)
    assert result.ci_low <= result.delta <= result.ci_high


def test_compare_is_antisymmetric() -> None:
    outcomes = paired({"t1": [(True, False)], "t2": [(True, True)], "t3": [(False, True)]})
    ab = compare(outcomes, "keep", "discard", resamples=300)
    ba = compare(outcomes, "discard", "keep", resamples=300)
    assert (ab.a_only, ab.b_only) == (ba.b_only, ba.a_only)
    assert ab.delta == -ba.delta
    assert ab.p_value == ba.p_value


def test_compare_relative_is_none_when_b_never_passes() -> None:
    outcomes = paired({"t1": [(True, False)], "t2": [(False, False)]})
    result = compare(outcomes, "keep", "discard", resamples=10)
    assert result.relative is None
    assert result.delta == 0.5


def test_compare_leaves_out_unpaired_runs() -> None:
    outcomes = [*paired({"t1": [(True, False)]}), run("t2", "keep", True), run("t1", "keep", True, trial=1)]
    result = compare(outcomes, "keep", "discard", resamples=10)
    assert (result.pairs, result.unpaired) == (1, 2)
    with pytest.raises(ValueError, match="share no"):
        compare([run("t1", "keep", True), run("t2", "discard", True)], "keep", "discard")


def test_bootstrap_ci_is_degenerate_when_all_pairs_agree() -> None:
    outcomes = paired({f"t{i}": [(i % 2 == 0, i % 2 == 0)] * 3 for i in range(10)})
    result = compare(outcomes, "keep", "discard")
    assert result.delta == 0.0
    assert (result.ci_low, result.ci_high) == (0.0, 0.0)
    assert result.p_value == 1.0


def test_bootstrap_is_deterministic_with_the_seed() -> None:
    rng = random.Random(7)
    results = {f"t{i}": [(rng.random() < 0.8, rng.random() < 0.6) for _ in range(3)] for i in range(20)}
    outcomes = paired(results)
    first = compare(outcomes, "keep", "discard", seed=3)
    assert compare(outcomes, "keep", "discard", seed=3) == first
    assert first.ci_low <= first.delta <= first.ci_high
    # With few resamples the interval's ends move with the seed (with 5000 they settle).
    small = {compare(outcomes, "keep", "discard", seed=s, resamples=30) for s in range(5)}
    assert len({(r.ci_low, r.ci_high) for r in small}) > 1


def test_bootstrap_resamples_whole_tasks() -> None:
    # One task always favours keep, one always favours discard: resampling tasks can give
    # -1 .. +1; resampling single pairs of 20 would almost never leave the middle.
    clusters = [(10.0, 10), (-10.0, 10)]
    low, high = bootstrap_ci(clusters, resamples=2000, seed=1)
    assert low == -1.0
    assert high == 1.0


def test_bootstrap_ci_rejects_empty_input() -> None:
    with pytest.raises(ValueError, match="no clusters"):
        bootstrap_ci([])


# --- summarize -------------------------------------------------------------------------------


def test_summarize_per_suite_and_family() -> None:
    outcomes = [
        *paired({"c1": [(True, False)] * 2, "c2": [(True, True)] * 2}, family="carry"),
        *paired({"d1": [(False, False), (True, False)], "d2": [(False, True)] * 2}, family="diagnose"),
    ]
    summary = summarize(outcomes, suite="builtin", resamples=300)
    assert summary.policies == ("keep", "discard")
    assert summary.missing == ()
    assert summary.k_values == (1, 2)
    assert summary.suite.name == "builtin"
    assert (summary.suite.tasks, summary.suite.trials) == (4, 2)
    assert [g.name for g in summary.families] == ["carry", "diagnose"]
    carry, diagnose = summary.families
    (kc,) = carry.comparisons
    assert (kc.a_only, kc.b_only, kc.delta) == (2, 0, 0.5)
    (kd,) = diagnose.comparisons
    assert (kd.a_only, kd.b_only, kd.both_fail) == (1, 2, 1)
    (whole,) = summary.suite.comparisons
    assert (whole.a_only, whole.b_only, whole.pairs) == (3, 2, 8)
    keep = summary.suite.policies[0]
    assert keep.pass_rate == pytest.approx((1 + 1 + 0.5 + 0) / 4)
    assert keep.pass_k[2] == pytest.approx((1 + 1 + 0 + 0) / 4)


def test_summarize_three_policies_compares_the_first_with_each_other() -> None:
    outcomes = [
        run("t1", "keep", True),
        run("t1", "discard", False),
        run("t1", "current-turn", True),
        run("t2", "keep", True),
        run("t2", "discard", False),
        run("t2", "current-turn", False),
    ]
    summary = summarize(outcomes, ("keep", "discard", "current-turn"), resamples=50)
    assert [(c.a, c.b) for c in summary.suite.comparisons] == [
        ("keep", "discard"),
        ("keep", "current-turn"),
    ]
    assert [c.a_only for c in summary.suite.comparisons] == [2, 1]


def test_summarize_single_policy_has_no_comparison_and_names_the_missing_one() -> None:
    summary = summarize([run("t1", "keep", True), run("t2", "keep", False)], resamples=50)
    assert summary.policies == ("keep",)
    assert summary.missing == ("discard",)
    assert summary.suite.comparisons == ()
    assert summary.suite.policies[0].pass_rate == 0.5


def test_summarize_rejects_duplicates_and_nothing_to_summarize() -> None:
    with pytest.raises(ValueError, match="appears twice"):
        summarize([run("t1", "keep", True), run("t1", "keep", False)])
    with pytest.raises(ValueError, match="no runs"):
        summarize([run("t1", "current-turn", True)])
    with pytest.raises(ValueError, match="k values"):
        summarize([run("t1", "keep", True)], k_values=(0,))


def test_summarize_sixty_tasks_three_trials_is_fast_enough() -> None:
    rng = random.Random(0)
    families = ("carry", "diagnose", "cascade", "choose", "followup", "control")
    outcomes = [
        o
        for i in range(60)
        for o in paired(
            {f"t{i}": [(rng.random() < 0.85, rng.random() < 0.65) for _ in range(3)]},
            family=families[i % 6],
        )
    ]
    started = time.perf_counter()
    summary = summarize(outcomes)
    assert time.perf_counter() - started < 10
    (whole,) = summary.suite.comparisons
    assert whole.pairs == 180
    assert whole.ci_low <= whole.delta <= whole.ci_high
