"""The running service: APScheduler runs every ingest job on its interval (with jitter,
never overlapping itself), refreshes the graph-size gauges and purges expired history; a
rules thread applies the rules incrementally after each ingest that wrote something; a
HTTP server reports on it and answers the REST API and MCP.

The rules run in a thread of their own rather than inside the ingest jobs, so that a long
rule run never delays an ingest: ingests that finish while the rules run are served by
one more incremental run right after (it sees every change since the previous one).

Each instance works on its own clusters only (those its jobs write, ``clusters()``): the
rules make and close the edges whose start is in them, the purge removes their history;
several instances, one per cluster, share one Neo4j without touching each other's data,
and a cluster loaded from a snapshot is never changed by ``serve``.

Stopping (``stop``) stops the watches, lets a running ingest finish its run, and stops
the rules between two rules. Every batch is its own transaction and a
rule's state is written only after the rule completed, so nothing is left half-written:
the next start resumes from the last completed rule run.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from korrel8.api.auth import Authenticator
from korrel8.config import Settings
from korrel8.errors import Korrel8Error, StoreUnavailableError
from korrel8.graph.store import Store
from korrel8.rules import Rule
from korrel8.rules import runner as rule_runner
from korrel8.service.httpd import StatusServer
from korrel8.service.jobs import SourceJob
from korrel8.service.telemetry import Telemetry

log = logging.getLogger("korrel8.serve")
# APScheduler warns on every run it skips because the previous one still runs; that is
# the intended behaviour here, counted in /metrics (korrel8_job_skipped_total) instead.
# Its INFO lines ("Running job", "executed successfully") come every second per source.
logging.getLogger("apscheduler").setLevel(logging.WARNING)
logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)


@dataclass(frozen=True)
class Run:
    """One finished ingest run (monotonic start and end): the recent ones are kept in
    ``Service.runs``, to see how runs were spaced when debugging and in tests."""

    job: str
    started: float
    ended: float
    ok: bool


class Service:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        rules: Sequence[Rule],
        jobs: Sequence[SourceJob],
        dirty: threading.Event | None = None,
    ) -> None:
        """``dirty`` is set by whatever writes outside the scheduled runs (the Kubernetes
        watches, through source_jobs' on_change): the rules then run."""
        self.settings = settings
        self.store = store
        self.rules = [r for r in rules if r.enabled]
        self.jobs = list(jobs)
        self.telemetry = Telemetry()
        self.runs: deque[Run] = deque(maxlen=1000)
        self.rule_applications = 0
        self._planned = False  # the rules' statements planned since Neo4j was last reached
        self._stopping = threading.Event()
        self._dirty = dirty or threading.Event()  # written to since the rules last ran
        self._retired: set[str] = set()  # clusters whose retired rules' edges were closed
        self._rules_thread = threading.Thread(target=self._rules_loop, name="korrel8-rules",
                                              daemon=True)  # fmt: skip
        self.http: StatusServer | None = None
        self.authenticator: Authenticator | None = None
        # One thread per job, plus the graph gauges and the purge: no job waits for a
        # thread, so max_instances alone decides what is skipped.
        self.scheduler = BackgroundScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(len(self.jobs) + 2)},
            job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": None},
        )
        self.scheduler.add_listener(self._skipped, EVENT_JOB_MAX_INSTANCES)

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        serve = self.settings.serve
        # Who may ask the API, and what each caller sees (api.auth; none only on loopback).
        self.authenticator = Authenticator.from_settings(self.settings, self.store, serve.host)
        self.http = StatusServer(
            serve.host, serve.port, self.telemetry, self.store,
            max_depth=self.settings.max_depth, certfile=serve.tls_cert, keyfile=serve.tls_key,
            authenticator=self.authenticator,
        )  # fmt: skip
        self.http.start()
        now = datetime.now(UTC)
        for job in self.jobs:
            jitter = min(serve.jitter_seconds, job.interval / 10)
            self.scheduler.add_job(
                self._ingest, IntervalTrigger(seconds=job.interval, jitter=jitter or None),
                args=(job,), id=job.id, name=job.id, next_run_time=now,
            )  # fmt: skip
        self.scheduler.add_job(
            self._graph, IntervalTrigger(seconds=serve.graph_interval_seconds),
            id="graph", name="graph size", next_run_time=now,
        )  # fmt: skip
        self.scheduler.add_job(
            self._purge, IntervalTrigger(seconds=serve.purge_interval_seconds),
            id="purge", name="retention purge",
        )  # fmt: skip
        self.scheduler.start()
        self._rules_thread.start()

    def stop(self) -> None:
        """Finish the running steps, stop the watches and the HTTP server."""
        self._stopping.set()
        self.telemetry.stopping = True
        # Watches first: their writer retries while Neo4j is down, until told to stop.
        for job in self.jobs:
            try:
                job.stop()
            except Exception as exc:  # one job's cleanup must not keep the others running
                log.warning("%s: stopping failed: %s", job.id, exc)
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        if self._rules_thread.is_alive():
            self._rules_thread.join()
        if self.http is not None:
            self.http.stop()
        if self.authenticator is not None:
            self.authenticator.close()

    def clusters(self) -> frozenset[str]:
        """The clusters this instance writes: its rules and purge touch only these."""
        return frozenset().union(*(job.clusters() for job in self.jobs))

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    # -- jobs --------------------------------------------------------------------------

    def _ingest(self, job: SourceJob) -> None:
        if self.stopping:
            return
        started = time.monotonic()
        summaries = []
        error = None
        try:
            summaries = job.run()  # Neo4j's state is the graph job's to tell: a run that
            # failed at its source never reached Neo4j
        except StoreUnavailableError as exc:
            self.telemetry.neo4j(False)
            error = str(exc)
        except Korrel8Error as exc:
            error = str(exc)
        except Exception as exc:  # a bug must not end the job's schedule: report, go on
            log.exception("%s: unexpected failure", job.id)
            # Only the type for /healthz: an unforeseen message might hold a credential.
            error = f"unexpected failure ({type(exc).__name__}; see the log)"
        ended = time.monotonic()
        ok = error is None and not any(s.errors for s in summaries)
        self.runs.append(Run(job.id, started, ended, ok))
        self.telemetry.source_run(
            job.source, job.cluster, job.interval, summaries, error, ended - started
        )
        if any(sum(s.objects.values()) or s.deleted for s in summaries):
            self._dirty.set()

    def _rules_loop(self) -> None:
        while not self.stopping:
            if not self._planned:  # at start, and after Neo4j came back (plans are lost)
                self._planned = self._warm_up()
            # A timed wait, so that a stop is noticed while nothing is written.
            if self._dirty.wait(timeout=0.5) and not self.stopping:
                self._dirty.clear()
                self.apply_rules()

    def _warm_up(self) -> bool:
        """Plan the rules' statements before the first incremental run needs them
        (rule_runner.warm_up); False if Neo4j could not be reached."""
        started = time.monotonic()
        try:
            planned = rule_runner.warm_up(
                self.store, self.rules, lambda: self.stopping, clusters=self.clusters()
            )
        except StoreUnavailableError:
            time.sleep(0.5)
            return False
        except Korrel8Error as exc:  # a rule that does not plan fails its run, reported there
            log.warning("planning the rules ahead failed: %s", exc)
            return True
        log.info("planned %d rule statements in %.1f s", planned, time.monotonic() - started)
        return True

    def apply_rules(self) -> None:
        """Every enabled rule, incrementally; between two rules, a stop is honoured."""
        started = time.monotonic()
        runs: list[rule_runner.RuleRun] = []
        errors: list[str] = []
        clusters = self.clusters()
        try:
            # Edges of rules switched off since the last start stop counting now, in each
            # cluster the first time it is ours.
            if new := clusters - self._retired:
                names = (r.name for r in self.rules)
                closed = rule_runner.close_retired(self.store, names, clusters=new)
                self._retired |= new
                if closed:
                    log.info("closed %d edges of rules no longer enabled", closed)
            # One failing rule is reported and the others still run (errors=...).
            runs = rule_runner.apply(
                self.store, self.rules, should_stop=lambda: self.stopping, errors=errors,
                clusters=clusters,
            )  # fmt: skip
            if self.stopping and len(runs) < len(self.rules):
                log.info("stopping: the remaining rules run at the next start")
        except StoreUnavailableError as exc:
            self.telemetry.neo4j(False)
            self._dirty.set()  # not applied: try again
            self._planned = False  # a restarted Neo4j has lost its plans
            log.debug("rules not applied: %s", exc)
            time.sleep(1.0)  # Neo4j is down: do not spin
        except Korrel8Error as exc:
            log.error("applying the rules failed: %s", exc)
        except Exception:  # a bug must not end the rules thread: report, go on
            log.exception("applying the rules failed")
        for line in errors:
            log.error("%s", line)
        self.rule_applications += 1
        self.telemetry.rules_run(runs, time.monotonic() - started)

    def _graph(self) -> None:
        try:
            self.telemetry.graph(self.store.counts())
            self.telemetry.neo4j(True)
        except StoreUnavailableError:
            self.telemetry.neo4j(False)
        except Korrel8Error as exc:
            log.warning("graph size not measured: %s", exc)

    def _purge(self) -> None:
        try:
            purged = self.store.purge(
                timedelta(hours=self.settings.retention_hours), clusters=self.clusters()
            )
            if purged.nodes or purged.edges:
                log.info("purged %d nodes and %d edges past retention", purged.nodes,
                         purged.edges)  # fmt: skip
        except Korrel8Error as exc:
            log.warning("purge failed, next try in %.0f s: %s",
                        self.settings.serve.purge_interval_seconds, exc)  # fmt: skip

    def _skipped(self, event: JobEvent) -> None:
        self.telemetry.skipped.labels(event.job_id).inc()
        log.debug("%s: previous run still going, this one skipped", event.job_id)


__all__ = ["Run", "Service"]
