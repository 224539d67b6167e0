"""The graph store: the Neo4j driver and its statements, node and edge rows, identifier
checks, and the local Neo4j launcher."""
