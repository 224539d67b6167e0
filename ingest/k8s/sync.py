"""The Kubernetes ingester: list every kind the rules need from each configured cluster and
stream the objects into the graph, one node per object (see docs/k8s-nodes.md).

    ingest_once(settings, store)          every configured context, once
    ingest_cluster(store, conn, ...)      one cluster: each kind, page by page
    list_kind(store, conn, cluster, spec) one kind: a Store.listing that sweeps when complete
    watch / relist                        ingest/k8s/watch.py

The modules around this one: api (requests, pages, watches, retries), kinds (which
kinds: kinds.yaml plus the custom resources discovery finds), rows (object to row).

Each kind is its own listing (``Store.listing(classes=[class])``), so one kind's failure
never costs another its data: a kind that answers 403 is skipped with one warning, one
that fails midway keeps what it had (no sweep), and the other kinds go on.

The cluster's name (the ``cluster`` of every ref) is ``sources.kubernetes.cluster_names``
for the context, else the UID of the cluster's kube-system namespace: stable for the
cluster's life, the same through every kubeconfig, and what OpenTelemetry calls
``k8s.cluster.uid``. Running in a pod without a kubeconfig, the context is ``in-cluster``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import chain
from typing import Literal

from ingest.k8s.api import (
    Connection,
    Page,
    Retry,
    connect,
    contexts,
    get_json,
    list_pages,
    prefetch,
)
from ingest.k8s.kinds import KindSpec, builtin_kinds, custom_kinds
from ingest.k8s.rows import SOURCE, UNREPRESENTABLE, to_row
from ingest.summary import Summary
from korrel8.config import KubernetesSettings, Settings
from korrel8.errors import (
    KubernetesError,
    KubernetesForbiddenError,
    KubernetesGoneError,
    KubernetesNotFoundError,
)
from korrel8.graph import statements
from korrel8.graph.mass_delete import Guard
from korrel8.graph.rows import NodeRow
from korrel8.graph.store import Store, utcnow

log = logging.getLogger(__name__)

RELISTS_ON_GONE = 3  # a continue token that keeps expiring means the cluster churns too fast

Status = Literal["ok", "forbidden", "not served", "failed"]
# A kind in these states is skipped (the source stays up), reported under this reason.
SKIPPED_REASONS: dict[str, str] = {"forbidden": "forbidden", "not served": "not_served"}
# Called after each page: the kind, objects so far, and the server's estimate of the total.
Progress = Callable[[KindSpec, int, int | None], None]


@dataclass
class KindResult:
    """What listing one kind did."""

    spec: KindSpec
    objects: int = 0
    pages: int = 0
    seconds: float = 0.0
    deleted: int = 0  # swept: gone since the last complete listing
    status: Status = "ok"
    error: str | None = None
    resource_version: str = ""  # the listing's, to watch from
    skipped: int = 0  # objects korrel8 cannot represent: the listing is partial, no sweep
    held: list[str] = field(default_factory=list)  # a mass deletion waiting to be confirmed

    @property
    def complete(self) -> bool:
        return self.status == "ok"


@dataclass
class ClusterResult:
    context: str
    summary: Summary
    kinds: list[KindResult] = field(default_factory=list)


def cluster_name(conn: Connection, settings: KubernetesSettings) -> str:
    """The configured name of the context's cluster, else its kube-system namespace's UID."""
    named = settings.cluster_names.get(conn.context)
    if named:
        return named
    try:
        uid = get_json(conn, "/api/v1/namespaces/kube-system")["metadata"]["uid"]
    except (KubernetesError, KeyError) as exc:
        raise KubernetesError(
            f"{conn.context}: cannot name the cluster from the kube-system namespace's UID "
            f"({exc}); set sources.kubernetes.cluster_names.{conn.context} in korrel8.yaml"
        ) from exc
    return str(uid)


def kinds_to_list(conn: Connection, settings: KubernetesSettings) -> list[KindSpec]:
    """The built-in kinds, then the selected custom resources (discovery failing only
    leaves the custom resources out)."""
    kinds = list(builtin_kinds())
    try:
        kinds += custom_kinds(conn, settings.custom_resources)
    except KubernetesError as exc:
        log.warning("%s: custom resources left out: %s", conn.context, exc)
    return kinds


def live_guard(settings: Settings) -> Guard:
    """The mass-delete guard of live listings: a second listing in a row confirms."""
    return Guard(settings.mass_delete_share, settings.mass_delete_min_objects, confirm=True)


def list_kind(
    store: Store,
    conn: Connection,
    cluster: str,
    spec: KindSpec,
    page_size: int,
    progress: Progress | None = None,
    guard: Guard | None = None,
) -> KindResult:
    """List one kind page by page into the store; sweep what vanished only if complete.

    A kind refused (403) or not served (404) at its first page opens no listing at all:
    its data stays as it was, with one warning (from ingest_cluster), not two. A listing
    that skipped an object is partial; one that lacks more than the guard's share of the
    kind's nodes marks them deleted only when the next complete listing lacks them too.
    """
    result = KindResult(spec)
    started = time.monotonic()
    rows = _rows(conn, cluster, spec, page_size, result, progress)
    try:
        first = next(rows, None)
    except KubernetesError as exc:
        _failed(result, exc)
        result.seconds = time.monotonic() - started
        return result
    guard = guard or Guard(confirm=True)
    with store.listing(SOURCE, cluster, classes=[spec.class_name], guard=guard) as listing:
        try:
            listing.upsert(chain([first], rows) if first is not None else rows)
        except KubernetesError as exc:
            _failed(result, exc)
            listing.mark_partial(f"{spec.class_name} {result.status}: {exc}")
        if result.skipped and result.complete:
            listing.mark_partial(f"{result.skipped} {spec.class_name} objects skipped")
    result.deleted = listing.deleted
    result.held = [held.message() for held in listing.held]
    result.seconds = time.monotonic() - started
    return result


def _failed(result: KindResult, exc: KubernetesError) -> None:
    if isinstance(exc, KubernetesForbiddenError):
        result.status = "forbidden"
    elif isinstance(exc, KubernetesNotFoundError):
        result.status = "not served"
    else:
        result.status = "failed"
    result.error = str(exc)


def _rows(
    conn: Connection,
    cluster: str,
    spec: KindSpec,
    page_size: int,
    result: KindResult,
    progress: Progress | None,
) -> Iterator[NodeRow]:
    """Rows page by page: at most one page and one store batch are held at a time."""
    for attempt in range(1, RELISTS_ON_GONE + 1):
        result.objects = result.pages = result.skipped = 0
        try:
            for page in prefetch(list_pages(conn, spec.path, page_size, spec.accept)):
                if not result.pages:
                    result.resource_version = page.resource_version
                result.pages += 1
                for obj in page.items:
                    row = _row(obj, spec, cluster)
                    if row is not None:
                        yield row
                    else:
                        result.skipped += 1
                result.objects += len(page.items)
                if progress is not None:
                    progress(spec, result.objects, _estimate(result.objects, page))
            return
        except KubernetesGoneError:
            # The continue token expired (a slow listing of a big kind): start over. What
            # was written stays; the sweep compares against the listing's start.
            if attempt == RELISTS_ON_GONE:
                raise
            log.info("%s: %s listing expired; listing again", conn.context, spec.class_name)


def _estimate(seen: int, page: Page) -> int | None:
    if page.last:
        return seen
    return seen + page.remaining if page.remaining is not None else None


def _row(obj: dict[str, object], spec: KindSpec, cluster: str) -> NodeRow | None:
    try:
        return to_row(obj, spec, cluster)
    except UNREPRESENTABLE as exc:  # an object korrel8 cannot represent; the others go on
        meta = obj.get("metadata")
        name = meta.get("name") if isinstance(meta, dict) else None
        log.warning("%s %s skipped: %s", spec.class_name, name, exc)
        return None


def ingest_cluster(
    store: Store,
    conn: Connection,
    settings: KubernetesSettings,
    kinds: Sequence[KindSpec] | None = None,
    progress: Progress | None = None,
    cluster: str | None = None,
    guard: Guard | None = None,
) -> ClusterResult:
    """List every kind (default: built-in plus custom resources) of one cluster."""
    started = time.monotonic()
    name = cluster or cluster_name(conn, settings)
    result = ClusterResult(conn.context, Summary(SOURCE, name))
    for spec in kinds if kinds is not None else kinds_to_list(conn, settings):
        kind = list_kind(store, conn, name, spec, settings.page_size, progress, guard)
        result.kinds.append(kind)
        result.summary.partial += kind.held
        if kind.skipped:
            result.summary.partial.append(
                f"{spec.class_name}: {kind.skipped} objects korrel8 cannot represent were "
                "skipped (logged above); the kind was not swept"
            )
        result.summary.objects[spec.class_name] += kind.objects
        result.summary.deleted += kind.deleted
        if kind.status == "forbidden":
            log.warning(
                "%s: %s skipped, existing data kept: the credential may not list %s "
                "(grant list and watch on it, or ignore this)",
                conn.context, spec.class_name, spec.resource,
            )  # fmt: skip
        elif kind.status == "not served":
            log.warning("%s: %s skipped: not served by the cluster", conn.context,
                        spec.class_name)  # fmt: skip
        # Least privilege (no Secrets) is a normal setup: skipped, not an error.
        if kind.status in SKIPPED_REASONS:
            result.summary.skipped_kinds[spec.class_name] = SKIPPED_REASONS[kind.status]
        elif kind.error:  # a failed listing was reported by the store, which kept the data
            result.summary.errors.append(f"{spec.class_name}: {kind.error}")
    result.summary.seconds = time.monotonic() - started
    return result


def ingest_once(
    settings: Settings,
    store: Store,
    context: str | None = None,
    progress: Progress | None = None,
    retry: Retry | None = None,
) -> list[ClusterResult]:
    """One complete pass over every configured context (or just ``context``).

    A cluster that cannot be reached is reported in its summary; the others go on.
    """
    k8s = settings.sources.kubernetes
    results = []
    for name in contexts(k8s, context):
        conn = connect(k8s, name, retry)
        try:
            guard = live_guard(settings)
            results.append(ingest_cluster(store, conn, k8s, progress=progress, guard=guard))
        except KubernetesError as exc:
            summary = Summary(SOURCE, k8s.cluster_names.get(name, name), errors=[str(exc)])
            results.append(ClusterResult(name, summary))
        finally:
            conn.close()
    return results


def mark_deleted(store: Store, refs: Iterable[str], now: datetime | None = None) -> int:
    """Mark deleted the nodes of ``refs`` (an object the API reported deleted) and close
    their edges; the nodes stay for the retention window. Returns how many were marked."""
    query = statements.load("store/mark_deleted")
    refs = list(refs)
    if not refs:
        return 0
    rows = store.run(query, refs=refs, now=now or utcnow())  # type: ignore[arg-type,unused-ignore]
    return int(rows[0]["deleted"]) if rows else 0


__all__ = [
    "SKIPPED_REASONS",
    "ClusterResult",
    "KindResult",
    "Progress",
    "cluster_name",
    "ingest_cluster",
    "ingest_once",
    "kinds_to_list",
    "list_kind",
    "live_guard",
    "mark_deleted",
]
