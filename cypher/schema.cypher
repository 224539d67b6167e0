// korrel8's schema. Applied by Store.apply_schema(); every statement is idempotent.
// The unique key of every node: its ref, the canonical query that finds it.
CREATE CONSTRAINT object_ref IF NOT EXISTS FOR (n:Object) REQUIRE n.ref IS UNIQUE;
// Sweeps select by source, cluster and class.
CREATE INDEX object_source_cluster IF NOT EXISTS FOR (n:Object) ON (n.source, n.cluster);
CREATE INDEX object_class IF NOT EXISTS FOR (n:Object) ON (n.class);
// Rules and lookups join on namespace and name.
CREATE INDEX object_namespace_name IF NOT EXISTS FOR (n:Object) ON (n.namespace, n.name);
CREATE INDEX object_name IF NOT EXISTS FOR (n:Object) ON (n.name);
// Pods' signals (logs, metrics, traces, alerts) join on the canonical pod name.
CREATE INDEX object_k8s_pod_name IF NOT EXISTS FOR (n:Object) ON (n.`k8s.pod.name`);
// The other side of a rule, found from a changed node (incremental runs): rules whose
// join is a list (owners, selectors, claim names) look within one namespace (and
// class, where the rule names classes); signals
// and workloads join on the canonical namespace; events on their object; pods on
// their node. Without these, each changed node scans a whole domain.
CREATE INDEX object_namespace IF NOT EXISTS FOR (n:Object) ON (n.namespace);
CREATE INDEX object_namespace_class IF NOT EXISTS FOR (n:Object) ON (n.namespace, n.class);
CREATE INDEX object_k8s_namespace_name IF NOT EXISTS FOR (n:Object) ON (n.`k8s.namespace.name`);
CREATE INDEX object_k8s_object_name IF NOT EXISTS FOR (n:Object) ON (n.`k8s.object.name`);
CREATE INDEX object_k8s_node_name IF NOT EXISTS FOR (n:Object) ON (n.`k8s.node.name`);
// A cluster-scoped owner (a Node, an operator's resource) finds its dependents, in every
// namespace, by CONTAINS on their owners as one string.
CREATE TEXT INDEX object_owners_text IF NOT EXISTS FOR (n:Object) ON (n.owners_text);
// The purge finds old deletions; incremental rule runs find recent changes.
CREATE INDEX object_deleted_at IF NOT EXISTS FOR (n:Object) ON (n.deleted_at);
CREATE INDEX object_changed_at IF NOT EXISTS FOR (n:Object) ON (n.changed_at);
// When each rule last ran, so the next run can be incremental.
CREATE CONSTRAINT rule_state_name IF NOT EXISTS FOR (s:RuleState) REQUIRE s.name IS UNIQUE;
