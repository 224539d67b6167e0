// Upsert one batch of edges between existing nodes.
// $rows: [{start, goal, type, rule, props}], $now: datetime.
// An edge is keyed by its endpoints, type and rule; seeing it again re-opens it.
UNWIND $rows AS row
MATCH (a:Object {ref: row.start})
MATCH (b:Object {ref: row.goal})
MERGE (a)-[r:$(row.type) {rule: row.rule}]->(b)
ON CREATE SET r.first_seen = $now
SET r += row.props,
    r.last_seen = $now,
    r.valid_to = null
RETURN count(r) AS written
