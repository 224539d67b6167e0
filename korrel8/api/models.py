"""korrel8r's REST schemas (``tests/data/korrel8r-openapi.yaml``) as pydantic models.

Field names and shapes are korrel8r's, so that its clients (the OpenShift console's
troubleshooting panel, korrel8rcli, MCP agents) read korrel8's answers unchanged. Optional
fields are left out of a response when unset (``response_model_exclude_none``), as
korrel8r's Go encoder omits them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# korrel8r's patterns: a class is DOMAIN:CLASS, a query DOMAIN:CLASS:SELECTOR.
CLASS_PATTERN = r"[^:]+:[^:]+"
QUERY_PATTERN = r"[^:]+:[^:]+:[^:]+"


def _is_none(value: object) -> bool:
    return value is None


def _optional(description: str | None = None) -> Any:
    """An optional field of a response, left out when unset (korrel8r's omitempty), for
    FastAPI and the MCP SDK alike."""
    return Field(default=None, exclude_if=_is_none, description=description)


class _Model(BaseModel):
    # Unknown fields are ignored, as korrel8r's Go decoder does: a newer client's extra
    # field is not an error.
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class Constraint(_Model):
    """Constrains the objects of a search: the time window and how many per query."""

    start: datetime | None = Field(
        default=None, description="Ignore objects before this time. Default: 1 hour before end."
    )
    end: datetime | None = Field(
        default=None, description="Ignore objects after this time. Default: now."
    )
    limit: int | None = Field(
        default=None,
        description="Limit the number of objects per query. Default: korrel8's limit (1000).",
    )
    queryLimit: int | None = Field(  # korrel8r's name
        default=None, description="Accepted for korrel8r compatibility; not used by korrel8."
    )


class Start(_Model):
    """Where a search starts: queries, or serialized objects of one class."""

    class_: str | None = Field(
        default=None,
        alias="class",
        description="Class of the start objects, DOMAIN:CLASS; required with objects.",
    )
    constraint: Constraint | None = None
    objects: list[dict[str, Any]] | None = Field(
        default=None, description="Start objects serialized as JSON (requires class)."
    )
    queries: list[str] | None = Field(
        default=None, description="Queries for the start objects, DOMAIN:CLASS:SELECTOR."
    )


class Goals(_Model):
    """A goal search: from the start to objects of the goal classes."""

    goals: list[str] = Field(description="Goal classes, DOMAIN:CLASS (log:application).")
    start: Start


class Neighbors(_Model):
    """A neighbourhood search: everything within depth rule edges of the start."""

    depth: int = Field(description="Rule edges to follow from the start (1: direct only).")
    start: Start


class QueryCount(_Model):
    query: str
    count: int | None = _optional()


class Rule(_Model):
    name: str
    queries: list[QueryCount] | None = _optional()


class Edge(_Model):
    start: str = Field(description="Class of the start node, DOMAIN:CLASS.")
    goal: str = Field(description="Class of the goal node, DOMAIN:CLASS.")
    rules: list[Rule] | None = _optional("The rules followed along this edge (rules=true).")


class Node(_Model):
    class_: str = Field(alias="class", description="Full class name, DOMAIN:CLASS.")
    count: int | None = _optional("Objects of this class.")
    queries: list[QueryCount] | None = _optional("Queries for them: each object's ref.")
    result: list[dict[str, Any]] | None = _optional("The objects (results=true).")


class Graph(_Model):
    edges: list[Edge] = Field(default_factory=list)
    nodes: list[Node] = Field(default_factory=list)


class Domain(_Model):
    name: str
    description: str | None = _optional()
    stores: list[dict[str, str]] | None = _optional()


class Help(_Model):
    documentation: str


class Error(_Model):
    error: str


class Empty(_Model):
    pass


__all__ = [
    "CLASS_PATTERN",
    "QUERY_PATTERN",
    "Constraint",
    "Domain",
    "Edge",
    "Empty",
    "Error",
    "Goals",
    "Graph",
    "Help",
    "Neighbors",
    "Node",
    "QueryCount",
    "Rule",
    "Start",
]
