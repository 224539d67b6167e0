"""A Result as GraphML (yEd, Gephi, NetworkX, Cytoscape desktop): every object a node
with its class, names, times and data query; every rule edge an edge with its rule."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from korrel8.render.json import json_safe
from korrel8.result import Result

__all__ = ["NS", "to_graphml"]

NS = "http://graphml.graphdrawing.org/xmlns"
_NODE_KEYS = (
    "ref", "class", "domain", "name", "namespace", "cluster", "first_seen", "last_seen",
    "deleted_at", "start", "goal", "data_language", "data_query",
)  # fmt: skip
_EDGE_KEYS = ("type", "rule", "first_seen", "last_seen", "valid_to")
# Characters XML 1.0 cannot carry at all, even escaped; data from a cluster might hold one.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def to_graphml(result: Result) -> str:
    ET.register_namespace("", NS)
    root = ET.Element(f"{{{NS}}}graphml")
    for scope, keys in (("node", _NODE_KEYS), ("edge", _EDGE_KEYS)):
        for key in keys:
            kind = "boolean" if key in ("start", "goal") else "string"
            ET.SubElement(
                root,
                f"{{{NS}}}key",
                {"id": f"{scope[0]}_{key}", "for": scope, "attr.name": key, "attr.type": kind},
            )
    graph = ET.SubElement(root, f"{{{NS}}}graph", {"id": "korrel8", "edgedefault": "directed"})
    ids = {ref: f"n{i}" for i, ref in enumerate(result.nodes)}
    starts, goals = set(result.starts), {n.ref for n in result.goals}
    for ref, node in result.nodes.items():
        data = node.data_query
        values = {
            "ref": ref,
            "class": node.class_,
            "domain": node.domain,
            "name": node.name,
            "namespace": node.namespace,
            "cluster": node.cluster,
            "first_seen": json_safe(node.first_seen),
            "last_seen": json_safe(node.last_seen),
            "deleted_at": json_safe(node.deleted_at),
            "start": "true" if ref in starts else "false",
            "goal": "true" if ref in goals else "false",
            "data_language": data.language if data else None,
            "data_query": data.query if data else None,
        }
        element = ET.SubElement(graph, f"{{{NS}}}node", {"id": ids[ref]})
        _data(element, "n", values)
    for i, edge in enumerate(result.edges):
        element = ET.SubElement(
            graph,
            f"{{{NS}}}edge",
            {"id": f"e{i}", "source": ids[edge.start], "target": ids[edge.goal]},
        )
        values = {
            "type": edge.type,
            "rule": edge.rule,
            "first_seen": json_safe(edge.first_seen),
            "last_seen": json_safe(edge.last_seen),
            "valid_to": json_safe(edge.valid_to),
        }
        _data(element, "e", values)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _data(element: ET.Element, scope: str, values: dict[str, str | None]) -> None:
    for key, value in values.items():
        if value is not None:
            data = ET.SubElement(element, f"{{{NS}}}data", {"key": f"{scope}_{key}"})
            data.text = _NOT_XML.sub("\ufffd", value)
