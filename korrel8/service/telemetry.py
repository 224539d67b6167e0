"""What ``korrel8 serve`` reports: Prometheus metrics and the state behind /healthz.

Each Service has its own registry, so that several can run in one process (tests).
A source's state changes (up to down, down to up) are logged once each; the failures in
between are logged at debug level only, since the scheduler retries on its own.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from ingest.summary import Summary
from korrel8.rules.runner import RuleRun

log = logging.getLogger("korrel8.serve")

SOURCE_LABELS = ("source", "cluster")


@dataclass
class SourceState:
    up: bool | None = None  # None: not run yet
    last_success: float | None = None  # epoch seconds
    last_error: str | None = None
    failures: int = 0  # consecutive failed runs
    runs: int = 0
    warnings: list[str] = field(default_factory=list)  # e.g. a watch retrying, in its window
    skipped_kinds: dict[str, str] = field(default_factory=dict)  # class -> reason


class Telemetry:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.source_up = Gauge(
            "korrel8_source_up",
            "1 if the source is healthy now: its last run succeeded and its watches are "
            "current or retrying within their window",
            SOURCE_LABELS,
            registry=r,
        )
        self.last_success = Gauge(
            "korrel8_source_last_success_timestamp_seconds",
            "When the source was last seen wholly healthy (a run without errors or warnings)",
            SOURCE_LABELS,
            registry=r,
        )
        self.kind_skipped = Gauge(
            "korrel8_kind_skipped",
            "1 for a kind the source did not read, and why (forbidden, not_served); the "
            "source stays up",
            ("cluster", "kind", "reason"),
            registry=r,
        )
        self.duration = Histogram(
            "korrel8_source_run_duration_seconds",
            "How long each ingest run took",
            SOURCE_LABELS,
            buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
            registry=r,
        )
        self.objects = Gauge(
            "korrel8_source_objects", "Nodes written by the source's last run", SOURCE_LABELS,
            registry=r,
        )  # fmt: skip
        self.errors = Counter(
            "korrel8_source_errors", "Ingest runs that failed", SOURCE_LABELS, registry=r
        )
        self.runs = Counter("korrel8_source_runs", "Ingest runs", SOURCE_LABELS, registry=r)
        self.skipped = Counter(
            "korrel8_job_skipped",
            "Runs not started because the job's previous run was still going",
            ("job",),
            registry=r,
        )
        self.rule_duration = Gauge(
            "korrel8_rule_run_duration_seconds", "How long the rule's last run took", ("rule",),
            registry=r,
        )  # fmt: skip
        self.rule_edges = Gauge(
            "korrel8_rule_edges", "Edges made or refreshed by the rule's last run", ("rule",),
            registry=r,
        )  # fmt: skip
        self.rules_duration = Histogram(
            "korrel8_rules_apply_duration_seconds",
            "How long applying every rule after an ingest took",
            buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
            registry=r,
        )
        self.graph_nodes = Gauge(
            "korrel8_graph_nodes", "Live nodes per class", ("class",), registry=r
        )
        self.graph_edges = Gauge(
            "korrel8_graph_edges", "Open edges per relationship type", ("type",), registry=r
        )
        self.neo4j_up = Gauge("korrel8_neo4j_up", "1 if Neo4j answered last time", registry=r)
        self._lock = threading.Lock()
        self.sources: dict[str, SourceState] = {}
        self.neo4j_ok = True
        self.stopping = False
        self.started = time.time()

    # -- recording ---------------------------------------------------------------------

    def source_run(
        self, source: str, cluster: str, interval: float, summaries: Iterable[Summary],
        error: str | None, seconds: float,
    ) -> None:  # fmt: skip
        """Record one ingest run; ``error`` is set when the run failed as a whole."""
        summaries = list(summaries)
        errors = [e for s in summaries for e in s.errors]
        if error:
            errors.insert(0, error)
        warnings = [w for s in summaries for w in s.warnings]
        # A run that failed as a whole read no kinds: the last known skipped ones stand.
        skipped = None if error else {k: v for s in summaries for k, v in s.skipped_kinds.items()}
        labels = (source, cluster)
        self.runs.labels(*labels).inc()
        self.duration.labels(*labels).observe(seconds)
        self.objects.labels(*labels).set(sum(sum(s.objects.values()) for s in summaries))
        name = f"{source}/{cluster}"
        with self._lock:
            state = self.sources.setdefault(name, SourceState())
            state.runs += 1
            was_up = state.up
            if errors:
                self.errors.labels(*labels).inc()
                self.source_up.labels(*labels).set(0)
                state.up, state.failures, state.last_error = False, state.failures + 1, errors[0]
            else:
                self.source_up.labels(*labels).set(1)
                state.up, state.last_error = True, None
                if not warnings:  # retrying within the window: up, but not current
                    state.last_success = time.time()
                    self.last_success.labels(*labels).set(state.last_success)
            state.warnings = warnings
            if skipped is not None:
                self._set_skipped(cluster, state, skipped)
            failures = state.failures
            if not errors:
                state.failures = 0
        # Once per change of state, so that a source down for a day is one line, not 1440.
        if errors and was_up is not False:
            log.error("%s is down: %s (retrying every %.0f s)", name, "; ".join(errors), interval)
        elif errors:
            log.debug("%s still down (%d runs): %s", name, failures, errors[0])
        elif was_up is False:
            log.info("%s is back after %d failed runs", name, failures)
        elif was_up is None:
            log.info("%s: first run done in %.1f s", name, seconds)

    def _set_skipped(self, cluster: str, state: SourceState, skipped: dict[str, str]) -> None:
        for kind, reason in state.skipped_kinds.items():
            if skipped.get(kind) != reason:
                self.kind_skipped.remove(cluster, kind, reason)
        for kind, reason in skipped.items():
            self.kind_skipped.labels(cluster, kind, reason).set(1)
        state.skipped_kinds = dict(skipped)

    def rules_run(self, runs: Iterable[RuleRun], seconds: float) -> None:
        for run in runs:
            self.rule_duration.labels(run.rule).set(run.seconds)
            self.rule_edges.labels(run.rule).set(run.edges)
        self.rules_duration.observe(seconds)

    def graph(self, counts: dict[str, dict[str, int]]) -> None:
        # Classes that vanished would keep their last value: clear before setting.
        self.graph_nodes.clear()
        self.graph_edges.clear()
        for cls, n in counts.get("node", {}).items():
            self.graph_nodes.labels(cls).set(n)
        for rel, n in counts.get("edge", {}).items():
            self.graph_edges.labels(rel).set(n)

    def neo4j(self, ok: bool) -> None:
        with self._lock:  # several jobs may see the change at once: log it once
            changed, self.neo4j_ok = ok != self.neo4j_ok, ok
        if changed:
            if ok:
                log.info("Neo4j answers again")
            else:
                log.error("Neo4j does not answer; ingest runs fail until it is back")
        self.neo4j_up.set(1 if ok else 0)

    # -- reporting ---------------------------------------------------------------------

    def metrics(self) -> bytes:
        return generate_latest(self.registry)

    def health(self) -> tuple[bool, dict[str, Any]]:
        """Healthy while running and Neo4j answers; a source that is down is reported but
        does not make korrel8 unhealthy (restarting korrel8 would not bring it back)."""
        with self._lock:
            sources = {
                name: {
                    "up": s.up,
                    "last_success": s.last_success,
                    "last_error": s.last_error,
                    "consecutive_failures": s.failures,
                    "runs": s.runs,
                    "warnings": list(s.warnings),
                    "skipped_kinds": dict(sorted(s.skipped_kinds.items())),
                }
                for name, s in sorted(self.sources.items())
            }
        ok = self.neo4j_ok and not self.stopping
        status = "stopping" if self.stopping else ("ok" if ok else "neo4j unreachable")
        return ok, {
            "status": status,
            "neo4j": self.neo4j_ok,
            "uptime_seconds": round(time.time() - self.started, 1),
            "sources": sources,
        }


__all__ = ["SourceState", "Telemetry"]
