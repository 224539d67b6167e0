"""A Result as JSON, in a shape close to korrel8r's graph: nodes per class with their
queries and counts, edges between classes with their rules; then the objects, the rule
edges between them (links) and the paths. Schema: ``korrel8/schemas/result.schema.json``.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import date, datetime
from typing import Any

from korrel8.result import Edge, Node, Result, status_counts

__all__ = ["SCHEMA_VERSION", "json_safe", "object_dict", "to_dict", "to_json"]

SCHEMA_VERSION = 1
# Properties every object dict lists by name; the rest go under "properties".
_NAMED = (
    "ref", "domain", "class", "name", "namespace", "cluster",
    "first_seen", "last_seen", "deleted_at",
)  # fmt: skip


def json_safe(value: Any) -> Any:
    """``value`` with times as ISO 8601 strings, ready for json.dumps."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def object_dict(node: Node, *, start: bool, goal: bool) -> dict[str, Any]:
    data = node.data_query
    return {
        "ref": node.ref,
        "class": node.class_,
        "domain": node.domain,
        "name": node.name,
        "namespace": node.namespace,
        "cluster": node.cluster,
        "statuses": list(node.statuses),
        "start": start,
        "goal": goal,
        "first_seen": _time(node.first_seen),
        "last_seen": _time(node.last_seen),
        "deleted_at": _time(node.deleted_at),
        "query": node.query,
        "data": {"language": data.language, "query": data.query} if data else None,
        "properties": {
            k: json_safe(v) for k, v in sorted(node.properties.items()) if k not in _NAMED
        },
    }


def link_dict(edge: Edge) -> dict[str, Any]:
    return {
        "start": edge.start,
        "goal": edge.goal,
        "type": edge.type,
        "rule": edge.rule,
        "first_seen": _time(edge.first_seen),
        "last_seen": _time(edge.last_seen),
        "valid_to": _time(edge.valid_to),
    }


def _class_nodes(result: Result) -> list[dict[str, Any]]:
    by_class: dict[str, list[Node]] = defaultdict(list)
    for node in result.nodes.values():
        by_class[node.class_].append(node)
    return [
        {
            "class": cls,
            "count": len(nodes),
            "queries": [
                {"query": n.query, "count": 1, "statuses": _statuses(status_counts([n]))}
                for n in nodes
            ],
            "statuses": _statuses(status_counts(nodes)),
        }
        for cls, nodes in sorted(by_class.items())
    ]


def _statuses(per_class: dict[str, dict[str, int]]) -> list[dict[str, Any]]:
    """korrel8r's ``[{status, count}]``, over the one class of ``per_class`` (or none)."""
    return [
        {"status": status, "count": count}
        for counts in per_class.values()
        for status, count in counts.items()
    ]


def _class_edges(result: Result) -> list[dict[str, Any]]:
    rules: dict[tuple[str, str], Counter[tuple[str, str]]] = defaultdict(Counter)
    for edge in result.edges:
        start, goal = result.nodes[edge.start].class_, result.nodes[edge.goal].class_
        rules[(start, goal)][(edge.rule, edge.type)] += 1
    return [
        {
            "start": start,
            "goal": goal,
            "rules": [
                {"name": rule, "type": type_, "count": count}
                for (rule, type_), count in sorted(counter.items())
            ],
        }
        for (start, goal), counter in sorted(rules.items())
    ]


def to_dict(result: Result) -> dict[str, Any]:
    starts = set(result.starts)
    goals = {n.ref for n in result.goals}
    return {
        "version": SCHEMA_VERSION,
        "kind": result.kind,
        "start": {"query": result.start_query, "refs": list(result.starts)},
        "goals": list(result.goal_classes),
        "depth": result.depth,
        "all_paths": result.all_paths,
        "mode": result.mode,
        "left_out": [
            {"class": x.class_, "count": x.count, "depth": x.depth, "via": list(x.via)}
            for x in result.left_out
        ],
        "window": {"since": result.since.isoformat(), "until": result.until.isoformat()},
        "truncated": result.truncated,
        "counts": result.counts,
        "goal_counts": result.goal_counts,
        "status_counts": result.status_counts,
        "nodes": _class_nodes(result),
        "edges": _class_edges(result),
        "objects": [
            object_dict(n, start=n.ref in starts, goal=n.ref in goals)
            for n in result.nodes.values()
        ],
        "links": [link_dict(e) for e in result.edges],
        "paths": [{"objects": list(p.refs), "rules": list(p.rules)} for p in result.paths],
        "cypher": {
            "statement": result.cypher.text,
            "parameters": json_safe(dict(result.cypher.parameters)),
        },
    }


def to_json(result: Result, indent: int | None = 2) -> str:
    return json.dumps(to_dict(result), indent=indent, ensure_ascii=False)
