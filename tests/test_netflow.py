"""Network flow references derived from the objects in the graph (no Loki needed), and the
rules both ways between them and their pods, services, nodes and owners, in the real Neo4j."""

from __future__ import annotations

from typing import Any

from ingest import netflow
from ingest.k8s.kinds import known_kinds
from ingest.k8s.rows import to_row
from korrel8 import rules
from korrel8.graph.rows import NodeRow
from korrel8.graph.store import Store, utcnow
from korrel8.model import Query
from korrel8.rules import runner as rule_runner
from tests.graph import edges, nodes

SPECS = {(s.group, s.kind): s for s in known_kinds() if s.listed}
NETFLOW = [r for r in rules.load() if "netflow" in r.name]


def obj(kind: str, name: str, namespace: str | None = "shop", group: str = "") -> NodeRow:
    meta: dict[str, Any] = {"name": name, "uid": f"uid-{name}"}
    if namespace:
        meta["namespace"] = namespace
    body = {"apiVersion": f"{group}/v1" if group else "v1", "kind": kind, "metadata": meta}
    return to_row(body, SPECS[(group, kind)], "c1")


def flow_nodes(store: Store) -> dict[str, dict[str, Any]]:
    return {n["name"]: n for n in nodes(store).values() if n["class"] == "network"}


def test_flows_are_derived_per_object_and_direction_and_link_both_ways(store: Store) -> None:
    store.upsert_nodes(
        [
            obj("Pod", "web-1"),
            obj("Service", "web"),
            obj("Node", "worker-1", None),
            obj("Deployment", "web", group="apps"),
        ]
    )
    summary = netflow.ingest(store)
    assert summary.ok and summary.objects["netflow:network"] == 8
    got = flow_nodes(store)
    assert set(got) == {
        f"{d}:{k}" for d in ("src", "dst")
        for k in ("Pod/web-1", "Service/web", "Node/worker-1", "Deployment/web")
    }  # fmt: skip
    # korrel8r's K8sSrcToNetflow and K8sDstOwnerToNetflow queries, each a valid korrel8r
    # netflow query once prefixed with its class.
    assert got["src:Pod/web-1"]["logql"] == (
        '{SrcK8S_Namespace="shop", SrcK8S_Type="Pod"} | json | SrcK8S_Name="web-1"'
    )
    node_flows = '{DstK8S_Type="Node"} | json | DstK8S_Name="worker-1"'
    assert got["dst:Node/worker-1"]["logql"] == node_flows
    assert got["dst:Deployment/web"]["logql"] == (
        '{DstK8S_Namespace="shop", DstK8S_OwnerName="web"} | json | DstK8S_OwnerType="Deployment"'
    )
    for node in got.values():
        Query.parse(f"netflow:network:{node['logql']}")

    rule_runner.apply(store, NETFLOW, full=True)

    def name(ref: str) -> str:
        return ref.split('"name":"')[1].split('"')[0] if '"name"' in ref else ref

    linked = {(p["rule"], a, b) for (a, _, b), p in edges(store).items()}
    by_rule: dict[str, set[tuple[str, str]]] = {}
    for rule, a, b in linked:
        by_rule.setdefault(rule, set()).add((a, b))
    refs = {n["name"]: n["ref"] for n in flow_nodes(store).values()}
    pod = obj("Pod", "web-1").ref
    assert by_rule["k8s-src-to-netflow"] >= {(pod, refs["src:Pod/web-1"])}
    assert by_rule["netflow-to-dst-k8s"] >= {(refs["dst:Pod/web-1"], pod)}
    # Each object has exactly its own two flow nodes; the Deployment's are owner flows.
    assert len(by_rule["k8s-src-to-netflow"]) == 3 and len(by_rule["k8s-dst-to-netflow"]) == 3
    deployment = obj("Deployment", "web", group="apps").ref
    assert by_rule["k8s-src-owner-to-netflow"] == {(deployment, refs["src:Deployment/web"])}
    assert by_rule["netflow-to-dst-k8s-owner"] == {(refs["dst:Deployment/web"], deployment)}
    assert len(linked) == 16

    # The pod is gone: its flow nodes are swept at the next derivation.
    store.sweep("k8s", "c1", started=utcnow(), classes=["Pod"])
    assert netflow.ingest(store).deleted == 2
    assert flow_nodes(store)["src:Pod/web-1"].get("deleted_at") is not None
