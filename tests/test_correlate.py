"""Goal and neighbour search against a real Neo4j, on graphs written through the store.

The mission's example: a PVC-filling-up alert leads to the PVC, to the pods that mount
it, and to their log streams, with the rule on every step; the same after one of those
pods was deleted. Edges are written directly with the rule names the rules compiler
will use (alert-pvc, pvc-pods, pod-logs...).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from korrel8.cli.query import register
from korrel8.correlate import Korrel8, make_window
from korrel8.errors import (
    DepthError,
    GoalUnreachableError,
    ParseError,
    StartNotFoundError,
    TimeWindowError,
    UnknownClassError,
)
from korrel8.graph.rows import EdgeRow, NodeRow
from korrel8.graph.store import Store
from korrel8.model import Class, ref
from korrel8.querygen import logql_selector, promql_selector
from tests.servers.neo4j import Neo4jServer

CLUSTER = "c1"
NS = "shop"
ALERTNAME = "KubePersistentVolumeFillingUp"


# --- the mission's graph ----------------------------------------------------------------


def k8s_node(cls: str, name: str, namespace: str | None = NS, **props: Any) -> NodeRow:
    labels = {"k8s.namespace.name": namespace} if namespace else {}
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
            "properties": {**labels, **props},
        }
    )


def pod_node(name: str, app: str) -> NodeRow:
    return k8s_node(
        "Pod",
        name,
        labels=[f"app={app}"],
        **{"k8s.pod.name": name, "k8s.pod.label.app": app, "phase": "Running"},
    )


def log_node(pod: str) -> NodeRow:
    labels = {"k8s.namespace.name": NS, "k8s.pod.name": pod, "k8s.container.name": "app"}
    selector: dict[str, str | list[str]] = {"namespace": NS, "name": pod, "containers": ["app"]}
    return NodeRow.model_validate(
        {
            "ref": ref(Class(domain="log", name="application"), selector, CLUSTER),
            "domain": "log",
            "class": "application",
            "source": "loki",
            "cluster": CLUSTER,
            "namespace": NS,
            "name": f"{pod}/app",  # as ingest/logs.py names a stream: pod/container
            "properties": {
                **labels,
                "logql": logql_selector(labels, log_type="application"),
                "raw_labels": [
                    "kubernetes_container_name=app",
                    f"kubernetes_namespace_name={NS}",
                    f"kubernetes_pod_name={pod}",
                    "log_type=application",
                ],
            },
        }
    )


def metric_node(pod: str) -> NodeRow:
    labels = {"k8s.namespace.name": NS, "k8s.pod.name": pod}
    return NodeRow.model_validate(
        {
            "ref": ref(
                Class(domain="metric", name="metric"), {"namespace": NS, "pod": pod}, CLUSTER
            ),
            "domain": "metric",
            "class": "metric",
            "source": "prometheus",
            "cluster": CLUSTER,
            "namespace": NS,
            "name": pod,
            "properties": {**labels, "promql": promql_selector(labels)},
        }
    )


def alert_node(name: str, pvc: str) -> NodeRow:
    raw = {"alertname": name, "namespace": NS, "persistentvolumeclaim": pvc, "severity": "warning"}
    return NodeRow.model_validate(
        {
            "ref": ref(Class(domain="alert", name="alert"), raw, CLUSTER),
            "domain": "alert",
            "class": "alert",
            "source": "alertmanager",
            "cluster": CLUSTER,
            "namespace": NS,
            "name": name,
            "properties": {
                "alertname": name,
                "state": "firing",
                "starts_at": "2025-05-01T10:00:00Z",
                "labels": sorted(f"{k}={v}" for k, v in raw.items()),
                "k8s.namespace.name": NS,
                "k8s.persistentvolumeclaim.name": pvc,
            },
        }
    )


@dataclass
class Mission:
    """Refs of the mission's graph, and the times it was written at."""

    now: datetime
    alert: str
    other_alert: str
    pvc: str
    pods: dict[str, str]
    logs: dict[str, str]
    metrics: dict[str, str]
    rs: str
    deploy: str


def edge(start: NodeRow, goal: NodeRow, type_: str, rule: str) -> EdgeRow:
    return EdgeRow(start=start.ref, goal=goal.ref, type=type_, rule=rule)


def build_mission(
    store: Store, now: datetime | None = None, deleted: dict[str, datetime] | None = None
) -> Mission:
    """An alert on the PVC `uploads`, mounted by web-0 and web-1 (Deployment web); api-0
    mounts the PVC `scratch`, which has its own alert. Written three hours before ``now``
    and seen again at ``now``; a pod in ``deleted`` vanished from a complete pod listing
    at the given time, so the store's sweep marked it deleted and closed its edges."""
    now = now or datetime.now(UTC)
    pvc = k8s_node("PersistentVolumeClaim", "uploads")
    scratch = k8s_node("PersistentVolumeClaim", "scratch")
    deploy = k8s_node("Deployment.apps", "web")
    rs = k8s_node("ReplicaSet.apps", "web-5d9f")
    alert, other = alert_node(ALERTNAME, "uploads"), alert_node(ALERTNAME, "scratch")
    apps = (("web-0", "web"), ("web-1", "web"), ("api-0", "api"))
    pods = {name: pod_node(name, app) for name, app in apps}
    logs = {name: log_node(name) for name in pods}
    metrics = {name: metric_node(name) for name in pods}
    nodes = [pvc, scratch, deploy, rs, alert, other, *pods.values()]
    nodes += [*logs.values(), *metrics.values()]
    edges = [
        edge(alert, pvc, "ABOUT", "alert-pvc"),
        edge(other, scratch, "ABOUT", "alert-pvc"),
        edge(pvc, pods["web-0"], "MOUNTED_BY", "pvc-pods"),
        edge(pvc, pods["web-1"], "MOUNTED_BY", "pvc-pods"),
        edge(scratch, pods["api-0"], "MOUNTED_BY", "pvc-pods"),
        edge(rs, deploy, "OWNED_BY", "rs-owner"),
    ]
    for name, pod in pods.items():
        edges.append(edge(pod, logs[name], "LOGS", "pod-logs"))
        edges.append(edge(pod, metrics[name], "METRICS", "pod-metrics"))
        if name.startswith("web"):
            edges.append(edge(pod, rs, "OWNED_BY", "pod-owner"))
    store.upsert_nodes(nodes, now=now - timedelta(hours=3))
    store.upsert_edges(edges, now=now - timedelta(hours=3))
    gone: set[str] = set()
    for name, at in sorted((deleted or {}).items(), key=lambda item: item[1]):
        gone.add(pods[name].ref)
        store.upsert_nodes([p for p in pods.values() if p.ref not in gone], now=at)
        store.sweep("k8s", CLUSTER, started=at, classes=["Pod"], now=at)
    store.upsert_nodes([n for n in nodes if n.ref not in gone], now=now)
    store.upsert_edges([e for e in edges if not {e.start, e.goal} & gone], now=now)
    return Mission(
        now=now,
        alert=alert.ref,
        other_alert=other.ref,
        pvc=pvc.ref,
        pods={k: v.ref for k, v in pods.items()},
        logs={k: v.ref for k, v in logs.items()},
        metrics={k: v.ref for k, v in metrics.items()},
        rs=rs.ref,
        deploy=deploy.ref,
    )


@pytest.fixture
def k(store: Store) -> Iterator[Korrel8]:
    yield Korrel8(store)


@pytest.fixture
def mission(store: Store) -> Mission:
    return build_mission(store)


def refs(nodes: Any) -> set[str]:
    return {n.ref for n in nodes}


# --- goal search ------------------------------------------------------------------------


def test_alert_leads_to_the_logs_of_the_pods_that_mount_its_pvc(
    k: Korrel8, mission: Mission
) -> None:
    result = k.goals(mission.alert, "log:application")
    assert refs(result.goals) == {mission.logs["web-0"], mission.logs["web-1"]}
    # The explanation: every path names its rules, start to goal.
    assert {p.rules for p in result.paths} == {("alert-pvc", "pvc-pods", "pod-logs")}
    assert {p.refs[:3] for p in result.paths} == {
        (mission.alert, mission.pvc, mission.pods["web-0"]),
        (mission.alert, mission.pvc, mission.pods["web-1"]),
    }
    # Each goal carries the query that fetches its data from its own back-end.
    for goal in result.goals:
        assert goal.data_query is not None and goal.data_query.language == "LogQL"
        assert 'kubernetes_pod_name="web-' in goal.data_query.query
        assert goal.query == goal.ref
    assert result.goal_counts == {"log:application": 2}
    assert result.counts == {
        "alert:alert": 1,
        "k8s:PersistentVolumeClaim": 1,
        "k8s:Pod": 2,
        "log:application": 2,
    }
    assert {(e.type, e.rule) for e in result.edges} == {
        ("ABOUT", "alert-pvc"),
        ("MOUNTED_BY", "pvc-pods"),
        ("LOGS", "pod-logs"),
    }


def test_start_by_selector_is_resolved_to_refs(k: Korrel8, mission: Mission) -> None:
    by_alert = k.goals(
        f"alert:alert:{{alertname: {ALERTNAME}, persistentvolumeclaim: uploads}}", "log"
    )
    assert by_alert.starts == (mission.alert,)
    # Alert labels match the canonical properties too (persistentvolumeclaim -> k8s.*).
    by_name = k.goals("k8s:Pod:{namespace: shop, name: web-0}", "log")
    assert by_name.starts == (mission.pods["web-0"],)
    assert refs(by_name.goals) == {mission.logs["web-0"]}
    by_label = k.goals("k8s:Pod:{namespace: shop, labels: {app: web}}", "log:application")
    assert set(by_label.starts) == {mission.pods["web-0"], mission.pods["web-1"]}
    assert len(by_label.goals) == 2
    # The search expanded from the resolved refs; the statement to paste shows its paths.
    first_level = by_label.statements[-2].parameters["frontier"]
    assert sorted(f["ref"] for f in first_level) == sorted(by_label.starts)
    assert "RETURN p" in by_label.cypher.text and by_label.cypher.parameters["edges"]
    # The wide mode is one path query from the same refs.
    wide = k.goals("k8s:Pod:{namespace: shop, labels: {app: web}}", "log:application", wide=True)
    assert "ALL SHORTEST" in wide.cypher.text and wide.mode == "wide"
    assert sorted(wide.cypher.parameters["starts"]) == sorted(by_label.starts)
    # Both alerts when the selector is the alert name alone; a list of refs works too.
    both = k.goals(f"alert:alert:{{alertname: {ALERTNAME}}}", "k8s:Pod")
    assert refs(both.goals) == set(mission.pods.values())
    listed = k.goals([mission.alert, mission.other_alert], "k8s:Pod")
    assert refs(listed.goals) == refs(both.goals)


def test_goals_may_be_a_list_or_a_bare_domain(k: Korrel8, mission: Mission) -> None:
    result = k.goals(mission.pods["web-0"], ["log:application", "metric"])
    assert refs(result.goals) == {mission.logs["web-0"], mission.metrics["web-0"]}
    metric = next(g for g in result.goals if g.domain == "metric")
    assert metric.data_query is not None and metric.data_query.language == "PromQL"
    assert metric.data_query.query == '{namespace="shop", pod="web-0"}'
    k8s = k.goals(mission.alert, "k8s", depth=4)
    assert refs(k8s.goals) == {
        mission.pvc,
        mission.pods["web-0"],
        mission.pods["web-1"],
        mission.rs,
        mission.deploy,
    }
    kubectl = next(g for g in k8s.goals if g.ref == mission.deploy).data_query
    assert kubectl is not None and kubectl.query == "kubectl get deployment.apps web -n shop"


def test_depth_bounds_the_search(k: Korrel8, mission: Mission) -> None:
    assert refs(k.goals(mission.alert, "k8s:Pod", depth=2).goals) == {
        mission.pods["web-0"],
        mission.pods["web-1"],
    }
    with pytest.raises(GoalUnreachableError, match=r"within depth 2.* raise --depth"):
        k.goals(mission.alert, "log", depth=2)
    assert k.goals(mission.alert, "log", depth=3).goals


def test_shortest_paths_by_default_every_path_on_request(
    store: Store, k: Korrel8, mission: Mission
) -> None:
    # A second, shorter route from the alert to web-0: alert -> pod directly.
    store.upsert_edges(
        [EdgeRow(start=mission.alert, goal=mission.pods["web-0"], type="ABOUT", rule="alert-pod")]
    )
    shortest = k.goals(mission.alert, "log:application")
    web0 = [p for p in shortest.paths if p.end == mission.logs["web-0"]]
    assert [p.rules for p in web0] == [("alert-pod", "pod-logs")]
    every = k.goals(mission.alert, "log:application", all_paths=True)
    assert every.all_paths and "ALL SHORTEST" not in every.cypher.text
    assert sorted(p.rules for p in every.paths if p.end == mission.logs["web-0"]) == [
        ("alert-pod", "pod-logs"),
        ("alert-pvc", "pvc-pods", "pod-logs"),
    ]


def test_limit_cuts_the_goals_and_says_so(k: Korrel8, mission: Mission) -> None:
    result = k.goals(mission.alert, "log", limit=1)
    assert len(result.goals) == 1 and result.truncated
    assert not k.goals(mission.alert, "log", limit=2).truncated


# --- history ----------------------------------------------------------------------------


def test_a_deleted_pod_still_correlates_in_a_window_that_covers_its_life(
    store: Store, k: Korrel8
) -> None:
    now = datetime.now(UTC)
    deleted = now - timedelta(minutes=90)
    mission = build_mission(store, now, deleted={"web-1": deleted})
    # The last hour: web-1 was gone already.
    now_result = k.goals(mission.alert, "log:application", until=mission.now)
    assert refs(now_result.goals) == {mission.logs["web-0"]}
    # A window that covers its life finds it, through edges closed when it went.
    history = k.goals(mission.alert, "log:application", since=timedelta(hours=2), until=mission.now)
    assert refs(history.goals) == {mission.logs["web-0"], mission.logs["web-1"]}
    gone = history.nodes[mission.pods["web-1"]]
    assert gone.deleted_at == deleted
    closed = [e for e in history.edges if mission.pods["web-1"] in (e.start, e.goal)]
    assert closed and all(e.valid_to == deleted for e in closed)
    # An instant before the deletion sees it alive; one after does not.
    before = k.goals(mission.alert, "log:application", at=deleted - timedelta(minutes=5))
    assert len(before.goals) == 2
    after = k.goals(mission.alert, "log:application", at=deleted + timedelta(minutes=5))
    assert len(after.goals) == 1


def test_a_window_excludes_an_edge_closed_before_it(
    store: Store, k: Korrel8, mission: Mission
) -> None:
    closed_at = mission.now - timedelta(hours=2)
    store.run(
        "MATCH (:Object {ref: $a})-[r]->(:Object {ref: $b}) SET r.valid_to = $t",
        a=mission.pvc,
        b=mission.pods["web-1"],
        t=closed_at,
    )
    assert refs(k.goals(mission.alert, "k8s:Pod").goals) == {mission.pods["web-0"]}
    wide = k.goals(mission.alert, "k8s:Pod", since=timedelta(hours=3))
    assert refs(wide.goals) == {mission.pods["web-0"], mission.pods["web-1"]}
    # With the other edge closed too, nothing is reachable now, and the error says when.
    store.run(
        "MATCH (:Object {ref: $a})-[r]->(:Object {ref: $b}) SET r.valid_to = $t",
        a=mission.pvc,
        b=mission.pods["web-0"],
        t=closed_at,
    )
    with pytest.raises(GoalUnreachableError, match="was reachable at other times: widen"):
        k.goals(mission.alert, "k8s:Pod")
    # An instant while the edges held sees them again.
    then = k.goals(mission.alert, "k8s:Pod", at=closed_at - timedelta(minutes=30))
    assert len(then.goals) == 2
    # Nor does anything count before it first appeared: the alert itself is not there.
    with pytest.raises(StartNotFoundError, match="none alive"):
        k.goals(mission.alert, "k8s:Pod", at=mission.now - timedelta(hours=4))


# --- neighbours and get -----------------------------------------------------------------


def test_neighbours_at_depth_one_and_two(k: Korrel8, mission: Mission) -> None:
    one = k.neighbours(mission.pvc, depth=1)
    assert set(one.nodes) == {mission.pvc, mission.pods["web-0"], mission.pods["web-1"]}
    assert refs(one.goals) == {mission.pods["web-0"], mission.pods["web-1"]}
    two = k.neighbours(mission.pvc, depth=2)
    assert set(two.nodes) == {
        mission.pvc, mission.rs,
        *(mission.pods[p] for p in ("web-0", "web-1")),
        *(mission.logs[p] for p in ("web-0", "web-1")),
        *(mission.metrics[p] for p in ("web-0", "web-1")),
    }  # fmt: skip
    # Following edges either way, the alert about the PVC is a neighbour too.
    either = k.neighbours(mission.pvc, depth=1, both=True)
    assert mission.alert in either.nodes
    # An object with no edge out is its own neighbourhood.
    alone = k.neighbours(mission.deploy, depth=2)
    assert set(alone.nodes) == {mission.deploy} and alone.goals == ()


def test_get_returns_the_objects_a_query_selects(k: Korrel8, mission: Mission) -> None:
    result = k.get("k8s:Pod:{namespace: shop}")
    assert refs(result.goals) == set(mission.pods.values())
    assert result.paths == ()
    assert k.get(mission.pvc).goals[0].name == "uploads"
    logql = (
        '{kubernetes_namespace_name="shop", kubernetes_pod_name="web-0", '
        'kubernetes_container_name="app", log_type="application"}'
    )
    raw = k.get(f"log:application:{logql}")
    assert refs(raw.goals) == {mission.logs["web-0"]}
    # korrel8r's two log forms: a stream selector naming fewer labels than the stream has,
    # and the container selector, whose name is the pod's.
    fewer = k.get('log:application:{kubernetes_namespace_name="shop",kubernetes_pod_name="web-0"}')
    assert refs(fewer.goals) == {mission.logs["web-0"]}
    by_pod = k.get("log:application:{namespace: shop, name: web-0}")
    assert refs(by_pod.goals) == {mission.logs["web-0"]}
    with pytest.raises(StartNotFoundError):
        k.get('log:application:{kubernetes_namespace_name="shop",kubernetes_pod_name="web-9"}')


# --- errors -----------------------------------------------------------------------------


def test_an_unknown_goal_class_lists_the_close_ones(k: Korrel8, mission: Mission) -> None:
    with pytest.raises(UnknownClassError, match=r"did you mean log:application"):
        k.goals(mission.alert, "log:aplication")
    with pytest.raises(ParseError):
        k.goals(mission.alert, "k8s:Pod) DETACH DELETE (n")


def test_a_malformed_selector_says_where(k: Korrel8, mission: Mission) -> None:
    with pytest.raises(ParseError, match=r"line 1, column \d+") as info:
        k.goals("k8s:Pod:{namespace: shop, name: [web-0}", "log")
    assert "^" in str(info.value)


def test_a_start_that_matches_nothing_names_the_nearest(k: Korrel8, mission: Mission) -> None:
    with pytest.raises(StartNotFoundError) as info:
        k.goals("k8s:Pod:{namespace: shop, name: web-9}", "log")
    message = str(info.value)
    assert "no object matches" in message and mission.pods["web-0"] in message
    assert mission.pods["web-0"] in message.split("Nearest by name:")[1]


def test_a_start_outside_the_window_says_when_it_lived(store: Store, k: Korrel8) -> None:
    now = datetime.now(UTC)
    mission = build_mission(store, now, deleted={"web-1": now - timedelta(minutes=90)})
    with pytest.raises(StartNotFoundError, match=r"none alive between .* Widen the window"):
        k.goals(mission.pods["web-1"], "log", until=mission.now)


def test_an_unreachable_goal_says_what_is_reachable(k: Korrel8, mission: Mission) -> None:
    with pytest.raises(GoalUnreachableError) as info:
        k.goals(mission.alert, "trace")
    message = str(info.value)
    assert "no rule chain from" in message and "trace" in message
    assert "k8s:PersistentVolumeClaim (1 at depth 1)" in message
    assert "log:application (2 at depth 3)" in message
    assert ("log:application", 3, 2) in info.value.reachable


def test_depth_above_the_maximum_is_refused(store: Store, mission: Mission) -> None:
    k = Korrel8(store, max_depth=6)
    with pytest.raises(DepthError, match="give 1 to 6"):
        k.goals(mission.alert, "log", depth=7)
    with pytest.raises(DepthError):
        k.neighbours(mission.alert, depth=0)


def test_a_bad_window_is_refused() -> None:
    with pytest.raises(TimeWindowError, match="is not a time"):
        make_window(since="yesterday-ish")
    with pytest.raises(TimeWindowError, match="ends before it starts"):
        make_window(since="2025-05-02T00:00:00Z", until="2025-05-01T00:00:00Z")
    with pytest.raises(TimeWindowError, match="--at is one instant"):
        make_window(at="1h", since="2h")
    now = datetime(2025, 5, 1, 12, tzinfo=UTC)
    assert make_window(now=now).since == now - timedelta(hours=1)
    assert make_window(since="15m", now=now).since == now - timedelta(minutes=15)
    assert make_window(at="2025-05-01T10:00:00", now=now).until == now - timedelta(hours=2)


def test_values_carrying_cypher_are_data(k: Korrel8, mission: Mission) -> None:
    with pytest.raises(StartNotFoundError):
        k.goals('k8s:Pod:{namespace: "shop\' OR 1=1 //", name: "x`}) DETACH DELETE n //"}', "log")
    assert len(k.get("k8s:Pod:{namespace: shop}").goals) == 3


# --- the plan ---------------------------------------------------------------------------


def plan_operators(store: Store, text: str, params: dict[str, Any]) -> list[str]:
    with store.driver.session(database=store.database) as session:
        plan = session.run("EXPLAIN " + text, params).consume().plan
    assert plan is not None
    found: list[str] = []

    def walk(op: dict[str, Any]) -> None:
        found.append(f"{op['operatorType']} {op.get('args', {}).get('Details', '')}")
        for child in op.get("children", []):
            walk(child)

    walk(plan)
    return found


def test_path_queries_find_the_start_through_the_ref_index(
    k: Korrel8, mission: Mission, store: Store
) -> None:
    # Plans follow the statistics: refresh them after earlier tests' larger graphs, which
    # were cleared but may still be counted, as a running server does on its own.
    store.run("CALL db.prepareForReplanning()")
    precise = k.goals(mission.alert, "log")
    # The precise search: each level's expansion seeks its frontier by ref; the statement
    # to paste for Browser seeks the chosen edges by id.
    expand_step = precise.statements[-2]
    operators = plan_operators(store, expand_step.text, dict(expand_step.parameters))
    assert any(op.startswith("NodeUniqueIndexSeek") and "ref" in op for op in operators)
    assert not [op for op in operators if op.startswith(("AllNodesScan", "NodeByLabelScan"))]
    shown = plan_operators(store, precise.cypher.text, dict(precise.cypher.parameters))
    assert any(op.startswith("DirectedRelationshipByElementIdSeek") for op in shown), shown
    for result in (
        k.goals(mission.alert, "log", wide=True),
        k.goals(mission.alert, "log", all_paths=True),
        k.neighbours(mission.pvc, depth=2),
        k.neighbours(mission.pvc, depth=2, both=True),
    ):
        operators = plan_operators(store, result.cypher.text, dict(result.cypher.parameters))
        seeks = [op for op in operators if op.startswith("NodeUniqueIndexSeek")]
        assert seeks and "Object" in seeks[0] and "ref" in seeks[0], operators
        scans = [op for op in operators if op.startswith(("AllNodesScan", "NodeByLabelScan"))]
        assert not scans, (result.cypher.text, operators)
    named = k.get("k8s:Pod:{namespace: shop, name: web-0}")
    find = named.statements[-1]
    operators = plan_operators(store, find.text, dict(find.parameters))
    assert any(op.startswith("NodeIndexSeek") for op in operators), operators


# --- Neo4j Browser -----------------------------------------------------------------------


def browser_query(name: str) -> str:
    path = Path(__file__).resolve().parent.parent / "cypher" / "browser" / f"{name}.cypher"
    return "\n".join(line for line in path.read_text().splitlines() if not line.startswith("//"))


def test_the_saved_browser_queries_run(store: Store) -> None:
    now = datetime.now(UTC)
    mission = build_mission(store, now, deleted={"web-1": now - timedelta(minutes=10)})
    rows = store.run(browser_query("alert-to-logs"), alertname=ALERTNAME)
    ends = {plain_path_end(r["p"]) for r in rows}
    assert ends == {mission.logs["web-0"], mission.logs["api-0"]}
    rows = store.run(browser_query("pod-neighbourhood"), namespace=NS, name="web-0")
    reached = {plain_path_end(r["p"]) for r in rows}
    assert {mission.pvc, mission.alert, mission.logs["web-0"], mission.deploy} <= reached
    rows = store.run(browser_query("deleted-last-hour"))
    assert {r["n"]["ref"] for r in rows} == {mission.pods["web-1"]}


def plain_path_end(path: Any) -> str:
    # record.data() gives a path as [node, type, node, ...].
    return str(path[-1]["ref"])


# --- the API and the CLI ----------------------------------------------------------------


def test_connect_reads_the_settings_and_closes(neo4j_server: Neo4jServer, mission: Mission) -> None:
    from korrel8 import Korrel8 as Lazy
    from korrel8 import Result

    assert Lazy is Korrel8
    with Korrel8.connect(settings=neo4j_server.settings()) as k:
        result = k.goals(mission.alert, "log")
        assert isinstance(result, Result)
    with Korrel8.connect(
        neo4j_server.uri, user=neo4j_server.user, password=neo4j_server.password
    ) as k:
        assert len(k.neighbours(mission.pvc, depth=1).goals) == 2


runner = CliRunner()


def cli() -> typer.Typer:
    app = typer.Typer(pretty_exceptions_enable=False)
    register(app)
    return app


def env_for(server: Neo4jServer) -> dict[str, str]:
    return {"NEO4J_URI": server.uri, "NEO4J_USER": server.user, "NEO4J_PASSWORD": server.password}


def test_cli_goals_table_and_json(neo4j_server: Neo4jServer, mission: Mission) -> None:
    import json

    env = env_for(neo4j_server)
    table = runner.invoke(cli(), ["goals", mission.alert, "log"], env=env)
    assert table.exit_code == 0, table.output
    assert "web-0" in table.output and "alert-pvc" in table.output and "LogQL" in table.output
    out = runner.invoke(
        cli(), ["goals", mission.alert, "log:application", "--output", "json"], env=env
    )
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert {o["ref"] for o in data["objects"] if o["goal"]} == {
        mission.logs["web-0"],
        mission.logs["web-1"],
    }


def test_cli_show_cypher_prints_what_to_paste(neo4j_server: Neo4jServer, mission: Mission) -> None:
    out = runner.invoke(
        cli(),
        ["neighbours", mission.pvc, "--depth", "1", "--show-cypher"],
        env=env_for(neo4j_server),
    )
    assert out.exit_code == 0, out.output
    assert ":params {" in out.output and "{0,1}" in out.output
    assert "MATCH (s:Object {ref: start_ref})" in out.output


def test_cli_errors_are_one_red_line_and_exit_1(
    neo4j_server: Neo4jServer, mission: Mission
) -> None:
    env = env_for(neo4j_server)
    for args in (
        ["goals", mission.alert, "log:aplication"],
        ["goals", mission.alert, "log", "--depth", "99"],
        ["get", "k8s:Pod:{namespace: shop, name: web-9}"],
        ["goals", mission.alert, "log", "--since", "last tuesday"],
    ):
        out = runner.invoke(cli(), args, env=env)
        assert out.exit_code == 1, (args, out.output)
        assert out.output.startswith("error:") and "Traceback" not in out.output, out.output


def test_cli_writes_a_file(neo4j_server: Neo4jServer, mission: Mission, tmp_path: Any) -> None:
    path = tmp_path / "graph.html"
    out = runner.invoke(
        cli(),
        ["goals", mission.alert, "log", "--output", "html", "-o", str(path)],
        env=env_for(neo4j_server),
    )
    assert out.exit_code == 0, out.output
    assert path.read_text().startswith("<!DOCTYPE html>")
