"""Keeping the graph current after the first listing.

With ``sources.kubernetes.watch`` (the default) each kind is watched from its listing's
resourceVersion: ADDED and MODIFIED upsert the node, DELETED marks it deleted (the node and
its edges stay for the retention window). 410 Gone (the server no longer has that
resourceVersion) means a complete relist of the kind, which sweeps what vanished meanwhile.
A watch that keeps failing otherwise is also replaced by a relist; a kind whose listing was
refused or failed is listed again every ``interval_seconds``.

Without ``watch``, every kind is relisted every ``interval_seconds``.

Each kind's watch tells its health (``ClusterWatch.health``): broken since when and why,
or skipped (its listing is forbidden or not served), so that ``serve`` reports the source
down once a watch stays broken past its retry window, and not for a kind it may not list.

One thread per watched kind reads its stream; one writer thread batches the changes into
the store, in order, so that a burst of events is a few transactions rather than many. The
queue between them is bounded: if Neo4j stalls, the watches stall with it instead of
holding the cluster in memory.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ingest.k8s.api import Connection, Retry, WatchStream, connect, contexts
from ingest.k8s.kinds import KindSpec
from ingest.k8s.rows import UNREPRESENTABLE, object_ref, to_row
from ingest.k8s.sync import (
    SKIPPED_REASONS,
    KindResult,
    ingest_cluster,
    ingest_once,
    list_kind,
    live_guard,
    mark_deleted,
)
from korrel8.config import Settings
from korrel8.errors import (
    Korrel8Error,
    KubernetesError,
    KubernetesForbiddenError,
    KubernetesGoneError,
    KubernetesNotFoundError,
)
from korrel8.graph.mass_delete import Guard
from korrel8.graph.rows import NodeRow
from korrel8.graph.store import Store

log = logging.getLogger(__name__)

WATCH_SECONDS = 300  # the server ends a watch after this; it is reopened at once
FAILURES_BEFORE_RELIST = 3
QUEUE_SIZE = 10_000


@dataclass(frozen=True)
class _Change:
    op: Literal["upsert", "delete"]
    class_name: str
    row: NodeRow | None = None
    ref: str = ""


@dataclass
class _KindHealth:
    broken_since: float | None = None  # monotonic; None: current
    error: str = ""
    skipped: str | None = None  # a reason of SKIPPED_REASONS: not watched, not an error


@dataclass(frozen=True)
class WatchHealth:
    """The kinds whose watch is broken now (class -> seconds since it broke, and the last
    error) and the kinds skipped (class -> reason)."""

    broken: dict[str, tuple[float, str]]
    skipped: dict[str, str]


class ClusterWatch:
    """Watches the kinds of one cluster, from the resourceVersions of their listings."""

    def __init__(
        self,
        store: Store,
        conn: Connection,
        cluster: str,
        listed: Sequence[KindResult],
        page_size: int,
        interval_seconds: float = 300.0,
        watch_seconds: int = WATCH_SECONDS,
        flush_seconds: float = 0.2,
        on_write: Callable[[], None] | None = None,
        guard: Guard | None = None,
    ) -> None:
        self.store = store
        self.guard = guard  # the mass-delete guard of relists (default: the defaults)
        self.conn = conn
        self.cluster = cluster
        self.page_size = page_size
        self.interval_seconds = interval_seconds
        self.watch_seconds = watch_seconds
        self.flush_seconds = flush_seconds
        self.on_write = on_write  # called after each write, e.g. to schedule the rules
        self.events: Counter[str] = Counter()  # class -> changes written
        self.relists: Counter[str] = Counter()  # class -> complete listings after the first
        self._listed = list(listed)
        self._queue: queue.Queue[_Change] = queue.Queue(QUEUE_SIZE)
        self._stop = threading.Event()
        self._streams: dict[str, WatchStream] = {}
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        now = time.monotonic()
        self._health = {r.spec.class_name: _KindHealth() for r in self._listed}
        for r in self._listed:
            if r.status in SKIPPED_REASONS:
                self._health[r.spec.class_name].skipped = SKIPPED_REASONS[r.status]
            elif not r.complete:
                self._health[r.spec.class_name] = _KindHealth(now, r.error or r.status)

    def health(self) -> WatchHealth:
        now = time.monotonic()
        with self._lock:
            broken = {
                cls: (now - h.broken_since, h.error)
                for cls, h in self._health.items()
                if h.broken_since is not None
            }
            skipped = {cls: h.skipped for cls, h in self._health.items() if h.skipped}
        return WatchHealth(broken, skipped)

    def _current(self, spec: KindSpec) -> None:
        with self._lock:
            self._health[spec.class_name] = _KindHealth()

    def _broken(self, spec: KindSpec, error: str) -> None:
        with self._lock:
            health = self._health.setdefault(spec.class_name, _KindHealth())
            if health.broken_since is None:  # since the first failure, not the latest
                health.broken_since = time.monotonic()
            health.error, health.skipped = error, None

    def _skipped(self, spec: KindSpec, reason: str) -> None:
        with self._lock:
            self._health[spec.class_name] = _KindHealth(skipped=reason)

    def start(self) -> None:
        writer = threading.Thread(target=self._write_loop, name="k8s-watch-writer", daemon=True)
        self._threads.append(writer)
        for result in self._listed:
            name = f"k8s-watch-{result.spec.class_name}"
            args = (result.spec, result.resource_version if result.complete else "")
            self._threads.append(
                threading.Thread(target=self._watch_loop, args=args, name=name, daemon=True)
            )
            if result.held:  # a mass deletion the next listing must confirm (or not)
                self._threads.append(
                    threading.Thread(target=self._confirm_loop, args=(result.spec,),
                                     name=f"{name}-confirm", daemon=True)
                )  # fmt: skip
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the watches, write what they delivered, and wait for the threads."""
        self._stop.set()
        with self._lock:
            streams = list(self._streams.values())
        for stream in streams:
            stream.close()
        for thread in self._threads:
            thread.join(timeout)

    def flush(self) -> None:
        """Wait until every change read so far is in the store."""
        self._queue.join()

    # -- one thread per kind ----------------------------------------------------

    def _watch_loop(self, spec: KindSpec, resource_version: str) -> None:
        failures = 0
        if not resource_version:  # its listing just failed: no point in trying again at once
            self._stop.wait(self.interval_seconds)
        while not self._stop.is_set():
            if not resource_version:
                try:
                    resource_version = self._relist(spec)
                except Korrel8Error as exc:  # the store failed: the next interval retries
                    log.error("%s: relist of %s failed: %s", self.conn.context,
                              spec.class_name, exc)  # fmt: skip
                    self._broken(spec, f"relist failed: {exc}")
                if not resource_version:
                    self._stop.wait(self.interval_seconds)
                    continue
            try:
                resource_version = self._follow(spec, resource_version)
                failures = 0
            except KubernetesGoneError:
                log.info("%s: %s watch expired (410); relisting", self.cluster, spec.class_name)
                resource_version = ""
            except (KubernetesForbiddenError, KubernetesNotFoundError) as exc:
                # Listed, but may not (or can no longer) be watched: relist on the interval.
                log.info("%s: watch of %s refused: %s", self.conn.context, spec.class_name, exc)
                self._skipped(
                    spec,
                    SKIPPED_REASONS[
                        "forbidden" if isinstance(exc, KubernetesForbiddenError) else "not served"
                    ],
                )
                failures, resource_version = 0, ""
                self._stop.wait(self.interval_seconds)
            except KubernetesError as exc:
                failures += 1
                log.warning("%s: watch of %s failed (%d): %s", self.conn.context,
                            spec.class_name, failures, exc)  # fmt: skip
                self._broken(spec, str(exc))
                if failures >= FAILURES_BEFORE_RELIST:
                    failures, resource_version = 0, ""
                else:
                    self._stop.wait(self.conn.retry.delay(failures))

    def _confirm_loop(self, spec: KindSpec) -> None:
        """List a kind again every interval while its listing holds a mass deletion: the
        watch sees no DELETED event for objects that were gone before it began."""
        while not self._stop.wait(self.interval_seconds):
            self.flush()
            try:
                result = list_kind(self.store, self.conn, self.cluster, spec, self.page_size,
                                   guard=self.guard)  # fmt: skip
            except Korrel8Error as exc:  # the store failed: the next interval retries
                log.error("%s: listing of %s failed: %s", self.conn.context,
                          spec.class_name, exc)  # fmt: skip
                continue
            if result.complete and not result.held:
                return

    def _follow(self, spec: KindSpec, resource_version: str) -> str:
        """Read one watch request to its end; the resourceVersion to go on from."""
        stream = WatchStream(
            self.conn, spec.path, resource_version, spec.watch_accept, self.watch_seconds
        )
        with self._lock:
            self._streams[spec.class_name] = stream
        self._current(spec)  # the server answers again: the watch is current from here
        if self._stop.is_set():
            stream.close()
        for event in stream:
            resource_version = self._handle(spec, event) or resource_version
        return resource_version

    def _handle(self, spec: KindSpec, event: dict[str, Any]) -> str | None:
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            message = f"{self.conn.context}: watch of {spec.path}: {obj.get('message')}"
            if obj.get("code") == 410:
                raise KubernetesGoneError(message, 410)
            raise KubernetesError(message, obj.get("code"))
        meta = obj.get("metadata") or {}
        if kind in ("ADDED", "MODIFIED"):
            try:
                row = to_row(obj, spec, self.cluster)
            except UNREPRESENTABLE as exc:
                log.warning("%s %s skipped: %s", spec.class_name, meta.get("name"), exc)
            else:
                self._put(_Change("upsert", spec.class_name, row=row))
        elif kind == "DELETED":
            ref = object_ref(meta, spec, self.cluster)
            self._put(_Change("delete", spec.class_name, ref=ref))
        rv = meta.get("resourceVersion")
        return str(rv) if rv else None

    def _put(self, change: _Change) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(change, timeout=1.0)
                return
            except queue.Full:
                continue

    def _relist(self, spec: KindSpec) -> str:
        """A complete listing of ``spec`` (sweeping what vanished); its resourceVersion,
        or "" if it did not complete."""
        self.flush()  # older queued changes must not overwrite the listing
        result = list_kind(
            self.store, self.conn, self.cluster, spec, self.page_size, guard=self.guard
        )
        self.relists[spec.class_name] += 1
        if result.status in SKIPPED_REASONS:
            self._skipped(spec, SKIPPED_REASONS[result.status])
        elif not result.complete:
            self._broken(spec, f"relist {result.status}: {result.error}")
        if not result.complete:
            log.info("%s: relist of %s %s: %s", self.conn.context, spec.class_name,
                     result.status, result.error)  # fmt: skip
            return ""
        self._current(spec)
        return result.resource_version

    # -- the writer -------------------------------------------------------------

    def _write_loop(self) -> None:
        while not (self._stop.is_set() and self._queue.empty()):
            try:
                first = self._queue.get(timeout=self.flush_seconds)
            except queue.Empty:
                continue
            batch = [first]
            while len(batch) < self.store.batch_size:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self._write(batch)
            finally:  # written, or given up on at stop: flush() must not wait forever
                for _ in batch:
                    self._queue.task_done()

    def _write(self, batch: list[_Change]) -> None:
        """Write runs of the same operation in order; retry while the store is down."""
        runs: list[list[_Change]] = []
        for change in batch:
            if runs and runs[-1][0].op == change.op:
                runs[-1].append(change)
            else:
                runs.append([change])
        for run in runs:
            attempt = 0
            while True:
                try:
                    if run[0].op == "upsert":
                        self.store.upsert_nodes(c.row for c in run if c.row is not None)
                    else:
                        mark_deleted(self.store, (c.ref for c in run))
                    if self.on_write is not None:
                        self.on_write()
                    break
                except Korrel8Error as exc:
                    attempt += 1
                    log.error("writing %d watched changes failed: %s", len(run), exc)
                    if self._stop.wait(self.conn.retry.delay(attempt)):
                        return
            self.events.update(c.class_name for c in run)


def run(
    settings: Settings, store: Store, stop: threading.Event, context: str | None = None
) -> None:
    """Keep the graph current until ``stop`` is set: list, then watch (or relist on the
    interval when ``sources.kubernetes.watch`` is false)."""
    k8s = settings.sources.kubernetes
    if not k8s.watch:
        while not stop.is_set():
            for result in ingest_once(settings, store, context):
                for line in result.summary.errors:
                    log.warning("%s: %s", result.context, line)
            stop.wait(k8s.interval_seconds)
        return
    watches: list[ClusterWatch] = []
    pending = contexts(k8s, context)
    try:
        while pending and not stop.is_set():
            pending = [name for name in pending if not _start_watch(settings, store, name, watches)]
            if pending:
                stop.wait(k8s.interval_seconds)
        stop.wait()
    finally:
        for watch in watches:
            watch.stop()
            watch.conn.close()


def _start_watch(
    settings: Settings, store: Store, context: str, watches: list[ClusterWatch]
) -> bool:
    """List one cluster and start watching it; False if it could not be reached."""
    k8s = settings.sources.kubernetes
    conn = connect(k8s, context, Retry())
    try:
        result = ingest_cluster(store, conn, k8s, guard=live_guard(settings))
    except KubernetesError as exc:
        log.warning("%s: %s; trying again in %.0f s", context, exc, k8s.interval_seconds)
        conn.close()
        return False
    watch = ClusterWatch(
        store, conn, result.summary.cluster, result.kinds, k8s.page_size, k8s.interval_seconds,
        guard=live_guard(settings),
    )  # fmt: skip
    watch.start()
    watches.append(watch)
    return True


__all__ = ["ClusterWatch", "WatchHealth", "run"]
