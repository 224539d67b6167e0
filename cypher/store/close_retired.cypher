// Close the open edges made by rules that are no longer enabled (disabled, renamed or
// removed), so that searches stop following them; history keeps them until the purge.
// $rules: the enabled rule names; $now; $batch. -> [{closed}]
MATCH ()-[r]->()
WHERE r.valid_to IS NULL AND r.rule IS NOT NULL AND NOT r.rule IN $rules
CALL (r) {
  SET r.valid_to = $now
} IN TRANSACTIONS OF $batch ROWS
RETURN count(r) AS closed
