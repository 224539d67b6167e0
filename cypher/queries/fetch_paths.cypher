// The objects and rule edges of the paths goal search chose (korrel8/expand.py).
// $refs: [ref]; $edges: [elementId]. Times go out as ISO 8601 strings.
CALL () {
  UNWIND $refs AS wanted
  MATCH (n:Object {ref: wanted})
  RETURN collect(n {.*, first_seen: toString(n.first_seen), last_seen: toString(n.last_seen),
                    changed_at: toString(n.changed_at), deleted_at: toString(n.deleted_at)}) AS objects
}
CALL () {
  UNWIND $edges AS id
  MATCH (a)-[e]->(b)
  WHERE elementId(e) = id
  RETURN collect(e {.*, id: id, type: type(e), start: a.ref, goal: b.ref,
                    first_seen: toString(e.first_seen), last_seen: toString(e.last_seen),
                    valid_to: toString(e.valid_to)}) AS edges
}
RETURN objects, edges
