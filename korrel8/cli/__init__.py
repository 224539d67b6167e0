"""The ``korrel8`` command line."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ingest.cli import ingest_app
from ingest.k8s.cli import k8s as ingest_k8s
from ingest.snapshot_cli import register as register_snapshot
from korrel8.cli.query import register as register_queries
from korrel8.cli.rules import rules_app
from korrel8.config import Settings, load_settings
from korrel8.demo import DEFAULT_SIZE as DEFAULT_DEMO_SIZE
from korrel8.errors import Korrel8Error
from korrel8.graph import localdb
from korrel8.graph.store import Store
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

console = Console()
err = Console(stderr=True)


def _settings() -> Settings:
    return load_settings()


def fail(exc: Korrel8Error) -> typer.Exit:
    err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
    return typer.Exit(code=1)


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
        st = localdb.start(local, progress=lambda m: err.print(m, highlight=False))
    except Korrel8Error as exc:
        raise fail(exc) from exc
    verb = "already running" if before.running else "started"
    console.print(f"Neo4j {st.version} {verb} (pid {st.pid})")
    console.print(f"  Bolt:    {st.bolt_uri}")
    console.print(f"  Browser: {st.browser_url}")
    console.print(f"  Data:    {st.data_dir}")
    if st.new_password:
        console.print(
            f"  User neo4j, generated password: [bold]{st.new_password}[/]\n"
            f"  (shown once; korrel8 keeps it in {st.data_dir / 'state.json'} for its own use)"
        )


@db_app.command("stop")
def db_stop() -> None:
    """Stop the local Neo4j cleanly (its data stays)."""
    try:
        stopped = localdb.stop(_settings().local)
    except Korrel8Error as exc:
        raise fail(exc) from exc
    console.print("Neo4j stopped" if stopped else "Neo4j was not running")


@db_app.command("status")
def db_status() -> None:
    """Say whether the local Neo4j runs, and where."""
    try:
        st = localdb.status(_settings().local)
    except Korrel8Error as exc:
        raise fail(exc) from exc
    if st.running:
        console.print(f"running (pid {st.pid}): {st.bolt_uri}, Browser {st.browser_url}")
    else:
        console.print(f"not running (data in {st.data_dir}); start it with `korrel8 db start`")
        raise typer.Exit(code=3)


@app.command("counts")
def counts() -> None:
    """Print live nodes per class and open edges per type."""
    try:
        with Store.connect(_settings()) as store:
            data = store.counts()
    except Korrel8Error as exc:
        raise fail(exc) from exc
    print_counts(data)


def print_counts(data: dict[str, dict[str, int]]) -> None:
    for what, title in (("node", "Nodes per class"), ("edge", "Edges per type")):
        table = Table(title=title)
        table.add_column("class" if what == "node" else "type")
        table.add_column("count", justify="right")
        for name, n in sorted(data[what].items()):
            table.add_row(name, str(n))
        table.add_row("[bold]total[/]", f"[bold]{sum(data[what].values())}[/]")
        console.print(table)


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
) -> None:
    """The mission's example on a generated cluster: from the alert of a filling
    PersistentVolumeClaim to the logs of the pods that mount it, with the rules that
    explain each step. Starts the local Neo4j unless one is configured."""
    from korrel8 import demo as demo_mod

    try:
        demo_mod.run(
            _settings(),
            size=size,
            html=html,
            snapshot_dir=snapshot_dir,
            out=console,
            progress=lambda m: err.print(m, highlight=False, markup=False, soft_wrap=True),
        )
    except Korrel8Error as exc:
        raise fail(exc) from exc


if __name__ == "__main__":
    app()
