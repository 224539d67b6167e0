"""The Kubernetes ingester against a real kube-apiserver and a real Neo4j."""

from __future__ import annotations

import json
import logging
import math
import random
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s
from typer import Typer
from typer.testing import CliRunner

from ingest.k8s.api import Retry, connect
from ingest.k8s.cli import k8s as k8s_command
from ingest.k8s.kinds import KindSpec, builtin_kinds, discover, known_kinds
from ingest.k8s.rows import to_row
from ingest.k8s.sync import ClusterResult, cluster_name, ingest_cluster, kinds_to_list
from ingest.k8s.watch import ClusterWatch, run
from korrel8 import cluster_gen
from korrel8.config import KubernetesSettings, SourcesSettings
from korrel8.graph.rows import EdgeRow
from korrel8.graph.store import Store
from korrel8.model import Class, ref
from tests.graph import edges, nodes
from tests.servers.faulty_proxy import FaultyProxy
from tests.servers.kube import KubeServer, rest
from tests.servers.neo4j import Neo4jServer

ADMIN, READONLY = "korrel8-admin", "korrel8-readonly"
# Quick retries: the failures below are injected, waiting longer proves nothing more.
FAST = Retry(attempts=3, backoff=0.05, max_backoff=0.2, connect_timeout=5, read_timeout=30)
PROPERTY_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


# --------------------------------------------------------------------------- helpers


@pytest.fixture
def admin(kube: KubeServer) -> Iterator[k8s.ApiClient]:
    with kube.admin_client() as api:
        yield api


@pytest.fixture
def cluster(admin: k8s.ApiClient) -> str:
    """The name the ingester gives the test cluster: its kube-system namespace's UID."""
    return str(rest(admin, "GET", "/api/v1/namespaces/kube-system")["metadata"]["uid"])


def settings_for(kubeconfig: Path, **overrides: Any) -> KubernetesSettings:
    return KubernetesSettings(kubeconfig=kubeconfig, **{"custom_resources": "none", **overrides})


def kinds(*names: str) -> list[KindSpec]:
    return [spec for spec in builtin_kinds() if spec.kind in names]


def ingest(
    store: Store,
    kubeconfig: Path,
    context: str = ADMIN,
    only: list[KindSpec] | None = None,
    progress: Callable[[KindSpec, int, int | None], None] | None = None,
    **overrides: Any,
) -> ClusterResult:
    settings = settings_for(kubeconfig, **overrides)
    conn = connect(settings, context, FAST)
    try:
        return ingest_cluster(store, conn, settings, kinds=only, progress=progress)
    finally:
        conn.close()


def kind_result(result: ClusterResult, kind: str) -> Any:
    return next(k for k in result.kinds if k.spec.kind == kind)


def node_ref(cls: str, namespace: str | None, name: str, cluster: str) -> str:
    return ref(Class(domain="k8s", name=cls), {"namespace": namespace, "name": name}, cluster)


def in_namespace(store: Store, namespace: str, cls: str | None = None) -> dict[str, Any]:
    """Nodes of one namespace by name (of one class, if given)."""
    return {
        n["name"]: n
        for n in nodes(store).values()
        if n.get("namespace") == namespace and (cls is None or n["class"] == cls)
    }


def configmap(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels}}


def create_configmaps(api: k8s.ApiClient, namespace: str, count: int) -> list[str]:
    names = [f"cm-{i:02d}" for i in range(count)]
    for name in names:
        rest(api, "POST", f"/api/v1/namespaces/{namespace}/configmaps", configmap(name, n=name))
    return names


def wait_for(what: str, check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.2)


def native(value: Any) -> datetime:
    return value.to_native()  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- a CRD


def create_widget_crd(api: k8s.ApiClient) -> str:
    """A namespaced CRD ``widgets.<random group>``, served; returns the group."""
    group = f"t{secrets.token_hex(3)}.korrel8.test"
    schema = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": schema},
                }
            ],
        },
    }
    rest(api, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
    return group


def widget(name: str, group: str, spec: dict[str, Any]) -> dict[str, Any]:
    meta = {"name": name, "labels": {"app": "web"}}
    return {"apiVersion": f"{group}/v1", "kind": "Widget", "metadata": meta, "spec": spec}


def served(kube: KubeServer, resource: str) -> bool:
    settings = settings_for(kube.kubeconfig)
    conn = connect(settings, ADMIN, FAST)
    try:
        return resource in {spec.resource for spec in discover(conn)}
    finally:
        conn.close()


@pytest.fixture
def widgets(kube: KubeServer, admin: k8s.ApiClient) -> Iterator[str]:
    """A served CRD ``widgets.<random group>``; its group. Deleted afterwards."""
    group = create_widget_crd(admin)
    try:
        wait_for("the CRD served", lambda: served(kube, f"widgets.{group}"))
        yield group
    finally:
        crds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
        rest(admin, "DELETE", f"{crds}/widgets.{group}")


# --------------------------------------------------------------------------- a generated namespace


@pytest.fixture
def generated(admin: k8s.ApiClient, kube_namespace: str, widgets: str) -> Iterator[dict[str, Any]]:
    """A generated namespace (25 pods on a Node of its own), a PDB with every kind of
    selector expression, and a CRD with two instances."""
    ns, node_name = kube_namespace, f"node-{secrets.token_hex(4)}"  # a label value: short
    storage = f"sc-{secrets.token_hex(4)}"
    objects = cluster_gen.namespace(
        ns, 25, seed=303, nodes=[node_name], create_namespace=False, storage_classes=[storage]
    )
    cluster_scoped = [
        cluster_gen.node_object(node_name),
        cluster_gen.storage_class(storage, "example.com/fast", random.Random(1)),
    ]
    applied = cluster_gen.apply([cluster_scoped, objects], admin)
    group = widgets
    try:
        pdb = {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "expressions"},
            "spec": {
                "maxUnavailable": 1,
                "selector": {
                    "matchLabels": {"app": "db"},
                    "matchExpressions": [
                        {"key": "tier", "operator": "In", "values": ["backend"]},
                        {"key": "track", "operator": "NotIn", "values": ["canary", "beta"]},
                        {"key": "zone", "operator": "Exists"},
                    ],
                },
            },
        }
        rest(admin, "POST", f"/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets", pdb)
        base = f"/apis/{group}/v1/namespaces/{ns}/widgets"
        w1 = {
            "serviceAccountName": "sa1",
            "targetRef": {"kind": "Deployment", "name": "web"},
            "configRef": {"name": "cfg"},
            "size": 3,
        }
        rest(admin, "POST", base, widget("w1", group, w1))
        rest(admin, "POST", base, widget("w2", group, {"size": 1}))
        yield {
            "namespace": ns, "node": node_name, "storage": storage, "objects": objects,
            "group": group,
        }  # fmt: skip
    finally:
        cluster_gen.delete_cluster_scoped(admin, applied.cluster_scoped)


def test_generated_namespace_becomes_nodes_with_the_fields_rules_join_on(
    kube: KubeServer, store: Store, generated: dict[str, Any], cluster: str
) -> None:
    ns, group = generated["namespace"], generated["group"]
    result = ingest(store, kube.kubeconfig, custom_resources=[f"widgets.{group}"])
    assert result.summary.cluster == cluster
    assert result.summary.errors == []
    assert f"Widget.{group}" in {k.spec.class_name for k in result.kinds}
    got = nodes(store)

    # Every generated object is a node, under its ref; every node is well-formed.
    for obj in generated["objects"]:
        spec = next(s for s in builtin_kinds() if s.kind == obj["kind"])
        namespace = ns if spec.namespaced else None
        assert node_ref(spec.class_name, namespace, obj["metadata"]["name"], cluster) in got
    for n in got.values():
        assert all(PROPERTY_KEY.match(key) for key in n if key != "_labels"), n
        assert (n["source"], n["domain"], n["cluster"]) == ("k8s", "k8s", cluster)
        assert n.get("deleted_at") is None
        assert isinstance(native(n["created_at"]), datetime)
        assert n["api_version"] and n["uid"] and n["resource_version"]

    check_pods(store, generated)
    check_storage(store, generated, cluster)
    check_network(store, generated)
    check_workloads(store, generated)
    check_events(store, generated)
    check_cluster_scoped(got, generated, cluster)
    check_custom_resources(store, generated, cluster)


def a_deployment_pod(store: Store, generated: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The app name and the node of a pod of the namespace's first Deployment."""
    ns = generated["namespace"]
    app = next(o for o in generated["objects"] if o["kind"] == "Deployment")["metadata"]["name"]
    pods = in_namespace(store, ns, "Pod").values()
    return app, next(p for p in pods if f"app={app}" in p["labels"])


def check_pods(store: Store, generated: dict[str, Any]) -> None:
    ns = generated["namespace"]
    pods = in_namespace(store, ns, "Pod")
    assert len(pods) == 25
    app, pod = a_deployment_pod(store, generated)
    replica_set = pod["controller_name"]
    assert pod["_labels"] == ["K8s", "Object", "Pod"]
    assert pod["owners"] == [f"ReplicaSet/{replica_set}"]
    assert (pod["controller_kind"], pod["k8s.owner.kind"]) == ("ReplicaSet", "ReplicaSet")
    assert pod["k8s.owner.name"] == replica_set and replica_set.startswith(f"{app}-")
    assert (pod["k8s.pod.name"], pod["k8s.namespace.name"]) == (pod["name"], ns)
    assert pod["k8s.pod.uid"] == pod["uid"] and pod["k8s.node.name"] == generated["node"]
    assert (pod["kind"], pod["api_group"], pod["api_version"]) == ("Pod", "", "v1")
    assert f"{app}-config" in pod["configmap_names"]
    assert "kube-root-ca.crt" in pod["configmap_names"]  # the projected token volume's
    assert f"{app}-env" in pod["secret_names"]
    assert pod["service_account"] in {"default", app}
    assert f"app={app}" in pod["labels"] and pod["containers"] and pod["images"]
    assert all("://" not in c and len(c) == 64 for c in pod["container_ids"])
    assert pod["phase"] == "Running" and isinstance(pod["restarts"], int)
    assert not [k for k in pod if k.startswith("k8s.pod.label.")]
    every = list(pods.values())
    assert all(("Ready=True" in p["conditions"]) == p["ready"] for p in every)
    assert any(p["restarts"] > 0 for p in every)
    assert any(not p["ready"] and p["phase"] == "Running" for p in every)  # crash-looping
    assert any(p["phase"] == "Succeeded" for p in every)  # a Job's
    assert any("registry-pull" in p["secret_names"] for p in every)  # imagePullSecrets
    assert any(len(p["containers"]) > len(p["images"]) or "migrate" in p["containers"]
               for p in every)  # an init container  # fmt: skip


def check_storage(store: Store, generated: dict[str, Any], cluster: str) -> None:
    ns = generated["namespace"]
    sts = next(o for o in generated["objects"] if o["kind"] == "StatefulSet")["metadata"]["name"]
    stateful = in_namespace(store, ns, "StatefulSet.apps")[sts]
    assert stateful["claim_templates"] == ["data"] and stateful["selector"] == [f"app={sts}"]
    assert stateful["k8s.statefulset.name"] == sts
    assert stateful["replicas"] >= 1 and stateful["ready_replicas"] == stateful["replicas"]
    assert in_namespace(store, ns, "Pod")[f"{sts}-0"]["claim_names"] == [f"data-{sts}-0"]
    claim = in_namespace(store, ns, "PersistentVolumeClaim")[f"data-{sts}-0"]
    assert claim["phase"] == "Bound" and claim["storage_class"] == generated["storage"]
    assert claim["k8s.persistentvolumeclaim.name"] == claim["name"]
    volume = nodes(store)[node_ref("PersistentVolume", None, claim["volume_name"], cluster)]
    assert volume.get("namespace") is None
    assert (volume["claim_namespace"], volume["claim_name"]) == (ns, claim["name"])
    assert volume["storage_class"] == claim["storage_class"] and volume["phase"] == "Bound"
    assert volume["k8s.persistentvolume.name"] == volume["name"]


def check_network(store: Store, generated: dict[str, Any]) -> None:
    ns = generated["namespace"]
    app, pod = a_deployment_pod(store, generated)
    service = in_namespace(store, ns, "Service")[app]
    assert service["selector"] == [f"app={app}"] and service["service_type"] == "ClusterIP"
    assert service["k8s.service.name"] == app
    slices = in_namespace(store, ns, "EndpointSlice.discovery.k8s.io").values()
    endpoints = next(s for s in slices if s["k8s.service.name"] == app)
    assert pod["name"] in endpoints["target_pods"]
    assert endpoints["owners"] == [f"Service/{app}"]
    ingress = next(iter(in_namespace(store, ns, "Ingress.networking.k8s.io").values()))
    assert ingress["backend_services"] == [ingress["name"]]


def check_workloads(store: Store, generated: dict[str, Any]) -> None:
    ns = generated["namespace"]
    app, pod = a_deployment_pod(store, generated)
    deployment = in_namespace(store, ns, "Deployment.apps")[app]
    assert deployment["selector"] == [f"app={app}"] and deployment["selector_expressions"] == []
    assert deployment["k8s.deployment.name"] == app and deployment["replicas"] >= 1
    assert deployment["ready_replicas"] == deployment["replicas"]
    assert deployment["k8s.deployment.uid"] == deployment["uid"]
    replica_set = in_namespace(store, ns, "ReplicaSet.apps")[pod["controller_name"]]
    assert replica_set["owners"] == [f"Deployment/{app}"]
    # The owners' UIDs, as the API server gave them, so the rules can tell incarnations apart.
    assert replica_set["owner_uids"] == [deployment["uid"]]
    assert pod["owner_uids"] == [replica_set["uid"]]
    assert replica_set["k8s.replicaset.name"] == replica_set["name"]
    assert f"pod-template-hash={replica_set['name'].rsplit('-', 1)[1]}" in replica_set["selector"]
    jobs = in_namespace(store, ns, "Job.batch").values()
    job = next(j for j in jobs if j.get("controller_kind") == "CronJob")
    assert job["selector"] == [f"batch.kubernetes.io/controller-uid={job['uid']}"]
    assert job["k8s.job.name"] == job["name"]
    cron = in_namespace(store, ns, "CronJob.batch")[job["controller_name"]]
    assert cron["schedule"] and cron["k8s.cronjob.name"] == cron["name"]
    hpa = next(iter(in_namespace(store, ns, "HorizontalPodAutoscaler.autoscaling").values()))
    assert (hpa["target_kind"], hpa["target_api_version"]) == ("Deployment", "apps/v1")
    assert hpa["target_name"] == hpa["name"] and hpa["k8s.hpa.name"] == hpa["name"]
    budgets = in_namespace(store, ns, "PodDisruptionBudget.policy")
    assert budgets["expressions"]["selector"] == ["app=db", "tier=backend"]
    assert budgets["expressions"]["selector_expressions"] == [
        "track NotIn canary,beta",
        "zone Exists",
    ]


def check_events(store: Store, generated: dict[str, Any]) -> None:
    ns = generated["namespace"]
    pods = in_namespace(store, ns, "Pod")
    # Core v1 Events, listed as korrel8r names them: k8s:Event.
    events = list(in_namespace(store, ns, "Event").values())
    event = next(e for e in events if e["k8s.object.kind"] == "Pod")
    assert event["k8s.object.uid"] == pods[event["k8s.object.name"]]["uid"]
    assert event["regarding_namespace"] == ns and event["k8s.object.api_version"] == "v1"
    assert event["reason"] and event["type"] in {"Normal", "Warning"} and event["note"]
    assert event["count"] >= 1 and isinstance(native(event["event_time"]), datetime)
    assert any(e["count"] > 1 and e["reason"] == "BackOff" for e in events)  # a series


def test_core_events_are_listed_and_both_event_apis_give_the_same_properties() -> None:
    """Core/v1 Events are listed (k8s:Event, as korrel8r names them); the events API serves
    the same Events again, so it is only recognised, in snapshots, as its own class."""
    listed = {(s.group, s.kind) for s in builtin_kinds()}
    assert ("", "Event") in listed and ("events.k8s.io", "Event") not in listed
    specs = {(s.group, s.kind): s for s in known_kinds()}
    about = {"apiVersion": "v1", "kind": "Pod", "name": "web-1", "namespace": "shop", "uid": "u1"}
    meta = {"name": "web-1.17a2b", "namespace": "shop", "uid": "e1"}
    core = {
        "apiVersion": "v1", "kind": "Event", "metadata": meta, "involvedObject": about,
        "reason": "BackOff", "message": "Back-off restarting", "type": "Warning", "count": 4,
        "firstTimestamp": "2026-01-12T11:40:00Z", "lastTimestamp": "2026-01-12T11:46:50Z",
    }  # fmt: skip
    api = {
        "apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": meta, "regarding": about,
        "reason": "BackOff", "note": "Back-off restarting", "type": "Warning",
        "deprecatedCount": 4, "deprecatedLastTimestamp": "2026-01-12T11:46:50Z",
    }  # fmt: skip
    core_row = to_row(core, specs[("", "Event")], "c1")
    api_row = to_row(api, specs[("events.k8s.io", "Event")], "c1")
    assert (core_row.class_name, api_row.class_name) == ("Event", "Event.events.k8s.io")
    assert core_row.ref.startswith("k8s:Event:{") and "v1" not in core_row.ref
    same = ["k8s.object.kind", "k8s.object.name", "k8s.object.uid", "regarding_namespace",
            "reason", "note", "type", "count", "event_time"]  # fmt: skip
    assert {k: core_row.properties[k] for k in same} == {k: api_row.properties[k] for k in same}
    assert core_row.properties["count"] == 4 and core_row.properties["note"]
    assert core_row.properties["event_time"] == datetime.fromisoformat("2026-01-12T11:46:50Z")


def check_cluster_scoped(got: dict[str, Any], generated: dict[str, Any], cluster: str) -> None:
    ns, node_name = generated["namespace"], generated["node"]
    namespace = got[node_ref("Namespace", None, ns, cluster)]
    assert namespace["k8s.namespace.name"] == ns and namespace.get("namespace") is None
    node = got[node_ref("Node", None, node_name, cluster)]
    assert node["node_ready"] is True and node["k8s.node.name"] == node_name
    assert node["k8s.node.uid"] == node["uid"]
    storage = got[node_ref("StorageClass.storage.k8s.io", None, generated["storage"], cluster)]
    assert storage["provisioner"] == "example.com/fast"


def check_custom_resources(store: Store, generated: dict[str, Any], cluster: str) -> None:
    ns, group = generated["namespace"], generated["group"]
    secrets_ = in_namespace(store, ns, "Secret")
    assert secrets_ and "c2VjcmV0" not in repr(secrets_)  # metadata only, never the data
    widgets = in_namespace(store, ns, f"Widget.{group}")
    assert set(widgets) == {"w1", "w2"}
    w1 = widgets["w1"]
    assert w1["_labels"] == ["K8s", "Object", "Widget"]
    assert w1["ref"] == node_ref(f"Widget.{group}", ns, "w1", cluster)
    assert (w1["kind"], w1["api_group"], w1["api_version"]) == ("Widget", group, f"{group}/v1")
    assert w1["name_serviceAccountName"] == "sa1"
    assert w1["ref_targetRef"] == "Deployment/web" and w1["name_configRef"] == "cfg"
    assert "size" not in w1 and w1["labels"] == ["app=web"]


def test_custom_resource_selection(kube: KubeServer, widgets: str) -> None:
    """custom_resources: all, none, or a list of plural.group."""
    resource = f"widgets.{widgets}"
    for selection, expected in (("all", True), ("none", False), ([resource], True), ([], False)):
        settings = settings_for(kube.kubeconfig, custom_resources=selection)
        conn = connect(settings, ADMIN, FAST)
        try:
            custom = {s.resource for s in kinds_to_list(conn, settings) if s.custom}
        finally:
            conn.close()
        assert (resource in custom) is expected, selection
        if selection != "all":
            assert custom <= {resource}


# --------------------------------------------------------------------------- listing


def test_pagination_streams_pages_of_two(
    kube: KubeServer, admin: k8s.ApiClient, store: Store, kube_namespace: str, cluster: str
) -> None:
    names = create_configmaps(admin, kube_namespace, 25)
    total = len(rest(admin, "GET", "/api/v1/configmaps")["items"])  # other namespaces' too
    reports: list[tuple[int, int | None]] = []
    result = ingest(
        store, kube.kubeconfig, only=kinds("ConfigMap"), page_size=2,
        progress=lambda spec, seen, estimate: reports.append((seen, estimate)),
    )  # fmt: skip
    listed = kind_result(result, "ConfigMap")
    assert listed.complete and listed.objects == total
    assert listed.pages == math.ceil(total / 2)
    # Progress after every page, with the server's estimate of the total.
    assert [seen for seen, _ in reports] == [min(2 * i, total) for i in range(1, listed.pages + 1)]
    assert {estimate for _, estimate in reports} == {total}
    assert set(in_namespace(store, kube_namespace, "ConfigMap")) == set(names)


def test_update_and_delete_then_relist(
    kube: KubeServer, admin: k8s.ApiClient, store: Store, kube_namespace: str, cluster: str
) -> None:
    ns = kube_namespace
    create_configmaps(admin, ns, 3)
    only = kinds("ConfigMap", "Namespace")
    ingest(store, kube.kubeconfig, only=only)
    before = in_namespace(store, ns, "ConfigMap")

    base = f"/api/v1/namespaces/{ns}/configmaps"
    patch = {"metadata": {"labels": {"tier": "web"}}}
    rest(admin, "PATCH", f"{base}/cm-01", patch, content_type="application/merge-patch+json")
    rest(admin, "DELETE", f"{base}/cm-02")
    result = ingest(store, kube.kubeconfig, only=only)
    after = in_namespace(store, ns, "ConfigMap")

    assert kind_result(result, "ConfigMap").deleted == 1
    updated = after["cm-01"]
    assert "tier=web" in updated["labels"]
    assert native(updated["last_seen"]) > native(before["cm-01"]["last_seen"])
    assert native(updated["changed_at"]) > native(before["cm-01"]["changed_at"])
    assert updated["first_seen"] == before["cm-01"]["first_seen"]
    assert updated["resource_version"] != before["cm-01"]["resource_version"]
    unchanged = after["cm-00"]
    assert native(unchanged["last_seen"]) > native(before["cm-00"]["last_seen"])
    assert unchanged["changed_at"] == before["cm-00"]["changed_at"]
    # The deleted object keeps its node, marked deleted, for the retention window.
    gone = after["cm-02"]
    assert gone["deleted_at"] is not None
    assert gone["last_seen"] == before["cm-02"]["last_seen"]
    assert after["cm-00"].get("deleted_at") is None

    # Created again under the same name: the same node, alive again.
    rest(admin, "POST", base, configmap("cm-02"))
    ingest(store, kube.kubeconfig, only=only)
    again = in_namespace(store, ns, "ConfigMap")["cm-02"]
    assert again.get("deleted_at") is None and again["uid"] != gone["uid"]


def test_watch_applies_changes_without_a_relist(
    kube: KubeServer, admin: k8s.ApiClient, store: Store, kube_namespace: str, cluster: str
) -> None:
    ns = kube_namespace
    base = f"/api/v1/namespaces/{ns}/configmaps"
    rest(admin, "POST", base, configmap("keep"))
    rest(admin, "POST", base, configmap("gone"))
    settings = settings_for(kube.kubeconfig)
    conn = connect(settings, ADMIN, FAST)
    result = ingest_cluster(store, conn, settings, kinds=kinds("ConfigMap"))
    # An edge from the node that will be deleted: the deletion closes it.
    keep, gone = (node_ref("ConfigMap", ns, name, cluster) for name in ("keep", "gone"))
    store.upsert_edges([EdgeRow(start=gone, goal=keep, type="MOUNTS", rule="test")])

    watch = ClusterWatch(store, conn, cluster, result.kinds, settings.page_size)
    watch.start()
    try:
        patch = {"metadata": {"labels": {"tier": "db"}}}
        rest(admin, "PATCH", f"{base}/keep", patch, content_type="application/merge-patch+json")
        rest(admin, "POST", base, configmap("new"))
        rest(admin, "DELETE", f"{base}/gone")

        def seen() -> bool:
            got = in_namespace(store, ns, "ConfigMap")
            return (
                "tier=db" in got["keep"]["labels"]
                and "new" in got
                and got["gone"].get("deleted_at") is not None
            )

        wait_for("the watched changes in the graph", seen)
    finally:
        watch.stop()
        conn.close()
    assert watch.relists["ConfigMap"] == 0
    assert watch.events["ConfigMap"] >= 3
    assert edges(store)[(gone, "MOUNTS", keep)]["valid_to"] is not None
    assert in_namespace(store, ns, "ConfigMap")["keep"].get("deleted_at") is None


def test_an_expired_watch_relists_and_sweeps(
    kube: KubeServer,
    admin: k8s.ApiClient,
    store: Store,
    kube_namespace: str,
    cluster: str,
    widgets: str,
) -> None:
    """410 Gone (the server no longer has the resourceVersion): a complete relist of the
    kind, which sweeps what vanished meanwhile, then the watch goes on from it."""
    ns, group = kube_namespace, widgets
    base = f"/apis/{group}/v1/namespaces/{ns}/widgets"
    for name in ("w1", "w2"):
        rest(admin, "POST", base, widget(name, group, {}))
    settings = settings_for(kube.kubeconfig, custom_resources=[f"widgets.{group}"])
    conn = connect(settings, ADMIN, FAST)
    (spec,) = [s for s in kinds_to_list(conn, settings) if s.custom]
    result = ingest_cluster(store, conn, settings, kinds=[spec])
    rest(admin, "DELETE", f"{base}/w1")  # unseen: the watch starts too late
    listed = result.kinds[0]
    # Older than the server's watch cache of a kind defined just now: 410 Gone.
    listed.resource_version = "1"
    watch = ClusterWatch(store, conn, cluster, [listed], settings.page_size)
    watch.start()
    try:
        wait_for("the relist", lambda: watch.relists[spec.class_name] == 1)
        rest(admin, "POST", base, widget("after", group, {}))

        def seen() -> bool:
            got = in_namespace(store, ns, spec.class_name)
            return got["w1"].get("deleted_at") is not None and "after" in got

        wait_for("the sweep and the watched change", seen)
    finally:
        watch.stop()
        conn.close()
    assert watch.relists[spec.class_name] == 1
    assert in_namespace(store, ns, spec.class_name)["w2"].get("deleted_at") is None


def test_run_lists_then_watches_until_stopped(
    kube: KubeServer,
    admin: k8s.ApiClient,
    neo4j_server: Neo4jServer,
    store: Store,
    kube_namespace: str,
) -> None:
    """What ``korrel8 ingest k8s`` without --once does."""
    create_configmaps(admin, kube_namespace, 1)
    k8s_settings = settings_for(kube.kubeconfig, contexts=[ADMIN])
    settings = neo4j_server.settings(sources=SourcesSettings(kubernetes=k8s_settings))
    stop = threading.Event()
    runner = threading.Thread(target=run, args=(settings, store, stop), daemon=True)
    runner.start()
    try:
        wait_for("the listing", lambda: "cm-00" in in_namespace(store, kube_namespace))
        rest(admin, "POST", f"/api/v1/namespaces/{kube_namespace}/configmaps", configmap("late"))
        wait_for("the watched creation", lambda: "late" in in_namespace(store, kube_namespace))
    finally:
        stop.set()
        runner.join(30)
    assert not runner.is_alive()


# --------------------------------------------------------------------------- failures


def test_forbidden_secrets_are_skipped_and_kept(
    kube: KubeServer,
    admin: k8s.ApiClient,
    store: Store,
    kube_namespace: str,
    cluster: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ns = kube_namespace
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db-password"},
              "stringData": {"password": "hunter2"}}  # fmt: skip
    rest(admin, "POST", f"/api/v1/namespaces/{ns}/secrets", secret)
    ingest(store, kube.kubeconfig, only=kinds("Secret"))
    assert "db-password" in in_namespace(store, ns, "Secret")

    create_configmaps(admin, ns, 2)
    with caplog.at_level(logging.WARNING, logger="ingest"):
        result = ingest(store, kube.kubeconfig, context=READONLY)
    assert result.summary.cluster == cluster  # the same cluster through either credential
    secrets_kind = kind_result(result, "Secret")
    assert secrets_kind.status == "forbidden" and "403" in str(secrets_kind.error)
    assert [k.spec.kind for k in result.kinds if not k.complete] == ["Secret"]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "Secret" in warnings[0].getMessage()
    kept = in_namespace(store, ns, "Secret")["db-password"]
    assert kept.get("deleted_at") is None
    assert set(in_namespace(store, ns, "ConfigMap")) == {"cm-00", "cm-01"}
    # Least privilege is a normal setup: Secrets are skipped, not an error of the source.
    assert result.summary.skipped_kinds == {"Secret": "forbidden"}
    assert result.summary.errors == []


def proxied_kubeconfig(kube: KubeServer, proxy: FaultyProxy, path: Path) -> Path:
    """The admin kubeconfig, with the server behind the proxy."""
    config = yaml.safe_load(kube.admin_kubeconfig.read_text())
    for entry in config["clusters"]:
        entry["cluster"]["server"] = proxy.url
    path.write_text(yaml.safe_dump(config))
    return path


def cut_at_page(
    proxy: FaultyProxy, page: int, refuse: bool = True
) -> Callable[[KindSpec, int, int | None], None]:
    """A progress callback that cuts the connection 1000 bytes into the next page."""

    def on_page(spec: KindSpec, seen: int, total: int | None) -> None:
        if seen == 2 * page:
            proxy.cut_after(1000, refuse=refuse)

    return on_page


@pytest.fixture
def proxy(kube: KubeServer) -> Iterator[FaultyProxy]:
    host, _, port = kube.api_url.removeprefix("https://").rpartition(":")
    with FaultyProxy(host, int(port)) as p:
        yield p


def test_broken_connection_mid_listing_does_not_sweep(
    kube: KubeServer,
    admin: k8s.ApiClient,
    store: Store,
    kube_namespace: str,
    proxy: FaultyProxy,
    tmp_path: Path,
) -> None:
    ns = kube_namespace
    names = create_configmaps(admin, ns, 25)
    kubeconfig = proxied_kubeconfig(kube, proxy, tmp_path / "kubeconfig")
    only = kinds("ConfigMap") + kinds("Namespace")
    assert kind_result(ingest(store, kubeconfig, only=only, page_size=2), "ConfigMap").complete
    for name in names[:5]:
        rest(admin, "DELETE", f"/api/v1/namespaces/{ns}/configmaps/{name}")

    broken = ingest(store, kubeconfig, only=only, page_size=2, progress=cut_at_page(proxy, 2))
    listed = kind_result(broken, "ConfigMap")
    assert listed.status == "failed" and "gave up after 3 tries" in str(listed.error)
    # Cut part-way: the page read ahead while the store wrote may have got through too.
    assert 2 <= listed.pages < 13 and proxy.cuts >= 1
    assert kind_result(broken, "Namespace").status == "failed"  # it went on to the next kind
    after = in_namespace(store, ns, "ConfigMap")
    assert set(after) == set(names)
    assert all(n.get("deleted_at") is None for n in after.values())  # nothing swept

    proxy.heal()
    healed = ingest(store, kubeconfig, only=only, page_size=2)
    assert kind_result(healed, "ConfigMap").deleted == 5
    after = in_namespace(store, ns, "ConfigMap")
    assert {n for n, v in after.items() if v.get("deleted_at") is not None} == set(names[:5])


def test_a_reset_connection_is_retried(
    kube: KubeServer,
    admin: k8s.ApiClient,
    store: Store,
    kube_namespace: str,
    proxy: FaultyProxy,
    tmp_path: Path,
) -> None:
    names = create_configmaps(admin, kube_namespace, 25)
    kubeconfig = proxied_kubeconfig(kube, proxy, tmp_path / "kubeconfig")
    cut = cut_at_page(proxy, 3, refuse=False)  # one reset in the middle of the listing
    result = ingest(store, kubeconfig, only=kinds("ConfigMap"), page_size=2, progress=cut)
    assert proxy.cuts == 1
    assert kind_result(result, "ConfigMap").complete
    assert set(in_namespace(store, kube_namespace, "ConfigMap")) == set(names)


# --------------------------------------------------------------------------- cluster and CLI


def test_cluster_name_is_configured_or_the_kube_system_uid(kube: KubeServer, cluster: str) -> None:
    for names, expected in (({}, cluster), ({ADMIN: "prod-eu"}, "prod-eu")):
        settings = settings_for(kube.kubeconfig, cluster_names=names)
        conn = connect(settings, ADMIN, FAST)
        try:
            assert cluster_name(conn, settings) == expected
        finally:
            conn.close()


def test_cli_once_lists_and_summarizes(
    kube: KubeServer,
    neo4j_server: Neo4jServer,
    store: Store,
    kube_namespace: str,
    admin: k8s.ApiClient,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    create_configmaps(admin, kube_namespace, 3)
    monkeypatch.chdir(tmp_path)  # no korrel8.yaml from the working directory
    monkeypatch.setenv("NEO4J_URI", neo4j_server.uri)
    monkeypatch.setenv("NEO4J_USER", neo4j_server.user)
    monkeypatch.setenv("NEO4J_PASSWORD", neo4j_server.password)
    monkeypatch.setenv("KUBECONFIG", str(kube.kubeconfig))
    monkeypatch.setenv("KORREL8_SOURCES__KUBERNETES__CUSTOM_RESOURCES", '"none"')
    app = Typer()
    app.command("k8s")(k8s_command)
    app.command("other")(lambda: None)  # a group, so that the command is named as in korrel8
    result = CliRunner().invoke(app, ["k8s", "--once", "--context", ADMIN])
    assert result.exit_code == 0, result.output
    for kind in ("ConfigMap", "Pod", "Event", "total"):
        assert kind in result.output
    assert set(in_namespace(store, kube_namespace, "ConfigMap")) == {"cm-00", "cm-01", "cm-02"}

    result = CliRunner().invoke(app, ["k8s", "--once", "--context", ADMIN, "--output", "json"])
    assert result.exit_code == 0, result.output
    [cluster] = [json.loads(line) for line in result.stdout.splitlines()]  # a line per cluster
    assert cluster["context"] == ADMIN and cluster["ok"] is True
    kinds = {k["kind"]: k for k in cluster["kinds"]}
    assert kinds["ConfigMap"]["objects"] >= 3 and kinds["ConfigMap"]["status"] == "ok"
    # Off a terminal, progress is a line or two per cluster, not a bar per kind.
    assert len(result.stderr.splitlines()) <= 2, result.stderr

    result = CliRunner().invoke(app, ["k8s", "--once", "--context", "nope"])
    assert result.exit_code == 1 and "no context nope" in result.output


# --------------------------------------------------------------------------- mass delete


def half_of_a_kind(admin: k8s.ApiClient, namespace: str) -> list[str]:
    """ConfigMaps in ``namespace``, as many as the cluster holds elsewhere (at least 40):
    deleting half of them deletes at least a quarter of the kind, beyond the 10% share."""
    elsewhere = len(rest(admin, "GET", "/api/v1/configmaps")["items"])
    names = [f"cm-{i:03d}" for i in range(max(40, elsewhere))]
    for name in names:
        rest(admin, "POST", f"/api/v1/namespaces/{namespace}/configmaps", configmap(name))
    return names


def test_a_listing_that_suddenly_lacks_half_a_kind_sweeps_when_the_next_agrees(
    kube: KubeServer, admin: k8s.ApiClient, store: Store, kube_namespace: str, cluster: str
) -> None:
    ns = kube_namespace
    names = half_of_a_kind(admin, ns)
    only = kinds("ConfigMap")
    assert kind_result(ingest(store, kube.kubeconfig, only=only), "ConfigMap").deleted == 0
    gone = names[: len(names) // 2]
    for name in gone:
        rest(admin, "DELETE", f"/api/v1/namespaces/{ns}/configmaps/{name}")

    first = ingest(store, kube.kubeconfig, only=only)
    listed = kind_result(first, "ConfigMap")
    assert listed.complete and listed.deleted == 0  # held back, said, partial
    assert first.summary.partial == listed.held and len(listed.held) == 1
    assert f"ConfigMap in cluster {cluster}: the listing lacks {len(gone)} of" in listed.held[0]
    assert "if the next complete listing lacks them too" in listed.held[0]
    got = in_namespace(store, ns, "ConfigMap")
    assert all(got[name].get("deleted_at") is None for name in names)

    second = ingest(store, kube.kubeconfig, only=only)
    listed = kind_result(second, "ConfigMap")
    assert listed.deleted == len(gone) and not listed.held and not second.summary.partial
    got = in_namespace(store, ns, "ConfigMap")
    assert {name for name in names if got[name].get("deleted_at") is not None} == set(gone)

    # Back to normal: one more listing holds nothing and deletes nothing.
    third = ingest(store, kube.kubeconfig, only=only)
    assert kind_result(third, "ConfigMap").deleted == 0 and not third.summary.partial


def test_a_mass_deletion_held_at_the_first_listing_is_confirmed_by_the_watch(
    kube: KubeServer, admin: k8s.ApiClient, store: Store, kube_namespace: str, cluster: str
) -> None:
    """Objects gone before the watch began send it no DELETED event: the watch lists the
    kind again after an interval, and that listing, agreeing, sweeps them."""
    ns = kube_namespace
    names = half_of_a_kind(admin, ns)
    only = kinds("ConfigMap")
    ingest(store, kube.kubeconfig, only=only)
    gone = names[: len(names) // 2]
    for name in gone:
        rest(admin, "DELETE", f"/api/v1/namespaces/{ns}/configmaps/{name}")
    settings = settings_for(kube.kubeconfig)
    conn = connect(settings, ADMIN, FAST)
    try:
        result = ingest_cluster(store, conn, settings, kinds=only)
        assert kind_result(result, "ConfigMap").held
        watch = ClusterWatch(store, conn, cluster, result.kinds, settings.page_size, 1.0)
        watch.start()
        try:

            def swept() -> bool:
                got = in_namespace(store, ns, "ConfigMap")
                return all(got[name].get("deleted_at") is not None for name in gone)

            wait_for("the confirming listing", swept)
        finally:
            watch.stop()
    finally:
        conn.close()
    got = in_namespace(store, ns, "ConfigMap")
    assert all(got[name].get("deleted_at") is None for name in names[len(gone) :])


def test_a_listing_that_skipped_an_object_is_partial(
    kube: KubeServer,
    admin: k8s.ApiClient,
    store: Store,
    kube_namespace: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An object korrel8 cannot represent is skipped; the kind is then not swept. A real
    API server does not serve such an object (it validates what it stores): the
    conversion is made to refuse one, a stand-in for the fault."""
    ns = kube_namespace
    names = create_configmaps(admin, ns, 4)
    only = kinds("ConfigMap")
    ingest(store, kube.kubeconfig, only=only)
    rest(admin, "DELETE", f"/api/v1/namespaces/{ns}/configmaps/{names[0]}")

    def refuse_one(obj: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        if obj["metadata"]["name"] == names[1] and obj["metadata"]["namespace"] == ns:
            raise ValueError("restartCount beyond 64 bits (injected)")
        return to_row(obj, *args, **kwargs)

    monkeypatch.setattr("ingest.k8s.sync.to_row", refuse_one)
    result = ingest(store, kube.kubeconfig, only=only)
    listed = kind_result(result, "ConfigMap")
    assert listed.skipped == 1 and listed.deleted == 0
    assert any("1 objects korrel8 cannot represent" in line for line in result.summary.partial)
    got = in_namespace(store, ns, "ConfigMap")
    assert got[names[0]].get("deleted_at") is None  # not swept: the listing was partial
    assert got[names[2]].get("deleted_at") is None

    monkeypatch.undo()
    healed = ingest(store, kube.kubeconfig, only=only)
    assert kind_result(healed, "ConfigMap").deleted == 1 and not healed.summary.partial
