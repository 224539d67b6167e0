"""``korrel8 web``: korrel8r's REST API and MCP (streamable HTTP at /mcp) over an existing
graph, with no ingest; ``korrel8 mcp``: the MCP tools over stdin/stdout, for an agent that
starts korrel8 itself. Both use the CLI's Neo4j settings."""

from __future__ import annotations

import logging
from typing import Annotated

import anyio
import typer

from korrel8 import labels
from korrel8.config import load_settings
from korrel8.console.output import fail
from korrel8.errors import Korrel8Error
from korrel8.graph.store import Store
from korrel8.service.cli import _wait_for_signal

log = logging.getLogger("korrel8.web")


def web(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on (serve.host; default loopback).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (serve.port; default 9464).")] = None,
) -> None:
    """Answer korrel8r's REST API (/api/v1alpha1) and MCP (/mcp) from the graph, until
    Ctrl-C. HTTPS with serve.tls_cert and serve.tls_key."""
    from korrel8.api.app import create_app
    from korrel8.api.auth import Authenticator
    from korrel8.api.server import Server

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    logging.getLogger("neo4j").setLevel(logging.WARNING)
    try:
        settings = load_settings()
        serve = settings.serve
        host, port = host or serve.host, serve.port if port is None else port
        labels.configure(settings.vocabularies)
        store = Store.connect(settings)
    except Korrel8Error as exc:
        raise fail(exc) from exc
    authenticator = None
    try:
        # Who may ask, and what each caller sees (api.auth; none only on loopback).
        authenticator = Authenticator.from_settings(settings, store, host)
        app = create_app(
            store, max_depth=settings.max_depth, host=host, authenticator=authenticator
        )
        try:
            server = Server(app, host, port, certfile=serve.tls_cert, keyfile=serve.tls_key)
        except OSError as exc:
            message = f"cannot listen on {host}:{port}: {exc.strerror or exc}"
            raise fail(Korrel8Error(message)) from exc
        server.start()
        log.info("korrel8r's REST API on %s/api/v1alpha1, MCP on %s/mcp", server.url, server.url)
        _wait_for_signal()  # serve's: SIGTERM or SIGINT stops cleanly, a second at once
        server.stop()
        log.info("stopped cleanly")
    except Korrel8Error as exc:
        raise fail(exc) from exc
    finally:
        if authenticator is not None:
            authenticator.close()
        store.close()


def mcp() -> None:
    """Serve korrel8r's MCP tools over stdin/stdout (for an agent that runs korrel8)."""
    from korrel8.api.mcp import run_stdio

    try:
        settings = load_settings()
        labels.configure(settings.vocabularies)
        store = Store.connect(settings)
    except Korrel8Error as exc:
        raise fail(exc) from exc
    try:
        anyio.run(lambda: run_stdio(store, max_depth=settings.max_depth))
    finally:
        store.close()


__all__ = ["mcp", "web"]
