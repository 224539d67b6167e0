"""Applies compiled rules to the graph: full runs, incremental runs, and their state.

A run scoped to clusters (``apply(..., clusters=[...])``, what ``korrel8 serve`` does)
makes, refreshes and closes only the edges whose start is in those clusters, and keeps
its state per rule and cluster (``RuleState`` named ``<rule>@<cluster>``): korrel8
instances that each serve their own clusters share one Neo4j without closing, refreshing
or re-planning each other's edges, and a cluster seen for the first time gets a full run
of its own.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from korrel8.errors import Korrel8Error, StoreUnavailableError
from korrel8.graph import statements
from korrel8.graph.store import Store, utcnow
from korrel8.model import Class, Domain
from korrel8.rules import Rule
from korrel8.rules.compiler import Compiled, compile_rule

log = logging.getLogger(__name__)

# An incremental run looks back this much before the previous run's start, so that a
# write whose timestamp predates that start but committed after it is not missed.
# Re-evaluating a node twice is harmless: MERGE is idempotent.
OVERLAP = timedelta(seconds=60)


@dataclass(frozen=True)
class RuleRun:
    rule: str
    mode: str  # "full" or "incremental"
    edges: int  # edges made or refreshed
    closed: int  # edges whose condition no longer holds
    seconds: float


def state_names(rule: str, clusters: Sequence[str] | None) -> list[str]:
    """The RuleState names of a run: the rule's own, or one per cluster when scoped."""
    return [rule] if clusters is None else [f"{rule}@{c}" for c in clusters]


def _one(store: Store, text: str, params: dict[str, Any], key: str) -> int:
    rows = store.run(text, **params)  # type: ignore[arg-type,unused-ignore]
    return int(rows[0][key] or 0) if rows else 0


def last_runs(store: Store, names: Iterable[str]) -> dict[str, datetime]:
    rows = store.run(statements.load("store/rule_state"), names=list(names))  # type: ignore[arg-type,unused-ignore]
    return {r["name"]: r["last_run"].to_native() for r in rows if r["last_run"] is not None}


def changed_classes(store: Store, since: datetime) -> set[tuple[str, str]]:
    """The (domain, class) of every node changed at or after ``since``."""
    rows = store.run(statements.load("store/rule_state_changed"), since=since)  # type: ignore[arg-type,unused-ignore]
    return {(r["domain"], r["class"]) for r in rows}


def present_classes(store: Store) -> set[tuple[str, str]]:
    """The (domain, class) of every node in the graph, deleted ones included."""
    rows = store.run(statements.load("store/present_classes"))  # type: ignore[arg-type,unused-ignore]
    return {(r["domain"], r["class"]) for r in rows}


def _touches(spec: list[Class] | Domain, changed: set[tuple[str, str]]) -> bool:
    if isinstance(spec, Domain):
        return any(domain == spec.name for domain, _ in changed)
    return any((c.domain, c.name) in changed for c in spec)


def run_rule(
    store: Store,
    compiled: Compiled,
    since: datetime | None,
    now: datetime | None = None,
    changed: set[tuple[str, str]] | None = None,
    present: set[tuple[str, str]] | None = None,
    clusters: Sequence[str] | None = None,
    mirror: bool = False,
) -> RuleRun:
    """Run one rule: full when ``since`` is None, else anchored on changes since then.

    ``changed``: the classes changed since ``since - OVERLAP`` or earlier, read after
    ``now`` was taken (a superset does no harm); read here when not given. ``present``: the
    classes that have nodes; a full run of a rule with no node on a side is skipped.
    ``clusters``: only the edges whose start is in them (``compiled`` must be scoped).
    ``mirror``: a full run of a reverse rule whose original has just run fully with the
    same ``now`` and ``clusters`` takes the original's fresh edges, turned around.
    """
    if (clusters is not None) != compiled.scoped:
        raise ValueError("a scoped rule runs with clusters, an unscoped one without")
    now = now or utcnow()
    names = state_names(compiled.rule.name, clusters)
    params = _params(store, compiled, now, clusters)
    started = time.perf_counter()
    if since is None:
        mode = "full"
        if not _has_sides(compiled, present):
            _record(store, names, now, 0)
            return RuleRun(compiled.rule.name, mode, 0, 0, time.perf_counter() - started)
        text = compiled.mirror if mirror and compiled.mirror is not None else compiled.full
        edges = _one(store, text, params, "edges")
        closed = _one(store, compiled.close_full, params, "closed")
        _record(store, names, now, edges)
    else:
        params["since"] = since - OVERLAP
        # A side no changed node belongs to has nothing to do: skipping it saves its
        # statement's run and, on a first run, its planning. Read after `now`, as the
        # statements are, so a change this misses is within the next run's window.
        if changed is None:
            changed = changed_classes(store, params["since"])
        starts = _touches(compiled.rule.start_classes, changed)
        goals = _touches(compiled.rule.goal_classes, changed)
        edges = _one(store, compiled.incremental_starts, params, "edges") if starts else 0
        edges += _one(store, compiled.incremental_goals, params, "edges") if goals else 0
        if starts or goals:
            params["edges"] = edges
            closed = _one(store, compiled.close_incremental, params, "closed")
        else:
            closed = 0
            _record(store, names, now, edges)
        mode = "incremental"
    return RuleRun(compiled.rule.name, mode, edges, closed, time.perf_counter() - started)


def _params(
    store: Store, compiled: Compiled, now: datetime, clusters: Sequence[str] | None
) -> dict[str, Any]:
    return {
        **compiled.params,
        "now": now,
        "batch": store.batch_size,
        "clusters": list(clusters) if clusters is not None else None,
        "states": state_names(compiled.rule.name, clusters),
    }


def _has_sides(compiled: Compiled, present: set[tuple[str, str]] | None) -> bool:
    """Whether both sides have nodes (unknown: yes). Without, a rule has no edge to make or
    close: on most graphs, whole families (KubeVirt, OLM...)."""
    return present is None or (
        _touches(compiled.rule.start_classes, present)
        and _touches(compiled.rule.goal_classes, present)
    )


class _PlanAhead:
    """Has Neo4j plan the full runs' statements ahead of the run, on another connection.

    Planning a full statement costs as much as running it on a small graph (0.15 s on
    average, up to 1.5 s; some 26 s for every statement of the default rules after a
    Neo4j start). EXPLAIN with the run's parameters caches the plan the run then finds;
    it takes no lock and writes nothing, so it runs beside the rules, on the core Neo4j's
    single-threaded execution leaves idle.
    """

    def __init__(self, store: Store, work: list[tuple[str, dict[str, Any]]]) -> None:
        self._store, self._work = store, work
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._plan, name="korrel8-plan-ahead", daemon=True)

    def __enter__(self) -> _PlanAhead:
        if self._work:
            self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _plan(self) -> None:
        for text, params in self._work:
            if self._stop.is_set():
                return
            try:
                self._store.run("EXPLAIN " + text, **params)  # type: ignore[arg-type,unused-ignore]
            except Korrel8Error as exc:  # the run itself reports what is wrong
                log.debug("planning ahead stopped: %s", exc)
                return


def _record(store: Store, names: list[str], now: datetime, edges: int) -> None:
    store.run(
        statements.load("store/set_rule_state"),  # type: ignore[arg-type,unused-ignore]
        names=names,
        last_run=now,
        edges=edges,
    )


def close_retired(
    store: Store,
    enabled: Iterable[str],
    now: datetime | None = None,
    clusters: Collection[str] | None = None,
) -> int:
    """Close the open edges of rules not in ``enabled`` (whose start is in ``clusters``,
    if given); how many were closed."""
    params = {
        "rules": list(enabled),
        "now": now or utcnow(),
        "batch": store.batch_size,
        "clusters": sorted(clusters) if clusters is not None else None,
    }
    return _one(store, statements.load("store/close_retired"), params, "closed")


def apply(
    store: Store,
    rules: Iterable[Rule],
    *,
    full: bool = False,
    progress: Callable[[RuleRun], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    errors: list[str] | None = None,
    clusters: Collection[str] | None = None,
) -> list[RuleRun]:
    """Apply every enabled rule: incrementally where it ran before, unless ``full``.

    A full run also closes the edges of rules no longer enabled. ``should_stop`` is asked
    between two rules. With ``errors``, a rule that fails is reported there and the
    others still run (Neo4j unreachable still raises); without it, the first failure
    raises. With ``clusters``, only the edges whose start is in one of them are made,
    refreshed or closed (see the module docstring); a rule may then run twice, fully for
    the clusters it never ran for and incrementally for the others.
    """
    enabled = [r for r in rules if r.enabled]
    scope = sorted(set(clusters)) if clusters is not None else None
    if scope == []:
        return []
    names = [n for r in enabled for n in state_names(r.name, scope)]
    previous = {} if full else last_runs(store, names)
    # One start for every rule, taken before the changes are read once for all of them:
    # a change the read misses is within every rule's next window. (Changes made while
    # the rules run may be seen now too; then the next run sees them again, harmlessly.)
    now = utcnow()
    changed = None
    if previous:
        changed = changed_classes(store, min(previous.values()) - OVERLAP)
    present = present_classes(store)
    if full:
        closed = close_retired(store, (r.name for r in enabled), now, scope)
        if closed:
            log.info("closed %d edges of rules no longer enabled", closed)
    runs = []
    fresh: set[tuple[str, tuple[str, ...] | None]] = set()  # full runs done: rule, clusters
    with _PlanAhead(store, _full_runs(store, enabled, previous, now, scope, present)):
        for rule in enabled:
            if should_stop is not None and should_stop():
                break
            try:
                done = _apply_one(store, rule, previous, now, changed, scope, present, fresh)
            except StoreUnavailableError:
                raise
            except Korrel8Error as exc:
                if errors is None:
                    raise
                errors.append(f"rule {rule.name} ({rule.origin}): {exc}")
                continue
            for run in done:
                log.debug("rule %s: %s", rule.name, run)
                if progress is not None:
                    progress(run)
            runs += done
    return runs


def _full_runs(
    store: Store,
    enabled: list[Rule],
    previous: dict[str, datetime],
    now: datetime,
    scope: list[str] | None,
    present: set[tuple[str, str]],
) -> list[tuple[str, dict[str, Any]]]:
    """The statements and parameters of the full runs apply will make, in order: a
    reverse rule's mirror when its original runs fully before it."""
    work: list[tuple[str, dict[str, Any]]] = []
    full: set[tuple[str, tuple[str, ...] | None]] = set()
    for rule in enabled:
        compiled = compile_rule(rule, scoped=scope is not None)
        new = [c for c in scope if f"{rule.name}@{c}" not in previous] if scope else None
        if (rule.name in previous if scope is None else not new) or not _has_sides(
            compiled, present
        ):
            continue
        key = None if new is None else tuple(new)
        full.add((rule.name, key))
        params = _params(store, compiled, now, new)
        mirrored = rule.mirrors is not None and (rule.mirrors[0], key) in full
        text = compiled.mirror if mirrored and compiled.mirror is not None else compiled.full
        work += [(text, params), (compiled.close_full, params)]
    return work


def _apply_one(
    store: Store,
    rule: Rule,
    previous: dict[str, datetime],
    now: datetime,
    changed: set[tuple[str, str]] | None,
    scope: list[str] | None,
    present: set[tuple[str, str]] | None = None,
    fresh: set[tuple[str, tuple[str, ...] | None]] | None = None,
) -> list[RuleRun]:
    """One rule: unscoped, or per group of clusters with the same kind of run. ``fresh``:
    the full runs made so far with this ``now`` (rule, clusters), to which this one's
    are added."""
    fresh = set() if fresh is None else fresh

    def full(compiled: Compiled, clusters: list[str] | None) -> RuleRun:
        key = None if clusters is None else tuple(clusters)
        mirror = rule.mirrors is not None and (rule.mirrors[0], key) in fresh
        run = run_rule(store, compiled, None, now, changed, present, clusters, mirror=mirror)
        fresh.add((rule.name, key))
        return run

    if scope is None:
        compiled = compile_rule(rule)
        since = previous.get(rule.name)
        if since is None:
            return [full(compiled, None)]
        return [run_rule(store, compiled, since, now, changed, present)]
    compiled = compile_rule(rule, scoped=True)
    ran = {c: previous.get(f"{rule.name}@{c}") for c in scope}
    new = [c for c, last in ran.items() if last is None]
    old = [c for c, last in ran.items() if last is not None]
    runs = []
    if new:
        runs.append(full(compiled, new))
    if old:
        since = min(t for t in ran.values() if t is not None)
        runs.append(run_rule(store, compiled, since, now, changed, present, old))
    return runs


# A time no node's changed_at reaches: the statements of a warm-up match nothing.
_NEVER = datetime(9999, 1, 1, tzinfo=UTC)


def warm_up(
    store: Store,
    rules: Iterable[Rule],
    should_stop: Callable[[], bool] | None = None,
    clusters: Collection[str] | None = None,
) -> int:
    """Have Neo4j plan the statements of incremental runs before the first one needs them.

    Neo4j keeps plans in its query cache, lost at its restart; planning the rules'
    statements (a few dozen) cost the first incremental run after a start as much as 40%
    of a full run. Each rule's two incremental statements run once anchored on changes
    after a time no node reaches: planned and cached with the parameter types of a real
    run, they match nothing and write nothing. The statements shared by every rule are
    planned with EXPLAIN (the closing one records a run). ``clusters``: the statements of
    runs scoped to clusters (see apply), which are other texts. Returns how many planned.
    """
    params: dict[str, Any] = {
        "now": _NEVER,
        "since": _NEVER,
        "batch": store.batch_size,
        "clusters": sorted(clusters) if clusters is not None else None,
        "states": [],
    }
    planned = 0
    for rule in rules:
        if not rule.enabled:
            continue
        if should_stop is not None and should_stop():
            break
        compiled = compile_rule(rule, scoped=clusters is not None)
        for text in (compiled.incremental_starts, compiled.incremental_goals):
            _one(store, text, {**compiled.params, **params}, "edges")
            planned += 1
    shared = {
        "store/rule_state_close": {"rule": "", "verb": "", "edges": 0, **params},
        "store/set_rule_state": {"names": [], "last_run": _NEVER, "edges": 0},
    }
    for name, values in shared.items():
        store.run("EXPLAIN " + statements.load(name), **values)  # type: ignore[arg-type,unused-ignore]
        planned += 1
    changed_classes(store, _NEVER)
    last_runs(store, [])
    return planned + 2


def explain(store: Store, compiled: Compiled) -> list[str]:
    """EXPLAIN every statement of a compiled rule; the errors, naming rule and origin."""
    errors = []
    params = {
        **compiled.params,
        "now": utcnow(),
        "since": utcnow(),
        "batch": 1,
        "edges": 0,
        "clusters": None,
        "states": [],
    }
    for what, text in compiled.statements().items():
        try:
            store.run("EXPLAIN " + text, **params)  # type: ignore[arg-type,unused-ignore]
        except Exception as exc:  # the server's message says what is wrong
            rule = compiled.rule
            errors.append(f"{rule.origin}: rule {rule.name} ({what}): {exc}")
    return errors
