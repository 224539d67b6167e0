"""Compiles a rule's condition into the Cypher statements that maintain its edges.

For a rule ``start -[VERB]-> goal`` with condition C the compiler writes:

- ``full``: for every live start, MERGE the edge to every live goal where C holds,
  and refresh ``last_seen``; then ``close_full`` sets ``valid_to`` on the rule's open
  edges that this run did not refresh.
- ``incremental_starts`` / ``incremental_goals``: the same, anchored on the nodes whose
  ``changed_at`` is at or after ``$since`` on either side (a new goal must link to old
  starts), found through the changed_at index; then ``close_incremental`` (one text
  for every rule) closes the edges of those nodes that the run did not refresh, and
  records the run. Its
  cost grows with the change, not with the graph, as long as the other side is found
  through an index: the scalar join keys of the default rules are indexed
  (cypher/schema.cypher), and a list join (owners, selectors, claim names) looks
  within the node's namespace, through the (namespace, class) or namespace index. A
  side whose identity is all the condition reads of it skips even that for an old node
  (see ``identity_only``).

Scoped (``compile_rule(rule, scoped=True)``, what ``korrel8 serve`` runs), every
statement also takes ``$clusters``: it makes, refreshes and closes only the edges whose
start node is in one of them. An edge belongs to its start's cluster; the default rules
all join within one cluster (``same: [cluster]``), so both ends are. Several korrel8
instances, one per cluster, then never touch each other's edges in one Neo4j.

Labels, types and keys in the text come from validated rules (korrel8/graph/identifiers.py);
values (rule name, classes, times) are parameters.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from korrel8.graph import identifiers, statements
from korrel8.model import Domain
from korrel8.rules import Rule, domain_of

MERGE_EDGE = """\
  MERGE (start)-[r:{verb} {{rule: $rule}}]->(goal)
  ON CREATE SET r.first_seen = $now
  SET r.last_seen = $now, r.valid_to = null, r.shape = $shape
  RETURN count(r) AS n
}} IN TRANSACTIONS OF $batch ROWS
RETURN sum(n) AS edges"""

# One text for every rule, planned once; it also records the run (see the file).
CLOSE_INCREMENTAL = statements.load("store/rule_state_close")


@dataclass(frozen=True)
class Compiled:
    rule: Rule
    full: str
    close_full: str
    incremental_starts: str
    incremental_goals: str
    close_incremental: str
    count: str  # how many edges the rule would make now, without writing
    params: dict[str, Any]
    scoped: bool = False  # the statements take $clusters
    # A reverse rule's full run right after its original's: the original's fresh edges
    # turned around, instead of evaluating the condition again (None: not possible).
    mirror: str | None = None

    def statements(self) -> dict[str, str]:
        texts = {
            "full": self.full,
            "close_full": self.close_full,
            "incremental_starts": self.incremental_starts,
            "incremental_goals": self.incremental_goals,
            "close_incremental": self.close_incremental,
            "count": self.count,
        }
        if self.mirror is not None:
            texts["mirror"] = self.mirror
        return texts


def _key(name: str) -> str:
    return f"`{identifiers.property_key(name)}`"


def condition(rule: Rule) -> str:
    """The rule's whole condition over ``start`` and ``goal``."""
    return _joined(rule, conjuncts(rule.where or ""))


def _joined(rule: Rule, where: list[str]) -> str:
    parts = [f"start.{_key(k)} = goal.{_key(k)}" for k in rule.same]
    parts += [f"start.{_key(k)} = goal.{_key(v)}" for k, v in rule.join.items()]
    parts += [f"({w})" for w in where]
    return " AND ".join(parts)


_OPEN, _CLOSE = "([{", ")]}"
_WORD = re.compile(r"[A-Za-z_][A-Za-z_0-9]*")


def conjuncts(where: str) -> list[str]:
    """``where`` split at its top-level ANDs: not inside brackets, strings, backticks or
    CASE ... END. With a top-level OR or XOR (weaker than AND) it stays whole."""
    cuts: list[tuple[int, int]] = []
    depth, quote, i = 0, "", 0
    while i < len(where):
        ch = where[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "'\"`":
            quote = ch
        elif ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth -= 1
        elif ch.isalpha() or ch == "_":
            word = _WORD.match(where, i)
            assert word is not None
            upper = word.group(0).upper()
            if upper == "CASE":
                depth += 1
            elif upper == "END":
                depth -= 1
            elif depth == 0 and upper in ("OR", "XOR"):
                return [where.strip()]
            elif depth == 0 and upper == "AND":
                cuts.append((i, word.end()))
            i = word.end()
            continue
        i += 1
    parts, begin = [], 0
    for cut_start, cut_end in cuts:
        parts.append(where[begin:cut_start])
        begin = cut_end
    parts.append(where[begin:])
    return [p.strip() for p in parts if p.strip()]


def sides(rule: Rule) -> tuple[list[str], list[str], list[str]]:
    """The top-level conjuncts of ``where`` that read only the start, only the goal, and
    the rest. A conjunct of one side is tested where that side's node is matched, before
    the other side is looked up: the planner does not move it out of the lookup itself."""
    start: list[str] = []
    goal: list[str] = []
    both: list[str] = []
    for part in conjuncts(rule.where or ""):
        read = {m.group(1) for m in _READ.finditer(part)}
        {frozenset({"start"}): start, frozenset({"goal"}): goal}.get(frozenset(read), both).append(
            part
        )
    return start, goal, both


def _node_filter(
    var: str, spec: object, param: str, scoped: bool = False, own: Sequence[str] = ()
) -> str:
    live = f"{var}.deleted_at IS NULL"
    if scoped:  # only the start side: an edge belongs to its start's cluster
        live += f" AND {var}.cluster IN $clusters"
    live += "".join(f" AND ({w})" for w in own)
    return live if isinstance(spec, Domain) else f"{var}.class IN ${param} AND {live}"


def _changed(var: str) -> str:
    # The hint: with $since unknown when planning, the planner may prefer a class index
    # (every pod) to the changed nodes; an incremental run starts from the change.
    return f"USING INDEX {var}:Object(changed_at)\nWHERE {var}.changed_at >= $since AND "


# What a node's ref fixes (and `kind`, which the k8s ingester sets from the class): a
# changed node keeps these, so a condition that reads only these of a side cannot turn
# true for an old node of that side because the node changed.
IDENTITY = frozenset({"ref", "domain", "class", "cluster", "namespace", "name", "kind"})
_READ = re.compile(r"\b(start|goal)\b(\s*\.\s*(`[^`]+`|\w+))?")


def identity_only(rule: Rule, side: str) -> bool:
    """Whether the rule's condition reads nothing of ``side``'s node but its identity.

    Conservative: ``goal[...]``, ``keys(goal)`` and the like count as reading anything.
    """
    keys = set(rule.same) | set(rule.join if side == "start" else rule.join.values())
    for found in _READ.finditer(rule.where or ""):
        if found.group(1) == side:
            if found.group(3) is None:
                return False
            keys.add(found.group(3).strip("`"))
    return keys <= IDENTITY


def edge_shape(rule: Rule) -> str | None:
    """``up`` for edges toward the rule's hub side, ``down`` for edges from it; goal search
    reads it from each edge (``r.shape``)."""
    return {"goal": "up", "start": "down", None: None}[rule.hub]


def compile_rule(rule: Rule, scoped: bool = False) -> Compiled:
    """The rule's statements; ``scoped``: limited to the starts of ``$clusters``."""
    starts, goals = rule.start_classes, rule.goal_classes
    s_label = identifiers.label(domain_of(starts).label)
    g_label = identifiers.label(domain_of(goals).label)
    verb = identifiers.rel_type(rule.verb)
    s_own, g_own, both = sides(rule)
    cond = _joined(rule, both) or "true"
    s_filter = _node_filter("start", starts, "start_classes", scoped, s_own)
    g_filter = _node_filter("goal", goals, "goal_classes", own=g_own)
    merge = MERGE_EDGE.format(verb=verb)

    def from_starts(anchor: str) -> str:
        return (
            f"MATCH (start:Object:{s_label})\n{anchor}{s_filter}\nCALL (start) {{\n"
            f"  MATCH (goal:Object:{g_label})\n"
            f"  WHERE {g_filter} AND goal <> start\n    AND {cond}\n{merge}"
        )

    def from_goals(anchor: str) -> str:
        return (
            f"MATCH (goal:Object:{g_label})\n{anchor}{g_filter}\nCALL (goal) {{\n"
            f"  MATCH (start:Object:{s_label})\n"
            f"  WHERE {s_filter} AND start <> goal\n    AND {cond}\n{merge}"
        )

    def changed(var: str, other: str, other_match: str, edge: str) -> str:
        """Anchored on changed nodes of side ``var``.

        When the condition reads only the identity of ``var``, an old node's change
        cannot make the condition true with an unchanged node of the other side (a
        changed one is the other statement's), so it needs only its own edges
        re-checked; this spares the lookup that has no index (a list join). The
        lookup still runs for a node that is new, has no open edge of the rule, or has
        a closed one: a node revived after a deletion (which closed all its edges) may
        have missed starts or goals made while it was gone.
        """
        o_filter = s_filter if other == "start" else g_filter
        if not identity_only(rule, var):
            lookup = from_starts if var == "start" else from_goals
            return lookup(_changed(var))
        label = s_label if var == "start" else g_label
        v_filter = s_filter if var == "start" else g_filter
        own = f"({var})-[e:{verb} {{rule: $rule}}]-()"
        return (
            f"MATCH ({var}:Object:{label})\n{_changed(var)}{v_filter}\n"
            f"WITH {var}, coalesce({var}.first_seen, $since) >= $since\n"
            f"  OR NOT EXISTS {{ {own} WHERE e.valid_to IS NULL }}\n"
            f"  OR EXISTS {{ {own} WHERE e.valid_to IS NOT NULL }} AS lookup\n"
            f"CALL ({var}, lookup) {{\n"
            f"  CALL ({var}, lookup) {{\n"
            # UNWIND, which the planner keeps in place, tests `lookup` before the lookup
            # (a WHERE was tested after it).
            "    UNWIND CASE WHEN lookup THEN [true] ELSE [] END AS once\n"
            f"    MATCH {other_match}\n"
            f"    WHERE {o_filter} AND {other} <> {var}\n      AND {cond}\n"
            f"    RETURN {other}\n"
            "    UNION\n"
            f"    MATCH {edge}\n"
            f"    WHERE {o_filter}\n      AND {cond}\n"
            f"    RETURN {other}\n"
            f"  }}\n{merge}"
        )

    # A full run walks the rule's anchor side (a reverse rule: its original's), or the
    # narrower side: a few classes of goals rather than a whole domain of starts.
    narrow_goals = isinstance(starts, Domain) and not isinstance(goals, Domain)
    full = from_goals("WHERE ") if rule.anchor == "goal" or narrow_goals else from_starts("WHERE ")
    rel = f"-[:{verb} {{rule: $rule}}]->"
    incremental_starts = changed(
        "start", "goal", f"(goal:Object:{g_label})", f"(start){rel}(goal:Object:{g_label})"
    )
    incremental_goals = changed(
        "goal", "start", f"(start:Object:{s_label})", f"(start:Object:{s_label}){rel}(goal)"
    )
    stale = "r.valid_to IS NULL AND r.last_seen < $now"
    if scoped:
        stale += " AND start.cluster IN $clusters"
    close_full = (
        f"MATCH (start:Object:{s_label})-[r:{verb} {{rule: $rule}}]->()\nWHERE {stale}\n"
        "SET r.valid_to = $now\nRETURN count(r) AS closed"
    )
    count = (
        f"MATCH (start:Object:{s_label})\nWHERE {s_filter}\n"
        f"MATCH (goal:Object:{g_label})\nWHERE {g_filter} AND goal <> start\n  AND {cond}\n"
        "RETURN count(*) AS edges"
    )
    mirror = None
    # Scoped, the reverse's start is the original's goal: the same cluster only where
    # the condition says so.
    if rule.mirrors is not None and (not scoped or "cluster" in rule.same):
        original = identifiers.rel_type(rule.mirrors[1])
        scope = " AND start.cluster IN $clusters" if scoped else ""
        mirror = (
            f"MATCH (goal:Object:{g_label})-[o:{original} {{rule: $mirror_rule}}]->"
            f"(start:Object:{s_label})\n"
            "WHERE o.valid_to IS NULL AND o.last_seen = $now\n"
            f"  AND start.deleted_at IS NULL AND goal.deleted_at IS NULL{scope}\n"
            f"CALL (start, goal) {{\n{merge}"
        )
    params: dict[str, Any] = {"rule": rule.name, "verb": verb, "shape": edge_shape(rule)}
    if rule.mirrors is not None:
        params["mirror_rule"] = rule.mirrors[0]
    if not isinstance(starts, Domain):
        params["start_classes"] = [c.name for c in starts]
    if not isinstance(goals, Domain):
        params["goal_classes"] = [c.name for c in goals]
    return Compiled(
        rule=rule,
        full=full,
        close_full=close_full,
        incremental_starts=incremental_starts,
        incremental_goals=incremental_goals,
        close_incremental=CLOSE_INCREMENTAL,
        count=count,
        params=params,
        scoped=scoped,
        mirror=mirror,
    )
