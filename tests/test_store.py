"""The graph store against a real Neo4j."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from pydantic import SecretStr, ValidationError

from korrel8.errors import (
    AuthenticationError,
    DatabaseNotFoundError,
    Korrel8Error,
    StoreUnavailableError,
)
from korrel8.graph.rows import EdgeRow, NodeRow
from korrel8.graph.store import Store, utcnow
from tests.graph import assert_edges, assert_nodes, edge, edges, node, nodes
from tests.servers.common import free_port
from tests.servers.neo4j import Neo4jServer


def schema_names(store: Store) -> list[str]:
    rows = store.run("SHOW CONSTRAINTS YIELD name RETURN name")
    rows += store.run("SHOW INDEXES YIELD name, type WHERE type <> 'LOOKUP' RETURN name")
    return sorted(r["name"] for r in rows)


def test_schema_is_idempotent(store: Store) -> None:
    before = schema_names(store)
    store.apply_schema()
    store.apply_schema()
    assert schema_names(store) == before
    assert "object_ref" in before
    # The constraint really holds: a second node with the same ref is refused.
    store.upsert_nodes([node("a")])
    with pytest.raises(Exception, match="already exists"):
        store.run("CREATE (:Object {ref: 'a'})")


def test_upsert_creates_once_and_updates_last_seen(store: Store) -> None:
    t0 = utcnow()
    assert store.upsert_nodes([node("a", phase="Running"), node("b")], now=t0) == 2
    t1 = t0 + timedelta(minutes=1)
    store.upsert_nodes([node("a", phase="Running"), node("b", phase="Failed")], now=t1)
    got = nodes(store)
    assert set(got) == {"a", "b"}
    a, b = got["a"], got["b"]
    assert a["first_seen"].to_native() == t0 and a["last_seen"].to_native() == t1
    # changed_at moves only when the object's data changed.
    assert a["changed_at"].to_native() == t0
    assert b["changed_at"].to_native() == t1 and b["phase"] == "Failed"
    assert a["_labels"] == ["K8s", "Object", "Pod"]
    assert a["class"] == "Pod" and a["domain"] == "k8s" and a["cluster"] == "c1"


def test_removed_properties_disappear(store: Store) -> None:
    store.upsert_nodes([node("a", phase="Running", labels=["app=web", "tier=1"])])
    store.upsert_nodes([node("a", labels=["app=web"])])
    got = nodes(store)["a"]
    assert "phase" not in got
    assert got["labels"] == ["app=web"]


def test_repeated_upserts_make_no_duplicates(store: Store) -> None:
    rows = [node(f"pod-{i}") for i in range(2500)]  # spans several batches of 1000
    for _ in range(3):
        store.upsert_nodes(rows)
    assert store.run("MATCH (n:Object) RETURN count(n) AS c")[0]["c"] == 2500


def test_concurrent_upserts_of_the_same_refs(store: Store) -> None:
    rows = [node(f"pod-{i}") for i in range(3000)]
    errors: list[BaseException] = []

    def write(reverse: bool) -> None:
        try:
            store.upsert_nodes(list(reversed(rows)) if reverse else rows)
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i % 2 == 1,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.run("MATCH (n:Object) RETURN count(n) AS c")[0]["c"] == 3000
    edge_rows = [edge(f"pod-{i}", f"pod-{i + 1}") for i in range(2999)]
    threads = [threading.Thread(target=store.upsert_edges, args=(edge_rows,)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.run("MATCH ()-[r]->() RETURN count(r) AS c")[0]["c"] == 2999


def test_edges_have_rule_and_validity(store: Store) -> None:
    store.upsert_nodes([node("a"), node("b", "PersistentVolumeClaim")])
    t0 = utcnow()
    assert store.upsert_edges([edge("a", "b", "MOUNTS", "pod-pvc")], now=t0) == 1
    got = edges(store)[("a", "MOUNTS", "b")]
    assert got["rule"] == "pod-pvc"
    assert (
        got["first_seen"].to_native() == t0 and got["valid_to"] is None
        if "valid_to" in got
        else True
    )
    # A missing end is skipped, not created.
    assert store.upsert_edges([edge("a", "nowhere", "MOUNTS", "pod-pvc")]) == 0
    assert_nodes(store, {"a", "b"})


def test_sweep_after_complete_listing(store: Store) -> None:
    store.upsert_nodes([node("a"), node("b"), node("c", "Service")])
    store.upsert_nodes([node("other-cluster", cluster="c2"), node("other-source", source="x")])
    store.upsert_edges([edge("a", "c"), edge("b", "c")])
    with store.listing("test", "c1", classes=["Pod"]) as listing:
        listing.upsert([node("a")])
    assert listing.deleted == 1
    got = nodes(store)
    # b vanished from the complete Pod listing; everything else is untouched.
    assert got["b"]["deleted_at"] is not None
    for ref in ("a", "c", "other-cluster", "other-source"):
        assert got[ref].get("deleted_at") is None, ref
    # The deleted node and its edge stay, closed, for history.
    es = edges(store)
    assert es[("b", "RELATES", "c")]["valid_to"] is not None
    assert es[("a", "RELATES", "c")].get("valid_to") is None
    # Seen again later, the object is alive again.
    store.upsert_nodes([node("b")])
    assert nodes(store)["b"].get("deleted_at") is None


def test_no_sweep_after_partial_listing(store: Store) -> None:
    store.upsert_nodes([node("a"), node("b")])
    with pytest.raises(ConnectionResetError), store.listing("test", "c1") as listing:
        listing.upsert([node("a")])
        raise ConnectionResetError("the API server went away mid-listing")
    with store.listing("test", "c1") as listing:
        listing.upsert([])
        listing.mark_partial("403 on secrets")
    assert listing.deleted == 0
    assert all(n.get("deleted_at") is None for n in nodes(store).values())


def test_purge_removes_only_old_history(store: Store) -> None:
    now = utcnow()
    store.upsert_nodes([node("old"), node("recent"), node("alive"), node("x")], now=now)
    store.upsert_edges([edge("alive", "x"), edge("alive", "recent")], now=now)
    ago = {"old": timedelta(days=10), "recent": timedelta(hours=1)}
    for ref, age in ago.items():
        store.run("MATCH (n:Object {ref: $ref}) SET n.deleted_at = $t", ref=ref, t=now - age)
    store.run(
        "MATCH (:Object {ref: 'alive'})-[r]->(:Object {ref: $goal}) SET r.valid_to = $t",
        goal="x",
        t=now - timedelta(days=5),
    )
    counts = store.purge(timedelta(days=3), now=now)
    assert (counts.nodes, counts.edges) == (1, 1)
    assert_nodes(store, {"recent", "alive", "x"})
    assert_edges(store, {("alive", "RELATES", "recent")})


def test_cypher_in_values_is_stored_as_data(store: Store) -> None:
    evil = "x'}) DETACH DELETE n //"
    store.upsert_nodes([node("victim"), node(evil, name=evil, **{"k8s.pod.name": evil})])
    got = nodes(store)
    assert set(got) == {"victim", evil}
    assert got[evil]["k8s.pod.name"] == evil


@pytest.mark.parametrize(
    "make",
    [
        lambda: node("a", cls="Pod) DETACH DELETE (n"),
        lambda: node("a", **{"x`) DELETE n //": "v"}),
        lambda: node("a", **{"first_seen": "forged"}),
        lambda: EdgeRow(start="a", goal="b", type="OWNS]->() DELETE r //", rule="r"),
    ],
    ids=["class", "property-key", "reserved-key", "relationship-type"],
)
def test_names_carrying_cypher_are_refused(store: Store, make: object) -> None:
    store.upsert_nodes([node("a")])
    with pytest.raises((Korrel8Error, ValidationError)):
        row = make()  # type: ignore[operator]
        if isinstance(row, NodeRow):
            store.upsert_nodes([row])
    assert_nodes(store, {"a"})


def test_unreachable_server_is_a_clear_error() -> None:
    from korrel8.config import Settings

    port = free_port()
    settings = Settings(neo4j_uri=f"bolt://127.0.0.1:{port}", neo4j_password=SecretStr("x"))
    with pytest.raises(
        StoreUnavailableError, match=f"cannot reach Neo4j at bolt://127.0.0.1:{port}"
    ):
        Store.connect(settings)


def test_wrong_password_is_a_clear_error(neo4j_server: Neo4jServer) -> None:
    settings = neo4j_server.settings()
    settings.neo4j_password = SecretStr("not-the-password")
    with pytest.raises(AuthenticationError, match="refused user 'neo4j'") as info:
        Store.connect(settings)
    assert "not-the-password" not in str(info.value)


def test_missing_database_is_a_clear_error(neo4j_server: Neo4jServer) -> None:
    settings = neo4j_server.settings(neo4j_database="nosuchdb")
    with pytest.raises(DatabaseNotFoundError, match="no database 'nosuchdb'"):
        Store.connect(settings)
