"""The FastAPI application: korrel8r's REST API under /api/v1alpha1, MCP at /mcp, the
project's own OpenAPI document at /api/v1alpha1/openapi.json, and request metrics.

``korrel8 web`` serves it alone; ``korrel8 serve`` adds /healthz, /livez and /metrics
(korrel8/service/httpd.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from korrel8.api import answers, errors, routes
from korrel8.api.auth import Authenticator
from korrel8.api.metrics import RequestMetrics
from korrel8.correlate import DEFAULT_MAX_DEPTH
from korrel8.graph.store import Store

TITLE = "korrel8 REST API (korrel8r-compatible)"
DESCRIPTION = (
    "korrel8r's REST API (v1alpha1), answered from korrel8's graph: history, the rules "
    "that explain each edge, millisecond answers. The console bridge (/console) answers 501."
)


def create_app(
    store: Store,
    *,
    max_depth: int | None = None,
    registry: CollectorRegistry | None = None,
    mcp: bool = True,
    host: str = "127.0.0.1",
    authenticator: Authenticator | None = None,
) -> FastAPI:
    """The API over ``store``. ``registry``: where request metrics go (none without);
    ``mcp``: serve MCP at /mcp too; ``host``: where the server listens (see mcp.http_route);
    ``authenticator``: who each caller is and what they see (None: everyone sees all)."""
    max_depth = max_depth or DEFAULT_MAX_DEPTH  # None: korrel8's default
    session_manager = None
    if mcp:
        from korrel8.api.mcp import http_route  # the MCP SDK only where MCP is served

        mcp_route, session_manager = http_route(store, max_depth=max_depth, host=host)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if session_manager is None:
            yield
            return
        async with session_manager.run():  # MCP's streamable HTTP sessions live here
            yield

    app = FastAPI(
        title=TITLE,
        description=DESCRIPTION,
        version="v1alpha1",
        openapi_url=f"{routes.PREFIX}/openapi.json",
        docs_url=f"{routes.PREFIX}/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.engine = answers.Engine(store, max_depth)
    app.state.authenticator = authenticator
    errors.install(app)
    app.include_router(routes.router)
    if registry is not None:
        app.middleware("http")(RequestMetrics(registry).middleware)
    if session_manager is not None:
        app.router.routes.append(mcp_route)
    return app


__all__ = ["create_app"]
