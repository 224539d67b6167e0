// Remove the nodes that $sources wrote for one $cluster, with their edges, in bounded
// transactions of $batch: `korrel8 demo` replaces its own cluster this way before each run.
// Seeks the (source, cluster) index; nothing of another cluster or source is touched.
MATCH (n:Object)
WHERE n.source IN $sources AND n.cluster = $cluster
CALL (n) {
  DETACH DELETE n
} IN TRANSACTIONS OF $batch ROWS
RETURN count(*) AS deleted
