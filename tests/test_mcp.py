"""korrel8r's MCP tools (korrel8/api/mcp.py), through the official SDK's own client, over
both transports: streamable HTTP at /mcp beside the REST API, and stdio (``korrel8 mcp``
as a subprocess), against a real Neo4j holding a generated cluster loaded by the snapshot
ingester and the rules. The tools answer what the REST API answers."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp.types import CallToolResult, TextContent

from korrel8.api.app import create_app
from korrel8.api.server import Server
from tests.api_client import Client as RestClient
from tests.api_client import api
from tests.api_data import Loaded, loaded
from tests.servers.neo4j import Neo4jServer

__all__ = ["api", "loaded"]  # fixtures

KORREL8 = Path(sys.executable).parent / "korrel8"
TOOLS = {  # korrel8r's tools (pkg/mcp) and their parameters, required ones first
    "list_domains": (set(), set()),
    "list_domain_classes": ({"domain"}, set()),
    "help": (set(), {"domain"}),
    "create_goals_graph": ({"goals", "start"}, set()),
    "create_neighbors_graph": ({"depth", "start"}, set()),
    "get_objects": ({"query"}, {"constraint"}),
}


@pytest.fixture(scope="module")
def http_url(loaded: Loaded) -> Iterator[str]:
    server = Server(create_app(loaded.store), "127.0.0.1", 0)
    server.start()
    try:
        yield f"{server.url}/mcp"
    finally:
        server.stop()


@pytest.fixture(scope="module")
def stdio(neo4j_server: Neo4jServer, loaded: Loaded) -> StdioServerParameters:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/"),
           "NEO4J_URI": neo4j_server.uri, "NEO4J_USER": neo4j_server.user,
           "NEO4J_PASSWORD": neo4j_server.password}  # fmt: skip
    return StdioServerParameters(command=str(KORREL8), args=["mcp"], env=env)


def transports(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue("http_url" if request.param == "http" else "stdio")


@pytest.fixture(params=["http", "stdio"])
def target(request: pytest.FixtureRequest) -> Any:
    return transports(request)


def call(target: Any, *calls: tuple[str, dict[str, Any]]) -> tuple[Any, list[CallToolResult]]:
    """The tool list and the results of ``calls``, in one session."""

    async def session() -> tuple[Any, list[CallToolResult]]:
        async with Client(target, read_timeout_seconds=120) as client:
            tools = await client.list_tools()
            return tools, [await client.call_tool(name, args) for name, args in calls]

    return anyio.run(session)


def text(result: CallToolResult) -> str:
    return " ".join(c.text for c in result.content if isinstance(c, TextContent))


def test_korrel8rs_tools_with_korrel8rs_parameters(target: Any) -> None:
    tools, _ = call(target)
    found = {t.name: t.input_schema for t in tools.tools}
    assert set(found) == set(TOOLS)
    for name, (required, optional) in TOOLS.items():
        schema = found[name]
        assert set(schema.get("required", [])) == required, name
        assert set(schema.get("properties", {})) == required | optional, name


def test_the_tools_answer_what_the_rest_api_answers(
    target: Any, api: RestClient, loaded: Loaded
) -> None:
    start = {"queries": [loaded.alert]}
    pod = f'k8s:Pod:{{"namespace":"{loaded.pod["namespace"]}","name":"{loaded.pod["name"]}"}}'
    _, results = call(
        target,
        ("list_domains", {}),
        ("list_domain_classes", {"domain": "k8s"}),
        ("help", {"domain": "log"}),
        ("help", {}),
        ("create_goals_graph", {"goals": ["k8s:Pod"], "start": start}),
        ("create_neighbors_graph", {"depth": 1, "start": {"queries": [pod]}}),
        ("get_objects", {"query": pod}),
    )
    assert not any(r.is_error for r in results), [text(r) for r in results if r.is_error]
    domains, classes, log_help, all_help, goals, neighbours, objects = (
        r.structured_content for r in results
    )
    assert domains["domains"] == api.get("/domains").json()
    assert classes == {"domain": "k8s", "classes": api.get("/domain/k8s/classes").json()}
    assert log_help == api.get("/help/log").json()
    assert all_help == api.get("/help").json()
    rest_goals = api.post("/graphs/goals", {"goals": ["k8s:Pod"], "start": start}).json()
    assert goals == rest_goals and any(n["class"] == "k8s:Pod" for n in goals["nodes"])
    rest_neighbours = api.post("/graphs/neighbors", {"depth": 1, "start": {"queries": [pod]}})
    assert neighbours == rest_neighbours.json()
    assert objects["objects"] == api.get("/objects", params={"query": pod}).json()


def test_a_bad_call_is_a_tool_error_naming_the_problem(target: Any) -> None:
    _, results = call(
        target,
        ("list_domain_classes", {"domain": "nope"}),
        ("create_goals_graph", {"goals": ["k8s:Pod"], "start": {"queries": ["k8s:Pod:{"]}}),
        ("create_neighbors_graph", {"depth": 99, "start": {"queries": ["k8s:Pod:{}"]}}),
        ("get_objects", {"query": "MATCH (n) DETACH DELETE n"}),
    )
    assert all(r.is_error for r in results)
    messages = [text(r) for r in results]
    assert "unknown domain 'nope'" in messages[0]
    assert "k8s:Pod:{" in messages[1]
    assert "depth 99 is out of range" in messages[2]
    assert "DOMAIN:CLASS:SELECTOR" in messages[3]
    assert not any("Traceback" in m for m in messages)
