"""Rule discovery: proposes rules for known patterns found in the ingested graph.

The patterns (korrel8's first README: "automate discovery & generation of rules for
known resource patterns"):

- ownerReferences: a class whose ``owners`` name a kind that no rule links it to;
- fields that name another object: ``ref_<field>`` ("Kind/name", from ``*Ref``
  objects of custom resources) and ``name_<field>`` (``*Name`` strings) whose values
  match the names of objects of one class;
- label selectors: a class with a ``selector`` whose key=values match the labels of
  objects of the kind it selects, which no rule selects from it;
- alert and metric label keys that name a kind (``persistentvolumeclaim=...``,
  ``virtualmachine=...``) among their raw labels.

The Kubernetes ingester records the ``ref_*`` and ``name_*`` fields of custom
resources from their specs, so the CRD schemas' shape reaches discovery through the
graph. Each proposal is a rule, off by default, with the number of edges it would
make now and a test example taken from a real matching pair.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from korrel8.graph import identifiers
from korrel8.graph.store import Store
from korrel8.model import Class, Domain
from korrel8.rules import Example, Rule
from korrel8.rules.compiler import compile_rule

HINTS_FILE = Path(__file__).with_name("discover.yaml")

KINDS = """
MATCH (n:Object:K8s) WHERE n.deleted_at IS NULL
RETURN DISTINCT n.kind AS kind
"""
FIELD_KEYS = """
MATCH (n:Object:K8s) WHERE n.deleted_at IS NULL
WITH n.class AS class,
     [k IN keys(n) WHERE k STARTS WITH 'ref_' OR k STARTS WITH 'name_'] AS ks
UNWIND ks AS key
RETURN class, key, count(*) AS starts
"""
# For a start class and field: the goal classes (of $kind, if given) whose objects the
# values name, with how many starts resolve.
REF_TARGETS = """
MATCH (s:Object {class: $class}) WHERE s.deleted_at IS NULL AND s[$key] IS NOT NULL
MATCH (g:Object:K8s) WHERE g.deleted_at IS NULL AND g.cluster = s.cluster
  AND ($kind IS NULL OR g.kind = $kind)
  AND (g.namespace IS NULL OR g.namespace = s.namespace)
  AND (CASE WHEN $key STARTS WITH 'ref_' THEN g.kind + '/' + g.name ELSE g.name END) = s[$key]
RETURN g.class AS goal, count(*) AS pairs, count(DISTINCT s) AS resolved,
       head(collect([s.namespace, s.name, s[$key], g.namespace, g.name, g.kind])) AS example
ORDER BY pairs DESC
"""
OWNER_PAIRS = """
MATCH (s:Object:K8s) WHERE s.deleted_at IS NULL AND s.owners IS NOT NULL
UNWIND s.owners AS owner
MATCH (g:Object:K8s) WHERE g.deleted_at IS NULL AND g.cluster = s.cluster
  AND g.namespace = s.namespace AND g.kind + '/' + g.name = owner
RETURN s.class AS start, g.class AS goal, g.kind AS kind, count(*) AS pairs,
       count(DISTINCT s) AS resolved,
       head(collect([s.namespace, s.name, owner, g.name, g.kind])) AS example
"""
OWNER_STARTS = """
MATCH (s:Object:K8s {class: $class}) WHERE s.deleted_at IS NULL
  AND any(o IN coalesce(s.owners, []) WHERE o STARTS WITH $kind + '/')
RETURN count(s) AS starts
"""
SELECTOR_CLASSES = """
MATCH (s:Object:K8s) WHERE s.deleted_at IS NULL AND size(coalesce(s.selector, [])) > 0
RETURN s.class AS class, count(*) AS starts
"""
SELECTOR_PAIRS = """
MATCH (s:Object:K8s {class: $class}) WHERE s.deleted_at IS NULL
  AND size(coalesce(s.selector, [])) > 0
MATCH (g:Object:K8s {kind: $kind}) WHERE g.deleted_at IS NULL AND g.cluster = s.cluster
  AND g.namespace = s.namespace AND g <> s
  AND all(l IN s.selector WHERE l IN coalesce(g.labels, []))
RETURN g.class AS goal, count(*) AS pairs, count(DISTINCT s) AS resolved,
       head(collect([s.namespace, s.name, s.selector, g.name, g.labels])) AS example
"""
SIGNAL_KEYS = """
MATCH (s:Object) WHERE (s:Alert OR s:Metric) AND s.deleted_at IS NULL AND s.raw_labels IS NOT NULL
UNWIND s.raw_labels AS label
WITH s, label, split(label, '=')[0] AS key,
     substring(label, size(split(label, '=')[0]) + 1) AS value
MATCH (g:Object:K8s) WHERE g.deleted_at IS NULL AND g.cluster = s.cluster
  AND toLower(g.kind) = key AND g.name = value
  AND (g.namespace IS NULL OR g.namespace = s.`k8s.namespace.name`)
RETURN s.domain + ':' + s.class AS start, g.class AS goal, key, count(*) AS pairs,
       count(DISTINCT s) AS resolved,
       head(collect([s.`k8s.namespace.name`, s.name, label, g.namespace, g.name])) AS example
"""
SIGNAL_STARTS = """
MATCH (s:Object {domain: $domain, class: $class}) WHERE s.deleted_at IS NULL
  AND any(l IN coalesce(s.raw_labels, []) WHERE l STARTS WITH $key + '=')
RETURN count(s) AS starts
"""


@dataclass(frozen=True)
class Evidence:
    """Why a rule is proposed: of the ``starts`` that have the field (or selector, owner,
    label), ``resolved`` found an object of the goal class."""

    starts: int
    resolved: int

    @property
    def share(self) -> float:
        return self.resolved / self.starts if self.starts else 0.0


@dataclass(frozen=True)
class Proposal:
    rule: Rule
    pattern: str
    edges: int  # edges the rule would make now
    evidence: Evidence = field(default_factory=lambda: Evidence(0, 0))


@dataclass(frozen=True)
class Hints:
    """discover.yaml, and what the CRDs' schemas say of their spec fields."""

    selects: Mapping[str, str]  # class -> the kind its spec.selector selects
    fields: Mapping[str, str]  # field name -> the kind it names
    aliases: Mapping[str, str]  # a kind a description names -> the kind korrel8 stores
    # class -> spec field -> its description, from the CRDs (crd_descriptions)
    descriptions: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


@cache
def _hint_file() -> dict[str, dict[str, str]]:
    data = yaml.safe_load(HINTS_FILE.read_text(encoding="utf-8"))
    return {k: dict(data.get(k) or {}) for k in ("selects", "fields", "aliases")}


def hints(crds: Iterable[Mapping[str, Any]] = ()) -> Hints:
    data = _hint_file()
    return Hints(data["selects"], data["fields"], data["aliases"], crd_descriptions(crds))


def crd_descriptions(crds: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, str]]:
    """For each CRD's kind (as its class, ``Kind.group``), the descriptions of its
    top-level spec fields in the schemas of its versions."""
    out: dict[str, dict[str, str]] = {}
    for crd in crds:
        spec = crd.get("spec") if isinstance(crd, Mapping) else None
        if not isinstance(spec, Mapping):
            continue
        kind, group = _dig(spec, "names", "kind"), spec.get("group")
        if not isinstance(kind, str) or not isinstance(group, str):
            continue
        fields = out.setdefault(f"{kind}.{group}", {})
        for version in spec.get("versions") or []:
            props = _dig(version, "schema", "openAPIV3Schema", "properties", "spec", "properties")
            if isinstance(props, Mapping):
                for name, prop in props.items():
                    text = _dig(prop, "description")
                    if isinstance(text, str):
                        fields.setdefault(str(name), text)
    return out


def _dig(obj: Any, *path: str) -> Any:
    for key in path:
        obj = obj.get(key) if isinstance(obj, Mapping) else None
    return obj


def _named_kind(text: str, kinds: set[str], aliases: Mapping[str, str]) -> str | None:
    """The one kind a description names (``Pod`` or `` `Pod` ``), else None."""
    found = {
        aliases.get(word, word)
        for word in re.findall(r"\b[A-Z][A-Za-z]+\b", text)
        if word in kinds or word in aliases
    }
    found &= kinds
    return found.pop() if len(found) == 1 else None


def field_kind(cls: str, key: str, kinds: set[str], h: Hints) -> str | None:
    """The kind a ``name_<field>`` names: by the field's name, else by the CRD's
    description of the field; None when neither says (then nothing is proposed)."""
    name = key.split("_", 1)[1]
    if name in h.fields:
        return h.fields[name]
    base = _base(name)
    by_name = {k.lower(): k for k in kinds}.get(base.lower())
    if by_name:
        return by_name
    text = h.descriptions.get(cls, {}).get(name)
    return _named_kind(text, kinds, h.aliases) if text else None


def selected_kind(cls: str, kinds: set[str], h: Hints) -> str | None:
    """The kind a class's spec.selector selects: discover.yaml, else the CRD's
    description of spec.selector."""
    if cls in h.selects:
        return h.selects[cls]
    text = h.descriptions.get(cls, {}).get("selector")
    return _named_kind(text, kinds, h.aliases) if text else None


def _covered(rules: Iterable[Rule], start: str, goal: str, verb: str | None = None) -> bool:
    """True if an enabled rule already links start class to goal class (with verb)."""

    def has(spec: object, cls: Class) -> bool:
        if isinstance(spec, Domain):
            return spec.name == cls.domain
        return isinstance(spec, list) and cls in spec

    s, g = Class.parse(start), Class.parse(goal)
    return any(
        r.enabled and has(r.start_classes, s) and has(r.goal_classes, g)
        and (verb is None or r.verb == verb)
        for r in rules
    )  # fmt: skip


def _uses_field(rules: Iterable[Rule], key: str) -> bool:
    """True if an enabled rule already joins on the field ``key``."""
    return any(
        r.enabled and (key in r.join or key in r.join.values() or key in (r.where or ""))
        for r in rules
    )


def _slug(*parts: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", "-".join(parts).lower()).strip("-")


Found = tuple[Rule, str, Evidence]


def _field_proposals(store: Store, kinds: set[str], h: Hints) -> list[Found]:
    out = []
    for row in store.run(FIELD_KEYS):
        start_cls, key = Class(domain="k8s", name=row["class"]), row["key"]
        identifiers.property_key(key)
        is_ref = key.startswith("ref_")
        # A *Ref names its kind in its value; a *Name names it by the field.
        kind = None if is_ref else field_kind(row["class"], key, kinds, h)
        if kind is None and not is_ref:
            continue
        params = {"class": row["class"], "key": key, "kind": kind}
        for target in store.run(REF_TARGETS, **params):
            goal_cls = Class(domain="k8s", name=target["goal"])
            s_ns, s_name, value, g_ns, g_name, g_kind = target["example"]
            compare = "goal.kind + '/' + goal.name" if is_ref else "goal.name"
            name = key.split("_", 1)[1]
            rule = Rule(
                name=_slug(start_cls.kind, _base(name), goal_cls.kind),
                description=f"{start_cls.kind}.spec.{name} names a {goal_cls.kind}.",
                start=str(start_cls),
                goal=str(goal_cls),
                verb=identifiers.rel_type(_verb(name)),
                same=["cluster"],
                where=f"{compare} = start.`{key}` "
                "AND (goal.namespace IS NULL OR goal.namespace = start.namespace)",
                enabled=False,
                test=Example(
                    start={"namespace": s_ns, "name": s_name, key: value},
                    goal={"namespace": g_ns, "name": g_name, "kind": g_kind},
                ),
            )
            out.append((rule, f"field {key}", Evidence(row["starts"], target["resolved"])))
    return out


def _base(field: str) -> str:
    """targetRef -> target; claimName -> claim."""
    return re.sub(r"(Ref|Name|_ref|_name)$", "", field) or field


def _verb(field: str) -> str:
    """targetRef -> REFERS_TO_TARGET; claimName -> REFERS_TO_CLAIM."""
    base = _base(field)
    words = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", base).upper() or "OBJECT"
    return f"REFERS_TO_{re.sub(r'[^A-Z0-9_]', '_', words)}"


def _owner_proposals(store: Store, rules: list[Rule]) -> list[Found]:
    out = []
    for row in store.run(OWNER_PAIRS):
        if _covered(rules, f"k8s:{row['start']}", f"k8s:{row['goal']}", "OWNED_BY"):
            continue
        s, g = Class(domain="k8s", name=row["start"]), Class(domain="k8s", name=row["goal"])
        s_ns, s_name, owner, g_name, g_kind = row["example"]
        starts = store.run(OWNER_STARTS, **{"class": row["start"], "kind": row["kind"]})
        out.append((
            Rule(
                name=_slug(s.kind, "owned-by", g.kind), start=str(s), goal=str(g),
                verb="OWNED_BY", same=["cluster", "namespace"],
                where="goal.kind + '/' + goal.name IN coalesce(start.owners, [])", enabled=False,
                test=Example(start={"namespace": s_ns, "name": s_name, "owners": [owner]},
                             goal={"namespace": s_ns, "name": g_name, "kind": g_kind}),
            ),
            "ownerReferences",
            Evidence(int(starts[0]["starts"]) if starts else 0, row["resolved"]),
        ))  # fmt: skip
    return out


def _selector_proposals(store: Store, rules: list[Rule], kinds: set[str], h: Hints) -> list[Found]:
    out = []
    for row in store.run(SELECTOR_CLASSES):
        kind = selected_kind(row["class"], kinds, h)
        if kind is None:
            continue  # what it selects is unknown: labels shared by chance prove nothing
        for pair in store.run(SELECTOR_PAIRS, **{"class": row["class"], "kind": kind}):
            s = Class(domain="k8s", name=row["class"])
            g = Class(domain="k8s", name=pair["goal"])
            if _covered(rules, str(s), str(g), "SELECTS"):
                continue
            s_ns, s_name, selector, g_name, labels = pair["example"]
            out.append((
                Rule(
                    name=_slug(s.kind, "selects", g.kind), start=str(s), goal=str(g),
                    verb="SELECTS", same=["cluster", "namespace"],
                    where="size(coalesce(start.selector, [])) > 0 AND all(l IN start.selector "
                    "WHERE l IN coalesce(goal.labels, []))",
                    enabled=False,
                    test=Example(start={"namespace": s_ns, "name": s_name, "selector": selector},
                                 goal={"namespace": s_ns, "name": g_name, "labels": labels}),
                ),
                "label selector",
                Evidence(row["starts"], pair["resolved"]),
            ))  # fmt: skip
    return out


def _signal_proposals(store: Store, rules: list[Rule]) -> list[Found]:
    out = []
    for row in store.run(SIGNAL_KEYS):
        if _covered(rules, row["start"], f"k8s:{row['goal']}", "ABOUT"):
            continue
        s, g = Class.parse(row["start"]), Class(domain="k8s", name=row["goal"])
        key = row["key"]
        s_ns, s_name, label, g_ns, g_name = row["example"]
        starts = store.run(SIGNAL_STARTS, domain=s.domain, key=key, **{"class": s.name})
        out.append((
            Rule(
                name=_slug(s.name, key, g.kind), start=str(s), goal=str(g), verb="ABOUT",
                same=["cluster"],
                where=f"'{key}=' + goal.name IN coalesce(start.raw_labels, []) AND "
                "(goal.namespace IS NULL OR goal.namespace = start.`k8s.namespace.name`)",
                enabled=False,
                test=Example(
                    start={"name": s_name, "k8s.namespace.name": s_ns, "raw_labels": [label]},
                    goal={"namespace": g_ns, "name": g_name},
                ),
            ),
            f"label key {key}",
            Evidence(int(starts[0]["starts"]) if starts else 0, row["resolved"]),
        ))  # fmt: skip
    return out


def discover(
    store: Store, rules: list[Rule], crds: Iterable[Mapping[str, Any]] = ()
) -> list[Proposal]:
    """Proposals for patterns in the graph that the enabled ``rules`` do not cover, best
    evidence first. ``crds``: CustomResourceDefinitions whose schemas' descriptions say
    what their fields name and select."""
    h = hints(crds)
    kinds = {str(r["kind"]) for r in store.run(KINDS) if r["kind"]}
    found = (
        _field_proposals(store, kinds, h)
        + _owner_proposals(store, rules)
        + _selector_proposals(store, rules, kinds, h)
        + _signal_proposals(store, rules)
    )
    seen: set[str] = {r.name for r in rules}
    proposals = []
    for rule, pattern, evidence in found:
        if rule.name in seen or (pattern.startswith("field") and _uses_field(rules, pattern[6:])):
            continue
        seen.add(rule.name)
        compiled = compile_rule(rule)
        count = store.run(compiled.count, **compiled.params)  # type: ignore[arg-type,unused-ignore]
        edges = int(count[0]["edges"]) if count else 0
        proposals.append(Proposal(rule, pattern, edges, evidence))
    return sorted(
        proposals,
        key=lambda p: (-p.evidence.share, -p.evidence.resolved, -p.edges, p.rule.name),
    )


def to_yaml(proposals: list[Proposal]) -> str:
    """The proposals in the rule file format, each with its pattern and edge count."""
    items: list[dict[str, Any]] = []
    for p in proposals:
        data = p.rule.model_dump(exclude_defaults=True, exclude={"origin"})
        data["enabled"] = False
        e = p.evidence
        data["description"] = (
            f"{p.rule.description} Discovered from {p.pattern}; {p.edges} edges now; "
            f"{e.resolved} of {e.starts} starts resolve ({e.share:.0%})."
        ).strip()
        items.append(data)
    header = (
        "# Rules proposed by `korrel8 rules discover`. They run only once enabled:\n"
        "# set `enabled: true` here, or name them in the settings' rules.enable.\n"
    )
    return header + yaml.safe_dump(
        {"rules": items}, sort_keys=False, allow_unicode=True, width=1000
    )


def write(proposals: list[Proposal], directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "discovered.yaml"
    path.write_text(to_yaml(proposals))
    return path


__all__ = [
    "Evidence",
    "Hints",
    "Proposal",
    "crd_descriptions",
    "discover",
    "hints",
    "to_yaml",
    "write",
]
