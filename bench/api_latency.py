"""Goal search through the REST API with 1, 8 and 32 concurrent clients, beside the Python
API's latency for the same searches in the same run.

    .venv/bin/python -m bench.api_latency                  # 10k pods
    .venv/bin/python -m bench.api_latency --pods 2000      # a quicker run

The cluster is korrel8/cluster_gen.py's (10k pods by default), loaded as a user loads
one: a snapshot of kubectl Lists with an Alertmanager alerts.json (one alert per PVC), then
every rule. The searches go from the alerts to the pods that mount their PVCs, and from
pods to their Deployments, through ``POST /api/v1alpha1/graphs/goals`` (korrel8r's
Graph, from JSON in to JSON out) on a loopback uvicorn server, each client a thread with
its own keep-alive connection, a bounded number of requests per level. The baseline is
``Korrel8.goals`` for the same starts, in this process. The load average is printed: on a
shared machine the figures move with it. Runs on a throw-away local Neo4j (see
bench.neo4j); BENCH_NEO4J_URI / BENCH_NEO4J_PASSWORD name another server to clear and use.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests
from rich.console import Console
from rich.table import Table

from bench.neo4j import bench_store, clear
from ingest.snapshot import ingest
from korrel8 import cluster_gen, rules
from korrel8.api.app import create_app
from korrel8.api.server import Server
from korrel8.correlate import Korrel8
from korrel8.graph.store import Store
from korrel8.rules import runner

console = Console()
CLUSTER = "bench"
CLIENTS = (1, 8, 32)
REQUESTS = 256  # per concurrency level
BASELINE = 128  # Python API searches
WARMUP = 64


def load(store: Store, pods: int, directory: Path) -> list[tuple[str, str]]:
    """The generated cluster in the graph; the (start, goal) searches to time."""
    cluster_gen.write_files(cluster_gen.cluster(pods=pods, seed=1), directory)
    claims = json.loads((directory / "persistentvolumeclaims.json").read_text())["items"]
    alerts = [
        {"labels": {"alertname": "KubePersistentVolumeFillingUp",
                    "namespace": c["metadata"]["namespace"],
                    "persistentvolumeclaim": c["metadata"]["name"]},
         "annotations": {}, "startsAt": "2026-01-10T10:00:00Z",
         "endsAt": "2099-01-01T00:00:00Z", "updatedAt": "2026-01-10T10:00:00Z",
         "fingerprint": f"{i:016x}", "receivers": [{"name": "default"}],
         "status": {"state": "active", "silencedBy": [], "inhibitedBy": []},
         "generatorURL": "http://prometheus/graph"}
        for i, c in enumerate(claims)
    ]  # fmt: skip
    (directory / "alerts.json").write_text(json.dumps(alerts))
    started = time.monotonic()
    summary = ingest(store, directory, CLUSTER)
    assert not summary.errors, summary.errors[:3]
    loaded = time.monotonic()
    runner.apply(store, rules.load(), full=True)
    console.print(
        f"{pods} pods: snapshot loaded in {loaded - started:.0f} s, rules applied in "
        f"{time.monotonic() - loaded:.0f} s; load average {os.getloadavg()[0]:.1f}"
    )
    pods_of = json.loads((directory / "pods.json").read_text())["items"]
    searches = [
        (f"alert:alert:{json.dumps(a['labels'], sort_keys=True)}", "k8s:Pod") for a in alerts
    ]
    searches += [
        (f'k8s:Pod:{{"namespace":"{p["metadata"]["namespace"]}",'
         f'"name":"{p["metadata"]["name"]}"}}', "k8s:Deployment.apps")
        for p in pods_of
        if p["metadata"].get("ownerReferences", [{}])[0].get("kind") == "ReplicaSet"
    ]  # fmt: skip
    return searches


def percentile(values: list[float], p: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


def python_api(store: Store, searches: list[tuple[str, str]]) -> list[float]:
    k = Korrel8(store)
    for start, goal in searches[:WARMUP]:
        k.goals(start, goal)
    times = []
    for start, goal in searches[:BASELINE]:
        began = time.perf_counter()
        k.goals(start, goal)
        times.append((time.perf_counter() - began) * 1000)
    return times


def through_api(
    url: str, searches: list[tuple[str, str]], clients: int
) -> tuple[list[float], float]:
    """Latencies (ms) of REQUESTS goal searches from ``clients`` threads; the wall time."""
    local = threading.local()

    def one(search: tuple[str, str]) -> float:
        session: requests.Session | None = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        body: dict[str, Any] = {"goals": [search[1]], "start": {"queries": [search[0]]}}
        began = time.perf_counter()
        response = session.post(f"{url}/api/v1alpha1/graphs/goals", json=body, timeout=120)
        elapsed = (time.perf_counter() - began) * 1000
        assert response.status_code == 200, response.text
        return elapsed

    work = [searches[i % len(searches)] for i in range(REQUESTS)]
    began = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        times = list(pool.map(one, work))
    return times, time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pods", type=int, default=10_000, help="cluster size, in pods")
    args = parser.parse_args()
    table = Table(title=f"Goal search at {args.pods:,} pods: REST API vs Python API (ms)")
    for column in ("path", "clients", "searches", "searches/s", "p50", "p99", "max"):
        table.add_column(column, justify="left" if column == "path" else "right")
    with bench_store(5000) as store, tempfile.TemporaryDirectory() as tmp:
        clear(store)
        store.apply_schema()
        searches = load(store, args.pods, Path(tmp))
        random.Random(7).shuffle(searches)
        store.run("CALL db.awaitIndexes(300)")
        ms = python_api(store, searches)
        table.add_row("Python API (baseline)", "1", str(len(ms)),
                      f"{1000 / statistics.mean(ms):.0f}", f"{percentile(ms, 50):.1f}",
                      f"{percentile(ms, 99):.1f}", f"{max(ms):.1f}")  # fmt: skip
        server = Server(create_app(store, mcp=False), "127.0.0.1", 0)
        server.start()
        try:
            through_api(server.url, searches[:WARMUP], 4)  # the JIT and the pools warm
            for clients in CLIENTS:
                times, wall = through_api(server.url, searches, clients)
                table.add_row("REST API, loopback", str(clients), str(len(times)),
                              f"{len(times) / wall:.0f}", f"{percentile(times, 50):.1f}",
                              f"{percentile(times, 99):.1f}", f"{max(times):.1f}")  # fmt: skip
                console.print(f"  {clients} clients done; load average {os.getloadavg()[0]:.1f}")
        finally:
            server.stop()
    console.print(table)
    console.print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
