"""Rules: every rule's own example against the real Neo4j, the incremental run, and errors."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from korrel8 import rules
from korrel8.cli import app
from korrel8.graph.rows import NodeRow
from korrel8.graph.store import Store, utcnow
from korrel8.model import Class, ref
from korrel8.rules import runner as rule_runner
from korrel8.rules.compiler import compile_rule, conjuncts
from korrel8.rules.graph import to_dot, to_mermaid
from tests.graph import edges, nodes
from tests.servers.neo4j import Neo4jServer

ALL = rules.load()
BY_NAME = {r.name: r for r in ALL}


def example_node(cls: Class, props: dict[str, Any], *, cluster: str = "c1") -> NodeRow:
    """A node shaped as the ingesters shape it: namespace and name are fields, kind is set."""
    props = dict(props)
    namespace, name = props.pop("namespace", None), props.pop("name", None)
    name = name or f"{cls.name}-{len(props)}-{sorted(props.items())}"
    if cls.domain == "k8s":
        props.setdefault("kind", cls.kind)
    return NodeRow.model_validate(
        {
            "ref": ref(cls, {"namespace": namespace, "name": name}, cluster),
            "domain": cls.domain,
            "class": cls.name,
            "source": "test",
            "cluster": cluster,
            "namespace": namespace,
            "name": name,
            "properties": props,
        }
    )


def example_class(rule: rules.Rule, side: str) -> Class:
    assert rule.test is not None
    given = rule.test.start_class if side == "start" else rule.test.goal_class
    spec = rule.start_classes if side == "start" else rule.goal_classes
    if given:
        return Class.parse(given)
    assert isinstance(spec, list), f"rule {rule.name}: a domain-wide {side} needs test.{side}_class"
    return spec[0]


@pytest.mark.parametrize("rule", ALL, ids=[r.name for r in ALL])
def test_every_rule_has_an_example(rule: rules.Rule) -> None:
    assert rule.test is not None, f"{rule.origin}: rule {rule.name} has no test example"


@pytest.mark.parametrize("rule", ALL, ids=[r.name for r in ALL])
def test_rule_links_its_example(store: Store, rule: rules.Rule) -> None:
    assert rule.test is not None
    start_cls, goal_cls = example_class(rule, "start"), example_class(rule, "goal")
    start = example_node(start_cls, rule.test.start)
    goal = example_node(goal_cls, rule.test.goal)
    rows = [start, goal]
    if rule.test.not_goal is not None:
        rows.append(example_node(goal_cls, rule.test.not_goal))
    for other in rule.test.context:
        props = {k: v for k, v in other.items() if k != "class"}
        rows.append(example_node(Class.parse(other["class"]), props))
    store.upsert_nodes(rows)
    run = rule_runner.run_rule(store, compile_rule(rule), since=None)
    got = {(a, t, b): p["rule"] for (a, t, b), p in edges(store).items()}
    assert got == {(start.ref, rule.verb, goal.ref): rule.name}
    assert run.edges == 1


def pod(name: str, claims: list[str]) -> NodeRow:
    return example_node(
        Class.parse("k8s:Pod"), {"namespace": "ns", "name": name, "claim_names": claims}
    )


def pvc(name: str) -> NodeRow:
    return example_node(Class.parse("k8s:PersistentVolumeClaim"), {"namespace": "ns", "name": name})


def test_incremental_run_follows_changes(store: Store) -> None:
    compiled = compile_rule(BY_NAME["pod-pvc"])
    t0 = utcnow() - timedelta(hours=1)
    store.upsert_nodes([pod("p1", ["d1"]), pvc("d1"), pod("p3", ["d3"])], now=t0)
    rule_runner.run_rule(store, compiled, since=None, now=t0)
    assert {(a, b) for a, _, b in edges(store)} == {(pod("p1", []).ref, pvc("d1").ref)}

    t1 = t0 + timedelta(minutes=30)
    # A new start; a new goal for an old, unchanged start (only the goal side finds it);
    # a changed join value that moves p1 from d1 to d2.
    store.upsert_nodes([pod("p2", ["d1"]), pvc("d3"), pvc("d2"), pod("p1", ["d2"])], now=t1)
    run = rule_runner.run_rule(store, compiled, since=t1 - timedelta(minutes=5), now=t1)
    assert run.mode == "incremental" and run.closed == 1
    got = {
        (a.split('"name":"')[1][:2], b.split('"name":"')[1][:2]): p
        for (a, _, b), p in edges(store).items()
    }
    assert set(got) == {("p1", "d1"), ("p1", "d2"), ("p2", "d1"), ("p3", "d3")}
    assert got[("p1", "d1")]["valid_to"].to_native() == t1  # closed: no longer holds
    for still in (("p1", "d2"), ("p2", "d1"), ("p3", "d3")):
        assert got[still].get("valid_to") is None, still


def labelled_pod(name: str, labels: list[str]) -> NodeRow:
    return example_node(Class.parse("k8s:Pod"), {"namespace": "ns", "name": name, "labels": labels})


def test_incremental_run_closes_and_links_from_the_goal_side(store: Store) -> None:
    compiled = compile_rule(BY_NAME["selects-pods"])
    service = example_node(
        Class.parse("k8s:Service"), {"namespace": "ns", "name": "web", "selector": ["app=web"]}
    )
    t0 = utcnow() - timedelta(hours=1)
    store.upsert_nodes([service, labelled_pod("p1", ["app=web"])], now=t0)
    rule_runner.run_rule(store, compiled, since=None, now=t0)
    assert len(edges(store)) == 1

    # Only goals change: p1 no longer matches, p2 is new. No start changed, so only the
    # goal side runs, and the close must still find p1's edge from the goal's end.
    t1 = t0 + timedelta(minutes=30)
    store.upsert_nodes([labelled_pod("p1", ["app=db"]), labelled_pod("p2", ["app=web"])], now=t1)
    assert rule_runner.changed_classes(store, t1) == {("k8s", "Pod")}
    run = rule_runner.run_rule(store, compiled, since=t1, now=t1)
    assert (run.edges, run.closed) == (1, 1)
    got = {b.split('"name":"')[1][:2]: p.get("valid_to") for (_, _, b), p in edges(store).items()}
    assert got["p1"] is not None and got["p2"] is None

    # Nothing changed since: no statement runs, nothing moves.
    later = t1 + timedelta(minutes=30)
    assert rule_runner.run_rule(store, compiled, since=later, now=later).edges == 0


def test_incremental_run_from_an_old_goal_rechecks_and_a_revived_one_looks_up(
    store: Store,
) -> None:
    # pod-pvc reads only the claim's identity: a changed old claim re-checks its own
    # edges; a claim revived after a deletion looks its pods up again.
    compiled = compile_rule(BY_NAME["pod-pvc"])
    t0 = utcnow() - timedelta(hours=3)
    store.upsert_nodes([pod("p1", ["d1"]), pvc("d1")], now=t0)
    rule_runner.run_rule(store, compiled, since=None, now=t0)

    t1 = t0 + timedelta(hours=1)
    changed = pvc("d1").model_copy(
        update={"properties": {**pvc("d1").properties, "phase": "Bound"}}
    )
    store.upsert_nodes([changed], now=t1)
    run = rule_runner.run_rule(store, compiled, since=t1, now=t1)
    assert (run.edges, run.closed) == (1, 0)

    # Deleted (its edges closed), then a pod that names it, then back: both pods link.
    t2 = t1 + timedelta(hours=1)
    store.sweep("test", "c1", started=t2, classes=["PersistentVolumeClaim"], now=t2)
    store.upsert_nodes([pod("p2", ["d1"])], now=t2)
    assert rule_runner.run_rule(store, compiled, since=t2, now=t2).edges == 0
    t3 = t2 + timedelta(hours=1)
    store.upsert_nodes([changed], now=t3)
    assert rule_runner.run_rule(store, compiled, since=t3, now=t3).edges == 2
    assert all(p.get("valid_to") is None for p in edges(store).values())


def test_apply_is_incremental_after_the_first_run(store: Store) -> None:
    enabled = [BY_NAME["pod-pvc"], BY_NAME["pvc-pv"]]
    store.upsert_nodes([pod("p1", ["d1"]), pvc("d1")])
    first = rule_runner.apply(store, enabled)
    second = rule_runner.apply(store, enabled)
    assert [r.mode for r in first] == ["full", "full"]
    assert [r.mode for r in second] == ["incremental", "incremental"]
    assert rule_runner.apply(store, enabled, full=True)[0].mode == "full"
    assert len(edges(store)) == 1


def test_a_rule_with_an_empty_side_waits_and_links_when_its_nodes_come(store: Store) -> None:
    # The full run skips pod-pvc while no PVC exists; its first incremental run after the
    # PVC arrives still links the old pod (the goal side finds it).
    rule = BY_NAME["pod-pvc"]
    t0 = utcnow() - timedelta(hours=1)
    store.upsert_nodes([pod("p1", ["d1"])], now=t0)
    assert rule_runner.present_classes(store) == {("k8s", "Pod")}
    [first] = rule_runner.apply(store, [rule], full=True)
    assert (first.mode, first.edges) == ("full", 0)
    store.upsert_nodes([pvc("d1")])
    [second] = rule_runner.apply(store, [rule])
    assert (second.mode, second.edges) == ("incremental", 1)
    assert {(a, b) for a, _, b in edges(store)} == {(pod("p1", []).ref, pvc("d1").ref)}


def test_disabled_rules_do_not_run_until_enabled(store: Store) -> None:
    assert not BY_NAME["node-pods"].enabled
    on = rules.load(enable=["node-pods"])
    assert {r.name for r in on if r.enabled} == {r.name for r in ALL if r.enabled} | {"node-pods"}
    with pytest.raises(rules.RuleError, match="unknown rule 'node-podz'"):
        rules.load(enable=["node-podz"])


def test_hub_reverses_are_off_and_their_edges_close_when_switched_off(store: Store) -> None:
    """pod-configmap's reverse fans out from a shared ConfigMap (kube-root-ca.crt is in
    every pod): off by default. Edges a rule made close once it is off, at the next full
    run, so that searches stop following them."""
    on = rules.load(enable=["pod-configmap-reverse"])
    assert not BY_NAME["pod-configmap-reverse"].enabled and BY_NAME["pod-configmap"].enabled
    shared = "kube-root-ca.crt"
    pod = example_node(
        Class.parse("k8s:Pod"), {"namespace": "shop", "name": "web-1", "configmap_names": [shared]}
    )
    cm = example_node(Class.parse("k8s:ConfigMap"), {"namespace": "shop", "name": shared})
    store.upsert_nodes([pod, cm])
    rule_runner.apply(store, on, full=True)
    assert edges(store)[(cm.ref, "CONFIGURES", pod.ref)].get("valid_to") is None

    rule_runner.apply(store, ALL, full=True)

    after = edges(store)
    assert after[(cm.ref, "CONFIGURES", pod.ref)]["valid_to"] is not None
    assert after[(pod.ref, "USES_CONFIG", cm.ref)].get("valid_to") is None


# --- ownership and events across scopes ---------------------------------------------------


def k8s(cls: str, namespace: str | None, name: str, **props: Any) -> NodeRow:
    return example_node(Class.parse(cls), {"namespace": namespace, "name": name, **props})


def owned_by(*owners: str, uids: list[str] | None = None) -> dict[str, Any]:
    """The owner properties as the k8s ingester sets them (ingest/k8s/rows.py)."""
    return {"owners": list(owners), "owners_text": f" {' '.join(owners)} ", "owner_uids": uids}


def linked(store: Store, *types: str) -> set[tuple[str, str, str]]:
    """(start name, type, goal name) of the open edges of ``types``."""

    def name(ref: str) -> str:
        return ref.split('"name":"')[1].split('"')[0]

    return {
        (name(a), t, name(b))
        for (a, t, b), p in edges(store).items()
        if t in types and p.get("valid_to") is None
    }


def test_owner_uids_must_match_where_both_sides_have_one(store: Store) -> None:
    """A ReplicaSet deleted and made again under its name: the pods that name the old one's
    UID are not the new one's; a dependent without UIDs links by kind and name."""
    owns = [BY_NAME["owner"], BY_NAME["owner-reverse"]]
    store.upsert_nodes(
        [
            k8s("k8s:ReplicaSet.apps", "shop", "web-5d8f", uid="uid-new"),
            k8s("k8s:Pod", "shop", "web-new", **owned_by("ReplicaSet/web-5d8f", uids=["uid-new"])),
            k8s("k8s:Pod", "shop", "web-old", **owned_by("ReplicaSet/web-5d8f", uids=["uid-old"])),
            k8s("k8s:Pod", "shop", "web-hand", **owned_by("ReplicaSet/web-5d8f")),
            # Same kind and name in another namespace: never its owner.
            k8s("k8s:Pod", "other", "web-x", **owned_by("ReplicaSet/web-5d8f", uids=["uid-new"])),
        ]
    )
    rule_runner.apply(store, owns, full=True)
    assert linked(store, "OWNED_BY") == {
        ("web-new", "OWNED_BY", "web-5d8f"),
        ("web-hand", "OWNED_BY", "web-5d8f"),
    }
    assert linked(store, "OWNS") == {
        ("web-5d8f", "OWNS", "web-new"),
        ("web-5d8f", "OWNS", "web-hand"),
    }


def test_cluster_scoped_owners_link_and_dangling_references_invent_nothing(store: Store) -> None:
    """As on OpenShift: the cluster-scoped DNS "default" owns the namespaced Service and
    DaemonSet dns-default; a Node owns its static pods' mirror pods. References to objects
    not in the graph link to nothing."""
    dns = owned_by("DNS/default", uids=["dns-uid"])
    on_crc = {"k8s.node.name": "crc"}
    rows = [
        k8s("k8s:Node", None, "crc", uid="node-uid"),
        k8s("k8s:DNS.operator.openshift.io", None, "default", uid="dns-uid"),
        k8s("k8s:Service", "openshift-dns", "dns-default", **dns),
        k8s("k8s:DaemonSet.apps", "openshift-dns", "dns-default", **dns),
        k8s("k8s:Pod", "openshift-etcd", "etcd-crc", **owned_by("Node/crc", uids=["node-uid"]),
            **on_crc),
        # A cluster-scoped dependent of a cluster-scoped owner.
        k8s("k8s:Widget.example.com", None, "w1", **dns),
        # Dangling: an owner, a node and a claim that were never recorded; a stale UID.
        k8s("k8s:Pod", "shop", "orphan", claim_names=["gone"], **{"k8s.node.name": "gone"},
            **owned_by("ReplicaSet/gone", "Node/gone", uids=["gone-1", "gone-2"])),
        k8s("k8s:Pod", "openshift-etcd", "etcd-old", **owned_by("Node/crc", uids=["old-uid"])),
    ]  # fmt: skip
    store.upsert_nodes(rows)
    rule_runner.apply(store, [r for r in ALL if r.enabled], full=True)
    assert linked(store, "OWNED_BY") == {
        ("dns-default", "OWNED_BY", "default"),  # the Service and the DaemonSet
        ("etcd-crc", "OWNED_BY", "crc"),
        ("w1", "OWNED_BY", "default"),
    }
    assert len([e for e in edges(store) if e[1] == "OWNED_BY"]) == 4
    assert ("default", "OWNS", "dns-default") in linked(store, "OWNS")
    assert not [e for e in edges(store) if "orphan" in e[0] or "orphan" in e[2]]
    assert set(nodes(store)) == {row.ref for row in rows}


def test_both_event_classes_link_to_their_objects_cluster_scoped_ones_too(store: Store) -> None:
    """k8s:Event (core/v1, involvedObject) and k8s:Event.events.k8s.io (regarding) alike;
    a Node's Event lives in the default namespace and still links to the Node."""
    about = [BY_NAME["event-object"], BY_NAME["event-object-reverse"]]
    store.upsert_nodes(
        [
            k8s("k8s:Node", None, "crc"),
            k8s("k8s:Pod", "shop", "web-1"),
            k8s("k8s:Event", "default", "crc.17a2b",
                **{"k8s.object.kind": "Node", "k8s.object.name": "crc"}),
            k8s("k8s:Event.events.k8s.io", "shop", "web-1.17a2c",
                **{"k8s.object.kind": "Pod", "k8s.object.name": "web-1"}),
            k8s("k8s:Event", "other", "web-1.17a2d",
                **{"k8s.object.kind": "Pod", "k8s.object.name": "web-1"}),
        ]
    )  # fmt: skip
    rule_runner.apply(store, about, full=True)
    assert linked(store, "ABOUT") == {
        ("crc.17a2b", "ABOUT", "crc"),
        ("web-1.17a2c", "ABOUT", "web-1"),
    }
    assert linked(store, "HAS_EVENT") == {
        ("crc", "HAS_EVENT", "crc.17a2b"),
        ("web-1", "HAS_EVENT", "web-1.17a2c"),
    }


def write(tmp_path: Path, text: str) -> Path:
    d = tmp_path / "rules"
    d.mkdir(exist_ok=True)
    (d / "mine.yaml").write_text(text)
    return d


GOOD = """\
rules:
  - name: first
    start: k8s:Pod
    goal: k8s:Node
    verb: RUNS_ON
    join: {k8s.node.name: name}
"""


@pytest.mark.parametrize(
    ("second", "message"),
    [
        (
            "start: k8s:Pdo\n    goal: k8s:Node\n    verb: X\n    same: [cluster]",
            r"mine.yaml:7: rule broken: .*Pdo",
        ),
        (
            "start: k8s:Pod\n    goal: k8s:Node\n    verb: runs-on\n    same: [cluster]",
            r"mine.yaml:7: rule broken: .*invalid relationship type 'runs-on'",
        ),
        (
            "start: k8s:Pod\n    goal: k8s:Node\n    verb: X\n    where: true; MATCH (n) DELETE n",
            r"mine.yaml:7: rule broken: .*not allowed",
        ),
        (
            "start: k8s:Pod\n    goal: k8s:Node\n    verb: X",
            r"mine.yaml:7: rule broken: .*condition",
        ),
        (
            "start: k8s:Pod\n    goal: k8s:Node\n    verb: X\n    same: [cluster]\n"
            "    reverse_enabled: true",
            r"mine.yaml:7: rule broken: .*reverse_enabled without reverse",
        ),
    ],
    ids=["unknown-class", "bad-verb", "injection", "no-condition", "reverse-enabled-alone"],
)
def test_bad_rules_name_file_rule_and_line(tmp_path: Path, second: str, message: str) -> None:
    d = write(tmp_path, GOOD + f"  - name: broken\n    {second}\n")
    with pytest.raises(rules.RuleError, match=message):
        rules.load([d], include_default=False)


def test_bad_yaml_names_the_line(tmp_path: Path) -> None:
    d = write(tmp_path, GOOD + "  - name: [unclosed\n")
    where = r"(?s)mine.yaml:8: not valid YAML.*line 7, column 11"
    with pytest.raises(rules.RuleError, match=where):
        rules.load([d], include_default=False)


def test_user_rules_are_added_without_code(tmp_path: Path) -> None:
    d = write(tmp_path, GOOD.replace("first", "my-pod-node"))
    loaded = rules.load([d])
    assert "my-pod-node" in {r.name for r in loaded} and len(loaded) == len(ALL) + 1
    with pytest.raises(rules.RuleError, match="name already used"):
        rules.load([d, d])


runner = CliRunner()


def env_for(server: Neo4jServer) -> dict[str, str]:
    return {"NEO4J_URI": server.uri, "NEO4J_USER": server.user, "NEO4J_PASSWORD": server.password}


def test_check_explains_every_rule_and_reports_cypher_errors(
    store: Store, neo4j_server: Neo4jServer, tmp_path: Path
) -> None:
    result = runner.invoke(app, ["rules", "check"], env=env_for(neo4j_server))
    assert result.exit_code == 0, result.output
    assert f"{len(ALL)} rules validated and explained" in result.output
    d = write(tmp_path, GOOD.replace("join: {k8s.node.name: name}", "where: goal.name IN IN start"))
    result = runner.invoke(app, ["rules", "check", "--dir", str(d)], env=env_for(neo4j_server))
    assert result.exit_code == 1
    assert "mine.yaml:2: rule first (full)" in result.output


def test_apply_from_the_cli(store: Store, neo4j_server: Neo4jServer) -> None:
    store.upsert_nodes([pod("p1", ["d1"]), pvc("d1")])
    result = runner.invoke(app, ["rules", "apply"], env=env_for(neo4j_server))
    assert result.exit_code == 0, result.output
    assert "pod-pvc" in result.output
    assert {t for _, t, _ in edges(store)} == {"MOUNTS", "MOUNTED_BY"}
    assert len(nodes(store)) == 2


def test_rule_graph_formats() -> None:
    dot, mermaid = to_dot(ALL), to_mermaid(ALL)
    assert '"k8s:Pod" -> "k8s:PersistentVolumeClaim" [label="MOUNTS (pod-pvc)"];' in dot
    assert "HOSTS" not in dot  # disabled rules are not drawn
    assert mermaid.startswith("flowchart LR") and '-->|"MOUNTS (pod-pvc)"|' in mermaid
    result = runner.invoke(app, ["rules", "graph", "--format", "mermaid"])
    assert result.exit_code == 0 and result.output == mermaid


def crd(kind: str, name: str, **props: Any) -> NodeRow:
    return example_node(
        Class(domain="k8s", name=f"{kind}.example.com"), {"namespace": "ns", "name": name, **props}
    )


def test_discovery_proposes_a_rule_for_a_ref_field(
    store: Store, neo4j_server: Neo4jServer, tmp_path: Path
) -> None:
    store.upsert_nodes(
        [
            crd("Backup", "nightly", ref_targetRef="Database/orders"),
            crd("Backup", "weekly", ref_targetRef="Database/users"),
            crd("Database", "orders"),
            crd("Database", "users"),
            crd("Database", "unrelated"),
        ]
    )
    out = tmp_path / "found"
    result = runner.invoke(
        app, ["rules", "discover", "--write", str(out)], env=env_for(neo4j_server)
    )
    assert result.exit_code == 0, result.output
    assert "backup-target-database" in result.output and "2 edges now" in result.output
    found = rules.load([out], include_default=False)
    rule = {r.name: r for r in found}["backup-target-database"]
    assert not rule.enabled and rule.verb == "REFERS_TO_TARGET" and rule.test is not None
    # Off until enabled; once enabled it links each backup to the database it names.
    enabled = rule.model_copy(update={"enabled": True})
    assert rule_runner.apply(store, [rule]) == []
    rule_runner.apply(store, [enabled])
    got = {(a.split('"name":"')[1].split('"')[0], b.split('"name":"')[1].split('"')[0])
           for a, _, b in edges(store)}  # fmt: skip
    assert got == {("nightly", "orders"), ("weekly", "users")}
    # Once a rule covers the pattern, discovery has nothing more to propose.
    assert discovery_names(store, [*ALL, enabled]) == set()


def discovery_names(store: Store, loaded: list[rules.Rule]) -> set[str]:
    from korrel8.rules.discover import discover

    return {p.rule.name for p in discover(store, loaded)}


@pytest.mark.parametrize(
    ("where", "parts"),
    [
        ("a AND b", ["a", "b"]),
        ("a AND (b OR c)", ["a", "(b OR c)"]),
        ("a AND b OR c", ["a AND b OR c"]),  # OR is weaker than AND: one conjunct
        ("a XOR b AND c", ["a XOR b AND c"]),
        ("x = 'a AND b' AND goal.`p AND q` = 1", ["x = 'a AND b'", "goal.`p AND q` = 1"]),
        (
            "EXISTS { MATCH (p) WHERE p.a AND p.b } AND c",
            ["EXISTS { MATCH (p) WHERE p.a AND p.b }", "c"],
        ),
        ("CASE WHEN a AND b THEN 1 END = 1 AND c", ["CASE WHEN a AND b THEN 1 END = 1", "c"]),
        ("start.band\n  and start.android", ["start.band", "start.android"]),
    ],
)
def test_conditions_split_only_at_top_level_ands(where: str, parts: list[str]) -> None:
    assert conjuncts(where) == parts


def test_a_one_sided_conjunct_is_tested_with_its_node_and_or_is_never_split(
    store: Store,
) -> None:
    """The compiler tests a conjunct that reads one side where that side is matched (the
    planner would test it only after the other side's lookup); the edges stay the
    condition's, and a condition with a top-level OR is kept whole."""
    split = rules.Rule(
        name="gold-link",
        start="k8s:Pod",
        goal="k8s:ConfigMap",
        verb="GOLD",
        same=["cluster", "namespace"],
        where="goal.tier = 'gold' AND start.level = 1 AND goal.name STARTS WITH start.prefix",
    )
    whole = split.model_copy(
        update={
            "name": "tier-link",
            "verb": "TIER",
            "where": "goal.tier = 'gold' AND start.level = 1 OR goal.tier = 'any'",
        }
    )
    outer = compile_rule(split).full.split("CALL (start)")[0]
    assert "(start.level = 1)" in outer  # tested before any goal is looked up
    assert "(goal.tier = 'gold')" in compile_rule(split).full.split("CALL (start)")[1]
    assert "(start.level = 1)" not in compile_rule(whole).full.split("CALL (start)")[0]
    store.upsert_nodes(
        [
            k8s("k8s:Pod", "ns", "p1", level=1, prefix="cm"),
            k8s("k8s:Pod", "ns", "p2", level=2, prefix="cm"),
            k8s("k8s:ConfigMap", "ns", "cm-gold", tier="gold"),
            k8s("k8s:ConfigMap", "ns", "cm-any", tier="any"),
            k8s("k8s:ConfigMap", "ns", "x-gold", tier="gold"),
        ]
    )
    for r in (split, whole):
        rule_runner.run_rule(store, compile_rule(r), since=None)
    assert linked(store, "GOLD") == {("p1", "GOLD", "cm-gold")}
    assert linked(store, "TIER") == {
        ("p1", "TIER", "cm-gold"),
        ("p1", "TIER", "x-gold"),
        ("p1", "TIER", "cm-any"),
        ("p2", "TIER", "cm-any"),
    }


def test_a_reverse_right_after_its_full_original_mirrors_its_edges(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full run makes a reverse rule's edges by turning its original's fresh edges
    around (not by evaluating the condition again): the same edges the condition makes."""
    selects, reverse = BY_NAME["selects-pods"], BY_NAME["selects-pods-reverse"]
    store.upsert_nodes(
        [
            k8s("k8s:Service", "ns", "web", selector=["app=web"]),
            k8s("k8s:Deployment.apps", "ns", "web", selector=["app=web", "tier=front"]),
            k8s("k8s:Service", "shop", "web", selector=["app=web"]),  # another namespace
            labelled_pod("web-1", ["app=web", "tier=front"]),
            labelled_pod("web-2", ["app=web"]),
            labelled_pod("db-0", ["app=db"]),
        ]
    )
    ran: list[str] = []
    real_run = store.run

    def recording(query: str, **params: Any) -> list[dict[str, Any]]:
        ran.append(query)
        return real_run(query, **params)

    monkeypatch.setattr(store, "run", recording)
    runs = {r.rule: r for r in rule_runner.apply(store, [selects, reverse], full=True)}
    mirror = compile_rule(reverse).mirror
    assert mirror is not None and mirror in ran and compile_rule(reverse).full not in ran

    def open_edges(verb: str) -> set[tuple[str, str]]:
        return {
            (a, b) for (a, t, b), p in edges(store).items() if t == verb and not p.get("valid_to")
        }

    mirrored = open_edges("SELECTED_BY")
    assert mirrored == {(b, a) for a, b in open_edges("SELECTS")}
    assert runs["selects-pods-reverse"].edges == len(mirrored) == 3
    # The condition itself, evaluated again, finds exactly these: none made, none closed.
    again = rule_runner.run_rule(store, compile_rule(reverse), since=None)
    assert (again.edges, again.closed) == (3, 0)
    assert open_edges("SELECTED_BY") == mirrored
