"""Prometheus metrics at ``GET /metrics`` (text exposition format).

Per request, counted when the response starts (for a stream: its first byte):

- ``thinkwire_requests_total{route, status}``;
- ``thinkwire_request_seconds{route}``: a histogram of the time to the response's start.

Read from the backend at each scrape (its ``health()``, so there is one source of truth; it
never blocks, so ``/metrics`` answers while the state store is down):

- local engine: ``thinkwire_engine_generations_total``, ``thinkwire_engine_refused_total``
  (queue full), ``thinkwire_engine_running`` and ``thinkwire_engine_queued``;
- gateway: ``thinkwire_gateway_upstream_errors_total``;
- conversation state (every backend): ``thinkwire_state_restored_turns_total``,
  ``thinkwire_state_recorded_turns_total``, ``thinkwire_state_unrecorded_turns_total``,
  ``thinkwire_state_skipped_lookups_total``, ``thinkwire_state_errors_total``,
  ``thinkwire_state_commits_total``, ``thinkwire_state_deferred_records_total``,
  ``thinkwire_state_late_commits_total``, ``thinkwire_state_pending``, ``thinkwire_state_down``,
  ``thinkwire_policy_removed_blocks_total``, and the store's ``thinkwire_store_entries``,
  ``thinkwire_store_bytes``, ``thinkwire_store_evictions_total`` (refreshed in the background
  at most once a second).

Each app has its own registry, so several servers in one process (tests) do not collide.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Final

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.responses import Response

CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"
_ENGINE: Final = (
    # (health key, metric name, help, counter?)
    ("served", "thinkwire_engine_generations", "Generations the local engine completed.", True),
    (
        "refused",
        "thinkwire_engine_refused",
        "Requests refused because every slot and the queue were full.",
        True,
    ),
    ("running", "thinkwire_engine_running", "Generations running now.", False),
    ("queued", "thinkwire_engine_queued", "Requests waiting for a slot.", False),
)
_GATEWAY: Final = (
    ("upstream_errors", "thinkwire_gateway_upstream_errors", "Upstream calls that failed.", True),
)
_PIPELINE: Final = (
    (
        "restored",
        "thinkwire_state_restored_turns",
        "Assistant turns whose dropped thinking was restored.",
        True,
    ),
    (
        "policy_removed",
        "thinkwire_policy_removed_blocks",
        "Thinking blocks the configured policy removed from earlier turns.",
        True,
    ),
)
_STATE: Final = (
    ("recorded", "thinkwire_state_recorded_turns", "Assistant turns recorded in the state.", True),
    (
        "unrecorded",
        "thinkwire_state_unrecorded_turns",
        "Assistant turns not recorded because the store failed or did not commit in time.",
        True,
    ),
    ("skipped", "thinkwire_state_skipped_lookups", "Restores skipped because the store was down.", True),
    ("errors", "thinkwire_state_errors", "State store operations that failed.", True),
    ("commits", "thinkwire_state_commits", "Transactions the committer wrote (group commits).", True),
    (
        "deferred",
        "thinkwire_state_deferred_records",
        "Records put back in the queue for a retry after the store refused their batch.",
        True,
    ),
    ("late", "thinkwire_state_late_commits", "Records whose commit outlasted the commit timeout.", True),
    ("pending", "thinkwire_state_pending", "Records waiting for the committer.", False),
    ("down", "thinkwire_state_down", "1 while the state store is marked down.", False),
)
_STORE: Final = (
    ("entries", "thinkwire_store_entries", "Records in the state store.", False),
    ("bytes", "thinkwire_store_bytes", "Bytes of records in the state store.", False),
    (
        "evictions",
        "thinkwire_store_evictions",
        "Records evicted from the state store to stay in bounds.",
        True,
    ),
)


class _HealthCollector(Collector):
    def __init__(self, health: Callable[[], dict[str, Any]]) -> None:
        self._health = health

    def collect(self) -> Iterator[Metric]:
        health = self._health()
        state = health.get("state") or {}
        if state:
            state = {**state, "down": int(state.get("status") != "ok")}
        sources = [
            (health, _ENGINE + _GATEWAY + _PIPELINE),
            (health.get("local") or {}, _ENGINE),
            (state, _STATE),
            (state.get("stats") or {}, _STORE),
        ]
        seen: set[str] = set()
        for values, table in sources:
            for key, name, text, counter in table:
                value = values.get(key)
                if not isinstance(value, int | float) or name in seen:
                    continue
                seen.add(name)
                family = CounterMetricFamily if counter else GaugeMetricFamily
                yield family(name, text, value=value)


class Metrics:
    """The registry of one app and the per-request instruments."""

    def __init__(self, health: Callable[[], dict[str, Any]]) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "thinkwire_requests",
            "Requests answered, by route and status.",
            ["route", "status"],
            registry=self.registry,
        )
        self.seconds = Histogram(
            "thinkwire_request_seconds",
            "Seconds until the response started (a stream's first byte), by route.",
            ["route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
        )
        self.registry.register(_HealthCollector(health))

    def observe(self, route: str, status: int, seconds: float) -> None:
        self.requests.labels(route=route, status=str(status)).inc()
        self.seconds.labels(route=route).observe(seconds)

    def response(self) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE)
