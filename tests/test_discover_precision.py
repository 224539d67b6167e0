"""`korrel8 rules discover` proposes what is true on a must-gather-shaped cluster
(tests/data/must-gather-discover, its README says how it was made), against a real Neo4j:
the kind a field names comes from the field's name and the CRD's schema, the kind a
selector selects from what the workload or the CRD says, never from objects that merely
share a name or labels; proposals are ranked by evidence."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from korrel8 import rules
from korrel8.cli import app
from korrel8.graph.store import Store
from korrel8.rules.discover import discover
from tests.discover_precision import FIXTURE, TRUE, judge, load
from tests.servers.neo4j import Neo4jServer


def test_discovery_proposes_only_what_is_true(store: Store) -> None:
    crds = load(store)
    proposals = discover(store, rules.load(), crds)
    precision = judge(proposals)
    print(f"\ndiscover precision: proposed {precision.proposed}, correct {precision.correct}, "
          f"wrong {len(precision.wrong)} {precision.wrong}")  # fmt: skip
    assert precision.wrong == []
    found = {(str(p.rule.start), str(p.rule.goal), p.rule.verb) for p in proposals}
    # Every true relation that no rule covers yet (the owner rules cover ownerReferences).
    assert found == {t for t in TRUE if t[2] != "OWNED_BY"}
    by_name = {p.rule.name: p for p in proposals}
    sa = by_name["prometheus-serviceaccount-serviceaccount"]
    assert (sa.evidence.starts, sa.evidence.resolved, sa.edges) == (1, 1, 1)
    # Ranked by evidence: the share of starts that resolve, then how many do.
    keys = [(-p.evidence.share, -p.evidence.resolved, -p.edges) for p in proposals]
    assert keys == sorted(keys)


def test_without_the_crds_a_custom_selector_proposes_nothing_it_cannot_tell(
    store: Store,
) -> None:
    load(store)
    names = {p.rule.name for p in discover(store, rules.load())}
    # discover.yaml knows prometheus-operator's monitors; the field names say the rest.
    assert "prometheus-serviceaccount-serviceaccount" in names
    assert not any("route" in n or "secret" in n or "configmap" in n for n in names), names


def test_the_cli_reads_the_crds_of_a_must_gather(
    store: Store, neo4j_server: Neo4jServer, tmp_path: Path
) -> None:
    load(store)
    env = {
        "NEO4J_URI": neo4j_server.uri,
        "NEO4J_USER": neo4j_server.user,
        "NEO4J_PASSWORD": neo4j_server.password,
    }
    result = CliRunner().invoke(app, ["rules", "discover", "--crds", str(FIXTURE)], env=env)
    assert result.exit_code == 0, result.output
    assert "servicemonitor-selects-service" in result.output
    assert "1 of 1 starts resolve (100%)" in result.output
