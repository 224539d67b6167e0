"""Many clusters in one graph: each job touches its own cluster only.

A cluster loaded from a snapshot (or written by another korrel8) is left byte-for-byte
as it was by the derived log and trace jobs and the rule runs of another cluster
(issue 14, deliverable 7); two `korrel8 serve` instances, each with its own real
kube-apiserver, write into one Neo4j at once without duplicates, lost writes or closing
each other's edges (issue 16, deliverable 5).
"""

from __future__ import annotations

import hashlib
import json
import random
import secrets
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from ingest import logs, snapshot, traces
from ingest.summary import Summary
from korrel8 import cluster_gen, rules
from korrel8.config import (
    HttpSourceSettings,
    KubernetesSettings,
    LogStoreSettings,
    ServeSettings,
    Settings,
    SourcesSettings,
)
from korrel8.graph.store import Store, utcnow
from korrel8.rules import runner as rule_runner
from korrel8.service.jobs import SourceJob, source_jobs
from korrel8.service.service import Service
from tests.servers.kube import KubeServer, create_namespace, rest
from tests.servers.neo4j import Neo4jServer
from tests.servers.prom import wait_until

ADMIN_CONTEXT = "korrel8-admin"  # the harness's kubeconfig context

A, B = "cluster-a", "cluster-b"
RULES = [r for r in rules.load() if r.enabled]


def fingerprint(store: Store, cluster: str) -> tuple[int, int, str]:
    """Nodes of ``cluster`` and edges with an end in it: counts and a checksum over every
    property, so any change to them shows."""
    nodes = store.run(
        "MATCH (n:Object) WHERE n.cluster = $c "
        "RETURN n.ref AS ref, labels(n) AS labels, properties(n) AS props ORDER BY ref",
        c=cluster,
    )
    edges = store.run(
        "MATCH (a)-[r]->(b) WHERE a.cluster = $c OR b.cluster = $c "
        "RETURN a.ref AS a, type(r) AS t, b.ref AS b, properties(r) AS props "
        "ORDER BY a, t, b, props.rule",
        c=cluster,
    )
    digest = hashlib.sha256()
    for row in [*nodes, *edges]:
        row = {**row, "labels": sorted(row.get("labels") or [])}
        digest.update(json.dumps(row, sort_keys=True, default=str).encode())
    return len(nodes), len(edges), digest.hexdigest()


def open_edges(store: Store, cluster: str) -> set[tuple[str, str, str, str]]:
    rows = store.run(
        "MATCH (a)-[r]->(b) WHERE a.cluster = $c AND r.valid_to IS NULL AND r.rule IS NOT NULL "
        "RETURN a.ref AS a, type(r) AS t, r.rule AS rule, b.ref AS b",
        c=cluster,
    )
    return {(r["a"], r["t"], r["rule"], r["b"]) for r in rows}


def load(store: Store, tmp: Path, cluster: str, seed: int) -> None:
    directory = tmp / cluster
    cluster_gen.write_files(cluster_gen.cluster(pods=30, seed=seed, prefix=cluster), directory)
    summary = snapshot.ingest(store, directory, cluster)
    assert not summary.errors, summary.errors


def delete_one_pod(store: Store, cluster: str) -> str:
    """Mark one linked pod deleted as a sweep would, but leave its edges open: the
    rules of its cluster must close them, no other cluster's rules may."""
    rows = store.run(
        "MATCH (p:Object {class: 'Pod'})-[r]-() WHERE p.cluster = $c AND r.rule IS NOT NULL "
        "WITH p ORDER BY p.ref LIMIT 1 "
        "SET p.deleted_at = $now, p.changed_at = $now RETURN p.ref AS ref",
        c=cluster,
        now=utcnow(),
    )
    return str(rows[0]["ref"])


def open_edges_of(store: Store, ref: str) -> int:
    rows = store.run(
        "MATCH (p:Object {ref: $ref})-[r]-() WHERE r.valid_to IS NULL AND r.rule IS NOT NULL "
        "RETURN count(r) AS n",
        ref=ref,
    )
    return int(rows[0]["n"])


def test_jobs_and_rules_of_one_cluster_leave_another_unchanged(
    store: Store, tmp_path: Path
) -> None:
    """Cluster B is a snapshot; the derived jobs and the rules run for cluster A: B's
    nodes and edges keep their count and every property, even while B has changes of its
    own pending that B's rules (and only they) then apply."""
    load(store, tmp_path, A, seed=1)
    load(store, tmp_path, B, seed=2)
    rule_runner.apply(store, RULES, full=True)  # as `korrel8 rules apply --full` after loading
    assert open_edges(store, B), "the snapshot's cluster has edges to protect"
    gone_b = delete_one_pod(store, B)  # a change in B that B's own rules must apply
    before = fingerprint(store, B)

    # The derived jobs of a serve for A, then A's rules: full, and incremental after a
    # change in each cluster.
    assert logs.ingest(store, LogStoreSettings(), clusters={A}).cluster == A
    assert traces.ingest(store, HttpSourceSettings(), clusters={A}).cluster == A
    rule_runner.apply(store, RULES, full=True, clusters=[A])
    assert fingerprint(store, B) == before
    gone_a = delete_one_pod(store, A)
    before = fingerprint(store, B)
    runs = rule_runner.apply(store, RULES, clusters=[A])
    assert {r.mode for r in runs} == {"incremental"}
    assert fingerprint(store, B) == before
    assert open_edges_of(store, gone_a) == 0  # A's rules closed A's edges
    assert open_edges_of(store, gone_b) > 0  # and none of B's
    rule_runner.close_retired(store, [], clusters=[A])  # every rule retired, in A only
    assert fingerprint(store, B) == before
    store.purge(timedelta(0), now=utcnow() + timedelta(days=1), clusters=[A])
    assert fingerprint(store, B) == before

    # B's own scoped run, for the first time: a full one, that applies B's change.
    runs = rule_runner.apply(store, RULES, clusters=[B])
    assert {r.mode for r in runs} == {"full"}
    assert open_edges_of(store, gone_b) == 0


def test_a_scoped_run_makes_the_edges_an_unscoped_one_makes(store: Store, tmp_path: Path) -> None:
    """Running the rules per cluster gives each cluster the edges one run over the whole
    graph gives it: nothing is left out by scoping."""
    load(store, tmp_path, A, seed=3)
    load(store, tmp_path, B, seed=4)
    rule_runner.apply(store, RULES, clusters=[A])
    rule_runner.apply(store, RULES, clusters=[B])
    scoped = open_edges(store, A) | open_edges(store, B)
    assert scoped
    rule_runner.apply(store, RULES, full=True)
    assert open_edges(store, A) | open_edges(store, B) == scoped


# --------------------------------------------------------------------------- a fleet


FLEET_WAIT = 600.0  # seconds: each instance's first rule run plans every statement
PODS = 12


def pod_names(api: Any, namespace: str) -> set[str]:
    items = rest(api, "GET", f"/api/v1/namespaces/{namespace}/pods")["items"]
    return {p["metadata"]["name"] for p in items}


def converged(store: Store, cluster: str, namespace: str, expected: set[str]) -> bool:
    """The graph holds exactly the cluster's pods, each linked to its derived log stream and
    trace (two jobs of their own, each followed by a rule run)."""
    rows = store.run(
        "MATCH (p:Object {class: 'Pod'}) WHERE p.cluster = $c AND p.namespace = $ns "
        "AND p.deleted_at IS NULL "
        "RETURN p.name AS name, EXISTS { (p)-[r:HAS_LOGS {rule: 'pod-logs'}]->() "
        "WHERE r.valid_to IS NULL } AND EXISTS { (p)-[r:HAS_TRACES {rule: 'pod-traces'}]->() "
        "WHERE r.valid_to IS NULL } AS linked",
        c=cluster,
        ns=namespace,
    )
    return {r["name"] for r in rows} == expected and all(r["linked"] for r in rows)


def duplicates(store: Store) -> tuple[int, int]:
    nodes = store.run(
        "MATCH (n:Object) WITH n.ref AS ref, count(*) AS c WHERE c > 1 RETURN count(*) AS n"
    )
    edges = store.run(
        "MATCH (a)-[r]->(b) WITH a, b, type(r) AS t, r.rule AS rule, count(*) AS c "
        "WHERE c > 1 RETURN count(*) AS n"
    )
    return int(nodes[0]["n"]), int(edges[0]["n"])


def populate(api: Any, namespace: str, seed: int) -> list[str]:
    """A generated namespace of PODS pods on a Node of its own; the cluster-scoped
    objects made (to delete after)."""
    node, storage = f"node-{secrets.token_hex(4)}", f"sc-{secrets.token_hex(4)}"
    objects = cluster_gen.namespace(
        namespace, PODS, seed=seed, nodes=[node], create_namespace=False,
        storage_classes=[storage],
    )  # fmt: skip
    scoped = [
        cluster_gen.node_object(node),
        cluster_gen.storage_class(storage, "example.com/fast", random.Random(seed)),
    ]
    return cluster_gen.apply([scoped, objects], api).cluster_scoped


def churn(api: Any, namespace: str, tag: str) -> None:
    """Three pods deleted and three new ones, at once."""
    for name in sorted(pod_names(api, namespace))[:3]:
        # At once: no kubelet here to confirm a graceful deletion.
        now = {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0}
        rest(api, "DELETE", f"/api/v1/namespaces/{namespace}/pods/{name}", now)
    for i in range(3):
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": f"{tag}-{i}", "namespace": namespace, "labels": {"app": tag}},
            "spec": {"containers": [{"name": "app", "image": "nginx"}]},
        }
        rest(api, "POST", f"/api/v1/namespaces/{namespace}/pods", pod)


def settle(store: Store, namespace: str, api_a: Any, api_b: Any, what: str) -> None:
    def both() -> bool:
        return converged(store, A, namespace, pod_names(api_a, namespace)) and converged(
            store, B, namespace, pod_names(api_b, namespace)
        )

    wait_until(both, FLEET_WAIT, f"both clusters: {what}", every=1.0)


def serve_settings(neo4j: Neo4jServer, kube: KubeServer, cluster: str) -> Settings:
    k8s = KubernetesSettings(
        kubeconfig=kube.admin_kubeconfig, custom_resources="none", interval_seconds=1,
        cluster_names={ADMIN_CONTEXT: cluster},
    )  # fmt: skip
    return neo4j.settings(
        sources=SourcesSettings(
            kubernetes=k8s, loki={"interval_seconds": 1}, tempo={"interval_seconds": 1}
        ),
        serve=ServeSettings(port=0, jitter_seconds=0.2, graph_interval_seconds=1),
    )


@pytest.mark.timeout(1800)  # two kube-apiservers and two first full rule runs
def test_two_serves_one_per_cluster_share_one_neo4j(
    neo4j_server: Neo4jServer,
    store: Store,
    kube: KubeServer,
    second_kube: KubeServer,
    kube_namespace: str,
    tmp_path: Path,
) -> None:
    """Two `korrel8 serve`, each with its own kube-apiserver, write into one Neo4j at
    once, beside a snapshot's cluster: every pod and change of both clusters reaches the
    graph once, each instance's rules make its own cluster's edges (exactly those a full
    run over the whole graph makes) and close none of the other's, and the snapshot's
    cluster is left as it was."""
    load(store, tmp_path, "snap", seed=5)
    rule_runner.apply(store, RULES, full=True)
    snap = fingerprint(store, "snap")
    ns = kube_namespace
    with second_kube.admin_client() as api_b:
        create_namespace(api_b, ns)
    with kube.admin_client() as api_a, second_kube.admin_client() as api_b:
        made = populate(api_a, ns, seed=11)
        populate(api_b, ns, seed=12)
        services = []
        try:
            for server, cluster in ((kube, A), (second_kube, B)):
                own = Store.connect(serve_settings(neo4j_server, server, cluster))
                dirty = threading.Event()
                settings = serve_settings(neo4j_server, server, cluster)
                jobs, _ = source_jobs(settings, own, on_change=dirty.set)
                service = Service(settings, own, rules.load(), jobs, dirty)
                services.append((service, own))
                service.start()
            started = time.monotonic()
            settle(store, ns, api_a, api_b, "listed")
            listed = time.monotonic() - started
            churn(api_a, ns, "late-a")
            churn(api_b, ns, "late-b")
            started = time.monotonic()
            settle(store, ns, api_a, api_b, "changes")
            # The README's fleet sizes (pytest -s): not asserted, machines differ.
            print(f"\nfleet: listed and linked in {listed:.1f} s, churn in "
                  f"{time.monotonic() - started:.1f} s")  # fmt: skip
        finally:
            for service, own in services:
                service.stop()
                own.close()
            cluster_gen.delete_cluster_scoped(api_a, made)
    assert duplicates(store) == (0, 0)
    assert fingerprint(store, "snap") == snap
    assert {s.clusters() for s, _ in services} == {frozenset({A}), frozenset({B})}
    # A stop is honoured between two rules: the rules a run had left are what each
    # instance's next start runs, incrementally, for its own cluster.
    for cluster in (A, B):
        assert {r.mode for r in rule_runner.apply(store, RULES, clusters=[cluster])} <= {
            "incremental"
        }
    scoped = open_edges(store, A) | open_edges(store, B)
    rule_runner.apply(store, RULES, full=True)  # the whole graph at once: nothing to add
    assert open_edges(store, A) | open_edges(store, B) == scoped


def snapshot_jobs(own: Store, directory: Path, cluster: str) -> list[SourceJob]:
    """A serve's jobs for one cluster, its Kubernetes listing read from a snapshot."""

    def listing() -> list[Summary]:
        return [snapshot.ingest(own, directory, cluster)]

    def derive_logs() -> list[Summary]:
        return [logs.ingest(own, LogStoreSettings(), clusters={cluster})]

    def derive_traces() -> list[Summary]:
        return [traces.ingest(own, HttpSourceSettings(), clusters={cluster})]

    return [
        # A whole relisting every 10 s: far more writing than a watch does.
        SourceJob("kubernetes", cluster, 10.0, listing, clusters=lambda: frozenset({cluster})),
        SourceJob("loki", cluster, 5.0, derive_logs),
        SourceJob("tempo", cluster, 5.0, derive_traces),
    ]


@pytest.mark.timeout(1800)  # two first full rule runs at once, beside the writes
def test_two_services_write_one_neo4j_at_once(
    neo4j_server: Neo4jServer, store: Store, tmp_path: Path
) -> None:
    """Without Kubernetes: two services on their own connections, each re-loading its
    cluster's snapshot every 10 s with the derived logs and traces and its rules, write
    into one Neo4j at once: no duplicate, each cluster's edges as a full run makes them."""
    for cluster, seed in ((A, 21), (B, 22)):
        cluster_gen.write_files(
            cluster_gen.cluster(pods=30, seed=seed, prefix=cluster), tmp_path / cluster
        )
    services = []
    try:
        for cluster in (A, B):
            own = Store.connect(neo4j_server.settings(batch_size=50))  # many small batches
            jobs = snapshot_jobs(own, tmp_path / cluster, cluster)
            settings = neo4j_server.settings(
                serve=ServeSettings(port=0, jitter_seconds=0.2, graph_interval_seconds=1)
            )
            service = Service(settings, own, rules.load(), jobs)
            services.append((service, own))
            service.start()
        wait_until(lambda: all(s.rule_applications >= 2 for s, _ in services), FLEET_WAIT, "rules")
    finally:
        for service, own in services:
            service.stop()
            own.close()
    assert duplicates(store) == (0, 0)
    scoped = open_edges(store, A) | open_edges(store, B)
    assert open_edges(store, A) and open_edges(store, B)
    rule_runner.apply(store, RULES, full=True)
    assert open_edges(store, A) | open_edges(store, B) == scoped
