"""Trace references derived from the pods and services in a real graph."""

from __future__ import annotations

from typing import Any

import pytest

from ingest import traces
from ingest.logs import PAGE
from korrel8.config import HttpSourceSettings
from korrel8.graph.store import Store
from korrel8.model import Query
from tests.graph import nodes
from tests.servers.common import free_port
from tests.servers.faulty_http import FaultyServer
from tests.test_logs import k8s_object, pod


def trace_nodes(store: Store) -> dict[str, dict[str, Any]]:
    """Trace nodes by cluster/kind/namespace/name."""
    return {
        f"{n['cluster']}/{n['subject_kind']}/{n['namespace']}/{n['name']}": n
        for n in nodes(store).values()
        if n["domain"] == "trace"
    }


OBJECTS = [
    pod("shop", "web-0", "app"),
    pod("shop", "web-1", "app"),
    k8s_object("Service", "shop", "web"),
    pod("shop", "web-0", "app", cluster="c2"),
]


def test_one_trace_reference_per_pod_and_service(store: Store) -> None:
    store.upsert_nodes(OBJECTS)
    summary = traces.ingest(store, HttpSourceSettings())  # no Tempo URL: derive
    assert summary.ok and summary.objects == {"trace:span": 4}
    got = trace_nodes(store)
    assert set(got) == {
        "c1/Pod/shop/web-0",
        "c1/Pod/shop/web-1",
        "c1/Service/shop/web",
        "c2/Pod/shop/web-0",
    }
    web0 = got["c1/Pod/shop/web-0"]
    assert web0["traceql"] == (
        '{resource.k8s.namespace.name="shop" && resource.k8s.pod.name="web-0"}'
    )
    assert web0["k8s.namespace.name"] == "shop" and web0["k8s.pod.name"] == "web-0"
    assert web0["class"] == "span" and web0["_labels"] == ["Object", "Span", "Trace"]
    assert web0["source"] == "traces" and web0["origin"] == "pods"
    query = Query.parse(web0["ref"])
    assert str(query) == web0["ref"] and query.cluster == "c1"
    service = got["c1/Service/shop/web"]
    assert service["traceql"] == (
        '{resource.k8s.namespace.name="shop" && resource.k8s.service.name="web"}'
    )
    assert service["k8s.service.name"] == "web" and "k8s.pod.name" not in service


def test_a_deleted_pod_sweeps_its_trace_reference(store: Store) -> None:
    store.upsert_nodes(OBJECTS)
    traces.ingest(store, HttpSourceSettings())
    with store.listing("k8s", "c1", classes=["Pod"]) as listing:
        listing.upsert([OBJECTS[0]])  # web-1 is gone
    summary = traces.ingest(store, HttpSourceSettings())
    assert summary.deleted == 1
    got = trace_nodes(store)
    assert got["c1/Pod/shop/web-1"]["deleted_at"] is not None
    assert all(n.get("deleted_at") is None for k, n in got.items() if k != "c1/Pod/shop/web-1")


@pytest.mark.parametrize("fault", ["not-json", "down"])
def test_a_failing_tempo_is_reported_and_the_graph_kept(
    store: Store, faulty_http: FaultyServer, fault: str
) -> None:
    store.upsert_nodes(OBJECTS)
    traces.ingest(store, HttpSourceSettings())
    before = trace_nodes(store)
    url = f"http://127.0.0.1:{free_port()}" if fault == "down" else faulty_http.url(fault)
    summary = traces.ingest(store, HttpSourceSettings(url=url, cluster="c1", retries=0))
    assert len(summary.errors) == 1 and "tempo at http://127.0.0.1:" in summary.errors[0]
    assert trace_nodes(store) == before


def test_tempo_service_names_become_references() -> None:
    (row,) = traces.service_name_rows(["checkout"], "c1")
    assert row.properties["traceql"] == '{resource.service.name="checkout"}'
    assert row.properties["service.name"] == "checkout" and row.name == "checkout"


def test_pods_are_read_a_page_at_a_time_and_none_is_missed(store: Store) -> None:
    many = [pod("load", f"p-{i:04d}", "c") for i in range(PAGE + 5)]  # two pages
    store.upsert_nodes(many)
    summary = traces.ingest(store, HttpSourceSettings())
    assert summary.objects == {"trace:span": len(many)}
    assert {n["name"] for n in trace_nodes(store).values()} == {p.name for p in many}
