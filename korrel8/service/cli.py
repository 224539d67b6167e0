"""``korrel8 serve``: run every configured ingester on its schedule until SIGTERM or SIGINT.

Logs go to stderr as plain lines (a container's log collector reads them). Exit status 0
after a clean stop, 1 when it cannot start (bad settings or rules, Neo4j unreachable,
nothing to ingest, the port taken).
"""

from __future__ import annotations

import enum
import logging
import os
import signal
import threading
from types import FrameType
from typing import Annotated

import typer

from korrel8 import labels, rules
from korrel8.config import load_settings
from korrel8.errors import Korrel8Error
from korrel8.graph.store import Store

log = logging.getLogger("korrel8.serve")


class LogLevel(enum.StrEnum):
    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"


def serve(
    host: Annotated[
        str | None, typer.Option(help="Address of /healthz, /metrics and the API (serve.host).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port of /healthz, /metrics and the API (serve.port).")
    ] = None,
    log_level: Annotated[LogLevel, typer.Option("--log-level", help="What to log.")] = (
        LogLevel.info
    ),
) -> None:
    """Ingest every configured source on its interval, apply the rules after each ingest,
    and answer /healthz and /metrics, until SIGTERM or Ctrl-C."""
    # Here, not at the top: every other korrel8 command would import APScheduler too.
    from korrel8.service.jobs import source_jobs
    from korrel8.service.service import Service

    # The main callback configured WARNING (or DEBUG for -v); a service logs more.
    level = min(logging.getLevelNamesMapping()[log_level.value.upper()],
                logging.getLogger().getEffectiveLevel())  # fmt: skip
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    logging.getLogger("neo4j").setLevel(max(level, logging.INFO))  # its debug is per packet
    try:
        settings = load_settings()
        overrides = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
        settings = settings.model_copy(
            update={"serve": settings.serve.model_copy(update=overrides)}
        )
        labels.configure(settings.vocabularies)
        rule_set = rules.load(settings.rules.dirs, settings.rules.enable, settings.rules.disable)
        store = Store.connect(settings)
    except Korrel8Error as exc:
        log.error("%s", exc)
        raise typer.Exit(code=1) from exc
    try:
        store.apply_schema()
        dirty = threading.Event()  # the watches set it when they write: the rules run
        jobs, skipped = source_jobs(settings, store, on_change=dirty.set)
        for line in skipped:
            log.info("not ingested: %s", line)
        if not jobs:
            raise typer.Exit(code=_nothing_to_do())
        service = Service(settings, store, rule_set, jobs, dirty)
        try:
            service.start()
        except OSError as exc:  # the port is taken
            log.error("cannot listen on %s:%s: %s", settings.serve.host, settings.serve.port,
                      exc.strerror or exc)  # fmt: skip
            service.stop()
            raise typer.Exit(code=1) from exc
        assert service.http is not None
        log.info(
            "serving /healthz, /metrics, the REST API (/api/v1alpha1) and MCP (/mcp) on %s",
            service.http.url,
        )
        for job in jobs:
            log.info("%s every %.0f s", job.id, job.interval)
        _wait_for_signal()
        log.info("stopping: finishing the running steps")
        service.stop()
        log.info("stopped cleanly")
    except Korrel8Error as exc:
        log.error("%s", exc)
        raise typer.Exit(code=1) from exc
    finally:
        store.close()


def _nothing_to_do() -> int:
    log.error(
        "nothing to ingest: configure a source (sources.kubernetes with a kubeconfig, "
        "sources.alertmanager.url, sources.prometheus.url, sources.loki.url or "
        "sources.tempo.url; see README.md)"
    )
    return 1


def _wait_for_signal() -> None:
    """Block until SIGTERM or SIGINT; a second one exits at once (Neo4j rolls back what
    was not committed, so even that leaves no half-written batch)."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            log.warning("second %s: exiting without waiting", signal.Signals(signum).name)
            os._exit(130)
        log.info("%s received", signal.Signals(signum).name)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    while not stop.wait(1.0):  # a timed wait, so that signals are handled promptly
        pass


__all__ = ["serve"]
