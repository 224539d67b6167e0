"""The local Neo4j launcher: a real server from Maven Central jars, no Docker."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest
from pydantic import SecretStr

from korrel8.config import LocalNeo4jSettings, Settings
from korrel8.errors import LauncherError
from korrel8.graph import localdb
from korrel8.graph.store import Store
from tests.graph import node, nodes
from tests.servers.common import unavailable
from tests.servers.neo4j import local_settings


def store_for(local: LocalNeo4jSettings) -> Store:
    creds = localdb.credentials(local)
    assert creds is not None
    return Store.connect(Settings(neo4j_uri=creds.uri, neo4j_password=SecretStr(creds.password)))


@pytest.fixture
def local(tmp_path: Path) -> LocalNeo4jSettings:
    if not shutil.which("java") and not os.environ.get("JAVA_HOME"):
        unavailable("Java", "install Java 17 (apt-get install openjdk-17-jre-headless)")
    return local_settings(tmp_path / "neo4j")


@pytest.mark.slow
def test_stop_and_start_keep_the_data(local: LocalNeo4jSettings) -> None:
    try:
        first = localdb.start(local)
        assert first.running and first.new_password  # generated, shown once
        again = localdb.start(local)  # idempotent: reports the running server
        assert again.running and again.pid == first.pid and again.new_password is None
        with store_for(local) as store:
            store.apply_schema()
            store.upsert_nodes([node("kept", phase="Running")])
        assert localdb.stop(local)
        assert not localdb.status(local).running
        assert not localdb.stop(local)  # stopping twice is harmless

        restarted = localdb.start(local)
        assert restarted.running and restarted.new_password is None
        with store_for(local) as store:
            assert nodes(store)["kept"]["phase"] == "Running"
        # The password file is private to its owner.
        assert (local.data_dir / "state.json").stat().st_mode & 0o077 == 0
    finally:
        localdb.stop(local)


def test_a_taken_port_is_a_clear_error(local: LocalNeo4jSettings) -> None:
    with socket.socket() as s:
        s.bind((local.host, 0))
        s.listen()
        taken = local.model_copy(update={"bolt_port": s.getsockname()[1]})
        with pytest.raises(LauncherError, match=rf"Bolt port .*:{taken.bolt_port} is taken"):
            localdb.start(taken)


def test_missing_java_is_a_clear_error(
    local: LocalNeo4jSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JAVA_HOME", "/nonexistent")
    with pytest.raises(LauncherError, match="Java not found"):
        localdb.start(local)


def test_missing_maven_is_a_clear_error(
    local: LocalNeo4jSettings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    java = shutil.which("java")
    if java and not os.environ.get("JAVA_HOME"):
        monkeypatch.setenv("JAVA_HOME", str(Path(os.path.realpath(java)).parent.parent))
    monkeypatch.setenv("PATH", str(tmp_path))  # no mvn on it
    fresh = local.model_copy(update={"cache_dir": tmp_path / "empty-cache"})
    with pytest.raises(LauncherError, match=r"Maven \(mvn\) not found"):
        localdb.start(fresh)
    assert not localdb.status(fresh).running
