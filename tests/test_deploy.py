"""The Dockerfile, docker-compose.yml and the Kubernetes manifests of deploy/, checked
without a container engine: structure, the settings they set, and RBAC against the kinds
korrel8 ingests."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from kubernetes import client as k8s
from pydantic import BaseModel, SecretStr

from ingest.k8s.kinds import builtin_kinds
from korrel8.config import CONFIG_ENV, ServeSettings, Settings
from korrel8.service.httpd import StatusServer
from korrel8.service.telemetry import Telemetry

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
READ = {"get", "list", "watch"}
CRDS = ("apiextensions.k8s.io", "customresourcedefinitions")
DISCOVERY = {"/api", "/api/*", "/apis", "/apis/*"}
CONFIG_PATH = "/etc/korrel8/korrel8.yaml"
Obj = dict[str, Any]


# --------------------------------------------------------------------------- helpers


def manifests() -> Iterator[tuple[str, Obj]]:
    """(file name, object) of every Kubernetes object in deploy/."""
    for path in sorted(DEPLOY.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None and doc.get("kind") != "Kustomization":
                yield path.name, doc


def one(kind: str, name: str | None = None) -> Obj:
    [found] = [
        doc
        for _, doc in manifests()
        if doc["kind"] == kind and name in (None, doc["metadata"]["name"])
    ]
    return found


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No korrel8 setting from this process' environment or working directory."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("KORREL8_", "NEO4J_")):
            monkeypatch.delenv(name)
    return monkeypatch


def setting(settings: Settings, env_name: str) -> Any:
    """The value of the setting an environment variable sets; fails if it sets none
    (Settings ignores unknown variables, so a typo would pass silently)."""
    if env_name.startswith("NEO4J_"):
        path = [env_name.lower()]
    else:
        assert env_name.startswith("KORREL8_"), env_name
        path = env_name.removeprefix("KORREL8_").lower().split("__")
    value: Any = settings
    for part in path:
        assert isinstance(value, BaseModel) and part in type(value).model_fields, (
            f"{env_name} is not a korrel8 setting (no {part!r} in {type(value).__name__})"
        )
        value = getattr(value, part)
    return value.get_secret_value() if isinstance(value, SecretStr) else value


def unknown_keys(data: Mapping[str, Any], model: type[BaseModel], at: str = "") -> list[str]:
    """Keys of ``data`` that are no field of ``model`` (recursively, through sub-models)."""
    found = []
    for key, value in data.items():
        field = model.model_fields.get(key)
        if field is None:
            found.append(f"{at}{key}")
        elif (
            isinstance(value, Mapping)
            and isinstance(field.annotation, type)
            and issubclass(field.annotation, BaseModel)
        ):
            found += unknown_keys(value, field.annotation, f"{at}{key}.")
    return found


_VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?error}``."""

    def replace(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        if env.get(name):
            return env[name]
        if op in (":?", "?"):
            raise ValueError(f"{name}: {arg}")
        return arg if op in (":-", "-") else ""

    return _VARIABLE.sub(replace, value)


def compose() -> Obj:
    data: Obj = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    lines: list[str] = []
    pending = ""
    for raw in (ROOT / "Dockerfile").read_text().splitlines():
        if not pending and (not raw.strip() or raw.lstrip().startswith("#")):
            continue
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        lines.append(pending + raw)
        pending = ""
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip()) for line in lines]


def dockerignored(path: str) -> bool:
    patterns = [
        p.strip().rstrip("/")
        for p in (ROOT / ".dockerignore").read_text().splitlines()
        if p.strip() and not p.startswith("#")
    ]
    parts = Path(path).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(fnmatch.fnmatch(p, pattern) for p in prefixes for pattern in patterns)


# --------------------------------------------------------------------------- manifests


def test_every_manifest_is_a_kubernetes_object_without_unknown_fields() -> None:
    api = k8s.ApiClient()
    kinds = set()
    for name, doc in manifests():
        model = doc["apiVersion"].rpartition("/")[2].capitalize() + doc["kind"]
        # The client's models refuse a missing required field, and drop an unknown one:
        # a misspelled field shows as a difference after the round trip.
        parsed = api.deserialize(json.dumps(doc), model, "application/json")
        assert api.sanitize_for_serialization(parsed) == doc, f"{name}: unknown fields"
        assert doc["metadata"]["labels"]["app.kubernetes.io/name"] == "korrel8"
        if doc["kind"] not in ("Namespace", "ClusterRole", "ClusterRoleBinding"):
            assert doc["metadata"]["namespace"] == one("Namespace")["metadata"]["name"], name
        kinds.add(doc["kind"])
    assert kinds == {
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "ConfigMap",
        "Secret",
        "Deployment",
        "Service",
    }
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    applied = {path.name for path in DEPLOY.glob("*.yaml")} - {"kustomization.yaml"}
    # Everything but the Secret template, whose password is not in the repository.
    assert set(kustomization["resources"]) == applied - {"secret.template.yaml"}


def test_rbac_reads_exactly_the_ingested_kinds_and_nothing_more() -> None:
    role = one("ClusterRole")
    binding = one("ClusterRoleBinding", role["metadata"]["name"])
    granted: dict[tuple[str, str], set[str]] = {}
    for rule in role["rules"]:
        verbs = set(rule["verbs"])
        assert verbs <= READ, f"a verb beyond get, list, watch: {rule}"
        if "nonResourceURLs" in rule:
            assert set(rule["nonResourceURLs"]) <= DISCOVERY and verbs == {"get"}
            continue
        assert "resourceNames" not in rule
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                assert "*" not in (group, resource), rule
                granted.setdefault((group, resource), set()).update(verbs)
    ingested = {(spec.group, spec.plural) for spec in builtin_kinds()}
    assert set(granted) == ingested | {CRDS}
    assert all(verbs == READ for verbs in granted.values())

    account = one("ServiceAccount")["metadata"]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["name"], "namespace": account["namespace"]}
    ]


def test_the_deployment_runs_korrel8_serve_with_the_configmap_and_the_secret() -> None:
    spec = one("Deployment")["spec"]["template"]["spec"]
    [container] = spec["containers"]
    assert spec["serviceAccountName"] == one("ServiceAccount")["metadata"]["name"]
    assert container["args"] == ["serve"]
    env = {e["name"]: e for e in container["env"]}
    assert env[CONFIG_ENV]["value"] == CONFIG_PATH
    volumes = {v["name"]: v for v in spec["volumes"]}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    config = mounts[str(Path(CONFIG_PATH).parent)]
    assert config["readOnly"] is True
    configmap = one("ConfigMap")
    assert volumes[config["name"]]["configMap"]["name"] == configmap["metadata"]["name"]
    assert Path(CONFIG_PATH).name in configmap["data"]

    secret = one("Secret")
    ref = env["NEO4J_PASSWORD"]["valueFrom"]["secretKeyRef"]
    assert ref["name"] == secret["metadata"]["name"]
    assert secret["stringData"] == {ref["key"]: ""}  # a template: no password in the repo

    # Not root, and the uid the image creates.
    security = spec["securityContext"]
    assert security["runAsNonRoot"] is True
    [user] = [args for instruction, args in dockerfile() if instruction == "USER"]
    assert str(security["runAsUser"]) == user.split(":")[0]
    assert container["securityContext"]["allowPrivilegeEscalation"] is False


def test_the_configmap_korrel8_yaml_loads_as_korrel8_settings(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    text = one("ConfigMap")["data"][Path(CONFIG_PATH).name]
    data = yaml.safe_load(text)
    assert unknown_keys(data, Settings) == []  # Settings ignores them: a typo would not show
    path = tmp_path / "korrel8.yaml"
    path.write_text(text)
    clean_env.setenv(CONFIG_ENV, str(path))
    clean_env.setenv("NEO4J_PASSWORD", "from-the-secret")

    settings = Settings()

    assert settings.neo4j_uri == data["neo4j_uri"]
    assert settings.neo4j_password is not None
    assert settings.neo4j_password.get_secret_value() == "from-the-secret"
    sources = settings.sources
    assert sources.kubernetes.kubeconfig is None  # in-cluster
    assert sources.alertmanager.url == data["sources"]["alertmanager"]["url"]
    assert sources.prometheus.url == data["sources"]["prometheus"]["url"]
    # One cluster name for objects, alerts and metrics, so that rules join them.
    names = set(sources.kubernetes.cluster_names.values())
    assert names == {sources.alertmanager.cluster} == {sources.prometheus.cluster}


# --------------------------------------------------------------------------- compose


def test_compose_runs_korrel8_serve_after_a_healthy_neo4j() -> None:
    services = compose()["services"]
    neo4j, korrel8 = services["neo4j"], services["korrel8"]
    assert neo4j["image"].startswith("neo4j:5.26") and neo4j["healthcheck"]["test"]
    build = korrel8["build"]
    context = build if isinstance(build, str) else build["context"]
    assert (ROOT / context / "Dockerfile").is_file()
    assert korrel8["command"] == ["serve"]
    assert korrel8["depends_on"]["neo4j"] == {"condition": "service_healthy"}
    env = {"NEO4J_PASSWORD": "compose-test", "HOST_UID": "1234"}
    assert interpolate(korrel8["environment"]["NEO4J_URI"], env) == "bolt://neo4j:7687"
    assert any(port.endswith(":7687") for port in neo4j["ports"])
    assert interpolate(korrel8["user"], env) == "1234"
    assert interpolate(korrel8["user"], {}) not in ("0", "root")
    # The kubeconfig, read-only, where korrel8 is told to read it.
    [mount] = korrel8["volumes"]
    source, target, mode = interpolate(mount, env).rsplit(":", 2)
    assert mode == "ro" and source.endswith(".kube/config")
    kubeconfig = korrel8["environment"]["KORREL8_SOURCES__KUBERNETES__KUBECONFIG"]
    assert target == kubeconfig
    # Named volumes are declared.
    for service in services.values():
        for volume in service.get("volumes", []):
            name = volume.split(":")[0]
            if not name.startswith(("$", ".", "/", "~")):
                assert name in compose()["volumes"]


def test_every_korrel8_and_neo4j_variable_of_compose_is_a_setting_that_lands(
    clean_env: pytest.MonkeyPatch,
) -> None:
    environment = compose()["services"]["korrel8"]["environment"]
    with pytest.raises(ValueError, match="NEO4J_PASSWORD"):  # no password, no start
        interpolate(environment["NEO4J_PASSWORD"], {})
    env = {
        name: interpolate(str(value), {"NEO4J_PASSWORD": "compose-test"})
        for name, value in environment.items()
    }
    ours = {name: value for name, value in env.items() if name.startswith(("KORREL8_", "NEO4J_"))}
    assert {
        "NEO4J_URI",
        "NEO4J_PASSWORD",
        "KORREL8_SOURCES__ALERTMANAGER__URL",
        "KORREL8_SOURCES__PROMETHEUS__URL",
    } <= set(ours)
    for name, value in ours.items():
        clean_env.setenv(name, value)

    settings = Settings()

    for name, value in ours.items():
        assert str(setting(settings, name)) == value, name
    assert settings.sources.alertmanager.url == "http://host.docker.internal:9093"


# --------------------------------------------------------------------------- Dockerfile


def test_the_dockerfile_installs_the_pinned_package_and_runs_serve_unprivileged() -> None:
    instructions = dockerfile()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    users = [args for instruction, args in instructions if instruction == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    # USER comes after the last RUN: nothing runs as root after it.
    last_run = max(i for i, (instruction, _) in enumerate(instructions) if instruction == "RUN")
    assert [i for i, (ins, _) in enumerate(instructions) if ins == "USER"][-1] > last_run
    assert json.loads(dict(instructions)["ENTRYPOINT"]) == ["korrel8"]
    assert json.loads(dict(instructions)["CMD"]) == ["serve"]
    runs = " ".join(args for instruction, args in instructions if instruction == "RUN")
    assert "pip install -c constraints.txt ." in runs

    copied = []
    for instruction, args in instructions:
        if instruction == "COPY":
            words = [w for w in shlex.split(args) if not w.startswith("--")]
            copied += words[:-1]
    assert {"pyproject.toml", "constraints.txt", "korrel8/", "ingest/", "cypher/"} <= set(copied)
    for source in copied:
        assert (ROOT / source).exists(), f"COPY {source}: no such file"
        assert not dockerignored(source), f"COPY {source}: excluded by .dockerignore"
    # Nothing local and secret reaches the build context.
    for secret in (".env", "korrel8.yaml", ".git", ".venv"):
        assert dockerignored(secret), secret


# --------------------------------------------------------------------------- probes


def test_the_probes_reach_what_korrel8_serve_answers(clean_env: pytest.MonkeyPatch) -> None:
    """The Deployment's probes and Prometheus annotations, and the compose healthcheck,
    name the port the ConfigMap's serve settings open and paths the service answers."""
    configured = ServeSettings.model_validate(
        yaml.safe_load(one("ConfigMap")["data"][Path(CONFIG_PATH).name])["serve"]
    )
    assert configured.host == "0.0.0.0"  # reachable from the kubelet, not only loopback
    template = one("Deployment")["spec"]["template"]
    [container] = template["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    paths = []
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        get = container[probe]["httpGet"]
        assert ports[get["port"]] == configured.port, probe
        paths.append(get["path"])
    annotations = template["metadata"]["annotations"]
    assert int(annotations["prometheus.io/port"]) == configured.port
    paths.append(annotations["prometheus.io/path"])

    korrel8 = compose()["services"]["korrel8"]
    assert korrel8["environment"]["KORREL8_SERVE__HOST"] == "0.0.0.0"
    check = " ".join(korrel8["healthcheck"]["test"])
    found = re.search(r"http://127\.0\.0\.1:(\d+)(/\w+)", check)
    assert found is not None
    assert int(found.group(1)) == ServeSettings().port  # compose keeps the default port
    paths.append(found.group(2))
    assert ("ENV", "KORREL8_SERVE__HOST=0.0.0.0") in dockerfile()

    # The real server answers each path (a fresh one reports healthy: Neo4j not yet failed).
    server = StatusServer("127.0.0.1", 0, Telemetry())
    server.start()
    try:
        for path in paths:
            assert requests.get(f"{server.url}{path}", timeout=5).status_code == 200, path
    finally:
        server.stop()


def test_the_service_exposes_the_serve_port_of_the_deployments_pods() -> None:
    """The API, MCP and /metrics are reached in the cluster through the Service."""
    service, deployment = one("Service"), one("Deployment")
    template = deployment["spec"]["template"]
    assert service["metadata"]["namespace"] == deployment["metadata"]["namespace"]
    assert service["spec"]["selector"].items() <= template["metadata"]["labels"].items()
    [container] = template["spec"]["containers"]
    named = {p["name"]: p["containerPort"] for p in container["ports"]}
    [port] = service["spec"]["ports"]
    assert port["targetPort"] in named
    assert port["port"] == named[port["targetPort"]] == ServeSettings().port


def test_korrel8_may_ask_who_a_caller_is_and_what_it_may_list() -> None:
    # TokenReview and SubjectAccessReview for the API's callers (korrel8/api/auth.py).
    binding = one("ClusterRoleBinding", "korrel8-auth-delegator")
    account = one("ServiceAccount")["metadata"]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "system:auth-delegator",
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["name"], "namespace": account["namespace"]}
    ]
