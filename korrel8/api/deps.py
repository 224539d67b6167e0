"""What every request of the API goes through: who the caller is, and so what they see.

``caller`` is the one FastAPI dependency of every route (REST and MCP): it answers the
caller's visibility, None for "sees everything". ``search_options`` is the one place the
keyword arguments of the correlation calls are built from it.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request

# What a caller may see. Until per-caller filtering lands (korrel8/visibility.py), every
# caller sees everything: None.
Visibility = object


def caller(request: Request) -> Visibility | None:
    """The visibility of the request's caller; None: everything."""
    return None


def search_options(visibility: Visibility | None) -> dict[str, Any]:
    """The keyword arguments every correlation call gets for this caller."""
    return {}


__all__ = ["Visibility", "caller", "search_options"]
