"""Loads the Cypher statements korrel8 runs from the files under ``cypher/``.

Python never assembles Cypher from data: every statement is a file, values are
parameters, and a user can paste the same text into Neo4j Browser.
"""

from __future__ import annotations

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
