// The classes that have any node, deleted ones included -> [{domain, class}]: a full rule
// run skips a rule with no node on one of its sides (it can have no edge to make or close).
MATCH (n:Object)
RETURN DISTINCT n.domain AS domain, n.class AS class
