// Mark deleted the nodes the source reported deleted (a watch's DELETED event), and close
// their edges. The nodes and edges stay until the purge, for correlation over history.
// $refs: [ref], $now: datetime. A node already marked keeps its first deleted_at.
UNWIND $refs AS ref
MATCH (n:Object {ref: ref})
WHERE n.deleted_at IS NULL
SET n.deleted_at = $now, n.changed_at = $now
WITH n
CALL (n) {
  MATCH (n)-[r]-()
  WHERE r.valid_to IS NULL
  SET r.valid_to = $now
}
RETURN count(n) AS deleted
