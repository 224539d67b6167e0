"""The statuses of ingested objects (``status.yaml``), korrel8r's status rules computed at
ingest: a node's ``statuses`` property, a sorted list, absent when there is none.

korrel8r evaluates its status rules on each object it fetches; korrel8 stores the result
with the object, so a search can filter goals by status and count them per class.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

STATUS_FILE = Path(__file__).with_name("status.yaml")
ERROR, WARNING = "Error", "Warning"
_RANK = {ERROR: 2, WARNING: 1}


class _Condition(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    type: str | None = None
    pattern: str | None = None
    bad: str
    status: str

    @model_validator(mode="after")
    def _one_match(self) -> _Condition:
        if (self.type is None) == (self.pattern is None):
            raise ValueError("a condition rule names either `type` or `pattern`")
        return self

    def matches(self, type_: str) -> bool:
        if self.type is not None:
            return self.type.lower() == type_.lower()
        return re.search(self.pattern or "", type_, re.IGNORECASE) is not None


class _Kubernetes(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    conditions: list[_Condition]
    ok_phases: dict[str, list[str]]
    phases: dict[str, dict[str, str]]
    container_reasons: dict[str, str]
    finalizer: str
    normal_event_types: list[str]


class _Alerts(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    label: str
    ignore: list[str]


class _Logs(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    labels: list[str]
    levels: dict[str, list[str]] = Field(min_length=1)


class StatusRules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kubernetes: _Kubernetes
    alerts: _Alerts
    logs: _Logs


@cache
def rules() -> StatusRules:
    return StatusRules.model_validate(yaml.safe_load(STATUS_FILE.read_text(encoding="utf-8")))


def get_path(obj: Any, *path: str) -> Any:
    """``obj[path[0]][path[1]]...``, or None where a step is missing or not a map."""
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def as_list(value: Any) -> list[Any]:
    """``value`` if a list, else empty (an object's field of the wrong type)."""
    return value if isinstance(value, list) else []


_get, _list = get_path, as_list


def _worst(found: Iterable[str]) -> str | None:
    return max(found, key=lambda s: _RANK.get(s, 0), default=None)


def health(obj: Mapping[str, Any], kind: str) -> str | None:
    """Error, Warning or None: the worst of the object's bad conditions, its phase and
    (a Pod) its containers' states. Like korrel8r, an object without status has none."""
    status = obj.get("status")
    if not isinstance(status, Mapping):
        return None
    spec = rules().kubernetes
    phase = status.get("phase")
    if isinstance(phase, str) and phase in spec.ok_phases.get(kind, []):
        return None
    found: list[str] = []
    for cond in _list(status.get("conditions")):
        type_, value = _get(cond, "type"), _get(cond, "status")
        if not isinstance(type_, str) or not isinstance(value, str):
            continue
        rule = next((r for r in spec.conditions if r.matches(type_)), None)
        if rule is not None and value == rule.bad:
            found.append(rule.status)
    if isinstance(phase, str) and phase in spec.phases.get(kind, {}):
        found.append(spec.phases[kind][phase])
    if kind == "Pod":
        found += _container_statuses(status, spec.container_reasons)
    return _worst(found)


def _container_statuses(status: Mapping[str, Any], reasons: Mapping[str, str]) -> list[str]:
    found = []
    for key in ("initContainerStatuses", "containerStatuses"):
        for cs in _list(status.get(key)):
            for where in ("state", "lastState"):
                for phase in ("waiting", "terminated"):
                    reason = _get(cs, where, phase, "reason")
                    if isinstance(reason, str) and reason in reasons:
                        found.append(reasons[reason])
    return found


def kubernetes(obj: Mapping[str, Any], kind: str) -> list[str]:
    """The statuses of a Kubernetes object: its health, Finalizer, an Event's type."""
    spec = rules().kubernetes
    out: set[str] = set()
    if (found := health(obj, kind)) is not None:
        out.add(found)
    if _list(_get(obj, "metadata", "finalizers")):
        out.add(spec.finalizer)
    if kind == "Event":
        type_ = obj.get("type")
        if isinstance(type_, str) and type_ and type_ not in spec.normal_event_types:
            out.add(type_)
    return sorted(out)


def alert(labels: Mapping[str, str]) -> list[str]:
    """The alert's severity, unless it is ``none``."""
    spec = rules().alerts
    severity = labels.get(spec.label)
    return [severity] if severity and severity not in spec.ignore else []


def log_levels(labels: Mapping[str, str]) -> set[str]:
    """The log levels a stream's labels carry."""
    return {labels[k] for k in rules().logs.labels if labels.get(k)}


def logs(levels: Iterable[str]) -> list[str]:
    """Error and Warning, for the levels among ``levels`` that are such."""
    by_level = {
        level.lower(): status for status, names in rules().logs.levels.items() for level in names
    }
    return sorted({by_level[v.strip().lower()] for v in levels if v.strip().lower() in by_level})


__all__ = ["ERROR", "WARNING", "StatusRules", "alert", "health", "kubernetes", "log_levels", "logs"]
