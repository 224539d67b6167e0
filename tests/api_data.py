"""A generated cluster loaded the way a user loads one, for the API and MCP tests: a
snapshot of kubectl Lists (korrel8/cluster_gen.py, 60 pods) with an Alertmanager
alerts.json about one of its PersistentVolumeClaims, then every rule."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from ingest.snapshot import ingest
from korrel8 import cluster_gen, rules
from korrel8.graph.store import Store
from korrel8.rules import runner
from tests.servers.neo4j import Neo4jServer, clear

CLUSTER = "api-test"


@dataclass(frozen=True)
class Loaded:
    store: Store
    pod: dict[str, Any]  # a pod of a Deployment: its metadata
    claim: dict[str, Any]  # a PVC a StatefulSet pod mounts: its metadata
    alert: str  # a korrel8r query for the alert about that PVC


def _alert(claim: dict[str, Any]) -> dict[str, Any]:
    labels = {"alertname": "KubePersistentVolumeFillingUp", "namespace": claim["namespace"],
              "persistentvolumeclaim": claim["name"], "severity": "warning"}  # fmt: skip
    return {
        "labels": labels,
        "annotations": {"summary": "the volume is filling up"},
        "startsAt": "2026-01-10T10:00:00Z",
        "endsAt": "2099-01-10T11:05:00Z",
        "updatedAt": "2026-01-10T10:05:00Z",
        "fingerprint": "0123456789abcdef",
        "status": {"state": "active", "silencedBy": [], "inhibitedBy": []},
        "receivers": [{"name": "default"}],
        "generatorURL": "http://prometheus/graph?g0.expr=up",
    }


@pytest.fixture(scope="module")
def loaded(neo4j_server: Neo4jServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    snapshot = tmp_path_factory.mktemp("snapshot")
    cluster_gen.write_files(cluster_gen.cluster(pods=60, seed=1), snapshot)
    pods = json.loads((snapshot / "pods.json").read_text())["items"]
    claims = json.loads((snapshot / "persistentvolumeclaims.json").read_text())["items"]
    pod = next(p for p in pods if p["metadata"].get("ownerReferences", [{}])[0].get("kind")
               == "ReplicaSet")  # fmt: skip
    claim = claims[0]["metadata"]
    (snapshot / "alerts.json").write_text(json.dumps([_alert(claim)]))
    # A generous time limit: the tests share a loaded machine.
    with Store.connect(neo4j_server.settings(batch_size=1000, query_timeout=120)) as store:
        clear(store)
        store.apply_schema()
        summary = ingest(store, snapshot, CLUSTER)
        assert not summary.errors, summary.errors
        runner.apply(store, rules.load(), full=True)
        alert = (
            'alert:alert:{"alertname":"KubePersistentVolumeFillingUp",'
            f'"persistentvolumeclaim":"{claim["name"]}"}}'
        )
        yield Loaded(store, pod["metadata"], claim, alert)
