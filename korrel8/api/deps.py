"""What every request of the API goes through: who the caller is, and so what they see.

``caller`` is the one FastAPI dependency of every route (REST and MCP): it answers the
caller's visibility (korrel8/visibility.py), None for "sees everything" (``api.auth:
none``, or no Authenticator). With ``api.auth: kubernetes`` the request's bearer token is
asked of Kubernetes (korrel8/api/auth.py): none, or one refused, is Unauthenticated (401).
``search_options`` is the one place the keyword arguments of the correlation calls are
built from it.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request

from korrel8.visibility import Visibility


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer ...`` header, else None."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def caller(request: Request) -> Visibility | None:
    """The visibility of the request's caller; None: everything. A plain function: FastAPI
    runs it in its thread pool, since asking Kubernetes blocks."""
    authenticator = getattr(request.app.state, "authenticator", None)
    if authenticator is None:
        return None
    found: Visibility | None = authenticator.caller(bearer_token(request))
    return found


def search_options(visibility: Visibility | None) -> dict[str, Any]:
    """The keyword arguments every correlation call gets for this caller."""
    return {"visibility": visibility}


__all__ = ["Visibility", "bearer_token", "caller", "search_options"]
