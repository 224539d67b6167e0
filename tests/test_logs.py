"""Log stream references, derived from the pods in a real graph, and from Loki's series."""

from __future__ import annotations

from typing import Any

import pytest

from ingest import logs
from korrel8.config import LogStoreSettings
from korrel8.graph.rows import NodeRow
from korrel8.graph.store import Store
from korrel8.model import Query, ref
from tests.graph import nodes
from tests.servers.common import free_port
from tests.servers.faulty_http import FaultyServer


def k8s_object(
    kind: str, namespace: str | None, name: str, cluster: str = "c1", **props: Any
) -> NodeRow:
    """A node of the shape the Kubernetes ingester (ingest/k8s/rows.py) writes: the one
    place these tests assume it. Pods carry ``containers``; every object its canonical
    namespace and name keys."""
    name_key = {"Pod": "k8s.pod.name", "Service": "k8s.service.name"}[kind]
    return NodeRow.model_validate(
        {
            "ref": ref(f"k8s:{kind}", {"namespace": namespace, "name": name}, cluster),
            "domain": "k8s",
            "class": kind,
            "source": "k8s",
            "cluster": cluster,
            "namespace": namespace,
            "name": name,
            "properties": {"k8s.namespace.name": namespace, name_key: name, **props},
        }
    )


def pod(namespace: str, name: str, *containers: str, cluster: str = "c1") -> NodeRow:
    return k8s_object("Pod", namespace, name, cluster, containers=list(containers))


PODS = [
    pod("shop", "web-0", "app", "istio-proxy"),
    pod("openshift-monitoring", "prometheus-k8s-0", "prometheus"),
    pod("kube-system", "coredns-1", "coredns"),
    pod("default", "debug", "shell"),
    pod("kubeflow", "pipeline-0", "main"),  # "kube" only as a whole word or kube-*
]


def log_nodes(store: Store) -> dict[str, dict[str, Any]]:
    """Log nodes by cluster/namespace/pod/container."""
    return {
        f"{n['cluster']}/{n['namespace']}/{n['name']}": n
        for n in nodes(store).values()
        if n["domain"] == "log"
    }


def test_streams_derived_from_pods_with_openshifts_log_types(store: Store) -> None:
    store.upsert_nodes(PODS)
    summary = logs.ingest(store, LogStoreSettings())  # no Loki URL: derive from pods
    assert summary.ok and summary.objects == {"log:application": 3, "log:infrastructure": 3}
    got = log_nodes(store)
    assert set(got) == {
        "c1/shop/web-0/app",
        "c1/shop/web-0/istio-proxy",
        "c1/openshift-monitoring/prometheus-k8s-0/prometheus",
        "c1/kube-system/coredns-1/coredns",
        "c1/default/debug/shell",
        "c1/kubeflow/pipeline-0/main",
    }
    types = {key: node["log_type"] for key, node in got.items()}
    assert types["c1/shop/web-0/app"] == "application"
    assert types["c1/kubeflow/pipeline-0/main"] == "application"
    for key in ("openshift-monitoring", "kube-system", "default"):
        assert next(t for k, t in types.items() if f"/{key}/" in k) == "infrastructure"

    app = got["c1/shop/web-0/app"]
    assert app["class"] == "application" and app["_labels"] == ["Application", "Log", "Object"]
    assert app["logql"] == (
        '{kubernetes_namespace_name="shop", kubernetes_pod_name="web-0", '
        'kubernetes_container_name="app", log_type="application"}'
    )
    assert app["k8s.namespace.name"] == "shop" and app["k8s.pod.name"] == "web-0"
    assert app["k8s.container.name"] == "app" and app["origin"] == "pods"
    assert app["convention"] == "lokistack" and app["source"] == "logs"
    assert app["raw_labels"] == [
        "kubernetes_container_name=app",
        "kubernetes_namespace_name=shop",
        "kubernetes_pod_name=web-0",
        "log_type=application",
    ]
    query = Query.parse(app["ref"])
    assert str(query) == app["ref"]
    assert query.selector == {
        "namespace": "shop",
        "name": "web-0",
        "containers": ["app"],
        "cluster": "c1",
    }
    infra = got["c1/kube-system/coredns-1/coredns"]
    assert infra["class"] == "infrastructure" and 'log_type="infrastructure"' in infra["logql"]


@pytest.mark.parametrize(
    ("convention", "logql"),
    [
        ("promtail", '{namespace="shop", pod="web-0", container="app"}'),
        ("otel", '{k8s_namespace_name="shop", k8s_pod_name="web-0", k8s_container_name="app"}'),
    ],
)
def test_the_log_store_convention_decides_the_labels(
    store: Store, convention: str, logql: str
) -> None:
    store.upsert_nodes([pod("shop", "web-0", "app")])
    assert logs.ingest(store, LogStoreSettings(convention=convention)).ok
    (node,) = log_nodes(store).values()
    assert node["logql"] == logql and node["convention"] == convention
    assert node["class"] == "application"  # the type is known even where no label says it


def test_a_deleted_pod_sweeps_its_streams_in_its_cluster_only(store: Store) -> None:
    store.upsert_nodes([*PODS, pod("shop", "web-0", "app", cluster="c2")])
    logs.ingest(store, LogStoreSettings())
    assert set(log_nodes(store)) >= {"c1/shop/web-0/app", "c2/shop/web-0/app"}
    # The Kubernetes ingester's complete listing no longer has c1's web-0: it is deleted.
    with store.listing("k8s", "c1", classes=["Pod"]) as listing:
        listing.upsert([p for p in PODS if p.name != "web-0"])
    summary = logs.ingest(store, LogStoreSettings())
    assert summary.ok and summary.deleted == 2
    got = log_nodes(store)
    assert got["c1/shop/web-0/app"]["deleted_at"] is not None
    assert got["c1/shop/web-0/istio-proxy"]["deleted_at"] is not None
    assert got["c2/shop/web-0/app"].get("deleted_at") is None
    assert all(n.get("deleted_at") is None for k, n in got.items() if "/web-0/" not in k)


def test_loki_series_fold_per_container_and_log_type() -> None:
    series = [
        # LokiStack ViaQ streams: one per container and stream, with log_type.
        {
            "kubernetes_namespace_name": "shop",
            "kubernetes_pod_name": "web-0",
            "kubernetes_container_name": "app",
            "kubernetes_host": "worker-1",
            "log_type": "application",
            "stream": stream,
        }
        for stream in ("stdout", "stderr")
    ] + [
        {"log_type": "audit", "kubernetes_host": "worker-1"},  # node audit: no container
        {
            "kubernetes_namespace_name": "openshift-dns",
            "kubernetes_pod_name": "dns-x",
            "kubernetes_container_name": "dns",
            "log_type": "infrastructure",
        },
    ]
    streams, skipped = logs.series_streams(series, "c1")
    assert skipped == 1
    by_container = {s.container: s for s in streams}
    assert set(by_container) == {"app", "dns"}
    app = by_container["app"]
    assert (app.namespace, app.pod, app.log_type, app.origin) == (
        "shop",
        "web-0",
        "application",
        "loki",
    )
    # The labels every folded stream shares; `stream` differs between them.
    assert dict(app.raw_labels) == {
        "kubernetes_namespace_name": "shop",
        "kubernetes_pod_name": "web-0",
        "kubernetes_container_name": "app",
        "kubernetes_host": "worker-1",
        "log_type": "application",
    }
    rows = list(logs.to_rows(streams, "viaq", "lokistack"))
    assert sorted(r.class_name for r in rows) == ["application", "infrastructure"]


@pytest.mark.parametrize("fault", ["broken-json", "down"])
def test_a_failing_loki_is_reported_and_the_graph_kept(
    store: Store, faulty_http: FaultyServer, fault: str
) -> None:
    store.upsert_nodes([pod("shop", "web-0", "app")])
    logs.ingest(store, LogStoreSettings(cluster="c1"))
    before = log_nodes(store)
    url = f"http://127.0.0.1:{free_port()}" if fault == "down" else faulty_http.url(fault)
    summary = logs.ingest(store, LogStoreSettings(url=url, cluster="c1", retries=0))
    assert len(summary.errors) == 1 and "loki at http://127.0.0.1:" in summary.errors[0]
    assert log_nodes(store) == before
