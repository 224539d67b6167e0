"""Who may see what, asked of a real kube-apiserver: TokenReview and SubjectAccessReview.

Two ServiceAccounts, each with a Role on its own namespace, ask the same goal search (the
Deployment ``web`` of both namespaces, to its pods' logs) and each gets its own namespace's
logs only; a user with cluster-wide list gets both; no token and a token the apiserver
rejects are Unauthenticated; a revoked RoleBinding takes effect after the cache time.
korrel8 asks with its own credential (the admin's here; system:auth-delegator in deploy/).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
import yaml
from prometheus_client import CollectorRegistry

from ingest.k8s.api import connect
from korrel8.api.app import create_app
from korrel8.api.auth import Authenticator, auth_mode, is_loopback
from korrel8.api.server import Server
from korrel8.config import ApiSettings, KubernetesSettings, Settings
from korrel8.correlate import Korrel8
from korrel8.errors import ConfigError, KubernetesError, StartNotFoundError, Unauthenticated
from korrel8.graph.rows import EdgeRow, NodeRow
from korrel8.graph.store import Store
from korrel8.model import Class, ref
from korrel8.visibility import Visibility
from tests.api_client import Client
from tests.servers.kube import (
    KubeServer,
    create_namespace,
    purge_namespace,
    rest,
    unique_name,
)

CLUSTER = "c1"
START = "k8s:Deployment.apps:{name: web}"
RBAC = "/apis/rbac.authorization.k8s.io/v1"


# --- the mode: none only on loopback ----------------------------------------------------


def test_auth_defaults_to_none_on_loopback_and_to_kubernetes_beyond() -> None:
    unset = ApiSettings()
    assert auth_mode(unset, "127.0.0.1") == "none"
    assert auth_mode(unset, "::1") == "none"
    assert auth_mode(unset, "0.0.0.0") == "kubernetes"
    assert auth_mode(ApiSettings(auth="kubernetes"), "127.0.0.1") == "kubernetes"
    assert is_loopback("localhost") and not is_loopback("10.0.0.1")


def test_auth_none_beyond_loopback_needs_the_explicit_setting(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with pytest.raises(ConfigError, match="allow_insecure_no_auth"):
        auth_mode(ApiSettings(auth="none"), "0.0.0.0")
    with caplog.at_level(logging.WARNING):
        assert auth_mode(ApiSettings(auth="none", allow_insecure_no_auth=True), "0.0.0.0") == "none"
    assert "every caller sees the whole graph" in caplog.text


def test_auth_none_makes_every_caller_an_operator(store: Store) -> None:
    auth = Authenticator(ApiSettings(auth="none"), store, mode="none")
    assert auth.caller(None) is None and auth.caller("anything") is None


# --- the cluster ------------------------------------------------------------------------


@dataclass
class Clock:
    """The Authenticator's clock, moved by the test: the cache time passes at once."""

    now: float = field(default_factory=time.monotonic)

    def __call__(self) -> float:
        return self.now


@dataclass
class Team:
    namespace: str
    token: str
    binding: str
    logs: set[str]


def token_for(kube: KubeServer, namespace: str, sa: str) -> str:
    with kube.admin_client() as api:
        rest(
            api,
            "POST",
            f"/api/v1/namespaces/{namespace}/serviceaccounts",
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": sa}},
        )
        answer = rest(
            api,
            "POST",
            f"/api/v1/namespaces/{namespace}/serviceaccounts/{sa}/token",
            {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}},
        )
    return str(answer["status"]["token"])


def grant(kube: KubeServer, namespace: str, sa: str) -> str:
    """A Role that lists Pods and Deployments in ``namespace``, bound to ``sa``."""
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "viewer"},
        "rules": [
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
            {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list"]},
        ],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": f"viewer-{sa}"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "viewer"},
        "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": namespace}],
    }
    with kube.admin_client() as api:
        rest(api, "POST", f"{RBAC}/namespaces/{namespace}/roles", role)
        rest(api, "POST", f"{RBAC}/namespaces/{namespace}/rolebindings", binding)
    return f"{RBAC}/namespaces/{namespace}/rolebindings/viewer-{sa}"


def write_graph(store: Store, namespaces: list[str]) -> dict[str, set[str]]:
    """In each namespace: Deployment web -> Pod web-0 -> its log stream. The logs' refs
    per namespace."""
    now = datetime.now(UTC) - timedelta(minutes=5)
    nodes: list[NodeRow] = []
    edges: list[EdgeRow] = []
    logs: dict[str, set[str]] = {}
    for ns in namespaces:
        deploy = node("k8s", "Deployment.apps", ns, "web")
        pod = node("k8s", "Pod", ns, "web-0")
        stream = node("log", "application", ns, "web-0")
        nodes += [deploy, pod, stream]
        edges += [
            EdgeRow(start=deploy.ref, goal=pod.ref, type="OWNS", rule="deploy-pods"),
            EdgeRow(start=pod.ref, goal=stream.ref, type="HAS_LOGS", rule="pod-logs"),
        ]
        logs[ns] = {stream.ref}
    store.upsert_nodes(nodes, now=now)
    store.upsert_edges(edges, now=now)
    return logs


def node(domain: str, cls: str, namespace: str, name: str) -> NodeRow:
    selector = {"namespace": namespace, "name": name}
    return NodeRow.model_validate(
        {
            "ref": ref(Class(domain=domain, name=cls), selector, CLUSTER),
            "domain": domain,
            "class": cls,
            "source": "test",
            "cluster": CLUSTER,
            "namespace": namespace,
            "name": name,
        }
    )


@pytest.fixture
def teams(kube: KubeServer, store: Store) -> Iterator[dict[str, Team]]:
    names = {t: unique_name(f"auth-{t}") for t in ("a", "b")}
    with kube.admin_client() as api:
        for ns in names.values():
            create_namespace(api, ns)
    try:
        logs = write_graph(store, list(names.values()))
        yield {
            t: Team(ns, token_for(kube, ns, f"sa-{t}"), grant(kube, ns, f"sa-{t}"), logs[ns])
            for t, ns in names.items()
        }
    finally:
        with kube.admin_client() as api:
            for ns in names.values():
                purge_namespace(api, ns, controllers=kube.controllers)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def auth(kube: KubeServer, store: Store, clock: Clock) -> Iterator[Authenticator]:
    # korrel8's own credential: the admin's (it may create TokenReviews and SARs).
    conn = connect(KubernetesSettings(kubeconfig=kube.admin_kubeconfig), "korrel8-admin")
    authenticator = Authenticator(
        ApiSettings(auth="kubernetes", auth_cache_seconds=30), store, conn, clock=clock
    )
    yield authenticator
    authenticator.close()


def logs_seen(store: Store, visibility: Visibility | None) -> set[str]:
    result = Korrel8(store).goals(START, "log", visibility=visibility)
    return {g.ref for g in result.goals}


def readonly_token(kube: KubeServer) -> str:
    assert kube.readonly_kubeconfig is not None
    doc: dict[str, Any] = yaml.safe_load(kube.readonly_kubeconfig.read_text())
    return str(doc["users"][0]["user"]["token"])


# --- who sees what ----------------------------------------------------------------------


def test_each_service_account_sees_only_its_namespace(
    store: Store, auth: Authenticator, teams: dict[str, Team]
) -> None:
    for team in teams.values():
        visibility = auth.caller(team.token)
        assert visibility is not None
        assert logs_seen(store, visibility) == team.logs
    # The operator (the CLI, the Python API) sees both.
    assert logs_seen(store, None) == teams["a"].logs | teams["b"].logs


def test_cluster_wide_list_sees_everything(
    kube: KubeServer, store: Store, auth: Authenticator, teams: dict[str, Team]
) -> None:
    visibility = auth.caller(readonly_token(kube))
    assert visibility is not None and visibility.signals.cluster_wide
    assert logs_seen(store, visibility) == teams["a"].logs | teams["b"].logs


def test_no_token_is_unauthenticated(auth: Authenticator) -> None:
    for missing in (None, "", "  "):
        with pytest.raises(Unauthenticated, match="bearer token is required"):
            auth.caller(missing)


def test_a_token_the_apiserver_rejects_is_unauthenticated(
    kube: KubeServer, auth: Authenticator, teams: dict[str, Team]
) -> None:
    forged = teams["a"].token[:-8] + "AAAAAAAA"  # a JWT whose signature does not verify
    for token in ("not-a-token", forged):
        with pytest.raises(Unauthenticated, match="not accepted") as caught:
            auth.caller(token)
        assert token not in str(caught.value)
    # A ServiceAccount deleted since its token was issued.
    with kube.admin_client() as api:
        rest(api, "DELETE", f"/api/v1/namespaces/{teams['b'].namespace}/serviceaccounts/sa-b")
    with pytest.raises(Unauthenticated):
        auth.caller(teams["b"].token)


def test_a_revoked_role_binding_takes_effect_after_the_cache_time(
    kube: KubeServer, store: Store, auth: Authenticator, clock: Clock, teams: dict[str, Team]
) -> None:
    team = teams["a"]
    assert logs_seen(store, auth.caller(team.token)) == team.logs
    with kube.admin_client() as api:
        rest(api, "DELETE", team.binding)
    clock.now += 29  # within the cache time: the answer kept
    assert logs_seen(store, auth.caller(team.token)) == team.logs
    # After it: asked again. The apiserver's RBAC cache follows its watch within moments.
    deadline = time.monotonic() + 10
    while True:
        clock.now += 31
        visibility = auth.caller(team.token)
        if not (visibility and visibility.sees("k8s", "Pod", team.namespace)):
            break
        assert time.monotonic() < deadline, "the RoleBinding is still in effect"
        time.sleep(0.2)
    with pytest.raises(StartNotFoundError):
        logs_seen(store, visibility)


def test_the_token_is_never_logged(
    auth: Authenticator, teams: dict[str, Team], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        auth.caller(teams["a"].token)
        with pytest.raises(Unauthenticated):
            auth.caller("not-a-token-" + teams["b"].token)
    assert teams["a"].token not in caplog.text and teams["b"].token not in caplog.text


def test_korrel8_without_review_rights_says_which_role_to_bind(
    kube: KubeServer, store: Store, teams: dict[str, Team]
) -> None:
    assert kube.readonly_kubeconfig is not None
    conn = connect(KubernetesSettings(kubeconfig=kube.readonly_kubeconfig), "korrel8-readonly")
    auth = Authenticator(ApiSettings(auth="kubernetes"), store, conn)
    try:
        with pytest.raises(KubernetesError, match="system:auth-delegator"):
            auth.caller(teams["a"].token)
    finally:
        auth.close()


# --- the REST API and MCP ---------------------------------------------------------------


@pytest.fixture
def rest_api(store: Store, auth: Authenticator) -> Iterator[Client]:
    """korrel8r's REST API (and MCP) with Kubernetes auth, on a free loopback port."""
    app = create_app(store, registry=CollectorRegistry(), authenticator=auth)
    server = Server(app, "127.0.0.1", 0)
    server.start()
    try:
        yield Client(server.url)
    finally:
        server.stop()


def listed_logs(api: Client, token: str) -> set[str]:
    body = {"goals": ["log:application"], "start": {"queries": [START]}}
    response = api.post("/lists/goals", body, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    return {q["query"] for n in response.json() for q in n["queries"]}


def test_over_rest_each_service_account_sees_only_its_namespace(
    kube: KubeServer, rest_api: Client, teams: dict[str, Team]
) -> None:
    for team in teams.values():
        assert listed_logs(rest_api, team.token) == team.logs
    everything = teams["a"].logs | teams["b"].logs
    assert listed_logs(rest_api, readonly_token(kube)) == everything


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic dXNlcjpwYXNz"}],
    ids=["no-token", "rejected-token", "not-bearer"],
)
def test_over_rest_a_missing_or_rejected_token_is_401(
    rest_api: Client, teams: dict[str, Team], headers: dict[str, str]
) -> None:
    body = {"goals": ["log:application"], "start": {"queries": [START]}}
    for response in (
        rest_api.get("/domains", headers=headers),
        rest_api.post("/graphs/goals", body, headers=headers),
        rest_api.post("/lists/goals", body, headers=headers),
        rest_api.get("/objects", params={"query": START}, headers=headers),
    ):
        assert response.status_code == 401, response.text
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert set(response.json()) == {"error"}
    mcp = requests.post(
        f"{rest_api.base}/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={**headers, "Accept": "application/json, text/event-stream"},
        timeout=30,
    )
    assert mcp.status_code == 401


def test_over_rest_a_hidden_object_answers_as_one_that_does_not_exist(
    rest_api: Client, teams: dict[str, Team]
) -> None:
    def objects(namespace: str) -> tuple[int, str]:
        query = f"k8s:Pod:{{namespace: {namespace}, name: web-0}}"
        response = rest_api.get(
            "/objects",
            params={"query": query},
            headers={"Authorization": f"Bearer {teams['a'].token}"},
        )
        return response.status_code, response.text.replace(namespace, "NS")

    assert objects(teams["a"].namespace)[0] == 200
    assert objects(teams["b"].namespace) == objects("no-such-namespace")


def test_kubernetes_auth_with_no_cluster_to_ask_is_a_clear_error(
    store: Store, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.kube/config; not in a pod either
    settings = Settings(api=ApiSettings(auth="kubernetes"))
    with pytest.raises(ConfigError, match="no cluster can be asked"):
        Authenticator.from_settings(settings, store, "0.0.0.0")
