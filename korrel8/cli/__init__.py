"""The ``korrel8`` command line. What it prints, and how off a terminal: see
korrel8/console/output.py.

Every command's module is imported only when that command runs (or shows its own help):
``korrel8 goals`` does not import the Kubernetes client, the scheduler, the ingesters or
the renderers it does not use, and ``korrel8 --help`` imports none of them, nor Neo4j's
driver (``bench/cli_start.py`` measures it; ``tests/test_cli_start.py`` checks it).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import Annotated, Any

import typer
from typer import _click as click  # typer vendors its click
from typer.core import TyperCommand, TyperGroup


def _ingest() -> typer.Typer:
    from ingest.cli import ingest_app
    from ingest.k8s.cli import k8s as ingest_k8s
    from ingest.snapshot_cli import register as register_snapshot

    if "k8s" not in {c.name for c in ingest_app.registered_commands}:
        ingest_app.command("k8s")(ingest_k8s)
        register_snapshot(ingest_app)
    return ingest_app


# The commands, in the order `korrel8 --help` lists them: where each is ("module:attribute",
# a Typer app or a command function, or a function returning the app) and its line of
# help (the first line of its docstring; tests/test_cli_start.py checks that they agree).
LAZY: dict[str, tuple[str | Callable[[], typer.Typer], str]] = {
    "db": ("korrel8.cli.db:db_app", "Run the local Neo4j (no Docker needed)."),
    "rules": ("korrel8.cli.rules:rules_app", "List, check, apply and draw the correlation rules."),
    "ingest": (_ingest, "Ingest alerts and signal references into the graph."),
    "goals": (
        "korrel8.cli.query:goals",
        "Find the goal objects related to START by rule chains, with the paths.",
    ),
    "neighbours": (
        "korrel8.cli.query:neighbours",
        "Show everything within --depth rule edges of START.",
    ),
    "get": ("korrel8.cli.query:get", "Show the objects QUERY selects, with their data queries."),
    "serve": (
        "korrel8.service.cli:serve",
        "Ingest every configured source on its interval, apply the rules after each ingest,",
    ),
    "web": (
        "korrel8.api.cli:web",
        "Answer korrel8r's REST API (/api/v1alpha1) and MCP (/mcp) from the graph, until",
    ),
    "mcp": (
        "korrel8.api.cli:mcp",
        "Serve korrel8r's MCP tools over stdin/stdout (for an agent that runs korrel8).",
    ),
    "counts": ("korrel8.cli.db:counts", "Print live nodes per class and open edges per type."),
    "demo": (
        "korrel8.cli.demo:demo",
        "The mission's example on a generated cluster: from the alert of a filling",
    ),
}


def load_command(name: str) -> click.Command:
    """The click command ``name`` of LAZY, its module imported now."""
    where, _ = LAZY[name]
    if callable(where):
        target: Any = where()
    else:
        module, attribute = where.split(":")
        target = getattr(importlib.import_module(module), attribute)
    if isinstance(target, typer.Typer):
        return typer.main.get_group(target)
    single = typer.Typer()
    single.command(name)(target)
    return typer.main.get_command(single)


class _Placeholder(TyperCommand):
    """What `korrel8 --help` lists for a command not loaded: its name and line of help."""


class LazyGroup(TyperGroup):
    """A Typer group whose commands are imported when one is resolved, not before."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self._listing = False
        for name, (_, line) in LAZY.items():
            self.commands.setdefault(name, _Placeholder(name, help=line))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = self.commands.get(cmd_name)
        if isinstance(command, _Placeholder) and not self._listing:
            command = self.commands[cmd_name] = load_command(cmd_name)
            command.name = cmd_name
        return command

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self._listing = True  # the list of commands needs their help lines only
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


app = typer.Typer(
    cls=LazyGroup,
    help="korrel8: a correlation store for Kubernetes observability, backed by Neo4j.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug detail.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


if __name__ == "__main__":
    app()
