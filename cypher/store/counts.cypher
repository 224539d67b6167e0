// Nodes per class and relationships per type, for summaries.
CALL () {
  MATCH (n:Object) WHERE n.deleted_at IS NULL
  RETURN 'node' AS what, n.class AS name, count(*) AS count
  UNION ALL
  MATCH ()-[r]->() WHERE r.valid_to IS NULL
  RETURN 'edge' AS what, type(r) AS name, count(*) AS count
}
RETURN what, name, count ORDER BY what DESC, name
