// Remove edges closed before $cutoff, in bounded transactions; $clusters: null, or only
// edges whose start node is in one of them (korrel8 serve: its own clusters).
// A full relationship scan: the purge runs rarely, and relationship property
// indexes would be needed per type.
MATCH (a)-[r]->()
WHERE r.valid_to < $cutoff AND ($clusters IS NULL OR a.cluster IN $clusters)
CALL (r) {
  DELETE r
} IN TRANSACTIONS OF $batch ROWS
RETURN count(*) AS purged
