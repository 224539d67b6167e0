"""The rules' warm-up (`korrel8 serve` at start): plans every incremental statement and
writes nothing, so the first run after a restart is the run it would have been."""

from __future__ import annotations

from korrel8.graph.store import Store
from korrel8.rules import runner as rule_runner
from tests.graph import edges
from tests.test_rules import ALL, BY_NAME, pod, pvc


def test_warm_up_plans_every_rule_and_writes_nothing(store: Store) -> None:
    # Nodes changed just now: a warm-up anchored on them would link them.
    store.upsert_nodes([pod("p1", ["d1"]), pvc("d1")])
    enabled = [r for r in ALL if r.enabled]

    planned = rule_runner.warm_up(store, ALL)

    assert planned == 2 * len(enabled) + 4
    assert edges(store) == {}
    assert store.run("MATCH (s:RuleState) RETURN count(s) AS n")[0]["n"] == 0
    # The first run after it is still a full one, and links what holds.
    runs = rule_runner.apply(store, [BY_NAME["pod-pvc"]])
    assert [r.mode for r in runs] == ["full"] and len(edges(store)) == 1
