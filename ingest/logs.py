"""Log stream references: one :Log node per container log stream, with its LogQL.

With a Loki URL configured, the streams are Loki's own (``/loki/api/v1/series`` over the
window), normalized with domain "log" and folded per (namespace, pod, container, log type):
a container's stdout and stderr streams are one node. Without one, they are derived from
the pods already in the graph (see :func:`k8s_objects`), one per pod container, labelled
the way the configured log store labels them (``sources.loki.convention``: ``lokistack``
= OpenShift LokiStack's ViaQ labels, ``promtail``, ``otel``).

The log type (the class) is the stream's ``log_type`` label where Loki has one, else
OpenShift's rule (cluster-logging-operator, ``input/infrastructure_container.toml``):
namespaces ``default``, ``openshift``, ``openshift-*``, ``kube`` and ``kube-*`` are
``infrastructure``, every other namespace ``application``. Audit streams name no pod and
no container and are not referenced here.

Node: class ``log:application|infrastructure|audit``, name ``<pod>/<container>``; ref
selector = korrel8r's container selector ``{namespace, name (the pod), containers:
[container]}`` and cluster;
properties: ``k8s.namespace.name``, ``k8s.pod.name``, ``k8s.container.name``, ``logql``,
``log_type``, ``convention``, ``origin`` (``loki`` or ``pods``), ``raw_labels`` (the stream
labels the LogQL selects on).
"""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import LiteralString

from pydantic import BaseModel

from ingest import status as status_rules
from ingest.http import HttpSource, connect
from ingest.metrics import label_properties, raw_label_list
from ingest.summary import Summary
from korrel8.config import LogStoreSettings
from korrel8.errors import ConfigError, QueryGenerationError, SourceError
from korrel8.graph.rows import NodeRow, PropertyValue
from korrel8.graph.store import Store
from korrel8.labels import normalize
from korrel8.model import Class, ref
from korrel8.querygen import CONTAINER, LOG_CONVENTIONS, NAMESPACE, POD, go_quote, logql_selector

__all__ = [
    "LOG_TYPES",
    "SOURCE",
    "K8sObject",
    "Stream",
    "ingest",
    "k8s_objects",
    "list_streams",
    "log_type",
    "pod_streams",
    "querygen_convention",
    "series_streams",
    "to_rows",
]

log = logging.getLogger(__name__)

SOURCE = "logs"
LOG_TYPES = ("application", "infrastructure", "audit")
DEFAULT_WINDOW = timedelta(hours=1)
_INFRASTRUCTURE = re.compile(r"^(default|openshift(-.+)?|kube(-.+)?)$")
# config.LogStoreSettings.convention -> korrel8.querygen's convention name.
_CONVENTIONS = {"lokistack": "viaq", "promtail": "promtail", "otel": "otel"}
PAGE = 1000


def log_type(namespace: str) -> str:
    """OpenShift's log type of a container's logs, by its namespace."""
    return "infrastructure" if _INFRASTRUCTURE.match(namespace) else "application"


def querygen_convention(convention: str) -> str:
    """The querygen convention of a ``sources.loki.convention`` setting."""
    found = _CONVENTIONS.get(convention)
    if found is None:
        known = ", ".join(sorted(_CONVENTIONS))
        raise ConfigError(f"unknown log store convention {convention!r}; known: {known}")
    return found


# --- Kubernetes objects already in the graph -------------------------------------------

# Live objects of one class, a page at a time in ref order. The one place that assumes
# the shape the Kubernetes ingester writes: domain k8s, class <Kind>, the node fields
# cluster / namespace / name (the canonical k8s.namespace.name / k8s.<kind>.name
# preferred where present), and for pods a `containers` list of container names.
# (Belongs in cypher/queries/ with the other read statements; constant text.)
K8S_OBJECTS: LiteralString = (
    "MATCH (n:K8s) WHERE n.class = $class AND n.deleted_at IS NULL AND n.ref > $after "
    "AND ($clusters IS NULL OR n.cluster IN $clusters) "
    "RETURN n.ref AS ref, n.cluster AS cluster, "
    "coalesce(n.`k8s.namespace.name`, n.namespace) AS namespace, "
    "coalesce(n[$name_key], n.name) AS name, coalesce(n.containers, []) AS containers "
    "ORDER BY n.ref LIMIT $limit"
)


@dataclass(frozen=True)
class K8sObject:
    """A Kubernetes object as the signal ingesters need it."""

    cluster: str
    namespace: str | None
    name: str
    containers: tuple[str, ...] = ()


def k8s_objects(
    store: Store, kind: str, name_key: str, clusters: Collection[str] | None = None
) -> Iterator[K8sObject]:
    """The live objects of class ``kind`` (``Pod``, ``Service``) in the graph, streamed;
    only those of ``clusters`` if given."""
    after = ""
    scope = sorted(clusters) if clusters is not None else None
    while True:
        page = store.run(
            K8S_OBJECTS, after=after, limit=PAGE, name_key=name_key, clusters=scope,
            **{"class": kind},
        )  # fmt: skip
        for record in page:
            if record["name"]:
                yield K8sObject(
                    record["cluster"],
                    record["namespace"],
                    record["name"],
                    tuple(record["containers"]),
                )
        if len(page) < PAGE:
            return
        after = page[-1]["ref"]


def pods(store: Store, clusters: Collection[str] | None = None) -> Iterator[K8sObject]:
    return k8s_objects(store, "Pod", POD, clusters)


# --- streams ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Stream:
    """One container's log stream of one log type: what a :Log node references."""

    cluster: str
    namespace: str
    pod: str
    container: str
    log_type: str
    raw_labels: tuple[tuple[str, str], ...] = ()
    origin: str = "pods"
    levels: tuple[str, ...] = ()  # the log levels Loki's stream labels name


def pod_streams(objects: Iterable[K8sObject], convention: str) -> Iterator[Stream]:
    """One stream per container of each pod, labelled as ``convention`` labels them."""
    conv = LOG_CONVENTIONS[convention]
    for pod in objects:
        if not pod.namespace:
            continue
        for container in pod.containers:
            kind = log_type(pod.namespace)
            canonical = {NAMESPACE: pod.namespace, POD: pod.name, CONTAINER: container}
            raw = {conv.stream_labels[k]: v for k, v in canonical.items()}
            if conv.log_type_label:
                raw[conv.log_type_label] = kind
            yield Stream(
                pod.cluster, pod.namespace, pod.name, container, kind, tuple(sorted(raw.items()))
            )


def series_streams(series: Iterable[Mapping[str, str]], cluster: str) -> tuple[list[Stream], int]:
    """Loki's streams folded per container and log type; also how many named no container.

    The raw labels kept are those every folded stream shares (their identity), not the
    per-stream extras such as ``stream=stdout``.
    """
    folded: dict[tuple[str, str, str, str], dict[str, str]] = {}
    levels: dict[tuple[str, str, str, str], set[str]] = {}
    skipped = 0
    for labels in series:
        canonical = normalize(labels, "log")
        namespace, pod = canonical.get(NAMESPACE), canonical.get(POD)
        container = canonical.get(CONTAINER)
        if not (namespace and pod and container):
            skipped += 1  # audit and node (journal) streams, or unlabelled ones
            continue
        kind = labels.get("log_type") or labels.get("openshift_log_type") or log_type(namespace)
        if kind not in LOG_TYPES:
            kind = log_type(namespace)
        key = (namespace, pod, container, kind)
        common = folded.get(key)
        levels.setdefault(key, set()).update(status_rules.log_levels(labels))
        folded[key] = (
            dict(labels)
            if common is None
            else {k: v for k, v in common.items() if labels.get(k) == v}
        )
    streams = [
        Stream(
            cluster,
            ns,
            pod,
            container,
            kind,
            tuple(sorted(raw.items())),
            "loki",
            tuple(sorted(levels[(ns, pod, container, kind)])),
        )
        for (ns, pod, container, kind), raw in folded.items()
    ]
    return streams, skipped


def list_streams(
    source: HttpSource, convention: str, window: timedelta = DEFAULT_WINDOW
) -> list[dict[str, str]]:
    """The label sets of Loki's container streams that had lines within ``window``."""
    namespace_label = LOG_CONVENTIONS[convention].stream_labels[NAMESPACE]
    end = time.time_ns()
    params = [
        ("match[]", "{" + namespace_label + "=~" + go_quote(".+") + "}"),
        ("start", str(end - int(window.total_seconds() * 1e9))),
        ("end", str(end)),
    ]
    answer = source.get_model("/loki/api/v1/series", _SeriesAnswer, params)
    if answer.status != "success":
        raise SourceError(f"{source.name}: /loki/api/v1/series did not succeed")
    return answer.data


class _SeriesAnswer(BaseModel):
    status: str
    data: list[dict[str, str]]


def to_rows(streams: Iterable[Stream], convention: str, configured: str) -> Iterator[NodeRow]:
    """``configured``: the ``sources.loki.convention`` setting, kept on each node."""
    for stream in streams:
        canonical = {NAMESPACE: stream.namespace, POD: stream.pod, CONTAINER: stream.container}
        try:
            logql = logql_selector(canonical, convention, log_type=stream.log_type)
        except QueryGenerationError as exc:
            log.warning("no LogQL for %s: %s", canonical, exc)
            continue
        cls = Class(domain="log", name=stream.log_type)
        properties: dict[str, PropertyValue] = {
            **label_properties(canonical),
            "logql": logql,
            "log_type": stream.log_type,
            "convention": configured,
            "origin": stream.origin,
            "raw_labels": raw_label_list(dict(stream.raw_labels)),
            "statuses": status_rules.logs(stream.levels) or None,
        }
        selector = {"namespace": stream.namespace, "name": stream.pod}
        yield NodeRow.model_validate(
            {
                "ref": ref(cls, {**selector, "containers": [stream.container]}, stream.cluster),
                "domain": "log",
                "class": stream.log_type,
                "source": SOURCE,
                "cluster": stream.cluster,
                "namespace": stream.namespace,
                "name": f"{stream.pod}/{stream.container}",
                "properties": properties,
            }
        )


# --- ingest ----------------------------------------------------------------------------


def _write(
    store: Store, streams: Iterable[Stream], cluster: str, loki: LogStoreSettings, summary: Summary
) -> None:
    convention = querygen_convention(loki.convention)
    written: Counter[str] = Counter()

    def counted(rows: Iterable[NodeRow]) -> Iterator[NodeRow]:
        for row in rows:
            written[f"log:{row.class_name}"] += 1
            yield row

    with store.listing(SOURCE, cluster, classes=list(LOG_TYPES)) as listing:
        listing.upsert(counted(to_rows(streams, convention, loki.convention)))
    summary.objects.update(written)
    summary.deleted += listing.deleted


def ingest(
    store: Store,
    loki: LogStoreSettings,
    *,
    window: timedelta = DEFAULT_WINDOW,
    progress: Callable[[str], None] | None = None,
    clusters: Collection[str] | None = None,
) -> Summary:
    """Write the log stream references: Loki's if its URL is set, else derived from pods
    (of ``clusters`` only, if given: the log nodes of any other cluster are left alone).

    A failing Loki never raises: the error is in the summary and the graph keeps its data.
    """
    say = progress or (lambda message: None)
    started = time.monotonic()
    if loki.url:
        summary = Summary(SOURCE, loki.cluster)
        try:
            convention = querygen_convention(loki.convention)
            with connect("loki", loki) as source:
                series = list_streams(source, convention, window)
            streams, skipped = series_streams(series, loki.cluster)
            say(f"loki: {len(series)} streams, {len(streams)} containers, {skipped} skipped")
            _write(store, streams, loki.cluster, loki, summary)
        except (SourceError, ConfigError) as exc:
            summary.errors.append(str(exc))
            say(f"loki: skipped, existing data kept: {exc}")
    else:
        summary = _derive(store, loki, say, clusters)
    summary.seconds = time.monotonic() - started
    return summary


def _derive(
    store: Store,
    loki: LogStoreSettings,
    say: Callable[[str], None],
    clusters: Collection[str] | None,
) -> Summary:
    """One listing per cluster that has pods: each sweeps only its own cluster."""
    by_cluster: dict[str, list[K8sObject]] = {}
    for pod in pods(store, clusters):
        by_cluster.setdefault(pod.cluster, []).append(pod)
    summary = Summary(SOURCE, ",".join(sorted(by_cluster)) or loki.cluster)
    try:
        convention = querygen_convention(loki.convention)
    except ConfigError as exc:
        summary.errors.append(str(exc))
        return summary
    for cluster, objects in sorted(by_cluster.items()):
        _write(store, pod_streams(objects, convention), cluster, loki, summary)
        say(f"logs: derived from {len(objects)} pods of cluster {cluster}")
    return summary
