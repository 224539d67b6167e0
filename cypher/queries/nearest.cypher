// Candidates for "did you mean": objects of the class (in the namespace, if given), and
// objects of any class with the wanted name. korrel8 ranks them by name similarity.
// $domain, $class, $namespace (null: any), $name (null: none), $limit.
MATCH (n:Object)
WHERE n.class = $class AND n.domain = $domain
  AND ($namespace IS NULL OR n.namespace = $namespace)
RETURN n.ref AS ref, n.name AS name
LIMIT $limit
UNION
MATCH (n:Object)
WHERE n.name = $name
RETURN n.ref AS ref, n.name AS name
LIMIT $limit
