"""Incidents from a real Prometheus scraping cluster-health-analyzer-style series (through
the Pushgateway), linked to the real alerts they group."""

from __future__ import annotations

import time

from ingest import alerts, incidents
from korrel8 import rules
from korrel8.graph.store import Store
from korrel8.rules import runner as rule_runner
from tests.graph import edges, nodes
from tests.servers.prom import PromStack, exposition, wait_until

ANALYZER = ("cluster-health-analyzer", "10.128.2.17:8443")
SCRAPE_WAIT = 30.0
ALERT_WAIT = 30.0
CRASH = "3b2ed5d1-94b9-4e5c-a3a1-7a3c1d7a6d0f"
DISK = "9f1c2a47-3c55-4a4e-b3c4-0c1b1e0f2d8e"
RULES = [r for r in rules.load() if r.name in {"alert-to-incident", "incident-to-alert"}]


def components(*groups: str) -> str:
    """The analyzer's series: per incident an alert component and the layer it touches."""
    samples = []
    if CRASH in groups:
        samples += [
            ("cluster_health_components_map",
             {"group_id": CRASH, "type": "alert", "src_alertname": "IncidentCrashLooping",
              "src_namespace": "shop", "src_severity": "warning", "layer": "compute",
              "component": "shop"}, 1),
            ("cluster_health_components_map",
             {"group_id": CRASH, "type": "k8s", "src_namespace": "shop", "layer": "compute",
              "component": "shop"}, 1),
        ]  # fmt: skip
    if DISK in groups:
        samples.append(
            ("cluster_health_components_map",
             {"group_id": DISK, "type": "alert", "src_alertname": "IncidentDiskFilling",
              "src_namespace": "db", "src_severity": "critical", "layer": "storage",
              "component": "db"}, 2),
        )  # fmt: skip
    return exposition(*samples)


def incident_nodes(store: Store) -> dict[str, dict[str, object]]:
    return {n["name"]: n for n in nodes(store).values() if n["class"] == "incident"}


def test_incidents_link_to_the_alerts_they_group(prom: PromStack, store: Store) -> None:
    prom.push(*ANALYZER, components(CRASH, DISK))
    try:
        check_incidents(prom, store)
    finally:  # resolved, so that the next test starts with no alert
        for labels in POSTED:
            prom.post_alert(labels, time.time() - 120, time.time() - 1)


# The incident's alert, the same alert elsewhere (another namespace), and the disk one.
POSTED = [
    {"alertname": "IncidentCrashLooping", "namespace": "shop", "pod": "web-1",
     "severity": "warning"},
    {"alertname": "IncidentCrashLooping", "namespace": "other", "pod": "web-1",
     "severity": "warning"},
    {"alertname": "IncidentDiskFilling", "namespace": "db", "persistentvolumeclaim": "data-db-0",
     "severity": "critical"},
]  # fmt: skip


def check_incidents(prom: PromStack, store: Store) -> None:
    now = time.time()
    for labels in POSTED:
        prom.post_alert(labels, now - 60, now + 600)
    wait_until(
        lambda: len(prom.query('cluster_health_components_map{type="alert"}')) == 2,
        SCRAPE_WAIT,
        "the analyzer's series",
    )
    wait_until(
        lambda: (
            len([a for a in prom.am_alerts() if a["labels"]["alertname"].startswith("Inc")]) == 3
        ),
        ALERT_WAIT,
        "the alerts",
    )

    summary = incidents.ingest(store, prom.prometheus())
    assert summary.ok, summary.errors
    assert summary.objects["incident:incident"] == 2
    got = incident_nodes(store)
    assert set(got) == {CRASH, DISK}
    crash = got[CRASH]
    assert crash["alertnames"] == ["IncidentCrashLooping"]
    assert crash["alert_label_sets"] == [
        "alertname=IncidentCrashLooping\nnamespace=shop\nseverity=warning"
    ]
    assert crash["components"] == ["compute/shop"]
    assert crash["promql"] == f'cluster_health_components_map{{group_id="{CRASH}"}}'
    assert prom.query(str(crash["promql"]))  # it fetches the incident's series

    assert alerts.ingest(store, prom.alertmanager(), prom.prometheus()).ok
    rule_runner.apply(store, RULES, full=True)

    def ns(ref: str) -> str:
        return ref.split('"namespace":"')[1].split('"')[0] if '"namespace"' in ref else ref

    linked = {
        (p["rule"], ns(a) if "alert:" in a else a.split('"id":"')[1][:8],
         ns(b) if "alert:" in b else b.split('"id":"')[1][:8])
        for (a, _, b), p in edges(store).items()
    }  # fmt: skip
    assert linked == {
        ("alert-to-incident", "shop", CRASH[:8]),
        ("incident-to-alert", CRASH[:8], "shop"),
        ("alert-to-incident", "db", DISK[:8]),
        ("incident-to-alert", DISK[:8], "db"),
    }

    # The disk incident is over: the analyzer no longer exports it, and it is swept.
    prom.push(*ANALYZER, components(CRASH))
    wait_until(
        lambda: len(prom.query('cluster_health_components_map{type="alert"}')) == 1,
        SCRAPE_WAIT,
        "the disk incident to go",
    )
    summary = incidents.ingest(store, prom.prometheus())
    assert summary.ok and summary.deleted == 1
    assert incident_nodes(store)[DISK].get("deleted_at") is not None
    assert incident_nodes(store)[CRASH].get("deleted_at") is None


def test_a_failing_prometheus_is_reported_and_incidents_are_kept(
    prom: PromStack, store: Store
) -> None:
    prom.push(*ANALYZER, components(CRASH))
    wait_until(
        lambda: prom.query("cluster_health_components_map"), SCRAPE_WAIT, "the analyzer's series"
    )
    assert incidents.ingest(store, prom.prometheus()).ok
    down = prom.prometheus(url="http://127.0.0.1:9")
    summary = incidents.ingest(store, down)
    assert not summary.ok and "prometheus" in summary.errors[0]
    assert incident_nodes(store)[CRASH].get("deleted_at") is None
