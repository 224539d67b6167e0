"""The class-level rule graph: which classes each rule links, as DOT or Mermaid."""

from __future__ import annotations

from collections.abc import Iterable

from korrel8.model import Domain
from korrel8.rules import Rule


def _names(spec: object) -> list[str]:
    if isinstance(spec, Domain):
        return [f"{spec.name}:*"]
    assert isinstance(spec, list)
    return [str(c) for c in spec]


def class_edges(rules: Iterable[Rule]) -> list[tuple[str, str, str]]:
    """(start class, goal class, "VERB (rule)") for every enabled rule."""
    return [
        (s, g, f"{r.verb} ({r.name})")
        for r in rules
        if r.enabled
        for s in _names(r.start_classes)
        for g in _names(r.goal_classes)
    ]


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(rules: Iterable[Rule]) -> str:
    lines = ["digraph rules {", "  rankdir=LR;", "  node [shape=box];"]
    for s, g, label in class_edges(rules):
        lines.append(f"  {_quote(s)} -> {_quote(g)} [label={_quote(label)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_mermaid(rules: Iterable[Rule]) -> str:
    edges = class_edges(rules)
    ids: dict[str, str] = {}
    for s, g, _ in edges:
        for name in (s, g):
            ids.setdefault(name, f"c{len(ids)}")
    lines = ["flowchart LR"]
    lines += [f'  {i}["{name}"]' for name, i in ids.items()]
    for s, g, label in edges:
        lines.append(f'  {ids[s]} -->|"{label}"| {ids[g]}')
    return "\n".join(lines) + "\n"
