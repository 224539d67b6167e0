"""A Result as one self-contained HTML page: the investigation graph.

The page bundles cytoscape.js (``assets/cytoscape.min.js``, the version in
``assets/cytoscape.VERSION``, re-fetched by ``tools/vendor-js.sh``), its own script and
style, and the result JSON; it opens with no network. Objects are coloured by domain,
the start is highlighted, edges are labelled by rule, and a side panel shows an object's
labels, times and data query. The page writes what it drew into
``#korrel8-status`` (``data-nodes``, ``data-edges``, ``data-rendered``).
"""

from __future__ import annotations

import html
import json
import pathlib
import re
from functools import cache
from importlib import resources

from korrel8.render import DOMAIN_COLOURS, OTHER_COLOUR
from korrel8.render.json import to_dict
from korrel8.result import Result

__all__ = ["library_version", "to_html"]

_MARKER = re.compile(r"@KORREL8_([A-Z_]+)@")
# Inside <script>, "</script" or "<!--" would end or confuse the element: JSON lets us
# write these characters as \u escapes, which parse back to the same strings.
_SCRIPT_UNSAFE = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


@cache
def _asset(name: str) -> str:
    return resources.files("korrel8.render").joinpath("assets", name).read_text(encoding="utf-8")


def library_version() -> str:
    """The bundled library and version, from ``assets/cytoscape.VERSION``."""
    fields = dict(
        line.split(": ", 1) for line in _asset("cytoscape.VERSION").splitlines() if ": " in line
    )
    return f"{fields['name']} {fields['version']}"


def script_json(value: object) -> str:
    """JSON that is safe inside a <script> element."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return "".join(_SCRIPT_UNSAFE.get(c, c) for c in text)


def _title(result: Result) -> str:
    goals = ", ".join(result.goal_classes)
    what = {"goals": "goals", "neighbours": "neighbours", "get": "objects"}[result.kind]
    return f"korrel8 {what}: {result.start_query}" + (f" → {goals}" if goals else "")


def write_html(result: Result, path: str | pathlib.Path) -> str:
    """The investigation graph written to ``path`` as one self-contained HTML page; returns
    the HTML."""
    text = to_html(result)
    pathlib.Path(path).write_text(text, encoding="utf-8")
    return text


def to_html(result: Result) -> str:
    values = {
        "TITLE": html.escape(_title(result)),
        "CSS": _asset("investigation.css"),
        "DATA": script_json(to_dict(result)),
        "COLOURS": script_json({**DOMAIN_COLOURS, "*": OTHER_COLOUR}),
        "LIBRARY_VERSION": library_version(),
        "LIBRARY": _asset("cytoscape.min.js"),
        "APP": _asset("investigation.js"),
    }
    # One pass: text put in for one marker is never searched for another.
    return _MARKER.sub(lambda m: values[m[1]], _asset("investigation.html"))
