// The answer of a goal search as a graph, for Neo4j Browser: the rule edges on the
// paths it chose (korrel8 prints this with its :params line).
// $edges: [elementId].
UNWIND $edges AS id
MATCH p = ()-[e]->()
WHERE elementId(e) = id
RETURN p
