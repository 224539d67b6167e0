"""Real objects recorded from two OpenShift clusters (tests/data/realdata): every
expectation of expected.json, through the snapshot load, a full rules run and goal search
(see tests/realdata.py)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

from korrel8 import Korrel8
from korrel8.graph.store import Store
from korrel8.model import Query
from tests import realdata
from tests.servers.neo4j import Neo4jServer, clear

CASES = realdata.cases()


@pytest.fixture(scope="module")
def loaded(neo4j_server: Neo4jServer) -> Iterator[tuple[Korrel8, realdata.Loaded]]:
    """The recording, loaded once for every case (the cases only read)."""
    with Store.connect(neo4j_server.settings(batch_size=1000)) as store:
        clear(store)
        store.apply_schema()
        yield Korrel8(store), realdata.load(store)


def test_the_recording_is_all_there() -> None:
    assert len(CASES) == 33
    assert len({c.id for c in CASES}) == len(CASES)


def test_the_objects_are_stored_under_canonical_refs_and_nothing_is_invented(
    loaded: tuple[Korrel8, realdata.Loaded],
) -> None:
    """The 26 objects and 10 alerts, no more: the owners, nodes and claims they name but
    that were not recorded (a Job, ReplicaSets, the Node snoflake) are not made up."""
    k, _ = loaded
    rows = k.store.run("MATCH (n:Object) RETURN n.ref AS ref, n.domain + ':' + n.class AS class")
    assert Counter(r["class"] for r in rows) == {
        "k8s:Pod": 12,
        "k8s:ReplicaSet.apps": 2,
        "k8s:Deployment.apps": 3,
        "k8s:Service": 3,
        "k8s:Event": 3,
        "k8s:Node": 1,
        "k8s:DNS.operator.openshift.io": 1,
        "k8s:OpenTelemetryCollector.opentelemetry.io": 1,
        "alert:alert": 10,
    }
    for row in rows:
        assert str(Query.parse(row["ref"])) == row["ref"]
        assert ".v1" not in row["ref"].split(":{")[0], row["ref"]


@pytest.mark.parametrize(
    ("start", "goal", "canonical_start", "canonical_goal"),
    [
        (
            'k8s:Pod.v1.:{"namespace":"tracing-app-k6","name":"k6-tracing-564cf6dc8b-hpxd2"}',
            "k8s:Event.v1.",
            'k8s:Pod:{"namespace":"tracing-app-k6","name":"k6-tracing-564cf6dc8b-hpxd2"}',
            "k8s:Event",
        ),
        (
            'k8s:Event.v1.:{"namespace":"tracing-app-k6",'
            '"name":"k6-tracing-564cf6dc8b-hpxd2.1889f9471026a728"}',
            "k8s:Deployment.v1.apps",
            'k8s:Event:{"namespace":"tracing-app-k6",'
            '"name":"k6-tracing-564cf6dc8b-hpxd2.1889f9471026a728"}',
            "k8s:Deployment.apps",
        ),
    ],
    ids=["pod-to-events", "event-to-deployment"],
)
def test_korrel8r_versioned_spellings_find_the_same_goals(
    loaded: tuple[Korrel8, realdata.Loaded],
    start: str,
    goal: str,
    canonical_start: str,
    canonical_goal: str,
) -> None:
    k, load = loaded

    def goals(start: str, goal: str) -> list[str]:
        result = k.goals(start, goal, since=realdata.SINCE, until=load.until)
        return sorted(n.ref for n in result.goals)

    found = goals(start, goal)
    assert found and found == goals(canonical_start, canonical_goal)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(loaded: tuple[Korrel8, realdata.Loaded], case: realdata.Case) -> None:
    k, load = loaded
    assert realdata.problems(k, case, load.until) == [], case.why
