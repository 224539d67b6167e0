// Upsert one batch of nodes.
// $rows: [{ref, labels: [domain label, class label], props: {...}}], $now: datetime.
// The ingester owns a node's properties: they are replaced, not merged, so that a
// label removed from an object disappears from its node. changed_at moves only
// when something other than the timestamps changed (incremental rule runs use it).
UNWIND $rows AS row
MERGE (n:Object {ref: row.ref})
WITH n, row,
     n.first_seen IS NULL
       OR n.deleted_at IS NOT NULL
       OR any(k IN keys(row.props) WHERE n[k] IS NULL OR n[k] <> row.props[k])
       OR any(k IN keys(n) WHERE NOT k IN $meta AND NOT k IN keys(row.props)) AS changed,
     coalesce(n.first_seen, $now) AS first_seen,
     n.changed_at AS changed_at
SET n = row.props
SET n:$(row.labels),
    n.ref = row.ref,
    n.first_seen = first_seen,
    n.last_seen = $now,
    n.deleted_at = null,
    n.changed_at = CASE WHEN changed THEN $now ELSE changed_at END
RETURN count(n) AS written, sum(CASE WHEN changed THEN 1 ELSE 0 END) AS changed
