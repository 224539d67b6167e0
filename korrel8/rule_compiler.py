"""Compiles a rule's condition into the Cypher statements that maintain its edges.

For a rule ``start -[VERB]-> goal`` with condition C the compiler writes:

- ``full``: for every live start, MERGE the edge to every live goal where C holds,
  and refresh ``last_seen``; then ``close_full`` sets ``valid_to`` on the rule's open
  edges that this run did not refresh.
- ``incremental_starts`` / ``incremental_goals``: the same, anchored on the nodes whose
  ``changed_at`` is at or after ``$since`` on either side (a new goal must link to old
  starts), found through the changed_at index; then ``close_incremental`` closes the
  edges of those nodes that the run did not refresh. Its cost grows with the change,
  not with the graph.

Labels, types and keys in the text come from validated rules (korrel8/identifiers.py);
values (rule name, classes, times) are parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from korrel8 import identifiers
from korrel8.model import Domain
from korrel8.rules import Rule, domain_of

MERGE_EDGE = """\
  MERGE (start)-[r:{verb} {{rule: $rule}}]->(goal)
  ON CREATE SET r.first_seen = $now
  SET r.last_seen = $now, r.valid_to = null
  RETURN count(r) AS n
}} IN TRANSACTIONS OF $batch ROWS
RETURN sum(n) AS edges"""


@dataclass(frozen=True)
class Compiled:
    rule: Rule
    full: str
    close_full: str
    incremental_starts: str
    incremental_goals: str
    close_incremental: tuple[str, str]
    count: str  # how many edges the rule would make now, without writing
    params: dict[str, Any]

    def statements(self) -> dict[str, str]:
        return {
            "full": self.full,
            "close_full": self.close_full,
            "incremental_starts": self.incremental_starts,
            "incremental_goals": self.incremental_goals,
            "close_incremental_starts": self.close_incremental[0],
            "close_incremental_goals": self.close_incremental[1],
            "count": self.count,
        }


def _key(name: str) -> str:
    return f"`{identifiers.property_key(name)}`"


def condition(rule: Rule) -> str:
    parts = [f"start.{_key(k)} = goal.{_key(k)}" for k in rule.same]
    parts += [f"start.{_key(k)} = goal.{_key(v)}" for k, v in rule.join.items()]
    if rule.where:
        parts.append(f"({rule.where})")
    return " AND ".join(parts)


def _node_filter(var: str, spec: object, param: str) -> str:
    live = f"{var}.deleted_at IS NULL"
    return live if isinstance(spec, Domain) else f"{var}.class IN ${param} AND {live}"


def compile_rule(rule: Rule) -> Compiled:
    starts, goals = rule.start_classes, rule.goal_classes
    s_label = identifiers.label(domain_of(starts).label)
    g_label = identifiers.label(domain_of(goals).label)
    verb = identifiers.rel_type(rule.verb)
    cond = condition(rule)
    s_filter = _node_filter("start", starts, "start_classes")
    g_filter = _node_filter("goal", goals, "goal_classes")
    merge = MERGE_EDGE.format(verb=verb)

    def from_starts(anchor: str) -> str:
        return (
            f"MATCH (start:Object:{s_label})\nWHERE {anchor}{s_filter}\nCALL (start) {{\n"
            f"  MATCH (goal:Object:{g_label})\n"
            f"  WHERE {g_filter} AND goal <> start\n    AND {cond}\n{merge}"
        )

    def from_goals(anchor: str) -> str:
        return (
            f"MATCH (goal:Object:{g_label})\nWHERE {anchor}{g_filter}\nCALL (goal) {{\n"
            f"  MATCH (start:Object:{s_label})\n"
            f"  WHERE {s_filter} AND start <> goal\n    AND {cond}\n{merge}"
        )

    # A full run walks the rule's anchor side (a reverse rule: its original's), or the
    # narrower side: a few classes of goals rather than a whole domain of starts.
    narrow_goals = isinstance(starts, Domain) and not isinstance(goals, Domain)
    full = from_goals("") if rule.anchor == "goal" or narrow_goals else from_starts("")
    incremental_starts = from_starts("start.changed_at >= $since AND ")
    incremental_goals = from_goals("goal.changed_at >= $since AND ")
    stale = "r.valid_to IS NULL AND r.last_seen < $now"
    close_full = (
        f"MATCH (:Object:{s_label})-[r:{verb} {{rule: $rule}}]->()\nWHERE {stale}\n"
        "SET r.valid_to = $now\nRETURN count(r) AS closed"
    )
    close_incremental = (
        f"MATCH (start:Object:{s_label})-[r:{verb} {{rule: $rule}}]->()\n"
        f"WHERE start.changed_at >= $since AND {stale}\n"
        "SET r.valid_to = $now\nRETURN count(r) AS closed",
        f"MATCH ()-[r:{verb} {{rule: $rule}}]->(goal:Object:{g_label})\n"
        f"WHERE goal.changed_at >= $since AND {stale}\n"
        "SET r.valid_to = $now\nRETURN count(r) AS closed",
    )
    count = (
        f"MATCH (start:Object:{s_label})\nWHERE {s_filter}\n"
        f"MATCH (goal:Object:{g_label})\nWHERE {g_filter} AND goal <> start\n  AND {cond}\n"
        "RETURN count(*) AS edges"
    )
    params: dict[str, Any] = {"rule": rule.name}
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
        close_incremental=close_incremental,
        count=count,
        params=params,
    )
