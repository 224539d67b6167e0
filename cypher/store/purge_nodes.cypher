// Remove nodes deleted before $cutoff, with their edges, in bounded transactions;
// $clusters: null, or only nodes of one of them (korrel8 serve: its own clusters).
MATCH (n:Object)
WHERE n.deleted_at < $cutoff AND ($clusters IS NULL OR n.cluster IN $clusters)
CALL (n) {
  DETACH DELETE n
} IN TRANSACTIONS OF $batch ROWS
RETURN count(*) AS purged
