// Remember (or, with $refs empty, forget) what a listing of one class held back from its
// sweep, for the next listing to confirm. :SweepHold is no :Object: no query sees it.
// $source, $cluster, $class_name, $refs: [ref], $now.
MERGE (h:SweepHold {source: $source, cluster: $cluster, class: $class_name})
SET h.refs = $refs, h.at = $now
WITH h
WHERE size($refs) = 0
DELETE h
