"""korrel8.labels: real label sets from every source, the traps, the vocabulary as data."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from korrel8 import labels
from korrel8.errors import ConfigError
from korrel8.labels import infer_domain, load_vocabulary, normalize, normalize_verbose

ROWS: list[dict[str, Any]] = yaml.safe_load(
    (Path(__file__).parent / "data" / "labelsets.yaml").read_text(encoding="utf-8")
)


def _strings(mapping: dict[str, Any] | None) -> dict[str, str]:
    return {str(k): str(v) for k, v in (mapping or {}).items()}


@pytest.fixture(autouse=True)
def packaged_vocabulary() -> Iterator[None]:
    """Every test starts and ends with the packaged vocabulary installed."""
    labels.configure()
    yield
    labels.configure()


def test_labelsets_are_many_named_and_sourced() -> None:
    assert len(ROWS) >= 40
    assert len({row["id"] for row in ROWS}) == len(ROWS)
    assert all(row.get("source") for row in ROWS)


@pytest.mark.parametrize("row", ROWS, ids=[row["id"] for row in ROWS])
def test_real_label_sets(row: dict[str, Any]) -> None:
    result = normalize_verbose(_strings(row["labels"]), row.get("domain"))
    assert result.labels == _strings(row["expect"])
    if "inferred" in row:
        assert result.domain == row["inferred"]
    assert set(row.get("ignored", [])) <= set(result.ignored)
    assert sorted(c.key for c in result.conflicts) == sorted(row.get("conflicts", []))


# --- traps ---------------------------------------------------------------------------------


def test_ksm_pod_on_a_deployment_alert_is_not_the_subject() -> None:
    # kube-prometheus-stack: KSM series keep the KSM target's pod/container (labels.md P1).
    alert = {
        "alertname": "KubeDeploymentReplicasMismatch",
        "deployment": "web",
        "namespace": "shop",
        "pod": "kps-kube-state-metrics-5d8f9c7b6-abcde",
        "container": "kube-state-metrics",
        "service": "kps-kube-state-metrics",
        "endpoint": "http",
        "instance": "10.0.0.5:8080",
        "job": "kube-state-metrics",
    }
    result = normalize_verbose(alert, "alert")
    assert result.labels == {"k8s.namespace.name": "shop", "k8s.deployment.name": "web"}
    assert {"pod", "container"} <= set(result.ignored)


def test_ksm_pod_alert_keeps_its_pod_and_uid() -> None:
    alert = {
        "alertname": "KubePodCrashLooping",
        "namespace": "shop",
        "pod": "web-1",
        "container": "web",
        "uid": "6F9A",
        "reason": "CrashLoopBackOff",
        "job": "kube-state-metrics",
        "service": "kps-kube-state-metrics",
    }
    assert normalize(alert, "alert") == {
        "k8s.namespace.name": "shop",
        "k8s.pod.name": "web-1",
        "k8s.container.name": "web",
        "k8s.pod.uid": "6f9a",
    }


@pytest.mark.parametrize("domain", [None, "metric", "alert", "log", "trace", "event"])
def test_instance_and_job_are_never_a_pod_or_a_job(domain: str | None) -> None:
    result = normalize({"instance": "web-1", "job": "backup", "namespace": "shop"}, domain)
    assert "k8s.pod.name" not in result
    assert "k8s.job.name" not in result


@pytest.mark.parametrize(
    "raw",
    [
        "docker://ab123",
        "containerd://ab123",
        "cri-o://ab123",
        "CRI-O://AB123",
        "ab123",
    ],
)
def test_container_ids_lose_their_runtime_prefix(raw: str) -> None:
    assert normalize({"container_id": raw}) == {"container.id": "ab123"}


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("nginx:1.14.2", "nginx"),
        ("registry.example.com:5000/team/app:v1", "registry.example.com:5000/team/app"),
        ("quay.io/prometheus/alertmanager@sha256:17098c17ed2a", "quay.io/prometheus/alertmanager"),
        ("registry.example.com:5000/app", "registry.example.com:5000/app"),
        ("sha256:17098c17ed2a22ae18f350d8f8e6e862", None),  # an image id, not a name
    ],
)
def test_image_names_lose_tag_and_digest(raw: str, name: str | None) -> None:
    expected = {} if name is None else {"container.image.name": name}
    assert normalize({"kubernetes.container_image": raw}, "log") == expected


def test_cgroupfs_paths_give_pod_uid_and_container_id() -> None:
    cid = "0123456789abcdef" * 4
    path = f"/kubepods/burstable/pod3426a9c5-53d6-4736-9ca8-f575828e3e4b/{cid}"
    assert normalize({"id": path}, "metric") == {
        "k8s.pod.uid": "3426a9c5-53d6-4736-9ca8-f575828e3e4b",
        "container.id": cid,
    }
    assert normalize({"id": "/system.slice/kubelet.service"}, "metric") == {}


def test_more_specific_source_wins_and_the_conflict_is_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    raw = {"k8s.namespace.name": "shop", "namespace": "monitoring", "pod": "web-1"}
    result = normalize_verbose(raw, "metric")
    assert result.labels == {"k8s.namespace.name": "shop", "k8s.pod.name": "web-1"}
    (conflict,) = result.conflicts
    assert conflict.key == "k8s.namespace.name"
    assert (conflict.chosen.raw_key, conflict.chosen.value) == ("k8s.namespace.name", "shop")
    assert [(c.raw_key, c.value) for c in conflict.rejected] == [("namespace", "monitoring")]

    with caplog.at_level(logging.WARNING, logger="korrel8.labels"):
        assert normalize(raw, "metric")["k8s.namespace.name"] == "shop"
    assert "k8s.namespace.name" in caplog.text
    assert "monitoring" in caplog.text


def test_agreeing_sources_are_not_a_conflict() -> None:
    raw = {"k8s_pod_name": "web-1", "kubernetes_pod_name": "web-1", "pod": "web-1"}
    assert normalize_verbose(raw, "log").conflicts == ()


def test_an_abbreviated_container_id_is_the_same_container() -> None:
    raw = {"container.id": "a3bf90e006b2", "container_id": "docker://a3bf90e006b2ffff"}
    result = normalize_verbose(raw)
    assert result.conflicts == ()
    assert result.labels == {"container.id": "a3bf90e006b2"}


def test_datadog_runtime_container_name_is_not_the_spec_name() -> None:
    tags = {"kube_container_name": "myapp", "container_name": "myapp-container"}
    assert normalize(tags, "metric") == {"k8s.container.name": "myapp"}


def test_old_kubelet_container_name_is_the_spec_name() -> None:
    assert normalize({"container_name": "web"}, "metric") == {"k8s.container.name": "web"}


def test_bare_service_is_mapped_only_when_the_producer_is_known() -> None:
    assert normalize({"service": "kubelet", "namespace": "kube-system"}, "metric") == {
        "k8s.namespace.name": "kube-system"
    }
    ksm = {"__name__": "kube_service_info", "job": "kube-state-metrics", "service": "web"}
    assert normalize({**ksm, "namespace": "shop"}, "metric") == {
        "k8s.namespace.name": "shop",
        "k8s.service.name": "web",
    }


def test_a_domain_restricted_source_stays_off_when_the_domain_is_unknown() -> None:
    # `name` is an event subject for Alloy but cAdvisor's runtime container name.
    assert normalize({"name": "web", "kind": "Deployment"}) == {}
    assert normalize({"name": "web", "kind": "Deployment"}, "event")["k8s.object.name"] == "web"


def test_unknown_domain_is_inferred_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="korrel8.labels"):
        result = normalize_verbose({"__name__": "up", "namespace": "shop"}, "metrics")
    assert result.domain == "metric"
    assert result.labels == {"k8s.namespace.name": "shop"}
    assert "metrics" in caplog.text


@pytest.mark.parametrize(
    ("raw", "domain"),
    [
        ({"alertname": "Watchdog"}, "alert"),
        ({"__name__": "up"}, "metric"),
        ({"log_type": "audit"}, "log"),
        ({"involvedObject.kind": "Pod"}, "event"),
        ({"resource.service.name": "x"}, "trace"),
        ({"severity": "warning"}, None),
    ],
)
def test_infer_domain(raw: dict[str, str], domain: str | None) -> None:
    assert infer_domain(raw) == domain


def test_pod_label_keys_are_unsanitized_only_when_known() -> None:
    raw = {"kubernetes_labels_app_kubernetes_io_name": "web", "kubernetes_labels_my_team": "a"}
    assert normalize(raw, "log") == {
        "k8s.pod.label.app.kubernetes.io/name": "web",
        "k8s.pod.label.my_team": "a",
    }


def test_non_string_input_is_skipped_not_raised() -> None:
    odd: dict[Any, Any] = {"pod": 1, 2: "x", "namespace": "shop", "node": None}
    assert normalize(odd) == {"k8s.namespace.name": "shop"}


# --- the vocabulary is data --------------------------------------------------------------


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_user_vocabulary_adds_a_source(tmp_path: Path) -> None:
    extra = _write(
        tmp_path,
        "mine.yaml",
        "sources:\n"
        "  - name: mycorp\n"
        "    rank: 85\n"
        "    map: {mycorp_ns: k8s.namespace.name, mycorp_app: k8s.pod.label.app}\n",
    )
    assert normalize({"mycorp_ns": "shop"}) == {}
    labels.configure([extra])
    assert normalize({"mycorp_ns": "shop", "mycorp_app": "web"}) == {
        "k8s.namespace.name": "shop",
        "k8s.pod.label.app": "web",
    }


def test_user_vocabulary_replaces_a_packaged_source_by_name(tmp_path: Path) -> None:
    extra = _write(
        tmp_path,
        "promtail.yaml",
        "sources:\n  - name: promtail\n    rank: 45\n    domains: [log]\n"
        "    map: {hostname_label: k8s.node.name}\n",
    )
    vocab = load_vocabulary(extra)
    assert normalize_verbose({"node_name": "n1"}, "log", vocab=vocab).labels == {}
    assert normalize_verbose({"hostname_label": "n1"}, "log", vocab=vocab).labels == {
        "k8s.node.name": "n1"
    }
    # load_vocabulary does not install what it loads.
    assert normalize({"node_name": "n1"}, "log") == {"k8s.node.name": "n1"}


def test_a_source_with_when_applies_only_where_a_label_matches(tmp_path: Path) -> None:
    extra = _write(
        tmp_path,
        "argo.yaml",
        "canonical: [k8s.argocd.application.name]\n"
        "sources:\n  - name: argocd\n    rank: 50\n"
        "    when: {__name__: 'argocd_app_.+'}\n"
        "    map: {name: k8s.argocd.application.name}\n",
    )
    labels.configure([extra])
    assert normalize({"__name__": "argocd_app_info", "name": "shop"}, "metric") == {
        "k8s.argocd.application.name": "shop"
    }
    assert normalize({"__name__": "process_cpu_seconds_total", "name": "shop"}, "metric") == {}


def test_exported_labels_of_an_unknown_exporter_keep_target_and_subject_apart() -> None:
    series = {
        "__name__": "haproxy_server_up",
        "namespace": "openshift-ingress",
        "pod": "router-default-6d9f8d7b9c-kx2vq",
        "exported_namespace": "shop",
        "exported_pod": "web-0",
    }
    result = normalize_verbose(series, "metric")
    assert result.labels == {
        "k8s.namespace.name": "openshift-ingress",
        "k8s.pod.name": "router-default-6d9f8d7b9c-kx2vq",
        "subject.k8s.namespace.name": "shop",
        "subject.k8s.pod.name": "web-0",
    }
    assert result.conflicts == ()
    assert result.ignored == {}
    # Logs and traces have no scrape target: exported_* means nothing there.
    assert normalize({"exported_namespace": "shop"}, "log") == {}


def test_raw_keys_name_the_labels_a_query_must_select_by() -> None:
    # kube-state-metrics scraped without honorLabels: the pod is in exported_pod.
    series = {
        "__name__": "kube_pod_info",
        "job": "kube-state-metrics",
        "namespace": "monitoring",
        "pod": "kube-state-metrics-0",
        "exported_namespace": "shop",
        "exported_pod": "web-0",
    }
    result = normalize_verbose(series, "metric")
    assert result.labels == {"k8s.namespace.name": "shop", "k8s.pod.name": "web-0"}
    assert result.raw_keys == {
        "k8s.namespace.name": "exported_namespace",
        "k8s.pod.name": "exported_pod",
    }


def test_user_vocabulary_can_add_a_canonical_key(tmp_path: Path) -> None:
    extra = _write(
        tmp_path,
        "ns-uid.yaml",
        "canonical: [k8s.namespace.uid]\n"
        "sources:\n  - name: viaq-extra\n    rank: 80\n"
        "    map: {kubernetes.namespace_id: k8s.namespace.uid}\n",
    )
    labels.configure([extra])
    assert normalize({"kubernetes.namespace_id": "3828f0f2"}) == {"k8s.namespace.uid": "3828f0f2"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sources: [{name: x, rank: 1, map: {a: not.canonical}}]\n", "not.canonical"),
        ("sources: [{name: x, map: {a: k8s.pod.name}}]\n", "rank"),
        ("scrapers: [{name: s, rank: 1, when: {job: '('}, own: [pod]}]\n", "regular expression"),
        ("sources: [{name: x, rank: 1, when: {job: '['}}]\n", "when.job"),
        ("sources: [{name: x, rank: 1, prefixes: {a_: k8s.pod.name}}]\n", "k8s.pod.label."),
        ("version: 2\n", "version"),
        ("sources: [\n", "not valid YAML"),
    ],
)
def test_bad_user_vocabulary_names_the_file(tmp_path: Path, text: str, expected: str) -> None:
    path = _write(tmp_path, "bad.yaml", text)
    with pytest.raises(ConfigError) as error:
        load_vocabulary(path)
    assert "bad.yaml" in str(error.value)
    assert expected in str(error.value)


def test_missing_user_vocabulary_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nothing\.yaml"):
        labels.configure([tmp_path / "nothing.yaml"])


# --- properties ------------------------------------------------------------------------------

_KNOWN_RAW = sorted(
    {key for key in load_vocabulary().exact}
    | {prefix + "app" for prefix, _ in load_vocabulary().prefixes}
    | {"__name__", "job", "exported_namespace", "alertname", "involvedObject.kind"}
)
_VALUES = st.one_of(
    st.text(),
    st.sampled_from(
        ["", "<none>", "POD", "kube-state-metrics", "ReplicaSet/x", "kube_pod_info", "sha256:ab"]
    ),
)
_LABELS = st.dictionaries(st.one_of(st.sampled_from(_KNOWN_RAW), st.text()), _VALUES)
_DOMAINS = st.sampled_from([None, "metric", "alert", "log", "trace", "event", "nonsense"])


@given(_LABELS, _DOMAINS)
def test_normalize_never_raises_and_returns_only_canonical_keys(
    raw: dict[str, str], domain: str | None
) -> None:
    canonical = labels.vocabulary().canonical
    result = normalize_verbose(raw, domain)
    for key, value in result.labels.items():
        assert key in canonical or key.startswith(labels.POD_LABEL_PREFIX)
        assert isinstance(value, str)
        assert value
    assert normalize(raw, domain) == result.labels


@given(st.dictionaries(st.text(), st.text()))
def test_normalize_never_raises_on_arbitrary_string_maps(raw: dict[str, str]) -> None:
    assert isinstance(normalize(raw), dict)
