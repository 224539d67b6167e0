"""A fault injector: an HTTP server that misbehaves on purpose, and only that.

Real Prometheus and Alertmanager cannot be made to answer broken JSON, hang, or fail with
5xx on demand; this server does exactly those faults and nothing else. The first path
segment of a request picks the fault, so a source's URL is ``<base>/<fault>``:

- ``/broken-json/...``  200 with a truncated JSON body
- ``/not-json/...``     200 with an HTML page (a login proxy, a wrong URL)
- ``/slow/...``         answers only after ``SLOW_SECONDS`` (use a shorter client timeout)
- ``/fail-<n>/...``     HTTP 503 to the first ``n`` requests, then ``{"ok": true}``
- ``/status-<code>/...`` always HTTP ``<code>``

``hits[fault]`` counts the requests each fault received.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.servers.common import free_port

SLOW_SECONDS = 3.0


class FaultyServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.hits: Counter[str] = Counter()
        self.lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def url(self, fault: str) -> str:
        return f"{self.base_url}/{fault}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out closed its socket before the slow answer: expected.
        pass


class _Handler(BaseHTTPRequestHandler):
    server: FaultyServer

    def do_GET(self) -> None:
        fault = self.path.lstrip("/").split("/", 1)[0].split("?", 1)[0]
        with self.server.lock:
            self.server.hits[fault] += 1
            hits = self.server.hits[fault]
        if fault == "broken-json":
            self._answer(200, b'{"status": "success", "data": [{"__name__": "up", ', "json")
        elif fault == "not-json":
            self._answer(200, b"<html><body>Log in</body></html>", "html")
        elif fault == "slow":
            time.sleep(SLOW_SECONDS)
            self._answer(200, b"{}", "json")
        elif fault.startswith("fail-"):
            failures = int(fault.removeprefix("fail-"))
            if hits <= failures:
                self._answer(503, b"overloaded", "text")
            else:
                self._answer(200, b'{"ok": true}', "json")
        elif fault.startswith("status-"):
            self._answer(int(fault.removeprefix("status-")), b"fault injected", "text")
        else:
            self._answer(404, b"unknown fault", "text")

    def _answer(self, status: int, body: bytes, kind: str) -> None:
        types = {"json": "application/json", "html": "text/html", "text": "text/plain"}
        self.send_response(status)
        self.send_header("Content-Type", types[kind])
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def faulty_http() -> Iterator[FaultyServer]:
    server = FaultyServer(free_port())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
