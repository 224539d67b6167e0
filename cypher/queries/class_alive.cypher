// Whether each goal class has an object alive in the window: a search that found nothing
// says at once when its goal class has none. One index seek per class (object_class).
// $classes: [{domain, class}]; $since, $until: datetimes.
UNWIND $classes AS c
OPTIONAL CALL (c) {
  MATCH (n:Object)
  WHERE n.class = c.class AND n.domain = c.domain
    AND n.first_seen <= $until AND (n.deleted_at IS NULL OR n.deleted_at >= $since)
  RETURN true AS found
  LIMIT 1
}
RETURN c.domain AS domain, c.class AS class, found IS NOT NULL AS alive
