"""The ingest jobs of ``korrel8 serve``: one per (source, cluster) that is configured.

A job's ``run`` ingests once and returns the summaries of what it wrote. It never raises
for a source that is down (the ingesters put that in the summary and keep the graph's
data); a Korrel8Error from the store (Neo4j gone) does propagate, and counts as a failure.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from ingest import alerts, incidents, logs, metrics, netflow, traces
from ingest.k8s.api import IN_CLUSTER, Connection, Retry, connect, contexts, kubeconfig_path
from ingest.k8s.sync import cluster_name, ingest_cluster, live_guard
from ingest.k8s.watch import ClusterWatch
from ingest.summary import Summary
from korrel8.config import Settings, SourcesSettings
from korrel8.errors import Korrel8Error
from korrel8.graph.store import Store

log = logging.getLogger(__name__)


@dataclass
class SourceJob:
    """One scheduled ingest: ``source`` of ``cluster`` every ``interval`` seconds."""

    source: str  # kubernetes, alertmanager, prometheus, loki, tempo
    cluster: str  # the kubeconfig context for Kubernetes, else the configured cluster name
    interval: float
    run: Callable[[], list[Summary]]
    stop: Callable[[], None] = field(default=lambda: None)  # releases watches and connections
    # The clusters whose data this job writes (a Kubernetes job's once it has named its
    # cluster; a derived one's: none of its own): serve applies the rules to these only.
    clusters: Callable[[], frozenset[str]] = field(default=frozenset)

    @property
    def id(self) -> str:
        return f"{self.source}/{self.cluster}"


class KubernetesJob:
    """One kubeconfig context: listed on the first run, then watched (the default) or
    relisted on every run. A watch keeps itself current; later runs report what it wrote."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        context: str,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.context = context
        self.on_change = on_change  # the watch calls it after each write
        self._stopped = False
        self._watch: ClusterWatch | None = None
        self._conn: Connection | None = None
        self._reported: Counter[str] = Counter()
        self._lock = threading.Lock()
        self.cluster: str | None = None  # the cluster's name, once listed

    def clusters(self) -> frozenset[str]:
        return frozenset({self.cluster} if self.cluster else ())

    def run(self) -> list[Summary]:
        k8s = self.settings.sources.kubernetes
        with self._lock:
            if self._stopped:
                return []
            if self._watch is not None:
                return [self._watched()]
            conn = connect(k8s, self.context, Retry())
            try:
                result = ingest_cluster(self.store, conn, k8s, guard=live_guard(self.settings))
            except BaseException:
                conn.close()
                raise
            self.cluster = result.summary.cluster
            if not k8s.watch or result.summary.errors:
                conn.close()  # relisted next time: a failed kind must be listed again
                return [result.summary]
            self._conn = conn
            self._watch = ClusterWatch(
                self.store, conn, result.summary.cluster, result.kinds, k8s.page_size,
                k8s.interval_seconds, on_write=self.on_change, guard=live_guard(self.settings),
            )  # fmt: skip
            self._watch.start()
            return [result.summary]

    def _watched(self) -> Summary:
        """The changes the watch wrote since the last report, and the watches' health: a
        watch broken past ``watch_retry_seconds`` is an error (the source is down), one
        broken for less a warning. No flush: with Neo4j down the watch's writer retries
        until stopped, and this must not wait for it."""
        assert self._watch is not None
        now = Counter(self._watch.events)
        health = self._watch.health()
        summary = Summary("kubernetes", self._watch.cluster, objects=now - self._reported,
                          skipped_kinds=health.skipped)  # fmt: skip
        self._reported = now
        window = self.settings.sources.kubernetes.watch_retry_seconds
        down = sorted((c, e) for c, (seconds, e) in health.broken.items() if seconds >= window)
        retrying = sorted(c for c, (seconds, _) in health.broken.items() if seconds < window)
        if down:
            names = ", ".join(c for c, _ in down[:5]) + (f" and {len(down) - 5} more"
                                                         if len(down) > 5 else "")  # fmt: skip
            summary.errors.append(
                f"watch of {names} broken for more than {window:g} s "
                f"(sources.kubernetes.watch_retry_seconds): {down[0][1]}"
            )
        if retrying:
            summary.warnings.append(f"watch of {', '.join(retrying)} broken, retrying")
        return summary

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            if self._watch is not None:
                self._watch.stop()
                self._watch = None
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def kubernetes_available(settings: Settings) -> bool:
    """A kubeconfig exists, or this process runs in a pod (the in-cluster configuration)."""
    k8s = settings.sources.kubernetes
    if not k8s.enabled:
        return False
    return kubeconfig_path(k8s) is not None or "KUBERNETES_SERVICE_HOST" in os.environ


def source_jobs(
    settings: Settings, store: Store, on_change: Callable[[], None] | None = None
) -> tuple[list[SourceJob], list[str]]:
    """The jobs to schedule, and a line for each source left out (and why).
    ``on_change`` is called whenever a Kubernetes watch writes changes."""
    src = settings.sources
    jobs: list[SourceJob] = []
    skipped: list[str] = []
    k8s_jobs: list[KubernetesJob] = []
    k8s_on = kubernetes_available(settings)
    if k8s_on:
        names = [
            c for c in contexts(src.kubernetes)
            if c != IN_CLUSTER or "KUBERNETES_SERVICE_HOST" in os.environ
        ]  # fmt: skip
        if len(names) == 1:
            src = align_clusters(settings, names[0])
        for context in names:
            job = KubernetesJob(settings, store, context, on_change)
            k8s_jobs.append(job)
            jobs.append(
                SourceJob("kubernetes", context, src.kubernetes.interval_seconds, job.run, job.stop,
                          job.clusters)
            )  # fmt: skip
    else:
        why = "disabled" if not src.kubernetes.enabled else "no kubeconfig and not in a pod"
        skipped.append(f"kubernetes: {why}")
    if src.alertmanager.url:
        am, prom = src.alertmanager, src.prometheus
        jobs.append(
            SourceJob(
                "alertmanager", am.cluster, am.interval_seconds,
                lambda: [alerts.ingest(store, am, prom, progress=_debug)],
                clusters=lambda: frozenset({am.cluster}),
            )
        )  # fmt: skip
    else:
        skipped.append("alertmanager: no sources.alertmanager.url")
    if src.prometheus.url:
        prom = src.prometheus
        jobs.append(
            SourceJob(
                "prometheus", prom.cluster, prom.interval_seconds,
                lambda: [metrics.ingest(store, prom, families=metrics.DEFAULT_FAMILIES,
                                        window=metrics.DEFAULT_WINDOW, progress=_debug),
                         incidents.ingest(store, prom, progress=_debug)],
                clusters=lambda: frozenset({prom.cluster}),
            )
        )  # fmt: skip
    else:
        skipped.append("prometheus: no sources.prometheus.url")

    # Without a URL, log streams and traces are derived from the pods in the graph: worth
    # doing only when something writes pods, and only from this instance's own clusters'
    # pods (another cluster in the graph, a snapshot's or another korrel8's, is not ours).
    def own() -> frozenset[str]:
        return frozenset(c for job in k8s_jobs if (c := job.cluster))

    for name, setting, ingest_one in (
        ("loki", src.loki, lambda: [logs.ingest(store, src.loki, progress=_debug,
                                                clusters=own()),
                                    netflow.ingest(store, progress=_debug, clusters=own())]),
        ("tempo", src.tempo, lambda: [traces.ingest(store, src.tempo, progress=_debug,
                                                    clusters=own())]),
    ):  # fmt: skip
        if setting.url or k8s_on:
            owned = frozenset({setting.cluster}) if setting.url else frozenset[str]()
            jobs.append(SourceJob(name, setting.cluster, setting.interval_seconds, ingest_one,
                                  clusters=_constant(owned)))  # fmt: skip
        else:
            skipped.append(f"{name}: no sources.{name}.url, and no pods to derive from")
    return jobs, skipped


SIGNAL_SOURCES = ("alertmanager", "prometheus", "loki", "tempo")


def align_clusters(settings: Settings, context: str) -> SourcesSettings:
    """The sources, with the one Kubernetes cluster's name given to every signal source
    whose ``cluster`` was left unset: rules join alerts and signals to objects of the same
    cluster, and "default" would match none. Unchanged if the cluster cannot be named now."""
    src = settings.sources
    unset = [n for n in SIGNAL_SOURCES if "cluster" not in getattr(src, n).model_fields_set]
    if not unset:
        return src
    try:
        conn = connect(src.kubernetes, context, Retry(attempts=1))
        try:
            name = cluster_name(conn, src.kubernetes)
        finally:
            conn.close()
    except Korrel8Error as exc:
        log.warning("%s: the cluster could not be named (%s); %s keep cluster %r: set "
                    "sources.<name>.cluster to match", context, exc, ", ".join(unset),
                    getattr(src, unset[0]).cluster)  # fmt: skip
        return src
    log.info("%s: cluster %s, also the cluster of %s (set sources.<name>.cluster to "
             "choose another)", context, name, ", ".join(unset))  # fmt: skip
    update = {n: getattr(src, n).model_copy(update={"cluster": name}) for n in unset}
    return src.model_copy(update=update)


def _constant(clusters: frozenset[str]) -> Callable[[], frozenset[str]]:
    return lambda: clusters


def _debug(message: str) -> None:
    log.debug("%s", message)


__all__ = ["KubernetesJob", "SourceJob", "kubernetes_available", "source_jobs"]
