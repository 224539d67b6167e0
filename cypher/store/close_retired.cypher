// Close the open edges made by rules that are no longer enabled (disabled, renamed or
// removed), so that searches stop following them; history keeps them until the purge.
// $rules: the enabled rule names; $clusters: null, or only edges whose start node is in
// one of them (korrel8 serve: its own clusters); $now; $batch. -> [{closed}]
MATCH (a)-[r]->()
WHERE r.valid_to IS NULL AND r.rule IS NOT NULL AND NOT r.rule IN $rules
  AND ($clusters IS NULL OR a.cluster IN $clusters)
CALL (r) {
  SET r.valid_to = $now
} IN TRANSACTIONS OF $batch ROWS
RETURN count(r) AS closed
