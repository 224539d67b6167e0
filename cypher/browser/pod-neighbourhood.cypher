// korrel8: a pod -> everything within 2 rule edges, either way (its owners, volumes,
// alerts, logs, metrics, traces), as it is now.
// Set the parameters first:  :params {namespace: 'shop', name: 'web-0'}
MATCH (pod:Pod {namespace: $namespace, name: $name})
WHERE pod.deleted_at IS NULL
MATCH p = (pod)
  (()-[r]-(x) WHERE r.valid_to IS NULL AND x.deleted_at IS NULL){1,2}
  ()
RETURN p
LIMIT 300
