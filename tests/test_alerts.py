"""The alert ingester against real Prometheus rules firing into a real Alertmanager."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from typer.testing import CliRunner

from ingest import alerts
from ingest.cli import ingest_app
from korrel8.config import HttpSourceSettings
from korrel8.graph.store import Store, utcnow
from korrel8.model import Query
from tests.graph import nodes
from tests.servers.common import free_port
from tests.servers.faulty_http import FaultyServer
from tests.servers.neo4j import Neo4jServer
from tests.servers.prom import PromStack, exposition, wait_until

KSM = ("kube-state-metrics", "10.128.0.5:8080")
KUBELET = ("kubelet", "10.0.0.5:10250")
# Without kube-prometheus' labeldrop, every KSM series carries KSM's own pod (P1).
KSM_OWN = {
    "pod": "kube-state-metrics-6f7b9c5d8-x2x9z",
    "container": "kube-state-metrics",
    "service": "kube-state-metrics",
    "endpoint": "http-metrics",
}
ALERT_WAIT = 60.0  # seconds: scrape, evaluation, `for`, delivery on a busy machine


def ksm_series(crashlooping: int = 1, available: int = 1, failed: int = 1) -> str:
    deployment = {"namespace": "shop", "deployment": "web", **KSM_OWN}
    return exposition(
        (
            "kube_pod_container_status_waiting_reason",
            {"namespace": "shop", "pod": "web-0", "container": "app", "reason": "CrashLoopBackOff"},
            crashlooping,
        ),
        ("kube_deployment_spec_replicas", deployment, 3),
        ("kube_deployment_status_replicas_available", deployment, available),
        ("kube_deployment_status_replicas_updated", deployment, 3),
        ("kube_job_failed", {"namespace": "batch", "job_name": "nightly-report"}, failed),
    )  # fmt: skip


def pvc_series(namespace: str = "db", claim: str = "data-db-0") -> str:
    labels = {"namespace": namespace, "persistentvolumeclaim": claim, "metrics_path": "/metrics"}
    return exposition(
        ("kubelet_volume_stats_capacity_bytes", labels, 10e9),
        ("kubelet_volume_stats_available_bytes", labels, 0.1e9),
        ("kubelet_volume_stats_used_bytes", labels, 9.9e9),
    )


def alert_nodes(store: Store) -> dict[str, dict[str, Any]]:
    """Alert nodes by alertname, with Neo4j times as Python datetimes."""
    found = {}
    for node in nodes(store).values():
        if node["class"] == "alert":
            found[node["alertname"]] = {
                k: v.to_native() if hasattr(v, "to_native") else v for k, v in node.items()
            }
    return found


def firing_in_alertmanager(prom: PromStack, names: set[str]) -> bool:
    return names <= {a["labels"]["alertname"] for a in prom.am_alerts()}


def test_real_alerts_are_ingested_with_canonical_labels_and_resolve(
    prom: PromStack, store: Store
) -> None:
    prom.push(*KSM, ksm_series())
    prom.push(*KUBELET, pvc_series())
    names = {
        "KubePodCrashLooping",
        "KubeDeploymentReplicasMismatch",
        "KubeJobFailed",
        "KubePersistentVolumeFillingUp",
    }
    wait_until(lambda: firing_in_alertmanager(prom, names), ALERT_WAIT, f"{names} to fire")

    summary = alerts.ingest(store, prom.alertmanager(), prom.prometheus())
    assert summary.ok, summary.errors
    got = alert_nodes(store)
    # One node per alert instance: no second node for the same alert seen by Prometheus.
    assert set(got) == names
    crash, deploy = got["KubePodCrashLooping"], got["KubeDeploymentReplicasMismatch"]
    job, pvc = got["KubeJobFailed"], got["KubePersistentVolumeFillingUp"]

    assert crash["k8s.namespace.name"] == "shop"
    assert crash["k8s.pod.name"] == "web-0" and crash["k8s.container.name"] == "app"
    # The deployment alert carries KSM's own pod: it is about the deployment, not that pod.
    assert deploy["k8s.namespace.name"] == "shop" and deploy["k8s.deployment.name"] == "web"
    assert "k8s.pod.name" not in deploy and "k8s.container.name" not in deploy
    assert f"pod={KSM_OWN['pod']}" in deploy["raw_labels"]  # raw labels keep everything
    # `job` is the scrape job; the Kubernetes Job is job_name.
    assert job["k8s.job.name"] == "nightly-report" and job["k8s.namespace.name"] == "batch"
    assert "job=kube-state-metrics" in job["raw_labels"]
    assert pvc["k8s.persistentvolumeclaim.name"] == "data-db-0"
    assert pvc["k8s.namespace.name"] == "db"

    am = {a["labels"]["alertname"]: a for a in prom.am_alerts()}
    rules = {a["labels"]["alertname"]: a for a in prom.rule_alerts()}
    for name, node in got.items():
        assert node["state"] == "firing" and node["cluster"] == "c1"
        assert node["fingerprint"] == am[name]["fingerprint"]
        assert node["starts_at"] <= utcnow() and "ends_at" not in node
        assert "/graph?g0.expr=" in node["generator_url"]
        assert node["source"] == "alertmanager" and node["_labels"] == ["Alert", "Object"]
        assert node["namespace"] == node["k8s.namespace.name"] and node["name"] == name
        # The ref is a query: parsing and printing it gives it back, with the labels.
        query = Query.parse(node["ref"])
        assert str(query) == node["ref"] and query.selector == {
            **am[name]["labels"],
            "cluster": "c1",
        }
        assert sorted(node["raw_labels"]) == sorted(
            f"{k}={v}" for k, v in am[name]["labels"].items()
        )
    assert (
        crash["expr"].strip().startswith("max_over_time(kube_pod_container_status_waiting_reason")
    )
    assert got["KubeJobFailed"]["expr"].strip() == 'kube_job_failed{job="kube-state-metrics"} > 0'
    assert "description=Pod shop/web-0 (app) is in waiting state" in " ".join(crash["annotations"])
    assert set(rules) == names  # Prometheus knows them too, and they merged

    # The pod stops crash looping: the alert resolves, and its node stays as history.
    before = utcnow()
    prom.push(*KSM, ksm_series(crashlooping=0))
    wait_until(lambda: not prom.firing("KubePodCrashLooping"), ALERT_WAIT, "the alert to resolve")
    assert alerts.ingest(store, prom.alertmanager(), prom.prometheus()).ok
    got = alert_nodes(store)
    assert set(got) == names
    resolved = got["KubePodCrashLooping"]
    assert resolved["state"] == "resolved" and resolved.get("deleted_at") is None
    assert before <= resolved["ends_at"] <= utcnow()
    assert resolved["starts_at"] == crash["starts_at"]
    assert resolved["k8s.pod.name"] == "web-0"  # still correlates after the end
    assert all(got[n]["state"] == "firing" for n in names - {"KubePodCrashLooping"})

    # A second ingest leaves the resolved alert as it was.
    alerts.ingest(store, prom.alertmanager(), prom.prometheus())
    assert alert_nodes(store)["KubePodCrashLooping"]["ends_at"] == resolved["ends_at"]

    # It fires again: the same node, firing, without an end.
    prom.push(*KSM, ksm_series(crashlooping=1))
    wait_until(lambda: prom.firing("KubePodCrashLooping"), ALERT_WAIT, "the alert to fire again")
    alerts.ingest(store, prom.alertmanager(), prom.prometheus())
    again = alert_nodes(store)["KubePodCrashLooping"]
    assert again["ref"] == crash["ref"] and again["state"] == "firing"
    assert "ends_at" not in again and again["starts_at"] > crash["starts_at"]


def test_pending_alerts_come_from_prometheus_with_its_external_labels(
    prom: PromStack, store: Store
) -> None:
    labels = {"namespace": "shop", "pod": "web-1"}
    prom.push(*KSM, exposition(
        ("kube_pod_status_phase", {**labels, "phase": "Pending"}, 1),
        ("kube_pod_status_phase", {**labels, "phase": "Running"}, 0),
    ))  # fmt: skip
    wait_until(
        lambda: [a for a in prom.rule_alerts() if a["state"] == "pending"],
        ALERT_WAIT,
        "KubePodNotReady to be pending",
    )
    assert alerts.ingest(store, prom.alertmanager(), prom.prometheus()).ok
    pending = alert_nodes(store)["KubePodNotReady"]
    assert pending["state"] == "pending"
    assert pending["k8s.namespace.name"] == "shop" and pending["k8s.pod.name"] == "web-1"
    # Prometheus will add its external labels when it sends the alert: so does the node.
    assert "prometheus=monitoring/k8s" in pending["raw_labels"]
    expected = {"alertname": "KubePodNotReady", "severity": "warning", **labels}
    assert pending["fingerprint"] == alerts.fingerprint(
        {**expected, "prometheus": "monitoring/k8s"}
    )
    assert pending["expr"].strip().startswith("sum by (namespace, pod) (kube_pod_status_phase")
    assert pending["starts_at"] <= utcnow()

    prom.delete(*KSM)
    wait_until(lambda: not prom.rule_alerts(), ALERT_WAIT, "the pending alert to go")
    assert alerts.ingest(store, prom.alertmanager(), prom.prometheus()).ok
    assert alert_nodes(store)["KubePodNotReady"]["state"] == "resolved"


def test_silenced_and_inhibited_alerts_keep_their_state(prom: PromStack, store: Store) -> None:
    prom.push(*KSM, ksm_series(available=3))
    prom.push(*KUBELET, pvc_series(namespace="shop", claim="data-web-0"))  # inhibits the crash
    silence = prom.silence({"alertname": "KubeJobFailed"})

    def muted() -> bool:
        by_name = {a["labels"]["alertname"]: a["status"] for a in prom.am_alerts()}
        crash, job = by_name.get("KubePodCrashLooping"), by_name.get("KubeJobFailed")
        return bool(crash and crash["inhibitedBy"] and job and job["silencedBy"])

    wait_until(muted, ALERT_WAIT, "an inhibited and a silenced alert")
    assert alerts.ingest(store, prom.alertmanager(), prom.prometheus()).ok
    got = alert_nodes(store)
    assert got["KubeJobFailed"]["state"] == "silenced"
    assert got["KubeJobFailed"]["silenced_by"] == [silence]
    assert got["KubePodCrashLooping"]["state"] == "inhibited"
    volume = got["KubePersistentVolumeFillingUp"]
    assert volume["state"] == "firing"
    assert got["KubePodCrashLooping"]["inhibited_by"] == [volume["fingerprint"]]


def seed_alert(store: Store) -> dict[str, Any]:
    """A firing alert node as the ingester writes it."""
    alert = alerts.Alert(
        labels={"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": "web-0"},
        state="firing",
        starts_at=datetime.now(UTC) - timedelta(minutes=5),
    )
    store.upsert_nodes([alerts.to_row(alert, "c1")])
    return alert_nodes(store)["KubePodCrashLooping"]


@pytest.mark.parametrize(
    ("fault", "timeout", "message"),
    [
        ("broken-json", 10.0, r"alertmanager at http://127\.0\.0\.1:\d+/broken-json/api/v2/alerts"
                              " answered a body that is not JSON"),
        ("not-json", 10.0, r"not JSON \(text/html\).*Is the URL that of the right server"),
        ("slow", 0.5, r"alertmanager at .* did not answer within 0\.5s"),
        ("status-500", 10.0, "answered HTTP 500"),
    ],
)  # fmt: skip
def test_a_faulty_alertmanager_is_reported_and_the_graph_kept(
    store: Store, faulty_http: FaultyServer, fault: str, timeout: float, message: str
) -> None:
    before = seed_alert(store)
    settings = HttpSourceSettings(
        url=faulty_http.url(fault), cluster="c1", timeout=timeout, retries=1
    )
    summary = alerts.ingest(store, settings)
    assert len(summary.errors) == 1 and not summary.ok
    assert re.search(message, summary.errors[0]), summary.errors[0]
    after = alert_nodes(store)["KubePodCrashLooping"]
    assert after == before  # not resolved, not touched


def test_an_unreachable_alertmanager_is_reported(store: Store) -> None:
    before = seed_alert(store)
    url = f"http://127.0.0.1:{free_port()}"
    summary = alerts.ingest(store, HttpSourceSettings(url=url, retries=1))
    assert len(summary.errors) == 1
    assert f"cannot reach alertmanager at {url}/api/v2/alerts" in summary.errors[0]
    assert alert_nodes(store)["KubePodCrashLooping"] == before


def test_prometheus_down_resolves_nothing(prom: PromStack, store: Store) -> None:
    # Alertmanager answers (with no alert), Prometheus does not: the view is incomplete,
    # so the firing alert in the graph is not declared resolved.
    before = seed_alert(store)
    down = HttpSourceSettings(url=f"http://127.0.0.1:{free_port()}", retries=0)
    summary = alerts.ingest(store, prom.alertmanager(), down)
    assert len(summary.errors) == 1 and "cannot reach prometheus" in summary.errors[0]
    assert alert_nodes(store)["KubePodCrashLooping"]["state"] == before["state"] == "firing"
    # With both answering, the vanished alert resolves.
    assert alerts.ingest(store, prom.alertmanager(), prom.prometheus()).ok
    assert alert_nodes(store)["KubePodCrashLooping"]["state"] == "resolved"


def test_fingerprint_is_alertmanagers() -> None:
    # The real alerts' fingerprints are compared with Alertmanager's above; the empty set
    # hashes to FNV-1a's offset basis, Prometheus' emptyLabelSignature.
    assert alerts.fingerprint({}) == "cbf29ce484222325"
    labels = {"alertname": "Watchdog", "severity": "none"}
    assert alerts.fingerprint(labels) == alerts.fingerprint(dict(reversed(labels.items())))
    assert alerts.fingerprint(labels) != alerts.fingerprint({**labels, "severity": "info"})


def test_the_cli_ingests_once_with_progress_and_a_summary(
    prom: PromStack, store: Store, neo4j_server: Neo4jServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    prom.push(*KSM, ksm_series(crashlooping=0, available=3))  # KubeJobFailed alone
    wait_until(lambda: prom.firing("KubeJobFailed"), ALERT_WAIT, "KubeJobFailed to fire")
    for name, value in {
        "NEO4J_URI": neo4j_server.uri,
        "NEO4J_USER": neo4j_server.user,
        "NEO4J_PASSWORD": neo4j_server.password,
        "KORREL8_SOURCES__ALERTMANAGER__URL": prom.alertmanager_url,
        "KORREL8_SOURCES__ALERTMANAGER__CLUSTER": "c1",
        "KORREL8_SOURCES__PROMETHEUS__URL": prom.prometheus_url,
    }.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(ingest_app, ["alerts", "--once"])
    assert result.exit_code == 0, result.output
    assert "alertmanager: 1 alerts" in result.stderr
    assert "alertmanager (c1)" in result.stdout and "alert:alert" in result.stdout
    assert set(alert_nodes(store)) == {"KubeJobFailed"}
    result = CliRunner().invoke(ingest_app, ["alerts", "--once", "--output", "json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)  # one line, one run
    assert (summary["source"], summary["cluster"], summary["ok"]) == ("alertmanager", "c1", True)
    assert summary["objects"]["alert:alert"] >= 1

    monkeypatch.setenv("KORREL8_SOURCES__ALERTMANAGER__URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("KORREL8_SOURCES__ALERTMANAGER__RETRIES", "0")
    result = CliRunner().invoke(ingest_app, ["alerts", "--once"])
    assert result.exit_code == 1
    assert "error: cannot reach alertmanager" in result.stderr  # one line, not wrapped
    assert set(alert_nodes(store)) == {"KubeJobFailed"}  # kept
