"""The HTTP side of ``korrel8 serve``: GET /healthz (JSON; 200, or 503 while Neo4j does
not answer or korrel8 stops), GET /livez (200 while the process serves) and GET /metrics
(Prometheus text format). Nothing else is served."""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST

from korrel8.service.telemetry import Telemetry

log = logging.getLogger(__name__)


class StatusServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str, port: int, telemetry: Telemetry) -> None:
        super().__init__((host, port), _Handler)
        self.telemetry = telemetry
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self.serve_forever, name="korrel8-http",
                                        daemon=True)  # fmt: skip
        self._thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(5)


class _Handler(BaseHTTPRequestHandler):
    server: StatusServer

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            ok, body = self.server.telemetry.health()
            self._send(200 if ok else 503, json.dumps(body).encode(), "application/json")
        elif path == "/livez":  # the process answers: for a liveness probe, which must not
            # restart korrel8 while Neo4j is down (a restart would not bring it back)
            self._send(200, b"ok\n", "text/plain")
        elif path == "/metrics":
            self._send(200, self.server.telemetry.metrics(), CONTENT_TYPE_LATEST)
        else:
            self._send(404, b"not found: try /healthz, /livez or /metrics\n", "text/plain")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)


__all__ = ["StatusServer"]
