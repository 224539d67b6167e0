"""Goal-search latency at growing cluster sizes: p50 and p99 over 200 starts per search.

    .venv/bin/python -m bench.goal_latency                    # 1k, 10k, 100k pods
    .venv/bin/python -m bench.goal_latency --pods 1000,10000  # a quicker run

Searches from random starts given as refs, through the Python API (``Korrel8.goals``: the
expansion, the paths and the Result, end to end), at the default depth 4:
- found: a PVC alert -> the log streams of the 10 pods that mount the PVC;
- not found: a pod -> k8s:Namespace (namespaces exist, no rule edge leads to one), timed
  to the GoalUnreachableError with its "reachable from the start" hint;
- hub-adjacent: a PVC -> its pods' logs and a Service -> its pods' metrics, beside the
  StorageClass every PVC of the cluster shares and the Services that share their pods.
Each runs precise (the default) and, as the baseline in the same run, wide (``--wide``,
the single path query that goes through the hubs); the wide baseline runs 20 starts, and
only up to 10k pods (through the StorageClass it reaches every PVC of the cluster).

The graph is synthetic, written through the store with the edge shapes the rules give
(``up`` toward a hub, ``down`` from one): per namespace, 10 deployments, each with a
replicaset, a Service selecting its 10 pods, a PVC they all mount and an alert on that
PVC; a log stream and a metric series per pod; one StorageClass for every PVC. Sizes grow
in place (a larger size adds namespaces), so the earlier starts stay valid. Runs on a
throw-away local Neo4j (see bench.store_upsert); BENCH_NEO4J_URI / BENCH_NEO4J_PASSWORD
name another server to clear and use instead. Aim: p99 at most 50 ms for every precise
search at 100k pods, and none above 1 s.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.neo4j import bench_store, clear
from korrel8.correlate import DEFAULT_DEPTH, Korrel8
from korrel8.errors import GoalUnreachableError
from korrel8.graph.rows import EdgeRow, NodeRow
from korrel8.graph.store import Store
from korrel8.model import Class, ref
from korrel8.querygen import logql_selector, promql_selector

console = Console()

CLUSTER = "bench"
PODS_PER_NAMESPACE = 100
DEPLOYMENTS_PER_NAMESPACE = 10
STARTS = 200
# A fresh JVM compiles its hot paths over the first few hundred queries: warm up with
# as many as are timed, or the first size measures the JIT rather than the graph.
WARMUP = STARTS
WIDE_STARTS = 20
WIDE_UP_TO = 10_000


@dataclass
class Graph:
    """Refs of the starts written so far."""

    alerts: list[str] = field(default_factory=list)
    pods: list[str] = field(default_factory=list)
    claims: list[str] = field(default_factory=list)
    services: list[str] = field(default_factory=list)


UP, DOWN = {"shape": "up"}, {"shape": "down"}


def edge(
    start: str, goal: str, type_: str, rule: str, shape: dict[str, str] | None = None
) -> EdgeRow:
    return EdgeRow(start=start, goal=goal, type=type_, rule=rule, properties=shape or {})


def _row(
    domain: str,
    cls: str,
    source: str,
    ns: str,
    name: str,
    selector: Mapping[str, str | None] | None = None,
    **props: Any,
) -> NodeRow:
    selector = selector or {"namespace": ns, "name": name}
    return NodeRow.model_validate(
        {
            "ref": ref(Class(domain=domain, name=cls), selector, CLUSTER),
            "domain": domain,
            "class": cls,
            "source": source,
            "cluster": CLUSTER,
            "namespace": ns,
            "name": name,
            "properties": {"k8s.namespace.name": ns, **props},
        }
    )


def storage_class() -> NodeRow:
    return _row("k8s", "StorageClass.storage.k8s.io", "k8s", "", "standard", {"name": "standard"})


def namespace_rows(index: int, graph: Graph) -> Iterator[NodeRow | EdgeRow]:
    """One namespace's nodes, then its edges (in both directions, as rules with reverses
    make them)."""
    ns = f"ns-{index}"
    sc = storage_class().ref
    nodes: list[NodeRow] = [_row("k8s", "Namespace", "k8s", ns, ns)]
    edges: list[EdgeRow] = []
    per_deployment = PODS_PER_NAMESPACE // DEPLOYMENTS_PER_NAMESPACE
    for d in range(DEPLOYMENTS_PER_NAMESPACE):
        app = f"app-{d}"
        deploy = _row("k8s", "Deployment.apps", "k8s", ns, app)
        rs = _row("k8s", "ReplicaSet.apps", "k8s", ns, f"{app}-7c9d")
        svc = _row("k8s", "Service", "k8s", ns, app)
        pvc = _row("k8s", "PersistentVolumeClaim", "k8s", ns, f"{app}-data")
        # Alerts of one name differ by their labels: the ref carries the PVC, as the
        # ingester's does.
        alert = _row(
            "alert", "alert", "alertmanager", ns, "KubePersistentVolumeFillingUp",
            selector={"alertname": "KubePersistentVolumeFillingUp", "namespace": ns,
                      "persistentvolumeclaim": pvc.name},
            alertname="KubePersistentVolumeFillingUp", state="firing",
            **{"k8s.persistentvolumeclaim.name": pvc.name or ""},
        )  # fmt: skip
        nodes += [deploy, rs, svc, pvc, alert]
        graph.alerts.append(alert.ref)
        graph.claims.append(pvc.ref)
        graph.services.append(svc.ref)
        edges += [
            edge(alert.ref, pvc.ref, "ABOUT", "alert-pvc"),
            edge(rs.ref, deploy.ref, "OWNED_BY", "owner", UP),
            edge(deploy.ref, rs.ref, "OWNS", "owner-reverse", DOWN),
            edge(pvc.ref, sc, "REQUESTS", "pvc-storageclass", UP),
            edge(sc, pvc.ref, "REQUESTED_BY", "pvc-storageclass-reverse", DOWN),
        ]
        for p in range(per_deployment):
            name = f"{app}-7c9d-{p:03d}"
            names = {"k8s.namespace.name": ns, "k8s.pod.name": name}
            labels: dict[str, Any] = {"k8s.namespace.name": ns, "k8s.pod.name": name}
            pod = _row("k8s", "Pod", "k8s", ns, name, labels=[f"app={app}"], **labels)
            log = _row(
                "log", "application", "loki", ns, name, logql=logql_selector(names), **labels
            )
            metric = _row("metric", "metric", "prometheus", ns, name, promql=promql_selector(names))
            nodes += [pod, log, metric]
            graph.pods.append(pod.ref)
            edges += [
                edge(pvc.ref, pod.ref, "MOUNTED_BY", "pod-pvc-reverse", DOWN),
                edge(pod.ref, pvc.ref, "MOUNTS", "pod-pvc", UP),
                edge(pod.ref, rs.ref, "OWNED_BY", "owner", UP),
                edge(rs.ref, pod.ref, "OWNS", "owner-reverse", DOWN),
                edge(svc.ref, pod.ref, "SELECTS", "selects-pods", DOWN),
                edge(pod.ref, svc.ref, "SELECTED_BY", "selects-pods-reverse", UP),
                edge(pod.ref, log.ref, "HAS_LOGS", "pod-logs"),
                edge(pod.ref, metric.ref, "HAS_METRICS", "pod-metrics"),
            ]
    yield from nodes
    yield from edges


def grow(store: Store, graph: Graph, namespaces: range) -> tuple[int, int, float]:
    """Write the namespaces; returns nodes, edges and seconds."""
    started = time.perf_counter()
    rows = [row for i in namespaces for row in namespace_rows(i, graph)]
    nodes = store.upsert_nodes(r for r in rows if isinstance(r, NodeRow))
    edges = store.upsert_edges(r for r in rows if isinstance(r, EdgeRow))
    return nodes, edges, time.perf_counter() - started


@dataclass(frozen=True)
class Search:
    label: str
    starts: list[str]
    goal: str
    found: bool


def searches(graph: Graph) -> list[Search]:
    return [
        Search("found: alert -> logs", graph.alerts, "log", True),
        Search("not found: pod -> Namespace", graph.pods, "k8s:Namespace", False),
        Search("hub-adjacent: PVC -> logs", graph.claims, "log", True),
        Search("hub-adjacent: Service -> metrics", graph.services, "metric", True),
    ]


def timed(k: Korrel8, search: Search, start: str, wide: bool) -> float:
    began = time.perf_counter()
    try:
        result = k.goals(start, search.goal, wide=wide)
        assert search.found and result.goals, start
    except GoalUnreachableError:
        assert not search.found, start
    return (time.perf_counter() - began) * 1000


def latencies(k: Korrel8, search: Search, starts: list[str], wide: bool) -> list[float]:
    """End-to-end milliseconds per start through the API."""
    for start in (starts * 2)[: min(WARMUP, 2 * len(starts))]:  # plans compiled, pages cached
        timed(k, search, start, wide)
    return [timed(k, search, start, wide) for start in starts]


def percentile(values: list[float], p: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pods", default="1000,10000,100000", help="cluster sizes, in pods")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.pods.split(","))
    rng = random.Random(args.seed)
    table = Table(
        title=f"Goal search latency, ms, end to end (Korrel8.goals, depth {DEFAULT_DEPTH})"
    )
    columns = ("pods", "nodes", "edges", "search", "mode", "starts", "p50", "p99", "max")
    for column in columns:
        table.add_column(column, justify="left" if column in ("search", "mode") else "right")
    # Batches of 500: the store creates new edges faster in smaller batches (see the report).
    with bench_store(500) as store:
        clear(store)
        store.apply_schema()
        store.upsert_nodes([storage_class()])
        k = Korrel8(store)
        graph, written, nodes, edges = Graph(), 0, 1, 0
        for size in sizes:
            wanted = size // PODS_PER_NAMESPACE
            n, e, seconds = grow(store, graph, range(written, wanted))
            written, nodes, edges = wanted, nodes + n, edges + e
            console.print(f"{size} pods: wrote {n} nodes, {e} edges in {seconds:.1f}s")
            store.run("CALL db.awaitIndexes(300)")
            store.run("CALL db.prepareForReplanning()")
            for search in searches(graph):
                sample = rng.sample(search.starts, min(STARTS, len(search.starts)))
                modes = [("precise", False, sample)]
                if size <= WIDE_UP_TO:
                    modes.append(("wide (baseline)", True, sample[:WIDE_STARTS]))
                for mode, wide, starts in modes:
                    ms = latencies(k, search, starts, wide)
                    table.add_row(
                        f"{size:,}", f"{nodes:,}", f"{edges:,}", search.label, mode,
                        str(len(starts)), f"{percentile(ms, 50):.1f}",
                        f"{percentile(ms, 99):.1f}", f"{max(ms):.1f}",
                    )  # fmt: skip
                    console.print(
                        f"  {search.label} ({mode}): p50 {percentile(ms, 50):.1f} ms, "
                        f"p99 {percentile(ms, 99):.1f} ms, max {max(ms):.1f} ms"
                    )
    console.print(table)


if __name__ == "__main__":
    main()
