"""``korrel8 ingest snapshot PATH``: load an offline snapshot (kubectl output, a must-gather,
an archive of either, and alerts.json) into the graph; see ingest/snapshot.py.

``register(app)`` adds the command to the ``korrel8 ingest`` Typer app. Progress goes to
stderr, a table of nodes per class to stdout. Exit status 1 when a file could not be read
(the rest is loaded, nothing is swept) or korrel8 failed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from ingest.cli import print_table
from ingest.snapshot import ingest
from ingest.summary import Summary
from korrel8 import labels
from korrel8.config import load_settings
from korrel8.errors import Korrel8Error
from korrel8.graph.store import Store

__all__ = ["register", "snapshot"]

console = Console()
err = Console(stderr=True)


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
) -> None:
    """Load an offline snapshot of a cluster, to investigate a cluster you cannot reach."""
    try:
        settings = load_settings()
        labels.configure(settings.vocabularies)  # alerts' labels are normalized with it
        with Store.connect(settings) as store:
            store.apply_schema()
            summary = ingest(store, path, cluster, progress=_say, sweep=sweep)
    except Korrel8Error as exc:
        # escape: paths and YAML problems hold brackets that rich would take for markup.
        err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=1) from exc
    print_summary(summary)
    raise typer.Exit(code=0 if summary.ok else 1)


def _say(message: str) -> None:
    # soft_wrap: a long path stays on one line, whole, for a terminal to make a link of it.
    err.print(message, highlight=False, markup=False, soft_wrap=True)


def print_summary(summary: Summary) -> None:
    print_table(summary, f"snapshot (cluster {summary.cluster}), {summary.seconds:.1f}s")
    if summary.errors:
        err.print(
            f"[bold red]{len(summary.errors)} errors[/] (above): nothing was swept; "
            "fix or remove the files named and load again to sweep",
            highlight=False,
            soft_wrap=True,
        )


def register(app: typer.Typer) -> None:
    """Add ``snapshot`` to ``app`` (the ``korrel8 ingest`` app)."""
    app.command("snapshot")(snapshot)
