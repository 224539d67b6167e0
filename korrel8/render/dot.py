"""A Result as a Graphviz DOT digraph: objects coloured by domain, the start in a thick
border, goals doubled, edges labelled by rule; deleted objects and closed edges dashed."""

from __future__ import annotations

from korrel8.render import domain_colour
from korrel8.result import Result

__all__ = ["quote", "to_dot"]


def quote(text: str) -> str:
    """``text`` as a DOT quoted string (newlines become DOT's centred line breaks)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\r", "").replace("\n", "\\n") + '"'


def to_dot(result: Result) -> str:
    ids = {ref: f"n{i}" for i, ref in enumerate(result.nodes)}
    starts, goals = set(result.starts), {n.ref for n in result.goals}
    lines = [
        "digraph korrel8 {",
        f"  graph [rankdir=LR, fontname=Helvetica, label={quote(_title(result))}];",
        '  node [shape=box, style="rounded,filled", fontname=Helvetica, fontcolor=white];',
        "  edge [fontname=Helvetica, fontsize=10];",
    ]
    for ref, node in result.nodes.items():
        attrs = {
            "label": f"{node.class_}\n{node.title}",
            "tooltip": ref,
            "fillcolor": domain_colour(node.domain),
        }
        if ref in starts:
            attrs["penwidth"] = "4"
            attrs["color"] = "#111111"
        if ref in goals:
            attrs["peripheries"] = "2"
        if node.deleted_at is not None:
            attrs["style"] = "rounded,filled,dashed"
        lines.append(f"  {ids[ref]} [{_attrs(attrs)}];")
    for edge in result.edges:
        attrs = {"label": edge.rule, "tooltip": edge.type}
        if edge.valid_to is not None:
            attrs["style"] = "dashed"
        lines.append(f"  {ids[edge.start]} -> {ids[edge.goal]} [{_attrs(attrs)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _attrs(attrs: dict[str, str]) -> str:
    return ", ".join(f"{k}={quote(v)}" for k, v in attrs.items())


def _title(result: Result) -> str:
    goals = " ".join(result.goal_classes)
    return f"korrel8 {result.kind}: {result.start_query}" + (f" -> {goals}" if goals else "")
