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
from datetime import timedelta
from pathlib import Path

from ingest import logs, snapshot, traces
from korrel8 import cluster_gen, rules
from korrel8.config import HttpSourceSettings, LogStoreSettings
from korrel8.graph.store import Store, utcnow
from korrel8.rules import runner as rule_runner

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
