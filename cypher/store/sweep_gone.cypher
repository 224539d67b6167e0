// The refs of the live nodes of one class that a listing did not see (not seen since
// $started): what its sweep would mark deleted. $source, $cluster, $class_name, $started.
MATCH (n:Object)
WHERE n.source = $source AND n.cluster = $cluster AND n.class = $class_name
  AND n.deleted_at IS NULL AND n.last_seen < $started
RETURN n.ref AS ref
