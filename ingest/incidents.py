"""Incidents of OpenShift's cluster-health-analyzer, from Prometheus.

The analyzer groups alerts into incidents and exports the grouping as the series
``cluster_health_components_map`` (recorded as ``cluster:health:components:map``): one
series per component of an incident, with the incident's id in ``group_id``, the kind of
component in ``type`` (``alert`` for an alert) and the component's own labels prefixed with
``src_`` (``src_alertname``, ``src_namespace``, ``src_severity``). korrel8r's incident domain
reads the same series (pkg/domains/incident).

One :Incident node per incident (``group_id``), class ``incident:incident``; ref selector
``{id}`` (korrel8r's incident query) and cluster; properties: ``alert_label_sets`` (each
alert component's labels as ``key=value`` lines joined by a newline, the rules'
``alertsLabels``), ``alertnames``, ``components`` (``layer/component`` of the others),
``promql`` (the series of this incident). Incidents no longer exported are swept.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from pydantic import BaseModel

from ingest.http import HttpSource, connect
from ingest.summary import Summary
from korrel8.config import HttpSourceSettings
from korrel8.errors import ConfigError, SourceError
from korrel8.graph.rows import NodeRow, PropertyValue
from korrel8.graph.store import Store
from korrel8.model import Class, ref
from korrel8.querygen import go_quote

__all__ = ["CLASS", "SERIES", "SOURCE", "Incident", "fold", "ingest", "list_components", "to_rows"]

SOURCE = "incidents"
CLASS = Class(domain="incident", name="incident")
SERIES = ("cluster_health_components_map", "cluster:health:components:map")
PREFIX = "src_"


@dataclass
class Incident:
    id: str
    alerts: set[tuple[tuple[str, str], ...]] = field(default_factory=set)
    components: set[str] = field(default_factory=set)


class _Sample(BaseModel):
    metric: dict[str, str]


class _Data(BaseModel):
    result: list[_Sample]


class _QueryAnswer(BaseModel):
    status: str
    data: _Data


def list_components(source: HttpSource) -> list[dict[str, str]]:
    """The label sets of the incidents' component series now."""
    names = "|".join(SERIES)
    query = "{__name__=~" + go_quote(names) + "}"
    answer = source.get_model("/api/v1/query", _QueryAnswer, {"query": query})
    if answer.status != "success":
        raise SourceError(f"{source.name}: /api/v1/query did not succeed")
    return [s.metric for s in answer.data.result]


def fold(series: Iterable[Mapping[str, str]]) -> dict[str, Incident]:
    """The incidents by id; a series without ``group_id`` belongs to none."""
    incidents: dict[str, Incident] = {}
    for labels in series:
        group = labels.get("group_id")
        if not group:
            continue
        incident = incidents.setdefault(group, Incident(group))
        source = {k[len(PREFIX) :]: v for k, v in labels.items() if k.startswith(PREFIX) and v}
        if labels.get("type") == "alert":
            if source:
                incident.alerts.add(tuple(sorted(source.items())))
        else:
            part = "/".join(p for p in (labels.get("layer"), labels.get("component")) if p)
            if part:
                incident.components.add(part)
    return incidents


def to_rows(incidents: Iterable[Incident], cluster: str) -> Iterator[NodeRow]:
    for incident in incidents:
        label_sets = sorted("\n".join(f"{k}={v}" for k, v in pairs) for pairs in incident.alerts)
        properties: dict[str, PropertyValue] = {
            "alert_label_sets": label_sets,
            "alertnames": sorted(
                {v for pairs in incident.alerts for k, v in pairs if k == "alertname"}
            ),
            "components": sorted(incident.components),
            "promql": f"{SERIES[0]}{{group_id={go_quote(incident.id)}}}",
        }
        yield NodeRow.model_validate(
            {
                "ref": ref(CLASS, {"id": incident.id}, cluster),
                "domain": CLASS.domain,
                "class": CLASS.name,
                "source": SOURCE,
                "cluster": cluster,
                "namespace": None,
                "name": incident.id,
                "properties": properties,
            }
        )


def ingest(
    store: Store,
    prometheus: HttpSourceSettings,
    *,
    progress: Callable[[str], None] | None = None,
) -> Summary:
    """Write the incidents Prometheus exports now; never raises for a failing source: the
    error is in the summary and the graph keeps its data."""
    say = progress or (lambda message: None)
    summary = Summary(SOURCE, prometheus.cluster)
    started = time.monotonic()
    try:
        with connect("prometheus", prometheus) as source:
            incidents = fold(list_components(source))
        with store.listing(SOURCE, prometheus.cluster, classes=[CLASS.name]) as listing:
            listing.upsert(to_rows(incidents.values(), prometheus.cluster))
        summary.objects[str(CLASS)] = listing.written
        summary.deleted = listing.deleted
        say(f"incidents: {listing.written} written, {listing.deleted} swept")
    except (SourceError, ConfigError) as exc:
        summary.errors.append(str(exc))
        say(f"incidents: skipped, existing data kept: {exc}")
    summary.seconds = time.monotonic() - started
    return summary
