"""Loads the Cypher statements korrel8 runs from the files under ``cypher/``.

Python never assembles Cypher from data: every statement is a file, values are
parameters, and a user can paste the same text into Neo4j Browser.
"""

from __future__ import annotations

import re
import sys
from functools import cache
from pathlib import Path

from korrel8.errors import Korrel8Error


def _cypher_dir() -> Path:
    """``cypher/`` beside the source tree (a checkout, an editable install), else where a
    wheel puts it (pyproject.toml's data-files: ``<prefix>/share/korrel8/cypher``)."""
    beside = Path(__file__).resolve().parents[2] / "cypher"
    installed = Path(sys.prefix) / "share" / "korrel8" / "cypher"
    return beside if beside.is_dir() or not installed.is_dir() else installed


CYPHER_DIR = _cypher_dir()


@cache
def load(name: str) -> str:
    """The text of ``cypher/<name>.cypher``, without its comment lines."""
    path = CYPHER_DIR / f"{name}.cypher"
    try:
        text = path.read_text()
    except OSError as exc:
        raise Korrel8Error(f"cannot read Cypher statement {path}: {exc}") from exc
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("//"))


def load_many(name: str) -> list[str]:
    """The statements of a file that holds several, each ended by ``;``."""
    return [s.strip() for s in load(name).split(";") if s.strip()]


# A caller's visibility clause in cypher/queries (`AND ($visible IS NULL OR (... END))`).
_CALLER_CLAUSE = re.compile(r"\n[ \t]*AND \(\$visible IS NULL OR \(.*?\n[ \t]*END\)\)", re.S)


def for_caller(text: str, visible: object) -> str:
    """The statement as a caller with ``visible`` runs it: an operator's (``None``) without
    the visibility clauses. Even with $visible null, their presence can lead the planner to
    start a path query from a scan of every node rather than from the start's ref."""
    if visible is not None:
        return text
    stripped = _CALLER_CLAUSE.sub("", text)
    if "$visible" in stripped:
        raise Korrel8Error(
            "a $visible clause is not of the form AND ($visible IS NULL OR (... END))"
        )
    return stripped
