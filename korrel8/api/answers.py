"""The answers of the API, shared by the REST routes and the MCP tools.

The time window and the goal semantics are the CLI's (korrel8/correlate.py): a start's
``constraint`` gives the window (``start``/``end``; default the last hour) and the limit
(default 1000); a goal search is precise at the default depth (4). A goal search that
reaches no goal answers the start alone (what korrel8r answers then), with korrel8's reason.
Every correlation call gets its keyword arguments from ``search_options`` (the caller's
visibility).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

from korrel8 import correlate
from korrel8.api import convert, models
from korrel8.api.deps import Visibility, search_options
from korrel8.errors import GoalUnreachableError
from korrel8.graph.store import Store
from korrel8.model import domains, get_domain
from korrel8.result import Result


@dataclass(frozen=True)
class Engine:
    """What the API answers from: the store and the deepest search allowed."""

    store: Store
    max_depth: int = correlate.DEFAULT_MAX_DEPTH


@dataclass(frozen=True)
class Goals:
    """A goal search's answer; ``reason`` says why no goal was reached, if none was."""

    result: Result
    reason: str | None = None


# --- help and domains -------------------------------------------------------------------


@cache
def _help() -> dict[str, Any]:
    text = resources.files("korrel8.api").joinpath("help.yaml").read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def documentation(name: str | None = None) -> str:
    """korrel8's query syntax for one domain, or (None) for every one."""
    if not name:
        return "\n".join([_help()["common"], *(documentation(d.name) for d in domains())])
    domain = get_domain(name)  # UnknownDomainError: 404
    entry = _help()["domains"].get(name, {})
    classes = ", ".join(domain.classes[:12]) + (", ..." if len(domain.classes) > 12 else "")
    return (
        f"Domain {name}: {entry.get('description', '')}\n"
        f"{entry.get('documentation', '')}Known classes: {classes}\n"
    )


def list_domains() -> list[models.Domain]:
    described = _help()["domains"]
    return [
        models.Domain(
            name=d.name, description=described.get(d.name, {}).get("description"), stores=[]
        )
        for d in domains()
    ]


def list_classes(domain: str) -> list[str]:
    return list(get_domain(domain).classes)


# --- correlation ------------------------------------------------------------------------


def window(constraint: models.Constraint | None) -> tuple[correlate.Window, int]:
    """The CLI's window and limit for a korrel8r constraint."""
    c = constraint or models.Constraint()
    found = correlate.make_window(since=c.start, until=c.end)
    return found, c.limit if c.limit is not None else correlate.DEFAULT_LIMIT


def goals(eng: Engine, request: models.Goals, visibility: Visibility | None) -> Goals:
    starts = convert.start_queries(request.start)
    found, limit = window(request.start.constraint)
    try:
        return Goals(
            correlate.goal_search(
                eng.store,
                starts,
                request.goals,
                window=found,
                limit=limit,
                max_depth=eng.max_depth,
                **search_options(visibility),
            )
        )
    except GoalUnreachableError as exc:
        return Goals(objects(eng, starts, request.start.constraint, visibility), str(exc))


def neighbours(eng: Engine, request: models.Neighbors, visibility: Visibility | None) -> Result:
    found, limit = window(request.start.constraint)
    return correlate.neighbour_search(
        eng.store,
        convert.start_queries(request.start),
        depth=request.depth,
        window=found,
        limit=limit,
        max_depth=eng.max_depth,
        **search_options(visibility),
    )


def objects(
    eng: Engine,
    query: str | list[str],
    constraint: models.Constraint | None,
    visibility: Visibility | None,
) -> Result:
    found, limit = window(constraint)
    return correlate.get_objects(
        eng.store, query, window=found, limit=limit, **search_options(visibility)
    )


__all__ = [
    "Engine",
    "Goals",
    "documentation",
    "goals",
    "list_classes",
    "list_domains",
    "neighbours",
    "objects",
    "window",
]
