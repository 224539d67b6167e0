"""Bad input to the Python API is one of korrel8's errors, never a TypeError or an
OverflowError, and a query that runs past its time limit is stopped by Neo4j."""

from __future__ import annotations

from datetime import timedelta

import pytest

from korrel8.correlate import MAX_LIMIT, Korrel8
from korrel8.errors import Korrel8Error, ParseError, QueryTimeoutError, TimeWindowError
from korrel8.graph.store import Store

POD = "k8s:Pod:{namespace: shop, name: web-0}"


@pytest.mark.parametrize("start", [None, 42, [POD, 7], {"namespace": "shop"}])
def test_a_start_that_is_not_a_query_is_a_parse_error(store: Store, start: object) -> None:
    k = Korrel8(store)
    with pytest.raises(ParseError, match="is not a query"):
        k.get(start)
    with pytest.raises(ParseError, match="is not a query"):
        k.neighbours(start)
    with pytest.raises(ParseError, match="is not a query"):
        k.goals(start, "log")


@pytest.mark.parametrize("goal", [None, 42, ["log", 3]])
def test_a_goal_that_is_not_a_class_is_a_parse_error(store: Store, goal: object) -> None:
    with pytest.raises(ParseError, match="is not a class"):
        Korrel8(store).goals(POD, goal)


@pytest.mark.parametrize("limit", [0, -1, MAX_LIMIT + 1, 2**63 - 1, 2**70, 99999999999999999999])
def test_a_limit_out_of_range_names_the_bound(store: Store, limit: int) -> None:
    with pytest.raises(Korrel8Error, match=f"--limit .* is out of range: give 1 to {MAX_LIMIT}"):
        Korrel8(store).goals(POD, "log", limit=limit)


@pytest.mark.parametrize(
    "since",
    [timedelta(days=10**6), "99999999d", "9999999999999999999999h", "10000-01-01T00:00:00Z"],
)
def test_a_time_out_of_range_is_a_window_error(store: Store, since: object) -> None:
    with pytest.raises(TimeWindowError, match="--since"):
        Korrel8(store).goals(POD, "log", since=since)


@pytest.mark.parametrize("until", ["0001-01-01T00:00:00+14:00", "0001-01-01T00:30:00Z"])
def test_a_window_before_year_one_is_a_window_error(store: Store, until: str) -> None:
    with pytest.raises(TimeWindowError, match="--until"):
        Korrel8(store).goals(POD, "log", until=until)


def test_a_read_past_its_time_limit_is_stopped(store: Store) -> None:
    limited = Store(store.driver, store.database, query_timeout=0.5)
    with pytest.raises(QueryTimeoutError, match=r"0\.5 s limit .*KORREL8_QUERY_TIMEOUT"):
        # Billions of rows: minutes of work, unless the server stops it.
        limited.read("UNWIND range(1, 4000000000) AS x WITH x WHERE x < 0 RETURN count(x) AS n")
    # Neo4j itself stopped it: no such query is left running.
    # (The text is split so that this query does not find itself.)
    running = store.run(
        "SHOW TRANSACTIONS YIELD currentQuery "
        "WHERE currentQuery CONTAINS 'range(1, ' + '4000000000' RETURN count(*) AS n"
    )
    assert running[0]["n"] == 0


@pytest.mark.parametrize(
    "selector",
    [
        "[" * 10_000,
        "{a: " * 5_000 + "x" + "}" * 5_000,
        '{"a": ' * 5_000 + '"x"' + "}" * 5_000,
        "{name: " + "x" * 70_000 + "}",
    ],
    ids=["10000-brackets", "yaml-5000-deep", "json-5000-deep", "70k-chars"],
)
def test_a_huge_or_deep_selector_is_a_parse_error(store: Store, selector: str) -> None:
    with pytest.raises(ParseError, match=r"nested deeper than 32|at most 65536"):
        Korrel8(store).get(f"k8s:Pod:{selector}")


def test_brackets_inside_quoted_strings_do_not_count(store: Store) -> None:
    from korrel8.model import Query

    query = Query.parse('k8s:Pod:{"namespace": "shop", "name": "' + "[" * 100 + '"}')
    assert query.selector == {"namespace": "shop", "name": "[" * 100}
