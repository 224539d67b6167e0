// The objects a korrel8r query selects: by class and selector fields.
// $domain, $class: the class (properties, never labels: they come from the user);
// $cluster, $namespace: a value, or null for any;
// $selectors: [[[{key, value, label}]]]: an object matches when, for some selector,
//   every condition has an alternative that holds: property `key` equals `value`, or
//   `label` ("k=v") is an entry of the object's `labels` list, or `raw` ("k=v") one of
//   its back-end `raw_labels` ("" where unused);
// $since, $until: datetimes: reported as in_window rather than filtered, so that a miss
//   can say what lies outside the window; $limit: objects (one more tells of a cut).
// $visible: what the caller may see (korrel8/visibility.py), null for an operator: a
//   hidden object is never matched, so no path runs through one.
MATCH (n:Object)
WHERE n.class = $class AND n.domain = $domain
  AND ($cluster IS NULL OR n.cluster = $cluster)
  AND ($namespace IS NULL OR n.namespace = $namespace)
  AND ($visible IS NULL OR (
    ($visible.clusters IS NULL OR n.cluster IN $visible.clusters) AND
    CASE WHEN n.domain = 'k8s'
      THEN n.class IN $visible.everywhere
           OR n.namespace IN coalesce($visible.namespaces[n.class], [])
      ELSE $visible.signals_everywhere OR n.namespace IN $visible.signal_namespaces
    END))
  AND any(selector IN $selectors WHERE all(condition IN selector WHERE any(alt IN condition
        WHERE n[alt.key] = alt.value OR alt.label IN coalesce(n.labels, [])
              OR alt.raw IN coalesce(n.raw_labels, []))))
WITH n, n.first_seen <= $until AND (n.deleted_at IS NULL OR n.deleted_at >= $since) AS in_window
ORDER BY in_window DESC, n.ref
LIMIT $limit + 1
RETURN n.ref AS ref, in_window,
       n {.*, first_seen: toString(n.first_seen), last_seen: toString(n.last_seen),
          changed_at: toString(n.changed_at), deleted_at: toString(n.deleted_at)} AS props
