"""``korrel8 rules list | check | apply | graph``."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from korrel8 import rules
from korrel8.config import Settings, load_settings
from korrel8.errors import Korrel8Error
from korrel8.graph.store import Store
from korrel8.rules import discover as discovery
from korrel8.rules import graph as rule_graph
from korrel8.rules import runner as rule_runner
from korrel8.rules.compiler import compile_rule

rules_app = typer.Typer(
    help="List, check, apply and draw the correlation rules.", no_args_is_help=True
)
console = Console()
err = Console(stderr=True)

DirOption = Annotated[
    list[Path] | None, typer.Option("--dir", "-d", help="Another rule directory (repeatable).")
]


def _load(settings: Settings, extra: list[Path] | None) -> list[rules.Rule]:
    return rules.load(
        [*settings.rules.dirs, *(extra or [])], settings.rules.enable, settings.rules.disable
    )


def _fail(exc: Korrel8Error) -> typer.Exit:
    err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
    return typer.Exit(code=1)


def _classes(spec: str | list[str]) -> str:
    return spec if isinstance(spec, str) else ", ".join(spec)


@rules_app.command("list")
def list_rules(dirs: DirOption = None) -> None:
    """Every rule, where it comes from, and whether it is enabled."""
    try:
        loaded = _load(load_settings(), dirs)
    except Korrel8Error as exc:
        raise _fail(exc) from exc
    table = Table(title=f"{len(loaded)} rules")
    for col in ("name", "start", "verb", "goal", "on", "from"):
        table.add_column(col)
    for r in loaded:
        origin = r.origin.rsplit("/", 1)[-1]
        table.add_row(
            r.name,
            _classes(r.start),
            r.verb,
            _classes(r.goal),
            "yes" if r.enabled else "no",
            origin,
        )
    console.print(table)


@rules_app.command("check")
def check(
    dirs: DirOption = None,
    offline: Annotated[bool, typer.Option(help="Validate only; skip EXPLAIN in Neo4j.")] = False,
) -> None:
    """Validate every rule, then EXPLAIN each compiled statement against the database."""
    try:
        settings = load_settings()
        loaded = _load(settings, dirs)
        compiled = [compile_rule(r) for r in loaded]
        errors: list[str] = []
        if not offline:
            with Store.connect(settings) as store:
                store.apply_schema()
                for c in compiled:
                    errors += rule_runner.explain(store, c)
    except Korrel8Error as exc:
        raise _fail(exc) from exc
    for e in errors:
        err.print(f"[red]{escape(e)}[/]", highlight=False, soft_wrap=True)
    if errors:
        raise typer.Exit(code=1)
    how = "validated" if offline else "validated and explained"
    console.print(f"{len(loaded)} rules {how}: OK")


@rules_app.command("apply")
def apply(
    dirs: DirOption = None,
    full: Annotated[bool, typer.Option("--full", help="Re-evaluate every start.")] = False,
) -> None:
    """Apply the enabled rules: incrementally where a rule ran before, unless --full."""
    try:
        settings = load_settings()
        loaded = _load(settings, dirs)
        with Store.connect(settings) as store:
            store.apply_schema()
            runs = rule_runner.apply(store, loaded, full=full)
    except Korrel8Error as exc:
        raise _fail(exc) from exc
    table = Table(title="Rule runs")
    for col in ("rule", "mode", "edges", "closed", "seconds"):
        table.add_column(col, justify="left" if col in ("rule", "mode") else "right")
    for run in runs:
        table.add_row(run.rule, run.mode, str(run.edges), str(run.closed), f"{run.seconds:.2f}")
    table.add_row(
        "[bold]total[/]", "", str(sum(r.edges for r in runs)), str(sum(r.closed for r in runs)),
        f"{sum(r.seconds for r in runs):.2f}",
    )  # fmt: skip
    console.print(table)


class GraphFormat(StrEnum):
    dot = "dot"
    mermaid = "mermaid"


@rules_app.command("graph")
def graph(
    dirs: DirOption = None,
    format: Annotated[GraphFormat, typer.Option("--format", "-f")] = GraphFormat.dot,
) -> None:
    """The class-level rule graph: which classes the enabled rules link."""
    try:
        loaded = _load(load_settings(), dirs)
    except Korrel8Error as exc:
        raise _fail(exc) from exc
    render = rule_graph.to_dot if format is GraphFormat.dot else rule_graph.to_mermaid
    typer.echo(render(loaded), nl=False)


@rules_app.command("discover")
def discover(
    dirs: DirOption = None,
    write: Annotated[
        Path | None, typer.Option("--write", help="Save the proposals to DIR/discovered.yaml.")
    ] = None,
) -> None:
    """Propose rules for known patterns in the ingested graph (off until enabled)."""
    try:
        settings = load_settings()
        loaded = _load(settings, dirs)
        with Store.connect(settings) as store:
            proposals = discovery.discover(store, loaded)
    except Korrel8Error as exc:
        raise _fail(exc) from exc
    if not proposals:
        console.print("No new patterns: the rules cover what the graph holds.")
        return
    typer.echo(discovery.to_yaml(proposals), nl=False)
    if write is not None:
        path = discovery.write(proposals, write)
        err.print(f"{len(proposals)} proposals written to {path}; enable them to run them.")
