// Per class, what a sweep after a listing would mark deleted, before it runs (the
// mass-delete guard, korrel8/graph/mass_delete.py): the live nodes, and those not seen
// since the listing began. $source, $cluster, $classes (null: every class), $started.
MATCH (n:Object)
WHERE n.source = $source AND n.cluster = $cluster
  AND ($classes IS NULL OR n.class IN $classes)
  AND n.deleted_at IS NULL
RETURN n.class AS class, count(n) AS live,
       sum(CASE WHEN n.last_seen < $started THEN 1 ELSE 0 END) AS gone
