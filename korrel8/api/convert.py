"""korrel8's Results in korrel8r's wire shapes, and korrel8r's starts as korrel8 queries.

korrel8r's graph has one node per class (``count`` objects, the ``queries`` that found
them) and one edge per pair of classes (with ``rules=true``, the rules followed along it
and the queries each produced). korrel8 finds objects, not queries: a node's queries are
its objects' refs, each a korrel8r query that selects exactly that object, so a client
that runs them gets the same objects back.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

from korrel8.api import models
from korrel8.errors import ParseError
from korrel8.model import Class, Query
from korrel8.result import Node, Result


def graph(result: Result, *, rules: bool = False, results: bool = False) -> models.Graph:
    """The korrel8r Graph of a result: nodes per class, edges per pair of classes."""
    return models.Graph(
        nodes=nodes(result.nodes.values(), results=results), edges=edges(result, rules=rules)
    )


def nodes(objects: Iterable[Node], *, results: bool = False) -> list[models.Node]:
    """korrel8r Nodes: one per class, in order of first appearance."""
    by_class: dict[str, list[Node]] = {}
    for node in objects:
        by_class.setdefault(node.class_, []).append(node)
    return [
        models.Node(
            class_=cls,
            count=len(members),
            queries=[models.QueryCount(query=n.query, count=1) for n in members],
            result=[serialize(n) for n in members] if results else None,
        )
        for cls, members in by_class.items()
    ]


def edges(result: Result, *, rules: bool = False) -> list[models.Edge]:
    # (start class, goal class) -> rule -> goal refs, each in first-seen order.
    pairs: dict[tuple[str, str], dict[str, dict[str, None]]] = {}
    for edge in result.edges:
        start, goal = result.nodes.get(edge.start), result.nodes.get(edge.goal)
        if start is None or goal is None:  # an edge always joins two nodes of its result
            continue
        by_rule = pairs.setdefault((start.class_, goal.class_), defaultdict(dict))
        by_rule[edge.rule or edge.type][edge.goal] = None
    return [
        models.Edge(
            start=start,
            goal=goal,
            rules=[
                models.Rule(name=name, queries=[models.QueryCount(query=q, count=1) for q in goals])
                for name, goals in by_rule.items()
            ]
            if rules
            else None,
        )
        for (start, goal), by_rule in pairs.items()
    ]


def serialize(node: Node) -> dict[str, Any]:
    """An object as JSON: its stored properties, with what fetches its data."""
    data = {k: _json_value(v) for k, v in node.properties.items()}
    data["class"] = node.class_
    found = node.data_query
    if found is not None:
        data["dataQuery"] = {"language": found.language, "query": found.query}
    return data


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def start_queries(start: models.Start) -> list[str]:
    """korrel8 query strings for a korrel8r Start: its queries, then its objects (each as
    a query on the identity it carries). ParseError when neither gives one."""
    queries = [q for q in (start.queries or [])]
    cls = Class.parse(start.class_) if start.class_ else None
    if cls is not None:
        for text in queries:
            if Query.parse(text.strip()).class_ != cls:
                raise ParseError(f"the start query {text!r} is not of the start class {cls}")
    if start.objects:
        if cls is None:
            raise ParseError("start objects need the start class: give start.class")
        queries += [_object_query(cls, obj) for obj in start.objects]
    if not queries:
        raise ParseError("no start given: give start.queries (or start.class and start.objects)")
    return queries


def _object_query(cls: Class, obj: Mapping[str, Any]) -> str:
    """A serialized object as a query: a Kubernetes object by its metadata, a signal by
    its labels."""
    if cls.domain == "k8s":
        meta = obj.get("metadata")
        if not isinstance(meta, Mapping) or not isinstance(meta.get("name"), str):
            raise ParseError(f"a {cls} start object needs metadata.name")
        selector = {k: meta[k] for k in ("namespace", "name") if isinstance(meta.get(k), str)}
    else:
        labels = obj.get("labels", obj)
        if not isinstance(labels, Mapping) or not labels:
            raise ParseError(f"a {cls} start object needs its labels")
        selector = {str(k): v for k, v in labels.items() if isinstance(v, str)}
        if not selector:
            raise ParseError(f"a {cls} start object has no string labels to select it by")
    text = f"{cls}:{json.dumps(selector, sort_keys=True)}"
    return str(Query.parse(text))


__all__ = ["edges", "graph", "nodes", "serialize", "start_queries"]
