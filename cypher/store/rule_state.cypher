// The last run of each rule: $names -> [{name, last_run}].
MATCH (s:RuleState) WHERE s.name IN $names
RETURN s.name AS name, s.last_run AS last_run
