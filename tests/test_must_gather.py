"""A must-gather loads whole (ingest/snapshot.py, ingest/snapshot_logs.py): its empty lists
are empty listings, its Prometheus answers are alerts with their rules' expressions, its pod
logs are the log streams an alert leads to, against a real Neo4j.

The tree is laid out as ``oc adm must-gather`` writes it (openshift/oc,
pkg/cli/admin/inspect/pod.go for the logs; openshift/must-gather,
collection-scripts/gather_monitoring for ``monitoring/prometheus/rules.json``); the answers
have the shapes of Prometheus' HTTP API documentation (``/api/v1/rules``,
``/api/v1/alerts``).
"""

from __future__ import annotations

import io
import json
import tarfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from ingest import alerts
from ingest.snapshot import ingest, iter_alerts, iter_objects
from korrel8 import rules
from korrel8.correlate import Korrel8
from korrel8.errors import SnapshotFormatError
from korrel8.graph.store import Store
from korrel8.model import ref
from korrel8.rules import runner
from tests.graph import node, nodes

Obj = dict[str, Any]
CLUSTER = "5f0c3a4e-0000-4000-8000-0000000c0de5"  # the kube-system Namespace's UID
ROOT = "must-gather.local.8410172374117395571"
IMAGE_DIR = "quay-io-openshift-release-dev-ocp-v4-0-art-dev-sha256-9f1c"
CRASHLOOP_EXPR = (
    'max_over_time(kube_pod_container_status_waiting_reason{reason="CrashLoopBackOff",'
    'job="kube-state-metrics"}[5m]) >= 1'
)
NOT_READY_EXPR = 'sum by (namespace, pod) (kube_pod_status_phase{phase=~"Pending|Unknown"}) > 0'


# --------------------------------------------------------------------------- the tree


def namespace(name: str, uid: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "uid": uid}}


def pod(ns: str, name: str, containers: list[str], phase: str = "Running") -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": ns,
            "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{ns}/{name}")),
            "labels": {"app": name.rsplit("-", 1)[0]},
        },
        "spec": {
            "containers": [{"name": c, "image": f"quay.io/example/{c}:1"} for c in containers],
            "nodeName": "master-0",
        },
        "status": {"phase": phase},
    }


def rule_alert(labels: dict[str, str], state: str, summary: str) -> Obj:
    return {
        "labels": labels,
        "annotations": {"summary": summary},
        "state": state,
        "activeAt": "2026-12-01T22:14:03.52143214Z",
        "value": "1e+00",
    }


WEB_1 = {"namespace": "shop", "pod": "web-1", "container": "app"}
CRASHLOOP = {"alertname": "KubePodCrashLooping", "severity": "warning", **WEB_1}
NOT_READY = {
    "alertname": "KubePodNotReady",
    "severity": "warning",
    "namespace": "shop",
    "pod": "web-2",
}
TARGET_DOWN = {
    "alertname": "TargetDown",
    "severity": "warning",
    "namespace": "openshift-monitoring",
    "job": "prometheus-k8s",
}


def rules_answer() -> Obj:
    """Prometheus' /api/v1/rules: a firing rule, a pending one, an inactive one and a
    recording rule."""

    def alerting(name: str, query: str, state: str, found: list[Obj]) -> Obj:
        return {
            "state": state,
            "name": name,
            "query": query,
            "duration": 900,
            "labels": {"severity": "warning"},
            "annotations": {"summary": name},
            "alerts": found,
            "health": "ok",
            "evaluationTime": 0.0012,
            "lastEvaluation": "2026-12-01T22:30:03.5Z",
            "type": "alerting",
        }

    return {
        "status": "success",
        "data": {
            "groups": [
                {
                    "name": "kubernetes-apps",
                    "file": "/etc/prometheus/rules/prometheus-k8s-rulefiles-0/apps.yaml",
                    "interval": 30,
                    "rules": [
                        alerting(
                            "KubePodCrashLooping",
                            CRASHLOOP_EXPR,
                            "firing",
                            [rule_alert(CRASHLOOP, "firing", "web-1 is crash looping")],
                        ),
                        alerting(
                            "KubePodNotReady",
                            NOT_READY_EXPR,
                            "pending",
                            [rule_alert(NOT_READY, "pending", "web-2 is not ready")],
                        ),
                        alerting("KubeDeploymentReplicasMismatch", "vector(0) > 1", "inactive", []),
                        {
                            "name": "namespace:container_cpu_usage:sum",
                            "query": "sum by (namespace) (rate(container_cpu_seconds[5m]))",
                            "health": "ok",
                            "type": "recording",
                        },
                    ],
                }
            ]
        },
    }


def alerts_answer() -> Obj:
    """Prometheus' /api/v1/alerts: the crash loop again (no expression in this answer), and
    an alert of another rule group."""
    return {
        "status": "success",
        "data": {
            "alerts": [
                rule_alert(CRASHLOOP, "firing", "web-1 is crash looping"),
                rule_alert(TARGET_DOWN, "firing", "prometheus-k8s targets are down"),
            ]
        },
    }


def files() -> dict[str, bytes]:
    """The must-gather's files, by path below its root directory."""
    tree: dict[str, Obj | str] = {}
    base = f"{ROOT}/{IMAGE_DIR}"

    def put(path: str, content: Obj | str) -> None:
        tree[f"{base}/{path}"] = content

    put("timestamp", "2026-12-01 22:31:00 +0000 UTC\n")
    put("namespaces/kube-system/kube-system.yaml", namespace("kube-system", CLUSTER))
    put("namespaces/shop/shop.yaml", namespace("shop", "uid-shop"))
    web_1, web_2 = pod("shop", "web-1", ["app", "proxy"]), pod("shop", "web-2", ["app"], "Pending")
    prom = pod("openshift-monitoring", "prometheus-k8s-0", ["prometheus"])
    items = [
        {k: v for k, v in p.items() if k not in ("kind", "apiVersion")} for p in (web_1, web_2)
    ]
    put("namespaces/shop/core/pods.yaml", {"apiVersion": "v1", "kind": "PodList", "items": items})
    put("namespaces/shop/pods/web-1/web-1.yaml", web_1)
    put("namespaces/openshift-monitoring/pods/prometheus-k8s-0/prometheus-k8s-0.yaml", prom)
    # The empty lists a must-gather is full of: items null, [], or left out.
    meta = {"resourceVersion": ""}
    empty: dict[str, tuple[str, str, Obj]] = {
        "route.openshift.io/routes.yaml": ("route.openshift.io/v1", "RouteList", {"items": None}),
        "core/persistentvolumeclaims.yaml": ("v1", "PersistentVolumeClaimList", {"items": []}),
        "apps/statefulsets.yaml": ("apps/v1", "StatefulSetList", {}),
        "core/endpoints.yaml": ("v1", "EndpointsList", {"items": None}),  # a kind not listed
        "core/other.yaml": ("v1", "List", {"items": None}),
    }
    for path, (api_version, kind, items_field) in empty.items():
        put(
            f"namespaces/shop/{path}",
            {"apiVersion": api_version, "kind": kind, "metadata": meta, **items_field},
        )
    # Logs, and a container's other files (not objects).
    lines = "2026-12-01T22:14:00.000000001Z panic: cannot reach db\n"
    put("namespaces/shop/pods/web-1/app/app/logs/current.log", lines)
    put("namespaces/shop/pods/web-1/app/app/logs/previous.log", lines)
    put("namespaces/shop/pods/web-1/app/app/healthz/ping", "ok")
    put("namespaces/shop/pods/web-1/app/app/metrics.json", "# TYPE up gauge\nup 1\n")
    put("namespaces/shop/pods/web-1/proxy/proxy/logs/current.log", "")
    put(
        "namespaces/openshift-monitoring/pods/prometheus-k8s-0/prometheus/prometheus/logs/current.log",
        lines,
    )
    # The alerts, in Prometheus' two formats.
    put("monitoring/alerts.json", json.dumps(rules_answer()))
    put("monitoring/prometheus/api-v1-alerts/alerts.json", json.dumps(alerts_answer()))
    put(
        "monitoring/prometheus/status/config.json",
        json.dumps({"status": "success", "data": {"yaml": "global: {}\n"}}),
    )
    put("monitoring/prometheus/rules.stderr", "")
    return {
        path: (content if isinstance(content, str) else yaml.safe_dump(content)).encode()
        for path, content in tree.items()
    }


def as_directory(tmp_path: Path) -> Path:
    for path, data in files().items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(data)
    return tmp_path / ROOT


def as_tar_gz(tmp_path: Path) -> Path:
    archive = tmp_path / "must-gather.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for path, data in files().items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return archive


def log_file(snapshot: Path, relative: str) -> str:
    """A log file as the snapshot names it: its path, or ARCHIVE:MEMBER."""
    if snapshot.is_dir():
        return str(snapshot / IMAGE_DIR / relative)
    return f"{snapshot}:{ROOT}/{IMAGE_DIR}/{relative}"


def stale(store: Store, cls: str, name: str) -> str:
    """A node of ``cls`` in the cluster from an earlier listing, absent from the snapshot."""
    node_ref = ref(f"k8s:{cls}", {"namespace": "shop", "name": name}, CLUSTER)
    store.upsert_nodes([node(node_ref, cls, source="k8s", cluster=CLUSTER, namespace="shop")])
    return node_ref


# --------------------------------------------------------------------------- tests


@pytest.mark.parametrize("shape", [as_directory, as_tar_gz], ids=["directory", "tar.gz"])
def test_a_must_gather_loads_whole_and_its_alert_leads_to_the_pod_logs(
    store: Store, tmp_path: Path, shape: Callable[[Path], Path]
) -> None:
    snapshot = shape(tmp_path)
    route = stale(store, "Route.route.openshift.io", "shop")
    claim = stale(store, "PersistentVolumeClaim", "data-web-0")
    statefulset = stale(store, "StatefulSet.apps", "web")
    deployment = stale(store, "Deployment.apps", "web")

    summary = ingest(store, snapshot)

    # No error: the empty lists are no objects, and no complaint.
    assert summary.ok, summary.errors
    assert summary.cluster == CLUSTER
    graph = nodes(store)
    # ...but listings: what the cluster had of their kinds is gone. Not a kind it lacks.
    for gone in (route, claim, statefulset):
        assert graph[gone]["deleted_at"] is not None, gone
    assert graph[deployment].get("deleted_at") is None
    assert summary.deleted == 3
    pods = {n["name"] for n in graph.values() if n["class"] == "Pod"}
    assert pods == {"web-1", "web-2", "prometheus-k8s-0"}

    # The alerts: firing and pending, each with its rule's expression; no inactive rule.
    by_alertname = {n["alertname"]: n for n in graph.values() if n["domain"] == "alert"}
    assert set(by_alertname) == {"KubePodCrashLooping", "KubePodNotReady", "TargetDown"}
    crashloop = by_alertname["KubePodCrashLooping"]
    assert (crashloop["state"], crashloop["expr"]) == ("firing", CRASHLOOP_EXPR)
    assert (
        crashloop["ref"]
        == alerts.to_row(
            alerts.Alert(labels=CRASHLOOP, state="firing", starts_at=None), CLUSTER
        ).ref
    )
    assert crashloop["k8s.pod.name"] == "web-1" and crashloop["cluster"] == CLUSTER
    assert (by_alertname["KubePodNotReady"]["state"], by_alertname["KubePodNotReady"]["expr"]) == (
        "pending",
        NOT_READY_EXPR,
    )
    target_down = by_alertname["TargetDown"]  # /api/v1/alerts knows no expression
    assert target_down["state"] == "firing" and target_down.get("expr") is None
    assert summary.objects["alert:alert"] == 3

    # The log files are the log streams of their containers, classed by namespace.
    streams = {n["name"]: n for n in graph.values() if n["domain"] == "log"}
    assert {name: n["class"] for name, n in streams.items()} == {
        "web-1/app": "application",
        "web-1/proxy": "application",
        "prometheus-k8s-0/prometheus": "infrastructure",
    }
    app = streams["web-1/app"]
    app_logs = "namespaces/shop/pods/web-1/app/app/logs"
    assert app["log_files"] == [
        log_file(snapshot, f"{app_logs}/current.log"),
        log_file(snapshot, f"{app_logs}/previous.log"),
    ]
    assert app["origin"] == "must-gather" and app["source"] == "logs"
    # The same node as the logs ingester makes of this pod's container: one stream, not two.
    assert app["ref"] == ref(
        "log:application", {"namespace": "shop", "name": "web-1", "containers": ["app"]}, CLUSTER
    )
    assert summary.objects["log:application"] == 2 and summary.objects["log:infrastructure"] == 1

    # Offline, the alert leads to its pod's log streams, and says where their lines are.
    runner.apply(store, rules.load())
    result = Korrel8(store).goals(
        "alert:alert:{alertname: KubePodCrashLooping, namespace: shop}", "log"
    )
    goals = {g.name: g for g in result.goals}
    assert set(goals) == {"web-1/app", "web-1/proxy"}
    data = goals["web-1/app"].data_query
    assert data is not None and data.language == "file"
    assert data.query == " ".join(app["log_files"])


def test_what_the_alerts_files_hold_and_what_they_refuse(store: Store, tmp_path: Path) -> None:
    snapshot = as_directory(tmp_path)
    by_file = {
        (Path(name).parent.name, a.labels["alertname"], a.state, a.expr)
        for name, a in iter_alerts(snapshot)
    }
    assert by_file == {
        ("monitoring", "KubePodCrashLooping", "firing", CRASHLOOP_EXPR),
        ("monitoring", "KubePodNotReady", "pending", NOT_READY_EXPR),
        ("api-v1-alerts", "KubePodCrashLooping", "firing", None),
        ("api-v1-alerts", "TargetDown", "firing", None),
    }
    # The empty lists are no objects (and no errors).
    kinds = {(obj["kind"], obj["metadata"]["name"]) for _, obj in iter_objects(snapshot)}
    assert (
        kinds
        == {
            ("Namespace", "kube-system"),
            ("Namespace", "shop"),
            ("Pod", "web-1"),
            ("Pod", "web-2"),
            ("Pod", "prometheus-k8s-0"),
        }
        and len(list(iter_objects(snapshot))) == 6
    )  # web-1 twice: its own file and the list

    # Prometheus' error answer, and a JSON that is no alerts, are errors naming the file.
    errors = tmp_path / "errors"
    (errors / "a").mkdir(parents=True)
    (errors / "a" / "alerts.json").write_text(
        json.dumps(
            {"status": "error", "errorType": "unavailable", "error": "rule manager not ready"}
        )
    )
    (errors / "b").mkdir()
    (errors / "b" / "alerts.json").write_text(
        json.dumps({"status": "success", "data": {"targets": []}})
    )
    seen: list[SnapshotFormatError] = []
    assert list(iter_alerts(errors, seen.append)) == []
    assert list(iter_objects(errors)) == []  # alerts files are not objects: no error
    assert [str(e) for e in seen] == [
        f"{errors / 'a' / 'alerts.json'}: Prometheus answered with an error, unavailable: "
        "rule manager not ready",
        f"{errors / 'b' / 'alerts.json'}: not alerts: expected Alertmanager's /api/v2/alerts "
        "output (a JSON list of alerts), or Prometheus' /api/v1/rules or /api/v1/alerts output",
    ]

    # An empty alerts file (must-gather keeps a failed request's empty answer) is no view of
    # the alerts: an open alert stays open.
    old = {"alertname": "KubeQuotaExceeded", "namespace": "shop"}
    old_ref = alerts.to_row(alerts.Alert(labels=old, state="firing", starts_at=None), "lab").ref
    store.upsert_nodes(
        [alerts.to_row(alerts.Alert(labels=old, state="firing", starts_at=None), "lab")]
    )
    quiet = tmp_path / "quiet"
    rules_json = quiet / "monitoring" / "prometheus" / "rules.json"
    rules_json.parent.mkdir(parents=True)
    rules_json.write_text("")
    (quiet / "pods.yaml").write_text(yaml.safe_dump(pod("shop", "web-1", ["app"])))
    summary = ingest(store, quiet, "lab")
    assert summary.ok and nodes(store)[old_ref]["state"] == "firing"
    # The must-gather's own place for /api/v1/rules is read too: a complete view, which
    # resolves the alert it lacks.
    rules_json.write_text(json.dumps(rules_answer()))
    summary = ingest(store, quiet, "lab")
    assert summary.ok and nodes(store)[old_ref]["state"] == "resolved"
    states = {n["alertname"]: n["state"] for n in nodes(store).values() if n["domain"] == "alert"}
    assert states == {
        "KubeQuotaExceeded": "resolved",
        "KubePodCrashLooping": "firing",
        "KubePodNotReady": "pending",
    }
