"""The mass-delete guard of Store.listing, on a real Neo4j: a listing that lacks too much
of a class is held back, per class; the live ingester's second listing in a row confirms.
(End to end: tests/test_snapshot_limits.py, and tests/test_k8s_ingest.py for kube.)"""

from __future__ import annotations

from korrel8.graph.mass_delete import Guard
from korrel8.graph.store import Store
from tests.graph import node, nodes

PODS = [f"pod-{i:02d}" for i in range(40)]
SERVICES = [f"svc-{i:02d}" for i in range(40)]


def live(store: Store) -> set[str]:
    return {ref for ref, n in nodes(store).items() if n.get("deleted_at") is None}


def holds(store: Store) -> int:
    return int(store.run("MATCH (h:SweepHold) RETURN count(h) AS n")[0]["n"])


def list_again(store: Store, pods: list[str], services: list[str], guard: Guard) -> list[str]:
    """One listing of both classes; the classes held."""
    with store.listing("test", "c1", classes=["Pod", "Service"], guard=guard) as listing:
        listing.upsert([node(p) for p in pods] + [node(s, "Service") for s in services])
    return [held.class_name for held in listing.held]


def test_only_the_class_beyond_the_share_is_held(store: Store) -> None:
    list_again(store, PODS, SERVICES, Guard())
    held = list_again(store, PODS[:20], SERVICES[:38], Guard())  # 50% and 5%
    assert held == ["Pod"]
    assert live(store) == set(PODS) | set(SERVICES[:38])
    assert holds(store) == 0  # a snapshot's guard keeps nothing for later

    assert list_again(store, PODS[:20], SERVICES[:38], Guard(allow=True)) == []
    assert live(store) == set(PODS[:20]) | set(SERVICES[:38])


def test_a_second_listing_in_a_row_confirms(store: Store) -> None:
    live_guard = Guard(confirm=True)
    list_again(store, PODS, SERVICES, live_guard)
    assert list_again(store, PODS[:20], SERVICES, live_guard) == ["Pod"]
    assert live(store) == set(PODS) | set(SERVICES) and holds(store) == 1

    # The next listing lacks only some of them, and others: those the two listings agree
    # on are marked deleted; the others, again too many, wait for the next.
    again = PODS[:10] + PODS[20:30]
    assert list_again(store, again, SERVICES, live_guard) == ["Pod"]
    assert live(store) == set(PODS[:30]) | set(SERVICES) and holds(store) == 1
    assert list_again(store, again, SERVICES, live_guard) == []
    assert live(store) == set(again) | set(SERVICES) and holds(store) == 0


def test_a_listing_that_disagrees_forgets_the_hold(store: Store) -> None:
    live_guard = Guard(confirm=True)
    list_again(store, PODS, SERVICES, live_guard)
    assert list_again(store, PODS[:20], SERVICES, live_guard) == ["Pod"]
    # The objects were there after all (the listing was cut short): nothing is deleted,
    assert list_again(store, PODS, SERVICES, live_guard) == []
    assert holds(store) == 0
    # and a later cut listing is a first one again, not a confirmation.
    assert list_again(store, PODS[:20], SERVICES, live_guard) == ["Pod"]
    assert live(store) == set(PODS) | set(SERVICES)


def test_small_classes_and_small_losses_sweep_as_usual(store: Store) -> None:
    list_again(store, PODS[:5], SERVICES, Guard())
    # All 5 pods gone is 100%, but fewer than mass_delete_min_objects (10).
    assert list_again(store, [], SERVICES[:36], Guard()) == []  # 4 services: 10%, not more
    assert live(store) == set(SERVICES[:36])
