"""Serving an ASGI application with uvicorn on one port, HTTPS when given a certificate.

The socket is bound before uvicorn starts, so that a taken port is an OSError at once
(``korrel8 serve`` exits 1 saying so) and port 0 gets a free port whose number is known.
"""

from __future__ import annotations

import logging
import socket
import threading
from pathlib import Path

import uvicorn
from starlette.types import ASGIApp

from korrel8.errors import ConfigError

log = logging.getLogger("korrel8.api")


class Server:
    """An ASGI app under uvicorn, in a thread (``start``/``stop``) or in the caller's
    (``run``)."""

    def __init__(
        self,
        app: ASGIApp,
        host: str,
        port: int,
        *,
        certfile: Path | None = None,
        keyfile: Path | None = None,
    ) -> None:
        if (certfile is None) != (keyfile is None):
            raise ConfigError("HTTPS needs both serve.tls_cert and serve.tls_key")
        for path in (certfile, keyfile):
            if path is not None and not path.is_file():
                raise ConfigError(f"{path}: no such file (serve.tls_cert / serve.tls_key)")
        self.tls = certfile is not None
        self.config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            ssl_certfile=str(certfile) if certfile else None,
            ssl_keyfile=str(keyfile) if keyfile else None,
            lifespan="on",
            timeout_graceful_shutdown=5,
        )
        self.server = uvicorn.Server(self.config)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.socket = socket.socket(family, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.socket.bind((host, port))  # OSError: the port is taken
        except OSError:
            self.socket.close()
            raise
        self.socket.listen(2048)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.socket.getsockname()[:2]
        host = f"[{host}]" if ":" in host else host
        return f"{'https' if self.tls else 'http'}://{host}:{port}"

    def run(self) -> None:
        """Serve until stopped (SIGINT or SIGTERM when in the main thread)."""
        self.server.run(sockets=[self.socket])

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="korrel8-http", daemon=True)
        self._thread.start()
        # Answer before returning: a probe right after start must not be refused.
        while not self.server.started and self._thread.is_alive():
            threading.Event().wait(0.01)
        if not self.server.started:
            raise OSError(f"the HTTP server did not start on {self.url} (see the log)")

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        self.socket.close()


__all__ = ["Server"]
