"""Metric references from Prometheus: one :Metric node per object that metrics describe.

For each configured metric family (default :data:`DEFAULT_FAMILIES`: the kube-state-metrics,
kubelet and cAdvisor families that identify pods, containers, workloads, nodes and PVCs)
``/api/v1/series`` lists the series seen in the last ``window``. Each series' labels are
normalized (``korrel8.labels.normalize``, domain "metric"), which drops the labels that
describe the scraper rather than the subject (kube-state-metrics' own pod on a
``kube_deployment_*`` series). The subject is the most specific object the canonical labels
name (``korrel8.querygen.subject_keys``: a container, pod, workload, PVC, node or
namespace). Series of one subject fold into one node listing the metric names and a PromQL
selector that fetches exactly those series: the node count follows objects, not series.

A series scraped with honor_labels false whose own namespace/pod/container clashed with the
target's carries them as ``exported_*`` (an operator's series about objects elsewhere, the
DCGM exporter's about a GPU workload): the plain keys, and the node's ``namespace`` and
``subject_kind``, are the scrape target's; ``subject.k8s.namespace.name``,
``subject.k8s.pod.name``, ``subject.k8s.container.name`` (and an OLM CSV's
``k8s.clusterserviceversion.name``) are part of the subject too, so that each pair is its
own node and rules link it to both. (kube-state-metrics' target is the exporter itself:
there the ``exported_*`` labels are read as the plain ones.)

Node: class ``metric:metric``, ref selector = the subject's canonical keys (and cluster);
properties: the canonical subject labels, ``subject_kind``, ``metric_names``,
``promql``, ``raw_labels`` (the PromQL label matchers as ``key=value``).

The whole listing is one :meth:`Store.listing`: nodes of subjects no longer seen are swept
(``deleted_at``), but only after every family was read.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from pydantic import BaseModel

from ingest.http import HttpSource, connect
from ingest.summary import Summary
from korrel8.config import HttpSourceSettings
from korrel8.errors import ConfigError, QueryGenerationError, SourceError
from korrel8.graph import identifiers
from korrel8.graph.rows import NodeRow, PropertyValue
from korrel8.graph.store import Store
from korrel8.labels import normalize_verbose
from korrel8.model import Class, ref
from korrel8.querygen import KSM_LABELS, go_quote, promql_selector, subject_keys

__all__ = [
    "CLASS",
    "DEFAULT_FAMILIES",
    "SOURCE",
    "Subject",
    "fold_series",
    "ingest",
    "label_properties",
    "list_series",
    "raw_label_list",
    "to_rows",
]

log = logging.getLogger(__name__)

SOURCE = "prometheus-metrics"
CLASS = Class(domain="metric", name="metric")
# Prometheus' default lookback: a series without a sample for this long is gone.
DEFAULT_WINDOW = timedelta(minutes=5)

DEFAULT_FAMILIES: tuple[str, ...] = (
    # kube-state-metrics: pods and their containers
    "kube_pod_info",
    "kube_pod_owner",
    "kube_pod_status_phase",
    "kube_pod_container_info",
    "kube_pod_container_status_restarts_total",
    "kube_pod_container_status_waiting_reason",
    "kube_pod_container_resource_requests",
    "kube_pod_container_resource_limits",
    # kube-state-metrics: workloads
    "kube_deployment_spec_replicas",
    "kube_deployment_status_replicas_available",
    "kube_replicaset_owner",
    "kube_statefulset_replicas",
    "kube_statefulset_status_replicas_ready",
    "kube_daemonset_status_desired_number_scheduled",
    "kube_daemonset_status_number_ready",
    "kube_job_failed",
    "kube_job_status_failed",
    "kube_cronjob_info",
    # kube-state-metrics and kubelet: nodes and PVCs
    "kube_node_info",
    "kube_node_status_condition",
    "kube_persistentvolumeclaim_info",
    "kube_persistentvolumeclaim_status_phase",
    "kubelet_volume_stats_capacity_bytes",
    "kubelet_volume_stats_available_bytes",
    "kubelet_volume_stats_used_bytes",
    # cAdvisor (kubelet /metrics/cadvisor): containers and pods
    "container_cpu_usage_seconds_total",
    "container_memory_working_set_bytes",
)

# The kind of object a subject's most specific key names (a pod with a container: Container).
_SUBJECT_KINDS = {
    "k8s.container.name": "Container",
    "k8s.pod.name": "Pod",
    "k8s.replicaset.name": "ReplicaSet",
    "k8s.deployment.name": "Deployment",
    "k8s.statefulset.name": "StatefulSet",
    "k8s.daemonset.name": "DaemonSet",
    "k8s.job.name": "Job",
    "k8s.cronjob.name": "CronJob",
    "k8s.service.name": "Service",
    "k8s.persistentvolumeclaim.name": "PersistentVolumeClaim",
    "k8s.persistentvolume.name": "PersistentVolume",
    "k8s.node.name": "Node",
    "k8s.namespace.name": "Namespace",
}
# The same for a subject named only by exported_* labels (and an OLM CSV).
_EXPORTED_KINDS = {
    "subject.k8s.container.name": "Container",
    "subject.k8s.pod.name": "Pod",
    "k8s.clusterserviceversion.name": "ClusterServiceVersion",
    "subject.k8s.namespace.name": "Namespace",
}


# --- label helpers shared by the signal ingesters -----------------------------------


def label_properties(canonical: Mapping[str, str]) -> dict[str, PropertyValue]:
    """Canonical labels as node properties; keys a property cannot hold are left out.

    ``k8s.pod.label.app.kubernetes.io/name`` has a ``/``, which Cypher property keys may
    not (korrel8/graph/identifiers.py); such labels stay available in ``raw_labels``.
    """
    return {
        key: value
        for key, value in canonical.items()
        if identifiers.PROPERTY_KEY.fullmatch(key) and value
    }


def raw_label_list(labels: Mapping[str, str]) -> list[str]:
    """Raw labels as sorted ``key=value`` strings: queryable in Cypher, not an opaque blob."""
    return sorted(f"{key}={value}" for key, value in labels.items())


# --- fetch ---------------------------------------------------------------------------


class _SeriesAnswer(BaseModel):
    status: str
    data: list[dict[str, str]]


def list_series(
    source: HttpSource, family: str, window: timedelta = DEFAULT_WINDOW
) -> list[dict[str, str]]:
    """The label sets of the series of ``family`` that had samples within ``window``."""
    end = time.time()
    params = [
        ("match[]", family),
        ("start", f"{end - window.total_seconds():.3f}"),
        ("end", f"{end:.3f}"),
    ]
    answer = source.get_model("/api/v1/series", _SeriesAnswer, params)
    if answer.status != "success":
        raise SourceError(f"{source.name}: /api/v1/series for {family} failed")
    return answer.data


# --- normalize -------------------------------------------------------------------------


# The label name a series gives each subject key: (canonical key, label name) pairs.
LabelNames = tuple[tuple[str, str], ...]


@dataclass
class Subject:
    """One object metrics describe: its canonical subject labels and its metric names.

    ``names``: the metric names per naming of the subject's labels. Series of one object
    may name it differently: kube-state-metrics scraped without honor_labels says
    ``exported_pod`` where cAdvisor says ``pod``.
    """

    labels: dict[str, str]
    metrics: set[str] = field(default_factory=set)
    names: dict[LabelNames, set[str]] = field(default_factory=dict)

    @property
    def key(self) -> tuple[tuple[str, str], ...]:
        return tuple(sorted(self.labels.items()))


def subject_of(series: Mapping[str, str]) -> tuple[dict[str, str], LabelNames] | None:
    """The canonical labels naming the object a series is about, with the series' own
    names for them, or None if it names none."""
    result = normalize_verbose(series, "metric")
    for conflict in result.conflicts:
        log.warning("label conflict: %s", conflict)
    keys = subject_keys(result.labels)
    if not keys:
        return None
    names = tuple((key, _label_name(key, result.raw_keys.get(key), series)) for key in keys)
    return {key: result.labels[key] for key in keys}, names


def _label_name(key: str, raw: str | None, series: Mapping[str, str]) -> str:
    # A derived key (a replicaset from an owner) has no label of its own: KSM's name.
    return raw if raw is not None and raw in series else KSM_LABELS.get(key, key)


def fold_series(
    series: Iterable[Mapping[str, str]], subjects: dict[tuple[tuple[str, str], ...], Subject]
) -> int:
    """Fold ``series`` into ``subjects`` (by subject); returns how many named no object."""
    orphans = 0
    for labels in series:
        name = labels.get("__name__")
        found_subject = subject_of(labels)
        if found_subject is None or not name:
            orphans += 1
            continue
        subject, names = found_subject
        key = tuple(sorted(subject.items()))
        found = subjects.get(key)
        if found is None:
            found = subjects[key] = Subject(subject)
        found.metrics.add(name)
        found.names.setdefault(names, set()).add(name)
    return orphans


def promql(subject: Subject) -> str:
    """A PromQL selector for exactly the subject's series of its metric names (one per
    naming of its labels, joined by ``or``)."""
    groups = subject.names or {_ksm_names(subject.labels): subject.metrics}
    return " or ".join(_selector(subject.labels, dict(n), groups[n]) for n in sorted(groups))


def _ksm_names(labels: Mapping[str, str]) -> LabelNames:
    return tuple((key, KSM_LABELS[key]) for key in labels if key in KSM_LABELS)


def _selector(labels: Mapping[str, str], label_names: Mapping[str, str], metrics: set[str]) -> str:
    names = sorted(metrics)
    if len(names) == 1:
        return promql_selector(labels, names[0], label_names=label_names)
    matchers = promql_selector(labels, label_names=label_names)[1:-1]
    return "{__name__=~" + go_quote("|".join(names)) + ", " + matchers + "}"


def subject_kind(labels: Mapping[str, str]) -> str:
    return kind_and_name(labels)[0]


def kind_and_name(labels: Mapping[str, str]) -> tuple[str, str]:
    """The kind and name of the object a subject's most specific key names: the scrape
    target's where the labels name one, else the exported subject's."""
    for kinds, prefix in ((_SUBJECT_KINDS, ""), (_EXPORTED_KINDS, "subject.")):
        for key, kind in kinds.items():
            if labels.get(key):
                if kind == "Container":  # unique among the pod's nodes, and says whose it is
                    return kind, f"{labels[prefix + 'k8s.pod.name']}/{labels[key]}"
                return kind, labels[key]
    return "Object", ""


def to_rows(subjects: Iterable[Subject], cluster: str) -> Iterator[NodeRow]:
    for subject in subjects:
        try:
            query = promql(subject)
        except QueryGenerationError as exc:
            log.warning("no PromQL for %s: %s", subject.labels, exc)
            continue
        kind, name = kind_and_name(subject.labels)
        groups = subject.names or {_ksm_names(subject.labels): subject.metrics}
        matchers = {f"{label}={subject.labels[key]}" for names in groups for key, label in names}
        properties: dict[str, PropertyValue] = {
            **label_properties(subject.labels),
            "subject_kind": kind,
            "metric_names": sorted(subject.metrics),
            "promql": query,
            "raw_labels": sorted(matchers),
        }
        yield NodeRow.model_validate(
            {
                "ref": ref(CLASS, dict(subject.labels), cluster),
                "domain": CLASS.domain,
                "class": CLASS.name,
                "source": SOURCE,
                "cluster": cluster,
                "namespace": subject.labels.get("k8s.namespace.name"),
                "name": name,
                "properties": properties,
            }
        )


# --- ingest ----------------------------------------------------------------------------


def ingest(
    store: Store,
    prometheus: HttpSourceSettings,
    *,
    families: Sequence[str] = DEFAULT_FAMILIES,
    window: timedelta = DEFAULT_WINDOW,
    progress: Callable[[str], None] | None = None,
) -> Summary:
    """List the metric subjects of ``families`` and write them; never raises for a
    failing source: the error is in the summary and the graph keeps its data."""
    say = progress or (lambda message: None)
    summary = Summary(SOURCE, prometheus.cluster)
    started = time.monotonic()
    subjects: dict[tuple[tuple[str, str], ...], Subject] = {}
    try:
        with connect("prometheus", prometheus) as source:
            for family in families:
                series = list_series(source, family, window)
                orphans = fold_series(series, subjects)
                say(f"prometheus: {family}: {len(series)} series, {orphans} about no object")
        with store.listing(SOURCE, prometheus.cluster, classes=[CLASS.name]) as listing:
            listing.upsert(to_rows(subjects.values(), prometheus.cluster))
        summary.objects[str(CLASS)] = listing.written
        summary.deleted = listing.deleted
        say(f"prometheus: {listing.written} metric nodes written, {listing.deleted} swept")
    except (SourceError, ConfigError) as exc:
        summary.errors.append(str(exc))
        say(f"prometheus: skipped, existing data kept: {exc}")
    summary.seconds = time.monotonic() - started
    return summary
