"""The metric ingester against a real Prometheus scraping kube-state-metrics-style series."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from ingest import metrics
from ingest.http import connect
from korrel8.config import HttpSourceSettings
from korrel8.graph.store import Store
from korrel8.model import Query
from tests.graph import nodes
from tests.servers.common import free_port
from tests.servers.faulty_http import FaultyServer
from tests.servers.prom import PromStack, exposition, wait_until

KSM = ("kube-state-metrics", "10.128.0.5:8080")
KUBELET = ("kubelet", "10.0.0.5:10250")
KSM_OWN = {"pod": "kube-state-metrics-6f7b9c5d8-x2x9z", "container": "kube-state-metrics"}
SCRAPE_WAIT = 30.0
PVC = "data-db-0"
PHASES = ("Pending", "Running", "Succeeded", "Failed", "Unknown")

Sample = tuple[str, dict[str, str], float]


def pod_samples(pod: str, containers: tuple[str, ...]) -> list[Sample]:
    ident = {"namespace": "shop", "pod": pod}
    samples: list[Sample] = [
        ("kube_pod_info", {**ident, "node": "worker-1", "uid": f"uid-{pod}"}, 1),
        *(("kube_pod_status_phase", {**ident, "phase": p}, int(p == "Running")) for p in PHASES),
    ]
    for container in containers:
        labels = {**ident, "container": container}
        samples.append(("kube_pod_container_info", {**labels, "image": f"{container}:1"}, 1))
        samples.append(("kube_pod_container_status_restarts_total", labels, 0))
    return samples


def ksm_series(*extra: Sample, job: bool = True) -> str:
    deployment = {"namespace": "shop", "deployment": "web", **KSM_OWN}
    samples: list[Sample] = [
        *pod_samples("web-0", ("app", "sidecar")),
        ("kube_deployment_spec_replicas", deployment, 3),
        ("kube_deployment_status_replicas_available", deployment, 3),
        ("kube_node_info", {"node": "worker-1", "kernel_version": "6.1"}, 1),
        ("kube_persistentvolumeclaim_info", {"namespace": "db", "persistentvolumeclaim": PVC}, 1),
        *extra,
    ]
    if job:
        samples.append(("kube_job_failed", {"namespace": "batch", "job_name": "nightly-report"}, 0))
    return exposition(*samples)


def kubelet_series() -> str:
    pvc = {"namespace": "db", "persistentvolumeclaim": "data-db-0", "metrics_path": "/metrics"}
    cadvisor = {"namespace": "shop", "pod": "web-0", "metrics_path": "/metrics/cadvisor"}
    samples: list[Sample] = [
        ("kubelet_volume_stats_capacity_bytes", pvc, 10e9),
        ("kubelet_volume_stats_available_bytes", pvc, 5e9),
        ("kubelet_volume_stats_used_bytes", pvc, 5e9),
    ]
    for name in ("container_cpu_usage_seconds_total", "container_memory_working_set_bytes"):
        samples.append((name, {**cadvisor, "id": "/kubepods/podu1"}, 1))  # the pod's cgroup
        samples.append((name, {**cadvisor, "container": "POD", "id": "/kubepods/podu1/s"}, 1))
        for container in ("app", "sidecar"):
            labels = {**cadvisor, "container": container, "id": f"/kubepods/podu1/{container}"}
            samples.append((name, {**labels, "image": f"{container}:1"}, 1))
    return exposition(*samples)


def metric_nodes(store: Store) -> dict[str, dict[str, Any]]:
    """Metric nodes by a short name: kind/namespace/name[/container]."""
    found = {}
    for node in nodes(store).values():
        if node["class"] == "metric":
            parts = [node["subject_kind"], node.get("k8s.namespace.name"), node["name"]]
            found["/".join(p for p in parts if p)] = node
    return found


def scraped(prom: PromStack, promql: str) -> bool:
    return bool(prom.query(promql))


EXPECTED = {
    "Pod/shop/web-0",
    "Container/shop/web-0/app",
    "Container/shop/web-0/sidecar",
    "Deployment/shop/web",
    "Node/worker-1",
    "Job/batch/nightly-report",
    "PersistentVolumeClaim/db/data-db-0",
}


def test_one_node_per_object_with_a_promql_that_fetches_its_metrics(
    prom: PromStack, store: Store
) -> None:
    prom.push(*KSM, ksm_series())
    prom.push(*KUBELET, kubelet_series())
    wait_until(
        lambda: (
            scraped(prom, "kube_job_failed") and scraped(prom, "kubelet_volume_stats_used_bytes")
        ),
        SCRAPE_WAIT,
        "the first scrape",
    )

    summary = metrics.ingest(store, prom.prometheus(), window=prom.window())
    assert summary.ok, summary.errors
    got = metric_nodes(store)
    # No node for KSM's own pod: the deployment series only carry its labels.
    assert set(got) == EXPECTED
    assert summary.objects["metric:metric"] == len(EXPECTED)

    pod, app = got["Pod/shop/web-0"], got["Container/shop/web-0/app"]
    assert pod["metric_names"] == [
        "container_cpu_usage_seconds_total",
        "container_memory_working_set_bytes",
        "kube_pod_info",
        "kube_pod_status_phase",
    ]
    assert app["metric_names"] == [
        "container_cpu_usage_seconds_total",
        "container_memory_working_set_bytes",
        "kube_pod_container_info",
        "kube_pod_container_status_restarts_total",
    ]
    assert app["k8s.namespace.name"] == "shop" and app["k8s.pod.name"] == "web-0"
    assert app["k8s.container.name"] == "app" and app["raw_labels"] == [
        "container=app",
        "namespace=shop",
        "pod=web-0",
    ]
    deployment = got["Deployment/shop/web"]
    assert "k8s.pod.name" not in deployment and deployment["k8s.deployment.name"] == "web"
    assert got["Job/batch/nightly-report"]["k8s.job.name"] == "nightly-report"
    assert got["Job/batch/nightly-report"]["promql"] == (
        'kube_job_failed{namespace="batch", job_name="nightly-report"}'
    )
    assert (
        got["PersistentVolumeClaim/db/data-db-0"]["k8s.persistentvolumeclaim.name"] == "data-db-0"
    )

    for key, node in got.items():
        assert node["source"] == "prometheus-metrics" and node["cluster"] == "c1"
        assert node["_labels"] == ["Metric", "Object"]
        assert str(Query.parse(node["ref"])) == node["ref"]
        # The node's PromQL, run on the real Prometheus, returns series of its metrics only,
        # all of them, and only about its object.
        series = prom.query(node["promql"])
        assert {s["metric"]["__name__"] for s in series} == set(node["metric_names"]), key
        for s in series:
            for label in node["raw_labels"]:
                name, _, value = label.partition("=")
                assert s["metric"].get(name) == value, (key, s)
    # A container's PromQL selects that container's series alone.
    assert len(prom.query(app["promql"])) == 4


def test_the_node_count_grows_with_objects_not_series(prom: PromStack, store: Store) -> None:
    prom.push(*KSM, ksm_series())
    prom.push(*KUBELET, kubelet_series())
    wait_until(lambda: scraped(prom, "kube_job_failed"), SCRAPE_WAIT, "the first scrape")
    metrics.ingest(store, prom.prometheus(), window=prom.window())
    before = metric_nodes(store)

    # Many more series about the same objects: several reasons and resources per container.
    more: list[Sample] = []
    for container in ("app", "sidecar"):
        labels = {"namespace": "shop", "pod": "web-0", "container": container}
        for reason in (
            "CrashLoopBackOff",
            "ErrImagePull",
            "ImagePullBackOff",
            "CreateContainerError",
        ):
            more.append(
                ("kube_pod_container_status_waiting_reason", {**labels, "reason": reason}, 0)
            )
        for resource in ("cpu", "memory", "ephemeral_storage"):
            more.append(
                ("kube_pod_container_resource_requests", {**labels, "resource": resource}, 1)
            )
    prom.push(*KSM, ksm_series(*more))
    wait_until(
        lambda: scraped(prom, "kube_pod_container_resource_requests"), SCRAPE_WAIT, "the scrape"
    )
    assert metrics.ingest(store, prom.prometheus(), window=prom.window()).ok
    after = metric_nodes(store)
    assert set(after) == set(before)
    assert len(after["Container/shop/web-0/app"]["metric_names"]) == 6
    assert after["Container/shop/web-0/app"]["ref"] == before["Container/shop/web-0/app"]["ref"]

    # One more pod with one container: two more nodes.
    prom.push(*KSM, ksm_series(*more, *pod_samples("web-1", ("app",))))
    wait_until(lambda: scraped(prom, 'kube_pod_info{pod="web-1"}'), SCRAPE_WAIT, "the new pod")
    assert metrics.ingest(store, prom.prometheus(), window=prom.window()).ok
    assert set(metric_nodes(store)) == set(before) | {
        "Pod/shop/web-1",
        "Container/shop/web-1/app",
    }


def test_an_object_whose_series_are_gone_is_swept(prom: PromStack, store: Store) -> None:
    prom.push(*KSM, ksm_series())
    wait_until(lambda: scraped(prom, "kube_job_failed"), SCRAPE_WAIT, "the first scrape")
    window = timedelta(seconds=3)
    assert metrics.ingest(store, prom.prometheus(), window=min(window, prom.window())).ok
    assert "Job/batch/nightly-report" in metric_nodes(store)

    prom.push(*KSM, ksm_series(job=False))
    with connect("prometheus", prom.prometheus()) as source:
        wait_until(
            lambda: not metrics.list_series(source, "kube_job_failed", window),
            SCRAPE_WAIT,
            "the job's series to leave the window",
        )
    summary = metrics.ingest(store, prom.prometheus(), window=min(window, prom.window()))
    assert summary.ok and summary.deleted == 1
    got = metric_nodes(store)
    assert got["Job/batch/nightly-report"]["deleted_at"] is not None
    assert all(n.get("deleted_at") is None for k, n in got.items() if not k.startswith("Job/"))


@pytest.mark.parametrize("fault", ["broken-json", "not-json", "status-503", "down"])
def test_a_failing_prometheus_is_reported_and_nothing_swept(
    prom: PromStack, store: Store, faulty_http: FaultyServer, fault: str
) -> None:
    prom.push(*KSM, ksm_series())
    wait_until(lambda: scraped(prom, "kube_job_failed"), SCRAPE_WAIT, "the first scrape")
    assert metrics.ingest(store, prom.prometheus(), window=prom.window()).ok
    before = metric_nodes(store)

    url = f"http://127.0.0.1:{free_port()}" if fault == "down" else faulty_http.url(fault)
    broken = HttpSourceSettings(url=url, cluster="c1", retries=1, timeout=5)
    summary = metrics.ingest(store, broken)
    assert len(summary.errors) == 1 and "prometheus at http://127.0.0.1:" in summary.errors[0]
    assert metric_nodes(store) == before  # nothing swept, nothing rewritten


def test_a_changed_family_list_is_a_complete_listing(prom: PromStack, store: Store) -> None:
    prom.push(*KSM, ksm_series())
    wait_until(lambda: scraped(prom, "kube_node_info"), SCRAPE_WAIT, "the first scrape")
    metrics.ingest(store, prom.prometheus(), window=prom.window())
    summary = metrics.ingest(
        store, prom.prometheus(), window=prom.window(), families=["kube_node_info"]
    )
    live = {k for k, n in metric_nodes(store).items() if n.get("deleted_at") is None}
    assert live == {"Node/worker-1"} and summary.deleted == len(EXPECTED) - 1


@pytest.mark.xfail(
    strict=True,
    reason="korrel8/labels.py keeps KSM's own `container` on pod-level kube_pod_* series "
    "(the KSM 'pod' subject keeps container for every kube_pod_* family)",
)
def test_ksm_target_container_on_pod_series_names_no_container(
    prom: PromStack, store: Store
) -> None:
    # Without kube-prometheus' labeldrop, kube_pod_info carries KSM's container label.
    labels = {"namespace": "shop", "pod": "web-0", "container": "kube-state-metrics"}
    prom.push(*KSM, exposition(("kube_pod_info", labels, 1)))
    wait_until(lambda: scraped(prom, "kube_pod_info"), SCRAPE_WAIT, "the first scrape")
    metrics.ingest(store, prom.prometheus(), window=prom.window(), families=["kube_pod_info"])
    assert set(metric_nodes(store)) == {"Pod/shop/web-0"}


# The OLM operator's target labels (its ServiceMonitor has no honorLabels): csv_succeeded's
# own namespace arrives as exported_namespace (tests/data/labelsets.yaml, the OLM rows).
OLM = ("olm-operator-metrics", "10.130.0.23:8443")
OLM_TARGET = {
    "namespace": "openshift-operator-lifecycle-manager",
    "pod": "olm-operator-5d7c8c6b8d-9xk2p",
    "container": "olm-operator",
    "service": "olm-operator-metrics",
    "endpoint": "https-metrics",
}


def csv_succeeded(namespace: str, name: str) -> Sample:
    labels = {**OLM_TARGET, "exported_namespace": namespace, "name": name, "version": "1"}
    return ("csv_succeeded", labels, 1)


def test_exported_labels_keep_target_and_subject_in_one_node_each(
    prom: PromStack, store: Store
) -> None:
    prom.push(
        *OLM,
        exposition(
            csv_succeeded("cfe-test-namespace", "etcdoperator.v0.9.4"),
            csv_succeeded("cfe-test-namespace", "other.v1"),
            csv_succeeded("shop", "etcdoperator.v0.9.4"),
        ),
    )
    # kube-state-metrics scraped without honorLabels: its own pod in the plain labels, the
    # pod it reports on in exported_*; cAdvisor names the same pod with the plain labels.
    ksm_own = {"namespace": "monitoring", **KSM_OWN, "exported_namespace": "shop"}
    prom.push(
        *KSM,
        exposition(("kube_pod_info", {**ksm_own, "exported_pod": "web-0", "uid": "U-0"}, 1)),
    )
    cadvisor = {"namespace": "shop", "pod": "web-0", "metrics_path": "/metrics/cadvisor"}
    prom.push(*KUBELET, exposition(("container_memory_working_set_bytes", cadvisor, 1)))
    wait_until(
        lambda: all(
            scraped(prom, m)
            for m in ("csv_succeeded", "kube_pod_info", "container_memory_working_set_bytes")
        ),
        SCRAPE_WAIT,
        "the first scrape",
    )
    families = ["csv_succeeded", "kube_pod_info", "container_memory_working_set_bytes"]
    assert metrics.ingest(store, prom.prometheus(), window=prom.window(), families=families).ok
    got = [n for n in nodes(store).values() if n["class"] == "metric"]

    # One node per (target, subject): the OLM pod with each CSV it reports on.
    olm = {
        (n["subject.k8s.namespace.name"], n["k8s.clusterserviceversion.name"]): n
        for n in got
        if n.get("k8s.pod.name") == OLM_TARGET["pod"]
    }
    assert set(olm) == {
        ("cfe-test-namespace", "etcdoperator.v0.9.4"),
        ("cfe-test-namespace", "other.v1"),
        ("shop", "etcdoperator.v0.9.4"),
    }
    etcd = olm[("cfe-test-namespace", "etcdoperator.v0.9.4")]
    # The node's namespace is the target's: a {namespace, pod} selector of the OLM pod finds it.
    assert etcd["namespace"] == "openshift-operator-lifecycle-manager"
    assert etcd["k8s.namespace.name"] == "openshift-operator-lifecycle-manager"
    assert etcd["subject_kind"] == "Container"
    (series,) = prom.query(etcd["promql"])
    assert series["metric"]["exported_namespace"] == "cfe-test-namespace"
    assert series["metric"]["name"] == "etcdoperator.v0.9.4"

    # KSM's pod is no subject; web-0 is one node for both namings, and its PromQL
    # fetches the KSM series (exported_pod) and the cAdvisor series (pod).
    (web,) = [n for n in got if n.get("k8s.pod.name") == "web-0"]
    assert web["namespace"] == "shop" and "subject.k8s.pod.name" not in web
    assert web["metric_names"] == ["container_memory_working_set_bytes", "kube_pod_info"]
    assert "exported_pod=web-0" in web["raw_labels"] and "pod=web-0" in web["raw_labels"]
    fetched = prom.query(web["promql"])
    assert sorted(s["metric"]["__name__"] for s in fetched) == web["metric_names"]
    assert len(got) == 4
