"""``korrel8 ingest k8s``: list the configured clusters into the graph, with a progress bar
per kind and a summary (objects per kind, seconds, errors).

Mounted by korrel8/cli/__init__.py under ``korrel8 ingest``. Exit status: 0 when every kind was
listed (kinds the credential may not read, or the cluster does not serve, are reported but
do not fail the run), 1 when a kind or a cluster failed.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from ingest.k8s.api import contexts
from ingest.k8s.kinds import KindSpec
from ingest.k8s.sync import ClusterResult, ingest_once
from ingest.k8s.sync import Progress as KindProgress
from ingest.k8s.watch import run
from korrel8.config import Settings, load_settings
from korrel8.errors import Korrel8Error
from korrel8.graph.store import Store

console = Console()
err = Console(stderr=True)


def k8s(
    once: Annotated[
        bool,
        typer.Option("--once", help="List every cluster once and exit (default: then watch)."),
    ] = False,
    context: Annotated[
        str | None,
        typer.Option("--context", help="Only this kubeconfig context (default: configured)."),
    ] = None,
) -> None:
    """Ingest Kubernetes objects: every kind the rules need, and custom resources."""
    code = 0
    try:
        settings = load_settings()
        with Store.connect(settings) as store:
            store.apply_schema()
            if once:
                results = _list_once(settings, store, context)
                code = 1 if [r for r in results if print_summary(r)] else 0
            else:
                _run_until_stopped(settings, store, context)
    except Korrel8Error as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        code = 1
    raise typer.Exit(code=code)


def _list_once(settings: Settings, store: Store, context: str | None) -> list[ClusterResult]:
    """Every context once, with a progress bar per context and kind."""
    results = []
    columns = (TextColumn("{task.description:<48}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), console=err) as progress:
        for name in contexts(settings.sources.kubernetes, context):
            results += ingest_once(settings, store, name, progress=_reporter(progress, name))
    return results


def _reporter(progress: Progress, context: str) -> KindProgress:
    """A bar per kind of one context, added when the kind's first page arrives."""
    tasks: dict[str, TaskID] = {}

    def report(spec: KindSpec, seen: int, total: int | None) -> None:
        task = tasks.get(spec.class_name)
        if task is None:
            task = tasks[spec.class_name] = progress.add_task(f"{context} {spec.class_name}")
        progress.update(task, completed=seen, total=total)

    return report


def _run_until_stopped(settings: Settings, store: Store, context: str | None) -> None:
    """List, then watch (or relist), until Ctrl-C or SIGTERM."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, on_signal)
    mode = "watching" if settings.sources.kubernetes.watch else "relisting on the interval"
    err.print(f"listing, then {mode}; Ctrl-C to stop", highlight=False)
    try:
        run(settings, store, stop, context)
    except KeyboardInterrupt:
        stop.set()
    finally:
        signal.signal(signal.SIGTERM, previous)


def print_summary(result: ClusterResult) -> bool:
    """Print one cluster's table; True if a kind or the cluster failed."""
    summary = result.summary
    table = Table(title=f"{result.context} (cluster {summary.cluster})", title_justify="left")
    table.add_column("kind")
    table.add_column("objects", justify="right")
    table.add_column("seconds", justify="right")
    table.add_column("status")
    failed = not result.kinds and bool(summary.errors)
    for kind in result.kinds:
        status = kind.status if not kind.deleted else f"{kind.status}, {kind.deleted} gone"
        if kind.status == "failed":
            failed = True
            status = f"[red]failed[/]: {kind.error}"
        elif kind.status != "ok":
            status = f"[yellow]{kind.status}[/]"
        table.add_row(kind.spec.class_name, str(kind.objects), f"{kind.seconds:.1f}", status)
    total = sum(k.objects for k in result.kinds)
    table.add_section()
    table.add_row("total", str(total), f"{summary.seconds:.1f}", f"{len(summary.errors)} errors")
    console.print(table)
    if failed and not result.kinds:
        for line in summary.errors:
            err.print(f"[bold red]error:[/] {line}", highlight=False)
    return failed


__all__ = ["k8s", "print_summary"]
