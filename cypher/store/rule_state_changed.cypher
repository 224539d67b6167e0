// The classes of the nodes changed at or after $since -> [{domain, class}]: an
// incremental rule run skips the side of a rule that none of them belongs to.
MATCH (n:Object)
WHERE n.changed_at >= $since
RETURN DISTINCT n.domain AS domain, n.class AS class
