"""Goal search semantics (korrel8/expand.py): precise by default, wide on request.

Each case is a small cluster shaped like the noise seen on real clusters, loaded the way a
user loads one (a snapshot of kubectl objects and an Alertmanager alerts.json, then the
rules), and searched through the Python API: the precise answer leaves out the siblings
reached through a hub and the goals deeper than the nearest of their class, and says what
it left out; the wide answer still has them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ingest.snapshot import ingest
from korrel8 import rules
from korrel8.correlate import Korrel8
from korrel8.errors import GoalUnreachableError
from korrel8.graph.store import Store
from korrel8.result import Result
from korrel8.rules import runner

Obj = dict[str, Any]
NS = "shop"
CREATED = "2026-01-10T10:00:00Z"


def meta(name: str, namespace: str | None = NS, **extra: Any) -> Obj:
    data: Obj = {"name": name, "uid": f"uid-{namespace}-{name}", "creationTimestamp": CREATED}
    if namespace:
        data["namespace"] = namespace
    data.update(extra)
    return data


def pod(name: str, labels: dict[str, str], owner: Obj | None = None, **spec: Any) -> Obj:
    extra: Obj = {"labels": labels}
    if owner:
        extra["ownerReferences"] = [owner]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta(name, **extra),
        "spec": {"nodeName": "node-1", "containers": [{"name": "app", "image": "app"}], **spec},
        "status": {"phase": "Running"},
    }


def service(name: str, selector: dict[str, str] | None, namespace: str = NS) -> Obj:
    spec: Obj = {"ports": [{"port": 80}]}
    if selector is not None:
        spec["selector"] = selector
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta(name, namespace), "spec": spec}


def endpoint_slice(name: str, service_name: str, pods: list[str]) -> Obj:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": meta(name, labels={"kubernetes.io/service-name": service_name}),
        "addressType": "IPv4",
        "endpoints": [
            {"addresses": ["10.0.0.1"], "targetRef": {"kind": "Pod", "namespace": NS, "name": p}}
            for p in pods
        ],
    }


def claim(name: str, volume: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": meta(name),
        "spec": {"storageClassName": "standard", "volumeName": volume},
        "status": {"phase": "Bound"},
    }


def volume(name: str, claim_name: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": meta(name, None),
        "spec": {
            "storageClassName": "standard",
            "claimRef": {"kind": "PersistentVolumeClaim", "namespace": NS, "name": claim_name},
        },
        "status": {"phase": "Bound"},
    }


def event(name: str, kind: str, about: str, api_version: str = "v1") -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": meta(name),
        "involvedObject": {
            "apiVersion": api_version,
            "kind": kind,
            "namespace": NS,
            "name": about,
            "uid": f"uid-{NS}-{about}",
        },
        "reason": "Test",
        "message": f"about {kind} {about}",
        "type": "Normal",
        "firstTimestamp": CREATED,
        "lastTimestamp": CREATED,
    }


def owner_ref(kind: str, name: str, api_version: str = "apps/v1") -> Obj:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": name,
        "uid": f"uid-{NS}-{name}",
        "controller": True,
    }


def objects() -> list[Obj]:
    rs_owner = owner_ref("ReplicaSet", "web-5d8f")
    return [
        # A pod behind a Service with sibling pods; an alert about the one pod.
        *(pod(f"scheduler-{i}", {"app": "scheduler"}) for i in range(3)),
        service("scheduler", {"app": "scheduler"}),
        # Two Services over the same pods, each with its own EndpointSlice.
        *(pod(f"api-{i}", {"app": "api"}) for i in range(2)),
        service("api", {"app": "api"}),
        service("api-canary", {"app": "api"}),
        endpoint_slice("api-abcde", "api", ["api-0", "api-1"]),
        endpoint_slice("api-canary-fghij", "api-canary", ["api-0", "api-1"]),
        # A selector-less Service (its endpoints are managed by hand): it selects nothing.
        service("external-db", None),
        # PVCs sharing a StorageClass, each bound to its own volume.
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": meta("standard", None),
            "provisioner": "kubernetes.io/no-provisioner",
        },
        *(claim(f"data-{i}", f"pv-{i}") for i in range(3)),
        *(volume(f"pv-{i}", f"data-{i}") for i in range(3)),
        # A Deployment with Events of its own and Events of its pods.
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta("web", labels={"app": "web"}),
            "spec": {"selector": {"matchLabels": {"app": "web"}}, "replicas": 2},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": meta(
                "web-5d8f", labels={"app": "web"}, ownerReferences=[owner_ref("Deployment", "web")]
            ),
            "spec": {"selector": {"matchLabels": {"app": "web"}}},
        },
        *(pod(f"web-5d8f-{i}", {"app": "web"}, rs_owner) for i in range(2)),
        event("web.scaled", "Deployment", "web", "apps/v1"),
        *(event(f"web-5d8f-{i}.pulled", "Pod", f"web-5d8f-{i}") for i in range(2)),
        {"apiVersion": "v1", "kind": "Node", "metadata": meta("node-1", None)},
    ]


ALERT = {
    "labels": {
        "alertname": "KubePodNotReady",
        "namespace": NS,
        "pod": "scheduler-0",
        "severity": "warning",
    },
    "annotations": {"summary": "scheduler-0 is not ready"},
    "startsAt": "2026-01-10T10:05:00Z",
    "endsAt": "2026-01-10T11:05:00Z",
    "updatedAt": "2026-01-10T10:05:00Z",
    "fingerprint": "0123456789abcdef",
    "status": {"state": "active", "silencedBy": [], "inhibitedBy": []},
    "receivers": [{"name": "default"}],
    "generatorURL": "http://prometheus/graph?g0.expr=up",
}


@pytest.fixture
def k(store: Store, tmp_path: Path) -> Korrel8:
    snapshot = tmp_path / "noise-cases"
    snapshot.mkdir()
    for i, obj in enumerate(objects()):
        (snapshot / f"{i:03d}-{obj['kind']}.json").write_text(json.dumps(obj))
    (snapshot / "alerts.json").write_text(json.dumps([ALERT]))
    summary = ingest(store, snapshot, "c1")
    assert not summary.errors, summary.errors
    runner.apply(store, rules.load(), full=True)
    return Korrel8(store)


# The snapshot's objects were loaded now; the window covers the load.
def window() -> dict[str, datetime]:
    now = datetime.now(UTC)
    return {"since": now - timedelta(hours=1), "until": now + timedelta(minutes=5)}


def names(result: Result, class_: str | None = None) -> set[str]:
    return {str(g.name) for g in result.goals if class_ is None or g.class_ == class_}


def q(class_: str, name: str, namespace: str | None = NS) -> str:
    where = f"namespace: {namespace}, " if namespace else ""
    return f"{class_}:{{{where}name: {name}}}"


def test_an_alert_about_one_pod_finds_that_pod_not_its_service_siblings(k: Korrel8) -> None:
    start = f"alert:alert:{{alertname: KubePodNotReady, namespace: {NS}, pod: scheduler-0}}"
    precise = k.goals(start, "k8s:Pod", **window())
    assert names(precise) == {"scheduler-0"}
    assert precise.mode == "precise"
    wide = k.goals(start, "k8s:Pod", wide=True, **window())
    assert names(wide) == {"scheduler-0", "scheduler-1", "scheduler-2"}
    assert wide.mode == "wide"


def test_a_claim_finds_its_own_volume_not_those_of_its_storage_class(k: Korrel8) -> None:
    precise = k.goals(q("k8s:PersistentVolumeClaim", "data-0"), "k8s:PersistentVolume", **window())
    assert names(precise) == {"pv-0"}
    wide = k.goals(
        q("k8s:PersistentVolumeClaim", "data-0"), "k8s:PersistentVolume", wide=True, **window()
    )
    assert names(wide) == {"pv-0", "pv-1", "pv-2"}  # through the StorageClass and back down
    # The StorageClass itself is related: reached going up, and kept.
    up = k.goals(q("k8s:PersistentVolumeClaim", "data-0"), "k8s:StorageClass.storage.k8s.io",
                 **window())  # fmt: skip
    assert names(up) == {"standard"}


def test_a_service_finds_its_own_endpoint_slice_and_names_what_it_left_out(
    k: Korrel8,
) -> None:
    precise = k.goals(q("k8s:Service", "api"), "k8s:EndpointSlice.discovery.k8s.io", **window())
    assert names(precise) == {"api-abcde"}
    # The other Service's slice lists the same pods; deeper, it is counted, not mixed in.
    wide = k.goals(
        q("k8s:Service", "api"), "k8s:EndpointSlice.discovery.k8s.io", wide=True, **window()
    )
    assert names(wide) == {"api-abcde", "api-canary-fghij"}
    (left,) = precise.left_out
    assert (left.class_, left.count) == ("k8s:EndpointSlice.discovery.k8s.io", 1)
    assert left.depth > 1 and "Pod" in left.via


def test_a_selectorless_service_selects_no_pods(k: Korrel8) -> None:
    with pytest.raises(GoalUnreachableError):
        k.goals(q("k8s:Service", "external-db"), "k8s:Pod", **window())
    with pytest.raises(GoalUnreachableError):
        k.goals(q("k8s:Service", "external-db"), "k8s:Pod", wide=True, **window())


def test_a_deployment_finds_its_own_events_and_counts_its_pods_events(k: Korrel8) -> None:
    precise = k.goals(q("k8s:Deployment.apps", "web"), "k8s:Event", **window())
    assert names(precise) == {"web.scaled"}
    (left,) = precise.left_out
    assert (left.class_, left.count) == ("k8s:Event", 2)
    assert "Pod" in left.via
    wide = k.goals(q("k8s:Deployment.apps", "web"), "k8s:Event", wide=True, **window())
    assert names(wide) == {"web.scaled", "web-5d8f-0.pulled", "web-5d8f-1.pulled"}
    # A pod's events are its own; up to the ReplicaSet and back down is not followed.
    pods = k.goals(q("k8s:Pod", "web-5d8f-0"), "k8s:Event", **window())
    assert names(pods) == {"web-5d8f-0.pulled"}


def test_going_down_then_up_is_kept(k: Korrel8) -> None:
    # A Deployment's pods, then the Node they run on: down to the pods, up to the Node.
    found = k.goals(q("k8s:Deployment.apps", "web"), "k8s:Node", **window())
    assert names(found) == {"node-1"}
    # An event leads up through its pod to the pod's owners.
    owners = k.goals(q("k8s:Event", "web-5d8f-0.pulled"), "k8s:Deployment.apps", **window())
    assert names(owners) == {"web"}


def test_every_output_says_which_mode_ran(k: Korrel8) -> None:
    from korrel8.render import json as render_json

    precise = render_json.to_dict(k.goals(q("k8s:Service", "api"), "k8s:Pod", **window()))
    assert precise["mode"] == "precise" and precise["left_out"] == []
    wide = render_json.to_dict(k.goals(q("k8s:Service", "api"), "k8s:Pod", wide=True, **window()))
    assert wide["mode"] == "wide"


def test_a_goal_class_with_no_objects_says_so_at_once(k: Korrel8) -> None:
    with pytest.raises(GoalUnreachableError, match="has no objects"):
        k.goals(q("k8s:Service", "api"), "k8s:CronJob.batch", **window())
