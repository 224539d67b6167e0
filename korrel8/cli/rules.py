"""``korrel8 rules list | check | apply | graph | discover``.

``list`` and ``apply`` print a table (tab-separated off a terminal) or JSON (``--output
json``); ``apply`` shows a progress bar of the rules on a terminal.
"""

from __future__ import annotations

from dataclasses import asdict
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from korrel8 import rules
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
    out,
    print_json,
    print_table,
)
from korrel8.console.progress import Tracker
from korrel8.errors import Korrel8Error
from korrel8.graph.store import Store
from korrel8.rules import discover as discovery
from korrel8.rules import graph as rule_graph
from korrel8.rules import runner as rule_runner
from korrel8.rules.compiler import compile_rule

rules_app = typer.Typer(
    help="List, check, apply and draw the correlation rules.", no_args_is_help=True
)
DirOption = Annotated[
    list[Path] | None, typer.Option("--dir", "-d", help="Another rule directory (repeatable).")
]


def _load(settings: Settings, extra: list[Path] | None) -> list[rules.Rule]:
    return rules.load(
        [*settings.rules.dirs, *(extra or [])], settings.rules.enable, settings.rules.disable
    )


def _classes(spec: str | list[str]) -> list[str]:
    return [spec] if isinstance(spec, str) else spec


@rules_app.command("list")
def list_rules(dirs: DirOption = None, output: FormatOption = Format.table) -> None:
    """Every rule, where it comes from, and whether it is enabled."""
    try:
        loaded = _load(load_settings(), dirs)
    except Korrel8Error as exc:
        raise fail(exc) from exc
    if output is Format.json:
        print_json([_rule_dict(r) for r in loaded])
        return
    columns = ["name", "start", "verb", "goal", "on", "from"]
    table = Table(
        f"{len(loaded)} rules", [Column(c, prose=c in ("start", "goal")) for c in columns]
    )
    for r in loaded:
        origin = r.origin.rsplit("/", 1)[-1]
        start, goal = ", ".join(_classes(r.start)), ", ".join(_classes(r.goal))
        table.add(r.name, start, r.verb, goal, "yes" if r.enabled else "no", origin)
    print_table(table)


def _rule_dict(rule: rules.Rule) -> dict[str, Any]:
    return {
        "name": rule.name,
        "description": rule.description,
        "start": _classes(rule.start),
        "verb": rule.verb,
        "goal": _classes(rule.goal),
        "enabled": rule.enabled,
        "origin": rule.origin,
    }


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
        raise fail(exc) from exc
    for e in errors:
        error(e)
    if errors:
        raise typer.Exit(code=1)
    how = "validated" if offline else "validated and explained"
    message(f"{len(loaded)} rules {how}: OK")


@rules_app.command("apply")
def apply(
    dirs: DirOption = None,
    full: Annotated[bool, typer.Option("--full", help="Re-evaluate every start.")] = False,
    cluster: Annotated[
        list[str] | None,
        typer.Option(
            "--cluster",
            help="Only the edges whose start is in this cluster (repeatable); the edges of "
            "other clusters are neither made, refreshed nor closed.",
        ),
    ] = None,
    output: FormatOption = Format.table,
) -> None:
    """Apply the enabled rules: incrementally where a rule ran before, unless --full."""
    try:
        settings = load_settings()
        loaded = _load(settings, dirs)
        with Store.connect(settings) as store, Tracker() as tracker:
            store.apply_schema()
            bar = tracker.task("rules", unit="rules", total=sum(r.enabled for r in loaded))

            def ran(run: rule_runner.RuleRun) -> None:
                bar.advance(note=f"{run.rule}: {run.edges} edges")

            runs = rule_runner.apply(
                store, loaded, full=full, progress=ran, clusters=cluster or None
            )
            bar.finish(f"{sum(r.edges for r in runs)} edges")
    except Korrel8Error as exc:
        raise fail(exc) from exc
    if output is Format.json:
        print_json([asdict(run) for run in runs])
        return
    columns = [Column("rule"), Column("mode"), Column("edges", numeric=True),
               Column("closed", numeric=True), Column("seconds", numeric=True)]  # fmt: skip
    table = Table("Rule runs", columns)
    for run in runs:
        table.add(run.rule, run.mode, run.edges, run.closed, f"{run.seconds:.2f}")
    table.add(
        "total", "", sum(r.edges for r in runs), sum(r.closed for r in runs),
        f"{sum(r.seconds for r in runs):.2f}", style="bold", section=True,
    )  # fmt: skip
    print_table(table)


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
        raise fail(exc) from exc
    render = rule_graph.to_dot if format is GraphFormat.dot else rule_graph.to_mermaid
    typer.echo(render(loaded), nl=False)


def _crds(path: Path) -> list[dict[str, Any]]:
    from ingest.snapshot import iter_objects

    return [
        dict(obj)
        for _, obj in iter_objects(path)
        if obj.get("kind") == "CustomResourceDefinition"
        and str(obj.get("apiVersion", "")).startswith("apiextensions.k8s.io/")
    ]


@rules_app.command("discover")
def discover(
    dirs: DirOption = None,
    write: Annotated[
        Path | None, typer.Option("--write", help="Save the proposals to DIR/discovered.yaml.")
    ] = None,
    crds: Annotated[
        Path | None,
        typer.Option(
            "--crds",
            help="CustomResourceDefinitions (a file, directory or archive: a must-gather, "
            "`kubectl get crd -o yaml`) whose schemas say what their fields name and select.",
        ),
    ] = None,
) -> None:
    """Propose rules for known patterns in the ingested graph (off until enabled), best
    evidence first: the kind a field names or a selector selects comes from the field's
    name, the CRD's schema or korrel8/rules/discover.yaml, never from a shared name."""
    try:
        settings = load_settings()
        loaded = _load(settings, dirs)
        definitions = _crds(crds) if crds is not None else []
        with Store.connect(settings) as store:
            proposals = discovery.discover(store, loaded, definitions)
    except Korrel8Error as exc:
        raise fail(exc) from exc
    if not proposals:
        message("No new patterns: the rules cover what the graph holds.", out)
        return
    typer.echo(discovery.to_yaml(proposals), nl=False)
    if write is not None:
        path = discovery.write(proposals, write)
        message(f"{len(proposals)} proposals written to {path}; enable them to run them.", err)
