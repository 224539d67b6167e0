// korrel8: objects deleted in the last hour, with the edges they had (closed when the
// object went), most recent first. History is kept for the retention window, so these
// still correlate: start a goal search from one with `korrel8 goals REF GOAL --since 2h`.
MATCH (n:Object)
WHERE n.deleted_at >= datetime() - duration('PT1H')
OPTIONAL MATCH (n)-[r]-(m:Object)
RETURN n, r, m
ORDER BY n.deleted_at DESC
LIMIT 300
