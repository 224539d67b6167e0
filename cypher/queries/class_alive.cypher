// Whether each goal class has an object alive in the window: a search that found nothing
// says at once when its goal class has none. One index seek per class (object_class).
// $classes: [{domain, class}]; $since, $until: datetimes.
// $visible: what the caller may see (korrel8/visibility.py), null for an operator: a
//   hidden object is never matched, so no path runs through one.
UNWIND $classes AS c
OPTIONAL CALL (c) {
  MATCH (n:Object)
  WHERE n.class = c.class AND n.domain = c.domain
    AND n.first_seen <= $until AND (n.deleted_at IS NULL OR n.deleted_at >= $since)
    AND ($visible IS NULL OR (
      ($visible.clusters IS NULL OR n.cluster IN $visible.clusters) AND
      CASE WHEN n.domain = 'k8s'
        THEN n.class IN $visible.everywhere
             OR n.namespace IN coalesce($visible.namespaces[n.class], [])
        ELSE $visible.signals_everywhere OR n.namespace IN $visible.signal_namespaces
      END))
  RETURN true AS found
  LIMIT 1
}
RETURN c.domain AS domain, c.class AS class, found IS NOT NULL AS alive
