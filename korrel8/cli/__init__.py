"""The ``korrel8`` command line. What it prints, and how off a terminal: see
korrel8/console/output.py."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from ingest.cli import ingest_app
from ingest.k8s.cli import k8s as ingest_k8s
from ingest.snapshot_cli import register as register_snapshot
from korrel8.api.cli import mcp as mcp_command
from korrel8.api.cli import web
from korrel8.cli.query import register as register_queries
from korrel8.cli.rules import rules_app
from korrel8.config import Settings, load_settings
from korrel8.console.output import (
    Column,
    Format,
    FormatOption,
    Table,
    err,
    fail,
    message,
    out,
    print_json,
    print_table,
)
from korrel8.console.progress import Tracker
from korrel8.demo import DEFAULT_SIZE as DEFAULT_DEMO_SIZE
from korrel8.errors import Korrel8Error
from korrel8.graph import localdb
from korrel8.graph.store import Store
from korrel8.render import json as render_json
from korrel8.service.cli import serve

app = typer.Typer(
    help="korrel8: a correlation store for Kubernetes observability, backed by Neo4j.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Run the local Neo4j (no Docker needed).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(rules_app, name="rules")
ingest_app.command("k8s")(ingest_k8s)
register_snapshot(ingest_app)
app.add_typer(ingest_app, name="ingest")
register_queries(app)
app.command("serve")(serve)
app.command("web")(web)
app.command("mcp")(mcp_command)


def _settings() -> Settings:
    return load_settings()


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug detail.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


@db_app.command("start")
def db_start() -> None:
    """Start the local Neo4j and wait until it accepts Bolt connections."""
    try:
        local = _settings().local
        before = localdb.status(local)
        st = localdb.start(local, progress=lambda m: message(m, err))
    except Korrel8Error as exc:
        raise fail(exc) from exc
    verb = "already running" if before.running else "started"
    message(f"Neo4j {st.version} {verb} (pid {st.pid})")
    message(f"  Bolt:    {st.bolt_uri}")
    message(f"  Browser: {st.browser_url}")
    message(f"  Data:    {st.data_dir}")
    if st.new_password:
        message(f"  User neo4j, generated password: {st.new_password}", style="bold")
        message(f"  (shown once; korrel8 keeps it in {st.data_dir / 'state.json'} for its own use)")


@db_app.command("stop")
def db_stop() -> None:
    """Stop the local Neo4j cleanly (its data stays)."""
    try:
        stopped = localdb.stop(_settings().local)
    except Korrel8Error as exc:
        raise fail(exc) from exc
    message("Neo4j stopped" if stopped else "Neo4j was not running")


@db_app.command("status")
def db_status(output: FormatOption = Format.table) -> None:
    """Say whether the local Neo4j runs, and where (exit status 3 if it does not)."""
    try:
        st = localdb.status(_settings().local)
    except Korrel8Error as exc:
        raise fail(exc) from exc
    if output is Format.json:
        print_json(
            {"running": st.running, "pid": st.pid, "version": st.version,
             "bolt_uri": st.bolt_uri, "browser_url": st.browser_url,
             "data_dir": str(st.data_dir)}
        )  # fmt: skip
    elif st.running:
        message(f"running (pid {st.pid}): {st.bolt_uri}, Browser {st.browser_url}")
    else:
        message(f"not running (data in {st.data_dir}); start it with `korrel8 db start`")
    if not st.running:
        raise typer.Exit(code=3)


@app.command("counts")
def counts(output: FormatOption = Format.table) -> None:
    """Print live nodes per class and open edges per type."""
    try:
        with Store.connect(_settings()) as store:
            data = store.counts()
    except Korrel8Error as exc:
        raise fail(exc) from exc
    if output is Format.json:
        print_json({"nodes": data["node"], "edges": data["edge"]})
    else:
        print_counts(data)


def print_counts(data: dict[str, dict[str, int]]) -> None:
    for what, title in (("node", "Nodes per class"), ("edge", "Edges per type")):
        columns = [Column("class" if what == "node" else "type"), Column("count", numeric=True)]
        table = Table(title, columns)
        for name, n in sorted(data[what].items()):
            table.add(name, n)
        table.add("total", sum(data[what].values()), style="bold", section=True)
        print_table(table)


@app.command("demo")
def demo(
    size: Annotated[
        int, typer.Option(help="Pods in the generated cluster (the shop's at least).")
    ] = DEFAULT_DEMO_SIZE,
    html: Annotated[Path, typer.Option(help="Where to write the investigation graph.")] = Path(
        "korrel8-demo.html"
    ),
    snapshot_dir: Annotated[
        Path | None,
        typer.Option(help="Keep the generated snapshot here (default: a temporary directory)."),
    ] = None,
    output: Annotated[
        Format,
        typer.Option("--output", help="The report (tables), or the example's result as json."),
    ] = Format.table,
) -> None:
    """The mission's example on a generated cluster: from the alert of a filling
    PersistentVolumeClaim to the logs of the pods that mount it, with the rules that
    explain each step. Starts the local Neo4j unless one is configured."""
    from korrel8 import demo as demo_mod

    try:
        settings = _settings()
        with Tracker() as tracker:
            found = demo_mod.run(
                settings, size=size, html=html, snapshot_dir=snapshot_dir, out=out,
                tracker=tracker, print_report=False,
            )  # fmt: skip
        if output is Format.json:
            sys.stdout.write(render_json.to_json(found.result) + "\n")
        else:
            demo_mod.report(found, settings, out)  # below the finished bars
    except Korrel8Error as exc:
        raise fail(exc) from exc


if __name__ == "__main__":
    app()
