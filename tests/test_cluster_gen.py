"""The cluster generator: deterministic, sized by pods, realistic, self-consistent.

Applying generated objects to a real API server is exercised by tests/test_k8s_ingest.py.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from korrel8.cluster_gen import Shape, Workload, cluster, namespace, planned_namespace, write_files

Obj = dict[str, Any]


def flat(pods: int, seed: int = 0) -> list[Obj]:
    return [obj for unit in cluster(pods, seed=seed) for obj in unit]


def key(obj: Obj) -> tuple[str, str | None, str]:
    meta = obj["metadata"]
    return obj["kind"], meta.get("namespace"), meta["name"]


def test_the_same_seed_gives_the_same_cluster() -> None:
    assert flat(300, seed=5) == flat(300, seed=5)
    assert flat(300, seed=5) != flat(300, seed=6)

    # A namespace's content depends on the seed, not on its (often random) name; only the
    # names of its PersistentVolumes, which are cluster-wide, do.
    def names(ns: str) -> list[tuple[str, str]]:
        objects = namespace(ns, 20, seed=1)
        return [
            (o["kind"], o["metadata"]["name"])
            for o in objects[1:]
            if o["kind"] != "PersistentVolume"
        ]

    assert names("a") == names("b")


@pytest.mark.parametrize("pods", [1, 7, 40, 333, 1000])
def test_exactly_the_pods_asked_for(pods: int) -> None:
    counts = Counter(o["kind"] for o in flat(pods))
    assert counts["Pod"] == pods
    assert counts["Node"] == math.ceil(pods / Shape().pods_per_node)


def test_proportions_are_realistic() -> None:
    objects = flat(3000, seed=2)
    counts = Counter(o["kind"] for o in objects)
    pods = [o for o in objects if o["kind"] == "Pod"]
    owners = Counter(o["metadata"].get("ownerReferences", [{}])[0].get("kind") for o in pods)
    assert owners["DaemonSet"] == counts["Node"] * 2
    assert 0.6 < owners["ReplicaSet"] / 3000 < 0.85
    assert 0.05 < owners["StatefulSet"] / 3000 < 0.2
    assert 0.05 < owners["Job"] / 3000 < 0.2
    assert 50 < counts["Namespace"] < 100  # about 40 pods each
    assert counts["ReplicaSet"] > counts["Deployment"]  # old ReplicaSets are kept
    assert counts["Service"] == counts["EndpointSlice"]
    assert counts["PersistentVolume"] == counts["PersistentVolumeClaim"] == owners["StatefulSet"]
    assert 0.3 < counts["Event"] / 3000 < 0.7
    assert 0 < counts["HorizontalPodAutoscaler"] < counts["Deployment"]
    restarts = [sum(s["restartCount"] for s in p["status"]["containerStatuses"]) for p in pods]
    assert 0.02 < sum(1 for r in restarts if r) / 3000 < 0.3


def test_every_reference_resolves() -> None:
    objects = flat(500, seed=3)
    by_key = {key(o): o for o in objects}
    assert len(by_key) == len(objects)  # no two objects share kind, namespace and name
    uids = {o["metadata"]["uid"]: o for o in objects}
    assert len(uids) == len(objects)
    nodes = {o["metadata"]["name"] for o in objects if o["kind"] == "Node"}
    for obj in objects:
        ns = obj["metadata"].get("namespace")
        for owner in obj["metadata"].get("ownerReferences", []):
            target = uids[owner["uid"]]
            assert key(target) == (owner["kind"], ns, owner["name"])
        if obj["kind"] == "Pod":
            spec = obj["spec"]
            assert spec["nodeName"] in nodes
            assert ("ServiceAccount", ns, spec.get("serviceAccountName", "default")) in by_key
            for volume in spec.get("volumes", []):
                if "configMap" in volume:
                    assert ("ConfigMap", ns, volume["configMap"]["name"]) in by_key
                if "persistentVolumeClaim" in volume:
                    claim = volume["persistentVolumeClaim"]["claimName"]
                    assert ("PersistentVolumeClaim", ns, claim) in by_key
            for container in spec["containers"]:
                for source in container.get("envFrom", []):
                    assert ("Secret", ns, source["secretRef"]["name"]) in by_key
            for pull in spec.get("imagePullSecrets", []):
                assert ("Secret", ns, pull["name"]) in by_key
        if obj["kind"] == "EndpointSlice":
            service = obj["metadata"]["labels"]["kubernetes.io/service-name"]
            selector = by_key[("Service", ns, service)]["spec"]["selector"]
            for endpoint in obj["endpoints"]:
                pod = uids[endpoint["targetRef"]["uid"]]
                assert pod["metadata"]["name"] == endpoint["targetRef"]["name"]
                assert selector.items() <= pod["metadata"]["labels"].items()
                assert endpoint["addresses"] == [pod["status"]["podIP"]]
        if obj["kind"] == "PersistentVolume":
            claim_ref = obj["spec"]["claimRef"]
            claim = uids[claim_ref["uid"]]
            assert claim["spec"]["volumeName"] == obj["metadata"]["name"]
            assert key(claim) == (
                "PersistentVolumeClaim",
                claim_ref["namespace"],
                claim_ref["name"],
            )
        if obj["kind"] == "HorizontalPodAutoscaler":
            assert ("Deployment", ns, obj["spec"]["scaleTargetRef"]["name"]) in by_key
        if obj["kind"] == "Event":
            about = uids[obj["involvedObject"]["uid"]]
            assert about["metadata"]["name"] == obj["involvedObject"]["name"]
        if obj["kind"] in ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet"):
            template = obj["spec"]["template"]["metadata"]["labels"]
            assert obj["spec"]["selector"]["matchLabels"].items() <= template.items()


def test_files_are_kubectl_lists_per_kind(tmp_path: Path) -> None:
    counts = write_files(cluster(200, seed=4), tmp_path)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert "pods.json" in files and "events.json" in files and len(files) == len(counts)
    for path in tmp_path.iterdir():
        doc = json.loads(path.read_text())
        assert (doc["apiVersion"], doc["kind"]) == ("v1", "List")
        kinds = {item["kind"] for item in doc["items"]}
        assert len(kinds) == 1
        assert len(doc["items"]) == counts[kinds.pop()]
        assert all(item["metadata"]["resourceVersion"] for item in doc["items"])
    assert counts["Pod"] == 200


def test_a_planned_namespace_holds_the_workloads_named() -> None:
    plan = [
        Workload("Deployment", "cart", 3, crash_looping=True),
        Workload("StatefulSet", "db", 2),
        Workload("Job", "db-migrate"),
        Workload("CronJob", "backup", 2),
    ]
    objects = planned_namespace("shop", plan, seed=3, nodes=["n1", "n2"])
    assert objects == planned_namespace("shop", plan, seed=3, nodes=["n1", "n2"])
    names = {(o["kind"], o["metadata"]["name"]) for o in objects}
    for kind, name in [
        ("Deployment", "cart"),
        ("StatefulSet", "db"),
        ("Job", "db-migrate"),
        ("CronJob", "backup"),
        ("PersistentVolumeClaim", "data-db-0"),
        ("PersistentVolumeClaim", "data-db-1"),
    ]:
        assert (kind, name) in names
    pods = [o for o in objects if o["kind"] == "Pod"]
    assert len(pods) == sum(w.pods for w in plan)
    assert {o["spec"]["nodeName"] for o in pods} <= {"n1", "n2"}

    def waiting(pod: Obj) -> bool:
        return any("waiting" in s["state"] for s in pod["status"]["containerStatuses"])

    # One pod of the crash-looping app crash-loops (not all three), with a BackOff Event.
    cart = [p for p in pods if p["metadata"]["labels"]["app"] == "cart"]
    crashing = [p["metadata"]["name"] for p in cart if waiting(p)]
    assert len(cart) == 3 and len(crashing) == 1
    assert any(
        o["kind"] == "Event"
        and o["reason"] == "BackOff"
        and o["involvedObject"]["name"] == crashing[0]
        for o in objects
    )
