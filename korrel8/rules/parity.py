"""korrel8r's rules and their korrel8 counterparts: the data, its checks and the README table.

``docs/korrel8r-parity.yaml`` names, for every korrel8r rule, the korrel8 rules that do its
work (or why none does), and for every korrel8r status rule the entries of
``ingest/status.yaml`` that do. This module checks that file against the rule files and
renders it as the README's table::

    python -m korrel8.rules.parity                  # print the table
    python -m korrel8.rules.parity --write README.md
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from korrel8.rules import Rule, load

REPO = Path(__file__).resolve().parents[2]
PARITY_FILE = REPO / "docs" / "korrel8r-parity.yaml"
# The file ingest.status reads (korrel8.rules may not import ingest: tests/test_architecture).
STATUS_FILE = REPO / "ingest" / "status.yaml"
BEGIN, END = "<!-- parity:begin -->", "<!-- parity:end -->"
COMMAND = "python -m korrel8.rules.parity --write README.md"
# The files whose rules korrel8 names as korrel8r does, in kebab case: each of their rules
# must stand against the korrel8r rule of its name, so none is left out of the table.
KEBAB_FILES = frozenset(
    {"olm.yaml", "kubevirt.yaml", "netflow.yaml", "incidents.yaml", "generic.yaml"}
)


class Provenance(BaseModel):
    model_config = ConfigDict(extra="forbid")

    repo: str
    read: date
    files: dict[str, str]
    rule_count: int
    status_rule_count: int


class StatusEntry(BaseModel):
    """One korrel8r status rule and the dotted paths of ingest/status.yaml that do its work."""

    model_config = ConfigDict(extra="forbid")

    korrel8r: str
    start: str
    korrel8: list[str] = Field(default_factory=list)
    why: str = ""


class Entry(StatusEntry):
    """One korrel8r rule: its file and classes (short), korrel8's rules for it, and why (or
    a note)."""

    file: str
    goal: str


class Parity(BaseModel):
    model_config = ConfigDict(extra="forbid")

    korrel8r: Provenance
    rules: list[Entry]
    status: list[StatusEntry]


def kebab(name: str) -> str:
    """korrel8r's CamelCase name as korrel8 writes it (SubscriptionToCSV: subscription-to-csv)."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "-", name)
    return spaced.lower()


def load_parity(path: Path = PARITY_FILE) -> Parity:
    return Parity.model_validate(yaml.safe_load(path.read_text()))


def rule_file(rule: Rule) -> str:
    """The file name a rule was read from (a reverse rule's is its original's)."""
    return Path(rule.origin.rsplit(":", 1)[0]).name


def _has_path(doc: Any, dotted: str) -> bool:
    for key in dotted.split("."):
        if not isinstance(doc, dict) or key not in doc:
            return False
        doc = doc[key]
    return True


def check(parity: Parity, rules: Iterable[Rule], status_doc: dict[str, Any]) -> list[str]:
    """Every way the data file disagrees with itself, the rule files or ingest/status.yaml."""
    by_name = {r.name: r for r in rules}
    errors: list[str] = []
    names = [e.korrel8r for e in parity.rules] + [s.korrel8r for s in parity.status]
    errors += [f"{n}: listed {c} times" for n, c in Counter(names).items() if c > 1]
    for want, got, what in (
        (parity.korrel8r.rule_count, len(parity.rules), "rules"),
        (parity.korrel8r.status_rule_count, len(parity.status), "status rules"),
    ):
        if want != got:
            errors.append(f"the header counts {want} korrel8r {what}, the file lists {got}")
    for e in parity.rules:
        errors += [
            f"{e.korrel8r}: no korrel8 rule named {n!r}" for n in e.korrel8 if n not in by_name
        ]
        # A rule that is off until enabled covers nothing for a user who switches.
        errors += [
            f"{e.korrel8r}: korrel8's {n} is off by default"
            for n in e.korrel8
            if n in by_name and not by_name[n].enabled
        ]
        if not e.korrel8 and not e.why:
            errors.append(f"{e.korrel8r}: no korrel8 rule and no why")
        own = kebab(e.korrel8r)
        if own in by_name and own not in e.korrel8:
            errors.append(f"{e.korrel8r}: korrel8's {own} (its own name) is not listed")
    for s in parity.status:
        errors += [
            f"{s.korrel8r}: no entry {p!r} in ingest/status.yaml"
            for p in s.korrel8
            if not _has_path(status_doc, p)
        ]
        if not s.korrel8 and not s.why:
            errors.append(f"{s.korrel8r}: no korrel8 status entry and no why")
    listed = {n for e in parity.rules for n in e.korrel8}
    errors += [
        f"{r.name} ({rule_file(r)}): not listed against any korrel8r rule"
        for r in by_name.values()
        if rule_file(r) in KEBAB_FILES and r.name not in listed
    ]
    return errors


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render(parity: Parity, rules: Iterable[Rule]) -> str:
    """The Markdown tables and totals that stand between the README's markers."""
    files = {r.name: rule_file(r) for r in rules}
    lines = [
        "| korrel8r rule | korrel8r file | start → goal | korrel8 rule(s) | why / note |",
        "|---|---|---|---|---|",
    ]
    for e in parity.rules:
        ours = ", ".join(f"`{n}` ({files[n]})" for n in e.korrel8) or "none"
        lines.append(
            f"| {e.korrel8r} | {e.file} | {_cell(e.start)} → {_cell(e.goal)} | {ours} "
            f"| {_cell(e.why)} |"
        )
    lines += [
        "",
        "| korrel8r status rule | start | korrel8 (`ingest/status.yaml`) | why / note |",
        "|---|---|---|---|",
    ]
    for s in parity.status:
        ours = ", ".join(f"`{p}`" for p in s.korrel8) or "none"
        lines.append(f"| {s.korrel8r} | {_cell(s.start)} | {ours} | {_cell(s.why)} |")
    covered = sum(1 for e in parity.rules if e.korrel8)
    status = sum(1 for s in parity.status if s.korrel8)
    lines += [
        "",
        f"Covered {covered} of {parity.korrel8r.rule_count} rules; "
        f"status rules {status} of {parity.korrel8r.status_rule_count}.",
    ]
    return "\n".join(lines) + "\n"


def replace_between_markers(text: str, body: str) -> str:
    """``text`` with what stands between the parity markers replaced by ``body``."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"markers {BEGIN} ... {END} not found in order")
    return text[: start + len(BEGIN)] + "\n" + body + text[end:]


def between_markers(text: str) -> str:
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"markers {BEGIN} ... {END} not found in order")
    return text[start + len(BEGIN) : end].removeprefix("\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m korrel8.rules.parity", description=__doc__)
    parser.add_argument("--write", type=Path, metavar="README", help="rewrite its parity table")
    args = parser.parse_args(argv)
    parity, rules = load_parity(), load()
    errors = check(parity, rules, yaml.safe_load(STATUS_FILE.read_text()))
    if errors:
        print(f"{PARITY_FILE}:", *errors, sep="\n  ", file=sys.stderr)
        return 1
    table = render(parity, rules)
    if args.write is None:
        sys.stdout.write(table)
    else:
        args.write.write_text(replace_between_markers(args.write.read_text(), table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
