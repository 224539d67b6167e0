"""Prometheus' exported_* labels end to end: an alert about one namespace, scraped from a pod
in another, is stored under its scrape target and linked to both, each by its own rule."""

from __future__ import annotations

import pytest

from ingest import alerts, metrics
from korrel8 import rules
from korrel8.correlate import Korrel8
from korrel8.graph.rows import NodeRow
from korrel8.graph.store import Store, utcnow
from korrel8.model import Class, ref
from korrel8.rules import runner

OLM_NS = "openshift-operator-lifecycle-manager"
OLM_POD = "olm-operator-5d7c8c6b8d-9xk2p"
CSV = "k8s:ClusterServiceVersion.operators.coreos.com"
# tests/data/labelsets.yaml, row olm-CsvAbnormalFailedOver2Min-exported-namespace (issue 13).
OLM_ALERT = {
    "alertname": "CsvAbnormalFailedOver2Min",
    "severity": "warning",
    "namespace": OLM_NS,
    "pod": OLM_POD,
    "container": "olm-operator",
    "endpoint": "https-metrics",
    "service": "olm-operator-metrics",
    "instance": "10.130.0.23:8443",
    "exported_namespace": "cfe-test-namespace",
    "name": "etcdoperator.v0.9.4",
    "version": "0.9.4",
    "phase": "Failed",
    "reason": "UnsupportedOperatorGroup",
}
START = f"alert:alert:{{namespace: {OLM_NS}, pod: {OLM_POD}}}"


def k8s(cls: str, namespace: str | None, name: str) -> NodeRow:
    parsed = Class.parse(cls)
    return NodeRow.model_validate(
        {
            "ref": ref(parsed, {"namespace": namespace, "name": name}, "c1"),
            "domain": "k8s",
            "class": parsed.name,
            "source": "test",
            "cluster": "c1",
            "namespace": namespace,
            "name": name,
            "properties": {"kind": parsed.kind},
        }
    )


def csv_abnormal(name: str) -> dict[str, str]:
    # The series the alert fired on, and one of another CSV from the same OLM pod.
    labels = {k: v for k, v in OLM_ALERT.items() if k not in ("alertname", "severity")}
    return {**labels, "__name__": "csv_abnormal", "name": name, "job": "olm-operator-metrics"}


@pytest.fixture
def olm_graph(store: Store) -> Store:
    expr = 'csv_abnormal{phase=~"^Failed$"}'
    alert = alerts.Alert(labels=OLM_ALERT, state="firing", starts_at=utcnow(), expr=expr)
    subjects: dict[tuple[tuple[str, str], ...], metrics.Subject] = {}
    metrics.fold_series([csv_abnormal("etcdoperator.v0.9.4"), csv_abnormal("other.v1")], subjects)
    store.upsert_nodes(
        [
            alerts.to_row(alert, "c1"),
            *metrics.to_rows(subjects.values(), "c1"),
            k8s("k8s:Pod", OLM_NS, OLM_POD),
            k8s("k8s:Namespace", None, OLM_NS),
            k8s("k8s:Namespace", None, "cfe-test-namespace"),
            k8s(CSV, "cfe-test-namespace", "etcdoperator.v0.9.4"),
            k8s(CSV, OLM_NS, "etcdoperator.v0.9.4"),  # same name, not the subject's
        ]
    )
    # Every rule from an alert: all that a depth-1 search from one can follow.
    from_alerts = [r for r in rules.load() if rules.domain_of(r.start_classes).name == "alert"]
    runner.apply(store, from_alerts, full=True)
    return store


def test_the_alert_is_stored_under_its_scrape_target() -> None:
    row = alerts.to_row(alerts.Alert(labels=OLM_ALERT, state="firing", starts_at=None), "c1")
    assert row.namespace == OLM_NS
    assert row.properties["k8s.namespace.name"] == OLM_NS
    assert row.properties["k8s.pod.name"] == OLM_POD
    assert row.properties["subject.k8s.namespace.name"] == "cfe-test-namespace"
    assert row.properties["k8s.clusterserviceversion.name"] == "etcdoperator.v0.9.4"


@pytest.mark.parametrize(
    ("goal", "found", "rule"),
    [
        ("k8s:Pod", (OLM_NS, OLM_POD), "alert-pod"),
        ("k8s:Namespace", (None, "cfe-test-namespace"), "alert-exported-namespace"),
        (CSV, ("cfe-test-namespace", "etcdoperator.v0.9.4"), "alert-csv"),
        ("metric:metric", (OLM_NS, f"{OLM_POD}/olm-operator"), "alert-metric"),
    ],
)
def test_the_target_pod_and_the_subject_are_each_reached_by_their_own_rule(
    olm_graph: Store, goal: str, found: tuple[str | None, str], rule: str
) -> None:
    # The start selector names the target's namespace and pod, as the alert's labels do.
    result = Korrel8(olm_graph).goals(START, goal, depth=1)
    assert [(g.namespace, g.name) for g in result.goals] == [found]
    if goal == "metric:metric":  # the series the alert fired on, not the other CSV's
        assert result.goals[0].properties["k8s.clusterserviceversion.name"] == OLM_ALERT["name"]
    assert [p.rules for p in result.paths if p.end == result.goals[0].ref] == [(rule,)]
