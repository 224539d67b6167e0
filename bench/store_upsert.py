"""Upsert throughput of the store, against its baselines measured in the same run.

    make bench                         # or: .venv/bin/python -m bench.store_upsert
    .venv/bin/python -m bench.store_upsert --nodes 20000 --edges 40000 --batch-sizes 1000,5000

Runs on a throw-away local Neo4j (bench/neo4j.py).

Rows measured:
- store upsert_nodes / upsert_edges, per batch size (MERGE into an empty graph,
  then again over the existing graph: the steady state of a re-listing);
- baseline (a): one MERGE per row, each in its own transaction, on a sample,
  extrapolated per row;
- ceiling (b): a plain ``UNWIND $rows CREATE`` of the same nodes, with their labels
  written in, into an empty graph (the uniqueness constraint dropped, the indexes kept);
- ceiling (c): ``neo4j-admin database import full`` of the same nodes as CSV into a new
  database (offline bulk load: the physical ceiling of this Neo4j on this machine), run
  from the local launcher's jars (bench/admin_import.py). Its own time (``IMPORT DONE
  in``) is compared; the JVM's start is shown apart.

Aims, as ratios of one run: new nodes >= 0.5 of (b); re-upserts of unchanged nodes
>= 1.5x new ones.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from neo4j import ManagedTransaction
from rich.console import Console
from rich.table import Table

from bench.admin_import import admin_import
from bench.neo4j import bench_store, clear
from korrel8.graph.rows import EdgeRow, NodeRow
from korrel8.graph.store import Store, batched, utcnow

console = Console()


def make_nodes(n: int) -> list[NodeRow]:
    kinds = ("Pod", "PersistentVolumeClaim", "Service", "ConfigMap")
    rows = []
    for i in range(n):
        ns, name = f"ns-{i % 200}", f"obj-{i}"
        rows.append(
            NodeRow.model_validate(
                {
                    "ref": f'k8s:{kinds[i % 4]}:{{"cluster":"b","name":"{name}",'
                    f'"namespace":"{ns}"}}',
                    "domain": "k8s",
                    "class": kinds[i % 4],
                    "source": "bench",
                    "cluster": "b",
                    "namespace": ns,
                    "name": name,
                    "properties": {
                        "k8s.namespace.name": ns,
                        "k8s.pod.name": name,
                        "labels": [f"app=a{i % 50}", "tier=web"],
                        "phase": "Running",
                        "restarts": i % 7,
                    },
                }
            )
        )
    return rows


def make_edges(nodes: list[NodeRow], n: int) -> list[EdgeRow]:
    count = len(nodes)
    return [
        EdgeRow(
            start=nodes[i % count].ref,
            goal=nodes[(i * 7 + 1 + i // count) % count].ref,
            type="RELATES" if i % 2 else "OWNED_BY",
            rule=f"bench-{i % 3}",
        )
        for i in range(n)
    ]


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def per_row_merge(store: Store, rows: list[NodeRow]) -> None:
    query = (
        "MERGE (n:Object {ref: $row.ref}) ON CREATE SET n.first_seen = $now "
        "SET n += $row.props, n.last_seen = $now"
    )
    now = utcnow()

    def write(tx: ManagedTransaction, param: dict[str, Any]) -> None:
        tx.run(query, row=param, now=now).consume()

    with store.driver.session(database=store.database) as session:
        for row in rows:
            session.execute_write(write, row.to_param())


def create_ceiling(store: Store, rows: list[NodeRow]) -> None:
    """The same rows and batches as the store's, labels written in, no MERGE, one
    transaction per batch."""
    for batch in batched(rows, store.batch_size):
        by_labels: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for row in batch:
            by_labels.setdefault(row.graph_labels, []).append(row.to_param())

        def write(tx: ManagedTransaction, by_labels: dict[tuple[str, ...], list[Any]]) -> None:
            for labels, params in by_labels.items():
                query = f"UNWIND $rows AS row CREATE (n:Object:{':'.join(labels)}) " + (
                    "SET n = row.props, n.ref = row.ref"
                )
                tx.run(query, rows=params).consume()

        with store.driver.session(database=store.database) as session:
            session.execute_write(write, by_labels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=100_000)
    parser.add_argument("--edges", type=int, default=200_000)
    parser.add_argument("--sample", type=int, default=2_000, help="rows for the per-row baseline")
    parser.add_argument("--batch-sizes", default="1000,5000,10000")
    args = parser.parse_args()
    sizes = [int(s) for s in args.batch_sizes.split(",")]

    nodes = make_nodes(args.nodes)
    edges = make_edges(nodes, args.edges)
    table = Table(title=f"Store upsert throughput: {args.nodes:,} nodes, {args.edges:,} edges")
    for col in ("what", "batch", "rows", "seconds", "rows/s"):
        table.add_column(col, justify="left" if col == "what" else "right")
    results: dict[str, float] = {}

    def add(what: str, batch: str, rows: int, seconds: float) -> float:
        rate = rows / seconds
        table.add_row(what, batch, f"{rows:,}", f"{seconds:.2f}", f"{rate:,.0f}")
        return rate

    with bench_store(sizes[0]) as store:
        clear(store)
        store.apply_schema()
        # Warm the JVM so the first measured row is not its compile time.
        store.upsert_nodes(nodes[:5000])
        clear(store)

        sample = nodes[: args.sample]
        results["per-row"] = add(
            "(a) MERGE per row, own tx",
            "1",
            len(sample),
            timed(lambda: per_row_merge(store, sample)),
        )
        clear(store)
        for size in sizes:
            store.batch_size = size
            results[f"nodes-{size}"] = add(
                "store.upsert_nodes, new",
                str(size),
                len(nodes),
                timed(lambda: store.upsert_nodes(nodes)),
            )
            results[f"renodes-{size}"] = add(
                "store.upsert_nodes, existing", str(size), len(nodes),
                timed(lambda: store.upsert_nodes(nodes)),
            )  # fmt: skip
            results[f"edges-{size}"] = add(
                "store.upsert_edges, new",
                str(size),
                len(edges),
                timed(lambda: store.upsert_edges(edges)),
            )
            clear(store)
        store.run("DROP CONSTRAINT object_ref IF EXISTS")  # CREATE needs no uniqueness check
        store.batch_size = sizes[-1]
        results["create"] = add(
            "(b) UNWIND CREATE, ceiling", str(sizes[-1]), len(nodes),
            timed(lambda: create_ceiling(store, nodes)),
        )  # fmt: skip
        clear(store)
        store.apply_schema()
    imported = admin_import(nodes)
    results["import"] = add("(c) neo4j-admin database import", "all", len(nodes), imported.seconds)
    table.add_row("    (c) its JVM start and finish, apart", "", "", f"{imported.overhead:.2f}", "")

    console.print(table)
    best = max(sizes, key=lambda s: results[f"nodes-{s}"])
    ratios = Table(title=f"Ratios (best batch size for new nodes: {best})")
    ratios.add_column("ratio")
    ratios.add_column("value", justify="right")
    ratios.add_column("aim", justify="right")
    ratios.add_row(
        "upsert_nodes / per-row MERGE",
        f"{results[f'nodes-{best}'] / results['per-row']:.0f}x",
        ">= 100x",
    )
    ratios.add_row(
        "upsert_nodes / CREATE ceiling",
        f"{results[f'nodes-{best}'] / results['create']:.2f}",
        ">= 0.5",
    )
    ratios.add_row(
        "re-upsert unchanged / new nodes",
        f"{results[f'renodes-{best}'] / results[f'nodes-{best}']:.2f}",
        ">= 1.5",
    )
    ratios.add_row(
        "upsert_nodes / neo4j-admin import",
        f"{results[f'nodes-{best}'] / results['import']:.2f}",
        "",
    )
    ratios.add_row(
        "upsert_edges / per-row MERGE", f"{results[f'edges-{best}'] / results['per-row']:.0f}x", ""
    )
    console.print(ratios)


if __name__ == "__main__":
    main()
