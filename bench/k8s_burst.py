"""The watch at scale: a bounded burst of pod changes through the API, after the listing
of bench/k8s_ingest.py, until every change and its edges are right in the graph.

As ``korrel8 serve`` runs: the cluster is listed and watched (ClusterWatch) into the same
Neo4j, and a thread applies the rules incrementally after each write of the watch. Then
several threads patch N pods through the API (each pod's ``app`` label is changed to
another app of its namespace, or to a new one: its SELECTS edges from the old Service,
Deployment, ReplicaSet, StatefulSet and PDB must close, those from the new app's must
open) and delete M pods (their edges close, the node gets ``deleted_at``).

Measured from the first API change: (a) when every change is in the graph (the new label
on the N pod nodes, ``deleted_at`` on the M), (b) when also the edges are right: no open
edge of selects-pods (or its reverse) from a selector the pod no longer matches, none
at a deleted pod, and as many open edges of selects-pods (and of its reverse) as the
rule's ``count`` statement says it would make now. Meanwhile, every incremental run of
the rules is recorded. The baseline, measured afterwards on the same graph: a full run
of the rules (the alternative to the incremental runs), which also tells whether the
incremental runs left an edge to make (it makes a new one) or to close (it closes one).
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from rich.console import Console
from rich.table import Table

from ingest.k8s.api import Retry, connect, contexts
from ingest.k8s.kinds import builtin_kinds
from ingest.k8s.rows import object_ref
from ingest.k8s.sync import ingest_cluster, live_guard
from ingest.k8s.watch import ClusterWatch
from korrel8 import rules
from korrel8.config import KubernetesSettings, Settings
from korrel8.graph.store import Store, utcnow
from korrel8.rules import Rule
from korrel8.rules import runner as rule_runner
from korrel8.rules.compiler import compile_rule

console = Console()
SELECTS = "selects-pods"  # the rule whose edges the label changes move


def sizes(pods: int, updates: int | None, deletes: int | None) -> tuple[int, int]:
    """The burst's updates and deletes: as given, else 10% and 2% of the pods, at most
    1,000 and 200 (the issue's burst at 10k pods)."""
    return (
        updates if updates is not None else min(1000, max(1, pods // 10)),
        deletes if deletes is not None else min(200, max(1, pods // 50)),
    )


@dataclass(frozen=True)
class Change:
    op: Literal["update", "delete"]
    namespace: str
    name: str
    ref: str  # the pod's node
    app: str = ""  # an update's new value of the `app` label


def plan(
    api: k8s_client.ApiClient, cluster: str, updates: int, deletes: int, seed: int
) -> tuple[list[Change], tuple[str, str]]:
    """Which pods change, and how: distinct pods, in a shuffled order; and one more pod
    (namespace, name) to relabel before the burst."""
    pod_spec = next(s for s in builtin_kinds() if s.kind == "Pod" and not s.group)
    pods: list[Any] = []
    token: str | None = None
    core = k8s_client.CoreV1Api(api)
    while True:
        page = core.list_pod_for_all_namespaces(limit=500, _continue=token)
        pods += page.items
        token = page.metadata._continue
        if not token:
            break
    apps: dict[str, set[str]] = defaultdict(set)  # namespace -> its app label values
    for pod in pods:
        if app := (pod.metadata.labels or {}).get("app"):
            apps[pod.metadata.namespace].add(app)
    rng = random.Random(seed)
    chosen = rng.sample(pods, min(len(pods), updates + deletes + 1))
    primer = chosen.pop()
    changes = []
    for i, pod in enumerate(chosen):
        meta = {"namespace": pod.metadata.namespace, "name": pod.metadata.name}
        ref = object_ref(meta, pod_spec, cluster)
        if i >= updates:
            changes.append(Change("delete", meta["namespace"], meta["name"], ref))
            continue
        old = (pod.metadata.labels or {}).get("app", "")
        others = sorted(apps[meta["namespace"]] - {old})
        new = rng.choice(others) if others else f"{old or 'none'}-moved"
        changes.append(Change("update", meta["namespace"], meta["name"], ref, new))
    rng.shuffle(changes)
    return changes, (primer.metadata.namespace, primer.metadata.name)


@dataclass(frozen=True)
class IncrementalRun:
    started: float  # monotonic
    seconds: float
    edges: int
    closed: int
    errors: int
    rules: tuple[rule_runner.RuleRun, ...] = ()


class RulesLoop:
    """The rules thread of ``korrel8 serve`` (Service._rules_loop): an incremental run of
    every rule after the watch wrote something."""

    def __init__(self, store: Store, enabled: Sequence[Rule], cluster: str) -> None:
        self.store = store
        self.enabled = list(enabled)
        self.clusters = [cluster]
        self.dirty = threading.Event()  # set by the watch's writer
        self.runs: list[IncrementalRun] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bench-rules", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """After the run in progress, if any."""
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.is_set():
            if self.dirty.wait(timeout=0.5) and not self._stop.is_set():
                self.dirty.clear()
                started = time.monotonic()
                errors: list[str] = []
                done = rule_runner.apply(
                    self.store, self.enabled, errors=errors, clusters=self.clusters
                )
                self.runs.append(
                    IncrementalRun(
                        started, time.monotonic() - started, sum(r.edges for r in done),
                        sum(r.closed for r in done), len(errors), tuple(done),
                    )
                )  # fmt: skip
                for line in errors:
                    console.print(f"[red]rule error[/]: {line}")


UPDATED = """\
UNWIND $updated AS u
MATCH (p:Object {ref: u.ref})
WHERE p.deleted_at IS NULL AND u.label IN coalesce(p.labels, [])
RETURN count(p) AS n"""
DELETED = """\
UNWIND $deleted AS ref
MATCH (p:Object {ref: ref})
WHERE p.deleted_at IS NOT NULL
RETURN count(p) AS n"""
# An open edge of the selector rules between a selector and a changed pod it no longer
# selects; an open edge of any rule at a deleted pod.
STALE = """\
UNWIND $updated AS u
MATCH (p:Object {ref: u.ref})-[r]-(s:Object)
WHERE r.rule IN $rules AND r.valid_to IS NULL
  AND NOT all(l IN coalesce(s.selector, []) WHERE l IN coalesce(p.labels, []))
RETURN count(r) AS n"""
AT_DELETED = """\
UNWIND $deleted AS ref
MATCH (p:Object {ref: ref})-[r]-()
WHERE p.deleted_at IS NOT NULL AND r.valid_to IS NULL
RETURN count(r) AS n"""
OPEN = """\
MATCH ()-[r]->()
WHERE r.rule = $rule AND r.valid_to IS NULL
RETURN count(r) AS n"""


@dataclass
class Checks:
    """Cheap counts of what the graph holds of the burst, and whether its edges are right."""

    store: Store
    changes: Sequence[Change]
    forward: Rule  # selects-pods
    reverse: Rule | None  # selected-by, if enabled

    def __post_init__(self) -> None:
        self.updated = [
            {"ref": c.ref, "label": f"app={c.app}"} for c in self.changes if c.op == "update"
        ]
        self.deleted = [c.ref for c in self.changes if c.op == "delete"]
        self.names = [r.name for r in (self.forward, self.reverse) if r is not None]
        self.count = compile_rule(self.forward)

    def _n(self, query: str, **params: Any) -> int:
        rows = self.store.run(query, **params)
        return int(rows[0]["n"]) if rows else 0

    def in_graph(self) -> tuple[int, int]:
        """(updates, deletions) in the graph."""
        return (
            self._n(UPDATED, updated=self.updated),
            self._n(DELETED, deleted=self.deleted),
        )

    def at_deleted(self) -> int:
        """Open edges at deleted pods: the deletion closed them; a rule run that read the
        pod just before may open one again, until the next run closes it."""
        return self._n(AT_DELETED, deleted=self.deleted)

    def wrong_edges(self) -> dict[str, int]:
        """What is still wrong: stale edges at changed pods, open edges at deleted ones,
        and (only when those are right) edges missing or extra against the rule's count."""
        wrong = {
            "stale": self._n(STALE, updated=self.updated, rules=self.names),
            "at deleted": self.at_deleted(),
        }
        if any(wrong.values()):
            return wrong
        rows = self.store.run(self.count.count, **self.count.params)
        expected = int(rows[0]["edges"]) if rows else 0
        for name in self.names:
            wrong[f"{name} open - expected"] = self._n(OPEN, rule=name) - expected
        return {k: v for k, v in wrong.items() if v}


@dataclass
class BurstResult:
    pods: int
    updates: int
    deletes: int
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)
    list_seconds: float = 0.0  # the watch's own listing, as serve's first run
    first_full: float = 0.0  # serve's first rule run of the cluster (full)
    primer: float = 0.0  # the incremental run after one pod's change, before the burst
    api_seconds: float = 0.0  # first to last change acknowledged by the API
    api_errors: list[str] = field(default_factory=list)
    in_graph: float | None = None  # first change -> every change in the graph
    edges_right: float | None = None  # first change -> also the edges right
    missing: tuple[int, int] = (0, 0)  # updates, deletions not in the graph at the end
    wrong: dict[str, int] = field(default_factory=dict)  # at the end
    runs: list[IncrementalRun] = field(default_factory=list)  # during the window
    watch_events: int = 0
    t0: float = 0.0  # monotonic: the first API change
    full_after: float = 0.0
    full_runs: list[rule_runner.RuleRun] = field(default_factory=list)
    full_edges: int = 0
    full_new: int = 0  # edges the full run made that the incremental runs had not
    full_closed: int = 0  # open edges the incremental runs had left that no longer hold
    absent: frozenset[str] = frozenset()  # rules with no node on a side (a full run skips)
    reopened: int = 0  # most open edges at deleted pods seen at once, before (b)


def _apply_change(core: k8s_client.CoreV1Api, change: Change) -> float:
    """Make one change through the API; when it was acknowledged (monotonic)."""
    if change.op == "update":
        core.patch_namespaced_pod(
            change.name, change.namespace, {"metadata": {"labels": {"app": change.app}}}
        )
    else:  # no kubelet confirms a graceful deletion here: at once, as --force does
        core.delete_namespaced_pod(change.name, change.namespace, grace_period_seconds=0)
    return time.monotonic()


def _prime(core: k8s_client.CoreV1Api, loop: RulesLoop, pod: tuple[str, str]) -> float:
    """Relabel one pod and wait for the incremental run it causes; its seconds. A service
    that has run for a while has run the pods' rules incrementally before: the first such
    run after a start costs more (plans, caches) than the ones after it."""
    namespace, name = pod
    core.patch_namespaced_pod(name, namespace, {"metadata": {"labels": {"bench-prime": "1"}}})
    patched = time.monotonic()
    while not any(r.started > patched for r in loop.runs):
        time.sleep(0.1)
    return next(r for r in loop.runs if r.started > patched).seconds


def _wait_past_overlap(store: Store) -> None:
    """Until the listing's writes are outside the incremental runs' look-back
    (rule_runner.OVERLAP), as in a service that has run for a while: else the first
    incremental run re-reads the whole cluster."""
    rows = store.run("MATCH (n:Object) RETURN max(n.changed_at) AS last")
    last: datetime = rows[0]["last"].to_native()
    wait = (last + rule_runner.OVERLAP + timedelta(seconds=1) - utcnow()).total_seconds()
    if wait > 0:
        console.print(f"waiting {wait:.0f} s for the listing to leave the incremental runs' "
                      "look-back (rule_runner.OVERLAP), as in a running service")  # fmt: skip
        time.sleep(wait)


def run(
    kubeconfig: Path,
    settings: Settings,
    pods: int,
    updates: int,
    deletes: int,
    *,
    page_size: int = 500,
    workers: int = 8,
    seed: int = 1,
    timeout: float = 600.0,
    poll: float = 0.25,
) -> BurstResult:
    result = BurstResult(pods, updates, deletes, os.getloadavg())
    k8s = KubernetesSettings(kubeconfig=kubeconfig, page_size=page_size)
    enabled = [r for r in rules.load() if r.enabled]
    forward = next(r for r in enabled if r.name == SELECTS)
    reverse = next((r for r in enabled if r.name == f"{SELECTS}-reverse"), None)
    api = k8s_config.new_client_from_config(config_file=str(kubeconfig), persist_config=False)
    api.configuration.connection_pool_maxsize = workers * 2
    core = k8s_client.CoreV1Api(api)
    with Store.connect(settings) as store:
        # As serve starts: list the cluster, watch it, run the rules (a full run for a
        # cluster they never ran for), plan the incremental statements.
        conn = connect(k8s, contexts(k8s)[0], Retry())
        started = time.monotonic()
        listed = ingest_cluster(store, conn, k8s, guard=live_guard(settings))
        result.list_seconds = time.monotonic() - started
        cluster = listed.summary.cluster
        loop = RulesLoop(store, enabled, cluster)
        watch = ClusterWatch(
            store, conn, cluster, listed.kinds, page_size, k8s.interval_seconds,
            on_write=loop.dirty.set, guard=live_guard(settings),
        )  # fmt: skip
        watch.start()
        changes, primer = plan(api, cluster, updates, deletes, seed)
        checks = Checks(store, changes, forward, reverse)
        result.updates, result.deletes = len(checks.updated), len(checks.deleted)
        _wait_past_overlap(store)
        started = time.monotonic()
        rule_runner.apply(store, enabled, clusters=[cluster])
        result.first_full = time.monotonic() - started
        rule_runner.warm_up(store, enabled, clusters=[cluster])
        events_before = sum(watch.events.values())
        loop.start()
        result.primer = _prime(core, loop, primer)

        console.print(f"burst: {result.updates:,} pod updates and {result.deletes:,} "
                      f"deletions, {workers} threads")  # fmt: skip
        pool = ThreadPoolExecutor(workers)
        t0 = result.t0 = time.monotonic()
        futures = [pool.submit(_apply_change, core, c) for c in changes]
        deadline, answered = t0 + timeout, False
        expected = (result.updates, result.deletes)
        while time.monotonic() < deadline:
            now = time.monotonic()
            if not answered and all(f.done() for f in futures):
                # A change the API refused never reaches the graph: wait for the others.
                answered = True
                made = [c for f, c in zip(futures, changes, strict=True) if not f.exception()]
                checks = Checks(store, made, forward, reverse)
                expected = (len(checks.updated), len(checks.deleted))
            done = checks.in_graph()
            result.reopened = max(result.reopened, checks.at_deleted())
            if result.in_graph is None and done == expected:
                result.in_graph = now - t0
            if result.in_graph is not None and answered and not checks.wrong_edges():
                result.edges_right = now - t0
                break
            time.sleep(poll)
        pool.shutdown(wait=True)
        acknowledged = []
        for future, change in zip(futures, changes, strict=True):
            try:
                acknowledged.append(future.result())
            except Exception as exc:  # reported: that change cannot reach the graph
                result.api_errors.append(f"{change.op} {change.namespace}/{change.name}: {exc}")
        result.api_seconds = max(acknowledged, default=t0) - t0
        end = t0 + (result.edges_right if result.edges_right is not None else timeout)
        done = checks.in_graph()
        result.missing = (expected[0] - done[0], expected[1] - done[1])
        result.wrong = checks.wrong_edges()

        loop.stop()
        watch.stop()
        conn.close()
        result.watch_events = sum(watch.events.values()) - events_before
        result.runs = [r for r in loop.runs if r.started + r.seconds >= t0 and r.started < end]

        # The baseline: what a full run costs on the same graph, and what it finds to do.
        since = utcnow()
        started = time.monotonic()
        full = rule_runner.apply(store, enabled, full=True, clusters=[cluster])
        result.full_after = time.monotonic() - started
        result.full_runs = full
        result.full_edges = sum(r.edges for r in full)
        result.full_closed = sum(r.closed for r in full)
        rows = store.run(
            "MATCH ()-[r]->() WHERE r.first_seen >= $since RETURN count(r) AS n", since=since
        )
        result.full_new = int(rows[0]["n"]) if rows else 0
        present = rule_runner.present_classes(store)
        result.absent = frozenset(
            r.name for r in enabled
            if not (rule_runner._touches(r.start_classes, present)
                    and rule_runner._touches(r.goal_classes, present))
        )  # fmt: skip
    api.close()
    result.load_after = os.getloadavg()
    return result


def report(r: BurstResult) -> None:
    table = Table(
        title=f"Watch burst: {r.pods:,} pods, {r.updates:,} pod label changes and "
        f"{r.deletes:,} deletions through the API",
        caption="(a), (b), API: seconds from the first change",
    )
    for column in ("step", "seconds", "runs", "edges", "closed"):
        table.add_column(column, justify="left" if column == "step" else "right")

    def secs(value: float | None) -> str:
        return f"{value:.1f}" if value is not None else "[red]never[/]"

    table.add_row("start: listing for the watch", f"{r.list_seconds:.1f}", "", "", "")
    table.add_row("start: first rule run (full, cold)", f"{r.first_full:.1f}", "", "", "")
    table.add_row("first incremental run (1 pod changed)", f"{r.primer:.1f}", "", "", "")
    table.add_row("API: first to last change", f"{r.api_seconds:.1f}", "", "", "")
    table.add_row("(a) every change in the graph", secs(r.in_graph), "", "", "")
    table.add_row("(b) and every edge right", secs(r.edges_right), "", "", "")
    runs = r.runs
    total = sum(x.seconds for x in runs)
    table.add_row(
        "incremental runs by (b): total", f"{total:.1f}", f"{len(runs)}",
        f"{sum(x.edges for x in runs):,}", f"{sum(x.closed for x in runs):,}",
    )  # fmt: skip
    table.add_row("incremental runs by (b): longest",
                  f"{max((x.seconds for x in runs), default=0.0):.1f}", "", "", "")  # fmt: skip
    table.add_row(
        "baseline: full rule run after", f"{r.full_after:.1f}", "1",
        f"{r.full_edges:,}", f"{r.full_closed:,}",
    )  # fmt: skip
    console.print(table)
    if runs:
        console.print(
            "incremental runs (start after the first change: seconds, of which in rule "
            "statements; edges, closed): "
            + "; ".join(f"+{x.started - r.t0:.1f} s: {x.seconds:.1f} s, "
                        f"{sum(y.seconds for y in x.rules):.1f} s; {x.edges:,}, {x.closed:,}"
                        for x in runs)
        )  # fmt: skip
        _slowest(r)
    if runs:
        idle = sum(y.seconds for x in runs for y in x.rules if y.rule in r.absent)
        console.print(
            f"of the incremental runs' {total:.1f} s, {idle:.1f} s went to rules with no node "
            f"on a side ({len(r.absent)} of them; a full run skips those)"
        )
    if r.reopened:
        console.print(
            f"odd: up to {r.reopened} open edges at deleted pods at once during the burst (a "
            "rule run that read the pod before its deletion; the next run closes them)"
        )
    if runs and r.full_after:
        console.print(
            f"an incremental run took {total / len(runs):.2f} s on average, "
            f"{total / len(runs) / r.full_after:.0%} of a full run; the watch wrote "
            f"{r.watch_events:,} changes"
        )
    console.print(
        f"the full run after the burst made {r.full_new:,} edges the incremental runs had "
        f"not, and closed {r.full_closed:,} they had left open (both 0 when they were right)"
    )
    console.print(
        "load average (1, 5, 15 min): before "
        + ", ".join(f"{x:.1f}" for x in r.load_before)
        + "; after "
        + ", ".join(f"{x:.1f}" for x in r.load_after)
    )
    if any(r.missing):
        console.print(f"[red]never in the graph[/]: {r.missing[0]:,} updates, "
                      f"{r.missing[1]:,} deletions")  # fmt: skip
    if r.wrong:
        console.print(f"[red]edges still wrong at the end[/]: {r.wrong}")
    for line in r.api_errors[:10]:
        console.print(f"[red]API error[/]: {line}")


def _slowest(r: BurstResult, top: int = 6) -> None:
    """The rules that cost the incremental runs most, beside their cost in the full run."""
    seconds: dict[str, float] = defaultdict(float)
    edges: dict[str, int] = defaultdict(int)
    closed: dict[str, int] = defaultdict(int)
    for run_ in r.runs:
        for rule in run_.rules:
            seconds[rule.rule] += rule.seconds
            edges[rule.rule] += rule.edges
            closed[rule.rule] += rule.closed
    full: dict[str, float] = defaultdict(float)
    for rule in r.full_runs:
        full[rule.rule] += rule.seconds
    table = Table(title="Slowest rules in the incremental runs of the burst (all runs)")
    for column in ("rule", "seconds", "edges", "closed", "full run s"):
        table.add_column(column, justify="left" if column == "rule" else "right")
    for name in sorted(seconds, key=lambda n: -seconds[n])[:top]:
        table.add_row(name, f"{seconds[name]:.2f}", f"{edges[name]:,}", f"{closed[name]:,}",
                      f"{full[name]:.2f}")  # fmt: skip
    console.print(table)
