// The refs a previous complete listing of one class would have marked deleted but held
// (a mass deletion waits for a second listing to agree). $source, $cluster, $class_name.
MATCH (h:SweepHold {source: $source, cluster: $cluster, class: $class_name})
RETURN h.refs AS refs
