"""A Result as a Mermaid flowchart (for Markdown: GitHub, GitLab, docs)."""

from __future__ import annotations

from collections import defaultdict

from korrel8.render import domain_colour
from korrel8.result import Result

__all__ = ["escape", "to_mermaid"]

# Mermaid reads #name; and #code; as entities inside quoted text: escape # first.
_ENTITIES = (("#", "#35;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;"), ("|", "#124;"))


def escape(text: str) -> str:
    for char, entity in _ENTITIES:
        text = text.replace(char, entity)
    return text.replace("\r", "").replace("\n", " ")


def to_mermaid(result: Result) -> str:
    ids = {ref: f"n{i}" for i, ref in enumerate(result.nodes)}
    lines = ["flowchart LR"]
    by_domain: dict[str, list[str]] = defaultdict(list)
    for ref, node in result.nodes.items():
        lines.append(f'  {ids[ref]}["{escape(node.class_)}<br/>{escape(node.title)}"]')
        by_domain[node.domain].append(ids[ref])
    for edge in result.edges:
        arrow = "-.->" if edge.valid_to is not None else "-->"
        lines.append(f'  {ids[edge.start]} {arrow}|"{escape(edge.rule)}"| {ids[edge.goal]}')
    for domain, members in sorted(by_domain.items()):
        lines.append(f"  classDef d_{domain} fill:{domain_colour(domain)},color:#fff")
        lines.append(f"  class {','.join(members)} d_{domain}")
    starts = [ids[r] for r in result.starts if r in ids]
    if starts:
        lines.append("  classDef start stroke:#111,stroke-width:4px")
        lines.append(f"  class {','.join(starts)} start")
    return "\n".join(lines) + "\n"
