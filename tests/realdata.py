"""The recorded OpenShift objects of tests/data/realdata and their expectations, scored
through the path a user takes: ``korrel8 ingest snapshot`` (``ingest.snapshot.ingest``,
what the CLI calls), ``korrel8 rules apply --full`` (``rules.runner.apply``), then goal
search through the Python API. Used by tests/test_realdata.py and bench/realdata_score.py.

A case passes when every ``must_include`` query is among the goal objects and no
``must_exclude`` one is; a case with no ``must_include`` passes only when the search
returns no goal object. Objects are compared as the data's README says: by class (without
version), namespace and name, so the cluster the snapshot is loaded as does not matter.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from ingest import snapshot
from korrel8 import Korrel8, rules
from korrel8.errors import GoalUnreachableError, Korrel8Error
from korrel8.graph.store import Store, utcnow
from korrel8.model import Query
from korrel8.rules import runner

DATA = Path(__file__).parent / "data" / "realdata" / "openshift-crc-snoflake"
CLUSTER = "realdata"
# The window: from before the oldest recorded object (snoflake's pods date from
# 2024-07) to the end of the load. A node's lifetime starts when korrel8 first saw it
# (the load), not when the cluster made it, so the window must reach the load.
SINCE = datetime(2024, 7, 1, tzinfo=UTC)

Key = tuple[str, str | None, str | None]  # class without version, namespace, name


class Case(BaseModel):
    """One expectation of expected.json."""

    model_config = ConfigDict(extra="forbid")

    id: str
    type: str
    start: str
    goal: str
    must_include: list[str]
    must_exclude: list[str] = Field(default_factory=list)
    why: str
    hops: int
    source: str


def cases() -> list[Case]:
    data = json.loads((DATA / "expected.json").read_text(encoding="utf-8"))
    return [Case.model_validate(item) for item in data]


@dataclass(frozen=True)
class Loaded:
    """The recording, loaded and correlated; ``until`` ends the window after the load."""

    until: datetime
    objects: int


def load(store: Store) -> Loaded:
    """Load the recording as ``korrel8 ingest snapshot`` does, then apply every rule."""
    summary = snapshot.ingest(store, DATA, CLUSTER)
    if summary.errors:
        raise AssertionError(f"the snapshot did not load cleanly: {summary.errors}")
    runner.apply(store, rules.load(), full=True)
    return Loaded(until=utcnow(), objects=sum(summary.objects.values()))


def key(query: str) -> Key:
    """What a query names, as the README compares objects."""
    parsed = Query.parse(query)
    selector = parsed.selector
    assert isinstance(selector, dict), query
    namespace, name = selector.get("namespace"), selector.get("name")
    return (
        str(parsed.class_),
        namespace if isinstance(namespace, str) else None,
        name if isinstance(name, str) else None,
    )


def found(k: Korrel8, case: Case, until: datetime) -> set[Key]:
    """The goal objects a user gets for the case's start and goal."""
    try:
        result = k.goals(case.start, case.goal, since=SINCE, until=until)
    except GoalUnreachableError:
        return set()
    return {(n.class_, n.namespace, n.name) for n in result.goals}


def problems(k: Korrel8, case: Case, until: datetime) -> list[str]:
    """Why the case fails; empty when it passes."""
    try:
        got = found(k, case, until)
        include = [(q, key(q)) for q in case.must_include]
        exclude = [(q, key(q)) for q in case.must_exclude]
    except Korrel8Error as exc:
        return [f"{type(exc).__name__}: {exc}"]
    wrong = [f"missing {q}" for q, want in include if want not in got]
    wrong += [f"unwanted {q}" for q, want in exclude if want in got]
    if not include and got:
        wrong.append(f"expected no goal, got {_show(got)}")
    return wrong


def _show(keys: Iterable[Key]) -> str:
    return ", ".join(f"{c} {ns or ''}/{name}" for c, ns, name in sorted(keys, key=str))


__all__ = ["CLUSTER", "DATA", "SINCE", "Case", "Loaded", "cases", "found", "load", "problems"]
