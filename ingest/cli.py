"""``korrel8 ingest alerts | metrics | logs | traces | incidents | netflow``: run one signal
ingester.

Mounted by korrel8/cli/__init__.py as ``korrel8 ingest``. Each command ingests once with
``--once``, else every ``interval_seconds`` of its source until interrupted. Progress
goes to stderr, a summary table to stdout after each run (``--output json``: a JSON line
per run); with ``--once`` the exit code is 1 if a source failed (the graph then keeps what
it had).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated

import typer

from ingest import alerts, incidents, logs, metrics, netflow, traces
from ingest.summary import Summary
from korrel8 import labels
from korrel8.config import Settings, load_settings
from korrel8.console.output import (
    Column,
    Format,
    FormatOption,
    Table,
    err,
    error,
    fail,
    message,
    print_json,
    print_table,
)
from korrel8.errors import Korrel8Error
from korrel8.graph.store import Store

__all__ = ["ingest_app", "print_summary"]

ingest_app = typer.Typer(
    help="Ingest alerts and signal references into the graph.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

Once = Annotated[bool, typer.Option("--once", help="Ingest once and exit.")]
Window = Annotated[
    float | None,
    typer.Option("--window", min=1, help="Seconds of history to list (default per source)."),
]
Run = Callable[[Store, Settings, Callable[[str], None]], Summary]


def _progress(text: str) -> None:
    message(text, err)


def print_summary(
    summary: Summary, output: Format = Format.table, title: str = "", errors: bool = True
) -> None:
    """Nodes written per class and what a complete listing swept (a table, or a JSON
    line); the errors on stderr unless ``errors`` is False."""
    if output is Format.json:
        print_json(summary.to_dict(), lines=True)
    else:
        title = title or f"{summary.source} ({summary.cluster}), {summary.seconds:.1f}s"
        table = Table(title, [Column("class"), Column("nodes written", numeric=True)])
        for cls, count in sorted(summary.objects.items()):
            table.add(cls, count)
        if summary.deleted:
            table.add("swept (deleted_at set)", summary.deleted, section=True)
        print_table(table)
    for line in summary.errors if errors else []:
        error(line)


def _loop(run: Run, interval: Callable[[Settings], float], once: bool, output: Format) -> None:
    try:
        settings = load_settings()
        labels.configure(settings.vocabularies)
        with Store.connect(settings) as store:
            store.apply_schema()
            while True:
                summary = run(store, settings, _progress)
                print_summary(summary, output)
                if once:
                    raise typer.Exit(code=0 if summary.ok else 1)
                time.sleep(interval(settings))
    except Korrel8Error as exc:
        raise fail(exc) from exc
    except KeyboardInterrupt:
        raise typer.Exit(code=130) from None


def _window(seconds: float | None, default: timedelta) -> timedelta:
    return timedelta(seconds=seconds) if seconds else default


@ingest_app.command("alerts")
def ingest_alerts(once: Once = False, output: FormatOption = Format.table) -> None:
    """Alerts from Alertmanager, with pending alerts and rule expressions from Prometheus."""

    def run(store: Store, s: Settings, say: Callable[[str], None]) -> Summary:
        return alerts.ingest(store, s.sources.alertmanager, s.sources.prometheus, progress=say)

    _loop(run, lambda s: s.sources.alertmanager.interval_seconds, once, output)


@ingest_app.command("metrics")
def ingest_metrics(
    once: Once = False,
    window: Window = None,
    family: Annotated[
        list[str] | None,
        typer.Option(
            "--family",
            help="A metric name to list (repeatable; default: the KSM, "
            "kubelet and cAdvisor families that identify objects).",
        ),
    ] = None,
    output: FormatOption = Format.table,
) -> None:
    """Metric references from Prometheus' series: one node per object."""

    def run(store: Store, s: Settings, say: Callable[[str], None]) -> Summary:
        return metrics.ingest(
            store,
            s.sources.prometheus,
            families=family or metrics.DEFAULT_FAMILIES,
            window=_window(window, metrics.DEFAULT_WINDOW),
            progress=say,
        )

    _loop(run, lambda s: s.sources.prometheus.interval_seconds, once, output)


@ingest_app.command("logs")
def ingest_logs(
    once: Once = False, window: Window = None, output: FormatOption = Format.table
) -> None:
    """Log stream references, from Loki or derived from the pods in the graph."""

    def run(store: Store, s: Settings, say: Callable[[str], None]) -> Summary:
        return logs.ingest(
            store, s.sources.loki, window=_window(window, logs.DEFAULT_WINDOW), progress=say
        )

    _loop(run, lambda s: s.sources.loki.interval_seconds, once, output)


@ingest_app.command("traces")
def ingest_traces(
    once: Once = False, window: Window = None, output: FormatOption = Format.table
) -> None:
    """Trace references, from Tempo or derived from the pods and services in the graph."""

    def run(store: Store, s: Settings, say: Callable[[str], None]) -> Summary:
        return traces.ingest(
            store, s.sources.tempo, window=_window(window, traces.DEFAULT_WINDOW), progress=say
        )

    _loop(run, lambda s: s.sources.tempo.interval_seconds, once, output)


@ingest_app.command("incidents")
def ingest_incidents(once: Once = False, output: FormatOption = Format.table) -> None:
    """Incidents of OpenShift's cluster-health-analyzer, from Prometheus."""

    def run(store: Store, s: Settings, say: Callable[[str], None]) -> Summary:
        return incidents.ingest(store, s.sources.prometheus, progress=say)

    _loop(run, lambda s: s.sources.prometheus.interval_seconds, once, output)


@ingest_app.command("netflow")
def ingest_netflow(once: Once = False, output: FormatOption = Format.table) -> None:
    """Network flow references (NetObserv), derived from the objects in the graph."""

    def run(store: Store, s: Settings, say: Callable[[str], None]) -> Summary:
        return netflow.ingest(store, progress=say)

    _loop(run, lambda s: s.sources.loki.interval_seconds, once, output)
