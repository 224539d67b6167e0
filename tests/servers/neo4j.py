"""The real Neo4j for tests.

Taken, in order, from: NEO4J_URI (with NEO4J_USER / NEO4J_PASSWORD), a
testcontainers Neo4jContainer where a Docker engine answers, else korrel8's own
local launcher on free ports with a throw-away data directory. One server per
test session; the ``store`` fixture gives each test a cleared database.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import SecretStr

from korrel8.config import LocalNeo4jSettings, Settings
from korrel8.errors import LauncherError
from korrel8.graph import localdb
from korrel8.graph.store import Store
from tests.servers.common import docker_available, free_port, unavailable

NEO4J_IMAGE = "neo4j:5.26-community"


@dataclass(frozen=True)
class Neo4jServer:
    uri: str
    user: str
    password: str
    origin: str  # which of the three ways provided it

    def settings(self, **overrides: object) -> Settings:
        return Settings(
            neo4j_uri=self.uri,
            neo4j_user=self.user,
            neo4j_password=SecretStr(self.password),
            **overrides,
        )


def local_settings(data_dir: Path) -> LocalNeo4jSettings:
    """A local Neo4j on free ports, its jars in the shared cache."""
    return LocalNeo4jSettings(
        data_dir=data_dir, bolt_port=free_port(), http_port=free_port(), heap="768m"
    )


@pytest.fixture(scope="session")
def neo4j_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Neo4jServer]:
    uri = os.environ.get("NEO4J_URI")
    if uri:
        yield Neo4jServer(
            uri,
            os.environ.get("NEO4J_USER", "neo4j"),
            os.environ.get("NEO4J_PASSWORD", ""),
            "NEO4J_URI",
        )
        return
    if docker_available():
        from testcontainers.neo4j import Neo4jContainer

        with Neo4jContainer(NEO4J_IMAGE) as container:
            yield Neo4jServer(
                container.get_connection_url(), "neo4j", container.password, "testcontainers"
            )
        return
    local = local_settings(tmp_path_factory.mktemp("neo4j"))
    try:
        localdb.start(local)
    except LauncherError as exc:
        unavailable("Neo4j", f"{exc} (or set NEO4J_URI to a running server)")
    creds = localdb.credentials(local)
    assert creds is not None
    try:
        yield Neo4jServer(creds.uri, creds.user, creds.password, "local launcher")
    finally:
        localdb.stop(local)


def clear(store: Store) -> None:
    store.run("MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS")


_schema_applied: set[str] = set()


@pytest.fixture
def store(neo4j_server: Neo4jServer) -> Iterator[Store]:
    """A store on a cleared database with korrel8's schema applied."""
    with Store.connect(neo4j_server.settings(batch_size=1000)) as s:
        clear(s)
        # The schema is idempotent but slow to re-check: once per server is enough,
        # since clearing removes data, not the schema.
        if neo4j_server.uri not in _schema_applied:
            s.apply_schema()
            _schema_applied.add(neo4j_server.uri)
        yield s
