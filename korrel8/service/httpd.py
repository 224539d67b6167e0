"""The HTTP side of ``korrel8 serve``, on one port: GET /healthz (JSON; 200, or 503 while
Neo4j does not answer or korrel8 stops), GET /livez (200 while the process serves), GET
/metrics (Prometheus text format, with the request metrics of every route), and, given the
store, korrel8r's REST API under /api/v1alpha1 and MCP at /mcp (korrel8/api/).

FastAPI under uvicorn (korrel8/api/server.py); HTTPS with serve.tls_cert and serve.tls_key.
"""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from korrel8.api import errors
from korrel8.api.app import create_app
from korrel8.api.auth import Authenticator
from korrel8.api.metrics import RequestMetrics
from korrel8.api.server import Server
from korrel8.graph.store import Store
from korrel8.service.telemetry import Telemetry

log = logging.getLogger(__name__)


def status_app(telemetry: Telemetry, app: FastAPI | None = None) -> FastAPI:
    """``app`` (or a bare application) with /healthz, /livez and /metrics; request
    metrics go to the telemetry's registry."""
    if app is None:
        app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
        errors.install(app)
        app.middleware("http")(RequestMetrics(telemetry.registry).middleware)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> Response:
        ok, body = telemetry.health()
        return JSONResponse(body, status_code=200 if ok else 503)

    # The process answers: for a liveness probe, which must not restart korrel8 while
    # Neo4j is down (a restart would not bring it back).
    @app.get("/livez", include_in_schema=False)
    def livez() -> Response:
        return PlainTextResponse("ok\n")

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(telemetry.metrics(), media_type=CONTENT_TYPE_LATEST)

    return app


class StatusServer(Server):
    """The serve port: health and metrics, and the API when given the store."""

    def __init__(
        self, host: str, port: int, telemetry: Telemetry, store: Store | None = None, *,
        max_depth: int | None = None, certfile: Path | None = None,
        keyfile: Path | None = None, authenticator: Authenticator | None = None,
    ) -> None:  # fmt: skip
        api = None
        if store is not None:
            api = create_app(
                store, max_depth=max_depth, registry=telemetry.registry, host=host,
                authenticator=authenticator,
            )  # fmt: skip
        super().__init__(status_app(telemetry, api), host, port, certfile=certfile, keyfile=keyfile)


__all__ = ["StatusServer", "status_app"]
