"""korrel8.model: classes, queries and refs in korrel8r's syntax."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from korrel8.errors import ParseError, UnknownClassError, UnknownDomainError
from korrel8.model import (
    Class,
    Domain,
    Query,
    SelectorMap,
    domains,
    get_domain,
    is_cypher_label,
    parse_goal,
    ref,
)
from korrel8.querygen import logql_selector, promql_selector, traceql_selector

# --- parsing and the canonical form ------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("k8s:Pod:{namespace: shop, name: db-0}", 'k8s:Pod:{"name":"db-0","namespace":"shop"}'),
        (
            "alert:alert:{alertname: KubePodCrashLooping, namespace: shop}",
            'alert:alert:{"alertname":"KubePodCrashLooping","namespace":"shop"}',
        ),
        (
            "log:application:{namespace: shop, name: web-1}",
            'log:application:{"name":"web-1","namespace":"shop"}',
        ),
        # korrel8r's own doc examples (pkg/domains/*/doc.md)
        (
            'k8s:Pod.v1:{"namespace":"some-namespace", "name":"some-name"}',
            'k8s:Pod:{"name":"some-name","namespace":"some-namespace"}',
        ),
        (
            'k8s:Deployment.v1.apps:{"labels":{"app":"my-application"}, "namespace":"ns" }',
            'k8s:Deployment.apps:{"labels":{"app":"my-application"},"namespace":"ns"}',
        ),
        (
            'alert:alert:[{"alertname":"alert1"},{"alertname":"alert2"}]',
            'alert:alert:[{"alertname":"alert1"},{"alertname":"alert2"}]',
        ),
        (
            'log:infrastructure:{ "namespace": "openshift-kube-apiserver", "containers":["a"]}',
            'log:infrastructure:{"containers":["a"],"namespace":"openshift-kube-apiserver"}',
        ),
        # raw back-end selectors are kept verbatim
        (
            'log:infrastructure:{kubernetes_namespace_name="x", kubernetes_pod_name=~".*-op-.*"}',
            'log:infrastructure:{kubernetes_namespace_name="x", kubernetes_pod_name=~".*-op-.*"}',
        ),
        (
            'metric:metric:kube_pod_info{namespace="observability"}?namespace=observability',
            'metric:metric:kube_pod_info{namespace="observability"}?namespace=observability',
        ),
        ('metric:metric:{"k8s.pod.name"="x"}', 'metric:metric:{"k8s.pod.name"="x"}'),
        ("metric:metric: rate(up[5m]) ", "metric:metric:rate(up[5m])"),
        (
            'trace:span:{resource.k8s.namespace.name="korrel8r"}',
            'trace:span:{resource.k8s.namespace.name="korrel8r"}',
        ),
        ("trace:span:{status=error}", "trace:span:{status=error}"),
        ("trace:span:{span:duration > 1s}", "trace:span:{span:duration > 1s}"),
        (
            "trace:span:a7880cc221e84e0d07b15993358811b7,b7880cc221e84e0d07b15993358811b7",
            "trace:span:a7880cc221e84e0d07b15993358811b7,b7880cc221e84e0d07b15993358811b7",
        ),
        ("k8s:Route.route.openshift.io:{}", "k8s:Route.route.openshift.io:{}"),
    ],
)
def test_parse_gives_the_canonical_form(text: str, canonical: str) -> None:
    query = Query.parse(text)
    assert str(query) == canonical
    assert Query.parse(canonical) == query


def test_map_and_raw_selectors_are_told_apart() -> None:
    assert Query.parse("log:application:{namespace: shop}").selector == {"namespace": "shop"}
    assert Query.parse('log:application:{"namespace": "shop"}').selector == {"namespace": "shop"}
    assert Query.parse("log:application:{}").selector == {}
    assert Query.parse('log:application:{namespace="shop"}').selector == '{namespace="shop"}'


def test_every_scalar_is_a_string() -> None:
    selector = Query.parse("k8s:Pod:{name: 0123, namespace: true, labels: {n: 1.50}}").selector
    assert selector == {"name": "0123", "namespace": "true", "labels": {"n": "1.50"}}
    assert Query.parse('alert:alert:{"count": 1.50}').selector == {"count": "1.50"}


# --- classes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "name", "kind", "group"),
    [
        ("k8s:Pod", "Pod", "Pod", ""),
        ("k8s:Pod.v1", "Pod", "Pod", ""),
        ("k8s:Deployment", "Deployment.apps", "Deployment", "apps"),
        ("k8s:Deployment.v1.apps", "Deployment.apps", "Deployment", "apps"),
        ("k8s:Ingress", "Ingress.networking.k8s.io", "Ingress", "networking.k8s.io"),
        ("k8s:Event", "Event", "Event", ""),
        ("k8s:Event.events.k8s.io", "Event.events.k8s.io", "Event", "events.k8s.io"),
        # korrel8r's versioned spellings; a core class ends with a dot after its version.
        ("k8s:Pod.v1.", "Pod", "Pod", ""),
        ("k8s:Event.v1.", "Event", "Event", ""),
        ("k8s:Event.v1.events.k8s.io", "Event.events.k8s.io", "Event", "events.k8s.io"),
        ("k8s:Node.v1.", "Node", "Node", ""),
        (
            "k8s:DNS.v1.operator.openshift.io",
            "DNS.operator.openshift.io",
            "DNS",
            "operator.openshift.io",
        ),
        (
            "k8s:Route.v1.route.openshift.io",
            "Route.route.openshift.io",
            "Route",
            "route.openshift.io",
        ),
        (
            "k8s:VirtualMachine.kubevirt.io",
            "VirtualMachine.kubevirt.io",
            "VirtualMachine",
            "kubevirt.io",
        ),
    ],
)
def test_k8s_classes(text: str, name: str, kind: str, group: str) -> None:
    cls = Class.parse(text)
    assert (cls.domain, cls.name, cls.kind, cls.group) == ("k8s", name, kind, group)
    assert cls.label == kind


@pytest.mark.parametrize(
    ("text", "label", "domain_label"),
    [
        ("k8s:Pod", "Pod", "K8s"),
        ("k8s:PersistentVolumeClaim", "PersistentVolumeClaim", "K8s"),
        ("k8s:Deployment.apps", "Deployment", "K8s"),
        ("log:application", "Application", "Log"),
        ("log:infrastructure", "Infrastructure", "Log"),
        ("alert:alert", "Alert", "Alert"),
        ("metric:metric", "Metric", "Metric"),
        ("trace:span", "Span", "Trace"),
    ],
)
def test_neo4j_labels(text: str, label: str, domain_label: str) -> None:
    cls = Class.parse(text)
    assert (cls.label, cls.domain_label) == (label, domain_label)


def test_every_known_class_and_domain_has_a_cypher_label() -> None:
    for domain in domains():
        assert is_cypher_label(domain.label)
        for name in domain.classes:
            assert is_cypher_label(Class(domain=domain.name, name=name).label), name


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        ("nope:Pod", UnknownDomainError, "alert, incident, k8s, log, metric, netflow, trace"),
        ("k8s:pod", UnknownClassError, "did you mean k8s:Pod?"),
        ("k8s:Deploymnt.apps", UnknownClassError, "k8s:Deployment.apps"),
        ("k8s:Route", UnknownClassError, "needs its group"),
        # Closest first, named without the version that was written.
        ("k8s:Evnt.v1.", UnknownClassError, "unknown class k8s:Evnt (a custom"),
        ("k8s:Evnt", UnknownClassError, "did you mean k8s:Event or"),
        ("k8s:Pods", UnknownClassError, "did you mean k8s:Pod or"),
        ("k8s:Pod.v1..", ParseError, "ill-formed Kubernetes API group"),
        ("log:app", UnknownClassError, "log:application"),
        ("metric:metrics", UnknownClassError, "metric:metric"),
        ("k8s:my_pod", ParseError, "ill-formed Kubernetes kind"),
        ("k8s:Foo.Not_A_Group", ParseError, "ill-formed Kubernetes API group"),
        ("k8s:", ParseError, "missing class name"),
        ("k8s", ParseError, "DOMAIN:CLASS"),
        ("k8s:Pod:{}", ParseError, "looks like a query"),
    ],
)
def test_bad_classes_say_what_is_wrong(text: str, error: type[Exception], message: str) -> None:
    with pytest.raises(error) as raised:
        Class.parse(text)
    assert message in str(raised.value)


def test_versioned_spellings_are_aliases_and_refs_use_the_canonical_class() -> None:
    versioned = Query.parse("k8s:Deployment.v1.apps:{namespace: shop, name: web}")
    assert str(versioned) == 'k8s:Deployment.apps:{"name":"web","namespace":"shop"}'
    selector = {"namespace": "shop", "name": "web-1.17a2b"}
    assert ref("k8s:Event.v1.", selector, "c1") == ref("k8s:Event", selector, "c1")
    assert ref("k8s:Event.v1.", selector, "c1").startswith("k8s:Event:{")
    assert ref("k8s:Event.v1.events.k8s.io", selector, "c1").startswith("k8s:Event.events.k8s.io:{")


def test_an_unknown_well_formed_crd_class_is_allowed() -> None:
    assert (
        str(Class.parse("k8s:Kibana.kibana.k8s.elastic.co")) == "k8s:Kibana.kibana.k8s.elastic.co"
    )


def test_parse_goal_takes_a_bare_domain_or_a_class() -> None:
    assert parse_goal("log") == get_domain("log")
    assert isinstance(parse_goal("log"), Domain)
    assert parse_goal("log:audit") == Class(domain="log", name="audit")


# --- errors name the position ---------------------------------------------------------------


def _column(message: str) -> tuple[int, int]:
    match = re.search(r"line (\d+), column (\d+)", message)
    assert match, message
    return int(match[1]), int(match[2])


@pytest.mark.parametrize(
    ("text", "message", "line", "column"),
    [
        ("k8s:Pod:{namespace: [shop}", "malformed selector", 1, 26),
        ("k8s:Pod:{namespace: shop, namespace: x}", "duplicate key 'namespace'", 1, 27),
        ("k8s:Pod:\n{namespace: shop,\n name: [x}", "malformed selector", 3, 10),
        ("k8s:Pod:{nmae: x}", "did you mean 'name'", 1, 9),
        ("k8s:Pod:", "empty selector", 1, 9),
        ("k8s:Pod", "missing selector", 1, 8),
        ("nope:Pod:{}", "unknown domain 'nope'", 1, 1),
        ("k8s:Pood:{}", "unknown class k8s:Pood", 1, 5),
        ('k8s:Pod:{namespace="x"}', "k8s selectors are YAML/JSON maps", 1, 9),
        ("alert:alert:up{job='x'}", "alert selectors are YAML/JSON maps", 1, 13),
        ("k8s:Pod:{namespace: {a: [b]}}", "too deep", 1, 9),
        ("k8s:Pod:{namespace: }", "'namespace' has no value", 1, 9),
        ("alert:alert:[a, b]", "a list selector holds maps only", 1, 13),
        ("k8s:Pod:[{name: a}]", "list selector is not allowed", 1, 9),
        ("k8s:Pod:{labels: x}", "'labels' must be a map", 1, 9),
    ],
)
def test_malformed_queries_name_what_and_where(
    text: str, message: str, line: int, column: int
) -> None:
    with pytest.raises(ParseError) as raised:
        Query.parse(text)
    assert message in str(raised.value)
    assert _column(str(raised.value)) == (line, column)


def test_unknown_selector_keys_list_the_allowed_ones() -> None:
    with pytest.raises(ParseError, match="allowed keys: cluster, fields, labels, name, namespace"):
        Query.parse("k8s:Pod:{pod: x}")


def test_a_k8s_selector_is_never_a_raw_string() -> None:
    with pytest.raises(ParseError, match="maps, not query strings"):
        Query(class_=Class.parse("k8s:Pod"), selector='{namespace="x"}')


# --- refs ----------------------------------------------------------------------------------


def test_ref_is_the_canonical_query_with_the_cluster() -> None:
    pod = ref("k8s:Pod", {"namespace": "shop", "name": "db-0"}, cluster="prod")
    assert pod == 'k8s:Pod:{"cluster":"prod","name":"db-0","namespace":"shop"}'
    assert Query.parse(pod).cluster == "prod"
    assert str(Query.parse(pod)) == pod


def test_ref_leaves_out_empty_keys_of_cluster_scoped_objects() -> None:
    node = ref(Class.parse("k8s:Node"), {"namespace": None, "name": "n1"}, cluster="prod")
    assert node == 'k8s:Node:{"cluster":"prod","name":"n1"}'


def test_ref_needs_a_cluster() -> None:
    with pytest.raises(ValueError, match="cluster"):
        ref("k8s:Pod", {"name": "x"}, cluster="")


def test_ref_keeps_non_ascii_readable() -> None:
    assert ref("alert:alert", {"summary": "höhe"}, cluster="c") == (
        'alert:alert:{"cluster":"c","summary":"höhe"}'
    )


def test_equal_queries_hash_alike() -> None:
    a = Query.parse("k8s:Pod:{namespace: shop, name: db-0}")
    b = Query.parse('k8s:Pod:{"name": "db-0", "namespace": "shop"}')
    assert a == b
    assert len({a, b}) == 1


# --- properties ------------------------------------------------------------------------------

_TEXT = st.text()
_STRING_MAPS = st.dictionaries(_TEXT, _TEXT, max_size=4)
_K8S_SELECTORS = st.fixed_dictionaries(
    {},
    optional={
        "cluster": _TEXT,
        "namespace": _TEXT,
        "name": _TEXT,
        "labels": _STRING_MAPS,
        "fields": _STRING_MAPS,
    },
)
_K8S_CLASSES = st.sampled_from(
    ["k8s:Pod", "k8s:Deployment.apps", "k8s:Node", "k8s:Route.route.openshift.io"]
)


@given(_K8S_CLASSES, _K8S_SELECTORS)
def test_k8s_queries_round_trip(class_text: str, selector: SelectorMap) -> None:
    query = Query(class_=Class.parse(class_text), selector=selector)
    text = str(query)
    assert Query.parse(text) == query
    assert str(Query.parse(text)) == text


@given(st.one_of(_STRING_MAPS, st.lists(_STRING_MAPS, min_size=1, max_size=3)))
def test_alert_queries_round_trip(selector: SelectorMap | list[SelectorMap]) -> None:
    query = Query(class_=Class.parse("alert:alert"), selector=selector)
    assert Query.parse(str(query)) == query


_CANONICAL = st.fixed_dictionaries(
    {"k8s.namespace.name": st.text(min_size=1)},
    optional={"k8s.pod.name": st.text(min_size=1), "k8s.container.name": st.text(min_size=1)},
)


@given(_CANONICAL, st.sampled_from(["viaq", "promtail", "otel"]))
def test_raw_log_queries_round_trip(labels: dict[str, str], convention: str) -> None:
    query = Query(class_=Class.parse("log:audit"), selector=logql_selector(labels, convention))
    assert Query.parse(str(query)) == query


@given(_CANONICAL)
def test_raw_metric_and_trace_queries_round_trip(labels: dict[str, str]) -> None:
    for text in (
        f"metric:metric:{promql_selector(labels, 'kube_pod_info')}",
        f"metric:metric:{promql_selector(labels)}",
        f"trace:span:{traceql_selector(labels)}",
    ):
        assert str(Query.parse(text)) == text


@given(_K8S_CLASSES, _TEXT, _TEXT, st.text(min_size=1))
def test_refs_round_trip(class_text: str, namespace: str, name: str, cluster: str) -> None:
    text = ref(class_text, {"namespace": namespace, "name": name}, cluster=cluster)
    assert str(Query.parse(text)) == text
    assert Query.parse(text).cluster == cluster
