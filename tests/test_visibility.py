"""Who may see what: a caller's Visibility filters the search itself, against a real Neo4j.

One alert in namespace team-a reaches five pods at depth 2: p1 only through a ConfigMap,
p2 through the ConfigMap and through a Deployment, p3 (team-b) through the Deployment,
p4 through a Node (cluster-scoped). A caller who may list Pods and Deployments in team-a
only must get p2, by the Deployment's path alone: the hidden ConfigMap explains nothing,
p1 and p4 (reached only through hidden objects) are left out, and p3 is in a hidden
namespace. A hidden start is "not found", word for word as one that does not exist.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from korrel8.correlate import Korrel8
from korrel8.errors import GoalUnreachableError, StartNotFoundError
from korrel8.graph.rows import EdgeRow, NodeRow
from korrel8.graph.store import Store
from korrel8.model import Class, ref
from korrel8.result import Result
from korrel8.visibility import Scope, Visibility

CLUSTER = "c1"
TEAM_A, TEAM_B = "team-a", "team-b"


def k8s(cls: str, name: str, namespace: str | None) -> NodeRow:
    return NodeRow.model_validate(
        {
            "ref": ref(
                Class(domain="k8s", name=cls), {"namespace": namespace, "name": name}, CLUSTER
            ),
            "domain": "k8s",
            "class": cls,
            "source": "k8s",
            "cluster": CLUSTER,
            "namespace": namespace,
            "name": name,
        }
    )


def alert(name: str, namespace: str | None) -> NodeRow:
    raw = {"alertname": name, "namespace": namespace}
    return NodeRow.model_validate(
        {
            "ref": ref(Class(domain="alert", name="alert"), raw, CLUSTER),
            "domain": "alert",
            "class": "alert",
            "source": "alertmanager",
            "cluster": CLUSTER,
            "namespace": namespace,
            "name": name,
            "properties": {"alertname": name},
        }
    )


def log(pod: NodeRow) -> NodeRow:
    selector: dict[str, Any] = {"namespace": pod.namespace, "name": pod.name}
    return NodeRow.model_validate(
        {
            "ref": ref(Class(domain="log", name="application"), selector, CLUSTER),
            "domain": "log",
            "class": "application",
            "source": "loki",
            "cluster": CLUSTER,
            "namespace": pod.namespace,
            "name": f"{pod.name}/app",
        }
    )


@dataclass
class Graph:
    alert: str
    node_alert: str  # an alert of no namespace, about the Node
    cm: str
    deploy: str
    node: str
    pods: dict[str, str]
    logs: dict[str, str]


def build(store: Store) -> Graph:
    now = datetime.now(UTC) - timedelta(minutes=5)
    a = alert("Broken", TEAM_A)
    node_alert = alert("NodeDown", None)
    cm = k8s("ConfigMap", "cfg", TEAM_A)
    deploy = k8s("Deployment.apps", "web", TEAM_A)
    node = k8s("Node", "n1", None)
    pods = {
        "p1": k8s("Pod", "p1", TEAM_A),
        "p2": k8s("Pod", "p2", TEAM_A),
        "p3": k8s("Pod", "p3", TEAM_B),
        "p4": k8s("Pod", "p4", TEAM_A),
    }
    logs = {name: log(p) for name, p in pods.items()}

    def e(x: NodeRow, y: NodeRow, rule: str) -> EdgeRow:
        return EdgeRow(start=x.ref, goal=y.ref, type="RELATES", rule=rule)

    edges = [
        e(a, cm, "alert-cm"),
        e(cm, pods["p1"], "cm-pod"),
        e(cm, pods["p2"], "cm-pod"),
        e(a, deploy, "alert-deploy"),
        e(deploy, pods["p2"], "deploy-pod"),
        e(deploy, pods["p3"], "deploy-pod"),
        e(a, node, "alert-node"),
        e(node, pods["p4"], "node-pod"),
        e(node_alert, node, "alert-node"),
        *(e(pods[n], logs[n], "pod-logs") for n in pods),
    ]
    store.upsert_nodes([a, node_alert, cm, deploy, node, *pods.values(), *logs.values()], now=now)
    store.upsert_edges(edges, now=now)
    return Graph(
        alert=a.ref,
        node_alert=node_alert.ref,
        cm=cm.ref,
        deploy=deploy.ref,
        node=node.ref,
        pods={n: p.ref for n, p in pods.items()},
        logs={n: lg.ref for n, lg in logs.items()},
    )


def namespaced(*namespaces: str) -> Visibility:
    """Pods and Deployments (and so their signals) in ``namespaces``: no ConfigMaps, no Nodes."""
    scope = Scope.of(namespaces)
    return Visibility(kinds={"Pod": scope, "Deployment.apps": scope}, signals=scope)


TEAM_A_ONLY = namespaced(TEAM_A)
EVERYTHING = Visibility(
    kinds={k: Scope(cluster_wide=True) for k in ("Pod", "Deployment.apps", "ConfigMap", "Node")},
    signals=Scope(cluster_wide=True),
)


@pytest.fixture
def k(store: Store) -> Iterator[Korrel8]:
    yield Korrel8(store)


@pytest.fixture
def graph(store: Store) -> Graph:
    return build(store)


def path_objects(result: Result) -> set[str]:
    return {r for p in result.paths for r in p.refs}


MODES = [{}, {"wide": True}, {"all_paths": True}]


# --- the Visibility itself --------------------------------------------------------------


def test_a_kind_is_visible_in_its_namespaces_and_cluster_scope_needs_cluster_wide() -> None:
    v = TEAM_A_ONLY
    assert v.sees("k8s", "Pod", TEAM_A)
    assert not v.sees("k8s", "Pod", TEAM_B)
    assert not v.sees("k8s", "ConfigMap", TEAM_A)  # a kind not granted
    assert not v.sees("k8s", "Node", None)  # cluster-scoped
    assert v.sees("log", "application", TEAM_A)  # a signal follows its namespace
    assert not v.sees("metric", "metric", None)  # a signal of no namespace: cluster-wide only
    wide = Visibility(kinds={"Node": Scope(cluster_wide=True)}, signals=Scope(cluster_wide=True))
    assert wide.sees("k8s", "Node", None) and wide.sees("metric", "metric", None)
    fleet = Visibility(kinds={"Pod": Scope(cluster_wide=True)}, clusters=frozenset({"c1"}))
    assert fleet.sees("k8s", "Pod", "x", "c1") and not fleet.sees("k8s", "Pod", "x", "c2")


def test_a_visibility_is_frozen() -> None:
    kinds: Any = TEAM_A_ONLY.kinds  # a Mapping to mypy; the test is that it is one at run time
    with pytest.raises(TypeError):
        kinds["ConfigMap"] = Scope(cluster_wide=True)


# --- goal search ------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES, ids=["precise", "wide", "all-paths"])
def test_the_operator_sees_every_goal(k: Korrel8, graph: Graph, mode: dict[str, bool]) -> None:
    result = k.goals(graph.alert, "k8s:Pod", **mode)
    assert {g.ref for g in result.goals} == set(graph.pods.values())


@pytest.mark.parametrize("mode", MODES, ids=["precise", "wide", "all-paths"])
def test_a_goal_reached_only_through_a_hidden_object_is_left_out(
    k: Korrel8, graph: Graph, mode: dict[str, bool]
) -> None:
    result = k.goals(graph.alert, "k8s:Pod", visibility=TEAM_A_ONLY, **mode)
    # p1 only through the ConfigMap, p4 only through the Node, p3 in team-b.
    assert {g.ref for g in result.goals} == {graph.pods["p2"]}
    # p2 is explained by the Deployment alone: no path runs through the ConfigMap.
    assert path_objects(result) == {graph.alert, graph.deploy, graph.pods["p2"]}
    assert set(result.nodes) == path_objects(result)
    for hidden in (graph.cm, graph.node, graph.pods["p1"], graph.pods["p3"], graph.pods["p4"]):
        assert hidden not in result.nodes


@pytest.mark.parametrize("mode", MODES, ids=["precise", "wide", "all-paths"])
def test_cluster_wide_permission_sees_what_the_operator_sees(
    k: Korrel8, graph: Graph, mode: dict[str, bool]
) -> None:
    operator = k.goals(graph.alert, "k8s:Pod", **mode)
    caller = k.goals(graph.alert, "k8s:Pod", visibility=EVERYTHING, **mode)
    assert set(caller.nodes) == set(operator.nodes)
    assert path_objects(caller) == path_objects(operator)


def test_another_namespace_is_another_answer(k: Korrel8, graph: Graph) -> None:
    # Logs of team-b's pod from that pod: visible to team-b, not found for team-a.
    team_b = k.goals(graph.pods["p3"], "log", visibility=namespaced(TEAM_B))
    assert {g.ref for g in team_b.goals} == {graph.logs["p3"]}
    with pytest.raises(StartNotFoundError):
        k.goals(graph.pods["p3"], "log", visibility=TEAM_A_ONLY)


def test_a_goal_class_the_caller_may_not_see_has_no_objects_for_it(
    k: Korrel8, graph: Graph
) -> None:
    with pytest.raises(GoalUnreachableError) as caught:
        k.goals(graph.alert, "k8s:ConfigMap", visibility=TEAM_A_ONLY)
    assert "k8s:ConfigMap has no objects" in str(caught.value)
    assert graph.cm not in str(caught.value)


def test_what_is_reachable_names_only_visible_classes(k: Korrel8, graph: Graph) -> None:
    with pytest.raises(GoalUnreachableError) as caught:
        k.goals(graph.alert, "trace", visibility=TEAM_A_ONLY, depth=2)
    reachable = {c for c, _, _ in caught.value.reachable}
    assert reachable == {"k8s:Deployment.apps", "k8s:Pod"}


# --- the start --------------------------------------------------------------------------


def not_found(call: Any) -> str:
    with pytest.raises(StartNotFoundError) as caught:
        call()
    return str(caught.value)


@pytest.mark.parametrize("search", ["goals", "wide", "neighbours", "get"])
def test_a_hidden_start_is_not_found_as_one_that_does_not_exist(
    k: Korrel8, graph: Graph, search: str
) -> None:
    def run(start: str) -> None:
        if search == "goals":
            k.goals(start, "log", visibility=TEAM_A_ONLY)
        elif search == "wide":
            k.goals(start, "log", visibility=TEAM_A_ONLY, wide=True)
        elif search == "neighbours":
            k.neighbours(start, visibility=TEAM_A_ONLY)
        else:
            k.get(start, visibility=TEAM_A_ONLY)

    hidden = graph.pods["p3"]
    absent = hidden.replace("p3", "zz")
    assert not_found(lambda: run(hidden)).replace(hidden, "X") == not_found(
        lambda: run(absent)
    ).replace(absent, "X")
    # A node of a hidden kind, by selector: nothing of it is named.
    message = not_found(lambda: run("k8s:ConfigMap:{namespace: team-a}"))
    assert "cfg" not in message


def test_nearest_names_only_visible_objects(k: Korrel8, graph: Graph) -> None:
    # p3 is in team-b: a near miss for "p" names the team-a pods only.
    message = not_found(lambda: k.get("k8s:Pod:{name: p}", visibility=TEAM_A_ONLY))
    assert graph.pods["p1"] in message and graph.pods["p3"] not in message


def test_a_visibility_for_another_cluster_sees_nothing_here(k: Korrel8, graph: Graph) -> None:
    other = Visibility(
        kinds={"Pod": Scope(cluster_wide=True)},
        signals=Scope(cluster_wide=True),
        clusters=frozenset({"c2"}),
    )
    with pytest.raises(StartNotFoundError):
        k.get(graph.pods["p1"], visibility=other)


def test_get_lists_only_visible_objects(k: Korrel8, graph: Graph) -> None:
    result = k.get("k8s:Pod:{}", visibility=TEAM_A_ONLY)
    assert set(result.nodes) == {graph.pods[n] for n in ("p1", "p2", "p4")}


# --- neighbours -------------------------------------------------------------------------


@pytest.mark.parametrize("both", [False, True], ids=["forward", "both-ways"])
def test_neighbours_never_pass_a_hidden_object(k: Korrel8, graph: Graph, both: bool) -> None:
    result = k.neighbours(graph.alert, depth=3, both=both, visibility=TEAM_A_ONLY)
    visible = {
        graph.alert,
        graph.deploy,
        graph.pods["p2"],
        graph.logs["p2"],
    }
    assert set(result.nodes) == visible
    assert path_objects(result) <= visible


def test_a_signal_of_no_namespace_needs_cluster_wide_permission(k: Korrel8, graph: Graph) -> None:
    with pytest.raises(StartNotFoundError):
        k.neighbours(graph.node_alert, visibility=TEAM_A_ONLY)
    result = k.neighbours(graph.node_alert, depth=1, visibility=EVERYTHING)
    assert graph.node in result.nodes
