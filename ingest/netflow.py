"""Network flow references (NetObserv, korrel8r's ``netflow:network``): one :Netflow node
per direction (source, destination) of each object flows are recorded for, carrying the
LogQL that fetches its flows from NetObserv's Loki.

NetObserv stores each flow as a Loki line with ``SrcK8S_*`` and ``DstK8S_*`` fields: the
stream labels ``SrcK8S_Namespace``, ``SrcK8S_OwnerName``, ``SrcK8S_Type`` (and the Dst
ones), the name of the pod, service or node in the line (``SrcK8S_Name``). Flows are too
many to list and their streams do not name pods, so the nodes are derived from the objects
in the graph, as log streams are without a Loki: for every Pod, Service and Node
(``SrcK8S_Type``/``SrcK8S_Name``) and every Deployment, DaemonSet, ReplicaSet and
StatefulSet (``SrcK8S_OwnerType``/``SrcK8S_OwnerName``), the query korrel8r's
K8sSrcToNetflow / K8sSrcOwnerToNetflow rules make (and the Dst ones).

Node: class ``netflow:network``, name ``<src|dst>:<Kind>/<name>``; ref selector = the flow
fields that select it (``SrcK8S_Namespace``, ``SrcK8S_Type``, ``SrcK8S_Name``; or the
owner's) and cluster; properties: ``direction`` (``src``, ``dst``), ``flow_scope``
(``object`` or ``owner``), ``flow_kind``, ``flow_name``, ``k8s.namespace.name``,
``logql``, ``origin`` (``graph``).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator

from ingest.logs import K8sObject, k8s_objects
from ingest.summary import Summary
from korrel8.graph.rows import NodeRow, PropertyValue
from korrel8.graph.store import Store
from korrel8.model import Class, ref
from korrel8.querygen import go_quote

__all__ = ["CLASS", "OBJECTS", "OWNERS", "SOURCE", "ingest", "logql", "to_rows"]

SOURCE = "netflow"
CLASS = Class(domain="netflow", name="network")
DIRECTIONS = {"src": "SrcK8S", "dst": "DstK8S"}
# Kind -> the canonical key naming it (as the k8s ingester writes it).
OBJECTS = {"Pod": "k8s.pod.name", "Service": "k8s.service.name", "Node": "k8s.node.name"}
OWNERS = {
    "Deployment": "k8s.deployment.name",
    "DaemonSet": "k8s.daemonset.name",
    "ReplicaSet": "k8s.replicaset.name",
    "StatefulSet": "k8s.statefulset.name",
}
_CLASSES = {"Deployment": "Deployment.apps", "DaemonSet": "DaemonSet.apps",
            "ReplicaSet": "ReplicaSet.apps", "StatefulSet": "StatefulSet.apps"}  # fmt: skip


def selector(direction: str, scope: str, kind: str, obj: K8sObject) -> dict[str, str]:
    """The flow fields that select the flows of ``obj`` in ``direction``."""
    prefix = DIRECTIONS[direction]
    found = {f"{prefix}_Namespace": obj.namespace} if obj.namespace else {}
    if scope == "owner":
        return {**found, f"{prefix}_OwnerName": obj.name, f"{prefix}_OwnerType": kind}
    return {**found, f"{prefix}_Type": kind, f"{prefix}_Name": obj.name}


def logql(direction: str, scope: str, kind: str, obj: K8sObject) -> str:
    """korrel8r's netflow query: stream labels, then the line's fields after ``| json``."""
    prefix = DIRECTIONS[direction]
    stream = {f"{prefix}_Namespace": obj.namespace} if obj.namespace else {}
    if scope == "owner":
        stream[f"{prefix}_OwnerName"] = obj.name
        field, value = f"{prefix}_OwnerType", kind
    else:
        stream[f"{prefix}_Type"] = kind
        field, value = f"{prefix}_Name", obj.name
    matchers = ", ".join(f"{k}={go_quote(v)}" for k, v in stream.items())
    return f"{{{matchers}}} | json | {field}={go_quote(value)}"


def to_rows(objects: Iterable[tuple[str, str, K8sObject]]) -> Iterator[NodeRow]:
    """(scope, kind, object) -> a source and a destination node each."""
    for scope, kind, obj in objects:
        for direction in DIRECTIONS:
            properties: dict[str, PropertyValue] = {
                "direction": direction,
                "flow_scope": scope,
                "flow_kind": kind,
                "flow_name": obj.name,
                "k8s.namespace.name": obj.namespace,
                "logql": logql(direction, scope, kind, obj),
                "origin": "graph",
            }
            yield NodeRow.model_validate(
                {
                    "ref": ref(CLASS, selector(direction, scope, kind, obj), obj.cluster),
                    "domain": CLASS.domain,
                    "class": CLASS.name,
                    "source": SOURCE,
                    "cluster": obj.cluster,
                    "namespace": obj.namespace,
                    "name": f"{direction}:{kind}/{obj.name}",
                    "properties": properties,
                }
            )


def _objects(
    store: Store, clusters: Collection[str] | None
) -> Iterator[tuple[str, str, K8sObject]]:
    for kind, key in OBJECTS.items():
        for obj in k8s_objects(store, kind, key, clusters):
            yield "object", kind, obj
    for kind, key in OWNERS.items():
        for obj in k8s_objects(store, _CLASSES[kind], key, clusters):
            yield "owner", kind, obj


def ingest(
    store: Store,
    *,
    progress: Callable[[str], None] | None = None,
    clusters: Collection[str] | None = None,
) -> Summary:
    """Derive the flow references of every cluster's objects (of ``clusters`` only, if
    given: another cluster's flow nodes are left alone); one listing per cluster, so that
    each sweeps only its own."""
    say = progress or (lambda message: None)
    started = time.monotonic()
    by_cluster: dict[str, list[tuple[str, str, K8sObject]]] = {}
    for item in _objects(store, clusters):
        by_cluster.setdefault(item[2].cluster, []).append(item)
    summary = Summary(SOURCE, ",".join(sorted(by_cluster)))
    written: Counter[str] = Counter()
    for cluster, objects in sorted(by_cluster.items()):
        with store.listing(SOURCE, cluster, classes=[CLASS.name]) as listing:
            listing.upsert(to_rows(objects))
        written[str(CLASS)] += listing.written
        summary.deleted += listing.deleted
        say(f"netflow: derived from {len(objects)} objects of cluster {cluster}")
    summary.objects.update(written)
    summary.seconds = time.monotonic() - started
    return summary
