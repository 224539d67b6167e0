// Remove edges closed before $cutoff, in bounded transactions.
// A full relationship scan: the purge runs rarely, and relationship property
// indexes would be needed per type.
MATCH ()-[r]->()
WHERE r.valid_to < $cutoff
CALL (r) {
  DELETE r
} IN TRANSACTIONS OF $batch ROWS
RETURN count(*) AS purged
