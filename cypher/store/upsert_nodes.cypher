// Upsert one batch of nodes of one label set.
// $rows: [{ref, props: {...}, digest}], $now: datetime.
// The ingester owns a node's properties: they are replaced, not merged, so that a
// label removed from an object disappears from its node. changed_at moves only
// when something other than the timestamps changed (incremental rule runs use it).
// A node whose properties are unchanged (same digest, see korrel8/graph/rows.py) and
// that is not deleted is not rewritten: only its last_seen moves.
// The store writes the (checked) labels of the batch in place of $(row.labels), one
// statement per label set: a dynamic label costs a lookup per row.
UNWIND $rows AS row
MERGE (n:Object {ref: row.ref})
WITH n, row,
     n.deleted_at IS NOT NULL OR n.props_digest IS NULL OR n.props_digest <> row.digest
       AS changed,
     coalesce(n.first_seen, $now) AS first_seen
FOREACH (_ IN CASE WHEN changed THEN [1] ELSE [] END |
  SET n = row.props
  SET n:$(row.labels),
      n.ref = row.ref,
      n.props_digest = row.digest,
      n.first_seen = first_seen,
      n.changed_at = $now
)
SET n.last_seen = $now
RETURN count(n) AS written, sum(CASE WHEN changed THEN 1 ELSE 0 END) AS changed
