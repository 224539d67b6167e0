"""Every output format of a correlation parses, and says what the graph says.

JSON is checked against korrel8/schemas/result.schema.json (by a small validator below
that covers the keywords the schema uses: jsonschema is not a dependency), DOT through
Graphviz's own parser (`dot -Tjson`), GraphML through xml.etree, Mermaid line by line
against the statements korrel8 writes.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from importlib import resources
from typing import Any

import pytest

from korrel8.correlate import Korrel8
from korrel8.graph.rows import NodeRow
from korrel8.graph.store import Store
from korrel8.render import dot as dot_render
from korrel8.render import graphml, mermaid
from korrel8.render import html as html_render
from korrel8.render import json as render_json
from korrel8.render.graphml import NS
from korrel8.result import Result
from tests.servers.common import unavailable
from tests.test_correlate import CLUSTER, Mission, build_mission
from tests.test_correlate import NS as NAMESPACE

# A name that breaks every format that does not escape: quotes, markup, newline, #, |.
NASTY = 'x"</script><b>&amp;#quot;|\\n\nend'


@pytest.fixture
def result(store: Store) -> tuple[Result, Mission]:
    mission = build_mission(store)
    # A goal whose properties carry the nasty name, on its own edge from web-0.
    nasty = NodeRow.model_validate(
        {
            "ref": f'log:application:{{"cluster":"{CLUSTER}","name":"nasty"}}',
            "domain": "log",
            "class": "application",
            "source": "loki",
            "cluster": CLUSTER,
            "namespace": NAMESPACE,
            "name": NASTY,
            "properties": {"logql": '{kubernetes_pod_name="web-0"} |= "</script>"'},
        }
    )
    store.upsert_nodes([nasty])
    from korrel8.graph.rows import EdgeRow

    store.upsert_edges(
        [EdgeRow(start=mission.pods["web-0"], goal=nasty.ref, type="LOGS", rule='odd "rule" |x|')]
    )
    return Korrel8(store).goals(mission.alert, "log"), mission


# --- a small JSON Schema validator (the keywords result.schema.json uses) ---------------


def validate(value: Any, schema: dict[str, Any], root: dict[str, Any], where: str = "$") -> None:
    if "$ref" in schema:
        target: Any = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        validate(value, target, root, where)
    if "oneOf" in schema:
        passed = 0
        for option in schema["oneOf"]:
            try:
                validate(value, option, root, where)
                passed += 1
            except AssertionError:
                pass
        assert passed == 1, f"{where}: {passed} of oneOf match"
    kinds = schema.get("type")
    if kinds is not None:
        kinds = kinds if isinstance(kinds, list) else [kinds]
        assert any(_is(value, k) for k in kinds), f"{where}: {value!r} is not {kinds}"
    if "const" in schema:
        assert value == schema["const"], f"{where}: {value!r} != {schema['const']!r}"
    if "enum" in schema:
        assert value in schema["enum"], f"{where}: {value!r} not in {schema['enum']}"
    if isinstance(value, str):
        assert len(value) >= schema.get("minLength", 0), f"{where}: too short"
        if "pattern" in schema:
            assert re.search(schema["pattern"], value), f"{where}: {value!r} !~ {schema['pattern']}"
    if isinstance(value, int | float) and not isinstance(value, bool) and "minimum" in schema:
        assert value >= schema["minimum"], f"{where}: {value} < {schema['minimum']}"
    if isinstance(value, list):
        assert len(value) >= schema.get("minItems", 0), f"{where}: too few items"
        for i, item in enumerate(value):
            if "items" in schema:
                validate(item, schema["items"], root, f"{where}[{i}]")
    if isinstance(value, dict):
        for key in schema.get("required", []):
            assert key in value, f"{where}: missing {key!r}"
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in props:
                validate(item, props[key], root, f"{where}.{key}")
            elif extra is False:
                raise AssertionError(f"{where}: unexpected {key!r}")
            elif isinstance(extra, dict):
                validate(item, extra, root, f"{where}.{key}")


def _is(value: Any, kind: str) -> bool:
    checks: dict[str, Any] = {
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "null": lambda v: v is None,
    }
    return bool(checks[kind](value))


def schema() -> dict[str, Any]:
    text = resources.files("korrel8").joinpath("schemas/result.schema.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def test_the_validator_rejects_what_the_schema_forbids() -> None:
    s = schema()
    with pytest.raises(AssertionError, match="missing 'version'"):
        validate({}, s, s)
    with pytest.raises(AssertionError, match="not in"):
        validate("sideways", s["properties"]["kind"], s)
    with pytest.raises(AssertionError, match="unexpected 'extra'"):
        validate({"query": "q", "refs": [], "extra": 1}, s["properties"]["start"], s)


# --- the formats ------------------------------------------------------------------------


def test_json_matches_its_schema_and_korrel8rs_graph_shape(result: tuple[Result, Mission]) -> None:
    res, mission = result
    data = json.loads(render_json.to_json(res))
    s = schema()
    validate(data, s, s)
    nodes = {n["class"]: n for n in data["nodes"]}
    assert nodes["k8s:Pod"]["count"] == 2
    assert {q["query"] for q in nodes["k8s:Pod"]["queries"]} == {
        mission.pods["web-0"],
        mission.pods["web-1"],
    }
    edges = {(e["start"], e["goal"]): e["rules"] for e in data["edges"]}
    assert edges[("alert:alert", "k8s:PersistentVolumeClaim")] == [
        {"name": "alert-pvc", "type": "ABOUT", "count": 1}
    ]
    goals = [o for o in data["objects"] if o["goal"]]
    assert len(goals) == 3 and all(o["data"]["language"] == "LogQL" for o in goals)
    assert [o["ref"] for o in data["objects"] if o["start"]] == [mission.alert]
    assert data["goal_counts"] == {"log:application": 3}
    assert all(p["rules"][0] == "alert-pvc" for p in data["paths"])
    assert any(o["name"] == NASTY for o in data["objects"])


def test_dot_parses_with_graphviz(result: tuple[Result, Mission]) -> None:
    res, _ = result
    dot = shutil.which("dot")
    if dot is None:
        unavailable("Graphviz dot", "run tools/install-chromium.sh (apt-get install graphviz)")
    parsed = subprocess.run(
        [dot, "-Tjson"], input=dot_render.to_dot(res), capture_output=True, text=True, check=True
    )
    graph = json.loads(parsed.stdout)
    labels = {o["label"] for o in graph["objects"]}
    assert len(graph["objects"]) == len(res.nodes) and len(graph["edges"]) == len(res.edges)
    assert "k8s:PersistentVolumeClaim\\nuploads" in labels  # DOT keeps its \n escape
    # Graphviz unescapes only \" and keeps other escapes as written.
    assert any('x"</script><b>&amp;#quot;|' in label for label in labels)
    assert {e["label"] for e in graph["edges"]} >= {"alert-pvc", "pvc-pods", 'odd "rule" |x|'}


def test_graphml_parses_and_carries_the_objects(result: tuple[Result, Mission]) -> None:
    res, mission = result
    root = ET.fromstring(graphml.to_graphml(res))
    graph = root.find(f"{{{NS}}}graph")
    assert graph is not None and graph.get("edgedefault") == "directed"
    keys = {k.get("id"): k.get("attr.name") for k in root.findall(f"{{{NS}}}key")}
    nodes = {}
    for node in graph.findall(f"{{{NS}}}node"):
        values = {keys[d.get("key")]: d.text for d in node.findall(f"{{{NS}}}data")}
        nodes[values["ref"]] = values
    assert set(nodes) == set(res.nodes)
    assert nodes[mission.alert]["start"] == "true"
    assert nodes[mission.logs["web-0"]]["data_language"] == "LogQL"
    assert any(v["name"] == NASTY for v in nodes.values())
    edges = graph.findall(f"{{{NS}}}edge")
    assert len(edges) == len(res.edges)


# What korrel8 writes in a Mermaid flowchart, one statement a line.
_MERMAID = [
    re.compile(r"^flowchart LR$"),
    re.compile(r'^  (n\d+)\["[^"<>|]*<br/>[^"<>|]*"\]$'),
    re.compile(r'^  (n\d+) (-->|-\.->)\|"[^"<>|]*"\| (n\d+)$'),
    re.compile(r"^  classDef [a-z0-9_]+ [a-z-]+:[#0-9a-z]+(,[a-z-]+:[#0-9a-z]+)*$"),
    re.compile(r"^  class (n\d+(,n\d+)*) [a-z0-9_]+$"),
]


def test_mermaid_is_well_formed(result: tuple[Result, Mission]) -> None:
    res, _ = result
    lines = mermaid.to_mermaid(res).splitlines()
    defined: set[str] = set()
    used: set[str] = set()
    for line in lines:
        match = next((m for p in _MERMAID if (m := p.match(line))), None)
        assert match is not None, f"not a statement korrel8 writes: {line!r}"
        if line.endswith('"]'):
            defined.add(match[1])
        elif "-->" in line or "-.->" in line:
            used.update({match[1], match[3]})
    assert len(defined) == len(res.nodes) and used <= defined
    assert sum("-->" in line for line in lines) == len(res.edges)
    assert "#quot;" in mermaid.to_mermaid(res)  # the nasty name's quote, as an entity


def test_html_is_self_contained_and_escapes_the_data(result: tuple[Result, Mission]) -> None:
    res, _ = result
    page = html_render.to_html(res)
    # Opens with no network: no external script, style, image or font.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "@import" not in page and "url(" not in page
    # The data cannot close its <script>: the one "</script>" in it is escaped.
    data = page.split('id="korrel8-data">', 1)[1].split("</script>", 1)[0]
    assert NASTY not in data and json.loads(data)["kind"] == "goals"
    assert "cytoscape 3.34.4" in page
