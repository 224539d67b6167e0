"""Real servers for the tests, one fixture module each (see tests/servers/)."""

pytest_plugins = ["tests.servers.neo4j"]
