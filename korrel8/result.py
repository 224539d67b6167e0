"""What a correlation returns: the objects, the rule edges, the paths that explain them.

A :class:`Result` is plain data built from the rows of a path query; the render modules
turn it into JSON, DOT, Mermaid, GraphML or an HTML investigation graph. Times are
timezone-aware datetimes; the JSON shape is ``korrel8/schemas/result.schema.json``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from korrel8.querygen import go_quote

__all__ = [
    "DataQuery",
    "Edge",
    "Kind",
    "LeftOut",
    "Mode",
    "Node",
    "Path",
    "Result",
    "Statement",
    "cypher_literal",
    "plain",
    "status_counts",
    "time_value",
]

Kind = Literal["goals", "neighbours", "get"]
# How a goal search chose its goals (korrel8/expand.py): the nearest of each class with
# no way back down from a hub, or every goal within the depth by any route.
Mode = Literal["precise", "wide"]

# Where a signal node keeps the query that fetches its data from its own back-end. A log
# stream loaded from a must-gather names its files first: they hold that snapshot's lines.
_DATA_PROPERTIES = (
    ("log_files", "file"),
    ("logql", "LogQL"),
    ("promql", "PromQL"),
    ("traceql", "TraceQL"),
)


def plain(value: Any) -> Any:
    """A Neo4j value as plain Python: driver times become datetimes, maps and lists recurse."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    to_native = getattr(value, "to_native", None)
    if callable(to_native):  # neo4j.time.DateTime, Date, Time, Duration
        return to_native()
    return value


def time_value(value: Any) -> datetime | None:
    """A time property: the path queries send ISO 8601 text (``toString``), others a
    driver value."""
    value = plain(value)
    if isinstance(value, str):
        try:
            # A named zone prints as +01:00[Europe/Paris]: the offset alone is the instant.
            return datetime.fromisoformat(value.partition("[")[0])
        except ValueError:
            return None
    return value if isinstance(value, datetime) else None


@dataclass(frozen=True)
class DataQuery:
    """The query that fetches an object's data from its own back-end."""

    language: str  # LogQL, PromQL, TraceQL, kubectl, file (files of a snapshot)
    query: str


@dataclass(frozen=True)
class Node:
    """One object of the graph, as the path query returned it."""

    ref: str
    domain: str
    class_name: str  # within the domain: Pod, Deployment.apps, application
    properties: Mapping[str, Any]

    @classmethod
    def from_row(cls, props: Mapping[str, Any]) -> Node:
        p = plain(props)
        p.pop("props_digest", None)  # the store's bookkeeping (korrel8/graph/rows.py)
        return cls(ref=p["ref"], domain=p["domain"], class_name=p["class"], properties=p)

    @property
    def class_(self) -> str:
        """The full class, ``DOMAIN:CLASS``: ``k8s:Pod``."""
        return f"{self.domain}:{self.class_name}"

    @property
    def query(self) -> str:
        """The korrel8r query that finds exactly this object: its ref."""
        return self.ref

    @property
    def name(self) -> str | None:
        return _str(self.properties.get("name"))

    @property
    def namespace(self) -> str | None:
        return _str(self.properties.get("namespace"))

    @property
    def cluster(self) -> str | None:
        return _str(self.properties.get("cluster"))

    @property
    def first_seen(self) -> datetime | None:
        return time_value(self.properties.get("first_seen"))

    @property
    def last_seen(self) -> datetime | None:
        return time_value(self.properties.get("last_seen"))

    @property
    def deleted_at(self) -> datetime | None:
        return time_value(self.properties.get("deleted_at"))

    @property
    def data_query(self) -> DataQuery | None:
        """The back-end query for the object's data: LogQL, PromQL, TraceQL or kubectl."""
        for key, language in _DATA_PROPERTIES:
            text = self.properties.get(key)
            if isinstance(text, list) and text:  # files
                text = " ".join(str(item) for item in text)
            if isinstance(text, str) and text:
                return DataQuery(language, text)
        if self.domain == "k8s" and self.name:
            return DataQuery("kubectl", _kubectl(self.class_name, self.name, self.namespace))
        return None

    @property
    def statuses(self) -> tuple[str, ...]:
        """What korrel8r's status rules say of the object, computed at ingest: Error,
        Warning, Finalizer, an Event's type, an alert's severity, a log level."""
        value = self.properties.get("statuses")
        return tuple(str(v) for v in value) if isinstance(value, list) else ()

    @property
    def title(self) -> str:
        """A short caption: the name, else the ref."""
        return self.name or self.ref


@dataclass(frozen=True)
class Edge:
    """One rule edge: ``start -[type {rule}]-> goal``."""

    start: str
    goal: str
    type: str
    rule: str
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    valid_to: datetime | None = None

    @classmethod
    def from_row(cls, props: Mapping[str, Any]) -> Edge:
        p = plain(props)
        return cls(
            start=p["start"],
            goal=p["goal"],
            type=p["type"],
            rule=str(p.get("rule") or ""),
            first_seen=time_value(p.get("first_seen")),
            last_seen=time_value(p.get("last_seen")),
            valid_to=time_value(p.get("valid_to")),
        )

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.start, self.type, self.rule, self.goal)


@dataclass(frozen=True)
class Path:
    """A chain of rule edges from a start object; the explanation of its last object."""

    refs: tuple[str, ...]
    edges: tuple[Edge, ...]

    @property
    def rules(self) -> tuple[str, ...]:
        return tuple(e.rule for e in self.edges)

    @property
    def start(self) -> str:
        return self.refs[0]

    @property
    def end(self) -> str:
        return self.refs[-1]


@dataclass(frozen=True)
class LeftOut:
    """Goals a precise search found but left out: ``count`` objects of ``class_`` deeper
    than the nearest of their class, the least at ``depth``, through classes ``via``."""

    class_: str
    count: int
    depth: int
    via: tuple[str, ...]

    def describe(self) -> str:
        route = f" via {' -> '.join(self.via)}" if self.via else ""
        return f"{self.count} more {self.class_} at depth {self.depth}{route}"


@dataclass(frozen=True)
class Statement:
    """A Cypher statement as it ran, with its parameters."""

    text: str
    parameters: Mapping[str, Any]

    def for_browser(self) -> str:
        """The statement for Neo4j Browser: a ``:params`` command, then the query."""
        params = ", ".join(f"{k}: {cypher_literal(v)}" for k, v in self.parameters.items())
        return f":params {{{params}}}\n\n{self.text.strip()}\n"


@dataclass(frozen=True)
class Result:
    """The answer of a goal search, a neighbour search or a get.

    ``nodes`` holds every object on a path (in discovery order), ``edges`` every rule edge
    on a path once, ``goals`` the objects searched for (for a neighbour search, every
    object but the starts; for a get, the objects the query matched).
    """

    kind: Kind
    start_query: str
    starts: tuple[str, ...]
    goal_classes: tuple[str, ...]
    depth: int | None
    since: datetime
    until: datetime
    nodes: Mapping[str, Node]
    edges: tuple[Edge, ...]
    paths: tuple[Path, ...]
    goals: tuple[Node, ...]
    truncated: bool
    cypher: Statement
    statements: tuple[Statement, ...] = field(default=())
    all_paths: bool = False
    mode: Mode | None = None  # goal searches only
    left_out: tuple[LeftOut, ...] = ()

    @property
    def counts(self) -> dict[str, int]:
        """Objects per class, ``DOMAIN:CLASS``, over every node of the result."""
        return dict(sorted(Counter(n.class_ for n in self.nodes.values()).items()))

    @property
    def goal_counts(self) -> dict[str, int]:
        """Goal objects per class."""
        return dict(sorted(Counter(n.class_ for n in self.goals).items()))

    @property
    def status_counts(self) -> dict[str, dict[str, int]]:
        """Per class, how many of its objects have each status (korrel8r's ``statuses:
        [{status, count}]`` of a graph node), over every node of the result; a class
        with no status is left out."""
        return status_counts(self.nodes.values())


def status_counts(nodes: Iterable[Node]) -> dict[str, dict[str, int]]:
    """Per class, objects per status."""
    per_class: dict[str, Counter[str]] = {}
    for node in nodes:
        for status in node.statuses:
            per_class.setdefault(node.class_, Counter())[status] += 1
    return {cls: dict(sorted(c.items())) for cls, c in sorted(per_class.items())}


def assemble(
    objects: Iterable[Mapping[str, Any]],
    paths: Iterable[Mapping[str, Any]],
    *,
    kind: Kind,
    start_query: str,
    starts: Sequence[str],
    goal_classes: Sequence[str],
    depth: int | None,
    since: datetime,
    until: datetime,
    limit: int,
    cypher: Statement,
    statements: Sequence[Statement],
    all_paths: bool = False,
    mode: Mode | None = None,
    left_out: Sequence[LeftOut] = (),
) -> Result:
    """A Result from a path query's row: ``objects`` (each node's properties, once) and
    ``paths`` (``{objects: [ref], edges: [props]}``; a lone start is a path of one).

    The goal of a path is its last object. The queries fetch one goal more than
    ``limit``: if it comes, the list was cut, and its paths are dropped.
    """
    properties = {str(o["ref"]): o for o in objects}
    nodes: dict[str, Node] = {}
    edges: dict[tuple[str, str, str, str], Edge] = {}
    kept: list[Path] = []
    goal_refs: dict[str, None] = {}  # an ordered set
    truncated = False
    for path in paths:
        refs = tuple(str(r) for r in path["objects"])
        if refs[-1] not in goal_refs:
            if len(goal_refs) >= limit:
                truncated = True
                continue
            goal_refs[refs[-1]] = None
        for ref in refs:
            if ref not in nodes:
                nodes[ref] = Node.from_row(properties[ref])
        path_edges = tuple(Edge.from_row(e) for e in path["edges"])
        for e in path_edges:
            edges.setdefault(e.key, e)
        if path_edges:
            kept.append(Path(refs, path_edges))
    start_set = set(starts)
    goals = [nodes[r] for r in goal_refs if kind == "get" or r not in start_set]
    return Result(
        kind=kind,
        start_query=start_query,
        starts=tuple(starts),
        goal_classes=tuple(goal_classes),
        depth=depth,
        since=since,
        until=until,
        nodes=nodes,
        edges=tuple(edges.values()),
        paths=tuple(kept),
        goals=tuple(goals),
        truncated=truncated,
        cypher=cypher,
        statements=tuple(statements),
        all_paths=all_paths,
        mode=mode,
        left_out=tuple(left_out),
    )


def cypher_literal(value: Any) -> str:
    """``value`` as a Cypher literal, for Neo4j Browser's ``:params``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime):
        return f"datetime({_cypher_string(value.isoformat())})"
    if isinstance(value, date):
        return f"date({_cypher_string(value.isoformat())})"
    if isinstance(value, str):
        return _cypher_string(value)
    if isinstance(value, Mapping):
        items = ", ".join(f"`{k}`: {cypher_literal(v)}" for k, v in value.items())
        return "{" + items + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(cypher_literal(v) for v in value) + "]"
    raise TypeError(f"no Cypher literal for {type(value).__name__}")


def _cypher_string(text: str) -> str:
    # Cypher string literals take the same backslash escapes as Go's for these characters.
    return go_quote(text)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _kubectl(class_name: str, name: str, namespace: str | None) -> str:
    kind, _, group = class_name.partition(".")
    resource = f"{kind.lower()}.{group}" if group else kind.lower()
    scope = f" -n {_shell(namespace)}" if namespace else ""
    return f"kubectl get {resource} {_shell(name)}{scope}"


def _shell(word: str) -> str:
    # Kubernetes names are DNS labels; quote anything else so the command stays one word.
    if word and all(c.isalnum() or c in "-._" for c in word):
        return word
    return "'" + word.replace("'", "'\\''") + "'"
