// The objects whose ref is one of $refs, each with whether it lives in the window.
// $refs: [ref]; $since, $until: datetimes (a node counts when its lifetime meets them).
// $visible: what the caller may see (korrel8/visibility.py), null for an operator: a
//   hidden object is never matched, so no path runs through one.
UNWIND $refs AS wanted
MATCH (n:Object {ref: wanted})
WHERE true
  AND ($visible IS NULL OR (
    ($visible.clusters IS NULL OR n.cluster IN $visible.clusters) AND
    CASE WHEN n.domain = 'k8s'
      THEN n.class IN $visible.everywhere
           OR n.namespace IN coalesce($visible.namespaces[n.class], [])
      ELSE $visible.signals_everywhere OR n.namespace IN $visible.signal_namespaces
    END))
RETURN n.ref AS ref,
       n.first_seen <= $until AND (n.deleted_at IS NULL OR n.deleted_at >= $since) AS in_window,
       n {.*, first_seen: toString(n.first_seen), last_seen: toString(n.last_seen),
          changed_at: toString(n.changed_at), deleted_at: toString(n.deleted_at)} AS props
