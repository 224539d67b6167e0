"""The mass-delete guard: a complete listing that lacks more than a share of a kind's
objects does not sweep them at once.

A listing that suddenly holds half the pods is far more often a fault (an archive or a
directory copied in part, an API answer cut short) than half the cluster gone. So before
a sweep, the guard counts per class what it would mark deleted against the live nodes of
that class; above ``share`` (and at least ``min_objects``) that class is held back:

- ``allow``: the sweep runs anyway (``korrel8 ingest snapshot --allow-mass-delete``);
- ``confirm``: the refs held are kept in the graph (a ``:SweepHold`` node per source,
  cluster and class, no ``:Object``), and the next complete listing of the class marks
  deleted those it lacks again: two listings in a row agree (the live ingester);
- neither: nothing of that class is swept (a snapshot without the flag).

Each class held is reported (:class:`Held`), for a warning and the summary's partial
list. The classes under the limit are swept as usual.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, LiteralString

from korrel8.graph import statements

if TYPE_CHECKING:
    from korrel8.graph.store import Store

log = logging.getLogger(__name__)

DEFAULT_SHARE = 0.10
DEFAULT_MIN_OBJECTS = 10


@dataclass(frozen=True)
class Guard:
    """When a sweep of one class is a mass deletion, and what then happens."""

    share: float = DEFAULT_SHARE  # of the class's live nodes, above which a sweep is held
    min_objects: int = DEFAULT_MIN_OBJECTS  # fewer than this always sweep
    allow: bool = False  # sweep anyway
    confirm: bool = False  # sweep what the previous complete listing held too

    def holds(self, gone: int, live: int) -> bool:
        return gone >= max(self.min_objects, 1) and gone > self.share * live


@dataclass(frozen=True)
class Held:
    """One class whose sweep was held back."""

    source: str
    cluster: str
    class_name: str
    gone: int  # what the sweep would have marked deleted
    live: int  # the class's live nodes before it
    share: float
    confirm: bool  # the next listing that agrees will sweep them

    def message(self) -> str:
        what = (
            f"{self.class_name} in cluster {self.cluster}: the listing lacks {self.gone} of "
            f"the {self.live} objects in the graph ({self.gone / self.live:.0%}, more than "
            f"the mass_delete_share of {self.share:.0%}); not marked deleted"
        )
        if self.confirm:
            return what + ": they will be if the next complete listing lacks them too"
        return what + ": load again with --allow-mass-delete if they are really gone"


@dataclass
class Outcome:
    deleted: int = 0
    held: list[Held] = field(default_factory=list)


def _query(name: str) -> LiteralString:
    return statements.load(name)  # type: ignore[return-value,unused-ignore]


def sweep(
    store: Store,
    source: str,
    cluster: str,
    started: datetime,
    classes: Sequence[str] | None,
    guard: Guard,
    now: datetime,
) -> Outcome:
    """Sweep the classes of a complete listing, holding back mass deletions (see above)."""
    outcome = Outcome()
    preview = store.run(
        _query("store/sweep_preview"),
        source=source,
        cluster=cluster,
        classes=list(classes) if classes is not None else None,
        started=started,
    )
    for row in sorted(preview, key=lambda r: str(r["class"])):
        cls, gone, live = str(row["class"]), int(row["gone"]), int(row["live"])
        previous = _hold(store, source, cluster, cls) if guard.confirm else set()
        if not guard.holds(gone, live) or guard.allow:
            if gone:
                outcome.deleted += store.sweep(source, cluster, started, [cls], now=now)
            if guard.confirm and previous:
                _set_hold(store, source, cluster, cls, [], now)
            continue
        if guard.confirm:
            rows = store.run(
                _query("store/sweep_gone"),
                source=source, cluster=cluster, class_name=cls, started=started,
            )  # fmt: skip
            missing = {str(r["ref"]) for r in rows}
            agreed = missing & previous
            if agreed:  # two complete listings in a row lack them: they are gone
                marked = store.run(_query("store/mark_deleted"), refs=sorted(agreed), now=now)
                outcome.deleted += int(marked[0]["deleted"]) if marked else 0
                log.warning(
                    "%s in cluster %s: a second complete listing in a row lacks %d objects: "
                    "marked deleted", cls, cluster, len(agreed),
                )  # fmt: skip
            waiting = sorted(missing - agreed)
            _set_hold(store, source, cluster, cls, waiting, now)
            if not waiting:
                continue
            gone = len(waiting)
        held = Held(source, cluster, cls, gone, live, guard.share, guard.confirm)
        log.warning("%s", held.message())
        outcome.held.append(held)
    return outcome


def _hold(store: Store, source: str, cluster: str, cls: str) -> set[str]:
    rows = store.run(_query("store/sweep_hold_get"), source=source, cluster=cluster, class_name=cls)
    return {str(ref) for row in rows for ref in row["refs"] or []}


def _set_hold(
    store: Store, source: str, cluster: str, cls: str, refs: list[str], now: datetime
) -> None:
    store.run(
        _query("store/sweep_hold_set"),
        source=source, cluster=cluster, class_name=cls, refs=refs, now=now,
    )  # fmt: skip


__all__ = ["DEFAULT_MIN_OBJECTS", "DEFAULT_SHARE", "Guard", "Held", "Outcome", "sweep"]
