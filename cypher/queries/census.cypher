// What the graph holds, for deciding what a caller may see (korrel8/api/auth.py): each
// Kubernetes class with the namespaces of its objects (null: cluster-scoped), and under
// class null the namespaces of the signals (logs, metrics, alerts, traces).
// $clusters: [name], or null for every cluster.
MATCH (n:Object)
WHERE $clusters IS NULL OR n.cluster IN $clusters
RETURN DISTINCT CASE WHEN n.domain = 'k8s' THEN n.class END AS class, n.namespace AS namespace
