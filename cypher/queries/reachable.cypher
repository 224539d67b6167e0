// The classes reachable from the starts, with the least depth and how many objects:
// what a goal search could find, told when it finds nothing.
// $starts: [ref]; $since, $until: datetimes (the window, as in goals.cypher).
// Depth: the upper bound of the quantifier {1,4} is the depth korrel8 looks to
// (a checked integer: Cypher takes no parameter there).
UNWIND $starts AS start_ref
MATCH (s:Object {ref: start_ref})
WHERE s.first_seen <= $until AND (s.deleted_at IS NULL OR s.deleted_at >= $since)
MATCH p = ANY SHORTEST (s)
  (()-[r]->(x)
    WHERE r.first_seen <= $until AND (r.valid_to IS NULL OR r.valid_to >= $since)
      AND x.first_seen <= $until AND (x.deleted_at IS NULL OR x.deleted_at >= $since)
  ){1,4}
  (n)
RETURN n.domain AS domain, n.class AS class, min(length(p)) AS depth,
       count(DISTINCT n) AS count
ORDER BY depth, domain, class
