// Mark deleted what a complete listing of one source and cluster no longer holds,
// and close the edges of those nodes, in bounded transactions.
// $source, $cluster, $classes (null: every class of the source), $started: when
// the listing began, $now, $batch.
MATCH (n:Object)
WHERE n.source = $source AND n.cluster = $cluster
  AND ($classes IS NULL OR n.class IN $classes)
  AND n.last_seen < $started AND n.deleted_at IS NULL
CALL (n) {
  SET n.deleted_at = $now, n.changed_at = $now
  WITH n
  MATCH (n)-[r]-()
  WHERE r.valid_to IS NULL
  SET r.valid_to = $now
} IN TRANSACTIONS OF $batch ROWS
RETURN count(n) AS deleted
