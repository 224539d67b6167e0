"""Alerts from Alertmanager (and, where configured, Prometheus' pending alerts and rules).

One :Alert node per alert instance, that is per label set (Alertmanager's fingerprint):

- ``/api/v2/alerts`` of Alertmanager: active, silenced and inhibited alerts, with their
  state (``firing``, ``silenced``, ``inhibited``) and who silences or inhibits them.
- ``/api/v1/rules`` of Prometheus, if its URL is configured: each alerting rule's expression
  and its ``pending`` alerts (which never reach Alertmanager). Prometheus adds its external
  labels to an alert only when it sends it, so they are added here too (read from
  ``/api/v1/status/config``) before the fingerprint is computed; without them a pending
  alert and the same alert firing in Alertmanager would be two nodes.

Saved answers (a snapshot's files, see ingest/snapshot.py) go through the same conversions:
:func:`saved_alerts` reads Alertmanager's ``/api/v2/alerts`` and Prometheus'
``/api/v1/rules`` (the rules' pending and firing alerts, each with its rule's ``query`` as
``expr``) and ``/api/v1/alerts`` (the same alerts, without expressions).

Alerts are history, not inventory: an alert that no longer appears is not swept but
rewritten with ``state: resolved`` and ``ends_at`` = the time this ingester saw it gone
(Alertmanager's API hides resolved alerts, so the exact end is not available), and only
after a run in which every configured source answered.

Node: class ``alert:alert``; ref selector = the alert's labels (korrel8r's alert selector,
so the ref is a query korrel8r answers), cluster = the alert's own cluster label if it has
one (a hub Alertmanager gathers many clusters), else the source's configured cluster.
Properties: canonical labels (``k8s.namespace.name``...), ``raw_labels`` and
``annotations`` (``key=value`` lists), ``alertname``, ``fingerprint``, ``state``,
``starts_at``, ``ends_at``, ``generator_url``, ``expr`` (the rule's expression, from
Prometheus or else from the generator URL), ``silenced_by``, ``inhibited_by``,
``receivers``, and ``source_cluster``: the configured cluster of the Alertmanager that
reported it, which scopes the resolution of vanished alerts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, LiteralString, TypeVar
from urllib.parse import parse_qs, urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ingest import status as status_rules
from ingest.http import HttpSource, connect
from ingest.metrics import label_properties, raw_label_list
from ingest.summary import Summary
from korrel8.config import HttpSourceSettings
from korrel8.errors import ConfigError, SnapshotFormatError, SourceError
from korrel8.graph.rows import NODE_FIELDS, NODE_META, NodeRow, PropertyValue
from korrel8.graph.store import Store, utcnow
from korrel8.labels import normalize
from korrel8.model import Class, ref

__all__ = [
    "CLASS",
    "SOURCE",
    "Alert",
    "Saved",
    "external_labels",
    "fingerprint",
    "from_alertmanager",
    "from_prometheus",
    "ingest",
    "list_alertmanager_alerts",
    "list_rule_alerts",
    "merge",
    "resolved_rows",
    "rule_alerts",
    "saved_alerts",
    "to_row",
]

log = logging.getLogger(__name__)
_M = TypeVar("_M", bound=BaseModel)

SOURCE = "alertmanager"
ALERTMANAGER, PROMETHEUS = "alertmanager", "prometheus"  # who gave a saved answer
ACTIVE_STATES = frozenset({"pending", "firing"})  # Prometheus' states that are alerts
CLASS = Class(domain="alert", name="alert")
RESOLVED = "resolved"

# Open alerts of one Alertmanager, read back to be resolved. (Belongs in cypher/queries/
# once that directory has an owner for ingest reads; the text is constant, values are
# parameters.)
OPEN_ALERTS: LiteralString = (
    "MATCH (n:Alert) WHERE n.source = $source AND n.source_cluster = $source_cluster "
    "AND n.state <> $resolved AND n.deleted_at IS NULL "
    "RETURN n.ref AS ref, properties(n) AS props"
)


# --- the sources' shapes ---------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class _AmStatus(_Model):
    state: str
    silenced_by: list[str] = Field(default_factory=list, alias="silencedBy")
    inhibited_by: list[str] = Field(default_factory=list, alias="inhibitedBy")


class _AmReceiver(_Model):
    name: str


class AmAlert(_Model):
    """One alert of Alertmanager's ``/api/v2/alerts``."""

    fingerprint: str
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: datetime = Field(alias="startsAt")
    generator_url: str | None = Field(default=None, alias="generatorURL")
    status: _AmStatus
    receivers: list[_AmReceiver] = Field(default_factory=list)


class _AmAlerts(_Model):
    alerts: list[AmAlert]


class _RuleAlert(_Model):
    """One alert of Prometheus: in a rule of ``/api/v1/rules``, or of ``/api/v1/alerts``."""

    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    state: str  # pending | firing (Prometheus lists no inactive alert, but a file may)
    active_at: datetime | None = Field(default=None, alias="activeAt")


class _Rule(_Model):
    # Prometheus before 2.6 had no type; only alerting rules ever have alerts.
    type: str = "alerting"
    name: str
    query: str = ""
    alerts: list[_RuleAlert] = Field(default_factory=list)


class _RuleGroup(_Model):
    name: str
    rules: list[_Rule]


class _RulesData(_Model):
    groups: list[_RuleGroup]


class _RulesAnswer(_Model):
    status: str
    data: _RulesData


class _AlertsData(_Model):
    alerts: list[_RuleAlert]


class _AlertsAnswer(_Model):
    """Prometheus' ``/api/v1/alerts``: its pending and firing alerts, without expressions."""

    status: str
    data: _AlertsData


class _ConfigData(_Model):
    yaml_text: str = Field(alias="yaml")


class _ConfigAnswer(_Model):
    status: str
    data: _ConfigData


# --- one alert instance ----------------------------------------------------------------


@dataclass(frozen=True)
class Alert:
    """One alert instance as korrel8 keeps it, merged from Alertmanager and Prometheus."""

    labels: dict[str, str]
    state: str  # pending | firing | silenced | inhibited
    starts_at: datetime | None
    annotations: dict[str, str] = field(default_factory=dict)
    generator_url: str | None = None
    expr: str | None = None
    silenced_by: tuple[str, ...] = ()
    inhibited_by: tuple[str, ...] = ()
    receivers: tuple[str, ...] = ()

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.labels)


# Prometheus' model.LabelSet.Fingerprint: FNV-1a 64 over the sorted label names and
# values, each followed by the byte 255. Alertmanager's alert fingerprint is the same.
_FNV_OFFSET = 14695981039346656037
_FNV_PRIME = 1099511628211
_SEPARATOR = 255
_MASK = (1 << 64) - 1


def fingerprint(labels: Mapping[str, str]) -> str:
    """Alertmanager's fingerprint of a label set, as the 16 hex digits it shows."""
    h = _FNV_OFFSET
    for name in sorted(labels):
        for part in (name, labels[name]):
            for byte in part.encode("utf-8"):
                h = ((h ^ byte) * _FNV_PRIME) & _MASK
            h = ((h ^ _SEPARATOR) * _FNV_PRIME) & _MASK
    return f"{h:016x}"


def _expr_from_generator_url(url: str | None) -> str | None:
    # Prometheus' generator URL is its graph page with the expression as g0.expr.
    if not url:
        return None
    values = parse_qs(urlsplit(url).query).get("g0.expr")
    return values[0] if values else None


# --- fetch -----------------------------------------------------------------------------


def list_alertmanager_alerts(source: HttpSource) -> list[Alert]:
    """Every alert Alertmanager holds: active, silenced, inhibited and unprocessed."""
    params = {"active": "true", "silenced": "true", "inhibited": "true", "unprocessed": "true"}
    body = source.get_json("/api/v2/alerts", params)
    answer = _AmAlerts.model_validate({"alerts": body}) if isinstance(body, list) else None
    if answer is None:
        raise SourceError(
            f"{source.name}: /api/v2/alerts answered {type(body).__name__}, not a list of "
            "alerts. Is the URL that of Alertmanager (v0.16 or later)?"
        )
    alerts = []
    for item in answer.alerts:
        alerts.append(from_alertmanager(item))
    return alerts


def from_alertmanager(item: AmAlert) -> Alert:
    """One alert of Alertmanager's /api/v2/alerts answer (live, or saved in a snapshot)."""
    if item.status.silenced_by:
        state = "silenced"
    elif item.status.inhibited_by:
        state = "inhibited"
    else:
        state = "firing"  # active, or unprocessed: received and not muted yet
    return Alert(
        labels=item.labels,
        state=state,
        starts_at=item.starts_at,
        annotations=item.annotations,
        generator_url=item.generator_url or None,
        expr=_expr_from_generator_url(item.generator_url),
        silenced_by=tuple(sorted(item.status.silenced_by)),
        inhibited_by=tuple(sorted(item.status.inhibited_by)),
        receivers=tuple(sorted(r.name for r in item.receivers)),
    )


def external_labels(source: HttpSource) -> dict[str, str]:
    """Prometheus' external labels, which it adds to the alerts it sends; {} if unknown.

    Thanos Querier and other Prometheus-compatible APIs have no status/config; their rule
    alerts already carry their external labels.
    """
    try:
        answer = source.get_model("/api/v1/status/config", _ConfigAnswer)
    except SourceError as exc:
        log.info("no external labels from %s: %s", source.name, exc)
        return {}
    try:
        config = yaml.safe_load(answer.data.yaml_text) or {}
    except yaml.YAMLError:
        return {}
    labels = (config.get("global") or {}).get("external_labels") or {}
    return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}


def list_rule_alerts(source: HttpSource) -> list[Alert]:
    """The pending and firing alerts of Prometheus' alerting rules, with their expression."""
    answer = source.get_model("/api/v1/rules", _RulesAnswer, {"type": "alert"})
    if answer.status != "success":
        raise SourceError(f"{source.name}: /api/v1/rules did not succeed")
    return rule_alerts(answer, external_labels(source))


def rule_alerts(answer: _RulesAnswer, extra: Mapping[str, str]) -> list[Alert]:
    """The alerts of ``/api/v1/rules`` (live, or saved in a snapshot), each with its
    rule's expression; ``extra``: Prometheus' external labels."""
    alerts = []
    for group in answer.data.groups:
        for rule in group.rules:
            if rule.type != "alerting":
                continue
            for item in rule.alerts:
                alert = from_prometheus(item, rule.query or None, extra)
                if alert is not None:
                    alerts.append(alert)
    return alerts


def from_prometheus(
    item: _RuleAlert, expr: str | None, extra: Mapping[str, str] | None = None
) -> Alert | None:
    """One alert as Prometheus shows it; None unless it is pending or firing."""
    if item.state not in ACTIVE_STATES:
        return None
    return Alert(
        # Prometheus adds an external label only where the alert lacks it.
        labels={**(extra or {}), **item.labels},
        state=item.state,
        starts_at=item.active_at,
        annotations=item.annotations,
        expr=expr,
    )


# --- saved answers (snapshots) -----------------------------------------------------------


@dataclass(frozen=True)
class Saved:
    """The alerts of one saved answer, and who gave it: ``alertmanager`` or ``prometheus``."""

    origin: str
    alerts: list[Alert]


def saved_alerts(name: str, body: Any) -> Saved:
    """The alerts of a saved answer (file ``name``, parsed JSON ``body``): Alertmanager's
    ``/api/v2/alerts`` (a list), or Prometheus' ``/api/v1/rules`` (what a must-gather
    keeps) or ``/api/v1/alerts``. Raises SnapshotFormatError naming the file."""
    if isinstance(body, list):
        found = []
        for i, item in enumerate(body):
            try:
                found.append(from_alertmanager(AmAlert.model_validate(item)))
            except ValidationError as exc:
                raise SnapshotFormatError(name, f"alert #{i + 1}: {exc}") from exc
        return Saved(ALERTMANAGER, found)
    data = body.get("data") if isinstance(body, dict) else None
    if isinstance(body, dict) and body.get("status") == "error":
        problem = f"{body.get('errorType') or 'error'}: {body.get('error') or 'no message'}"
        raise SnapshotFormatError(name, f"Prometheus answered with an error, {problem}")
    if isinstance(data, dict) and "groups" in data:
        return Saved(PROMETHEUS, rule_alerts(_saved(name, _RulesAnswer, body), {}))
    if isinstance(data, dict) and "alerts" in data:
        answer = _saved(name, _AlertsAnswer, body)
        alerts = (from_prometheus(item, None) for item in answer.data.alerts)
        return Saved(PROMETHEUS, [alert for alert in alerts if alert is not None])
    raise SnapshotFormatError(
        name,
        "not alerts: expected Alertmanager's /api/v2/alerts output (a JSON list of alerts), "
        "or Prometheus' /api/v1/rules or /api/v1/alerts output",
    )


def _saved(name: str, model: type[_M], body: Any) -> _M:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise SnapshotFormatError(name, f"not Prometheus' answer: {exc}") from exc


def merge(am_alerts: Iterable[Alert], rule_alerts: Iterable[Alert]) -> list[Alert]:
    """One alert per fingerprint: Alertmanager's view, with the rule's expression added;
    alerts only Prometheus knows (pending, or not yet delivered) as Prometheus sees them
    (the one with an expression, where Prometheus' alerts come twice)."""
    by_fp: dict[str, Alert] = {}
    for alert in rule_alerts:
        kept = by_fp.get(alert.fingerprint)
        if kept is None or (alert.expr and not kept.expr):
            by_fp[alert.fingerprint] = alert
    merged = []
    for alert in am_alerts:
        rule = by_fp.pop(alert.fingerprint, None)
        merged.append(replace(alert, expr=rule.expr) if rule and rule.expr else alert)
    return merged + list(by_fp.values())


# --- rows ------------------------------------------------------------------------------


def node_cluster(canonical: Mapping[str, str], configured: str) -> str:
    """The alert's own cluster label (hub Alertmanagers), else the configured cluster."""
    return canonical.get("k8s.cluster.name") or configured


def to_row(alert: Alert, source_cluster: str) -> NodeRow:
    canonical = normalize(alert.labels, "alert")
    cluster = node_cluster(canonical, source_cluster)
    properties: dict[str, PropertyValue] = {
        **label_properties(canonical),
        "alertname": alert.labels.get("alertname"),
        "fingerprint": alert.fingerprint,
        "state": alert.state,
        "starts_at": alert.starts_at,
        "ends_at": None,
        "generator_url": alert.generator_url,
        "expr": alert.expr,
        "raw_labels": raw_label_list(alert.labels),
        "annotations": raw_label_list(alert.annotations),
        "silenced_by": list(alert.silenced_by) or None,
        "inhibited_by": list(alert.inhibited_by) or None,
        "receivers": list(alert.receivers) or None,
        "source_cluster": source_cluster,
        "statuses": status_rules.alert(alert.labels) or None,
    }
    selector: dict[str, str | None] = dict(alert.labels)
    selector.pop("cluster", None)  # the ref's cluster key holds it
    return NodeRow.model_validate(
        {
            "ref": ref(CLASS, selector, cluster),
            "domain": CLASS.domain,
            "class": CLASS.name,
            "source": SOURCE,
            "cluster": cluster,
            "namespace": canonical.get("k8s.namespace.name"),
            "name": alert.labels.get("alertname"),
            "properties": properties,
        }
    )


def _native(value: Any) -> Any:
    # Neo4j returns its own temporal types; a row holds Python datetimes.
    to_native = getattr(value, "to_native", None)
    return to_native() if callable(to_native) else value


def open_alerts(store: Store, source_cluster: str) -> list[NodeRow]:
    """The alert nodes this Alertmanager reported that are not resolved yet."""
    rows = []
    records = store.run(
        OPEN_ALERTS, source=SOURCE, source_cluster=source_cluster, resolved=RESOLVED
    )
    for record in records:
        props = {k: _native(v) for k, v in record["props"].items()}
        fields = {k: props.pop(k, None) for k in NODE_FIELDS}
        for key in NODE_META:
            props.pop(key, None)
        rows.append(NodeRow.model_validate({**fields, "ref": record["ref"], "properties": props}))
    return rows


def resolved_rows(
    open_nodes: Iterable[NodeRow], seen: set[str], now: datetime
) -> Iterator[NodeRow]:
    """The open alerts absent from ``seen`` (refs), rewritten as resolved at ``now``."""
    for row in open_nodes:
        if row.ref in seen:
            continue
        properties = {**row.properties, "state": RESOLVED, "ends_at": now}
        yield row.model_copy(update={"properties": properties})


# --- ingest ----------------------------------------------------------------------------


def ingest(
    store: Store,
    alertmanager: HttpSourceSettings,
    prometheus: HttpSourceSettings | None = None,
    *,
    progress: Callable[[str], None] | None = None,
) -> Summary:
    """List the alerts and write them; resolve the vanished ones if every source answered.

    A failing source never raises: its error is in the summary and the graph keeps what
    it had (an Alertmanager that is down resolves nothing and overwrites nothing).
    """
    say = progress or (lambda message: None)
    cluster = alertmanager.cluster
    summary = Summary(SOURCE, cluster)
    started = time.monotonic()
    try:
        with connect("alertmanager", alertmanager) as source:
            am_alerts = list_alertmanager_alerts(source)
        say(f"alertmanager: {len(am_alerts)} alerts")
    except (SourceError, ConfigError) as exc:
        summary.errors.append(str(exc))
        say(f"alertmanager: skipped, existing alerts kept: {exc}")
        summary.seconds = time.monotonic() - started
        return summary
    rule_alerts: list[Alert] = []
    if prometheus is not None and prometheus.url:
        try:
            with connect("prometheus", prometheus) as source:
                rule_alerts = list_rule_alerts(source)
            say(f"prometheus: {len(rule_alerts)} pending or firing rule alerts")
        except (SourceError, ConfigError) as exc:
            summary.errors.append(str(exc))
            say(f"prometheus: skipped (no pending alerts, no rule expressions): {exc}")
    now = utcnow()
    rows = [to_row(alert, cluster) for alert in merge(am_alerts, rule_alerts)]
    written = store.upsert_nodes(rows, now=now)
    resolved = 0
    if not summary.errors:  # only a complete view may declare an alert gone
        gone = list(resolved_rows(open_alerts(store, cluster), {r.ref for r in rows}, now))
        resolved = store.upsert_nodes(gone, now=now)
    summary.objects[str(CLASS)] = written + resolved
    say(f"alerts: {written} current, {resolved} newly resolved")
    summary.seconds = time.monotonic() - started
    return summary
