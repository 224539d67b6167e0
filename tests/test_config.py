"""Settings: the environment, a korrel8.yaml, and the local database as the default."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from korrel8.config import load_settings
from korrel8.errors import ConfigError, StoreUnavailableError
from korrel8.graph.store import resolve_target

ENV = ("NEO4J_URI", "NEO4J_USER", "NEO4J_PASSWORD", "NEO4J_DATABASE", "KORREL8_CONFIG")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no korrel8.yaml unless a test writes one
    monkeypatch.setenv("KORREL8_LOCAL__DATA_DIR", str(tmp_path / "local"))


def test_environment_names_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEO4J_URI", "neo4j+s://abc.databases.neo4j.io")
    monkeypatch.setenv("NEO4J_PASSWORD", "s3cret-pw")
    monkeypatch.setenv("NEO4J_DATABASE", "korrel8")
    target = resolve_target(load_settings())
    assert (target.uri, target.user, target.database) == (
        "neo4j+s://abc.databases.neo4j.io", "neo4j", "korrel8",
    )  # fmt: skip
    assert target.password == "s3cret-pw" and "s3cret-pw" not in repr(target)
    assert "s3cret-pw" not in repr(load_settings())


def test_yaml_file_in_the_working_directory(tmp_path: Path) -> None:
    (tmp_path / "korrel8.yaml").write_text(
        "neo4j_uri: bolt://db:7687\nbatch_size: 2000\nlocal:\n  bolt_port: 17687\n"
        "rules:\n  enable: [node-pods]\n"
    )
    settings = load_settings()
    assert settings.neo4j_uri == "bolt://db:7687" and settings.batch_size == 2000
    assert settings.local.bolt_port == 17687 and settings.rules.enable == ["node-pods"]


def test_environment_wins_over_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "korrel8.yaml").write_text("neo4j_uri: bolt://from-file:7687\n")
    monkeypatch.setenv("NEO4J_URI", "bolt://from-env:7687")
    assert load_settings().neo4j_uri == "bolt://from-env:7687"


def test_named_config_file_must_exist(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KORREL8_CONFIG", str(tmp_path / "missing.yaml"))
    with pytest.raises(ConfigError, match=r"KORREL8_CONFIG=.*missing.yaml: no such file"):
        load_settings()


def test_invalid_setting_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "korrel8.yaml").write_text("batch_size: -3\n")
    with pytest.raises(ConfigError, match="batch_size"):
        load_settings()


def test_nothing_configured_means_the_local_database(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailableError, match="korrel8 db start"):
        resolve_target(load_settings())
    local = tmp_path / "local"
    local.mkdir()
    (local / "state.json").write_text(json.dumps({"password": "generated-pw"}))
    target = resolve_target(load_settings())
    assert (target.uri, target.user, target.password) == (
        "bolt://127.0.0.1:7687", "neo4j", "generated-pw",
    )  # fmt: skip
