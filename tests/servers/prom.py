"""Real Prometheus, Alertmanager and Pushgateway for tests.

``prom_stack`` (session) gives the three servers: from PROMETHEUS_URL, ALERTMANAGER_URL and
PUSHGATEWAY_URL if all are set (that Prometheus must scrape that Pushgateway with
``honor_labels: true``, send to that Alertmanager and load :data:`RULES`; ``python -m
tests.servers.prom DIR ALERTMANAGER_HOST:PORT PUSHGATEWAY_HOST:PORT`` writes such a
configuration), else Debian's binaries (``tools/install-prom.sh``) on free loopback ports
with a temporary configuration: scrape and rule evaluation every second, alert rules written
like kubernetes-mixin's with ``for: 1s`` (KubePodNotReady keeps ``for: 1h`` to stay pending).

``prom`` (per test) is the same stack with a clean state: the Pushgateway wiped, and no
alert left in Prometheus or Alertmanager. Prometheus keeps listing the series of earlier
tests in ``/api/v1/series`` for as long as their samples are in the asked window (deleting
them does not change that), so a test lists series over ``prom.window()``: the time since
its clean state.
``secure_pushgateway`` is a Pushgateway behind TLS (a throw-away CA) and basic auth, for
the HTTP client's auth and TLS settings.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests
from pydantic import SecretStr

from korrel8.config import HttpSourceSettings
from tests.servers.common import free_port, unavailable

T = TypeVar("T")

INSTALL_HINT = (
    "run tools/install-prom.sh (apt-get install prometheus prometheus-alertmanager "
    "prometheus-pushgateway), or set PROMETHEUS_URL, ALERTMANAGER_URL and PUSHGATEWAY_URL"
)
BINARIES = {
    "prometheus": ("prometheus",),
    "alertmanager": ("prometheus-alertmanager", "alertmanager"),
    "pushgateway": ("prometheus-pushgateway", "pushgateway"),
}
START_TIMEOUT = 60.0  # seconds; a busy 2-core machine starts Prometheus slowly
EXTERNAL_LABELS = {"prometheus": "monitoring/k8s"}  # as OpenShift's platform Prometheus

RULES = """\
groups:
  - name: kubernetes-apps
    interval: 1s
    rules:
      - alert: KubePodCrashLooping
        expr: |
          max_over_time(kube_pod_container_status_waiting_reason{reason="CrashLoopBackOff", job="kube-state-metrics"}[2s]) >= 1
        for: 1s
        labels: {severity: warning}
        annotations:
          description: 'Pod {{ $labels.namespace }}/{{ $labels.pod }} ({{ $labels.container }}) is in waiting state (reason: "CrashLoopBackOff").'
          summary: Pod is crash looping.
      - alert: KubeDeploymentReplicasMismatch
        expr: |
          (
            kube_deployment_spec_replicas{job="kube-state-metrics"}
              >
            kube_deployment_status_replicas_available{job="kube-state-metrics"}
          ) and (
            changes(kube_deployment_status_replicas_updated{job="kube-state-metrics"}[10m])
              ==
            0
          )
        for: 1s
        labels: {severity: warning}
        annotations:
          description: Deployment {{ $labels.namespace }}/{{ $labels.deployment }} has not matched the expected number of replicas.
          summary: Deployment has not matched the expected number of replicas.
      - alert: KubeJobFailed
        expr: kube_job_failed{job="kube-state-metrics"} > 0
        for: 1s
        labels: {severity: warning}
        annotations:
          description: Job {{ $labels.namespace }}/{{ $labels.job_name }} failed to complete.
          summary: Job failed to complete.
      - alert: KubePodNotReady
        expr: |
          sum by (namespace, pod) (kube_pod_status_phase{job="kube-state-metrics", phase=~"Pending|Unknown|Failed"}) > 0
        for: 1h
        labels: {severity: warning}
        annotations:
          description: Pod {{ $labels.namespace }}/{{ $labels.pod }} has been in a non-ready state.
  - name: kubernetes-storage
    interval: 1s
    rules:
      - alert: KubePersistentVolumeFillingUp
        expr: |
          (
            kubelet_volume_stats_available_bytes{job="kubelet", metrics_path="/metrics"}
              /
            kubelet_volume_stats_capacity_bytes{job="kubelet", metrics_path="/metrics"}
          ) < 0.03
          and
          kubelet_volume_stats_used_bytes{job="kubelet", metrics_path="/metrics"} > 0
          unless on(namespace, persistentvolumeclaim)
          kube_persistentvolumeclaim_access_mode{access_mode="ReadOnlyMany"} == 1
        for: 1s
        labels: {severity: critical}
        annotations:
          description: The PersistentVolume claimed by {{ $labels.persistentvolumeclaim }} in Namespace {{ $labels.namespace }} is only {{ $value | humanizePercentage }} free.
          summary: PersistentVolume is filling up.
"""  # noqa: E501 - the rules read best unwrapped, as in kubernetes-mixin


def prometheus_config(alertmanager: str, pushgateway: str) -> str:
    external = "".join(f"\n    {k}: {v}" for k, v in EXTERNAL_LABELS.items())
    return f"""\
global:
  scrape_interval: 1s
  evaluation_interval: 1s
  external_labels:{external}
alerting:
  alertmanagers:
    - api_version: v2
      static_configs: [{{targets: ["{alertmanager}"]}}]
rule_files: [rules.yml]
scrape_configs:
  - job_name: pushgateway
    honor_labels: true
    static_configs: [{{targets: ["{pushgateway}"]}}]
"""


ALERTMANAGER_CONFIG = """\
route:
  receiver: "null"
  group_by: [alertname, namespace]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: "null"
inhibit_rules:
  # A full volume explains a crash-looping pod in the same namespace.
  - source_matchers: [alertname="KubePersistentVolumeFillingUp"]
    target_matchers: [alertname="KubePodCrashLooping"]
    equal: [namespace]
"""


def write_configs(directory: Path, alertmanager: str, pushgateway: str) -> dict[str, Path]:
    """The three configuration files, for ``host:port`` addresses of the other servers."""
    directory.mkdir(parents=True, exist_ok=True)
    files = {
        "prometheus": directory / "prometheus.yml",
        "rules": directory / "rules.yml",
        "alertmanager": directory / "alertmanager.yml",
    }
    files["prometheus"].write_text(prometheus_config(alertmanager, pushgateway))
    files["rules"].write_text(RULES)
    files["alertmanager"].write_text(ALERTMANAGER_CONFIG)
    return files


def exposition(*samples: tuple[str, dict[str, str], float]) -> str:
    """Samples in Prometheus' text format, for the Pushgateway."""
    lines = []
    for name, labels, value in samples:
        inner = ",".join(f'{key}="{val}"' for key, val in labels.items())
        lines.append(f"{name}{{{inner}}} {value}")
    return "\n".join(lines) + "\n"


# --- polling ---------------------------------------------------------------------------


def wait_until(check: Callable[[], T | None], timeout: float, what: str, every: float = 0.25) -> T:
    """Poll ``check`` until it returns something truthy, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g}s waiting for {what}", pytrace=False)
        time.sleep(every)


# --- the stack -------------------------------------------------------------------------


@dataclass(frozen=True)
class PromStack:
    prometheus_url: str
    alertmanager_url: str
    pushgateway_url: str
    origin: str
    clean_at: float = 0.0  # when the per-test clean state began (time.time())

    def window(self) -> timedelta:
        """From the clean state until now: a window without earlier tests' series."""
        return timedelta(seconds=time.time() - self.clean_at)

    def prometheus(self, **overrides: Any) -> HttpSourceSettings:
        return HttpSourceSettings(**{"url": self.prometheus_url, "cluster": "c1", **overrides})

    def alertmanager(self, **overrides: Any) -> HttpSourceSettings:
        return HttpSourceSettings(**{"url": self.alertmanager_url, "cluster": "c1", **overrides})

    def push(self, job: str, instance: str, text: str) -> None:
        """Replace the metrics of one Pushgateway group (job, instance) with ``text``."""
        url = f"{self.pushgateway_url}/metrics/job/{job}/instance/{instance}"
        response = requests.put(url, data=text.encode(), timeout=10)
        assert response.status_code in (200, 202), response.text

    def delete(self, job: str, instance: str) -> None:
        url = f"{self.pushgateway_url}/metrics/job/{job}/instance/{instance}"
        response = requests.delete(url, timeout=10)
        assert response.status_code in (200, 202), response.text

    def wipe(self) -> None:
        response = requests.put(f"{self.pushgateway_url}/api/v1/admin/wipe", timeout=10)
        assert response.status_code in (200, 202), response.text

    def am_alerts(self) -> list[dict[str, Any]]:
        """Alertmanager's own view, for comparing with the graph."""
        response = requests.get(f"{self.alertmanager_url}/api/v2/alerts", timeout=10)
        response.raise_for_status()
        alerts: list[dict[str, Any]] = response.json()
        return alerts

    def rule_alerts(self) -> list[dict[str, Any]]:
        response = requests.get(f"{self.prometheus_url}/api/v1/alerts", timeout=10)
        response.raise_for_status()
        alerts: list[dict[str, Any]] = response.json()["data"]["alerts"]
        return alerts

    def query(self, promql: str) -> list[dict[str, Any]]:
        response = requests.get(
            f"{self.prometheus_url}/api/v1/query", params={"query": promql}, timeout=10
        )
        response.raise_for_status()
        result: list[dict[str, Any]] = response.json()["data"]["result"]
        return result

    def silence(self, matchers: dict[str, str], comment: str = "test") -> str:
        now = time.time()
        body = {
            "matchers": [
                {"name": k, "value": v, "isRegex": False, "isEqual": True}
                for k, v in matchers.items()
            ],
            "startsAt": _iso(now - 1),
            "endsAt": _iso(now + 3600),
            "createdBy": "korrel8 tests",
            "comment": comment,
        }
        response = requests.post(f"{self.alertmanager_url}/api/v2/silences", json=body, timeout=10)
        response.raise_for_status()
        return str(response.json()["silenceID"])

    def expire_silences(self) -> None:
        response = requests.get(f"{self.alertmanager_url}/api/v2/silences", timeout=10)
        response.raise_for_status()
        for silence in response.json():
            if silence["status"]["state"] != "expired":
                requests.delete(
                    f"{self.alertmanager_url}/api/v2/silence/{silence['id']}", timeout=10
                ).raise_for_status()

    def firing(self, alertname: str) -> list[dict[str, Any]]:
        return [a for a in self.am_alerts() if a["labels"].get("alertname") == alertname]

    def post_alert(self, labels: dict[str, str], starts: float, ends: float) -> None:
        """Post one alert to Alertmanager's API, as Prometheus would (epoch seconds)."""
        body = [
            {
                "labels": labels,
                "annotations": {"summary": f"{labels.get('alertname', 'alert')} (test)"},
                "startsAt": _iso(starts),
                "endsAt": _iso(ends),
                "generatorURL": f"{self.prometheus_url}/graph",
            }
        ]
        url = f"{self.alertmanager_url}/api/v2/alerts"
        response = requests.post(url, json=body, timeout=10)
        assert response.status_code == 200, response.text


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(seconds))


def _binary(what: str) -> str:
    for name in BINARIES[what]:
        found = shutil.which(name)
        if found:
            return found
    unavailable(what.capitalize(), INSTALL_HINT)


def _ready(url: str) -> bool:
    try:
        return requests.get(f"{url}/-/ready", timeout=2).status_code == 200
    except requests.RequestException:
        return False


class _Processes:
    """The servers this session started; stopped by their own handles, never by name."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.running: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, what: str, args: list[str], url: str) -> None:
        log_path = self.logs / f"{what}.log"
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                [_binary(what), *args], stdout=log_file, stderr=subprocess.STDOUT
            )
        self.running.append((what, process))
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log_path.read_text(errors="replace")[-2000:]
                self.stop()
                message = f"{what} did not become ready at {url} (exit {process.poll()}):\n{tail}"
                unavailable(what.capitalize(), message)
            # Ready, and served by this process: on a shared machine another session may
            # have taken the same free port, and its server would answer instead.
            if _ready(url) and f"address={url.removeprefix('http://')}" in log_path.read_text(
                errors="replace"
            ):
                return
            time.sleep(0.2)

    def stop(self) -> None:
        for _, process in reversed(self.running):
            process.terminate()
        for _, process in reversed(self.running):
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        self.running.clear()


def _from_environment() -> PromStack | None:
    names = ("PROMETHEUS_URL", "ALERTMANAGER_URL", "PUSHGATEWAY_URL")
    values = {name: os.environ.get(name, "").rstrip("/") for name in names}
    if not any(values.values()):
        return None
    missing = [name for name, value in values.items() if not value]
    if missing:
        pytest.fail(
            f"set all of {', '.join(names)} or none: {', '.join(missing)} missing "
            "(the Prometheus must scrape that Pushgateway and send to that Alertmanager)",
            pytrace=False,
        )
    return PromStack(
        values["PROMETHEUS_URL"], values["ALERTMANAGER_URL"], values["PUSHGATEWAY_URL"], "env"
    )


@pytest.fixture(scope="session")
def prom_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PromStack]:
    found = _from_environment()
    if found is not None:
        yield found
        return
    for what in BINARIES:
        _binary(what)  # skip (or fail under CI) before starting anything
    root = tmp_path_factory.mktemp("prom")
    ports = {what: free_port() for what in BINARIES}
    addr = {what: f"127.0.0.1:{port}" for what, port in ports.items()}
    url = {what: f"http://{a}" for what, a in addr.items()}
    files = write_configs(root, addr["alertmanager"], addr["pushgateway"])
    processes = _Processes(root)
    try:
        processes.start(
            "pushgateway",
            [f"--web.listen-address={addr['pushgateway']}", "--web.enable-admin-api"],
            url["pushgateway"],
        )
        processes.start(
            "alertmanager",
            [
                f"--config.file={files['alertmanager']}",
                f"--storage.path={root / 'alertmanager-data'}",
                f"--web.listen-address={addr['alertmanager']}",
                "--cluster.listen-address=",  # no gossip port: a single instance
            ],
            url["alertmanager"],
        )
        processes.start(
            "prometheus",
            [
                f"--config.file={files['prometheus']}",
                f"--storage.tsdb.path={root / 'prometheus-data'}",
                f"--web.listen-address={addr['prometheus']}",
                f"--web.external-url={url['prometheus']}",  # generator URLs that resolve
            ],
            url["prometheus"],
        )
        yield PromStack(url["prometheus"], url["alertmanager"], url["pushgateway"], "local")
    finally:
        processes.stop()


@pytest.fixture
def prom(prom_stack: PromStack) -> PromStack:
    """The stack with a clean state: no pushed series, no silence, no alert anywhere."""
    prom_stack.wipe()
    prom_stack.expire_silences()
    wait_until(
        lambda: not prom_stack.am_alerts() and not prom_stack.rule_alerts(),
        30,
        "the alerts of earlier tests to resolve",
    )
    # Every pushed group exports push_time_seconds: once Prometheus has none, a scrape
    # after the wipe wrote the staleness markers, the last samples of the old series.
    wait_until(
        lambda: not prom_stack.query("push_time_seconds"), 30, "a scrape of the wiped Pushgateway"
    )
    return replace(prom_stack, clean_at=time.time())


@pytest.fixture
def fire(prom: PromStack) -> Iterator[Callable[[dict[str, str]], None]]:
    """Post alerts to Alertmanager; resolved at teardown, so that the next test's ``prom``
    finds no alert (a posted alert would otherwise stay active until its endsAt)."""
    posted: list[dict[str, str]] = []

    def fire_alert(labels: dict[str, str]) -> None:
        now = time.time()
        prom.post_alert(labels, now - 600, now + 3600)
        posted.append(labels)
        wanted = labels["alertname"]
        wait_until(lambda: prom.firing(wanted), 30, f"{wanted} in Alertmanager")

    yield fire_alert
    now = time.time()
    for labels in posted:
        prom.post_alert(labels, now - 600, now - 1)


# --- a Pushgateway behind TLS and basic auth -------------------------------------------


@dataclass(frozen=True)
class SecureServer:
    url: str
    ca_file: Path
    username: str
    password: str

    def settings(self, **overrides: Any) -> HttpSourceSettings:
        values: dict[str, Any] = {
            "url": self.url,
            "ca_file": self.ca_file,
            "username": self.username,
            "password": SecretStr(self.password),
            "retries": 0,
        }
        values.update(overrides)
        return HttpSourceSettings(**values)


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _bcrypt(password: str) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # crypt leaves Python in 3.13
        import crypt

    # Cost 4, the lowest: the server checks it on every request.
    return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))


@pytest.fixture(scope="session")
def secure_pushgateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureServer]:
    if shutil.which("openssl") is None:
        unavailable("openssl", "apt-get install openssl (it makes the test CA)")
    if sys.version_info >= (3, 13):
        pytest.skip("the bcrypt hash for the server comes from the crypt module (Python < 3.13)")
    root = tmp_path_factory.mktemp("tls")
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", "ca.key", "-out", "ca.crt", "-days", "1", "-subj", "/CN=korrel8 test CA",
        cwd=root,
    )  # fmt: skip
    _openssl(
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1",
        cwd=root,
    )  # fmt: skip
    (root / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    _openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.crt", "-days", "1", "-extfile", "san.ext",
        cwd=root,
    )  # fmt: skip
    username, password = "korrel8", "s3cret-Pa55word"
    (root / "web.yml").write_text(
        f"tls_server_config:\n  cert_file: {root / 'server.crt'}\n"
        f"  key_file: {root / 'server.key'}\n"
        f"basic_auth_users:\n  {username}: '{_bcrypt(password)}'\n"
    )
    address = f"127.0.0.1:{free_port()}"
    url = f"https://{address}"
    log_path = root / "pushgateway.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [
                _binary("pushgateway"),
                f"--web.listen-address={address}",
                f"--web.config.file={root / 'web.yml'}",
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        auth = (username, password)
        ca = str(root / "ca.crt")

        def ready() -> bool:
            try:
                return requests.get(f"{url}/-/ready", auth=auth, verify=ca, timeout=2).ok
            except requests.RequestException:
                return process.poll() is not None  # stop polling a dead server

        wait_until(ready, START_TIMEOUT, "the TLS Pushgateway")
        if process.poll() is not None:
            unavailable("Pushgateway", log_path.read_text(errors="replace")[-2000:])
        yield SecureServer(url, root / "ca.crt", username, password)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(
            "usage: python -m tests.servers.prom DIR ALERTMANAGER_HOST:PORT PUSHGATEWAY_HOST:PORT"
        )
    for path in write_configs(Path(sys.argv[1]), sys.argv[2], sys.argv[3]).values():
        print(path)
