"""Paired statistics for the keep-vs-discard experiment: pure functions over ``Outcome`` records.

Every (task, trial) runs under each policy with the same seed, so two policies are compared
pair by pair, not as two independent samples:

- ``pass_hat_k(n, c, k)``: tau-bench's pass^k for one task with ``n`` trials and ``c``
  successes, ``C(c, k) / C(n, k)`` — the chance that ``k`` trials drawn without replacement all
  pass; a suite's pass^k is the mean over its tasks (pass^1 is the mean per-task pass rate).
- ``mcnemar_exact(b, c)``: the exact two-sided McNemar p-value on the discordant pairs, ``b``
  (A passed, B failed) and ``c`` (A failed, B passed); the concordant pairs carry no evidence.
- ``bootstrap_ci``: a percentile CI that resamples *tasks* (each with all its trials), since
  the trials of one task are not independent of each other.
- ``summarize(outcomes)``: all of it per policy and per comparison (the first policy against
  each other one), for the whole suite and per family, in one ``Summary`` record.

Pure Python (``math.comb``, ``random.Random``): 5000 resamples of 60 tasks take well under a
second, and the numbers do not depend on a numerical library's version.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence

import msgspec

from thinkwire.evals.episode import Outcome

RESAMPLES = 5000
SEED = 0
LEVEL = 0.95


class PolicyStats(msgspec.Struct, frozen=True, kw_only=True):
    """One policy's runs in one group (the suite or a family)."""

    policy: str
    tasks: int
    runs: int
    passed: int
    pass_rate: float
    """pass^1: the mean over tasks of each task's pass rate."""
    ci_low: float
    ci_high: float
    """Task-resampled bootstrap CI of ``pass_rate``."""
    pass_k: dict[int, float | None]
    """pass^k per requested k; None when some task has fewer than k trials."""
    mean_input_tokens: float
    mean_output_tokens: float
    mean_seconds: float
    mean_cost: float | None
    """US$ per run; None when any run's cost is unknown."""
    limit_runs: int
    """Runs stopped by a limit (steps, tokens, time, cost)."""
    error_runs: int
    """Runs that ended in an error."""


class Paired(msgspec.Struct, frozen=True, kw_only=True):
    """Policy ``a`` against policy ``b`` over the (task, trial) pairs both ran."""

    a: str
    b: str
    tasks: int
    pairs: int
    unpaired: int
    """Runs of ``a`` or ``b`` whose (task, trial) the other policy did not run (left out)."""
    both_pass: int
    both_fail: int
    a_only: int
    """Discordant pairs where ``a`` passed and ``b`` failed (McNemar's b)."""
    b_only: int
    """Discordant pairs where ``a`` failed and ``b`` passed (McNemar's c)."""
    a_rate: float
    b_rate: float
    delta: float
    """``a_rate - b_rate`` over the pairs."""
    ci_low: float
    ci_high: float
    """Task-resampled bootstrap CI of ``delta``."""
    relative: float | None
    """``delta / b_rate``; None when ``b_rate`` is 0."""
    p_value: float
    """Exact two-sided McNemar p-value."""


class Group(msgspec.Struct, frozen=True, kw_only=True):
    """The suite as a whole, or one family of it."""

    name: str
    tasks: int
    trials: int
    """Most trials any task ran under any policy."""
    policies: tuple[PolicyStats, ...]
    comparisons: tuple[Paired, ...]


class Summary(msgspec.Struct, frozen=True, kw_only=True):
    policies: tuple[str, ...]
    """The policies that ran, in the order asked; the first is compared with each other one."""
    missing: tuple[str, ...]
    """Policies asked for that have no runs."""
    k_values: tuple[int, ...]
    suite: Group
    families: tuple[Group, ...]
    resamples: int
    seed: int
    level: float


def pass_hat_k(n: int, c: int, k: int) -> float:
    """pass^k of one task with ``n`` trials of which ``c`` passed: ``C(c, k) / C(n, k)``."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    return math.comb(c, k) / math.comb(n, k)


def pass_k(counts: Iterable[tuple[int, int]], k: int) -> float | None:
    """Mean pass^k over tasks given as (trials, successes); None when a task has fewer than
    ``k`` trials or there are no tasks."""
    counts = list(counts)
    if not counts or any(n < k for n, _ in counts):
        return None
    return sum(pass_hat_k(n, c, k) for n, c in counts) / len(counts)


def mcnemar_exact(b: int, c: int) -> float:
    """Exact two-sided McNemar p-value: ``min(1, 2 * P(X <= min(b, c)))`` with
    ``X ~ Binomial(b + c, 1/2)``; 1.0 when there are no discordant pairs."""
    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be >= 0, got b={b}, c={c}")
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(b, c) + 1))
    return min(1.0, 2 * tail / (1 << n))


def _quantile(ordered: Sequence[float], q: float) -> float:
    """Linear-interpolated quantile of an ascending sequence."""
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def bootstrap_ci(
    clusters: Sequence[tuple[float, int]],
    *,
    resamples: int = RESAMPLES,
    seed: int = SEED,
    level: float = LEVEL,
) -> tuple[float, float]:
    """Percentile CI of ``sum(totals) / sum(sizes)`` when whole clusters, given as
    (total, size), are resampled with replacement; the same seed gives the same interval."""
    if not clusters:
        raise ValueError("no clusters to resample")
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")
    rng = random.Random(seed)
    count = len(clusters)
    stats: list[float] = []
    for _ in range(resamples):
        total = 0.0
        size = 0
        for index in rng.choices(range(count), k=count):
            t, s = clusters[index]
            total += t
            size += s
        stats.append(total / size if size else 0.0)
    stats.sort()
    tail = (1 - level) / 2
    return _quantile(stats, tail), _quantile(stats, 1 - tail)


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _task_order(outcomes: Iterable[Outcome]) -> list[str]:
    return list(dict.fromkeys(o.task for o in outcomes))


def policy_stats(
    outcomes: Sequence[Outcome],
    policy: str,
    k_values: Sequence[int],
    *,
    resamples: int = RESAMPLES,
    seed: int = SEED,
    level: float = LEVEL,
) -> PolicyStats:
    """``policy``'s runs among ``outcomes`` (ValueError when it has none)."""
    runs = [o for o in outcomes if o.policy == policy]
    if not runs:
        raise ValueError(f"no runs of policy {policy!r}")
    per_task: dict[str, list[bool]] = {}
    for o in runs:
        per_task.setdefault(o.task, []).append(o.passed)
    counts = [(len(results), sum(results)) for results in per_task.values()]
    rate = pass_k(counts, 1)
    assert rate is not None
    # The CI of the mean per-task rate: resample tasks, each weighing one.
    low, high = bootstrap_ci([(c / n, 1) for n, c in counts], resamples=resamples, seed=seed, level=level)
    costs = [o.cost for o in runs]
    return PolicyStats(
        policy=policy,
        tasks=len(per_task),
        runs=len(runs),
        passed=sum(o.passed for o in runs),
        pass_rate=rate,
        ci_low=low,
        ci_high=high,
        pass_k={k: pass_k(counts, k) for k in k_values},
        mean_input_tokens=_mean([o.input_tokens for o in runs]),
        mean_output_tokens=_mean([o.output_tokens for o in runs]),
        mean_seconds=_mean([o.seconds for o in runs]),
        mean_cost=None if any(c is None for c in costs) else _mean([c for c in costs if c is not None]),
        limit_runs=sum(o.status == "limit" for o in runs),
        error_runs=sum(o.status == "error" for o in runs),
    )


def compare(
    outcomes: Sequence[Outcome],
    a: str,
    b: str,
    *,
    resamples: int = RESAMPLES,
    seed: int = SEED,
    level: float = LEVEL,
) -> Paired:
    """Policy ``a`` against ``b`` over the (task, trial) pairs both ran (ValueError when none)."""
    runs_a = {(o.task, o.trial): o.passed for o in outcomes if o.policy == a}
    runs_b = {(o.task, o.trial): o.passed for o in outcomes if o.policy == b}
    keys = [key for key in runs_a if key in runs_b]
    if not keys:
        raise ValueError(f"policies {a!r} and {b!r} share no (task, trial) pair")
    per_task: dict[str, list[tuple[bool, bool]]] = {}
    for key in keys:
        per_task.setdefault(key[0], []).append((runs_a[key], runs_b[key]))
    pairs = [pair for task_pairs in per_task.values() for pair in task_pairs]
    both_pass = sum(x and y for x, y in pairs)
    both_fail = sum(not x and not y for x, y in pairs)
    a_only = sum(x and not y for x, y in pairs)
    b_only = sum(y and not x for x, y in pairs)
    a_rate = (both_pass + a_only) / len(pairs)
    b_rate = (both_pass + b_only) / len(pairs)
    clusters = [(float(sum(x - y for x, y in tp)), len(tp)) for tp in per_task.values()]
    low, high = bootstrap_ci(clusters, resamples=resamples, seed=seed, level=level)
    delta = a_rate - b_rate
    return Paired(
        a=a,
        b=b,
        tasks=len(per_task),
        pairs=len(pairs),
        unpaired=len(runs_a) + len(runs_b) - 2 * len(keys),
        both_pass=both_pass,
        both_fail=both_fail,
        a_only=a_only,
        b_only=b_only,
        a_rate=a_rate,
        b_rate=b_rate,
        delta=delta,
        ci_low=low,
        ci_high=high,
        relative=delta / b_rate if b_rate else None,
        p_value=mcnemar_exact(a_only, b_only),
    )


def _group(
    name: str,
    outcomes: Sequence[Outcome],
    policies: Sequence[str],
    k_values: Sequence[int],
    *,
    resamples: int,
    seed: int,
    level: float,
) -> Group:
    present = [p for p in policies if any(o.policy == p for o in outcomes)]
    ran = {p: {(o.task, o.trial) for o in outcomes if o.policy == p} for p in present}
    comparisons = [
        compare(outcomes, present[0], other, resamples=resamples, seed=seed, level=level)
        for other in present[1:]
        if ran[present[0]] & ran[other]
    ]
    trials: dict[tuple[str, str], int] = {}
    for o in outcomes:
        trials[(o.task, o.policy)] = trials.get((o.task, o.policy), 0) + 1
    return Group(
        name=name,
        tasks=len(_task_order(outcomes)),
        trials=max(trials.values(), default=0),
        policies=tuple(
            policy_stats(outcomes, p, k_values, resamples=resamples, seed=seed, level=level) for p in present
        ),
        comparisons=tuple(comparisons),
    )


def summarize(
    outcomes: Sequence[Outcome],
    policies: Sequence[str] = ("keep", "discard"),
    k_values: Sequence[int] | None = None,
    *,
    suite: str = "suite",
    resamples: int = RESAMPLES,
    seed: int = SEED,
    level: float = LEVEL,
) -> Summary:
    """Every statistic for ``outcomes``: the whole suite (named ``suite``) and each family in
    the order first seen. Runs of policies not in ``policies`` are ignored; ``k_values``
    defaults to 1 .. the fewest trials any task ran under any policy. ValueError when no run
    is of an asked policy, or a (task, trial, policy) appears twice."""
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    chosen = [o for o in outcomes if o.policy in policies]
    if not chosen:
        raise ValueError(f"no runs of the policies {', '.join(policies)}")
    seen: set[tuple[str, int, str]] = set()
    for o in chosen:
        key = (o.task, o.trial, o.policy)
        if key in seen:
            raise ValueError(f"run {o.task!r} trial {o.trial} policy {o.policy!r} appears twice")
        seen.add(key)
    present = tuple(p for p in dict.fromkeys(policies) if any(o.policy == p for o in chosen))
    missing = tuple(p for p in dict.fromkeys(policies) if p not in present)
    if k_values is None:
        trials: dict[tuple[str, str], int] = {}
        for o in chosen:
            trials[(o.task, o.policy)] = trials.get((o.task, o.policy), 0) + 1
        k_values = range(1, min(trials.values()) + 1)
    ks = tuple(sorted(set(k_values)))
    if not ks or ks[0] < 1:
        raise ValueError(f"k values must be >= 1, got {ks}")

    def group(name: str, runs: Sequence[Outcome]) -> Group:
        return _group(name, runs, present, ks, resamples=resamples, seed=seed, level=level)

    families = list(dict.fromkeys(o.family for o in chosen))
    return Summary(
        policies=present,
        missing=missing,
        k_values=ks,
        suite=group(suite, chosen),
        families=tuple(group(f, [o for o in chosen if o.family == f]) for f in families),
        resamples=resamples,
        seed=seed,
        level=level,
    )


__all__ = [
    "Group",
    "Paired",
    "PolicyStats",
    "Summary",
    "bootstrap_ci",
    "compare",
    "mcnemar_exact",
    "pass_hat_k",
    "pass_k",
    "policy_stats",
    "summarize",
]
