"""Statuses (korrel8r's status rules, ingest/status.yaml) are computed at ingest, shown in
the tables, JSON and HTML, counted per class, and filter a goal search, against a real
Neo4j loaded by the real snapshot ingester.

The objects have the shapes the API server returns: a Pod in CrashLoopBackOff as the
kubelet reports it (Ready and ContainersReady False, the container waiting with reason
CrashLoopBackOff and its last state terminated with an exit code), the kubelet's
``BackOff`` Warning Event about it, and Alertmanager's ``/api/v2/alerts`` answer with a
firing critical alert and the always-firing ``Watchdog`` of severity ``none``.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ingest import alerts, logs
from ingest import status as status_rules
from ingest.snapshot import ingest
from korrel8 import rules
from korrel8.cli import app
from korrel8.correlate import Korrel8
from korrel8.errors import GoalUnreachableError, Korrel8Error
from korrel8.graph.store import Store
from korrel8.render import html
from korrel8.render import json as render_json
from korrel8.rules import runner
from tests.graph import nodes
from tests.servers.common import unavailable
from tests.servers.neo4j import Neo4jServer
from tests.test_html import run_chromium

Obj = dict[str, Any]
NS = "shop"
SERVICE = f"k8s:Service:{{namespace: {NS}, name: web}}"


def pod(name: str, *, ready: bool, waiting: str | None = None, finalizer: bool = False) -> Obj:
    status = "True" if ready else "False"
    container: Obj = {
        "name": "app",
        "ready": ready,
        "restartCount": 7 if waiting else 0,
        "image": "quay.io/example/app:1",
        "state": {"waiting": {"reason": waiting, "message": "back-off 5m0s restarting"}}
        if waiting
        else {"running": {"startedAt": "2026-12-02T09:00:00Z"}},
    }
    if waiting:
        container["lastState"] = {
            "terminated": {"exitCode": 1, "reason": "Error", "finishedAt": "2026-12-02T09:58:00Z"}
        }
    meta: Obj = {"name": name, "namespace": NS, "uid": f"uid-{name}", "labels": {"app": "web"}}
    if finalizer:
        meta["finalizers"] = ["example.com/cleanup"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {"containers": [{"name": "app", "image": "quay.io/example/app:1"}]},
        "status": {
            "phase": "Running",
            "conditions": [
                {"type": "Initialized", "status": "True"},
                {"type": "Ready", "status": status},
                {"type": "ContainersReady", "status": status},
                {"type": "PodScheduled", "status": "True"},
            ],
            "containerStatuses": [container],
        },
    }


def event(name: str, about: str, type_: str, reason: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": NS, "uid": f"uid-{name}"},
        "involvedObject": {
            "kind": "Pod",
            "namespace": NS,
            "name": about,
            "uid": f"uid-{about}",
            "apiVersion": "v1",
        },
        "reason": reason,
        "message": f"{reason} {about}",
        "type": type_,
        "count": 3,
        "lastTimestamp": "2026-12-02T09:59:00Z",
    }


def am_alert(labels: dict[str, str]) -> Obj:
    return {
        "fingerprint": alerts.fingerprint(labels),
        "labels": labels,
        "annotations": {"summary": labels["alertname"]},
        "startsAt": "2026-12-02T09:30:00.000Z",
        "endsAt": "2099-01-01T00:00:00.000Z",
        "updatedAt": "2026-12-02T09:59:00.000Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=up&g0.tab=1",
        "status": {"state": "active", "silencedBy": [], "inhibitedBy": []},
        "receivers": [{"name": "default"}],
    }


CRASHING = {"alertname": "KubePodCrashLooping", "severity": "critical", "namespace": NS,
            "pod": "web-1", "container": "app"}  # fmt: skip
WATCHDOG = {"alertname": "Watchdog", "severity": "none", "namespace": "openshift-monitoring"}


@pytest.fixture
def loaded(store: Store, tmp_path: Path) -> Store:
    objects = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS, "uid": "uid-ns"}},
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web", "namespace": NS, "uid": "uid-svc"},
            "spec": {"selector": {"app": "web"}, "type": "ClusterIP"},
        },
        pod("web-1", ready=False, waiting="CrashLoopBackOff"),
        pod("web-2", ready=True),
        pod("web-3", ready=True, finalizer=True),
        event("web-1.backoff", "web-1", "Warning", "BackOff"),
        event("web-1.pulled", "web-1", "Normal", "Pulled"),
    ]
    snapshot = tmp_path / "snapshot"
    snapshot.mkdir()
    (snapshot / "objects.json").write_text(json.dumps({"kind": "List", "items": objects}))
    (snapshot / "alerts.json").write_text(json.dumps([am_alert(CRASHING), am_alert(WATCHDOG)]))
    summary = ingest(store, snapshot, "c1")
    assert summary.ok, summary.errors
    runner.apply(store, rules.load(), full=True)
    return store


def by_name(store: Store) -> dict[str, dict[str, Any]]:
    return {n["name"]: n for n in nodes(store).values()}


def test_statuses_are_computed_at_ingest(loaded: Store) -> None:
    got = {name: n.get("statuses") for name, n in by_name(loaded).items()}
    assert got["web-1"] == ["Error"]  # Ready False, CrashLoopBackOff
    assert got["web-2"] is None  # healthy: no property at all
    assert got["web-3"] == ["Finalizer"]
    assert got["web-1.backoff"] == ["Warning"] and got["web-1.pulled"] is None
    assert got["KubePodCrashLooping"] == ["critical"]
    assert got["Watchdog"] is None  # severity none is no status
    assert got["web"] is None  # a Service has no status


def test_a_goal_search_filters_goals_by_status_only(loaded: Store) -> None:
    k = Korrel8(loaded)
    every = k.goals(SERVICE, "k8s:Pod")
    assert {n.name for n in every.goals} == {"web-1", "web-2", "web-3"}
    for wide in (False, True):
        errors = k.goals(SERVICE, "k8s:Pod", status="Error", wide=wide)
        assert [n.name for n in errors.goals] == ["web-1"], wide
        assert errors.goals[0].statuses == ("Error",)
        assert (
            k.goals(SERVICE, "k8s:Pod", status=["finalizer", "warning"], wide=wide).goals[0].name
            == "web-3"
        )
    # The objects on the way are not filtered: the Pod (no Warning) leads to its Warning Event.
    events = k.goals(SERVICE, "k8s:Event", status="Warning", depth=2, wide=True)
    assert [n.name for n in events.goals] == ["web-1.backoff"]
    assert "k8s:Pod" in events.counts
    # From the critical alert to its pod's warning events, and the counts per class.
    alert = k.get("alert:alert:{alertname: KubePodCrashLooping}")
    assert alert.status_counts == {"alert:alert": {"critical": 1}}
    with pytest.raises(GoalUnreachableError, match="no goal has status critical"):
        k.goals(SERVICE, "k8s:Pod", status="critical")
    with pytest.raises(Korrel8Error, match="--status"):
        k.goals(SERVICE, "k8s:Pod", status=[""])


def test_statuses_show_in_json_html_and_the_table(loaded: Store, neo4j_server: Neo4jServer) -> None:
    result = Korrel8(loaded).goals(SERVICE, "k8s:Pod")
    assert result.status_counts == {"k8s:Pod": {"Error": 1, "Finalizer": 1}}
    data = render_json.to_dict(result)
    pods = next(n for n in data["nodes"] if n["class"] == "k8s:Pod")
    assert sorted(pods["statuses"], key=lambda s: s["status"]) == [
        {"status": "Error", "count": 1},
        {"status": "Finalizer", "count": 1},
    ]
    per_query = {q["query"]: q["statuses"] for q in pods["queries"]}
    assert sorted(map(len, per_query.values())) == [0, 1, 1]
    goal_statuses = {o["name"]: o["statuses"] for o in data["objects"] if o["goal"]}
    assert goal_statuses == {"web-1": ["Error"], "web-2": [], "web-3": ["Finalizer"]}
    assert data["status_counts"] == {"k8s:Pod": {"Error": 1, "Finalizer": 1}}
    page = html.to_html(result)
    assert "node[health = 'error']" in page and '"statuses":["Error"]' in page

    env = {
        "NEO4J_URI": neo4j_server.uri,
        "NEO4J_USER": neo4j_server.user,
        "NEO4J_PASSWORD": neo4j_server.password,
    }
    out = CliRunner().invoke(app, ["goals", SERVICE, "k8s:Pod", "--status", "error"], env=env)
    assert out.exit_code == 0, out.output
    lines = out.stdout.splitlines()
    header = lines[1].split("\t")
    rows = [dict(zip(header, line.split("\t"), strict=True)) for line in lines[2:3]]
    assert [(r["name"], r["status"]) for r in rows] == [("web-1", "Error")]
    assert "k8s:Pod\t1\t1\tError=1" in out.stdout


def test_status_rules_of_alerts_and_log_levels() -> None:
    assert status_rules.alert({"severity": "warning"}) == ["warning"]
    assert status_rules.alert({"severity": "none"}) == [] == status_rules.alert({})
    # Loki's level labels fold per container: a stream of any error level makes it Error.
    streams, _ = logs.series_streams(
        [
            {"namespace": NS, "pod": "web-1", "container": "app", "detected_level": "info"},
            {"namespace": NS, "pod": "web-1", "container": "app", "detected_level": "ERROR"},
            {"namespace": NS, "pod": "web-2", "container": "app", "level": "warn"},
        ],
        "c1",
    )
    rows = {r.name: r.properties.get("statuses") for r in logs.to_rows(streams, "viaq", "viaq")}
    assert rows == {"web-1/app": ["Error"], "web-2/app": ["Warning"]}


def test_the_html_graph_marks_errors_and_warnings(loaded: Store, tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        unavailable("Chromium", "run tools/install-chromium.sh (apt-get install chromium)")
    alert = "alert:alert:{alertname: KubePodCrashLooping}"
    result = Korrel8(loaded).goals(alert, ["k8s:Pod", "k8s:Event"], depth=2)
    page = tmp_path / "web-1.html"
    html.write_html(result, page)
    dom = run_chromium(chromium, tmp_path, "--dump-dom", page.as_uri())
    body = re.search(r"<body([^>]*)>", dom)
    assert body is not None
    marked = dict(re.findall(r'data-status-(\w+)="(\d+)"', body[1]))
    # The crash-looping pod and the critical alert are errors, the BackOff Event a warning.
    assert {n.title: n.statuses for n in result.nodes.values()} == {
        "web-1.pulled": (),
        "web-1": ("Error",),
        "web-1.backoff": ("Warning",),
        "KubePodCrashLooping": ("critical",),
    }
    assert marked == {"errors": "2", "warnings": "1"}


def test_recorded_pods_crash_looping_completed_and_running() -> None:
    """Real Pods (tests/data/status/README.md): the crash-looping one is an Error, the
    completed one (not Ready, but Succeeded) and the running one have no status."""
    items = json.loads((Path(__file__).parent / "data/status/pods.json").read_text())["items"]
    got = {o["metadata"]["name"].split("-")[0]: status_rules.kubernetes(o, "Pod") for o in items}
    assert got == {"bad": ["Error"], "assisted": [], "korrel8r": []}
