// Record a rule's run: $name, $last_run (the run's start), $edges.
MERGE (s:RuleState {name: $name})
SET s.last_run = $last_run, s.edges = $edges
