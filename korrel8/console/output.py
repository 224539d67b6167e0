"""How every korrel8 command prints its tables, JSON, messages and errors.

Tables: on a terminal, a rich table. Names, classes, rules and queries are never wrapped or
cut; only free text (``Column(prose=True)``: an error, a path of rules) folds. A table too
wide for the terminal is printed whole and borderless, and the terminal folds its long lines
(copying one still gives the whole line). Off a terminal (a pipe, a file), a table is
tab-separated values: a ``# title`` line, a header line, a line per row, a blank line after;
a tab, newline or backslash inside a value is written ``\\t``, ``\\n``, ``\\\\``.

JSON (``--output json``): one document, or with ``lines=True`` one compact document per
line (JSON Lines, for commands that report once per run or per cluster).

Messages and errors are never wrapped, and never read as rich markup: a path or a query
stays on one line, brackets and all. Errors go to stderr as ``error: ...``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated

import typer
from rich.cells import cell_len
from rich.console import Console, JustifyMethod
from rich.measure import Measurement
from rich.segment import Segment, Segments
from rich.table import Table as RichTable
from rich.text import Text

__all__ = [
    "Column",
    "Format",
    "FormatOption",
    "Table",
    "err",
    "error",
    "fail",
    "message",
    "out",
    "print_json",
    "print_table",
    "tsv",
]

# soft_wrap: rich never inserts a line break into what it prints (off a terminal it would
# wrap at 80 columns, in the middle of a path).
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


PROSE_WIDTH = 30  # the least a prose column is given on a terminal


class Format(StrEnum):
    table = "table"
    json = "json"


FormatOption = Annotated[
    Format,
    typer.Option("--output", help="table (tab-separated when stdout is not a terminal) or json."),
]


@dataclass(frozen=True)
class Column:
    name: str
    numeric: bool = False  # right-aligned on a terminal
    prose: bool = False  # free text: may fold on a terminal (never off one)


@dataclass(frozen=True)
class _Row:
    cells: tuple[str, ...]
    style: str
    section: bool


@dataclass
class Table:
    """A title, columns and rows of plain strings (never markup)."""

    title: str
    columns: list[Column]
    rows: list[_Row] = field(default_factory=list)

    def add(self, *cells: object, style: str = "", section: bool = False) -> None:
        """A row; ``style`` (rich's, such as "bold" or "red") shows on a terminal only;
        ``section`` draws a rule above it there (before a total)."""
        if len(cells) != len(self.columns):
            raise ValueError(f"{len(cells)} cells for {len(self.columns)} columns")
        self.rows.append(_Row(tuple(str(c) for c in cells), style, section))


def print_table(table: Table, console: Console = out) -> None:
    """On a terminal, a rich table; elsewhere tab-separated values (see the module doc)."""
    if console.is_terminal:
        _print_rich(table, console)
    else:
        console.file.write(tsv(table))


def tsv(table: Table) -> str:
    lines = [f"# {table.title}"] if table.title else []
    lines.append("\t".join(_tsv_cell(c.name) for c in table.columns))
    lines += ["\t".join(_tsv_cell(c) for c in row.cells) for row in table.rows]
    return "\n".join(lines) + "\n\n"


def _tsv_cell(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def _print_rich(table: Table, console: Console) -> None:
    rich = RichTable(title_justify="left")
    for i, column in enumerate(table.columns):
        justify: JustifyMethod = "right" if column.numeric else "left"
        width = max([cell_len(column.name), *(cell_len(r.cells[i]) for r in table.rows)])
        if column.prose:  # narrowed, not below a readable width
            rich.add_column(
                column.name, justify=justify, overflow="fold", min_width=min(width, PROSE_WIDTH)
            )
        else:
            rich.add_column(column.name, justify=justify, no_wrap=True, min_width=width)
    for row in table.rows:
        if row.section and rich.row_count:
            rich.add_section()
        rich.add_row(*(Text(c) for c in row.cells), style=row.style or None)
    if table.title:
        console.print(Text(table.title, style="bold"), soft_wrap=True)
    needed = _min_width(console, rich)
    if needed <= console.width:
        console.print(rich)
    else:
        # Wider than the terminal: as wide as it needs, borderless, without trailing blanks,
        # so that the terminal folds the long lines and nothing else.
        rich.box = None
        options = console.options.update_width(_min_width(console, rich))
        for line in console.render_lines(rich, options, pad=False):
            console.print(Segments([*_rstrip(line), Segment.line()]), crop=False)
    console.print()  # a blank line after a table, as off a terminal


def _min_width(console: Console, table: RichTable) -> int:
    return Measurement.get(console, console.options.update_width(1_000_000), table).minimum


def _rstrip(line: list[Segment]) -> list[Segment]:
    while line and not line[-1].text.strip():
        line = line[:-1]
    if line:
        last = line[-1]
        line = [*line[:-1], Segment(last.text.rstrip(), last.style, last.control)]
    return line


def print_json(value: object, *, lines: bool = False, console: Console = out) -> None:
    text = json.dumps(value, ensure_ascii=False, indent=None if lines else 2, default=str)
    console.file.write(text + "\n")
    console.file.flush()


def message(text: str, console: Console = out, style: str = "") -> None:
    """One line (or several, at the newlines in ``text``), never wrapped, never markup."""
    console.print(Text(text, style=style), soft_wrap=True)


def error(text: str) -> None:
    """``error: text`` on stderr, red on a terminal."""
    err.print(Text.assemble(("error:", "bold red"), " ", text), soft_wrap=True)


def fail(exc: Exception) -> typer.Exit:
    """Print the error; the Exit (status 1) to raise."""
    error(str(exc))
    return typer.Exit(code=1)
