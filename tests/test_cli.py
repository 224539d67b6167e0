"""The command line, run as a user runs it, against the real Neo4j."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from korrel8.cli import app
from korrel8.graph.store import Store
from tests.servers.common import free_port
from tests.servers.neo4j import Neo4jServer
from tests.test_demo import mounting_pods

runner = CliRunner()


def env_for(server: Neo4jServer) -> dict[str, str]:
    return {"NEO4J_URI": server.uri, "NEO4J_USER": server.user, "NEO4J_PASSWORD": server.password}


def test_demo_prints_the_logs_of_the_pods_that_mount_the_filling_claim(
    store: Store, neo4j_server: Neo4jServer, tmp_path: Path
) -> None:
    # tests/test_demo.py checks the answer in detail; this runs it as `make demo` does.
    html, snapshot = tmp_path / "demo.html", tmp_path / "snapshot"
    args = ["demo", "--size", "20", "--html", str(html), "--snapshot-dir", str(snapshot)]
    result = runner.invoke(app, args, env=env_for(neo4j_server))
    assert result.exit_code == 0, result.output
    pods = mounting_pods(snapshot)
    assert pods and all(f"k8s:Pod shop/{pod}" in result.output for pod in pods)
    assert "pod-logs" in result.output and html.stat().st_size > 5000

    args = ["demo", "--size", "20", "--html", str(html), "--output", "json"]
    result = runner.invoke(app, args, env=env_for(neo4j_server))
    assert result.exit_code == 0, result.output
    goals = [o for o in json.loads(result.stdout)["objects"] if o["goal"]]
    assert {o["properties"]["k8s.pod.name"] for o in goals} == set(pods)


def test_counts_against_an_unreachable_server_names_it(store: Store) -> None:
    uri = f"bolt://127.0.0.1:{free_port()}"
    result = runner.invoke(app, ["counts"], env={"NEO4J_URI": uri, "NEO4J_PASSWORD": "secret-pw"})
    assert result.exit_code == 1
    assert f"cannot reach Neo4j at {uri}" in result.output
    assert "secret-pw" not in result.output


@pytest.mark.parametrize("args", [["db", "--help"], ["--help"]])
def test_help(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 0 and "Usage" in result.output
