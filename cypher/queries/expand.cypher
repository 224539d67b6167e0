// One level of goal search's bounded expansion (korrel8/expand.py): the rule edges that
// leave the frontier in the window, each distinct node asked for once per level.
// $frontier: [{ref, up}]: `up` is true when the path there went up to a hub (an edge of
//   shape 'up': to an owner, a Node, a StorageClass...); from then on an edge of shape
//   'down' (from a hub to its members) is not followed: it would lead to siblings.
// $since, $until: datetimes: a node or edge counts when its lifetime meets the window;
//   an edge outside it comes back with in_window false (korrel8 does not follow it, but a
//   search that finds nothing then knows that other times may hold more);
// $limit: rows at most (one more is fetched to tell that the level was cut).
// $visible: what the caller may see (korrel8/visibility.py), null for an operator: a
//   hidden object is never matched, so no path runs through one.
UNWIND $frontier AS f
MATCH (a:Object {ref: f.ref})-[r]->(b:Object)
WHERE a.first_seen <= $until AND (a.deleted_at IS NULL OR a.deleted_at >= $since)
  AND NOT (f.up AND coalesce(r.shape, '') = 'down')
  AND ($visible IS NULL OR (
    ($visible.clusters IS NULL OR a.cluster IN $visible.clusters) AND
    CASE WHEN a.domain = 'k8s'
      THEN a.class IN $visible.everywhere
           OR a.namespace IN coalesce($visible.namespaces[a.class], [])
      ELSE $visible.signals_everywhere OR a.namespace IN $visible.signal_namespaces
    END))
  AND ($visible IS NULL OR (
    ($visible.clusters IS NULL OR b.cluster IN $visible.clusters) AND
    CASE WHEN b.domain = 'k8s'
      THEN b.class IN $visible.everywhere
           OR b.namespace IN coalesce($visible.namespaces[b.class], [])
      ELSE $visible.signals_everywhere OR b.namespace IN $visible.signal_namespaces
    END))
RETURN f.ref AS source, f.up AS up, b.ref AS target, b.domain AS domain, b.class AS class,
       b.statuses AS statuses,
       coalesce(r.shape, '') = 'up' AS raises, elementId(r) AS edge,
       r.first_seen <= $until AND (r.valid_to IS NULL OR r.valid_to >= $since)
         AND b.first_seen <= $until AND (b.deleted_at IS NULL OR b.deleted_at >= $since)
         AS in_window
LIMIT $limit + 1
