"""Real servers for the tests, one fixture module each (see tests/servers/)."""

pytest_plugins = [
    "tests.servers.neo4j",
    "tests.servers.kube",
    "tests.servers.prom",
    "tests.servers.faulty_http",
]
