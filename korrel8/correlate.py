"""Correlation: goal search, neighbour search and get, as Cypher path queries.

Every statement is a file under ``cypher/queries/``; values reach it as parameters. Goal
classes are matched on the ``domain`` and ``class`` properties, never spliced in as labels.
The one thing in the text that varies is the depth bound, since Cypher takes no parameter
in a quantifier: it is a checked integer written over the file's ``{m,n}``.

A start is one or more korrel8r queries. Each is looked up as a ref first (the
``:Object(ref)`` unique index); one that is not a ref is resolved to refs by class and
selector fields (``find.cypher``). The path query then runs from those refs.

The time window: a node counts when ``first_seen <= until`` and it was not deleted before
``since``; an edge when ``first_seen <= until`` and it was not closed (``valid_to``)
before ``since``. Default: the last hour.
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

from korrel8.config import Settings, load_settings
from korrel8.errors import (
    DepthError,
    GoalUnreachableError,
    Korrel8Error,
    ParseError,
    StartNotFoundError,
    TimeWindowError,
)
from korrel8.expand import ROWS_PER_LEVEL, Expansion, choose, expand, fetch, reachable_classes
from korrel8.graph import statements
from korrel8.graph.store import Store
from korrel8.labels import SIGNAL_DOMAINS, normalize
from korrel8.model import Class, Domain, Query, get_domain, parse_goal
from korrel8.result import Node, Result, Statement, assemble, plain, time_value
from korrel8.visibility import Visibility, cypher_parameter

__all__ = [
    "DEFAULT_DEPTH",
    "DEFAULT_LIMIT",
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_NEIGHBOUR_DEPTH",
    "DEFAULT_WINDOW",
    "DepthError",
    "GoalSpec",
    "GoalUnreachableError",
    "Korrel8",
    "Start",
    "StartNotFoundError",
    "TimeSpec",
    "TimeWindowError",
    "Window",
    "get_objects",
    "goal_search",
    "make_window",
    "neighbour_search",
    "parse_time",
    "resolve",
]

log = logging.getLogger(__name__)

DEFAULT_DEPTH = 4
DEFAULT_NEIGHBOUR_DEPTH = 2
# A path query's cost grows with the fan-out to the power of the depth: a bound keeps a
# typo (--depth 40) from tying up the server. Settings may raise it (``max_depth``).
DEFAULT_MAX_DEPTH = 8
DEFAULT_WINDOW = timedelta(hours=1)
DEFAULT_LIMIT = 1000
# The most objects one answer may hold: a larger --limit is an error, not a runaway query.
MAX_LIMIT = 100_000

TimeSpec = datetime | timedelta | str | None
GoalSpec = str | Domain | Class | Sequence[str | Domain | Class]

# Where a signal node keeps its back-end query: a raw selector is matched against it.
_RAW_PROPERTY = {"log": "logql", "metric": "promql", "trace": "traceql"}
_QUANTIFIER = re.compile(r"\{([01]),[0-9]+\}")
_DURATION = re.compile(r"^([0-9]+(?:\.[0-9]+)?)\s*(s|m|h|d|w)$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FAR = datetime(9999, 1, 1, tzinfo=UTC)


# --- the time window --------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    since: datetime
    until: datetime


def parse_time(value: datetime | timedelta | str, now: datetime, what: str = "time") -> datetime:
    """A datetime (naive: UTC), a duration ago, ``now``, ``15m``/``2h``/``3d`` ago, or ISO 8601."""
    try:
        if isinstance(value, datetime):
            parsed = value if value.tzinfo else value.replace(tzinfo=UTC)
        else:
            parsed = _parse_time(value, now, what)
        parsed.astimezone(UTC)  # 0001-01-01T00:00:00+14:00 is before year 1 in UTC
        return parsed
    except (OverflowError, ValueError) as exc:  # a date or offset beyond what a datetime holds
        raise TimeWindowError(
            f"{what} {value!r} is out of range: give a time between years 1 and 9999"
        ) from exc


def _parse_time(value: datetime | timedelta | str, now: datetime, what: str) -> datetime:
    if isinstance(value, timedelta):
        return now - value
    if not isinstance(value, str):
        raise TimeWindowError(
            f"{what} {value!r} is not a time: give a datetime, a timedelta or text"
        )
    text = value.strip()
    if text == "now":
        return now
    match = _DURATION.match(text)
    if match:
        return now - timedelta(**{_UNITS[match[2]]: float(match[1])})
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise TimeWindowError(
            f"{what} {value!r} is not a time: write ISO 8601 (2025-05-01T10:00:00Z), "
            "a duration ago (90s, 15m, 2h, 3d, 1w) or now"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def make_window(
    since: TimeSpec = None, until: TimeSpec = None, at: TimeSpec = None, now: datetime | None = None
) -> Window:
    """The window from ``since``/``until`` (default: the hour before until, until now), or
    the single instant ``at``."""
    now = now or datetime.now(UTC)
    if at is not None:
        if since is not None or until is not None:
            raise TimeWindowError("--at is one instant: give it without --since or --until")
        instant = parse_time(at, now, "--at")
        return Window(instant, instant)
    end = parse_time(until, now, "--until") if until is not None else now
    if since is not None:
        begin = parse_time(since, now, "--since")
    elif end - datetime.min.replace(tzinfo=UTC) < DEFAULT_WINDOW:
        raise TimeWindowError(
            f"--until {end.isoformat()} leaves no room for the default window (the hour "
            "before): give --since too"
        )
    else:
        begin = end - DEFAULT_WINDOW
    if begin > end:
        raise TimeWindowError(
            f"the window ends before it starts: --since {begin.isoformat()} is after "
            f"--until {end.isoformat()}"
        )
    return Window(begin, end)


# --- statements -------------------------------------------------------------------------


def _statement(name: str, depth: int | None = None, visible: object = None) -> str:
    text = statements.for_caller(statements.load(f"queries/{name}"), visible)
    if depth is None:
        return text
    # The file's quantifier {m,n} takes the checked depth as n (see the module docstring).
    found = _QUANTIFIER.findall(text)
    if len(found) != 1:
        raise Korrel8Error(f"cypher/queries/{name}.cypher: expected one {{m,n}} quantifier")
    return _QUANTIFIER.sub(lambda m: f"{{{m[1]},{int(depth)}}}", text)


def _run(store: Store, text: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    # The text is one of the project's files (plus a checked integer), never data; the
    # driver's LiteralString contract holds (mypy treats LiteralString as str). Reads run
    # within the store's time limit (query_timeout).
    return store.read(text, **params)


def check_depth(depth: int, max_depth: int) -> int:
    if isinstance(depth, bool) or not isinstance(depth, int) or not 1 <= depth <= max_depth:
        raise DepthError(
            f"depth {depth!r} is out of range: give 1 to {max_depth} "
            "(the maximum is the max_depth setting, KORREL8_MAX_DEPTH)"
        )
    return depth


# --- starts -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Start:
    """A start resolved to refs, with the statements that resolved it and the objects."""

    query: str
    refs: tuple[str, ...]
    objects: tuple[Mapping[str, Any], ...]  # their properties, in refs order
    statements: tuple[Statement, ...]
    truncated: bool = False


def _alt(key: str = "", value: str = "", label: str = "", raw: str = "") -> dict[str, str]:
    # Every field present: find.cypher reads n[alt.key], alt.label, alt.raw unconditionally.
    return {"key": key, "value": value, "label": label, "raw": raw}


_MATCHER = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"([^"\\]*)"\s*(?:,|$)')


def stream_matchers(text: str) -> list[tuple[str, str]] | None:
    """The ``label="value"`` matchers of a bare LogQL stream selector such as korrel8r's
    ``{kubernetes_namespace_name="shop",kubernetes_pod_name="db-0"}``; None for anything
    more (a pipeline, ``!=``, ``=~``, escapes), which is then matched verbatim."""
    text = text.strip()
    if not (text.startswith("{") and text.endswith("}")):
        return None
    body, position, found = text[1:-1], 0, []
    while position < len(body):
        match = _MATCHER.match(body, position)
        if match is None or match.end() == position:
            return None
        found.append((match.group(1), match.group(2)))
        position = match.end()
    return found or None


def _label_conditions(domain: str, selector: Mapping[str, Any]) -> list[list[dict[str, str]]]:
    """Conditions for a map of labels (alerts, metrics, traces): each key may be a node
    property, a ``k=v`` entry of ``labels``, or its canonical key (``pod`` ->
    ``k8s.pod.name``)."""
    conditions = []
    for key, value in selector.items():
        if not isinstance(value, str):
            raise ParseError(f"{domain} selector key {key!r} must have a string value")
        alts = [_alt(key, value), _alt(label=f"{key}={value}")]
        if domain in SIGNAL_DOMAINS:
            for ckey, cvalue in normalize({key: value}, domain).items():
                alts.append(_alt(ckey, cvalue))
        conditions.append(alts)
    return conditions


def _object_conditions(selector: Mapping[str, Any]) -> list[list[dict[str, str]]]:
    """Conditions for korrel8r's k8s/container selector fields other than the indexed ones."""
    conditions: list[list[dict[str, str]]] = []
    labels = selector.get("labels") or {}
    for key, value in labels.items():
        # Objects keep labels as "k=v" entries; pods and their signals also as canonical keys.
        conditions.append([_alt(label=f"{key}={value}"), _alt(f"k8s.pod.label.{key}", value)])
    for key, value in (selector.get("fields") or {}).items():
        conditions.append([_alt(key, value)])
    containers = selector.get("containers")
    if containers:
        conditions.append([_alt("k8s.container.name", c) for c in containers])
    return conditions


def find_parameters(query: Query, window: Window, limit: int) -> tuple[str, dict[str, Any]]:
    """The find statement's name and parameters for a query that is not a ref."""
    cls = query.class_
    params: dict[str, Any] = {
        "domain": cls.domain,
        "class": cls.name,
        "cluster": None,
        "namespace": None,
        "name": None,
        "selectors": [],
        "since": window.since,
        "until": window.until,
        "limit": limit,
    }
    selector = query.selector
    if isinstance(selector, str):
        params["selectors"] = [[[_alt(_RAW_PROPERTY[cls.domain], selector)]]]
        matchers = stream_matchers(selector) if cls.domain == "log" else None
        if matchers:  # a stream matches when it carries every label the selector names
            params["selectors"].append([[_alt(raw=f"{k}={v}")] for k, v in matchers])
    elif isinstance(selector, dict) and get_domain(cls.domain).selector_keys is not None:
        # k8s and log selectors: korrel8r's object fields; namespace and name are indexed.
        for key in ("cluster", "namespace", "name"):
            value = selector.get(key)
            params[key] = value if isinstance(value, str) else None
        params["selectors"] = [_object_conditions(selector)]
        if cls.domain == "log" and params["name"] is not None:
            # korrel8r's log selector names the pod; a stream node is named pod/container.
            params["selectors"][0].append([_alt("k8s.pod.name", params["name"])])
            params["name"] = None
    else:
        maps = selector if isinstance(selector, list) else [selector]
        params["selectors"] = [_label_conditions(cls.domain, m) for m in maps]
    name = "find_named" if params["name"] is not None else "find"
    if name == "find":
        del params["name"]
    return name, params


def as_refs(start: str | Sequence[str]) -> list[str] | None:
    """The start as refs, if every query in it is one (canonical, with its cluster): the
    path query can then run from it directly, one round trip, and the look-up happens only
    when nothing is found, to say why."""
    texts = [start] if isinstance(start, str) else list(start)
    if not texts:
        return None
    refs = []
    for text in texts:
        query = Query.parse(text.strip())
        if str(query) != text.strip() or query.cluster is None:
            return None
        refs.append(str(query))
    return refs


def _start_text(start: str | Sequence[str]) -> str:
    return start if isinstance(start, str) else ", ".join(start)


def resolve(
    store: Store,
    start: str | Sequence[str],
    window: Window,
    limit: int = DEFAULT_LIMIT,
    visibility: Visibility | None = None,
) -> Start:
    """The refs of the objects the start queries select in the window. With a
    ``visibility``, only those the caller may see: a hidden object is not found, exactly
    as one that does not exist (its existence is not told)."""
    visible = cypher_parameter(visibility)
    texts = [start] if isinstance(start, str) else list(start)
    if not texts or not all(t.strip() for t in texts):
        raise ParseError("no start given: write a query such as k8s:Pod:{namespace: x, name: y}")
    queries = [Query.parse(t.strip()) for t in texts]
    lookup = Statement(
        _statement("lookup", visible=visible),
        {
            "refs": [str(q) for q in queries],
            "since": window.since,
            "until": window.until,
            "visible": visible,
        },
    )
    ran = [lookup]
    found = {r["ref"]: r for r in _run(store, lookup.text, dict(lookup.parameters))}
    objects: dict[str, Mapping[str, Any]] = {}
    outside: list[Mapping[str, Any]] = []
    truncated = False
    for query in queries:
        rows = [found[str(query)]] if str(query) in found else []
        if not rows:
            name, params = find_parameters(query, window, limit)
            params["visible"] = visible
            find = Statement(_statement(name, visible=visible), params)
            ran.append(find)
            rows = _run(store, find.text, params)
            truncated = truncated or len(rows) > limit
            rows = rows[:limit]
        for row in rows:
            if row["in_window"]:
                objects.setdefault(row["ref"], plain(row["props"]))
            else:
                outside.append(plain(row["props"]))
    if not objects:
        raise StartNotFoundError(_not_found(store, queries, outside, window, visible))
    if truncated:
        log.warning("the start selects more than %d objects; searching from the first", limit)
    text = texts[0] if len(texts) == 1 else ", ".join(texts)
    return Start(text, tuple(objects), tuple(objects.values()), tuple(ran), truncated)


def _not_found(
    store: Store,
    queries: Sequence[Query],
    outside: Sequence[Mapping[str, Any]],
    window: Window,
    visible: dict[str, Any] | None = None,
) -> str:
    wanted = " or ".join(str(q) for q in queries)
    span = f"between {window.since.isoformat()} and {window.until.isoformat()}"
    if outside:
        lives = "; ".join(_lifetime(o) for o in outside[:3])
        return (
            f"{wanted} matches {len(outside)} object(s), none alive {span}: {lives}. "
            "Widen the window (--since, --until, --at)."
        )
    message = f"no object matches {wanted}, at any time"
    nearest = _nearest(store, queries[0], visible)
    if nearest:
        message += ". Nearest by name:\n  " + "\n  ".join(nearest)
    return message


def _lifetime(props: Mapping[str, Any]) -> str:
    first, deleted = time_value(props.get("first_seen")), time_value(props.get("deleted_at"))
    seen = first.isoformat() if first else "?"
    gone = f" to {deleted.isoformat()}" if deleted else " on"
    return f"{props.get('ref')} lived from {seen}{gone}"


def _wanted_name(query: Query) -> str | None:
    selector = query.selector
    if isinstance(selector, list):
        selector = selector[0] if selector else {}
    if isinstance(selector, str):
        return None
    for key in ("name", "alertname", "pod", "persistentvolumeclaim", "deployment"):
        value = selector.get(key)
        if isinstance(value, str):
            return value
    return None


def _nearest(
    store: Store, query: Query, visible: dict[str, Any] | None = None, count: int = 5
) -> list[str]:
    selector = query.selector
    namespace = selector.get("namespace") if isinstance(selector, dict) else None
    name = _wanted_name(query)
    rows = _run(
        store,
        _statement("nearest", visible=visible),
        {
            "domain": query.class_.domain,
            "class": query.class_.name,
            "namespace": namespace if isinstance(namespace, str) else None,
            "name": name,
            "limit": 5000,
            "visible": visible,
        },
    )
    if not rows and namespace is not None:
        return _nearest(store, query.model_copy(update={"selector": {}}), visible, count)
    if name is None:
        return sorted(str(r["ref"]) for r in rows)[:count]

    def score(row: Mapping[str, Any]) -> float:
        return difflib.SequenceMatcher(None, name, str(row["name"] or "")).ratio()

    ranked = sorted(rows, key=lambda r: (-score(r), str(r["ref"])))
    return [str(r["ref"]) for r in ranked[:count] if score(r) > 0.3]


# --- goals ------------------------------------------------------------------------------


def parse_goals(goal: GoalSpec) -> list[Domain | Class]:
    """Goal classes from text (``log``, ``log:application``) or model objects."""
    items: Sequence[object] = goal if isinstance(goal, list | tuple) else [goal]
    if not items:
        raise ParseError("no goal given: name a class (log:application) or a domain (log)")
    goals: list[Domain | Class] = []
    for item in items:
        if isinstance(item, str):
            goals.append(parse_goal(item))
        elif isinstance(item, Domain | Class):
            goals.append(item)
        else:
            raise ParseError(
                f"the goal {goal!r} is not a class: give a class (log:application), a "
                "domain (log) or a list of them"
            )
    return goals


def _goal_parameter(
    goals: Sequence[Domain | Class], statuses: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """The goals for the path queries; ``statuses`` (lower case): a goal must have one."""
    return [
        {
            "domain": g.domain if isinstance(g, Class) else g.name,
            "class": g.name if isinstance(g, Class) else None,
            "statuses": list(statuses) if statuses else None,
        }
        for g in goals
    ]


StatusSpec = str | Sequence[str] | None


def parse_status(status: StatusSpec) -> list[str] | None:
    """The statuses a goal must have one of (``--status``), lower case for a
    case-insensitive match; None: any goal."""
    if status is None:
        return None
    values = [status] if isinstance(status, str) else list(status)
    if not values or not all(isinstance(v, str) and v.strip() for v in values):
        raise Korrel8Error(
            f"--status {status!r}: give a status such as Error, Warning, Finalizer or critical"
        )
    return sorted({v.strip().lower() for v in values})


def goal_search(
    store: Store,
    start: str | Sequence[str],
    goal: GoalSpec,
    *,
    depth: int = DEFAULT_DEPTH,
    window: Window | None = None,
    limit: int = DEFAULT_LIMIT,
    all_paths: bool = False,
    wide: bool = False,
    max_depth: int = DEFAULT_MAX_DEPTH,
    status: StatusSpec = None,
    visibility: Visibility | None = None,
) -> Result:
    """The goal objects related to the start, with the paths (and rules) that lead there.

    Precise by default (korrel8/expand.py): from each start, the nearest goals of each
    class, never through a hub and back down to its other members; what lies deeper is
    counted in ``Result.left_out``. ``wide``: every goal within the depth by any route
    (shortest paths per start and goal); ``all_paths`` (wide too): every path within it.
    ``status``: only goals with one of these statuses (computed at ingest, ingest/status.py;
    case-insensitive); the objects on the way to them are not filtered.
    Raises GoalUnreachableError, saying what is reachable, when no goal is found.

    ``visibility``: what the caller may see (korrel8/visibility.py; None: everything).
    Hidden objects are left out of the search itself: no path runs through one, and a goal
    reached only through one is not found.
    """
    _check_start(start)
    goals = parse_goals(goal)
    statuses = parse_status(status)
    check_depth(depth, max_depth)
    _check_limit(limit)
    window = window or make_window()
    refs = as_refs(start)
    found: Start | None = None
    if refs is None:
        found = resolve(store, start, window, limit, visibility)
        refs = list(found.refs)
    if not (wide or all_paths):
        return _precise(
            store, start, found, refs, goals, depth, window, limit, max_depth, visibility, statuses
        )
    name = "goals_all" if all_paths else "goals"
    path_query = Statement(
        _statement(name, depth, cypher_parameter(visibility)),
        {
            "starts": refs,
            "goals": _goal_parameter(goals, statuses),
            "since": window.since,
            "until": window.until,
            "limit": limit,
            "visible": cypher_parameter(visibility),
        },
    )
    row = _run(store, path_query.text, dict(path_query.parameters))[0]
    result = assemble(
        row["objects"],
        row["paths"],
        **_goal_fields(start, refs, goals, depth, window, limit),
        cypher=path_query,
        statements=(*(found.statements if found else ()), path_query),
        all_paths=all_paths,
        mode="wide",
    )
    return _answer(
        store, result, start, found, goals, window, limit, max_depth, visibility, statuses=statuses
    )


def _goal_fields(
    start: str | Sequence[str],
    refs: Sequence[str],
    goals: Sequence[Domain | Class],
    depth: int,
    window: Window,
    limit: int,
) -> dict[str, Any]:
    """What every goal search's Result says of the search itself."""
    return {
        "kind": "goals",
        "start_query": _start_text(start),
        "starts": refs,
        "goal_classes": [str(g) for g in goals],
        "depth": depth,
        "since": window.since,
        "until": window.until,
        "limit": limit,
    }


def _answer(
    store: Store,
    result: Result,
    start: str | Sequence[str],
    found: Start | None,
    goals: Sequence[Domain | Class],
    window: Window,
    limit: int,
    max_depth: int,
    visibility: Visibility | None,
    expansion: Expansion | None = None,
    statuses: Sequence[str] | None = None,
) -> Result:
    """The result with its lone starts, or, with no goal, the error that says why."""
    if not result.goals:
        # Only now look the refs up: a start that is missing or outside the window says so.
        found = found or resolve(store, start, window, limit, visibility)
        depth = result.depth or DEFAULT_DEPTH
        error = _unreachable(store, found, goals, depth, window, max_depth, visibility, expansion)
        if statuses and any(_matches(goals, c) for c, _, _ in error.reachable):
            wanted = ", ".join(str(g) for g in goals)
            error = GoalUnreachableError(
                f"{wanted} is reachable from {found.query} within depth {depth}, but no goal "
                f"has status {' or '.join(statuses)}: leave out --status to see them.",
                error.reachable,
            )
        raise error
    return result if found is None else _with_starts(result, found)


def _precise(
    store: Store,
    start: str | Sequence[str],
    found: Start | None,
    refs: Sequence[str],
    goals: Sequence[Domain | Class],
    depth: int,
    window: Window,
    limit: int,
    max_depth: int,
    visibility: Visibility | None,
    statuses: Sequence[str] | None = None,
) -> Result:
    goal_keys = [(g.domain, g.name) if isinstance(g, Class) else (g.name, None) for g in goals]
    with store.reading() as read:
        expansion = expand(read, refs, depth, window.since, window.until, visibility=visibility)
        chosen, left_out = choose(expansion, goal_keys, statuses)
        kept = {ref: chosen[ref] for ref in sorted(chosen)[: limit + 1]}
        objects, paths, edge_ids = fetch(read, expansion, kept)
    shown = Statement(_statement("show_paths"), {"edges": edge_ids})
    steps = Statement(
        _statement("expand", visible=cypher_parameter(visibility)),
        {
            "frontier": [{"ref": r, "up": False} for r in refs],
            "since": window.since,
            "until": window.until,
            "limit": ROWS_PER_LEVEL,
            "visible": cypher_parameter(visibility),
        },
    )
    if expansion.truncated:
        log.warning("a level of the search had more than %d edges: cut", ROWS_PER_LEVEL)
    result = assemble(
        objects,
        paths,
        **_goal_fields(start, refs, goals, depth, window, limit),
        cypher=shown,
        statements=(*(found.statements if found else ()), steps, shown),
        mode="precise",
        left_out=left_out,
    )
    if expansion.truncated:
        result = replace(result, truncated=True)
    return _answer(
        store,
        result,
        start,
        found,
        goals,
        window,
        limit,
        max_depth,
        visibility,
        expansion,
        statuses,
    )


def _reachable(
    store: Store,
    refs: Sequence[str],
    window: Window,
    depth: int,
    visibility: Visibility | None = None,
) -> list[tuple[str, int, int]]:
    """The classes within ``depth`` of the starts, each with its least depth and count,
    by the same bounded expansion goal search runs (never by enumerating paths)."""
    found = expand(store.read, refs, depth, window.since, window.until, visibility=visibility)
    return reachable_classes(found)


def _class_alive(
    store: Store,
    goals: Sequence[Domain | Class],
    window: Window,
    visibility: Visibility | None = None,
) -> list[str]:
    """The goal classes (not domains) that have no object alive in the window."""
    classes = [g for g in goals if isinstance(g, Class)]
    if not classes:
        return []
    rows = _run(
        store,
        _statement("class_alive", visible=cypher_parameter(visibility)),
        {
            "classes": [{"domain": c.domain, "class": c.name} for c in classes],
            "since": window.since,
            "until": window.until,
            "visible": cypher_parameter(visibility),
        },
    )
    alive = {f"{r['domain']}:{r['class']}" for r in rows if r["alive"]}
    return [str(c) for c in classes if str(c) not in alive]


def _matches(goals: Sequence[Domain | Class], class_: str) -> bool:
    domain, _, name = class_.partition(":")
    return any(
        (g.domain == domain and g.name == name) if isinstance(g, Class) else g.name == domain
        for g in goals
    )


def _unreachable(
    store: Store,
    start: Start,
    goals: Sequence[Domain | Class],
    depth: int,
    window: Window,
    max_depth: int,
    visibility: Visibility | None = None,
    expansion: Expansion | None = None,
) -> GoalUnreachableError:
    wanted = ", ".join(str(g) for g in goals)
    span = f"between {window.since.isoformat()} and {window.until.isoformat()}"
    empty = _class_alive(store, goals, window, visibility)
    if empty and len(empty) == len(goals):
        return GoalUnreachableError(
            f"{', '.join(empty)} has no objects {span}: nothing to reach from {start.query}.",
            [],
        )
    message = f"no rule chain from {start.query} reaches {wanted} within depth {depth} {span}."
    if expansion is not None and list(expansion.starts) == list(start.refs):
        reachable = reachable_classes(expansion)
    else:
        reachable = _reachable(store, start.refs, window, depth, visibility)
    # Other times can hold more only if some edge left the search's states outside the
    # window (always so when the expansion is not at hand).
    outside = expansion is None or expansion.outside
    missing = not any(_matches(goals, c) for c, _, _ in reachable)
    other_times: list[str] = []
    if outside and missing:
        ever = _reachable(store, start.refs, Window(_EPOCH, _FAR), depth, visibility)
        other_times = sorted({c for c, _, _ in ever if _matches(goals, c)})
    if other_times:
        message += (
            f" {', '.join(other_times)} was reachable at other times: widen the window "
            "(--since, --until, --at)."
        )
    elif missing and expansion is not None:  # precise: --wide follows hubs back down too
        deeper = f"raise --depth (at most {max_depth}) or " if depth < max_depth else ""
        message += f" A deeper or wider search may reach it: {deeper}add --wide."
    elif missing and depth < max_depth:
        message += f" A deeper search may reach it: raise --depth (at most {max_depth})."
    if reachable:
        listed = ", ".join(f"{c} ({n} at depth {d})" for c, d, n in reachable)
        message += f"\nReachable from the start: {listed}."
    else:
        message += "\nNothing is reachable from the start: no rule edge leaves it in the window."
    return GoalUnreachableError(message, reachable)


# --- neighbours and get -----------------------------------------------------------------


def neighbour_search(
    store: Store,
    start: str | Sequence[str],
    *,
    depth: int = DEFAULT_NEIGHBOUR_DEPTH,
    window: Window | None = None,
    limit: int = DEFAULT_LIMIT,
    both: bool = False,
    max_depth: int = DEFAULT_MAX_DEPTH,
    visibility: Visibility | None = None,
) -> Result:
    """Every object within ``depth`` rule edges of the start (following their direction,
    or either way with ``both``), nearest first, with the shortest paths to each; only
    through what ``visibility`` lets the caller see (None: everything)."""
    _check_start(start)
    check_depth(depth, max_depth)
    _check_limit(limit)
    window = window or make_window()
    refs = as_refs(start)
    found: Start | None = None
    if refs is None:
        found = resolve(store, start, window, limit, visibility)
        refs = list(found.refs)
    path_query = Statement(
        _statement(
            "neighbours_both" if both else "neighbours", depth, cypher_parameter(visibility)
        ),
        {
            "starts": refs,
            "since": window.since,
            "until": window.until,
            "limit": limit,
            "visible": cypher_parameter(visibility),
        },
    )
    row = _run(store, path_query.text, dict(path_query.parameters))[0]
    result = assemble(
        row["objects"],
        row["paths"],
        kind="neighbours",
        start_query=_start_text(start),
        starts=refs,
        goal_classes=[],
        depth=depth,
        since=window.since,
        until=window.until,
        limit=limit,
        cypher=path_query,
        statements=(*(found.statements if found else ()), path_query),
    )
    if not result.nodes:
        # Raises: the start is missing, out of the window or hidden.
        resolve(store, start, window, limit, visibility)
    return result if found is None else _with_starts(result, found)


def get_objects(
    store: Store,
    query: str | Sequence[str],
    *,
    window: Window | None = None,
    limit: int = DEFAULT_LIMIT,
    visibility: Visibility | None = None,
) -> Result:
    """The objects a query selects in the window (no paths), of those ``visibility`` lets
    the caller see (None: every one)."""
    _check_start(query)
    _check_limit(limit)
    window = window or make_window()
    found = resolve(store, query, window, limit, visibility)
    last = found.statements[-1]
    return assemble(
        found.objects,
        [{"objects": [ref], "edges": []} for ref in found.refs],
        kind="get",
        start_query=found.query,
        starts=found.refs,
        goal_classes=[],
        depth=None,
        since=window.since,
        until=window.until,
        limit=limit,
        cypher=last,
        statements=found.statements,
    )


def _with_starts(result: Result, start: Start) -> Result:
    # A start that no path leaves is still part of the picture: add its node.
    missing = {
        r: p for r, p in zip(start.refs, start.objects, strict=True) if r not in result.nodes
    }
    if not missing:
        return result
    nodes = {r: Node.from_row(p) for r, p in missing.items()}
    nodes.update(result.nodes)
    return replace(result, nodes=nodes)


def _check_limit(limit: int) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise Korrel8Error(f"--limit {limit!r} is out of range: give 1 to {MAX_LIMIT}")


def _check_start(start: object) -> None:
    """The Python API's start: a query string or a list of them."""
    texts = [start] if isinstance(start, str) else start
    if not isinstance(texts, list | tuple) or not all(isinstance(t, str) for t in texts):
        raise ParseError(
            f"the start {start!r} is not a query: give a korrel8r query string "
            "(k8s:Pod:{namespace: x, name: y}) or a list of them"
        )


# --- the Python API ---------------------------------------------------------------------


class Korrel8:
    """korrel8's Python API: correlation over a connected store.

    >>> with Korrel8.connect() as k:                                     # doctest: +SKIP
    ...     result = k.goals("alert:alert:{alertname: KubePersistentVolumeFillingUp}", "log")
    ...     for obj in result.goals:
    ...         print(obj.class_, obj.data_query)
    """

    def __init__(self, store: Store, *, max_depth: int = DEFAULT_MAX_DEPTH) -> None:
        self.store = store
        self.max_depth = max_depth

    @classmethod
    def connect(
        cls,
        uri: str | None = None,
        *,
        user: str | None = None,
        password: str | None = None,
        database: str | None = None,
        settings: Settings | None = None,
        max_depth: int | None = None,
    ) -> Korrel8:
        """Connect with the CLI's settings (environment, ``korrel8.yaml``), the arguments on
        top. With no URI anywhere, the local Neo4j of ``korrel8 db start``."""
        settings = settings or load_settings(
            neo4j_uri=uri, neo4j_user=user, neo4j_password=password, neo4j_database=database
        )
        limit = max_depth or settings.max_depth
        return cls(Store.connect(settings), max_depth=limit)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Korrel8:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def goals(
        self,
        start: str | Sequence[str],
        goal: GoalSpec,
        *,
        depth: int = DEFAULT_DEPTH,
        since: TimeSpec = None,
        until: TimeSpec = None,
        at: TimeSpec = None,
        limit: int = DEFAULT_LIMIT,
        all_paths: bool = False,
        wide: bool = False,
        status: StatusSpec = None,
        visibility: Visibility | None = None,
    ) -> Result:
        """Goal objects of ``goal`` (a class, a bare domain, or a list) from ``start``:
        precise by default, every goal within the depth with ``wide`` (see goal_search);
        ``status`` (``"Error"``, or a list: any of them) keeps the goals with that status."""
        return goal_search(
            self.store,
            start,
            goal,
            depth=depth,
            window=make_window(since, until, at),
            limit=limit,
            all_paths=all_paths,
            wide=wide,
            max_depth=self.max_depth,
            status=status,
            visibility=visibility,
        )

    def neighbours(
        self,
        start: str | Sequence[str],
        *,
        depth: int = DEFAULT_NEIGHBOUR_DEPTH,
        since: TimeSpec = None,
        until: TimeSpec = None,
        at: TimeSpec = None,
        limit: int = DEFAULT_LIMIT,
        both: bool = False,
        visibility: Visibility | None = None,
    ) -> Result:
        """Every object within ``depth`` rule edges of ``start``."""
        return neighbour_search(
            self.store,
            start,
            depth=depth,
            window=make_window(since, until, at),
            limit=limit,
            both=both,
            max_depth=self.max_depth,
            visibility=visibility,
        )

    def get(
        self,
        query: str | Sequence[str],
        *,
        since: TimeSpec = None,
        until: TimeSpec = None,
        at: TimeSpec = None,
        limit: int = DEFAULT_LIMIT,
        visibility: Visibility | None = None,
    ) -> Result:
        """The objects ``query`` selects."""
        return get_objects(
            self.store,
            query,
            window=make_window(since, until, at),
            limit=limit,
            visibility=visibility,
        )
