"""``korrel8 ingest snapshot PATH``: load an offline snapshot (kubectl output, a must-gather,
an archive of either, and alerts.json) into the graph; see ingest/snapshot.py.

``register(app)`` adds the command to the ``korrel8 ingest`` Typer app. Progress goes to
stderr (a bar of the files read on a terminal, a few lines off one), a table of nodes per
class (or JSON) to stdout. Exit status 1 when a file could not be read (the rest is
loaded, nothing is swept), a mass deletion was held (the rest is swept) or korrel8 failed.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Annotated

import typer

from ingest.cli import print_summary as print_ingest_summary
from ingest.snapshot import Limits, file_count, ingest
from ingest.summary import Summary
from korrel8 import labels
from korrel8.config import load_settings
from korrel8.console.output import Format, FormatOption, error, fail
from korrel8.console.progress import Tracker
from korrel8.errors import Korrel8Error
from korrel8.graph.mass_delete import Guard
from korrel8.graph.store import Store

__all__ = ["register", "snapshot"]


def snapshot(
    path: Annotated[
        Path,
        typer.Argument(
            help="A directory, a YAML or JSON file, or a .tar, .tar.gz, .tgz or .zip archive "
            "of `kubectl get -o yaml|json` output or an OpenShift must-gather.",
            show_default=False,
        ),
    ],
    cluster: Annotated[
        str | None,
        typer.Option(
            "--cluster",
            help="The cluster's name in the graph (default: the snapshot's kube-system "
            "namespace UID, as the live ingester names it, else the file name).",
        ),
    ] = None,
    sweep: Annotated[
        bool,
        typer.Option(
            "--sweep/--no-sweep",
            help="Mark deleted the cluster's objects of the snapshot's kinds that it lacks. "
            "Turn off for a partial snapshot, such as a must-gather of a few namespaces.",
        ),
    ] = True,
    allow_mass_delete: Annotated[
        bool,
        typer.Option(
            "--allow-mass-delete",
            help="Sweep a kind even when the snapshot lacks more than mass_delete_share "
            "(default 10%) of its objects in the graph: without it such a sweep is held, "
            "as a snapshot copied in part would look the same.",
        ),
    ] = False,
    output: FormatOption = Format.table,
) -> None:
    """Load an offline snapshot of a cluster, to investigate a cluster you cannot reach."""
    try:
        settings = load_settings()
        labels.configure(settings.vocabularies)  # alerts' labels are normalized with it
        with Store.connect(settings) as store, Tracker() as tracker:
            store.apply_schema()
            files = tracker.task("loading", unit="files", total=_total(path))

            def count(read: int, objects: int) -> None:
                files.update(read, note=f"{objects} objects")

            summary = ingest(
                store, path, cluster, progress=tracker.say, sweep=sweep, count=count,
                log_convention=settings.sources.loki.convention,
                limits=Limits.from_settings(settings), allow_mass_delete=allow_mass_delete,
                guard=Guard(settings.mass_delete_share, settings.mass_delete_min_objects),
            )  # fmt: skip
            files.finish(f"{sum(summary.objects.values())} nodes written")
    except Korrel8Error as exc:
        raise fail(exc) from exc
    print_summary(summary, output)
    raise typer.Exit(code=0 if summary.ok and not summary.partial else 1)


def _total(path: Path) -> int | None:
    try:
        return file_count(path)
    except (OSError, zipfile.BadZipFile):  # the load itself reports it
        return None


def print_summary(summary: Summary, output: Format = Format.table) -> None:
    title = f"snapshot (cluster {summary.cluster}), {summary.seconds:.1f}s"
    print_ingest_summary(summary, output, title, errors=False)  # the load reported them
    if summary.errors:
        error(
            f"{len(summary.errors)} errors (above): nothing was swept; "
            "fix or remove the files named and load again to sweep"
        )
    elif summary.partial:
        error(
            f"{len(summary.partial)} kinds not swept (above): load again with "
            "--allow-mass-delete if their objects are really gone"
        )


def register(app: typer.Typer) -> None:
    """Add ``snapshot`` to ``app`` (the ``korrel8 ingest`` app)."""
    app.command("snapshot")(snapshot)
