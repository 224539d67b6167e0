"""``korrel8 db`` (the local Neo4j) and ``korrel8 counts``."""

from __future__ import annotations

import typer

from korrel8.config import Settings, load_settings
from korrel8.console.output import (
    Column,
    Format,
    FormatOption,
    Table,
    err,
    fail,
    message,
    print_json,
    print_table,
)
from korrel8.errors import Korrel8Error
from korrel8.graph import localdb
from korrel8.graph.store import Store

db_app = typer.Typer(help="Run the local Neo4j (no Docker needed).", no_args_is_help=True)


def _settings() -> Settings:
    return load_settings()


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
