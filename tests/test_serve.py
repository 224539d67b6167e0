"""``korrel8 serve`` against the real servers: two sources on one-second intervals, rules
applied after each ingest, /healthz and /metrics, a source that goes down and comes back,
and a clean stop on SIGTERM and SIGINT."""

from __future__ import annotations

import itertools
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
import requests
import yaml
from mcp import Client
from prometheus_client.parser import text_string_to_metric_families

from ingest.k8s.kinds import builtin_kinds
from ingest.k8s.rows import to_row
from korrel8 import rules
from korrel8.config import (
    KubernetesSettings,
    ServeSettings,
    Settings,
    SourcesSettings,
)
from korrel8.graph.store import Store
from korrel8.service.jobs import source_jobs
from korrel8.service.service import Run, Service
from tests.servers.common import free_port, unavailable
from tests.servers.faulty_http import SLOW_SECONDS, FaultyServer
from tests.servers.faulty_proxy import FaultyProxy
from tests.servers.kube import KubeServer, rest
from tests.servers.neo4j import Neo4jServer
from tests.servers.prom import PromStack, _Processes, wait_until, write_configs

ADMIN_CONTEXT = "korrel8-admin"  # the harness's kubeconfig context
RULES_WAIT = 300.0  # seconds: a first run of every rule plans ~300 statements
POD_ALERT = {
    "alertname": "KubePodCrashLooping",
    "namespace": "shop",
    "pod": "web-1",
    "container": "app",
    "severity": "warning",
}


def settings_for(neo4j: Neo4jServer, **sources: Any) -> Settings:
    """Serve settings: only the given sources, Kubernetes off, an ephemeral port."""
    return neo4j.settings(
        sources=SourcesSettings(kubernetes=KubernetesSettings(enabled=False), **sources),
        serve=ServeSettings(port=0, jitter_seconds=0.2, graph_interval_seconds=1),
    )


@pytest.fixture
def running(store: Store) -> Iterator[Callable[[Settings], Service]]:
    """Start services on the test store; stopped at teardown whatever happened."""
    started: list[Service] = []

    def start(settings: Settings) -> Service:
        dirty = threading.Event()
        jobs, _ = source_jobs(settings, store, on_change=dirty.set)
        service = Service(settings, store, rules.load(), jobs, dirty)
        started.append(service)
        service.start()
        return service

    yield start
    for service in started:
        service.stop()


def write_pod(store: Store, namespace: str, name: str, cluster: str = "c1") -> None:
    spec = next(s for s in builtin_kinds() if s.kind == "Pod")
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}"},
        "spec": {"containers": [{"name": "app", "image": "nginx"}]},
    }
    store.upsert_nodes([to_row(pod, spec, cluster)])


def runs_of(service: Service, job: str) -> list[Run]:
    return [r for r in list(service.runs) if r.job == job]


def assert_no_overlap(runs: list[Run]) -> None:
    for before, after in itertools.pairwise(runs):
        assert after.started >= before.ended, f"{after} started before {before} ended"


def metric(text: str, name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return None


def test_two_sources_on_one_second_intervals(
    neo4j_server: Neo4jServer,
    store: Store,
    prom: PromStack,
    fire: Callable[[dict[str, str]], None],
    running: Callable[[Settings], Service],
) -> None:
    write_pod(store, "shop", "web-1")
    fire(POD_ALERT)
    settings = settings_for(
        neo4j_server,
        alertmanager=prom.alertmanager(interval_seconds=1),
        prometheus=prom.prometheus(interval_seconds=1),
    )
    service = running(settings)
    assert service.http is not None
    url = service.http.url

    def cycles_done() -> bool:
        return all(len(runs_of(service, j)) >= 3 for j in ("alertmanager/c1", "prometheus/c1"))

    wait_until(cycles_done, 60, "three runs of each source")

    # Rules ran after the ingests: the alert is linked to its pod, by the rule's edge.
    def linked() -> list[str]:
        rows = store.run(
            "MATCH (:Alert {alertname: $name})-[r:ABOUT {rule: 'alert-pod'}]->(p:Pod) "
            "RETURN p.name AS pod",
            name="KubePodCrashLooping",
        )
        return [r["pod"] for r in rows]

    # Generous: the first runs of every rule pay for planning its statements.
    wait_until(linked, RULES_WAIT, "the alert-pod rule's edge")
    assert linked() == ["web-1"]
    wait_until(lambda: service.rule_applications >= 2, RULES_WAIT, "a second rule run")
    states = store.run("MATCH (s:RuleState) RETURN count(s) AS n")
    assert states[0]["n"] == len(service.rules)

    for job in ("alertmanager/c1", "prometheus/c1"):
        assert_no_overlap(runs_of(service, job))
        assert all(r.ok for r in runs_of(service, job))

    health = requests.get(f"{url}/healthz", timeout=5)
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "ok"
    assert body["sources"]["alertmanager/c1"]["up"] is True
    assert body["sources"]["prometheus/c1"]["runs"] >= 3

    wait_until(
        lambda: metric(
            requests.get(f"{url}/metrics", timeout=5).text,
            "korrel8_graph_nodes",
            **{"class": "alert"},
        ),
        30,
        "the graph gauges",
    )
    text = requests.get(f"{url}/metrics", timeout=5).text
    assert metric(text, "korrel8_source_up", source="alertmanager", cluster="c1") == 1
    assert (metric(text, "korrel8_source_runs_total", source="prometheus", cluster="c1") or 0) >= 3
    assert (metric(text, "korrel8_source_last_success_timestamp_seconds", source="alertmanager",
                   cluster="c1") or 0) > time.time() - 60  # fmt: skip
    assert metric(text, "korrel8_source_objects", source="alertmanager", cluster="c1") == 1
    assert metric(text, "korrel8_rule_edges", rule="alert-pod") is not None
    assert metric(text, "korrel8_graph_nodes", **{"class": "Pod"}) == 1
    assert requests.get(f"{url}/livez", timeout=5).status_code == 200
    assert requests.get(f"{url}/other", timeout=5).status_code == 404


def test_kubernetes_is_listed_then_watched_and_rules_follow(
    neo4j_server: Neo4jServer,
    store: Store,
    kube: KubeServer,
    kube_namespace: str,
    running: Callable[[Settings], Service],
) -> None:
    """Kubernetes and the log streams derived from its pods, on one-second intervals: a pod
    created after the first listing reaches the graph through the watch, gets its log
    stream from the next logs run, and the rules link the two."""
    k8s = KubernetesSettings(
        kubeconfig=kube.admin_kubeconfig, custom_resources="none", interval_seconds=1,
        cluster_names={ADMIN_CONTEXT: "c1"},
    )  # fmt: skip
    settings = settings_for(neo4j_server).model_copy(
        update={"sources": SourcesSettings(kubernetes=k8s, loki={"interval_seconds": 1})}
    )
    service = running(settings)
    job = f"kubernetes/{ADMIN_CONTEXT}"
    # Signal sources without a cluster of their own take the one Kubernetes cluster's name.
    assert {j.id for j in service.jobs} == {job, "loki/c1", "tempo/c1"}
    wait_until(lambda: runs_of(service, job), 120, "the first listing")

    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "late", "namespace": kube_namespace},
        "spec": {"containers": [{"name": "app", "image": "nginx"}]},
    }
    with kube.admin_client() as api:
        rest(api, "POST", f"/api/v1/namespaces/{kube_namespace}/pods", pod)

    def streams() -> list[str]:
        rows = store.run(
            "MATCH (:Pod {namespace: $ns, name: 'late'})-[:HAS_LOGS {rule: 'pod-logs'}]->(l) "
            "RETURN l.name AS name",
            ns=kube_namespace,
        )
        return [r["name"] for r in rows]

    wait_until(streams, RULES_WAIT, "the late pod's log stream, linked by pod-logs")
    assert streams() == ["late/app"]
    runs = runs_of(service, job)
    assert len(runs) >= 2 and all(r.ok for r in runs)
    assert_no_overlap(runs)


def test_a_slow_source_never_overlaps_itself(
    neo4j_server: Neo4jServer,
    faulty_http: FaultyServer,
    running: Callable[[Settings], Service],
) -> None:
    """Each run takes longer than the interval: the runs queue up one after another and
    the ones that would overlap are skipped and counted, never run side by side."""
    settings = settings_for(
        neo4j_server,
        alertmanager={
            "url": faulty_http.url("slow"),
            "cluster": "c1",
            "interval_seconds": 1,
            "timeout": SLOW_SECONDS + 5,
            "retries": 0,
        },
    )
    service = running(settings)
    wait_until(lambda: len(runs_of(service, "alertmanager/c1")) >= 2, 60, "two slow runs")
    runs = runs_of(service, "alertmanager/c1")
    assert_no_overlap(runs)
    assert all(r.ended - r.started >= SLOW_SECONDS * 0.9 for r in runs)
    assert service.http is not None
    text = requests.get(f"{service.http.url}/metrics", timeout=5).text
    assert (metric(text, "korrel8_job_skipped_total", job="alertmanager/c1") or 0) >= 1


def test_a_source_that_goes_down_and_comes_back(
    neo4j_server: Neo4jServer,
    store: Store,
    tmp_path: Path,
    running: Callable[[Settings], Service],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A real Alertmanager of its own, stopped and started again on the same port: the
    service reports it down once, keeps the alerts it had, and picks it up again."""
    address = f"127.0.0.1:{free_port()}"
    url = f"http://{address}"
    files = write_configs(tmp_path, address, f"127.0.0.1:{free_port()}")
    args = [
        f"--config.file={files['alertmanager']}",
        f"--storage.path={tmp_path / 'data'}",
        f"--web.listen-address={address}",
        "--cluster.listen-address=",
    ]
    processes = _Processes(tmp_path)
    processes.start("alertmanager", args, url)
    try:
        stack = PromStack("", url, "", "local")
        now = time.time()
        stack.post_alert(POD_ALERT, now - 60, now + 3600)
        wait_until(lambda: stack.firing("KubePodCrashLooping"), 30, "the alert in Alertmanager")
        settings = settings_for(
            neo4j_server,
            alertmanager={
                "url": url,
                "cluster": "c1",
                "interval_seconds": 1,
                "retries": 0,
                "timeout": 2,
            },
        )
        caplog.set_level(logging.INFO, logger="korrel8.serve")
        service = running(settings)
        assert service.http is not None
        health = f"{service.http.url}/healthz"

        def source_up() -> bool | None:
            up: bool | None = requests.get(health, timeout=5).json()["sources"].get(
                "alertmanager/c1", {}).get("up")  # fmt: skip
            return up

        wait_until(lambda: source_up() is True, 30, "the first run")
        processes.stop()
        wait_until(lambda: source_up() is False, 30, "the source reported down")
        down_runs = len(runs_of(service, "alertmanager/c1"))
        wait_until(lambda: len(runs_of(service, "alertmanager/c1")) >= down_runs + 2, 30,
                   "two more runs while down")  # fmt: skip
        # The service stays healthy (restarting it would not help) and keeps the alert.
        assert requests.get(health, timeout=5).status_code == 200
        kept = store.run("MATCH (a:Alert) WHERE a.deleted_at IS NULL RETURN count(a) AS n")
        assert kept[0]["n"] == 1

        processes.start("alertmanager", args, url)
        wait_until(lambda: source_up() is True, 30, "the source back")
    finally:
        processes.stop()
    messages = [r.getMessage() for r in caplog.records if r.name == "korrel8.serve"]
    assert len([m for m in messages if "alertmanager/c1 is down" in m]) == 1, messages
    assert len([m for m in messages if "alertmanager/c1 is back" in m]) == 1, messages


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_the_command_stops_cleanly_on_a_signal(
    neo4j_server: Neo4jServer,
    store: Store,
    prom: PromStack,
    tmp_path: Path,
    sig: signal.Signals,
) -> None:
    env = {
        **os.environ,
        "NEO4J_URI": neo4j_server.uri,
        "NEO4J_USER": neo4j_server.user,
        "NEO4J_PASSWORD": neo4j_server.password,
        "KORREL8_SOURCES__KUBERNETES__ENABLED": "false",
        "KORREL8_SOURCES__ALERTMANAGER__URL": prom.alertmanager_url,
        "KORREL8_SOURCES__ALERTMANAGER__INTERVAL_SECONDS": "1",
        "KORREL8_SOURCES__PROMETHEUS__URL": prom.prometheus_url,
        "KORREL8_SOURCES__PROMETHEUS__INTERVAL_SECONDS": "1",
    }
    env.pop("KORREL8_CONFIG", None)
    command = [sys.executable, "-m", "korrel8.cli", "serve", "--port", "0"]
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(command, env=env, cwd=tmp_path, stderr=log_file)
    try:
        found = wait_until(
            lambda: re.search(r"on (http://\S+)", log_path.read_text()), 60, "the serve URL"
        )
        url = found.group(1)
        wait_until(
            lambda: requests.get(f"{url}/healthz", timeout=5).json()["sources"]
            .get("prometheus/default", {}).get("runs", 0) >= 2,
            120,
            f"two runs; the log:\n{log_path.read_text()}",
        )  # fmt: skip
        process.send_signal(sig)
        assert process.wait(timeout=60) == 0, log_path.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    log_text = log_path.read_text()
    assert f"{sig.name} received" in log_text
    assert "stopped cleanly" in log_text
    assert "Traceback" not in log_text


def test_nothing_configured_is_a_clear_error(neo4j_server: Neo4jServer, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "NEO4J_URI": neo4j_server.uri,
        "NEO4J_USER": neo4j_server.user,
        "NEO4J_PASSWORD": neo4j_server.password,
        "KORREL8_SOURCES__KUBERNETES__ENABLED": "false",
    }
    env.pop("KORREL8_CONFIG", None)
    command = [sys.executable, "-m", "korrel8.cli", "serve", "--port", "0"]
    done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, timeout=120)
    assert done.returncode == 1
    assert b"nothing to ingest" in done.stderr
    assert b"sources.alertmanager.url" in done.stderr


# --------------------------------------------------------------------------- Kubernetes health


@pytest.fixture
def kube_proxy(kube: KubeServer) -> Iterator[FaultyProxy]:
    host, _, port = kube.api_url.removeprefix("https://").rpartition(":")
    with FaultyProxy(host, int(port)) as proxy:
        yield proxy


def kubernetes_only(
    neo4j: Neo4jServer, store: Store, kubeconfig: Path, context: str, **k8s: Any
) -> Service:
    """A service with just the Kubernetes job of ``context`` (one-second runs), no rules:
    what is tested is the source's health."""
    settings = settings_for(neo4j).model_copy(
        update={"sources": SourcesSettings(kubernetes=KubernetesSettings(
            kubeconfig=kubeconfig, contexts=[context], custom_resources="none",
            interval_seconds=1, cluster_names={context: "c1"}, **k8s))}
    )  # fmt: skip
    jobs, _ = source_jobs(settings, store)
    return Service(settings, store, [], [j for j in jobs if j.source == "kubernetes"])


def test_a_broken_watch_marks_kubernetes_down_until_it_recovers(
    neo4j_server: Neo4jServer,
    store: Store,
    kube: KubeServer,
    kube_proxy: FaultyProxy,
    tmp_path: Path,
) -> None:
    """The API server gone (every connection through the fault-injecting proxy reset and
    refused) for longer than the watch retry window: the source is reported down, with
    which watches and why, and its last success stops; back up once the watches are."""
    kubeconfig = tmp_path / "kubeconfig"
    config = yaml.safe_load(kube.admin_kubeconfig.read_text())
    for entry in config["clusters"]:
        entry["cluster"]["server"] = kube_proxy.url
    kubeconfig.write_text(yaml.safe_dump(config))
    service = kubernetes_only(neo4j_server, store, kubeconfig, ADMIN_CONTEXT, watch_retry_seconds=3)
    service.start()
    try:
        assert service.http is not None
        url = service.http.url
        labels = {"source": "kubernetes", "cluster": ADMIN_CONTEXT}
        job = f"kubernetes/{ADMIN_CONTEXT}"

        def scrape(name: str) -> float | None:
            return metric(requests.get(f"{url}/metrics", timeout=5).text, name, **labels)

        def source() -> dict[str, Any]:
            state: dict[str, Any] = requests.get(f"{url}/healthz", timeout=5).json()[
                "sources"].get(job, {})  # fmt: skip
            return state

        wait_until(lambda: len(runs_of(service, job)) >= 2, 120, "the listing, then a watched run")
        assert scrape("korrel8_source_up") == 1
        kube_proxy.cut()
        wait_until(lambda: scrape("korrel8_source_up") == 0, 60, "the source reported down")
        state = source()
        assert state["up"] is False
        assert "watch of" in state["last_error"] and "watch_retry_seconds" in state["last_error"]
        stopped_at = scrape("korrel8_source_last_success_timestamp_seconds")
        down_runs = len(runs_of(service, job))
        wait_until(lambda: len(runs_of(service, job)) >= down_runs + 3, 30, "runs while down")
        assert scrape("korrel8_source_up") == 0
        assert scrape("korrel8_source_last_success_timestamp_seconds") == stopped_at
        assert not any(r.ok for r in runs_of(service, job)[down_runs:])

        kube_proxy.heal()
        wait_until(lambda: scrape("korrel8_source_up") == 1, 90, "the source back up")
        since = stopped_at or 0.0
        wait_until(
            lambda: (scrape("korrel8_source_last_success_timestamp_seconds") or 0) > since,
            30,
            "a new last success",
        )
        assert source()["last_error"] is None
    finally:
        service.stop()


def test_least_privilege_without_secrets_stays_up(
    neo4j_server: Neo4jServer,
    store: Store,
    kube: KubeServer,
    kube_namespace: str,
) -> None:
    """A credential that may list everything but Secrets (the harness's ServiceAccount,
    bound by RBAC to a ClusterRole without them, authenticated by a TokenRequest token):
    the source is up, Secrets are reported skipped as forbidden, the rest is ingested."""
    if kube.readonly_kubeconfig is None:
        unavailable("the read-only Kubernetes credential", "KUBECONFIG's user cannot set up RBAC")
    with kube.admin_client() as api:
        for plural, kind, name in (("configmaps", "ConfigMap", "settings"),
                                   ("secrets", "Secret", "hidden")):  # fmt: skip
            body = {"apiVersion": "v1", "kind": kind, "metadata": {"name": name}}
            rest(api, "POST", f"/api/v1/namespaces/{kube_namespace}/{plural}", body)
    context = "korrel8-readonly"
    service = kubernetes_only(neo4j_server, store, kube.readonly_kubeconfig, context)
    service.start()
    try:
        assert service.http is not None
        url = service.http.url
        job = f"kubernetes/{context}"
        wait_until(lambda: len(runs_of(service, job)) >= 3, 120, "the listing and two watched runs")
        assert all(r.ok for r in runs_of(service, job))
        text = requests.get(f"{url}/metrics", timeout=5).text
        assert metric(text, "korrel8_source_up", source="kubernetes", cluster=context) == 1
        assert metric(text, "korrel8_kind_skipped", cluster=context, kind="Secret",
                      reason="forbidden") == 1  # fmt: skip
        skipped = [
            s.labels["kind"]
            for f in text_string_to_metric_families(text)
            for s in f.samples
            if s.name == "korrel8_kind_skipped" and s.value == 1
        ]
        assert skipped == ["Secret"]
        state = requests.get(f"{url}/healthz", timeout=5).json()["sources"][job]
        assert state["up"] is True and state["skipped_kinds"] == {"Secret": "forbidden"}
        rows = store.run(
            "MATCH (n:Object) WHERE n.namespace = $ns AND n.class IN ['ConfigMap', 'Secret'] "
            "RETURN n.class AS class, n.name AS name", ns=kube_namespace,
        )  # fmt: skip
        assert [(r["class"], r["name"]) for r in rows] == [("ConfigMap", "settings")]
    finally:
        service.stop()


def test_the_serve_port_answers_the_api_and_mcp_beside_health_and_metrics(
    neo4j_server: Neo4jServer, store: Store, running: Callable[[Settings], Service]
) -> None:
    """One port: korrel8r's REST API and MCP over the graph the service keeps, with their
    requests counted in /metrics by route template and status."""
    write_pod(store, "shop", "web-1")
    service = running(settings_for(neo4j_server))
    assert service.http is not None
    url = service.http.url
    query = 'k8s:Pod:{"namespace":"shop","name":"web-1"}'
    found = requests.get(f"{url}/api/v1alpha1/objects", params={"query": query}, timeout=30)
    assert [o["name"] for o in found.json()] == ["web-1"]
    missing = requests.get(f"{url}/api/v1alpha1/domain/nope/classes", timeout=30)
    assert missing.status_code == 404 and "unknown domain" in missing.json()["error"]

    async def tools() -> set[str]:
        async with Client(f"{url}/mcp") as client:
            return {t.name for t in (await client.list_tools()).tools}

    assert "create_goals_graph" in anyio.run(tools)
    assert requests.get(f"{url}/healthz", timeout=5).status_code == 200
    text = requests.get(f"{url}/metrics", timeout=5).text
    route = "/api/v1alpha1/objects"
    assert metric(text, "korrel8_http_requests_total", route=route, status="200") == 1
    classes = "/api/v1alpha1/domain/{domain}/classes"
    assert metric(text, "korrel8_http_requests_total", route=classes, status="404") == 1
    assert (metric(text, "korrel8_http_requests_total", route="/mcp") or 0) >= 1
