"""Request metrics for /metrics: how many requests each route answered, with which status,
and how long they took. Routes are counted by their template (``/api/v1alpha1/domain/
{domain}/classes``), never by the path a caller sent, so a scan cannot grow the series."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route

LABELS = ("method", "route", "status")
UNMATCHED = "unmatched"  # a path no route serves: one series for all of them


class RequestMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "korrel8_http_requests", "HTTP requests answered", LABELS, registry=registry
        )
        self.latency = Histogram(
            "korrel8_http_request_duration_seconds",
            "How long each HTTP request took to answer",
            LABELS,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=registry,
        )

    async def middleware(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            labels = (request.method, route_of(request), str(status))
            self.requests.labels(*labels).inc()
            self.latency.labels(*labels).observe(time.perf_counter() - started)


def route_of(request: Request) -> str:
    """The template of the route that served the request: FastAPI's routing leaves it in the
    scope; a plain Starlette route (/mcp) is found by matching."""
    path = getattr(request.scope.get("route"), "path", None)
    if isinstance(path, str):
        return path
    for route in request.app.router.routes:
        if isinstance(route, Route) and route.matches(request.scope)[0] == Match.FULL:
            return route.path
    return UNMATCHED


__all__ = ["RequestMetrics", "route_of"]
