"""A small, deterministic sample graph written through the store.

It exercises the write path end to end (nodes of every domain, edges with rules)
so that a newcomer sees a graph in Neo4j Browser on a fresh machine. The full
demo (a generated cluster, real rules, the mission's correlation) replaces it.
"""

from __future__ import annotations

from collections.abc import Iterator

from korrel8.model import Class, ref
from korrel8.rows import EdgeRow, NodeRow
from korrel8.store import Store

CLUSTER = "demo"
SOURCE = "demo"


def _node(domain: str, cls: str, namespace: str, name: str, **props: str) -> NodeRow:
    return NodeRow.model_validate(
        {
            "ref": ref(
                Class(domain=domain, name=cls), {"namespace": namespace, "name": name}, CLUSTER
            ),
            "domain": domain,
            "class": cls,
            "source": SOURCE,
            "cluster": CLUSTER,
            "namespace": namespace,
            "name": name,
            "properties": {"k8s.namespace.name": namespace, **props},
        }
    )


def sample(size: int) -> Iterator[NodeRow | EdgeRow]:
    """Nodes first, then the edges between them: a shop with a database."""
    ns = "shop"
    pvc = _node("k8s", "PersistentVolumeClaim", ns, "data-db-0")
    alert = _node(
        "alert", "alert", ns, "KubePersistentVolumeFillingUp",
        alertname="KubePersistentVolumeFillingUp",
        **{"k8s.persistentvolumeclaim.name": pvc.name or ""},
    )  # fmt: skip
    yield pvc
    yield alert
    yield EdgeRow(start=alert.ref, goal=pvc.ref, type="ABOUT", rule="alert-pvc")
    for owner, kind in (("web", "Deployment.apps"), ("db", "StatefulSet.apps")):
        workload = _node("k8s", kind, ns, owner)
        yield workload
        for i in range(size):
            pod_name = f"{owner}-{i}"
            pod = _node("k8s", "Pod", ns, pod_name, **{"k8s.pod.name": pod_name})
            stream = _node(
                "log", "application", ns, pod_name,
                **{"k8s.pod.name": pod_name, "logql": f'{{k8s_namespace_name="{ns}", '
                   f'k8s_pod_name="{pod_name}"}}'},
            )  # fmt: skip
            yield pod
            yield stream
            yield EdgeRow(start=pod.ref, goal=workload.ref, type="OWNED_BY", rule="owner")
            yield EdgeRow(start=pod.ref, goal=stream.ref, type="LOGS", rule="pod-logs")
            if owner == "db" and i == 0:
                yield EdgeRow(start=pvc.ref, goal=pod.ref, type="MOUNTED_BY", rule="pvc-pod")


def load_sample(store: Store, size: int) -> dict[str, dict[str, int]]:
    """Write the sample (twice is harmless) and return the graph's counts."""
    rows = list(sample(size))
    store.upsert_nodes(r for r in rows if isinstance(r, NodeRow))
    store.upsert_edges(r for r in rows if isinstance(r, EdgeRow))
    return store.counts()
