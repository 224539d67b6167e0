"""Goal-search latency at growing cluster sizes: p50 and p99 over 200 starts.

    .venv/bin/python -m bench.goal_latency                    # 1k, 10k, 100k pods
    .venv/bin/python -m bench.goal_latency --pods 1000,10000  # a quicker run

Two searches, each from 200 random starts given as refs, through the Python API
(``Korrel8.goals``: the start look-up, the path query and the Result, end to end):
- alert -> logs: a PVC alert -> the PVC -> the 10 pods that mount it -> their log
  streams (depth 3, 10 goals);
- pod -> metrics: a pod -> its metric series (depth 1, 1 goal).

The graph is synthetic, written through the store: per namespace, 10 deployments, each
with a replicaset, 10 pods, a PVC they all mount and an alert on that PVC; a log stream
and a metric series per pod. Sizes grow in place (a larger size adds namespaces), so the
earlier starts stay valid. Runs on a throw-away local Neo4j (see bench.store_upsert);
BENCH_NEO4J_URI / BENCH_NEO4J_PASSWORD name another server to clear and use instead.
Aim: p99 under 50 ms at 100k pods. Also reported: the server's own time for the path
query (milliseconds, as Bolt reports it), which separates the database from the client.
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
from korrel8.correlate import Korrel8
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


@dataclass
class Graph:
    """Refs of the starts written so far."""

    alerts: list[str] = field(default_factory=list)
    pods: list[str] = field(default_factory=list)


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


def namespace_rows(index: int, graph: Graph) -> Iterator[NodeRow | EdgeRow]:
    """One namespace's nodes, then its edges."""
    ns = f"ns-{index}"
    nodes: list[NodeRow] = [_row("k8s", "Namespace", "k8s", ns, ns)]
    edges: list[EdgeRow] = []
    per_deployment = PODS_PER_NAMESPACE // DEPLOYMENTS_PER_NAMESPACE
    for d in range(DEPLOYMENTS_PER_NAMESPACE):
        app = f"app-{d}"
        deploy = _row("k8s", "Deployment.apps", "k8s", ns, app)
        rs = _row("k8s", "ReplicaSet.apps", "k8s", ns, f"{app}-7c9d")
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
        nodes += [deploy, rs, pvc, alert]
        graph.alerts.append(alert.ref)
        edges += [
            EdgeRow(start=alert.ref, goal=pvc.ref, type="ABOUT", rule="alert-pvc"),
            EdgeRow(start=rs.ref, goal=deploy.ref, type="OWNED_BY", rule="rs-owner"),
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
                EdgeRow(start=pvc.ref, goal=pod.ref, type="MOUNTED_BY", rule="pvc-pods"),
                EdgeRow(start=pod.ref, goal=rs.ref, type="OWNED_BY", rule="pod-owner"),
                EdgeRow(start=pod.ref, goal=log.ref, type="LOGS", rule="pod-logs"),
                EdgeRow(start=pod.ref, goal=metric.ref, type="METRICS", rule="pod-metrics"),
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


def latencies(
    k: Korrel8, starts: list[str], goal: str, depth: int
) -> tuple[list[float], list[float]]:
    """End-to-end milliseconds per start through the API, and the server's own time for the
    path query (Bolt's result_available_after + result_consumed_after), which a loaded
    client machine inflates less."""
    for start in (starts * 2)[:WARMUP]:  # plans compiled and pages cached before timing
        k.goals(start, goal, depth=depth)
    total, server = [], []
    for start in starts:
        began = time.perf_counter()
        result = k.goals(start, goal, depth=depth)
        total.append((time.perf_counter() - began) * 1000)
        assert result.goals, start
        with k.store.driver.session(database=k.store.database) as session:
            summary = session.run(result.cypher.text, dict(result.cypher.parameters)).consume()
        server.append(
            float((summary.result_available_after or 0) + (summary.result_consumed_after or 0))
        )
    return total, server


def percentile(values: list[float], p: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pods", default="1000,10000,100000", help="cluster sizes, in pods")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.pods.split(","))
    rng = random.Random(args.seed)
    table = Table(title=f"Goal search latency, ms, over {STARTS} starts (Korrel8.goals)")
    columns = ("pods", "nodes", "edges", "search", "p50", "p99", "max", "server p50", "server p99")
    for column in columns:
        table.add_column(column, justify="right" if column not in ("search",) else "left")
    # Batches of 500: the store creates new edges faster in smaller batches (see the report).
    with bench_store(500) as store:
        clear(store)
        store.apply_schema()
        k = Korrel8(store)
        graph, written, nodes, edges = Graph(), 0, 0, 0
        for size in sizes:
            wanted = size // PODS_PER_NAMESPACE
            n, e, seconds = grow(store, graph, range(written, wanted))
            written, nodes, edges = wanted, nodes + n, edges + e
            console.print(f"{size} pods: wrote {n} nodes, {e} edges in {seconds:.1f}s")
            store.run("CALL db.awaitIndexes(300)")
            for label, starts, goal, depth in (
                ("alert -> logs", graph.alerts, "log", 3),
                ("pod -> metrics", graph.pods, "metric", 1),
            ):
                sample = rng.sample(starts, min(STARTS, len(starts)))
                ms, server = latencies(k, sample, goal, depth)
                table.add_row(
                    f"{size:,}", f"{nodes:,}", f"{edges:,}", label,
                    f"{percentile(ms, 50):.1f}", f"{percentile(ms, 99):.1f}", f"{max(ms):.1f}",
                    f"{percentile(server, 50):.0f}", f"{percentile(server, 99):.0f}",
                )  # fmt: skip
                console.print(
                    f"  {label}: p50 {percentile(ms, 50):.1f} ms, p99 {percentile(ms, 99):.1f} ms;"
                    f" server p50 {percentile(server, 50):.0f}, p99 {percentile(server, 99):.0f}"
                )
    console.print(table)


if __name__ == "__main__":
    main()
