// End an incremental rule run: close the edges of rule $rule (type $verb) at the nodes
// changed since $since that the run did not refresh (it refreshed every edge of those
// nodes that still holds, on either side), and record the run ($now, $edges) under
// each name of $states (the rule's name, or one per cluster for a scoped run).
// $clusters: null, or only edges whose start node is in one of them (a scoped run).
// A node changed after $now (during the run) is left to the next run, which sees it:
// the run did not look at it, so its edges' last_seen says nothing.
// -> [{closed}]. One text for every rule, so it is planned once, and one round trip.
OPTIONAL MATCH (n:Object)-[r]-()
WHERE n.changed_at >= $since AND n.changed_at <= $now AND type(r) = $verb AND r.rule = $rule
  AND r.valid_to IS NULL AND r.last_seen < $now
  AND ($clusters IS NULL OR startNode(r).cluster IN $clusters)
WITH DISTINCT r
SET r.valid_to = $now
WITH count(r) AS closed
UNWIND $states AS state
MERGE (s:RuleState {name: state})
SET s.last_run = $now, s.edges = $edges
RETURN DISTINCT closed
