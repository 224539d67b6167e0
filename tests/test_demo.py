"""``korrel8 demo`` end to end against the test Neo4j, at a small size: the printed answer
names the pods that mount the filling claim and their log streams; a re-run gives the same
answer, replaces what an earlier run left and leaves other clusters alone."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from korrel8 import demo
from korrel8.cli import app
from korrel8.graph.rows import NodeRow
from korrel8.graph.store import Store
from korrel8.model import Class, ref
from tests.servers.common import free_port
from tests.servers.neo4j import Neo4jServer

SIZE = 40


def run_demo(server: Neo4jServer, size: int, html: Path, snapshot: Path) -> tuple[demo.Demo, str]:
    out = Console(file=io.StringIO(), width=200)  # wide: no table cell is folded
    done = demo.run(server.settings(), size=size, html=html, snapshot_dir=snapshot, out=out)
    assert isinstance(out.file, io.StringIO)
    return done, out.file.getvalue()


def mounting_pods(snapshot: Path) -> dict[str, list[str]]:
    """Pod name -> its containers, for the pods whose volumes name the filling claim: read
    from the snapshot's files, not from the graph the demo searched."""
    items = json.loads((snapshot / "pods.json").read_text())["items"]
    return {
        pod["metadata"]["name"]: [c["name"] for c in pod["spec"]["containers"]]
        for pod in items
        if pod["metadata"]["namespace"] == demo.NAMESPACE
        and any(
            volume.get("persistentVolumeClaim", {}).get("claimName") == demo.FILLING_CLAIM
            for volume in pod["spec"].get("volumes", [])
        )
    }


def demo_pods(store: Store) -> int:
    rows = store.run(
        "MATCH (n:Pod) WHERE n.cluster = $cluster AND n.deleted_at IS NULL RETURN count(n) AS n",
        cluster=demo.CLUSTER,
    )
    return int(rows[0]["n"])


def pod_row(cluster: str, name: str) -> NodeRow:
    return NodeRow.model_validate(
        {
            "ref": ref(
                Class(domain="k8s", name="Pod"), {"namespace": "shop", "name": name}, cluster
            ),
            "domain": "k8s",
            "class": "Pod",
            "source": "k8s",
            "cluster": cluster,
            "namespace": "shop",
            "name": name,
            "properties": {"k8s.namespace.name": "shop", "k8s.pod.name": name},
        }
    )


def refs(store: Store, *wanted: str) -> list[str]:
    rows = store.run("MATCH (n:Object) WHERE n.ref IN $refs RETURN n.ref AS ref", refs=wanted)
    return sorted(str(r["ref"]) for r in rows)


@pytest.mark.slow
def test_the_demo_prints_the_logs_of_the_pods_that_mount_the_filling_claim(
    store: Store, neo4j_server: Neo4jServer, tmp_path: Path
) -> None:
    # A pod of another cluster, and one left by an earlier, bigger demo run.
    other, stale = pod_row("prod", "db-0"), pod_row(demo.CLUSTER, "web-99")
    store.upsert_nodes([other, stale])
    html, snapshot = tmp_path / "demo.html", tmp_path / "snapshot"
    first, printed = run_demo(neo4j_server, SIZE, html, snapshot)
    pods = sum(1 for _ in json.loads((snapshot / "pods.json").read_text())["items"])
    assert demo_pods(store) == pods == first.objects["Pod"]

    expected = mounting_pods(snapshot)
    assert expected, "the generated shop has no pod that mounts the filling claim"
    found = {
        (n.properties["k8s.pod.name"], n.properties["k8s.container.name"])
        for n in first.result.goals
    }
    assert found == {(pod, c) for pod, containers in expected.items() for c in containers}
    assert {n.domain for n in first.result.goals} == {"log"}

    # The printed answer: each stream's pod, container and LogQL, and each path with the
    # rule on every edge, through the claim and a pod that mounts it.
    for node in first.result.goals:
        data = node.data_query
        assert data is not None and data.language == "LogQL"
        row = [node.properties["k8s.pod.name"], node.properties["k8s.container.name"]]
        assert any(all(v in line for v in [*row, data.query]) for line in printed.splitlines())
    assert len(first.result.paths) == len(first.result.goals)
    for path in first.result.paths:
        classes = [first.result.nodes[r].class_ for r in path.refs]
        assert classes[:3] == ["alert:alert", "k8s:PersistentVolumeClaim", "k8s:Pod"]
        assert first.result.nodes[path.refs[1]].name == demo.FILLING_CLAIM
        assert first.result.nodes[path.refs[2]].name in expected
        for edge in path.edges:
            assert f"-[{edge.type} {edge.rule}]->" in printed
    for pod in expected:
        assert f"k8s:Pod {demo.NAMESPACE}/{pod}" in printed
    assert demo.START in printed
    # On an 80-column terminal too, every LogQL selector and the start query stay whole
    # on one line, to be copied.
    narrow = Console(file=io.StringIO(), force_terminal=True, width=80, color_system=None)
    demo.report(first, neo4j_server.settings(), narrow)
    assert isinstance(narrow.file, io.StringIO)
    lines = narrow.file.getvalue().splitlines()
    for node in first.result.goals:
        assert node.data_query is not None and len(node.data_query.query) > 80
        assert any(node.data_query.query in line for line in lines), node.data_query.query
    assert any(demo.START in line for line in lines)

    page = html.read_text()
    assert len(page) > 5000 and all(pod in page for pod in expected)
    assert str(html) in printed

    # The query printed for Neo4j Browser finds the same paths.
    assert first.browser_query in printed
    assert len(store.run(first.browser_query)) == len(first.result.paths)

    again, printed_again = run_demo(neo4j_server, SIZE, html, tmp_path / "again")
    assert (tmp_path / "again" / "pods.json").read_bytes() == (snapshot / "pods.json").read_bytes()
    assert printed_again == printed
    assert [g.ref for g in again.result.goals] == [g.ref for g in first.result.goals]
    assert [(p.refs, p.rules) for p in again.result.paths] == [
        (p.refs, p.rules) for p in first.result.paths
    ]
    assert refs(store, other.ref, stale.ref) == [other.ref]  # the stale one is gone, not swept


def test_the_demo_command_fails_with_a_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEO4J_URI", f"bolt://127.0.0.1:{free_port()}")
    monkeypatch.setenv("NEO4J_PASSWORD", "unused")
    result = CliRunner().invoke(app, ["demo", "--size", "5", "--html", str(tmp_path / "x.html")])
    assert result.exit_code == 1
    assert "error:" in result.output and "cannot reach Neo4j" in result.output
    assert not (tmp_path / "x.html").exists()

    # A snapshot directory that holds files: they would load with the demo's.
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "ingresses.json").write_text("{}")
    result = CliRunner().invoke(app, ["demo", "--snapshot-dir", str(tmp_path / "full")])
    assert result.exit_code == 1
    assert "error:" in result.output and "is not empty" in result.output
