// Candidates for "did you mean": objects of the class (in the namespace, if given), and
// objects of any class with the wanted name. korrel8 ranks them by name similarity.
// $domain, $class, $namespace (null: any), $name (null: none), $limit.
// $visible: what the caller may see (korrel8/visibility.py), null for an operator: a
//   hidden object is never matched, so no path runs through one.
MATCH (n:Object)
WHERE n.class = $class AND n.domain = $domain
  AND ($namespace IS NULL OR n.namespace = $namespace)
  AND ($visible IS NULL OR (
    ($visible.clusters IS NULL OR n.cluster IN $visible.clusters) AND
    CASE WHEN n.domain = 'k8s'
      THEN n.class IN $visible.everywhere
           OR n.namespace IN coalesce($visible.namespaces[n.class], [])
      ELSE $visible.signals_everywhere OR n.namespace IN $visible.signal_namespaces
    END))
RETURN n.ref AS ref, n.name AS name
LIMIT $limit
UNION
MATCH (n:Object)
WHERE n.name = $name
  AND ($visible IS NULL OR (
    ($visible.clusters IS NULL OR n.cluster IN $visible.clusters) AND
    CASE WHEN n.domain = 'k8s'
      THEN n.class IN $visible.everywhere
           OR n.namespace IN coalesce($visible.namespaces[n.class], [])
      ELSE $visible.signals_everywhere OR n.namespace IN $visible.signal_namespaces
    END))
RETURN n.ref AS ref, n.name AS name
LIMIT $limit
