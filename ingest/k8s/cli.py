"""``korrel8 ingest k8s``: list the configured clusters into the graph, with a progress bar
per kind on a terminal (a line per cluster off one) and a summary (objects per kind,
seconds, errors; ``--output json``: a JSON line per cluster).

Mounted by korrel8/cli/__init__.py under ``korrel8 ingest``. Exit status: 0 when every kind was
listed (kinds the credential may not read, or the cluster does not serve, are reported but
do not fail the run), 1 when a kind or a cluster failed.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Annotated, Any

import typer

from ingest.k8s.api import contexts
from ingest.k8s.kinds import KindSpec
from ingest.k8s.sync import ClusterResult, ingest_once
from ingest.k8s.sync import Progress as KindProgress
from ingest.k8s.watch import run
from korrel8.config import Settings, load_settings
from korrel8.console.output import (
    Column,
    Format,
    FormatOption,
    Table,
    err,
    error,
    message,
    print_json,
    print_table,
)
from korrel8.console.progress import Task, Tracker
from korrel8.errors import Korrel8Error
from korrel8.graph.store import Store


def k8s(
    once: Annotated[
        bool,
        typer.Option("--once", help="List every cluster once and exit (default: then watch)."),
    ] = False,
    context: Annotated[
        str | None,
        typer.Option("--context", help="Only this kubeconfig context (default: configured)."),
    ] = None,
    output: FormatOption = Format.table,
) -> None:
    """Ingest Kubernetes objects: every kind the rules need, and custom resources."""
    code = 0
    try:
        settings = load_settings()
        with Store.connect(settings) as store:
            store.apply_schema()
            if once:
                results = _list_once(settings, store, context)
                code = 1 if [r for r in results if print_summary(r, output)] else 0
            else:
                _run_until_stopped(settings, store, context)
    except Korrel8Error as exc:
        error(str(exc))
        code = 1
    raise typer.Exit(code=code)


def _list_once(settings: Settings, store: Store, context: str | None) -> list[ClusterResult]:
    """Every context once: on a terminal a progress bar per context and kind, off one a
    line per context."""
    results = []
    with Tracker() as tracker:
        for name in contexts(settings.sources.kubernetes, context):
            if not tracker.live:
                tracker.say(f"{name}: listing")
            tasks: dict[str, Task] = {}
            found = ingest_once(settings, store, name, progress=_reporter(tracker, name, tasks))
            for task in tasks.values():
                task.finish(quiet=True)
            if not tracker.live:
                for result in found:
                    objects = sum(k.objects for k in result.kinds)
                    tracker.say(
                        f"{name}: {objects} objects of {len(result.kinds)} kinds in "
                        f"{result.summary.seconds:.1f} s, {len(result.summary.errors)} errors"
                    )
            results += found
    return results


def _reporter(tracker: Tracker, context: str, tasks: dict[str, Task]) -> KindProgress:
    """A bar per kind of one context, added when the kind's first page arrives; the bar
    before it is then done."""

    def report(spec: KindSpec, seen: int, total: int | None) -> None:
        task = tasks.get(spec.class_name)
        if task is None:
            for done in tasks.values():
                done.finish(quiet=True)
            description = f"{context} {spec.class_name}"
            task = tasks[spec.class_name] = tracker.task(description, unit="objects")
        task.update(seen, total=total)

    return report


def _run_until_stopped(settings: Settings, store: Store, context: str | None) -> None:
    """List, then watch (or relist), until Ctrl-C or SIGTERM."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, on_signal)
    mode = "watching" if settings.sources.kubernetes.watch else "relisting on the interval"
    message(f"listing, then {mode}; Ctrl-C to stop", err)
    try:
        run(settings, store, stop, context)
    except KeyboardInterrupt:
        stop.set()
    finally:
        signal.signal(signal.SIGTERM, previous)


def print_summary(result: ClusterResult, output: Format = Format.table) -> bool:
    """Print one cluster's table (or JSON line); True if a kind or the cluster failed."""
    summary = result.summary
    failed = any(k.status == "failed" for k in result.kinds)
    failed = failed or (not result.kinds and bool(summary.errors))
    if output is Format.json:
        print_json(to_dict(result), lines=True)
    else:
        columns = [Column("kind"), Column("objects", numeric=True),
                   Column("seconds", numeric=True), Column("status", prose=True)]  # fmt: skip
        table = Table(f"{result.context} (cluster {summary.cluster})", columns)
        for kind in result.kinds:
            status = kind.status if not kind.deleted else f"{kind.status}, {kind.deleted} gone"
            if kind.status == "failed":
                status = f"failed: {kind.error}"
            elif kind.held or kind.skipped:  # partial: not (fully) swept
                status = f"{status}, partial: not swept"
            style = {"ok": "", "failed": "red"}.get(kind.status, "yellow")
            style = "yellow" if kind.held or kind.skipped else style
            table.add(kind.spec.class_name, kind.objects, f"{kind.seconds:.1f}", status,
                      style=style)  # fmt: skip
        total = sum(k.objects for k in result.kinds)
        errors = f"{len(summary.errors)} errors"
        table.add("total", total, f"{summary.seconds:.1f}", errors, section=True)
        print_table(table)
    if failed and not result.kinds:
        for line in summary.errors:
            error(line)
    return failed


def to_dict(result: ClusterResult) -> dict[str, Any]:
    """What ``--output json`` prints of one cluster's listing."""
    kinds = [
        {"kind": k.spec.class_name, "objects": k.objects, "pages": k.pages,
         "seconds": round(k.seconds, 3), "deleted": k.deleted, "status": k.status,
         "error": k.error, "skipped": k.skipped, "held": k.held}
        for k in result.kinds
    ]  # fmt: skip
    return {"context": result.context, **result.summary.to_dict(), "kinds": kinds}


__all__ = ["k8s", "print_summary", "to_dict"]
