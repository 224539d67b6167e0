"""The command line, run as a user runs it, against the real Neo4j."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from korrel8.cli import app
from korrel8.store import Store
from tests.servers.common import free_port
from tests.servers.neo4j import Neo4jServer

runner = CliRunner()


def env_for(server: Neo4jServer) -> dict[str, str]:
    return {"NEO4J_URI": server.uri, "NEO4J_USER": server.user, "NEO4J_PASSWORD": server.password}


def test_demo_loads_the_sample_and_prints_counts(store: Store, neo4j_server: Neo4jServer) -> None:
    result = runner.invoke(app, ["demo", "--size", "3"], env=env_for(neo4j_server))
    assert result.exit_code == 0, result.output
    counts = store.counts()
    assert counts["node"]["Pod"] == 6 and counts["node"]["application"] == 6
    assert counts["edge"]["OWNED_BY"] == 6
    assert "Pod" in result.output and "OWNED_BY" in result.output
    # The sample is loaded through upserts: a second run adds nothing.
    runner.invoke(app, ["demo", "--size", "3"], env=env_for(neo4j_server))
    assert store.counts() == counts


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
