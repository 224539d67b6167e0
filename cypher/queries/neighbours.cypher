// Neighbour search: every object within the depth bound of a start, following rule
// edges in their direction, with the shortest paths that reach it (the start itself
// comes back as a path of length 0).
// $starts: [ref]; $since, $until: datetimes: a node or edge counts when its lifetime
// meets the window; $limit: objects returned (one more is fetched to tell that the
// list was cut).
// Depth: the upper bound of the quantifier {0,2} is the depth korrel8 runs with
// (a checked integer: Cypher takes no parameter there).
// $visible: what the caller may see (korrel8/visibility.py), null for an operator: a
//   hidden object is never matched, so no path runs through one.
UNWIND $starts AS start_ref
MATCH (s:Object {ref: start_ref})
WHERE s.first_seen <= $until AND (s.deleted_at IS NULL OR s.deleted_at >= $since)
  AND ($visible IS NULL OR (
    ($visible.clusters IS NULL OR s.cluster IN $visible.clusters) AND
    CASE WHEN s.domain = 'k8s'
      THEN s.class IN $visible.everywhere
           OR s.namespace IN coalesce($visible.namespaces[s.class], [])
      ELSE $visible.signals_everywhere OR s.namespace IN $visible.signal_namespaces
    END))
MATCH p = ALL SHORTEST (s)
  (()-[r]->(x)
    WHERE r.first_seen <= $until AND (r.valid_to IS NULL OR r.valid_to >= $since)
      AND x.first_seen <= $until AND (x.deleted_at IS NULL OR x.deleted_at >= $since)
      AND ($visible IS NULL OR (
        ($visible.clusters IS NULL OR x.cluster IN $visible.clusters) AND
        CASE WHEN x.domain = 'k8s'
          THEN x.class IN $visible.everywhere
               OR x.namespace IN coalesce($visible.namespaces[x.class], [])
          ELSE $visible.signals_everywhere OR x.namespace IN $visible.signal_namespaces
        END))
  ){0,2}
  (g)
WITH g, collect(p) AS paths, min(length(p)) AS hops
ORDER BY hops, g.ref
LIMIT $limit + 1
UNWIND paths AS p
WITH collect(p) AS paths
// One row: each object once, and the paths as refs with their edges. Times go out as
// ISO 8601 strings, cheaper for a client to read than temporal values.
CALL (paths) {
  UNWIND paths AS p
  UNWIND nodes(p) AS n
  WITH DISTINCT n
  RETURN collect(n {.*, first_seen: toString(n.first_seen), last_seen: toString(n.last_seen),
                    changed_at: toString(n.changed_at), deleted_at: toString(n.deleted_at)}) AS objects
}
RETURN objects,
       [p IN paths | {
         objects: [n IN nodes(p) | n.ref],
         edges: [e IN relationships(p) | e {.*, type: type(e), start: startNode(e).ref,
                   goal: endNode(e).ref, first_seen: toString(e.first_seen),
                   last_seen: toString(e.last_seen), valid_to: toString(e.valid_to)}]
       }] AS paths
