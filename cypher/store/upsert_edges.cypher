// Upsert one batch of edges between existing nodes.
// $rows: [{start, goal, type, rule, props}], $now: datetime.
// An edge is keyed by its endpoints, type and rule; seeing it again re-opens it.
// The store writes the (checked) type in place of $(row.type), one statement per type:
// Neo4j 5.26 plans MERGE on a dynamic type poorly for large batches.
UNWIND $rows AS row
MATCH (a:Object {ref: row.start})
MATCH (b:Object {ref: row.goal})
MERGE (a)-[r:$(row.type) {rule: row.rule}]->(b)
ON CREATE SET r.first_seen = $now
SET r += row.props,
    r.last_seen = $now,
    r.valid_to = null
RETURN count(r) AS written
