"""The Neo4j a benchmark runs on: a throw-away local one, so no data you keep is cleared.

BENCH_NEO4J_URI / BENCH_NEO4J_PASSWORD name another server to clear and use instead.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import SecretStr
from rich.console import Console

from korrel8.config import LocalNeo4jSettings, Settings
from korrel8.graph import localdb
from korrel8.graph.store import Store
from tests.servers.common import free_port

console = Console()


def clear(store: Store) -> None:
    store.run("MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS")


@contextmanager
def bench_settings(batch_size: int = 5000, heap: str = "2g") -> Iterator[Settings]:
    """Settings for BENCH_NEO4J_URI, or for a throw-away local Neo4j for the run."""
    uri = os.environ.get("BENCH_NEO4J_URI")
    if uri:
        password = SecretStr(os.environ.get("BENCH_NEO4J_PASSWORD", ""))
        yield Settings(neo4j_uri=uri, neo4j_password=password, batch_size=batch_size)
        return
    with tempfile.TemporaryDirectory(prefix="korrel8-bench-") as tmp:
        local = LocalNeo4jSettings(
            data_dir=Path(tmp), bolt_port=free_port(), http_port=free_port(), heap=heap,
            pagecache="1g",
        )  # fmt: skip
        console.print(f"Starting a throw-away local Neo4j in {tmp}...")
        localdb.start(local)
        creds = localdb.credentials(local)
        assert creds is not None
        try:
            yield Settings(
                neo4j_uri=creds.uri, neo4j_password=SecretStr(creds.password), batch_size=batch_size
            )
        finally:
            localdb.stop(local)


@contextmanager
def bench_store(batch_size: int = 5000, heap: str = "2g") -> Iterator[Store]:
    with bench_settings(batch_size, heap) as settings, Store.connect(settings) as store:
        yield store
