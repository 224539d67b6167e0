"""Rule discovery's precision on the must-gather-shaped fixture (tests/data/
must-gather-discover): how many rules it proposes, how many are true, how many wrong.
Shared by tests/test_discover_precision.py and bench/discover_precision.py."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ingest.snapshot import ingest, iter_objects
from korrel8 import rules
from korrel8.graph.store import Store

FIXTURE = Path(__file__).parent / "data" / "must-gather-discover"
TRUE: set[tuple[str, str, str]] = {
    (s, g, v) for s, g, v in yaml.safe_load((FIXTURE / "expected.yaml").read_text())["relations"]
}


@dataclass(frozen=True)
class Precision:
    proposed: int
    correct: int
    wrong: list[str]

    @property
    def share(self) -> float:
        return self.correct / self.proposed if self.proposed else 1.0


def load(store: Store) -> list[dict[str, Any]]:
    """Ingest the fixture; its CRDs."""
    summary = ingest(store, FIXTURE, "mg", sweep=False)
    assert summary.ok, summary.errors
    return [
        dict(o) for _, o in iter_objects(FIXTURE) if o.get("kind") == "CustomResourceDefinition"
    ]


def judge(proposals: Iterable[Any]) -> Precision:
    """``proposals``: anything with ``.rule`` (start, goal, verb)."""
    seen = [(p.rule.start, p.rule.goal, p.rule.verb, p.rule.name) for p in proposals]
    wrong = [name for s, g, v, name in seen if (str(s), str(g), v) not in TRUE]
    return Precision(len(seen), len(seen) - len(wrong), wrong)


def measure(
    store: Store, discover: Callable[..., list[Any]], crds: list[dict[str, Any]]
) -> Precision:
    loaded = rules.load()
    try:
        found = discover(store, loaded, crds)
    except TypeError:  # an older discover() takes no CRDs
        found = discover(store, loaded)
    return judge(found)
