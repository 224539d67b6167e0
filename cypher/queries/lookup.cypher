// The objects whose ref is one of $refs, each with whether it lives in the window.
// $refs: [ref]; $since, $until: datetimes (a node counts when its lifetime meets them).
UNWIND $refs AS wanted
MATCH (n:Object {ref: wanted})
RETURN n.ref AS ref,
       n.first_seen <= $until AND (n.deleted_at IS NULL OR n.deleted_at >= $since) AS in_window,
       n {.*, first_seen: toString(n.first_seen), last_seen: toString(n.last_seen),
          changed_at: toString(n.changed_at), deleted_at: toString(n.deleted_at)} AS props
