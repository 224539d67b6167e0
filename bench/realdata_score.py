"""Correlation quality on real recorded objects: how many of the expectations of
tests/data/realdata/openshift-crc-snoflake pass, through the path a user takes (snapshot
load, a full rules run, goal search). Prints each case that fails and ``passed/total``.

    .venv/bin/python -m bench.realdata_score      # a throw-away local Neo4j (see bench/neo4j.py)
"""

from __future__ import annotations

from bench.neo4j import bench_store, clear, console
from korrel8 import Korrel8
from tests import realdata


def main() -> None:
    cases = realdata.cases()
    with bench_store(heap="768m") as store:
        clear(store)
        store.apply_schema()
        loaded = realdata.load(store)
        k = Korrel8(store)
        passed = 0
        for case in cases:
            wrong = realdata.problems(k, case, loaded.until)
            if not wrong:
                passed += 1
                continue
            console.print(f"[red]FAIL[/] {case.id}", highlight=False)
            for problem in wrong:
                console.print(f"     {problem}", highlight=False, markup=False, soft_wrap=True)
    console.print(f"{passed}/{len(cases)} cases pass ({loaded.objects} objects loaded)")


if __name__ == "__main__":
    main()
