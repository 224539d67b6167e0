"""Rules: the format, and loading them from YAML files with errors that name file and line.

A rule file (``cypher/rules/*.yaml``, or a user's directory) holds ``rules:``, a list of::

    - name: pod-pvc                    # unique; ^[a-z0-9][a-z0-9-]*$
      description: A pod mounts the claims its volumes name.
      start: k8s:Pod                   # a class, a list of classes of one domain, or a domain
      goal: k8s:PersistentVolumeClaim
      verb: MOUNTS                     # the relationship type, ^[A-Z][A-Z0-9_]*$
      same: [cluster, namespace]       # start.P = goal.P for each P
      join: {k8s.node.name: name}      # start.K = goal.V (equality of scalars)
      where: goal.name IN start.claim_names   # any Cypher boolean over start and goal
      reverse: MOUNTED_BY              # also make the rule goal -> start (name: pod-pvc-reverse)
      reverse_enabled: true            # default: as enabled; false where goals are hubs
      anchor: start                    # the side a full run walks (default start)
      hub: goal                        # the side many share: edges go "up" to it (optional)
      enabled: true                    # false: off until enabled in the settings
      test:                            # the example every rule must have (tests/test_rules.py)
        start: {namespace: shop, name: web-1, claim_names: [data]}
        goal: {namespace: shop, name: data}
        not_goal: {namespace: other, name: data}

``same``, ``join`` and ``where`` are combined with AND; a rule needs at least one of
them. The compiler (korrel8/rules/compiler.py) wraps the condition into the statements that
MERGE, refresh and close the edges; a rule author writes only the condition.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from korrel8.errors import Korrel8Error
from korrel8.graph import identifiers, statements
from korrel8.model import Class, Domain, get_domain, parse_goal

RULES_DIR = statements.CYPHER_DIR / "rules"  # beside the sources, or where a wheel puts it
NAME = r"^[a-z0-9][a-z0-9-]*$"
# A condition is an expression, not a statement: no clause that writes or calls out.
FORBIDDEN = re.compile(
    r"\b(CREATE|MERGE|DELETE|DETACH|SET|REMOVE|CALL|LOAD|FOREACH|DROP|USE)\b|;|//|/\*", re.I
)


class RuleError(Korrel8Error):
    """A rule file or rule is invalid; the message names the file, rule and line."""


class Example(BaseModel):
    """Nodes that the rule must link (start → goal) and must not (start → not_goal)."""

    model_config = ConfigDict(extra="forbid")

    start: dict[str, Any]
    goal: dict[str, Any]
    not_goal: dict[str, Any] | None = None
    start_class: str | None = None  # default: the rule's first start class
    goal_class: str | None = None
    # Other nodes the condition reads (a Service's pods for its logs), each with its
    # `class`; the rule must link nothing to or from them.
    context: list[dict[str, Any]] = Field(default_factory=list)


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME)
    description: str = ""
    start: str | list[str]
    goal: str | list[str]
    verb: str
    same: list[str] = Field(default_factory=list)
    join: dict[str, str] = Field(default_factory=dict)
    where: str | None = None
    reverse: str | None = None
    enabled: bool = True
    # Whether the reverse rule is on (default: as this one). Off where many starts share
    # one goal (the "default" ServiceAccount, kube-root-ca.crt in every pod): its reverse
    # would fan out to a namespace's pods, the noise korrel8r dropped Node → pods for.
    reverse_enabled: bool | None = None
    # Which side a full run walks; the other is looked up per node, through its indexes.
    # A reverse rule walks the side its original walked, where the condition is cheap.
    anchor: Literal["start", "goal"] = "start"
    # The side that many objects of the other side share (an owner, a selecting Service, a
    # Node, a StorageClass, a mounted claim). Edges toward it go "up", its reverse's "down";
    # goal search never goes up to a hub and back down to the hub's other members
    # (korrel8/expand.py), so one pod's alert does not reach its siblings.
    hub: Literal["start", "goal"] | None = None
    test: Example | None = None
    # Where the rule was read from, for messages: "file:line".
    origin: str = ""
    # Set by reversed(), not in rule files: the rule this one reverses and its verb. Right
    # after that rule's full run, this one's edges are its fresh edges, mirrored.
    mirrors: tuple[str, str] | None = None

    @field_validator("verb", "reverse")
    @classmethod
    def _verb(cls, value: str | None) -> str | None:
        return None if value is None else identifiers.rel_type(value)

    @field_validator("same")
    @classmethod
    def _same(cls, keys: list[str]) -> list[str]:
        return [identifiers.property_key(k) for k in keys]

    @field_validator("join")
    @classmethod
    def _join(cls, pairs: dict[str, str]) -> dict[str, str]:
        return {identifiers.property_key(k): identifiers.property_key(v) for k, v in pairs.items()}

    @field_validator("where")
    @classmethod
    def _where(cls, text: str | None) -> str | None:
        if text is None:
            return None
        found = FORBIDDEN.search(text)
        if found:
            raise ValueError(f"`where` is a boolean expression; {found.group(0)!r} is not allowed")
        return text.strip()

    @property
    def start_classes(self) -> list[Class] | Domain:
        return _classes(self.start)

    @property
    def goal_classes(self) -> list[Class] | Domain:
        return _classes(self.goal)

    def reversed(self) -> Rule | None:
        """The rule goal → start that ``reverse`` asks for, with the example mirrored."""
        if self.reverse is None:
            return None
        test = None
        if self.test is not None:
            start_class = self.test.goal_class or _first(self.goal)
            goal_class = self.test.start_class or _first(self.start)
            test = Example(
                start=self.test.goal,
                goal=self.test.start,
                start_class=start_class,
                goal_class=goal_class,
                context=self.test.context,
            )
        where = self.where
        if where:  # swap the names: start <-> goal
            where = re.sub(r"\b(start|goal)\b", lambda m: _SWAP[m.group(1)], where)
        return Rule(
            name=f"{self.name}-reverse",
            description=f"Reverse of {self.name}. {self.description}".strip(),
            start=self.goal,
            goal=self.start,
            verb=self.reverse,
            same=self.same,
            join={v: k for k, v in self.join.items()},
            where=where,
            enabled=self.enabled if self.reverse_enabled is None else self.reverse_enabled,
            anchor="goal" if self.anchor == "start" else "start",
            hub=None if self.hub is None else _SWAP[self.hub],
            test=test,
            origin=self.origin,
            mirrors=(self.name, self.verb),
        )


_SWAP = {"start": "goal", "goal": "start"}


def _first(spec: str | list[str]) -> str:
    return spec[0] if isinstance(spec, list) else spec


def _classes(spec: str | list[str]) -> list[Class] | Domain:
    if isinstance(spec, str):
        goal = parse_goal(spec)
        return goal if isinstance(goal, Domain) else [goal]
    return [Class.parse(s) for s in spec]


def domain_of(spec: list[Class] | Domain) -> Domain:
    return spec if isinstance(spec, Domain) else get_domain(spec[0].domain)


def _check(rule: Rule) -> None:
    for side, spec in (("start", rule.start_classes), ("goal", rule.goal_classes)):
        if isinstance(spec, list):
            if not spec:
                raise ValueError(f"{side}: no class")
            domains = {c.domain for c in spec}
            if len(domains) > 1:
                raise ValueError(f"{side}: classes of one domain only, got {sorted(domains)}")
    if not (rule.same or rule.join or rule.where):
        raise ValueError("a rule needs a condition: same, join or where")
    if rule.reverse_enabled is not None and rule.reverse is None:
        raise ValueError("reverse_enabled without reverse: name the reverse verb")


def _line_of(node: yaml.Node, index: int) -> int:
    """The 1-based line of the index-th item of the `rules:` sequence."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            is_rules = key.value == "rules" and isinstance(value, yaml.SequenceNode)
            if is_rules and index < len(value.value):
                return int(value.value[index].start_mark.line) + 1
    return 1


def load_file(path: Path) -> list[Rule]:
    """The rules of one file (reverse rules included), or RuleError naming file and line."""
    try:
        text = path.read_text()
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except OSError as exc:
        raise RuleError(f"{path}: cannot read: {exc}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise RuleError(f"{path}{line}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        raise RuleError(f"{path}:1: expected a mapping with a `rules:` list")
    rules: list[Rule] = []
    for i, item in enumerate(data["rules"]):
        origin = f"{path}:{_line_of(node, i) if node is not None else 1}"
        name = item.get("name", f"#{i + 1}") if isinstance(item, dict) else f"#{i + 1}"
        try:
            if not isinstance(item, dict):
                raise ValueError("a rule is a mapping")
            if "mirrors" in item or "origin" in item:
                raise ValueError("mirrors and origin are set by korrel8, not in a rule file")
            rule = Rule(**item, origin=origin)
            _check(rule)
        except (ValidationError, ValueError, Korrel8Error) as exc:
            raise RuleError(f"{origin}: rule {name}: {_message(exc)}") from exc
        rules.append(rule)
        reverse = rule.reversed()
        if reverse is not None:
            rules.append(reverse)
    return rules


def _message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'rule'}: {e['msg']}" for e in exc.errors()
        )
    return str(exc)


def load(
    dirs: Sequence[Path] = (),
    enable: Iterable[str] = (),
    disable: Iterable[str] = (),
    *,
    include_default: bool = True,
) -> list[Rule]:
    """Every rule of the default directory and ``dirs``, with enable/disable applied.

    A rule named in ``enable`` is switched on, one in ``disable`` off; an unknown name
    in either is an error, so a typo does not silently do nothing.
    """
    paths: list[Path] = []
    for d in ([RULES_DIR] if include_default else []) + list(dirs):
        if not d.is_dir():
            raise RuleError(f"{d}: rule directory not found")
        paths.extend(sorted(d.glob("*.yaml")))
    rules: dict[str, Rule] = {}
    for path in paths:
        for rule in load_file(path):
            if rule.name in rules:
                raise RuleError(
                    f"{rule.origin}: rule {rule.name}: name already used at "
                    f"{rules[rule.name].origin}"
                )
            rules[rule.name] = rule
    for names, on in ((enable, True), (disable, False)):
        for name in names:
            if name not in rules:
                raise RuleError(f"unknown rule {name!r} in the settings' rules.enable/disable")
            rules[name] = rules[name].model_copy(update={"enabled": on})
    return list(rules.values())
