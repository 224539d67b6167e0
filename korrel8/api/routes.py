"""The korrel8r REST API, ``/api/v1alpha1``, answered from korrel8's graph (see
korrel8/api/answers.py for the semantics). Every route depends on ``deps.caller``.

A goal search that reaches no goal answers the start objects alone, as korrel8r does,
with korrel8's reason (what is reachable, how to widen) in the ``X-Korrel8-Reason`` header.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from korrel8.api import answers, convert, models
from korrel8.api.answers import Engine
from korrel8.api.deps import Visibility, caller
from korrel8.api.errors import error_response

PREFIX = "/api/v1alpha1"
REASON_HEADER = "X-Korrel8-Reason"
log = logging.getLogger("korrel8.api")


def engine(request: Request) -> Engine:
    found: Engine = request.app.state.engine
    return found


Caller = Annotated[Visibility | None, Depends(caller)]
Eng = Annotated[Engine, Depends(engine)]
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": models.Error, "description": "invalid parameters"},
    404: {"model": models.Error, "description": "result not found"},
}
# Every route, the console's too, goes through the caller dependency.
router = APIRouter(prefix=PREFIX, dependencies=[Depends(caller)])
_GRAPH: dict[str, Any] = {
    "response_model": models.Graph,
    "responses": _ERRORS,
    "response_model_exclude_none": True,
    "tags": ["correlate"],
}


def _reason(response: Response, found: answers.Goals) -> None:
    if found.reason:  # a header is one line of Latin-1: the first says what was not reached
        line = found.reason.splitlines()[0][:500]
        response.headers[REASON_HEADER] = line.encode("ascii", "backslashreplace").decode()


# --- help and domains -------------------------------------------------------------------


@router.get(
    "/domains",
    response_model=list[models.Domain],
    responses=_ERRORS,
    response_model_exclude_none=True,
    tags=["query"],
    operation_id="listDomains",
)
def list_domains() -> list[models.Domain]:
    """The correlation domains. korrel8 answers every one from its graph: no stores."""
    return answers.list_domains()


@router.get(
    "/domain/{domain}/classes",
    response_model=list[str],
    responses=_ERRORS,
    tags=["query"],
    operation_id="listDomainClasses",
)
def list_domain_classes(domain: str) -> list[str]:
    """The known classes of a domain (k8s also takes any Kind.group of a CRD)."""
    return answers.list_classes(domain)


@router.get("/help", response_model=models.Help, tags=["query"], operation_id="help")
def help_all() -> models.Help:
    """korrel8's query syntax for every domain."""
    return models.Help(documentation=answers.documentation())


@router.get(
    "/help/{domain}",
    response_model=models.Help,
    responses=_ERRORS,
    tags=["query"],
    operation_id="helpDomain",
)
def help_domain(domain: str) -> models.Help:
    """korrel8's query syntax for one domain."""
    return models.Help(documentation=answers.documentation(domain))


# --- configuration ----------------------------------------------------------------------


@router.put(
    "/config",
    response_model=models.Empty,
    responses=_ERRORS,
    tags=["configure"],
    operation_id="setConfig",
)
def set_config(verbose: Annotated[int | None, Query(ge=0, le=10)] = None) -> models.Empty:
    """Set korrel8's log level: 0 info, 1 or more debug (korrel8r's verbosity)."""
    if verbose is not None:
        level = logging.INFO if verbose == 0 else logging.DEBUG
        logging.getLogger("korrel8").setLevel(level)
        log.info("log level set to %s", logging.getLevelName(level))
    return models.Empty()


# --- correlation ------------------------------------------------------------------------


@router.post("/graphs/goals", operation_id="graphGoals", **_GRAPH)
def graph_goals(
    body: models.Goals,
    eng: Eng,
    who: Caller,
    response: Response,
    rules: bool = False,
    results: bool = False,
    errors: bool = False,
) -> models.Graph:
    """The paths from the start objects to objects of the goal classes (with rules=true,
    the rules followed along each edge)."""
    found = answers.goals(eng, body, who)
    _reason(response, found)
    return convert.graph(found.result, rules=rules, results=results)


@router.post(
    "/lists/goals",
    response_model=list[models.Node],
    responses=_ERRORS,
    response_model_exclude_none=True,
    tags=["correlate"],
    operation_id="listGoals",
)
def list_goals(body: models.Goals, eng: Eng, who: Caller, response: Response) -> list[models.Node]:
    """The goal objects reachable from the start, per class."""
    found = answers.goals(eng, body, who)
    _reason(response, found)
    return [] if found.reason else convert.nodes(found.result.goals)


@router.post("/graphs/neighbors", operation_id="graphNeighbors", **_GRAPH)
def graph_neighbors(
    body: models.Neighbors,
    eng: Eng,
    who: Caller,
    rules: bool = False,
    results: bool = False,
    errors: bool = False,
) -> models.Graph:
    """Every object within depth rule edges of the start."""
    return convert.graph(answers.neighbours(eng, body, who), rules=rules, results=results)


# The deprecated spelling: the same handler under its own operation.
router.add_api_route(
    "/graphs/neighbours", graph_neighbors, methods=["POST"], operation_id="graphNeighbours",
    deprecated=True, **_GRAPH,
)  # fmt: skip


@router.get(
    "/objects",
    response_model=list[dict[str, Any]],
    responses=_ERRORS,
    tags=["query"],
    operation_id="objects",
)
def objects(
    eng: Eng,
    who: Caller,
    query: Annotated[str, Query(min_length=1)],
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """The stored objects a query selects, with their properties (for a signal, the
    back-end query that fetches its data). ``start``, ``end``, ``limit``: the constraint."""
    constraint = models.Constraint(start=start, end=end, limit=limit)
    return [convert.serialize(n) for n in answers.objects(eng, query, constraint, who).goals]


# --- the console bridge -----------------------------------------------------------------

CONSOLE = (
    "korrel8 does not implement korrel8r's console bridge (/console, /console/events): "
    "point the console's troubleshooting panel at the REST API instead"
)


@router.api_route("/console", methods=["GET", "PUT"], include_in_schema=False)
@router.api_route("/console/events", methods=["GET", "PUT"], include_in_schema=False)
def console() -> Response:
    return error_response(501, CONSOLE)


__all__ = ["CONSOLE", "PREFIX", "REASON_HEADER", "engine", "router"]
