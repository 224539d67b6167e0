"""Real servers for the tests, one fixture module each (see tests/servers/)."""

import pytest

pytest_plugins = [
    "tests.servers.neo4j",
    "tests.servers.kube",
    "tests.servers.prom",
    "tests.servers.faulty_http",
]

# Fixtures whose servers `make test` installs beyond Neo4j; `make test-quick` deselects the
# tests that use them (-m "not servers").
SERVER_FIXTURES = frozenset(
    {
        "kube",
        "second_kube",
        "kube_namespace",
        "prom_stack",
        "prom",
        "fire",
        "secure_pushgateway",
        "chromium",
    }
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "servers: needs kube-apiserver, Prometheus or Chromium (not in test-quick)"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.servers)
