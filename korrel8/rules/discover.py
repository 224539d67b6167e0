"""Rule discovery: proposes rules for known patterns found in the ingested graph.

The patterns (korrel8's first README: "automate discovery & generation of rules for
known resource patterns"):

- ownerReferences: a class whose ``owners`` name a kind that no rule links it to;
- fields that name another object: ``ref_<field>`` ("Kind/name", from ``*Ref``
  objects of custom resources) and ``name_<field>`` (``*Name`` strings) whose values
  match the names of objects of one class;
- label selectors: a class with a ``selector`` whose key=values match the labels of
  objects of a class that no rule selects from it;
- alert and metric label keys that name a kind (``persistentvolumeclaim=...``,
  ``virtualmachine=...``) among their raw labels.

The Kubernetes ingester records the ``ref_*`` and ``name_*`` fields of custom
resources from their specs, so the CRD schemas' shape reaches discovery through the
graph. Each proposal is a rule, off by default, with the number of edges it would
make now and a test example taken from a real matching pair.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from korrel8.graph import identifiers
from korrel8.graph.store import Store
from korrel8.model import Class, Domain
from korrel8.rules import Example, Rule
from korrel8.rules.compiler import compile_rule

FIELD_KEYS = """
MATCH (n:Object:K8s) WHERE n.deleted_at IS NULL
WITH DISTINCT n.class AS class,
     [k IN keys(n) WHERE k STARTS WITH 'ref_' OR k STARTS WITH 'name_'] AS ks
UNWIND ks AS key
RETURN DISTINCT class, key
"""
# For a start class and field: the goal classes whose objects the values name.
REF_TARGETS = """
MATCH (s:Object {class: $class}) WHERE s.deleted_at IS NULL AND s[$key] IS NOT NULL
MATCH (g:Object:K8s) WHERE g.deleted_at IS NULL AND g.cluster = s.cluster
  AND (g.namespace IS NULL OR g.namespace = s.namespace)
  AND (CASE WHEN $key STARTS WITH 'ref_' THEN g.kind + '/' + g.name ELSE g.name END) = s[$key]
RETURN g.class AS goal, count(*) AS pairs,
       head(collect([s.namespace, s.name, s[$key], g.namespace, g.name, g.kind])) AS example
ORDER BY pairs DESC
"""
OWNER_PAIRS = """
MATCH (s:Object:K8s) WHERE s.deleted_at IS NULL AND s.owners IS NOT NULL
UNWIND s.owners AS owner
MATCH (g:Object:K8s) WHERE g.deleted_at IS NULL AND g.cluster = s.cluster
  AND g.namespace = s.namespace AND g.kind + '/' + g.name = owner
RETURN s.class AS start, g.class AS goal, count(*) AS pairs,
       head(collect([s.namespace, s.name, owner, g.name, g.kind])) AS example
"""
SELECTOR_PAIRS = """
MATCH (s:Object:K8s) WHERE s.deleted_at IS NULL AND size(coalesce(s.selector, [])) > 0
MATCH (g:Object:K8s) WHERE g.deleted_at IS NULL AND g.cluster = s.cluster
  AND g.namespace = s.namespace AND g <> s
  AND all(l IN s.selector WHERE l IN coalesce(g.labels, []))
RETURN s.class AS start, g.class AS goal, count(*) AS pairs,
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
       head(collect([s.`k8s.namespace.name`, s.name, label, g.namespace, g.name])) AS example
"""


@dataclass(frozen=True)
class Proposal:
    rule: Rule
    pattern: str
    edges: int  # edges the rule would make now


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


def _field_proposals(store: Store) -> list[tuple[Rule, str]]:
    out = []
    for row in store.run(FIELD_KEYS):
        start_cls, key = Class(domain="k8s", name=row["class"]), row["key"]
        identifiers.property_key(key)
        for target in store.run(REF_TARGETS, **{"class": row["class"], "key": key}):
            goal_cls = Class(domain="k8s", name=target["goal"])
            s_ns, s_name, value, g_ns, g_name, g_kind = target["example"]
            is_ref = key.startswith("ref_")
            compare = "goal.kind + '/' + goal.name" if is_ref else "goal.name"
            field = key.split("_", 1)[1]
            rule = Rule(
                name=_slug(start_cls.kind, _base(field), goal_cls.kind),
                description=f"{start_cls.kind}.spec.{field} names a {goal_cls.kind}.",
                start=str(start_cls),
                goal=str(goal_cls),
                verb=identifiers.rel_type(_verb(field)),
                same=["cluster"],
                where=f"{compare} = start.`{key}` "
                "AND (goal.namespace IS NULL OR goal.namespace = start.namespace)",
                enabled=False,
                test=Example(
                    start={"namespace": s_ns, "name": s_name, key: value},
                    goal={"namespace": g_ns, "name": g_name, "kind": g_kind},
                ),
            )
            out.append((rule, f"field {key}"))
    return out


def _base(field: str) -> str:
    """targetRef -> target; claimName -> claim."""
    return re.sub(r"(Ref|Name|_ref|_name)$", "", field) or field


def _verb(field: str) -> str:
    """targetRef -> REFERS_TO_TARGET; claimName -> REFERS_TO_CLAIM."""
    base = _base(field)
    words = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", base).upper() or "OBJECT"
    return f"REFERS_TO_{re.sub(r'[^A-Z0-9_]', '_', words)}"


def _pair_proposals(store: Store, rules: list[Rule]) -> list[tuple[Rule, str]]:
    out = []
    for row in store.run(OWNER_PAIRS):
        if _covered(rules, f"k8s:{row['start']}", f"k8s:{row['goal']}", "OWNED_BY"):
            continue
        s, g = Class(domain="k8s", name=row["start"]), Class(domain="k8s", name=row["goal"])
        s_ns, s_name, owner, g_name, g_kind = row["example"]
        out.append((
            Rule(
                name=_slug(s.kind, "owned-by", g.kind), start=str(s), goal=str(g),
                verb="OWNED_BY", same=["cluster", "namespace"],
                where="goal.kind + '/' + goal.name IN coalesce(start.owners, [])", enabled=False,
                test=Example(start={"namespace": s_ns, "name": s_name, "owners": [owner]},
                             goal={"namespace": s_ns, "name": g_name, "kind": g_kind}),
            ),
            "ownerReferences",
        ))  # fmt: skip
    for row in store.run(SELECTOR_PAIRS):
        if _covered(rules, f"k8s:{row['start']}", f"k8s:{row['goal']}", "SELECTS"):
            continue
        s, g = Class(domain="k8s", name=row["start"]), Class(domain="k8s", name=row["goal"])
        s_ns, s_name, selector, g_name, labels = row["example"]
        out.append((
            Rule(
                name=_slug(s.kind, "selects", g.kind), start=str(s), goal=str(g), verb="SELECTS",
                same=["cluster", "namespace"],
                where="size(coalesce(start.selector, [])) > 0 AND all(l IN start.selector "
                "WHERE l IN coalesce(goal.labels, []))",
                enabled=False,
                test=Example(start={"namespace": s_ns, "name": s_name, "selector": selector},
                             goal={"namespace": s_ns, "name": g_name, "labels": labels}),
            ),
            "label selector",
        ))  # fmt: skip
    for row in store.run(SIGNAL_KEYS):
        if _covered(rules, row["start"], f"k8s:{row['goal']}", "ABOUT"):
            continue
        s, g = Class.parse(row["start"]), Class(domain="k8s", name=row["goal"])
        key = row["key"]
        s_ns, s_name, label, g_ns, g_name = row["example"]
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
        ))  # fmt: skip
    return out


def discover(store: Store, rules: list[Rule]) -> list[Proposal]:
    """Proposals for patterns in the graph that the enabled ``rules`` do not cover."""
    found = _field_proposals(store) + _pair_proposals(store, rules)
    seen: set[str] = {r.name for r in rules}
    proposals = []
    for rule, pattern in found:
        if rule.name in seen or (pattern.startswith("field") and _uses_field(rules, pattern[6:])):
            continue
        seen.add(rule.name)
        compiled = compile_rule(rule)
        count = store.run(compiled.count, **compiled.params)  # type: ignore[arg-type,unused-ignore]
        proposals.append(Proposal(rule, pattern, int(count[0]["edges"]) if count else 0))
    return proposals


def to_yaml(proposals: list[Proposal]) -> str:
    """The proposals in the rule file format, each with its pattern and edge count."""
    items: list[dict[str, Any]] = []
    for p in proposals:
        data = p.rule.model_dump(exclude_defaults=True, exclude={"origin"})
        data["enabled"] = False
        data["description"] = (
            f"{p.rule.description} Discovered from {p.pattern}; {p.edges} edges now.".strip()
        )
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


__all__ = ["Proposal", "discover", "to_yaml", "write"]
