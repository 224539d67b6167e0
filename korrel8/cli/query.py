"""The correlation commands of the CLI: ``goals``, ``neighbours`` and ``get``.

``register(app)`` adds them to the ``korrel8`` Typer app. Each prints tables (see
korrel8/console/output.py: tab-separated off a terminal), or writes JSON, HTML, DOT,
Mermaid or GraphML (``--output``) to stdout or a file (``-o``); ``--show-cypher`` prints
the path query with its parameters, ready for Neo4j Browser. Errors are korrel8 errors:
one red message, no traceback, exit status 1.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from korrel8.console import output as console_output
from korrel8.console.output import Column, Table, err, error, fail, message
from korrel8.correlate import DEFAULT_DEPTH, DEFAULT_LIMIT, DEFAULT_NEIGHBOUR_DEPTH, Korrel8
from korrel8.errors import Korrel8Error
from korrel8.result import Result

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["Output", "get", "goals", "neighbours", "print_table", "register"]


class Output(StrEnum):
    table = "table"
    json = "json"
    html = "html"
    dot = "dot"
    mermaid = "mermaid"
    graphml = "graphml"


_WINDOW_HELP = "ISO 8601 time, a duration ago (15m, 2h, 3d) or now"
Since = Annotated[
    str | None,
    typer.Option(
        help=f"Start of the time window (default: an hour before --until): {_WINDOW_HELP}."
    ),
]
Until = Annotated[
    str | None, typer.Option(help=f"End of the time window (default: now): {_WINDOW_HELP}.")
]
At = Annotated[str | None, typer.Option(help=f"One instant instead of a window: {_WINDOW_HELP}.")]
Limit = Annotated[int, typer.Option(help="At most this many objects found.")]
OutputOpt = Annotated[
    Output,
    typer.Option(
        "--output", help="What to print (table: tab-separated when stdout is not a terminal)."
    ),
]
OutFile = Annotated[
    Path | None, typer.Option("-o", "--out-file", help="Write the output to this file.")
]
ShowCypher = Annotated[
    bool, typer.Option("--show-cypher", help="Print the Cypher and parameters for Neo4j Browser.")
]


def goals(
    start: Annotated[str, typer.Argument(help="A korrel8r query or a ref.")],
    goal: Annotated[
        list[str], typer.Argument(help="Goal classes (log:application) or domains (log).")
    ],
    depth: Annotated[int, typer.Option(help="At most this many rule edges.")] = DEFAULT_DEPTH,
    all_paths: Annotated[
        bool,
        typer.Option("--all-paths", help="Every path within the depth, not the shortest (wide)."),
    ] = False,
    wide: Annotated[
        bool,
        typer.Option(
            "--wide",
            help="Every goal within the depth by any route, also through a hub (a Service, "
            "Node, StorageClass, owner) to its other members and deeper than the nearest.",
        ),
    ] = False,
    status: Annotated[
        list[str] | None,
        typer.Option(
            "--status",
            help="Only goals with this status (Error, Warning, Finalizer, an alert's severity; "
            "case-insensitive; repeat for any of several).",
        ),
    ] = None,
    since: Since = None,
    until: Until = None,
    at: At = None,
    limit: Limit = DEFAULT_LIMIT,
    output: OutputOpt = Output.table,
    out_file: OutFile = None,
    show_cypher: ShowCypher = False,
) -> None:
    """Find the goal objects related to START by rule chains, with the paths.

    Precise by default: from each start the nearest goals of each class, never through a
    hub and back down to its other members; what was left out is counted. --wide: all.
    --status keeps the goals with that status (the objects on the way are not filtered)."""
    _run(
        lambda k: k.goals(
            start, goal, depth=depth, since=since, until=until, at=at, limit=limit,
            all_paths=all_paths, wide=wide, status=status or None,
        ),
        output, out_file, show_cypher,
    )  # fmt: skip


def neighbours(
    start: Annotated[str, typer.Argument(help="A korrel8r query or a ref.")],
    depth: Annotated[int, typer.Option(help="At most this many rule edges.")] = (
        DEFAULT_NEIGHBOUR_DEPTH
    ),
    both: Annotated[
        bool, typer.Option("--both", help="Follow rule edges either way, not only forward.")
    ] = False,
    since: Since = None,
    until: Until = None,
    at: At = None,
    limit: Limit = DEFAULT_LIMIT,
    output: OutputOpt = Output.table,
    out_file: OutFile = None,
    show_cypher: ShowCypher = False,
) -> None:
    """Show everything within --depth rule edges of START."""
    _run(
        lambda k: k.neighbours(
            start, depth=depth, both=both, since=since, until=until, at=at, limit=limit
        ),
        output, out_file, show_cypher,
    )  # fmt: skip


def get(
    query: Annotated[str, typer.Argument(help="A korrel8r query or a ref.")],
    since: Since = None,
    until: Until = None,
    at: At = None,
    limit: Limit = DEFAULT_LIMIT,
    output: OutputOpt = Output.table,
    out_file: OutFile = None,
    show_cypher: ShowCypher = False,
) -> None:
    """Show the objects QUERY selects, with their data queries."""
    _run(
        lambda k: k.get(query, since=since, until=until, at=at, limit=limit),
        output, out_file, show_cypher,
    )  # fmt: skip


def register(app: typer.Typer) -> None:
    """Add ``goals``, ``neighbours`` and ``get`` to ``app``."""
    app.command("goals")(goals)
    app.command("neighbours")(neighbours)
    app.command("get")(get)


def _run(
    search: Callable[[Korrel8], Result], output: Output, out_file: Path | None, show_cypher: bool
) -> None:
    try:
        with Korrel8.connect() as k:
            result = search(k)
        text = None if output is Output.table else _render(result, output)
    except Korrel8Error as exc:
        raise fail(exc) from None
    if output is Output.table and out_file is None:
        print_table(result)
    elif out_file is not None:
        try:
            out_file.write_text(text if text is not None else _plain_table(result), "utf-8")
        except OSError as exc:
            error(f"cannot write {out_file}: {exc}")
            raise typer.Exit(code=1) from None
        message(f"wrote {out_file}", err)
    else:
        sys.stdout.write(text or "")
    if show_cypher:
        # Beside a table or a file, on stdout; beside JSON and the like, on stderr so that
        # the output stays parseable.
        target = console_output.out if (output is Output.table or out_file is not None) else err
        message("\n// Neo4j Browser: run the :params line, then the query.", target)
        message(result.cypher.for_browser(), target)


def _render(result: Result, output: Output) -> str:
    # Only the renderer asked for is imported: a table needs none (a faster start).
    if output is Output.json:
        from korrel8.render import json as render_json

        return render_json.to_json(result) + "\n"
    if output is Output.html:
        from korrel8.render import html

        return html.to_html(result)
    if output is Output.dot:
        from korrel8.render import dot

        return dot.to_dot(result)
    if output is Output.mermaid:
        from korrel8.render import mermaid

        return mermaid.to_mermaid(result)
    from korrel8.render import graphml

    return graphml.to_graphml(result)


def _plain_table(result: Result) -> str:
    from rich.console import Console

    capture = Console(file=io.StringIO())  # not a terminal: tab-separated
    print_table(result, capture)
    assert isinstance(capture.file, io.StringIO)
    return capture.file.getvalue()


def print_table(result: Result, out: Console | None = None) -> None:
    """The goal objects with their data queries, the paths with their rules, the counts."""
    out = out or console_output.out
    heading = {"goals": "Goals", "neighbours": "Neighbours", "get": "Objects"}[result.kind]
    names = ("class", "namespace", "name", "status", "language", "data query")
    table = Table(f"{heading} of {result.start_query}", [Column(n) for n in names])
    for node in result.goals:
        # Without a data query (a Kubernetes object), its korrel8r query.
        data = node.data_query
        language, query = (data.language, data.query) if data else ("korrel8r", node.query)
        status = " ".join(node.statuses)
        table.add(
            node.class_, node.namespace or "", node.title, status, language, query,
            style=_status_style(node.statuses),
        )  # fmt: skip
    console_output.print_table(table, out)
    if result.paths and result.kind == "goals":
        paths = Table("Paths (the rule on each edge)", [Column("path", prose=True)])
        for path in result.paths:
            steps = [_caption(result, path.refs[0])]
            for edge, ref in zip(path.edges, path.refs[1:], strict=True):
                steps.append(f"-[{edge.rule}]-> {_caption(result, ref)}")
            paths.add(" ".join(steps))
        console_output.print_table(paths, out)
    columns = [
        Column("class"), Column("found", numeric=True), Column("goals", numeric=True),
        Column("statuses"),
    ]  # fmt: skip
    counts = Table("Objects per class", columns)
    goal_counts, status_counts = result.goal_counts, result.status_counts
    for cls, n in result.counts.items():
        statuses = status_counts.get(cls, {})
        listed = " ".join(f"{s}={c}" for s, c in statuses.items())
        counts.add(cls, n, goal_counts.get(cls, 0), listed)
    console_output.print_table(counts, out)
    window = f"{result.since.isoformat()} to {result.until.isoformat()}"
    note = f"window {window}" + (f", depth {result.depth}" if result.depth else "")
    if result.mode == "precise":
        note += "; precise: the nearest goals of each class, no way back down from a hub"
    elif result.mode == "wide":
        note += "; wide: every goal within the depth, by any route"
    if result.truncated:
        note += "; cut at the limit: raise --limit to see more"
    for left in result.left_out:
        note += f"\nleft out: {left.describe()} (--wide shows them)"
    message(note, out)


# How a goal's row shows on a terminal: korrel8r's Error and an alert's critical in red,
# warnings in yellow.
_STATUS_STYLES = (({"error", "critical"}, "red"), ({"warning"}, "yellow"))


def _status_style(statuses: Sequence[str]) -> str:
    lowered = {s.lower() for s in statuses}
    return next((style for names, style in _STATUS_STYLES if names & lowered), "")


def _caption(result: Result, ref: str) -> str:
    node = result.nodes[ref]
    return f"{node.class_} {node.title}"
