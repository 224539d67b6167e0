"""The mission's example on a graph built by the real ingesters and the default rules.

A StatefulSet-like setup in the real kube-apiserver (a shared PVC ``data`` mounted by the
pods ``db-0`` and ``db-1``, both owned by the StatefulSet ``db``; an unrelated pod
``web-0`` on its own claim ``cache``), a KubePersistentVolumeFillingUp alert about
``data`` posted to the real Alertmanager, then the real ingesters (Kubernetes, alerts,
log streams derived from pods) and the default rule set. From the alert, goal search
must reach exactly the log streams of the two pods that mount the claim, explained by
the rules alert-pvc, pod-pvc-reverse and pod-logs; after db-1 is deleted through the API
and the sources re-ingested, its logs still correlate over a window that covers its
life, and no longer from a window or an instant after its edges were closed.

tests/test_correlate.py checks goal search on graphs written directly through the store;
this module checks that the real ingesters and rules build the graph that search needs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s

from ingest import alerts, logs
from ingest.k8s.sync import ingest_once
from korrel8 import rules
from korrel8.config import KubernetesSettings, LogStoreSettings, Settings, SourcesSettings
from korrel8.correlate import Korrel8
from korrel8.errors import StartNotFoundError
from korrel8.graph.store import Store
from korrel8.result import Result
from korrel8.rules import runner as rule_runner
from tests.servers.kube import KubeServer, rest
from tests.servers.prom import PromStack, wait_until

# What every source calls the test cluster (rules join on cluster): the name the prom
# fixture gives its sources, and the Kubernetes context is named alike below.
CLUSTER = "c1"
ALERTNAME = "KubePersistentVolumeFillingUp"
CLAIM = "data"
MOUNTING = ("db-0", "db-1")  # the pods that mount CLAIM
DB_CONTAINERS = ("db", "exporter")  # one log stream each
PATH_RULES = ("alert-pvc", "pod-pvc-reverse", "pod-logs")


# --- the cluster ---------------------------------------------------------------------------


def pvc(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name},
        "spec": {
            "accessModes": ["ReadWriteMany"],  # shared by the StatefulSet's pods
            "resources": {"requests": {"storage": "1Gi"}},
        },
    }


def container(name: str) -> dict[str, Any]:
    return {"name": name, "image": f"registry.example/{name}:1", "volumeMounts": []}


def pod(
    name: str, claim: str, containers: tuple[str, ...], owner: dict[str, Any] | None
) -> dict[str, Any]:
    specs = [container(c) for c in containers]
    for spec in specs:
        spec["volumeMounts"] = [{"name": "data", "mountPath": "/var/lib/data"}]
    metadata: dict[str, Any] = {"name": name, "labels": {"app": name.split("-")[0]}}
    if owner is not None:
        metadata["ownerReferences"] = [owner]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": {
            "containers": specs,
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}],
        },
    }


def statefulset(name: str, claim: str) -> dict[str, Any]:
    template = pod(f"{name}-x", claim, DB_CONTAINERS, None)
    del template["metadata"]["name"]
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name},
        "spec": {
            "serviceName": name,
            "replicas": len(MOUNTING),
            "selector": {"matchLabels": {"app": name}},
            "template": template,
        },
    }


def create_mission(api: k8s.ApiClient, namespace: str) -> None:
    """The objects a StatefulSet controller would have made; nothing reconciles here,
    so the pods are created directly, owned by the StatefulSet as its controller would."""
    core = f"/api/v1/namespaces/{namespace}"
    for claim in (CLAIM, "cache"):
        rest(api, "POST", f"{core}/persistentvolumeclaims", pvc(claim))
    sts = rest(
        api, "POST", f"/apis/apps/v1/namespaces/{namespace}/statefulsets", statefulset("db", CLAIM)
    )
    owner = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "name": "db",
        "uid": sts["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }
    for name in MOUNTING:
        rest(api, "POST", f"{core}/pods", pod(name, CLAIM, DB_CONTAINERS, owner))
    rest(api, "POST", f"{core}/pods", pod("web-0", "cache", ("web",), None))


def delete_pod(api: k8s.ApiClient, namespace: str, name: str) -> None:
    """Delete a pod and wait until the API no longer lists it (an unscheduled pod goes at
    once: no kubelet has to confirm that its containers stopped)."""
    path = f"/api/v1/namespaces/{namespace}/pods"
    rest(api, "DELETE", f"{path}/{name}", {"gracePeriodSeconds": 0})
    wait_until(
        lambda: name not in {p["metadata"]["name"] for p in rest(api, "GET", path)["items"]},
        30,
        f"pod {name} to be gone",
    )


# --- the alert -----------------------------------------------------------------------------


def alert_labels(namespace: str) -> dict[str, str]:
    # As kubernetes-mixin's rule fires it on kubelet volume stats (shared/reference/labels.md);
    # posted to Alertmanager by the ``fire`` fixture (tests/servers/prom.py).
    return {
        "alertname": ALERTNAME,
        "namespace": namespace,
        "persistentvolumeclaim": CLAIM,
        "severity": "critical",
        "job": "kubelet",
        "metrics_path": "/metrics",
    }


# --- the pipeline --------------------------------------------------------------------------


def source_settings(kube: KubeServer, prom: PromStack) -> Settings:
    # The least privilege korrel8 needs: the read-only ServiceAccount, where there is one.
    kubeconfig: Path = kube.readonly_kubeconfig or kube.admin_kubeconfig
    return Settings(
        sources=SourcesSettings(
            kubernetes=KubernetesSettings(
                kubeconfig=kubeconfig,
                custom_resources="none",
                cluster_names={context_of(kubeconfig): CLUSTER},
            ),
            alertmanager=prom.alertmanager(),
            prometheus=prom.prometheus(),
            loki=LogStoreSettings(cluster=CLUSTER),  # no URL: streams derived from pods
        )
    )


def context_of(kubeconfig: Path) -> str:
    return str(yaml.safe_load(kubeconfig.read_text())["current-context"])


def ingest_all(store: Store, settings: Settings) -> None:
    """One pass of every ingester the mission needs, in the order `serve` runs them:
    Kubernetes first, since the log streams are derived from the pods in the graph."""
    sources = settings.sources
    for cluster in ingest_once(settings, store):
        # The read-only credential may not list every kind (Secrets): the kinds the
        # mission needs must have been listed completely, so that their sweep ran.
        status = {kind.spec.kind: kind.status for kind in cluster.kinds}
        needed = ("Pod", "PersistentVolumeClaim", "StatefulSet", "Namespace")
        assert {status.get(kind) for kind in needed} == {"ok"}, cluster.summary.errors
    summary = alerts.ingest(store, sources.alertmanager, sources.prometheus)
    assert not summary.errors, summary.errors
    summary = logs.ingest(store, sources.loki)
    assert not summary.errors, summary.errors


def apply_rules(store: Store) -> list[rule_runner.RuleRun]:
    return rule_runner.apply(store, rules.load())


@dataclass(frozen=True)
class Mission:
    namespace: str
    start: str  # the alert, as a user would write it

    def streams(self, *pods: str) -> set[tuple[str | None, str | None]]:
        """(namespace, name) of the log streams of ``pods``: one per container."""
        return {(self.namespace, f"{p}/{c}") for p in pods for c in DB_CONTAINERS}


def goal_names(result: Result) -> set[tuple[str | None, str | None]]:
    return {(g.namespace, g.name) for g in result.goals}


def ref_of(result: Result, cls: str, name: str) -> str:
    return next(n.ref for n in result.nodes.values() if n.class_ == cls and n.name == name)


@pytest.fixture
def mission(
    kube: KubeServer,
    kube_namespace: str,
    prom: PromStack,
    fire: Callable[[dict[str, str]], None],
    store: Store,
) -> Mission:
    """The cluster objects and the alert, ingested, with the default rules applied."""
    with kube.admin_client() as api:
        create_mission(api, kube_namespace)
    fire(alert_labels(kube_namespace))
    ingest_all(store, source_settings(kube, prom))
    runs = apply_rules(store)
    assert runs and {r.mode for r in runs} == {"full"}  # a new graph: no rule ran before
    return Mission(
        kube_namespace, f"alert:alert:{{alertname: {ALERTNAME}, namespace: {kube_namespace}}}"
    )


# --- the tests -----------------------------------------------------------------------------


def test_the_alert_leads_to_the_logs_of_the_pods_that_mount_the_claim(
    store: Store, mission: Mission
) -> None:
    k = Korrel8(store)
    result = k.goals(mission.start, "log")
    assert len(result.starts) == 1
    assert goal_names(result) == mission.streams(*MOUNTING)
    # The unrelated pod has its stream too: left out by the rules, not missing. (One step
    # only: further, pods meet through their ServiceAccount and reach each other's logs.)
    web = k.goals(f"k8s:Pod:{{namespace: {mission.namespace}, name: web-0}}", "log", depth=1)
    assert goal_names(web) == {(mission.namespace, "web-0/web")}
    # The explanation: alert -> the claim -> a pod that mounts it -> that pod's stream.
    claim = ref_of(result, "k8s:PersistentVolumeClaim", CLAIM)
    assert {p.rules for p in result.paths} == {PATH_RULES}
    assert {(p.refs[1], result.nodes[p.refs[2]].name) for p in result.paths} == {
        (claim, name) for name in MOUNTING
    }
    for path in result.paths:
        stream = result.nodes[path.end]
        assert stream.name is not None and stream.name.startswith(
            f"{result.nodes[path.refs[2]].name}/"
        )
    assert {(e.type, e.rule) for e in result.edges} == {
        ("ABOUT", "alert-pvc"),
        ("MOUNTED_BY", "pod-pvc-reverse"),
        ("HAS_LOGS", "pod-logs"),
    }
    # Each stream carries the LogQL that fetches its lines, for its own pod and container.
    for goal in result.goals:
        assert goal.data_query is not None and goal.data_query.language == "LogQL"
        pod_name, container_name = str(goal.name).split("/")
        assert f'kubernetes_pod_name="{pod_name}"' in goal.data_query.query
        assert f'kubernetes_container_name="{container_name}"' in goal.data_query.query
    # The pods themselves, two steps away. (Within the default depth of 4, web-0 would
    # join them through the ServiceAccount every pod of the namespace runs as.)
    pods = k.goals(mission.start, "k8s:Pod", depth=2)
    assert goal_names(pods) == {(mission.namespace, name) for name in MOUNTING}


@dataclass(frozen=True)
class AfterDeletion:
    mission: Mission
    alive: datetime  # an instant when db-1 existed and the graph knew it
    deleted_at: datetime  # when the re-ingest found db-1 gone
    history: Result  # goal search over a window from before the first ingest to now


@pytest.fixture
def after_deletion(
    kube: KubeServer, prom: PromStack, store: Store, mission: Mission
) -> AfterDeletion:
    """db-1 deleted through the API, every source re-ingested, the rules re-applied."""
    since = datetime.now(UTC) - timedelta(minutes=10)  # before the first ingest
    time.sleep(0.05)  # so that `alive` is strictly after every first write
    alive = datetime.now(UTC)
    time.sleep(0.05)
    with kube.admin_client() as api:
        delete_pod(api, mission.namespace, "db-1")
    ingest_all(store, source_settings(kube, prom))
    runs = apply_rules(store)
    assert {r.mode for r in runs} == {"incremental"}  # anchored on what changed
    history = Korrel8(store).goals(mission.start, "log", since=since)
    gone = history.nodes[ref_of(history, "k8s:Pod", "db-1")]
    assert gone.deleted_at is not None and gone.deleted_at > alive
    return AfterDeletion(mission, alive, gone.deleted_at, history)


def test_a_deleted_pod_still_correlates_over_its_lifetime(
    store: Store, after_deletion: AfterDeletion
) -> None:
    mission, history = after_deletion.mission, after_deletion.history
    assert goal_names(history) == mission.streams(*MOUNTING)
    assert {p.rules for p in history.paths} == {PATH_RULES}
    # The deleted pod's edges were closed when it went, not removed.
    gone = ref_of(history, "k8s:Pod", "db-1")
    closed = [e for e in history.edges if gone in (e.start, e.goal)]
    assert {e.rule for e in closed} == {"pod-pvc-reverse", "pod-logs"}
    assert all(e.valid_to == after_deletion.deleted_at for e in closed)
    # Its streams were swept by the next (derived) log ingest: deleted too.
    for path in history.paths:
        if gone in path.refs:
            assert history.nodes[path.end].deleted_at is not None
    live = [e for e in history.edges if gone not in (e.start, e.goal)]
    assert live and all(e.valid_to is None for e in live)
    # An instant while it lived sees both pods; the present sees only the one left.
    k = Korrel8(store)
    then = k.goals(mission.start, "log", at=after_deletion.alive)
    assert goal_names(then) == mission.streams(*MOUNTING)
    now = k.goals(mission.start, "log", at=datetime.now(UTC))
    assert goal_names(now) == mission.streams("db-0")


def test_a_window_after_the_closure_excludes_the_closed_edge(
    store: Store, after_deletion: AfterDeletion
) -> None:
    mission, closed_at = after_deletion.mission, after_deletion.deleted_at
    k = Korrel8(store)
    # Both ends fixed: `until` left at "now" could fall before `since` on a fast machine.
    until = closed_at + timedelta(minutes=1)
    # From just after the closure: the pod's edges ended before the window began.
    later = k.goals(mission.start, "log", since=closed_at + timedelta(microseconds=1), until=until)
    assert goal_names(later) == mission.streams("db-0")
    assert ref_of(after_deletion.history, "k8s:Pod", "db-1") not in later.nodes
    # From the instant of the closure: the edge still held then, so it counts.
    edge = k.goals(mission.start, "log", since=closed_at, until=until)
    assert goal_names(edge) == mission.streams(*MOUNTING)
    # Started from the deleted pod itself, a window after its deletion finds nothing.
    pod_query = f"k8s:Pod:{{namespace: {mission.namespace}, name: db-1}}"
    with pytest.raises(StartNotFoundError, match="none alive"):
        k.goals(pod_query, "log", since=closed_at + timedelta(seconds=1), until=until)
    own = k.goals(pod_query, "log", since=closed_at, until=until, depth=1)
    assert goal_names(own) == mission.streams("db-1")
