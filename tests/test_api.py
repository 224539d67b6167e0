"""korrel8r's REST API served from the graph (korrel8/api/), against a real Neo4j holding a
generated cluster loaded by the snapshot ingester and the rules. Every answer is checked
against korrel8r's own OpenAPI spec (tests/api_client.py), and compared with what the
Python API answers for the same search."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from prometheus_client import CollectorRegistry

from korrel8.api.app import create_app
from korrel8.api.routes import REASON_HEADER
from korrel8.api.server import Server
from korrel8.correlate import Korrel8
from korrel8.errors import ConfigError
from korrel8.result import Result
from tests.api_client import Client, api
from tests.api_data import Loaded, loaded
from tests.servers.common import free_port
from tests.servers.neo4j import Neo4jServer

__all__ = ["api", "loaded"]  # fixtures


def pod_query(loaded: Loaded) -> str:
    meta = loaded.pod
    return f'k8s:Pod:{{"namespace":"{meta["namespace"]}","name":"{meta["name"]}"}}'


def classes(graph: dict[str, Any]) -> dict[str, int]:
    return {n["class"]: n["count"] for n in graph["nodes"]}


def queries(nodes: list[dict[str, Any]], cls: str) -> set[str]:
    return {q["query"] for n in nodes if n["class"] == cls for q in n["queries"]}


def goals_body(query: str, /, *goals: str, **constraint: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"goals": list(goals), "start": {"queries": [query]}}
    if constraint:
        body["start"]["constraint"] = constraint
    return body


def same_graph(graph: dict[str, Any], result: Result) -> None:
    """The korrel8r graph holds the Python API's objects, per class, and its class edges."""
    assert classes(graph) == result.counts
    for cls in result.counts:
        assert queries(graph["nodes"], cls) == {n.ref for n in result.nodes.values()
                                                if n.class_ == cls}  # fmt: skip
    pairs = {(result.nodes[e.start].class_, result.nodes[e.goal].class_) for e in result.edges}
    assert {(e["start"], e["goal"]) for e in graph["edges"]} == pairs


# --- domains, classes, help ---------------------------------------------------------------


def test_domains_list_every_domain_with_its_classes(api: Client) -> None:
    domains = api.get("/domains").json()
    assert {d["name"] for d in domains} == {
        "alert",
        "incident",
        "k8s",
        "log",
        "metric",
        "netflow",
        "trace",
    }
    assert all(d["description"] for d in domains)
    k8s = api.get("/domain/k8s/classes").json()
    assert {"Pod", "Deployment.apps", "PersistentVolumeClaim"} <= set(k8s)
    assert api.get("/domain/log/classes").json() == ["application", "infrastructure", "audit"]


def test_an_unknown_domain_is_404_naming_the_known_ones(api: Client) -> None:
    for path in ("/domain/nope/classes", "/help/nope"):
        response = api.get(path)
        assert response.status_code == 404
        assert "unknown domain 'nope'" in response.json()["error"]
        assert "k8s" in response.json()["error"]


def test_help_gives_the_query_syntax_of_each_domain(api: Client) -> None:
    everything = api.get("/help").json()["documentation"]
    for domain in ("k8s", "log", "metric", "alert", "trace"):
        one = api.get(f"/help/{domain}").json()["documentation"]
        assert one.startswith(f"Domain {domain}:")
        assert one in everything
    assert 'k8s:Pod:{"namespace"' in api.get("/help/k8s").json()["documentation"]


# --- goal searches ------------------------------------------------------------------------


def test_a_goal_graph_is_the_python_apis_answer_in_korrel8rs_shape(
    api: Client, loaded: Loaded
) -> None:
    graph = api.post("/graphs/goals", goals_body(loaded.alert, "k8s:Pod")).json()
    expected = Korrel8(loaded.store).goals(loaded.alert, "k8s:Pod")
    assert expected.goal_counts  # the alert's PVC is mounted by a pod
    same_graph(graph, expected)
    assert all("rules" not in e for e in graph["edges"])  # only on request


def test_rules_true_puts_the_rules_on_the_edges(api: Client, loaded: Loaded) -> None:
    graph = api.post("/graphs/goals?rules=true", goals_body(loaded.alert, "k8s:Pod")).json()
    expected = Korrel8(loaded.store).goals(loaded.alert, "k8s:Pod")
    named = {e["start"] + ">" + e["goal"]: {r["name"] for r in e["rules"]} for e in graph["edges"]}
    wanted: dict[str, set[str]] = {}
    for e in expected.edges:
        key = expected.nodes[e.start].class_ + ">" + expected.nodes[e.goal].class_
        wanted.setdefault(key, set()).add(e.rule)
    assert named == wanted
    # Each rule's queries are the objects it led to.
    for edge in graph["edges"]:
        for rule in edge["rules"]:
            assert all(q["query"].startswith(edge["goal"] + ":") for q in rule["queries"])


def test_lists_goals_holds_the_goal_objects_only(api: Client, loaded: Loaded) -> None:
    nodes = api.post("/lists/goals", goals_body(loaded.alert, "k8s:Pod")).json()
    expected = Korrel8(loaded.store).goals(loaded.alert, "k8s:Pod")
    assert [n["class"] for n in nodes] == ["k8s:Pod"]
    assert queries(nodes, "k8s:Pod") == {g.ref for g in expected.goals}


def test_a_goal_that_is_not_reached_answers_the_start_and_says_why(
    api: Client, loaded: Loaded
) -> None:
    response = api.post("/graphs/goals", goals_body(loaded.alert, "log:application"))
    assert response.status_code == 200
    assert classes(response.json()) == {"alert:alert": 1}
    assert "log:application" in response.headers[REASON_HEADER]
    listed = api.post("/lists/goals", goals_body(loaded.alert, "log:application"))
    assert listed.json() == [] and "log:application" in listed.headers[REASON_HEADER]


def test_the_constraint_is_the_clis_window_and_limit(api: Client, loaded: Loaded) -> None:
    # The snapshot was loaded now: a window that ends a day ago holds none of it.
    before = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    old = api.post("/graphs/goals", goals_body(loaded.alert, "k8s:Pod", end=before))
    assert old.status_code == 404
    assert "Widen the window" in old.json()["error"]
    wide = goals_body(loaded.alert, "k8s:Pod", start="2020-01-01T00:00:00Z")
    expected = Korrel8(loaded.store).goals(loaded.alert, "k8s:Pod", since="2020-01-01T00:00:00Z")
    same_graph(api.post("/graphs/goals", wide).json(), expected)
    backwards = goals_body(loaded.alert, "k8s:Pod", start="2026-02-01T00:00:00Z",
                           end="2026-01-01T00:00:00Z")  # fmt: skip
    response = api.post("/graphs/goals", backwards)
    assert response.status_code == 400 and "ends before it starts" in response.json()["error"]
    over = api.post("/graphs/goals", goals_body(loaded.alert, "k8s:Pod", limit=0))
    assert over.status_code == 400 and "limit" in over.json()["error"]


def test_a_start_given_as_objects_is_the_same_as_its_query(api: Client, loaded: Loaded) -> None:
    by_query = api.post("/graphs/goals", goals_body(pod_query(loaded), "k8s:Deployment.apps"))
    obj = {"apiVersion": "v1", "kind": "Pod", "metadata": loaded.pod}
    body = {"goals": ["k8s:Deployment.apps"], "start": {"class": "k8s:Pod", "objects": [obj]}}
    assert api.post("/graphs/goals", body).json() == by_query.json()
    assert "k8s:Deployment.apps" in classes(by_query.json())
    no_class = api.post("/graphs/goals", {"goals": ["k8s:Pod"], "start": {"objects": [obj]}})
    assert no_class.status_code == 400 and "start class" in no_class.json()["error"]


# --- neighbours and objects -----------------------------------------------------------


def test_neighbours_in_both_spellings_are_the_python_apis_answer(
    api: Client, loaded: Loaded
) -> None:
    body = {"depth": 1, "start": {"queries": [pod_query(loaded)]}}
    graph = api.post("/graphs/neighbors", body).json()
    same_graph(graph, Korrel8(loaded.store).neighbours(pod_query(loaded), depth=1))
    assert api.post("/graphs/neighbours", body).json() == graph
    assert len(graph["nodes"]) > 1


def test_objects_are_the_stored_objects_of_a_query(api: Client, loaded: Loaded) -> None:
    found = api.get("/objects", params={"query": pod_query(loaded)}).json()
    assert [(o["namespace"], o["name"], o["class"]) for o in found] == [
        (loaded.pod["namespace"], loaded.pod["name"], "k8s:Pod")
    ]
    assert found[0]["dataQuery"]["language"] == "kubectl"
    missing = api.get("/objects", params={"query": 'k8s:Pod:{"namespace":"x","name":"nope"}'})
    assert missing.status_code == 404 and "no object matches" in missing.json()["error"]


# --- bad input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        (goals_body("k8s:Pod:{", "k8s:Pod"), 400, "k8s:Pod:{"),
        (goals_body('k8s:Nope:{"name":"x"}', "k8s:Pod"), 400, "unknown class"),
        (goals_body('nope:Pod:{"name":"x"}', "k8s:Pod"), 404, "unknown domain"),
        (goals_body('k8s:Pod:{"name":"x"}', "log:nope"), 400, "log:nope"),
        ({"goals": ["k8s:Pod"]}, 400, "start"),
        ({"goals": "k8s:Pod", "start": {"queries": ["k8s:Pod:{}"]}}, 400, "goals"),
        ({"goals": ["k8s:Pod"], "start": {}}, 400, "no start given"),
    ],
)
def test_a_bad_goal_search_is_a_4xx_naming_the_problem(
    api: Client, body: dict[str, Any], status: int, says: str
) -> None:
    response = api.post("/graphs/goals", body)
    assert response.status_code == status, response.text
    assert says in response.json()["error"]


def test_bad_depth_and_bad_json_are_400(api: Client, loaded: Loaded) -> None:
    deep = api.post("/graphs/neighbors", {"depth": 99, "start": {"queries": [pod_query(loaded)]}})
    assert deep.status_code == 400 and "depth 99 is out of range" in deep.json()["error"]
    broken = api.request("POST", "/graphs/goals", data=b"{not json",
                         headers={"Content-Type": "application/json"})  # fmt: skip
    assert broken.status_code == 400 and "invalid request" in broken.json()["error"]
    assert api.get("/objects").status_code == 400  # the query is required


CYPHER = [
    "MATCH (n) DETACH DELETE n",
    'k8s:Pod:{"name":"x\\"}) MATCH (n) DETACH DELETE n //"}',
    "k8s:Pod:{name: x}) DETACH DELETE n WITH 1 AS x MATCH (m",
    "alert:alert:{alertname: '}) MATCH (n) DETACH DELETE n //'}",
    'log:application:{x="1"} ` DETACH DELETE n',
]


@pytest.mark.parametrize("text", CYPHER)
def test_a_cypher_shaped_string_is_an_error_or_data_never_run(
    api: Client, loaded: Loaded, text: str
) -> None:
    before = loaded.store.counts()
    answers = [
        api.post("/graphs/goals", goals_body(text, "k8s:Pod")),
        api.post("/graphs/goals", goals_body(pod_query(loaded), text)),
        api.post("/graphs/neighbors", {"depth": 1, "start": {"queries": [text]}}),
        api.post("/graphs/goals", {"goals": ["k8s:Pod"],
                                   "start": {"class": "k8s:Pod", "objects": [
                                       {"metadata": {"name": text, "namespace": text}}]}}),
        api.get("/objects", params={"query": text}),
        api.get(f"/domain/{quote(text, safe='')}/classes"),
        api.get(f"/help/{quote(text, safe='')}"),
    ]  # fmt: skip
    for response in answers:
        assert response.status_code in (200, 400, 404), response.text
    assert loaded.store.counts() == before


# --- configuration, console, the project's spec -----------------------------------------


def test_config_verbose_sets_the_log_level(api: Client) -> None:
    logger = logging.getLogger("korrel8")
    try:
        assert api.put("/config", params={"verbose": 3}).json() == {}
        assert logger.level == logging.DEBUG
        api.put("/config", params={"verbose": 0})
        assert logger.level == logging.INFO
        assert api.put("/config", params={"verbose": 11}).status_code == 400
    finally:
        logger.setLevel(logging.NOTSET)


def test_the_console_bridge_answers_501(api: Client) -> None:
    for method, path in (("GET", "/console"), ("PUT", "/console"), ("GET", "/console/events"),
                         ("PUT", "/console/events")):  # fmt: skip
        response = api.request(method, path, json={})
        assert response.status_code == 501
        assert "console" in response.json()["error"]


def test_korrel8_serves_its_own_openapi_document(api: Client) -> None:
    doc = requests.get(f"{api.base}/api/v1alpha1/openapi.json", timeout=10).json()
    korrel8r = set(api.spec.spec["paths"].keys())
    served = {p.removeprefix("/api/v1alpha1") for p in doc["paths"]}
    assert korrel8r - served == {"/console", "/console/events"}


# --- the server: HTTPS, request metrics ---------------------------------------------


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
         "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key),
         "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def test_https_with_the_configured_certificate(
    loaded: Loaded, certificate: tuple[Path, Path]
) -> None:
    cert, key = certificate
    server = Server(create_app(loaded.store), "127.0.0.1", 0, certfile=cert, keyfile=key)
    server.start()
    try:
        assert server.url.startswith("https://")
        answer = requests.get(f"{server.url}/api/v1alpha1/domains", verify=str(cert), timeout=10)
        assert answer.status_code == 200
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get(server.url.replace("https", "http") + "/api/v1alpha1/domains",
                         timeout=10)  # fmt: skip
    finally:
        server.stop()
    with pytest.raises(ConfigError, match="both"):
        Server(create_app(loaded.store), "127.0.0.1", 0, certfile=cert)


def test_request_metrics_count_each_route_template_and_status(loaded: Loaded) -> None:
    registry = CollectorRegistry()
    server = Server(create_app(loaded.store, registry=registry, mcp=False), "127.0.0.1", 0)
    server.start()
    try:
        for domain in ("k8s", "log", "nope"):
            requests.get(f"{server.url}/api/v1alpha1/domain/{domain}/classes", timeout=10)
        requests.get(f"{server.url}/no/such/path", timeout=10)
    finally:
        server.stop()
    route = "/api/v1alpha1/domain/{domain}/classes"

    def count(status: str, path: str = route) -> float | None:
        labels = {"method": "GET", "route": path, "status": status}
        return registry.get_sample_value("korrel8_http_requests_total", labels)

    assert count("200") == 2 and count("404") == 1
    assert count("404", "unmatched") == 1
    latency = {"method": "GET", "route": route, "status": "200"}
    assert registry.get_sample_value("korrel8_http_request_duration_seconds_count", latency) == 2


def test_every_response_here_was_checked_against_korrel8rs_spec(api: Client) -> None:
    assert api.validated > 0


# --- fuzzing korrel8's own spec -------------------------------------------------------


@pytest.fixture(scope="module")
def own_spec(loaded: Loaded) -> Any:
    """korrel8's own OpenAPI document, served by the app over the loaded graph. The depth
    is bounded at 2, so that a generated depth-8 search does not hold up the run."""
    app = create_app(loaded.store, max_depth=2, mcp=False)
    return schemathesis.openapi.from_asgi("/api/v1alpha1/openapi.json", app)


def test_fuzzed_requests_never_fail_with_a_500_or_a_traceback(own_spec: Any) -> None:
    """A bounded number of generated requests per operation of korrel8's own spec."""
    operations = [result.ok() for result in own_spec.get_all_operations()]
    assert len(operations) >= 10
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck),
                  phases=[Phase.explicit, Phase.generate], database=None)  # fmt: skip
        def check(case: Any) -> None:
            response = case.call()
            assert response.status_code != 500, (case, response.text)
            assert "Traceback" not in response.text
            if response.status_code >= 400:
                assert set(response.json()) == {"error"}, response.text

        check()


def test_korrel8_web_answers_the_api_until_interrupted(
    neo4j_server: Neo4jServer, tmp_path: Path
) -> None:
    port = free_port()
    env = {**os.environ, "NEO4J_URI": neo4j_server.uri, "NEO4J_USER": neo4j_server.user,
           "NEO4J_PASSWORD": neo4j_server.password, "KORREL8_CONFIG": ""}  # fmt: skip
    korrel8 = Path(sys.executable).parent / "korrel8"
    process = subprocess.Popen([korrel8, "web", "--port", str(port)], env=env, cwd=tmp_path,
                               stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}/api/v1alpha1/domains"
        deadline = time.monotonic() + 120
        while True:
            try:
                answer = requests.get(url, timeout=5)
                break
            except requests.ConnectionError:
                assert process.poll() is None, process.stderr.read()
                assert time.monotonic() < deadline, "korrel8 web did not answer"
                time.sleep(0.5)
        assert answer.status_code == 200 and answer.json()
        process.send_signal(signal.SIGINT)
        assert process.wait(60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
