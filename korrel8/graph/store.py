"""The graph store: the one place that writes korrel8's graph to Neo4j.

Writes are batched ``UNWIND $rows`` statements (files under ``cypher/store/``)
against the uniqueness constraint on ``:Object(ref)``. A complete listing of one
source and cluster may be followed by a sweep that marks deleted what it no longer
holds; :meth:`Store.listing` makes that safe by sweeping only when the listing
finished without error and was not marked partial.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from types import TracebackType
from typing import Any, LiteralString, TypeVar

from neo4j import Driver, GraphDatabase, ManagedTransaction, Query
from neo4j.exceptions import AuthError, ClientError, Neo4jError, ServiceUnavailable

from korrel8.config import Settings, load_settings
from korrel8.errors import (
    AuthenticationError,
    DatabaseNotFoundError,
    QueryTimeoutError,
    StoreError,
    StoreUnavailableError,
)
from korrel8.graph import identifiers, localdb, mass_delete, statements
from korrel8.graph.rows import EdgeRow, NodeRow

log = logging.getLogger(__name__)

T = TypeVar("T")
RUN_ATTEMPTS = 6  # a statement that fails transiently (a deadlock) is run up to this often


def utcnow() -> datetime:
    return datetime.now(UTC)


def batched(rows: Iterable[T], size: int) -> Iterator[list[T]]:
    it = iter(rows)
    while batch := list(islice(it, size)):
        yield batch


def _query(name: str) -> LiteralString:
    # The text comes from the project's own files, never from data. (mypy treats
    # LiteralString as str; the annotation documents the driver's contract.)
    return statements.load(name)  # type: ignore[return-value,unused-ignore]


def _node_query(labels: tuple[str, ...]) -> LiteralString:
    """The node upsert with its labels written in, checked first: one statement per
    label set (see cypher/store/upsert_nodes.cypher)."""
    written = ":".join(identifiers.label(label) for label in labels)
    text = _query("store/upsert_nodes").replace("$(row.labels)", written)
    return text  # type: ignore[return-value,unused-ignore]


def _edge_query(rel_type: str) -> LiteralString:
    """The edge upsert with its relationship type written in, checked first.

    The file says ``$(row.type)`` (a dynamic type, valid as it stands in Neo4j Browser),
    but Neo4j 5.26 plans a MERGE on a dynamic type poorly: measured with `make bench`,
    batches of 10,000 new edges ran 10x slower than with the type written in.
    """
    text = _query("store/upsert_edges").replace("$(row.type)", identifiers.rel_type(rel_type))
    return text  # type: ignore[return-value,unused-ignore]


@dataclass(frozen=True)
class Target:
    """Where the store connects; the password stays out of repr and logs."""

    uri: str
    user: str
    password: str
    database: str

    def __repr__(self) -> str:
        return f"Target(uri={self.uri!r}, user={self.user!r}, database={self.database!r})"


def resolve_target(settings: Settings) -> Target:
    """The configured Neo4j, or else the local one of ``korrel8 db start``."""
    password = settings.neo4j_password.get_secret_value() if settings.neo4j_password else None
    if settings.neo4j_uri:
        return Target(
            settings.neo4j_uri, settings.neo4j_user, password or "", settings.neo4j_database
        )
    local = localdb.credentials(settings.local)
    if local is None:
        raise StoreUnavailableError(
            "no Neo4j configured: run `korrel8 db start` for a local one, "
            "or set NEO4J_URI (and NEO4J_USER, NEO4J_PASSWORD)"
        )
    return Target(local.uri, local.user, password or local.password, settings.neo4j_database)


@dataclass(frozen=True)
class PurgeCounts:
    nodes: int
    edges: int


class Store:
    """A connection to korrel8's graph. Thread-safe: each call uses its own session."""

    def __init__(
        self,
        driver: Driver,
        database: str = "neo4j",
        batch_size: int = 10_000,
        query_timeout: float | None = None,
    ) -> None:
        self.driver = driver
        self.database = database
        self.batch_size = batch_size
        self.query_timeout = query_timeout

    @classmethod
    def connect(cls, settings: Settings | None = None) -> Store:
        """Connect and check that the server answers and the database exists."""
        settings = settings or load_settings()
        target = resolve_target(settings)
        try:
            # Notifications off: "label does not exist" on an empty graph is noise to users.
            driver = GraphDatabase.driver(
                target.uri,
                auth=(target.user, target.password),
                notifications_min_severity="OFF",
            )
        except ValueError as exc:  # a malformed URI
            raise StoreUnavailableError(f"invalid Neo4j URI {target.uri!r}: {exc}") from exc
        store = cls(driver, target.database, settings.batch_size, settings.query_timeout)
        try:
            # A plain session run: execute_query would retry an unreachable server for 30s.
            with driver.session(database=target.database) as session:
                session.run("RETURN 1").consume()
        except AuthError as exc:
            driver.close()
            raise AuthenticationError(
                f"Neo4j at {target.uri} refused user {target.user!r}: wrong password? "
                "(NEO4J_USER / NEO4J_PASSWORD)"
            ) from exc
        except ServiceUnavailable as exc:
            driver.close()
            raise StoreUnavailableError(
                f"cannot reach Neo4j at {target.uri}: {exc}. Is it running? "
                "(`korrel8 db status` for the local one)"
            ) from exc
        except ClientError as exc:
            driver.close()
            if exc.code and "DatabaseNotFound" in exc.code:
                raise DatabaseNotFoundError(
                    f"Neo4j at {target.uri} has no database {target.database!r} (NEO4J_DATABASE)"
                ) from exc
            raise StoreError(f"Neo4j at {target.uri}: {exc.message}") from exc
        return store

    def close(self) -> None:
        self.driver.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- reading and writing -------------------------------------------------

    def run(self, query: LiteralString, **params: Any) -> list[dict[str, Any]]:
        """Run one auto-commit statement (needed for CALL ... IN TRANSACTIONS).

        A transient failure (a deadlock with another korrel8 writing to the same Neo4j)
        runs the statement again, as execute_write would: every statement run here is
        idempotent (MERGE, SET, sweeps, reads)."""
        for attempt in range(1, RUN_ATTEMPTS + 1):
            try:
                with self.driver.session(database=self.database) as session:
                    return [record.data() for record in session.run(query, params)]
            except ServiceUnavailable as exc:
                raise StoreUnavailableError(f"lost the connection to Neo4j: {exc}") from exc
            except Neo4jError as exc:
                if not exc.is_retryable() or attempt == RUN_ATTEMPTS:
                    raise StoreError(f"Neo4j refused a statement: {exc.message}") from exc
                log.info("transient failure, attempt %d of %d: %s", attempt, RUN_ATTEMPTS,
                         exc.code)  # fmt: skip
                time.sleep(random.uniform(0.5, 1.5) * min(0.2 * 2**attempt, 5.0))
        raise AssertionError("unreachable")  # the loop returns or raises

    def read(self, query: LiteralString, **params: Any) -> list[dict[str, Any]]:
        """Run one read query within the store's time limit (``query_timeout``): Neo4j
        stops a query that runs past it, even if the client has gone away."""
        with self.reading() as read:
            return read(query, **params)

    @contextmanager
    def reading(self) -> Iterator[Callable[..., list[dict[str, Any]]]]:
        """A function that runs read queries as :meth:`read` does, all in one session: a
        search of several statements pays for one session, not one each."""
        try:
            with self.driver.session(database=self.database) as session:

                def read(query: LiteralString, **params: Any) -> list[dict[str, Any]]:
                    result = session.run(Query(query, timeout=self.query_timeout), params)
                    return [record.data() for record in result]

                yield read
        except ServiceUnavailable as exc:
            raise StoreUnavailableError(f"lost the connection to Neo4j: {exc}") from exc
        except Neo4jError as exc:
            if exc.code and "TransactionTimedOut" in exc.code:
                raise QueryTimeoutError(
                    f"the query ran past its {self.query_timeout:g} s limit and Neo4j stopped "
                    "it: narrow it (--depth, --limit, the time window) or raise the limit "
                    "(query_timeout setting, KORREL8_QUERY_TIMEOUT)"
                ) from exc
            raise StoreError(f"Neo4j refused a statement: {exc.message}") from exc

    def _write(self, query: LiteralString, **params: Any) -> list[dict[str, Any]]:
        return self._write_all([(query, params)])[0]

    def _write_all(
        self, work: Sequence[tuple[LiteralString, dict[str, Any]]]
    ) -> list[list[dict[str, Any]]]:
        """Run several statements in one write transaction; each one's records."""

        def run(tx: ManagedTransaction) -> list[list[dict[str, Any]]]:
            return [[record.data() for record in tx.run(q, p)] for q, p in work]

        try:
            with self.driver.session(database=self.database) as session:
                # execute_write retries transient errors such as deadlocks between writers.
                return session.execute_write(run)
        except ServiceUnavailable as exc:
            raise StoreUnavailableError(f"lost the connection to Neo4j: {exc}") from exc
        except Neo4jError as exc:
            raise StoreError(f"Neo4j refused a write: {exc.message}") from exc

    def _pipelined(
        self, batches: Iterator[list[tuple[LiteralString, dict[str, Any]]]]
    ) -> Iterator[list[list[dict[str, Any]]]]:
        """Each batch's statements in one transaction, written while the next batch is
        prepared: the caller's rows (reading, converting, checking) and Neo4j's work
        overlap, one batch in flight at a time. Results in the order of the batches."""
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="korrel8-write") as pool:
            pending: Future[list[list[dict[str, Any]]]] | None = None
            try:
                for work in batches:
                    if pending is not None:
                        yield pending.result()
                    pending = pool.submit(self._write_all, work)
                if pending is not None:
                    yield pending.result()
                    pending = None
            finally:
                if pending is not None:  # the rows failed: let the batch in flight finish
                    pending.exception()

    def apply_schema(self) -> None:
        """Create the constraint and indexes if they are missing, and wait for them."""
        for statement in statements.load_many("schema"):
            self.run(statement)  # type: ignore[arg-type,unused-ignore]
        self.run("CALL db.awaitIndexes(300)")

    def upsert_nodes(self, rows: Iterable[NodeRow], now: datetime | None = None) -> int:
        """Create or update nodes in batches; returns how many were written.

        Without ``now``, each batch is stamped when it is written, not when the call began:
        incremental rule runs look for changes since their last run (less a minute), and
        a long listing's late batches, stamped early, would commit after that window.
        """
        written = 0
        for results in self._pipelined(self._node_batches(rows, now)):
            written += sum(int(r[0]["written"]) for r in results if r)
        return written

    def _node_batches(
        self, rows: Iterable[NodeRow], now: datetime | None
    ) -> Iterator[list[tuple[LiteralString, dict[str, Any]]]]:
        """Each batch as one statement per label set, with its labels written in."""
        for batch in batched(rows, self.batch_size):
            stamp = now or utcnow()
            by_labels: dict[tuple[str, ...], list[dict[str, Any]]] = {}
            for row in batch:
                by_labels.setdefault(row.graph_labels, []).append(row.to_param())
            work = []
            for labels, params in sorted(by_labels.items()):
                # Sorted by ref, concurrent writers lock in the same order: fewer deadlocks.
                params.sort(key=lambda p: p["ref"])
                work.append((_node_query(labels), {"rows": params, "now": stamp}))
            yield work

    def upsert_edges(self, rows: Iterable[EdgeRow], now: datetime | None = None) -> int:
        """Create or update edges in batches; edges whose ends are missing are skipped."""
        stamp = now or utcnow()
        offered = 0

        def batches() -> Iterator[list[tuple[LiteralString, dict[str, Any]]]]:
            nonlocal offered
            for batch in batched(rows, self.batch_size):
                by_type: dict[str, list[dict[str, Any]]] = {}
                for row in batch:
                    by_type.setdefault(row.type, []).append(row.to_param())
                work = []
                for rel_type, params in sorted(by_type.items()):
                    params.sort(key=lambda p: (str(p["start"]), str(p["goal"])))
                    offered += len(params)
                    work.append((_edge_query(rel_type), {"rows": params, "now": stamp}))
                yield work

        written = 0
        for results in self._pipelined(batches()):
            written += sum(int(r[0]["written"]) for r in results if r)
        if written < offered:
            log.warning(
                "%d of %d edges skipped: a start or goal node is missing",
                offered - written,
                offered,
            )
        return written

    def sweep(
        self,
        source: str,
        cluster: str,
        started: datetime,
        classes: Sequence[str] | None = None,
        now: datetime | None = None,
    ) -> int:
        """Mark deleted the nodes of ``source`` and ``cluster`` (and ``classes``) not seen
        since ``started``, and close their edges. Call only after a complete listing."""
        result = self.run(
            _query("store/sweep"),
            source=source,
            cluster=cluster,
            classes=list(classes) if classes is not None else None,
            started=started,
            now=now or utcnow(),
            batch=self.batch_size,
        )
        return int(result[0]["deleted"]) if result else 0

    def purge(
        self,
        retention: timedelta,
        now: datetime | None = None,
        clusters: Iterable[str] | None = None,
    ) -> PurgeCounts:
        """Remove nodes deleted, and edges closed, longer than ``retention`` ago (of
        ``clusters`` only, if given: an edge by its start's cluster)."""
        cutoff = (now or utcnow()) - retention
        scope = sorted(clusters) if clusters is not None else None
        edges = self.run(
            _query("store/purge_edges"), cutoff=cutoff, batch=self.batch_size, clusters=scope
        )
        nodes = self.run(
            _query("store/purge_nodes"), cutoff=cutoff, batch=self.batch_size, clusters=scope
        )
        return PurgeCounts(
            nodes=int(nodes[0]["purged"]) if nodes else 0,
            edges=int(edges[0]["purged"]) if edges else 0,
        )

    def counts(self) -> dict[str, dict[str, int]]:
        """Live nodes per class and open edges per type."""
        out: dict[str, dict[str, int]] = {"node": {}, "edge": {}}
        for row in self.run(_query("store/counts")):
            out[row["what"]][row["name"]] = int(row["count"])
        return out

    def listing(
        self,
        source: str,
        cluster: str,
        classes: Sequence[str] | None = None,
        guard: mass_delete.Guard | None = None,
    ) -> Listing:
        """A listing of one source and cluster (and classes) that sweeps when complete;
        with ``guard``, a class that would lose too many nodes at once is held back."""
        return Listing(self, source, cluster, classes, guard)


class Listing:
    """Upserts the rows of one listing and, if it completes, sweeps what it lacked.

    The sweep runs only when the ``with`` block ends without an exception and
    :meth:`mark_partial` was not called: a partial listing never deletes data.
    """

    def __init__(
        self,
        store: Store,
        source: str,
        cluster: str,
        classes: Sequence[str] | None,
        guard: mass_delete.Guard | None = None,
    ) -> None:
        self.store = store
        self.guard = guard
        self.held: list[mass_delete.Held] = []  # classes the guard kept from the sweep
        self.source = source
        self.cluster = cluster
        self.classes = classes
        self.started = utcnow()
        self.written = 0
        self.deleted = 0
        self.partial_reason: str | None = None

    def upsert(self, rows: Iterable[NodeRow]) -> int:
        written = self.store.upsert_nodes(rows)
        self.written += written
        return written

    def mark_partial(self, reason: str) -> None:
        self.partial_reason = reason

    def __enter__(self) -> Listing:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if e is not None:
            self.partial_reason = self.partial_reason or f"{type(e).__name__}: {e}"
        if self.partial_reason is not None:
            log.warning(
                "no sweep of %s/%s: the listing was partial (%s); existing data kept",
                self.source, self.cluster, self.partial_reason,
            )  # fmt: skip
            return
        if self.guard is None:
            self.deleted = self.store.sweep(self.source, self.cluster, self.started, self.classes)
            return
        outcome = mass_delete.sweep(
            self.store, self.source, self.cluster, self.started, self.classes, self.guard,
            now=utcnow(),
        )  # fmt: skip
        self.deleted, self.held = outcome.deleted, outcome.held


__all__ = ["Listing", "PurgeCounts", "Store", "Target", "resolve_target"]
