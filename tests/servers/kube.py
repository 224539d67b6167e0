"""A real Kubernetes API server for tests.

``start_kube`` runs etcd and kube-apiserver, both built from their Go modules by
``tools/build-kube.sh`` into ``~/.cache/korrel8/kube-<version>/``, on free
127.0.0.1 ports, with generated certificates, an admin client certificate (system:masters)
and a read-only ServiceAccount token, and writes kubeconfigs for both.

Only the API server runs: no kube-controller-manager, scheduler or kubelet. So nothing
reconciles: pods stay Pending, ServiceAccounts and their tokens are not created for new
namespaces (``kube_namespace`` creates the ``default`` ServiceAccount itself), the garbage
collector does not cascade deletions, and a deleted namespace would stay Terminating forever
(``kube_namespace`` therefore deletes the objects in it directly and then finalizes it).
The API server's in-process controllers do run: RBAC bootstrap roles, CRD establishment,
the default/kube-system namespaces, API priority and fairness.

Fixtures (load with ``pytest_plugins = ["tests.servers.kube"]``):

- ``kube`` (session): a ``KubeServer``. With KUBECONFIG set, that cluster is used as is
  (nothing is started; the read-only ServiceAccount is created in it if the credential
  allows). Otherwise the built binaries are started. If they are missing the tests skip,
  saying to run tools/build-kube.sh, or fail when CI=true. The environment is left alone:
  a test whose code under test reads KUBECONFIG sets it with
  ``monkeypatch.setenv("KUBECONFIG", str(kube.kubeconfig))``.
- ``kube_namespace`` (function): the name of a fresh namespace, emptied and deleted after
  the test.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import json
import os
import re
import secrets
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from tests.servers.common import free_port, unavailable

REPO = Path(__file__).resolve().parents[2]
WRAPPER_GO_MOD = REPO / "tools" / "kube-apiserver" / "go.mod"
BUILD_HINT = (
    "run tools/build-kube.sh (builds kube-apiserver and etcd with Go through the module proxy, "
    "~15 min the first time, then cached), or set KUBECONFIG to a cluster"
)
READONLY_SA = "korrel8-readonly"
READONLY_NAMESPACE = "default"
READONLY_ROLE = "korrel8-test-readonly"
# Subresources that act rather than read, even when reached with GET.
ACTING_SUBRESOURCES = {"exec", "attach", "portforward", "proxy"}
DISCOVERY_ACCEPT = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
    "application/json"
)
START_TIMEOUT = 90.0


class KubeStartError(RuntimeError):
    """etcd or kube-apiserver did not come up; the message has the tail of its log."""


# --------------------------------------------------------------------------- binaries


def kube_version() -> str:
    """The Kubernetes release pinned in tools/kube-apiserver/go.mod, e.g. ``v1.37.2``."""
    match = re.search(
        r"^\s*(?:require\s+)?k8s\.io/kubernetes\s+(v\S+)", WRAPPER_GO_MOD.read_text(), re.M
    )
    if match is None:
        raise RuntimeError(f"no k8s.io/kubernetes requirement in {WRAPPER_GO_MOD}")
    return match.group(1)


def cache_dir() -> Path:
    root = os.environ.get("KORREL8_KUBE_CACHE")
    if root:
        return Path(root)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "korrel8"


def find_binaries() -> tuple[Path, Path] | str:
    """(kube-apiserver, etcd), or a message saying what is missing. Both come from
    tools/build-kube.sh's cache unless KORREL8_KUBE_APISERVER / KORREL8_ETCD name others
    (Debian's etcd 3.4 is too old: kube-apiserver v1.37's watches need etcd >= 3.5.13)."""
    built = cache_dir() / f"kube-{kube_version()}"
    apiserver = Path(os.environ.get("KORREL8_KUBE_APISERVER") or built / "kube-apiserver")
    etcd = Path(os.environ.get("KORREL8_ETCD") or built / "etcd")
    missing = [str(p) for p in (apiserver, etcd) if not os.access(p, os.X_OK)]
    if missing:
        return f"missing {' and '.join(missing)}"
    return apiserver, etcd


# --------------------------------------------------------------------------- certificates


def _openssl(*args: str, cwd: Path) -> None:
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise KubeStartError(f"openssl {' '.join(args)} failed: {proc.stderr.strip()}")


def _new_key(pki: Path, name: str) -> None:
    _openssl(
        "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-out", f"{name}.key", cwd=pki,
    )  # fmt: skip


def _issue(pki: Path, name: str, subject: str, extensions: str) -> None:
    """A key and a certificate for ``name`` signed by the test CA."""
    _new_key(pki, name)
    _openssl("req", "-new", "-key", f"{name}.key", "-subj", subject, "-out", f"{name}.csr", cwd=pki)
    (pki / f"{name}.ext").write_text(f"[v3]\n{extensions}\n")
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-set_serial", str(int.from_bytes(secrets.token_bytes(8), "big")), "-days", "3650",
        "-extfile", f"{name}.ext", "-extensions", "v3", "-out", f"{name}.crt", cwd=pki,
    )  # fmt: skip


def make_pki(pki: Path) -> None:
    """CA, apiserver serving cert, admin client cert, service-account signing key."""
    pki.mkdir(parents=True, exist_ok=True)
    _new_key(pki, "ca")
    _openssl(
        "req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=korrel8-test-ca", "-days", "3650",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", "ca.crt", cwd=pki,
    )  # fmt: skip
    leaf = "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
    _issue(
        pki, "apiserver", "/CN=kube-apiserver",
        leaf + "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost,"
        "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:10.0.0.1",
    )  # fmt: skip
    _issue(pki, "admin", "/O=system:masters/CN=korrel8-admin", leaf + "extendedKeyUsage=clientAuth")
    _new_key(pki, "sa")
    _openssl("pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=pki)
    for key in pki.glob("*.key"):
        key.chmod(0o600)


# --------------------------------------------------------------------------- kubeconfig


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def write_kubeconfig(
    path: Path, server: str, ca_data: str | None, users: dict[str, dict[str, str]]
) -> Path:
    """One context per user, named after it; the first is current."""
    cluster: dict[str, Any] = {"server": server}
    if ca_data:
        cluster["certificate-authority-data"] = ca_data
    else:
        cluster["insecure-skip-tls-verify"] = True
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "korrel8-test", "cluster": cluster}],
        "users": [{"name": name, "user": user} for name, user in users.items()],
        "contexts": [
            {"name": name, "context": {"cluster": "korrel8-test", "user": name}} for name in users
        ],
        "current-context": next(iter(users)),
        "preferences": {},
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    path.chmod(0o600)
    return path


def api_client(kubeconfig: Path, context: str | None = None) -> k8s.ApiClient:
    api: k8s.ApiClient = k8s_config.new_client_from_config(
        config_file=str(kubeconfig), context=context, persist_config=False
    )
    return api


# --------------------------------------------------------------------------- raw API access


def rest(
    api: k8s.ApiClient,
    method: str,
    path: str,
    body: Any = None,
    accept: str = "application/json",
    content_type: str = "application/json",
) -> Any:
    """One REST call through ``api``'s credentials; the decoded JSON body."""
    headers = {"Accept": accept}
    if body is not None:
        headers["Content-Type"] = content_type
    url, headers, body = api.param_serialize(
        method=method, resource_path=path, header_params=headers, body=body,
        auth_settings=["BearerToken"],
    )[1:4]  # fmt: skip
    response = api.call_api(method, url, header_params=headers, body=body, _request_timeout=30)
    data: bytes = response.read()
    if not 200 <= response.status <= 299:
        raise ApiException(http_resp=response, body=data.decode(errors="replace"))
    return json.loads(data) if data else None


@dataclass(frozen=True)
class Resource:
    group: str  # "" for the core group
    version: str  # the group's preferred version
    name: str  # plural; "pods/log" for a subresource
    namespaced: bool
    verbs: frozenset[str]

    @property
    def path(self) -> str:
        return f"/api/{self.version}" if not self.group else f"/apis/{self.group}/{self.version}"


def discover(api: k8s.ApiClient) -> list[Resource]:
    """Every resource and subresource the server serves, in each group's preferred version."""
    found: list[Resource] = []
    for root in ("/api", "/apis"):
        doc = rest(api, "GET", root, accept=DISCOVERY_ACCEPT)
        if doc.get("kind") == "APIGroupDiscoveryList":
            for group in doc.get("items", []):
                version = group["versions"][0]  # listed in order of preference
                for res in version.get("resources", []):
                    args = (group["metadata"].get("name", ""), version["version"])
                    namespaced = res.get("scope") == "Namespaced"
                    found.append(
                        Resource(
                            *args, res["resource"], namespaced, frozenset(res.get("verbs", []))
                        )
                    )
                    for sub in res.get("subresources", []):
                        name = f"{res['resource']}/{sub['subresource']}"
                        found.append(
                            Resource(*args, name, namespaced, frozenset(sub.get("verbs", [])))
                        )
            continue
        # Servers older than 1.26 answer with the legacy documents only.
        if root == "/api":
            groups = [("", f"{doc['versions'][0]}")]
        else:
            groups = [(g["name"], g["preferredVersion"]["version"]) for g in doc["groups"]]
        for name, version_name in groups:
            path = f"/api/{version_name}" if not name else f"/apis/{name}/{version_name}"
            for res in rest(api, "GET", path)["resources"]:
                found.append(
                    Resource(
                        name, version_name, res["name"], res["namespaced"], frozenset(res["verbs"])
                    )
                )
    return found


# --------------------------------------------------------------------------- read-only user


def readonly_rules(resources: list[Resource]) -> list[dict[str, Any]]:
    """get/list/watch on everything served now, except Secrets (RBAC only adds, so the core
    group's resources are listed by name, and every other group gets "*")."""
    verbs = ["get", "list", "watch"]
    core = sorted(
        {
            r.name
            for r in resources
            if not r.group
            and r.name.split("/")[0] != "secrets"
            and r.name.partition("/")[2] not in ACTING_SUBRESOURCES
        }
    )
    groups = sorted({r.group for r in resources if r.group})
    return [
        {"apiGroups": [""], "resources": core, "verbs": verbs},
        {"apiGroups": groups, "resources": ["*"], "verbs": verbs},
    ]


def apply_readonly_role(api: k8s.ApiClient) -> None:
    """Create or update the read-only ClusterRole from what the server serves now."""
    role: dict[str, Any] = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": READONLY_ROLE},
        "rules": readonly_rules(discover(api)),
    }
    base = "/apis/rbac.authorization.k8s.io/v1/clusterroles"
    try:
        rest(api, "POST", base, role)
    except ApiException as exc:
        if exc.status != 409:
            raise
        current = rest(api, "GET", f"{base}/{READONLY_ROLE}")
        role["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        rest(api, "PUT", f"{base}/{READONLY_ROLE}", role)


def _create_ignoring_conflict(api: k8s.ApiClient, path: str, body: dict[str, Any]) -> None:
    try:
        rest(api, "POST", path, body)
    except ApiException as exc:
        if exc.status != 409:
            raise


def setup_readonly(api: k8s.ApiClient, server: str, ca_data: str | None, path: Path) -> Path:
    """ServiceAccount + ClusterRole + binding, and a kubeconfig with a 24 h token for it."""
    ns = READONLY_NAMESPACE
    sa = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": READONLY_SA}}
    _create_ignoring_conflict(api, f"/api/v1/namespaces/{ns}/serviceaccounts", sa)
    apply_readonly_role(api)
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": READONLY_ROLE},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": READONLY_ROLE,
        },
        "subjects": [{"kind": "ServiceAccount", "name": READONLY_SA, "namespace": ns}],
    }
    _create_ignoring_conflict(
        api, "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", binding
    )
    token_request = {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {"expirationSeconds": 24 * 3600},
    }
    token = rest(
        api, "POST", f"/api/v1/namespaces/{ns}/serviceaccounts/{READONLY_SA}/token", token_request
    )["status"]["token"]
    return write_kubeconfig(path, server, ca_data, {"korrel8-readonly": {"token": token}})


# --------------------------------------------------------------------------- namespaces


def create_namespace(api: k8s.ApiClient, name: str, labels: dict[str, str] | None = None) -> None:
    """A namespace and its ``default`` ServiceAccount (which no controller would create here;
    pod admission needs it)."""
    body = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": labels or {}},
    }
    rest(api, "POST", "/api/v1/namespaces", body)
    sa = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}}
    _create_ignoring_conflict(api, f"/api/v1/namespaces/{name}/serviceaccounts", sa)


def purge_namespace(api: k8s.ApiClient, name: str, controllers: bool) -> None:
    """Delete a namespace. With ``controllers`` (a real cluster) the namespace controller
    empties it; without, its objects are deleted here (finalizers dropped, no grace period)
    and the namespace is finalized, so nothing of it is left in etcd."""
    try:
        rest(api, "DELETE", f"/api/v1/namespaces/{name}")
    except ApiException as exc:
        if exc.status == 404:
            return
        raise
    if controllers:
        return
    for res in discover(api):
        if res.namespaced and "/" not in res.name and {"list", "delete"} <= res.verbs:
            try:
                _delete_all(api, f"{res.path}/namespaces/{name}/{res.name}", res.verbs)
            except ApiException as exc:
                if exc.status not in (404, 405):  # e.g. a CRD deleted since discovery
                    raise
    ns = rest(api, "GET", f"/api/v1/namespaces/{name}")
    ns["spec"]["finalizers"] = []
    rest(api, "PUT", f"/api/v1/namespaces/{name}/finalize", ns)


def _delete_all(api: k8s.ApiClient, base: str, verbs: frozenset[str]) -> None:
    """Delete every object under the collection path ``base``, finalizers or not."""
    items = rest(api, "GET", base).get("items") or []
    delete_options = {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0}
    for item in items:
        if item["metadata"].get("finalizers"):
            with contextlib.suppress(ApiException):
                rest(
                    api, "PATCH", f"{base}/{item['metadata']['name']}",
                    {"metadata": {"finalizers": None}},
                    content_type="application/merge-patch+json",
                )  # fmt: skip
    if items and "deletecollection" in verbs:
        rest(api, "DELETE", base, delete_options)
    elif items:
        for item in items:
            with contextlib.suppress(ApiException):
                rest(api, "DELETE", f"{base}/{item['metadata']['name']}", delete_options)


def unique_name(hint: str, prefix: str = "korrel8-test") -> str:
    """A valid, unique DNS label: ``prefix-<hint>-<random>``."""
    suffix = secrets.token_hex(3)
    slug = re.sub(r"[^a-z0-9]+", "-", hint.lower()).strip("-")
    slug = slug[: 63 - len(prefix) - len(suffix) - 2].strip("-")
    return "-".join(p for p in (prefix, slug, suffix) if p)


# --------------------------------------------------------------------------- processes


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    """If pytest is killed, take the servers along (Linux PR_SET_PDEATHSIG). It fires when
    the thread that started them ends, so call start_kube from a thread that lives on."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)


def _spawn(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group, killed as one in stop()
            preexec_fn=_die_with_parent,
        )


def _stop(proc: subprocess.Popen[bytes] | None, grace: float = 10.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _tail(log: Path, lines: int = 25) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _wait_http(
    url: str, proc: subprocess.Popen[bytes], log: Path, deadline: float,
    context: ssl.SSLContext | None = None,
) -> None:  # fmt: skip
    """Until ``url`` answers 200 "ok"; the last answer or error is in the exception."""
    last = "no answer"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise KubeStartError(f"{log.stem} exited with {proc.returncode}:\n{_tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=2, context=context) as answer:
                body = answer.read().decode(errors="replace")
                if answer.status == 200:
                    return
                last = f"{answer.status} {body}"
        except urllib.error.HTTPError as exc:
            last = f"{exc.code} {exc.read().decode(errors='replace')[-2000:]}"
        except (OSError, ValueError) as exc:
            last = repr(exc)
        time.sleep(0.2)
    raise KubeStartError(f"{url} not ready in time: {last}\n{_tail(log)}")


@dataclass
class KubeServer:
    """A cluster for tests. ``kubeconfig`` has both users (contexts ``korrel8-admin``,
    current, and ``korrel8-readonly``); the other two files have one each."""

    api_url: str
    kubeconfig: Path
    admin_kubeconfig: Path
    readonly_kubeconfig: Path | None  # None: an external cluster where it could not be set up
    origin: str  # "harness" (started here) or "KUBECONFIG"
    version: str = ""
    workdir: Path | None = None
    _procs: list[subprocess.Popen[bytes]] = field(default_factory=list, repr=False)

    @property
    def controllers(self) -> bool:
        """Whether controllers (namespace, garbage collector, ...) run: not in the harness."""
        return self.origin != "harness"

    def admin_client(self) -> k8s.ApiClient:
        return api_client(self.admin_kubeconfig)

    def readonly_client(self) -> k8s.ApiClient:
        if self.readonly_kubeconfig is None:
            unavailable(
                "the read-only Kubernetes credential", "KUBECONFIG's user cannot set up RBAC"
            )
        return api_client(self.readonly_kubeconfig)

    def refresh_readonly(self) -> None:
        """Extend the read-only role to API groups added since (e.g. by a new CRD)."""
        with self.admin_client() as api:
            apply_readonly_role(api)

    def stop(self) -> None:
        """Stop the servers (process groups) and delete their data, certs and logs."""
        for proc in reversed(self._procs):
            _stop(proc)
        self._procs.clear()
        if self.workdir is not None and self.origin == "harness":
            shutil.rmtree(self.workdir, ignore_errors=True)


def _etcd_argv(etcd: Path, data: Path, client_port: int, peer_port: int) -> list[str]:
    client, peer = f"http://127.0.0.1:{client_port}", f"http://127.0.0.1:{peer_port}"
    return [
        str(etcd),
        "--name=korrel8",
        f"--data-dir={data}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=korrel8={peer}",
        "--initial-cluster-state=new",
        "--log-level=warn",
        "--unsafe-no-fsync",  # throw-away data: skip fsync, which dominates write latency
        "--quota-backend-bytes=2147483648",
        "--auto-compaction-mode=periodic",
        "--auto-compaction-retention=5m",
    ]


def _apiserver_argv(apiserver: Path, run: Path, etcd_port: int, port: int) -> list[str]:
    pki = run / "pki"
    return [
        str(apiserver),
        f"--etcd-servers=http://127.0.0.1:{etcd_port}",
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        f"--secure-port={port}",
        f"--cert-dir={run / 'certs'}",
        f"--tls-cert-file={pki / 'apiserver.crt'}",
        f"--tls-private-key-file={pki / 'apiserver.key'}",
        f"--client-ca-file={pki / 'ca.crt'}",
        f"--service-account-key-file={pki / 'sa.pub'}",
        f"--service-account-signing-key-file={pki / 'sa.key'}",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        "--service-cluster-ip-range=10.0.0.0/24",
        "--authorization-mode=RBAC",
        "--allow-privileged=true",
        "--endpoint-reconciler-type=none",  # no Endpoints for a loopback address
        "--profiling=false",
    ]


def start_kube(workdir: Path, timeout: float = START_TIMEOUT) -> KubeServer:
    """Start etcd and kube-apiserver on free 127.0.0.1 ports; ready when this returns.

    Everything (etcd data, certificates, kubeconfigs, logs) goes to a new directory under
    ``workdir`` that ``stop()`` deletes. Raises KubeStartError (with the logs' tails).
    """
    binaries = find_binaries()
    if isinstance(binaries, str):
        raise KubeStartError(f"{binaries}: {BUILD_HINT}")
    apiserver, etcd = binaries
    workdir.mkdir(parents=True, exist_ok=True)
    run = Path(tempfile.mkdtemp(prefix="kube-", dir=workdir))
    make_pki(run / "pki")
    server = KubeServer(
        api_url="", kubeconfig=run / "kubeconfig", admin_kubeconfig=run / "admin.kubeconfig",
        readonly_kubeconfig=None, origin="harness", version=kube_version(), workdir=run,
    )  # fmt: skip
    try:
        _start_processes(server, run, apiserver, etcd, timeout)
        return server
    except BaseException:
        server.stop()
        raise


def _start_processes(
    server: KubeServer, run: Path, apiserver: Path, etcd: Path, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    etcd_log, api_log = run / "etcd.log", run / "kube-apiserver.log"
    # A port picked free can be taken before the server binds it: then try new ports.
    for attempt in range(3):
        etcd_port, peer_port = free_port(), free_port()
        proc = _spawn(_etcd_argv(etcd, run / f"etcd-{attempt}", etcd_port, peer_port), etcd_log)
        server._procs.append(proc)
        try:
            _wait_http(f"http://127.0.0.1:{etcd_port}/health", proc, etcd_log, deadline)
            break
        except KubeStartError:
            _stop(proc)
            server._procs.remove(proc)
            if attempt == 2 or "address already in use" not in _tail(etcd_log):
                raise
    pki = run / "pki"
    tls = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    tls.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
    for attempt in range(3):
        port = free_port()
        proc = _spawn(_apiserver_argv(apiserver, run, etcd_port, port), api_log)
        server._procs.append(proc)
        try:
            _wait_http(f"https://127.0.0.1:{port}/readyz", proc, api_log, deadline, tls)
            break
        except KubeStartError:
            _stop(proc)
            server._procs.remove(proc)
            if attempt == 2 or "address already in use" not in _tail(api_log):
                raise
    server.api_url = f"https://127.0.0.1:{port}"
    ca = _b64(pki / "ca.crt")
    admin = {
        "client-certificate-data": _b64(pki / "admin.crt"),
        "client-key-data": _b64(pki / "admin.key"),
    }
    write_kubeconfig(server.admin_kubeconfig, server.api_url, ca, {"korrel8-admin": admin})
    with api_client(server.admin_kubeconfig) as api:
        _wait_for_namespace(api, READONLY_NAMESPACE, deadline)
        sa = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}}
        _create_ignoring_conflict(
            api, f"/api/v1/namespaces/{READONLY_NAMESPACE}/serviceaccounts", sa
        )
        server.readonly_kubeconfig = setup_readonly(
            api, server.api_url, ca, run / "readonly.kubeconfig"
        )
    token = yaml.safe_load(server.readonly_kubeconfig.read_text())["users"][0]["user"]
    write_kubeconfig(
        server.kubeconfig, server.api_url, ca, {"korrel8-admin": admin, "korrel8-readonly": token}
    )


def _wait_for_namespace(api: k8s.ApiClient, name: str, deadline: float) -> None:
    """The bootstrap controller creates default/kube-system shortly after /readyz."""
    while True:
        try:
            rest(api, "GET", f"/api/v1/namespaces/{name}")
            return
        except ApiException as exc:
            if exc.status != 404 or time.monotonic() > deadline:
                raise
        time.sleep(0.2)


def use_kubeconfig(kubeconfig: Path, workdir: Path) -> KubeServer:
    """A cluster someone else runs (KUBECONFIG): nothing is started or stopped. The read-only
    ServiceAccount is set up in it if the credential may (else ``readonly_kubeconfig`` is None)."""
    workdir.mkdir(parents=True, exist_ok=True)
    with api_client(kubeconfig) as api:
        conf = api.configuration
        ca_data = _b64(Path(conf.ssl_ca_cert)) if conf.ssl_ca_cert and conf.verify_ssl else None
        readonly: Path | None
        try:
            readonly = setup_readonly(api, conf.host, ca_data, workdir / "readonly.kubeconfig")
        except ApiException as exc:
            if exc.status not in (401, 403):
                raise
            readonly = None
        return KubeServer(
            api_url=conf.host, kubeconfig=kubeconfig, admin_kubeconfig=kubeconfig,
            readonly_kubeconfig=readonly, origin="KUBECONFIG",
            version=rest(api, "GET", "/version")["gitVersion"], workdir=workdir,
        )  # fmt: skip


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeServer]:
    """The session's Kubernetes API server (see the module docstring)."""
    workdir = tmp_path_factory.mktemp("kube")
    external = os.environ.get("KUBECONFIG")
    if external:
        yield use_kubeconfig(Path(external.split(os.pathsep)[0]), workdir)
        return
    binaries = find_binaries()
    if isinstance(binaries, str):
        unavailable(f"kube-apiserver {kube_version()} with etcd", f"{binaries}; {BUILD_HINT}")
    server = start_kube(workdir)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def second_kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeServer]:
    """A second Kubernetes cluster of its own (etcd and kube-apiserver started here, even
    when KUBECONFIG names the first): for tests of several clusters at once."""
    binaries = find_binaries()
    if isinstance(binaries, str):
        unavailable(f"kube-apiserver {kube_version()} with etcd", f"{binaries}; {BUILD_HINT}")
    server = start_kube(tmp_path_factory.mktemp("kube2"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def kube_namespace(kube: KubeServer, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace for one test, named after it; emptied and deleted afterwards."""
    name = unique_name(request.node.name)
    with kube.admin_client() as api:
        create_namespace(api, name, {"korrel8.test/namespace": "true"})
    try:
        yield name
    finally:
        with kube.admin_client() as api:
            purge_namespace(api, name, controllers=kube.controllers)
