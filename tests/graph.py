"""Small helpers that check the graph after a real write (Cartography's habit)."""

from __future__ import annotations

from typing import Any

from korrel8.graph.rows import EdgeRow, NodeRow
from korrel8.graph.store import Store


def node(
    ref: str,
    cls: str = "Pod",
    *,
    domain: str = "k8s",
    source: str = "test",
    cluster: str = "c1",
    namespace: str | None = "ns",
    name: str | None = None,
    **props: Any,
) -> NodeRow:
    return NodeRow.model_validate(
        {
            "ref": ref,
            "domain": domain,
            "class": cls,
            "source": source,
            "cluster": cluster,
            "namespace": namespace,
            "name": name or ref,
            "properties": props,
        }
    )


def edge(start: str, goal: str, type: str = "RELATES", rule: str = "test-rule") -> EdgeRow:
    return EdgeRow(start=start, goal=goal, type=type, rule=rule)


def nodes(store: Store) -> dict[str, dict[str, Any]]:
    """Every :Object node by ref, with its properties and labels under '_labels'."""
    rows = store.run("MATCH (n:Object) RETURN n.ref AS ref, properties(n) AS p, labels(n) AS l")
    return {r["ref"]: {**r["p"], "_labels": sorted(r["l"])} for r in rows}


def edges(store: Store) -> dict[tuple[str, str, str], dict[str, Any]]:
    """Every edge by (start ref, type, goal ref), with its properties."""
    rows = store.run(
        "MATCH (a:Object)-[r]->(b:Object) RETURN a.ref AS a, type(r) AS t, b.ref AS b, "
        "properties(r) AS p"
    )
    return {(r["a"], r["t"], r["b"]): r["p"] for r in rows}


def assert_nodes(store: Store, expected: set[str]) -> None:
    assert set(nodes(store)) == expected


def assert_edges(store: Store, expected: set[tuple[str, str, str]]) -> None:
    assert set(edges(store)) == expected
