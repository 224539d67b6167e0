"""korrel8.querygen: LogQL, PromQL and TraceQL selectors from canonical labels."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from korrel8.errors import ConfigError, QueryGenerationError
from korrel8.querygen import (
    LogConvention,
    go_quote,
    logql_selector,
    promql_selector,
    subject_keys,
    traceql_selector,
)

POD = {
    "k8s.cluster.name": "prod",
    "k8s.namespace.name": "shop",
    "k8s.pod.name": "web-1",
    "k8s.container.name": "web",
    "k8s.node.name": "worker-1",
    "k8s.pod.uid": "6f9a",
    "k8s.replicaset.name": "web-7d4b9c8f6",
    "k8s.pod.label.app.kubernetes.io/name": "web",
}

# --- an independent reader for what the generators write ---------------------------------

_SIMPLE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    '"': '"',
}


def go_unquote(text: str, start: int) -> tuple[str, int]:
    """Read a Go double-quoted literal at ``text[start]``; return (value, end)."""
    assert text[start] == '"', text[start:]
    out: list[str] = []
    i = start + 1
    while True:
        char = text[i]
        assert char != "\n", "raw newline inside a string literal"
        if char == '"':
            return "".join(out), i + 1
        if char != "\\":
            out.append(char)
            i += 1
            continue
        kind = text[i + 1]
        if kind in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[kind])
            i += 2
        elif kind in "uU":
            width = 4 if kind == "u" else 8
            code = int(text[i + 2 : i + 2 + width], 16)
            assert not 0xD800 <= code <= 0xDFFF, "Go rejects surrogate escapes"
            out.append(chr(code))
            i += 2 + width
        else:
            raise AssertionError(f"unknown escape \\{kind}")


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")


def read_matchers(selector: str, separator: str) -> list[tuple[str, str]]:
    """Parse ``{name="v"<sep>name="v"}`` (names may be quoted); the whole text must match."""
    matchers, end = _read_braces(selector, separator)
    assert end == len(selector), f"trailing text in {selector!r}"
    return matchers


def read_logql(query: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """A stream selector and its `| json` / `| name="v"` stages: (matchers, filters)."""
    matchers, i = _read_braces(query, ", ")
    filters: list[tuple[str, str]] = []
    while i < len(query):
        assert query.startswith(" | ", i), query[i:]
        i += 3
        if query.startswith("json", i):
            i += 4
            continue
        match = _NAME.match(query, i)
        assert match and query[match.end()] == "=", query[i:]
        value, i = go_unquote(query, match.end() + 1)
        filters.append((match[0], value))
    return matchers, filters


def _read_braces(selector: str, separator: str) -> tuple[list[tuple[str, str]], int]:
    assert selector.startswith("{"), selector
    matchers: list[tuple[str, str]] = []
    i = 1
    while selector[i] != "}":
        if selector[i] == '"':
            name, i = go_unquote(selector, i)
        else:
            match = _NAME.match(selector, i)
            assert match, selector[i:]
            name, i = match[0], match.end()
        assert selector[i] == "=", selector[i:]
        value, i = go_unquote(selector, i + 1)
        matchers.append((name, value))
        if selector.startswith(separator, i):
            i += len(separator)
    return matchers, i + 1


# --- examples ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("convention", "expected"),
    [
        (
            "viaq",
            '{kubernetes_namespace_name="shop", kubernetes_pod_name="web-1",'
            ' kubernetes_container_name="web"}',
        ),
        ("promtail", '{namespace="shop", pod="web-1", container="web"}'),
        ("otel", '{k8s_namespace_name="shop", k8s_pod_name="web-1", k8s_container_name="web"}'),
    ],
)
def test_logql_stream_selector_per_convention(convention: str, expected: str) -> None:
    assert logql_selector(POD, convention) == expected


def test_logql_cluster_and_log_type_follow_the_convention() -> None:
    assert logql_selector(POD, "promtail", cluster=True) == (
        '{cluster="prod", namespace="shop", pod="web-1", container="web"}'
    )
    assert logql_selector(POD, "otel", cluster=True).startswith('{k8s_cluster_name="prod", ')
    # LokiStack keeps one cluster per store: ViaQ has no cluster label.
    assert "prod" not in logql_selector(POD, "viaq", cluster=True)
    assert logql_selector(POD, "viaq", log_type="audit").endswith(', log_type="audit"}')
    assert "audit" not in logql_selector(POD, "promtail", log_type="audit")


def test_logql_pod_label_filters() -> None:
    assert logql_selector(POD, "viaq", pod_labels=True).endswith(
        '} | json | kubernetes_labels_app_kubernetes_io_name="web"'
    )
    assert logql_selector(POD, "otel", pod_labels=True).endswith(
        '} | k8s_pod_label_app_kubernetes_io_name="web"'
    )
    assert logql_selector(POD, "promtail", pod_labels=True).endswith('container="web"}')


def test_logql_custom_convention() -> None:
    mine = LogConvention(name="mine", stream_labels={"k8s.namespace.name": "ns"})
    assert logql_selector(POD, mine) == '{ns="shop"}'


def test_logql_unknown_convention_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="otel, promtail, viaq"):
        logql_selector(POD, "fluentd")


def test_logql_needs_a_namespace_or_pod() -> None:
    with pytest.raises(QueryGenerationError, match="no namespace or pod"):
        logql_selector({"k8s.node.name": "worker-1"})


@pytest.mark.parametrize(
    ("labels", "metric", "expected"),
    [
        (POD, "kube_pod_info", 'kube_pod_info{namespace="shop", pod="web-1", container="web"}'),
        (
            {"k8s.namespace.name": "shop", "k8s.deployment.name": "web"},
            "kube_deployment_status_replicas",
            'kube_deployment_status_replicas{namespace="shop", deployment="web"}',
        ),
        (
            {"k8s.namespace.name": "ns1", "k8s.job.name": "job1", "k8s.cronjob.name": "c"},
            None,
            '{namespace="ns1", job_name="job1"}',
        ),
        (
            {"k8s.node.name": "minikube", "k8s.namespace.name": "monitoring"},
            "kube_node_info",
            'kube_node_info{node="minikube"}',
        ),
        (
            {"k8s.persistentvolume.name": "pv-1", "k8s.namespace.name": "default"},
            None,
            '{persistentvolume="pv-1"}',
        ),
        ({"k8s.namespace.name": "shop"}, None, '{namespace="shop"}'),
        (  # the OLM operator's series about a CSV in another namespace (exported_namespace)
            {
                "k8s.namespace.name": "openshift-operator-lifecycle-manager",
                "k8s.pod.name": "olm-operator-5d7c8c6b8d-9xk2p",
                "k8s.container.name": "olm-operator",
                "subject.k8s.namespace.name": "cfe-test-namespace",
                "k8s.clusterserviceversion.name": "etcdoperator.v0.9.4",
            },
            "csv_succeeded",
            'csv_succeeded{namespace="openshift-operator-lifecycle-manager", '
            'pod="olm-operator-5d7c8c6b8d-9xk2p", container="olm-operator", '
            'exported_namespace="cfe-test-namespace", name="etcdoperator.v0.9.4"}',
        ),
        (  # the DCGM exporter's series about a GPU workload's container
            {
                "k8s.namespace.name": "gpu",
                "k8s.pod.name": "nvidia-dcgm-exporter-7mqjg",
                "subject.k8s.namespace.name": "default",
                "subject.k8s.pod.name": "trainer-0",
                "subject.k8s.container.name": "main",
            },
            None,
            '{namespace="gpu", pod="nvidia-dcgm-exporter-7mqjg", exported_namespace="default", '
            'exported_pod="trainer-0", exported_container="main"}',
        ),
        (  # only the subject: an alert aggregated by exported_namespace
            {"subject.k8s.namespace.name": "shop", "subject.k8s.container.name": "app"},
            None,
            '{exported_namespace="shop"}',
        ),
        ({}, "up", "up"),
        (
            {"k8s.namespace.name": "shop"},
            "k8s.pod.cpu.time",
            '{"k8s.pod.cpu.time", namespace="shop"}',
        ),
    ],
)
def test_promql_selects_the_most_specific_object(
    labels: dict[str, str], metric: str | None, expected: str
) -> None:
    assert promql_selector(labels, metric) == expected


def test_promql_cluster_only_when_asked() -> None:
    assert promql_selector(POD, cluster=True).startswith('{cluster="prod", namespace="shop"')


def test_promql_needs_something_to_select() -> None:
    with pytest.raises(QueryGenerationError):
        promql_selector({"k8s.pod.label.app": "web"})


def test_traceql_matches_namespace_and_pod_on_the_resource() -> None:
    assert traceql_selector(POD) == (
        '{resource.k8s.namespace.name="shop" && resource.k8s.pod.name="web-1"}'
    )
    assert traceql_selector({"k8s.namespace.name": "shop", "k8s.deployment.name": "web"}) == (
        '{resource.k8s.namespace.name="shop" && resource.k8s.deployment.name="web"}'
    )
    assert traceql_selector(POD, cluster=True).startswith('{resource.k8s.cluster.name="prod" && ')
    with pytest.raises(QueryGenerationError):
        traceql_selector({})


def test_subject_keys() -> None:
    assert subject_keys(POD) == ["k8s.namespace.name", "k8s.pod.name", "k8s.container.name"]
    assert subject_keys(POD, cluster=True, container=False) == [
        "k8s.cluster.name",
        "k8s.namespace.name",
        "k8s.pod.name",
    ]
    exported = {**POD, "subject.k8s.namespace.name": "shop", "subject.k8s.pod.name": "db-0"}
    assert subject_keys(exported)[-2:] == ["subject.k8s.namespace.name", "subject.k8s.pod.name"]
    assert subject_keys(exported, exported=False) == subject_keys(POD)


def test_traceql_never_matches_exported_keys() -> None:
    # Spans have no scrape target; a subject key is not a resource attribute.
    labels = {**POD, "subject.k8s.namespace.name": "other"}
    assert "subject" not in traceql_selector(labels)


def test_hostile_values_are_escaped() -> None:
    nasty = 'a"b\\c\nd\te\x00f\u2028g'
    assert go_quote(nasty) == '"a\\"b\\\\c\\nd\\te\\u0000f\\u2028g"'
    assert go_quote("\ud800") == '"\\ufffd"'


# --- properties ------------------------------------------------------------------------------

_HOSTILE = st.text(
    alphabet=st.one_of(
        st.sampled_from('"\\\n\r\t`{}=,&|'), st.characters(exclude_categories=["Cs"])
    ),
    min_size=1,
)
_LABELS = st.fixed_dictionaries(
    {"k8s.namespace.name": _HOSTILE},
    optional={
        "k8s.cluster.name": _HOSTILE,
        "k8s.pod.name": _HOSTILE,
        "k8s.container.name": _HOSTILE,
        "k8s.pod.label.app.kubernetes.io/name": _HOSTILE,
    },
)


@given(st.text(alphabet=st.characters(exclude_categories=["Cs"])))
def test_go_quote_round_trips(value: str) -> None:
    quoted = go_quote(value)
    assert "\n" not in quoted
    assert go_unquote(quoted, 0) == (value, len(quoted))


@given(_LABELS, st.sampled_from(["viaq", "promtail", "otel"]), st.booleans())
def test_logql_stays_valid_with_hostile_values(
    labels: dict[str, str], convention: str, cluster: bool
) -> None:
    values = [value for _, value in read_matchers(logql_selector(labels, convention), ", ")]
    stream_keys = ["k8s.namespace.name", "k8s.pod.name", "k8s.container.name"]
    assert values == [labels[key] for key in stream_keys if key in labels]
    with_cluster = read_matchers(logql_selector(labels, convention, cluster=cluster), ", ")
    has_cluster = cluster and convention != "viaq" and "k8s.cluster.name" in labels
    assert len(with_cluster) == len(values) + has_cluster
    _, filters = read_logql(logql_selector(labels, convention, pod_labels=True))
    pod_label = labels.get("k8s.pod.label.app.kubernetes.io/name")
    expected = [] if pod_label is None or convention == "promtail" else [pod_label]
    assert [value for _, value in filters] == expected


@given(_LABELS, st.booleans())
def test_promql_stays_valid_with_hostile_values(labels: dict[str, str], cluster: bool) -> None:
    matchers = read_matchers(promql_selector(labels, cluster=cluster), ", ")
    assert [value for _, value in matchers] == [
        labels[key] for key in subject_keys(labels, cluster=cluster)
    ]


@given(_LABELS, st.booleans())
def test_traceql_stays_valid_with_hostile_values(labels: dict[str, str], cluster: bool) -> None:
    matchers = read_matchers(traceql_selector(labels, cluster=cluster), " && ")
    keys = subject_keys(labels, cluster=cluster, container=False)
    assert matchers == [(f"resource.{key}", labels[key]) for key in keys]
