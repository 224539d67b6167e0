"""Trace references: one :Trace node per pod and per service, with its TraceQL.

Without a Tempo URL they are derived from the graph: one per live pod
(``{resource.k8s.namespace.name="ns" && resource.k8s.pod.name="p"}``) and one per
Kubernetes Service (``resource.k8s.service.name``), as the OpenTelemetry k8sattributes
processor labels span resources. With a Tempo URL they come from Tempo's search tags API
(``/api/v2/search/tag/<tag>/values`` over the window): the namespaces and, per namespace,
the pods that really sent spans, plus every ``resource.service.name``.

Node: class ``trace:span``; ref selector = the canonical keys it selects on
(``k8s.namespace.name`` + ``k8s.pod.name``, ``k8s.namespace.name`` + ``k8s.service.name``,
or ``service.name``) and cluster; properties: those canonical keys, ``traceql``,
``subject_kind`` (Pod, Service) and ``origin`` (``tempo`` or ``pods``/``services``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from datetime import timedelta

from pydantic import BaseModel, Field

from ingest.http import HttpSource, connect
from ingest.logs import K8sObject, k8s_objects
from ingest.metrics import label_properties, raw_label_list
from ingest.summary import Summary
from korrel8.config import HttpSourceSettings
from korrel8.errors import ConfigError, QueryGenerationError, SourceError
from korrel8.graph.rows import NodeRow, PropertyValue
from korrel8.graph.store import Store
from korrel8.model import Class, ref
from korrel8.querygen import NAMESPACE, POD, go_quote, traceql_selector

__all__ = [
    "CLASS",
    "SOURCE",
    "ingest",
    "object_rows",
    "service_name_rows",
    "tag_values",
    "tempo_rows",
]

log = logging.getLogger(__name__)

SOURCE = "traces"
CLASS = Class(domain="trace", name="span")
SERVICE = "k8s.service.name"
SERVICE_NAME = "service.name"  # the logical OpenTelemetry service, not a Kubernetes one
DEFAULT_WINDOW = timedelta(hours=1)


def _row(labels: Mapping[str, str], query: str, kind: str, origin: str, cluster: str) -> NodeRow:
    properties: dict[str, PropertyValue] = {
        **label_properties(labels),
        "traceql": query,
        "subject_kind": kind,
        "origin": origin,
        "raw_labels": raw_label_list({f"resource.{k}": v for k, v in labels.items()}),
    }
    name = labels.get(POD) or labels.get(SERVICE) or labels.get(SERVICE_NAME)
    return NodeRow.model_validate(
        {
            "ref": ref(CLASS, dict(labels), cluster),
            "domain": CLASS.domain,
            "class": CLASS.name,
            "source": SOURCE,
            "cluster": cluster,
            "namespace": labels.get(NAMESPACE),
            "name": name,
            "properties": properties,
        }
    )


def object_rows(
    objects: Iterable[K8sObject], key: str, kind: str, origin: str
) -> Iterator[NodeRow]:
    """One node per namespaced object; ``key`` is its canonical name key (k8s.pod.name)."""
    for obj in objects:
        if not obj.namespace:
            continue
        labels = {NAMESPACE: obj.namespace, key: obj.name}
        try:
            query = traceql_selector(labels)
        except QueryGenerationError as exc:
            log.warning("no TraceQL for %s: %s", labels, exc)
            continue
        yield _row(labels, query, kind, origin, obj.cluster)


def service_name_rows(names: Iterable[str], cluster: str) -> Iterator[NodeRow]:
    """One node per OpenTelemetry ``service.name`` (querygen selects k8s objects only)."""
    for name in names:
        query = "{resource.service.name=" + go_quote(name) + "}"
        yield _row({SERVICE_NAME: name}, query, "Service", "tempo", cluster)


# --- Tempo -----------------------------------------------------------------------------


class _TagValue(BaseModel):
    value: str


class _TagValues(BaseModel):
    tag_values: list[_TagValue] = Field(default_factory=list, alias="tagValues")


def tag_values(
    source: HttpSource, tag: str, window: timedelta, query: str | None = None
) -> list[str]:
    """The values of a TraceQL tag (``resource.k8s.pod.name``) seen within ``window``."""
    end = int(time.time())
    params: dict[str, str] = {"start": str(end - int(window.total_seconds())), "end": str(end)}
    if query:
        params["q"] = query
    answer = source.get_model(f"/api/v2/search/tag/{tag}/values", _TagValues, params)
    return sorted({item.value for item in answer.tag_values if item.value})


def tempo_rows(source: HttpSource, cluster: str, window: timedelta) -> list[NodeRow]:
    """The pods (per namespace) and services that sent spans within ``window``."""
    pods = []
    for namespace in tag_values(source, "resource.k8s.namespace.name", window):
        scope = "{resource.k8s.namespace.name=" + go_quote(namespace) + "}"
        for pod in tag_values(source, "resource.k8s.pod.name", window, scope):
            pods.append(K8sObject(cluster, namespace, pod))
    rows = list(object_rows(pods, POD, "Pod", "tempo"))
    rows += service_name_rows(tag_values(source, "resource.service.name", window), cluster)
    return rows


# --- ingest ----------------------------------------------------------------------------


def ingest(
    store: Store,
    tempo: HttpSourceSettings,
    *,
    window: timedelta = DEFAULT_WINDOW,
    progress: Callable[[str], None] | None = None,
    clusters: Collection[str] | None = None,
) -> Summary:
    """Write the trace references: Tempo's if its URL is set, else derived from the graph
    (from the pods and services of ``clusters`` only, if given).

    A failing Tempo never raises: the error is in the summary and the graph keeps its data.
    """
    say = progress or (lambda message: None)
    started = time.monotonic()
    if tempo.url:
        summary = Summary(SOURCE, tempo.cluster)
        try:
            with connect("tempo", tempo) as source:
                rows = tempo_rows(source, tempo.cluster, window)
            say(f"tempo: {len(rows)} pods and services with spans")
            _write(store, tempo.cluster, rows, summary)
        except (SourceError, ConfigError) as exc:
            summary.errors.append(str(exc))
            say(f"tempo: skipped, existing data kept: {exc}")
    else:
        by_cluster: dict[str, list[NodeRow]] = {}
        pods = object_rows(k8s_objects(store, "Pod", POD, clusters), POD, "Pod", "pods")
        services = k8s_objects(store, "Service", SERVICE, clusters)
        for row in [*pods, *object_rows(services, SERVICE, "Service", "services")]:
            by_cluster.setdefault(row.cluster, []).append(row)
        summary = Summary(SOURCE, ",".join(sorted(by_cluster)) or tempo.cluster)
        for cluster, rows in sorted(by_cluster.items()):
            _write(store, cluster, rows, summary)
            say(f"traces: {len(rows)} derived for cluster {cluster}")
    summary.seconds = time.monotonic() - started
    return summary


def _write(store: Store, cluster: str, rows: Iterable[NodeRow], summary: Summary) -> None:
    with store.listing(SOURCE, cluster, classes=[CLASS.name]) as listing:
        listing.upsert(rows)
    summary.objects[str(CLASS)] += listing.written
    summary.deleted += listing.deleted
