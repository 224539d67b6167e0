// Record a rule's run under each name of $names (the rule's name, or one per cluster for
// a scoped run): $last_run (the run's start), $edges.
UNWIND $names AS name
MERGE (s:RuleState {name: name})
SET s.last_run = $last_run, s.edges = $edges
