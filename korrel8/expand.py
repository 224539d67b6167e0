"""Goal search by bounded expansion: precise and complete answers at a bounded cost.

The graph is expanded level by level from the starts, one statement per level
(``cypher/queries/expand.cypher``), each distinct node asked for once per level, so the
cost grows with the distinct objects within the depth, never with the number of paths,
and is the same whether a goal exists or not. Two rules make the answer precise:

1. **No way back down from a hub.** Every rule edge has a shape (``r.shape``, from the
   rule's ``hub``): ``up`` toward an object that many others share (an owner, the Service
   that selects a pod, its Node, a StorageClass, a mounted claim), ``down`` from one, or
   none. A path that has gone up never comes down again: a pod's alert reaches the pod,
   its ReplicaSet and its Service, but not the Service's other pods; a claim reaches its
   StorageClass, but not the other volumes of that class. Going down first and up after
   is kept (a Deployment's pods, then the Nodes they run on).
2. **The nearest goals of each class.** From each start, for each goal class, the goals at
   the least depth that reaches the class; those found deeper are counted and named in
   ``Result.left_out`` (a Service's own EndpointSlice, not another Service's slice that
   lists the same pods one hop further).

Paths are then fetched only toward the goals chosen: every shortest path that keeps
rule 1, at most ``PATHS_PER_GOAL`` per goal. The wide mode (``--wide``) turns both rules
off and is a single path query instead (``cypher/queries/goals.cypher``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from korrel8.graph import statements
from korrel8.result import LeftOut
from korrel8.visibility import Visibility, cypher_parameter

__all__ = [
    "PATHS_PER_GOAL",
    "ROWS_PER_LEVEL",
    "Expansion",
    "choose",
    "expand",
    "fetch",
    "reachable_classes",
]

# A level whose edges exceed this is cut (and the result says so): a hub start such as a
# Namespace with every object of a large namespace stays bounded.
ROWS_PER_LEVEL = 100_000
PATHS_PER_GOAL = 20

State = tuple[int, str, bool]  # (start index, ref, gone up)


@dataclass
class Expansion:
    """What the expansion found: for each state, its level and the edges into it from the
    level before (every one: the shortest paths are all kept)."""

    starts: tuple[str, ...]
    level: dict[State, int] = field(default_factory=dict)
    preds: dict[State, list[tuple[State, str]]] = field(default_factory=dict)
    classes: dict[str, tuple[str, str]] = field(default_factory=dict)  # ref -> (domain, class)
    # ref -> its statuses, lower case (ingest/status.py), for a goal search by status
    statuses: dict[str, frozenset[str]] = field(default_factory=dict)
    truncated: bool = False
    # An edge left the states outside the window: another window may reach more.
    outside: bool = False


Read = Callable[..., list[dict[str, Any]]]  # Store.read, or one session's (Store.reading)


def expand(
    read: Read,
    starts: Sequence[str],
    depth: int,
    since: Any,
    until: Any,
    *,
    limit: int = ROWS_PER_LEVEL,
    visibility: Visibility | None = None,
) -> Expansion:
    """Every state reachable within ``depth`` from each start, level by level. With a
    ``visibility``, only through objects the caller may see: a hidden start reaches
    nothing, and a hidden object is never entered."""
    visible = cypher_parameter(visibility)
    text = statements.for_caller(statements.load("queries/expand"), visible)
    found = Expansion(tuple(starts))
    frontier: dict[tuple[str, bool], set[int]] = defaultdict(set)
    for i, ref in enumerate(starts):
        found.level[(i, ref, False)] = 0
        found.preds[(i, ref, False)] = []
        frontier[(ref, False)].add(i)
    for level in range(1, depth + 1):
        if not frontier:
            break
        rows = read(
            text,
            frontier=[{"ref": ref, "up": up} for ref, up in frontier],
            since=since,
            until=until,
            limit=limit,
            visible=visible,
        )
        if len(rows) > limit:
            found.truncated = True
            rows = rows[:limit]
        following: dict[tuple[str, bool], set[int]] = defaultdict(set)
        for row in rows:
            if not row["in_window"]:
                found.outside = True
                continue
            source, up, target = str(row["source"]), bool(row["up"]), str(row["target"])
            found.classes[target] = (str(row["domain"]), str(row["class"]))
            found.statuses[target] = frozenset(str(s).lower() for s in row["statuses"] or ())
            now_up = up or bool(row["raises"])
            for origin in frontier[(source, up)]:
                state = (origin, target, now_up)
                seen = found.level.get(state)
                if seen is None:
                    found.level[state] = level
                    found.preds[state] = []
                    following[(target, now_up)].add(origin)
                    seen = level
                if seen == level:  # another shortest way in
                    found.preds[state].append(((origin, source, up), str(row["edge"])))
        frontier = following
    return found


def reachable_classes(found: Expansion) -> list[tuple[str, int, int]]:
    """Each class reached, with its least depth and how many objects: what a search that
    found nothing tells."""
    least: dict[str, int] = {}
    refs: dict[str, set[str]] = defaultdict(set)
    for (_, ref, _), level in found.level.items():
        if level == 0 or ref not in found.classes:
            continue
        class_ = ":".join(found.classes[ref])
        least[class_] = min(level, least.get(class_, level))
        refs[class_].add(ref)
    return sorted(((c, least[c], len(refs[c])) for c in least), key=lambda item: (item[1], item[0]))


def _matches(goals: Sequence[tuple[str, str | None]], domain: str, class_: str) -> bool:
    return any(d == domain and (c is None or c == class_) for d, c in goals)


def choose(
    found: Expansion,
    goals: Sequence[tuple[str, str | None]],
    statuses: Sequence[str] | None = None,
) -> tuple[dict[str, list[State]], list[LeftOut]]:
    """The goal objects with the states that reach them at their chosen depth, and what
    was left out (per class: how many deeper, the least such depth, a route to them).
    ``statuses`` (lower case): a goal must have one of them; the nearest is then the
    nearest with that status."""
    wanted = frozenset(statuses or ())
    # (start, class) -> least level; ref -> the states at each level.
    least: dict[tuple[int, str], int] = {}
    by_ref: dict[str, list[State]] = defaultdict(list)
    for state, level in found.level.items():
        origin, ref, _ = state
        if level == 0 or ref not in found.classes:
            continue
        domain, class_ = found.classes[ref]
        if not _matches(goals, domain, class_):
            continue
        if wanted and not wanted & found.statuses.get(ref, frozenset()):
            continue
        key = (origin, f"{domain}:{class_}")
        least[key] = min(level, least.get(key, level))
        by_ref[ref].append(state)
    chosen: dict[str, list[State]] = {}
    deeper: dict[str, list[State]] = {}
    for ref, states in by_ref.items():
        domain, class_ = found.classes[ref]
        keep = [s for s in states if found.level[s] == least[(s[0], f"{domain}:{class_}")]]
        if keep:
            # The shortest of them, once per start: the paths fetched lead there.
            best = min(found.level[s] for s in keep)
            chosen[ref] = [s for s in keep if found.level[s] == best]
        else:
            deeper[ref] = states
    return chosen, _left_out(found, deeper)


def _left_out(found: Expansion, deeper: Mapping[str, list[State]]) -> list[LeftOut]:
    per_class: dict[str, list[tuple[int, State]]] = defaultdict(list)
    for ref, states in deeper.items():
        domain, class_ = found.classes[ref]
        state = min(states, key=lambda s: found.level[s])
        per_class[f"{domain}:{class_}"].append((found.level[state], state))
    out = []
    for class_, items in sorted(per_class.items()):
        depth, state = min(items, key=lambda item: (item[0], item[1][1]))
        route = [found.classes[ref][1] for _, ref, _ in _one_path(found, state)[1:-1]]
        out.append(LeftOut(class_=class_, count=len(items), depth=depth, via=tuple(route)))
    return out


def _one_path(found: Expansion, state: State) -> list[State]:
    path = [state]
    while found.preds.get(path[-1]):
        path.append(found.preds[path[-1]][0][0])
    return path[::-1]


def paths_to(
    found: Expansion, states: Sequence[State], most: int = PATHS_PER_GOAL
) -> list[list[tuple[str, str | None]]]:
    """The shortest paths into ``states``, as (ref, edge into it) from a start, at most
    ``most``."""
    paths: list[list[tuple[str, str | None]]] = []

    def walk(state: State, tail: list[tuple[str, str | None]]) -> None:
        if len(paths) >= most:
            return
        preds = found.preds.get(state, [])
        if not preds:
            paths.append([(state[1], None), *tail])
            return
        for previous, edge in preds:
            walk(previous, [(state[1], edge), *tail])

    for state in states:
        walk(state, [])
    return paths


def fetch(
    read: Read, found: Expansion, chosen: Mapping[str, list[State]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
    """The objects and paths (as path queries return them) toward the chosen goals, and the
    element ids of their edges."""
    routes = [route for ref in sorted(chosen) for route in paths_to(found, chosen[ref])]
    refs = sorted({ref for route in routes for ref, _ in route})
    edge_ids = sorted({e for route in routes for _, e in route if e is not None})
    row = read(statements.load("queries/fetch_paths"), refs=refs, edges=edge_ids)[0]
    edges = {str(e["id"]): e for e in row["edges"]}
    paths = []
    for route in routes:
        if all(e is None or e in edges for _, e in route):
            paths.append(
                {
                    "objects": [ref for ref, _ in route],
                    "edges": [edges[e] for _, e in route if e is not None],
                }
            )
    return list(row["objects"]), paths, edge_ids
