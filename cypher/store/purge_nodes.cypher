// Remove nodes deleted before $cutoff, with their edges, in bounded transactions.
MATCH (n:Object)
WHERE n.deleted_at < $cutoff
CALL (n) {
  DETACH DELETE n
} IN TRANSACTIONS OF $batch ROWS
RETURN count(*) AS purged
