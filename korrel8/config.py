"""Settings shared by the CLI, the Python API and the ingesters.

Sources, highest priority first: keyword arguments, the environment
(``NEO4J_URI``, ``NEO4J_USER``, ``NEO4J_PASSWORD``, ``NEO4J_DATABASE``; everything
else as ``KORREL8_<FIELD>``, nested with ``__`` such as ``KORREL8_LOCAL__BOLT_PORT``),
then a YAML file: ``$KORREL8_CONFIG`` if set, else ``./korrel8.yaml`` if present.

With no Neo4j URI configured, korrel8 uses the local database that
``korrel8 db start`` runs, with the password that command stored for it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import AliasChoices, BaseModel, Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from korrel8.errors import ConfigError

CONFIG_ENV = "KORREL8_CONFIG"
DEFAULT_CONFIG_FILE = Path("korrel8.yaml")


def default_data_dir() -> Path:
    return platformdirs.user_data_path("korrel8") / "neo4j"


def default_cache_dir() -> Path:
    return platformdirs.user_cache_path("korrel8")


class LocalNeo4jSettings(BaseModel):
    """The Neo4j that ``korrel8 db start`` runs on this machine."""

    host: str = "127.0.0.1"
    bolt_port: int = Field(default=7687, ge=1, le=65535)
    http_port: int = Field(default=7474, ge=1, le=65535)
    data_dir: Path = Field(default_factory=default_data_dir)
    cache_dir: Path = Field(default_factory=default_cache_dir)
    heap: str = Field(default="1g", pattern=r"^[0-9]+[kmgKMG]$")
    pagecache: str = Field(default="512m", pattern=r"^[0-9]+[kmgKMG]$")
    start_timeout: float = Field(default=180.0, gt=0)

    @property
    def bolt_uri(self) -> str:
        return f"bolt://{self.host}:{self.bolt_port}"

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.http_port}"


class HttpSourceSettings(BaseModel):
    """An HTTP back-end korrel8 reads from (Alertmanager, Prometheus, Loki, Tempo).

    Credentials are SecretStr: they never appear in repr, logs or errors.
    """

    url: str | None = None  # None: the source is not configured
    bearer_token: SecretStr | None = None
    bearer_token_file: Path | None = None  # read at each request: tokens rotate
    username: str | None = None
    password: SecretStr | None = None
    ca_file: Path | None = None
    verify_tls: bool = True
    timeout: float = Field(default=10.0, gt=0)
    retries: int = Field(default=3, ge=0)
    interval_seconds: float = Field(default=60.0, gt=0)  # how often `serve` ingests it
    cluster: str = "default"  # the cluster name given to what this source reports


class KubernetesSettings(BaseModel):
    """The clusters korrel8 lists; see ingest/k8s/sync.py."""

    enabled: bool = True  # False: `serve` leaves Kubernetes out even where a kubeconfig exists
    kubeconfig: Path | None = None  # None: $KUBECONFIG, ~/.kube/config, or in-cluster
    contexts: list[str] = Field(default_factory=list)  # empty: the current context
    cluster_names: dict[str, str] = Field(default_factory=dict)  # context -> name
    page_size: int = Field(default=500, ge=1)
    custom_resources: str | list[str] = "all"  # "all", "none", or a list of plural.group
    watch: bool = True  # False: relist on every interval
    interval_seconds: float = Field(default=300.0, gt=0)
    # `serve`: a watch broken this long without recovering marks the source down.
    watch_retry_seconds: float = Field(default=30.0, gt=0)


class LogStoreSettings(HttpSourceSettings):
    # How log streams are labelled, and so how LogQL selects them.
    convention: str = Field(default="lokistack", pattern=r"^(lokistack|promtail|otel)$")


class SourcesSettings(BaseModel):
    kubernetes: KubernetesSettings = Field(default_factory=KubernetesSettings)
    alertmanager: HttpSourceSettings = Field(default_factory=HttpSourceSettings)
    prometheus: HttpSourceSettings = Field(default_factory=HttpSourceSettings)
    loki: LogStoreSettings = Field(default_factory=LogStoreSettings)
    tempo: HttpSourceSettings = Field(default_factory=HttpSourceSettings)


class RulesSettings(BaseModel):
    """Which rules run: the defaults in cypher/rules/, plus a user's, minus the disabled."""

    dirs: list[Path] = Field(default_factory=list)  # extra rule directories
    enable: list[str] = Field(default_factory=list)  # rules that are off by default
    disable: list[str] = Field(default_factory=list)


class ServeSettings(BaseModel):
    """``korrel8 serve``: where it answers /healthz and /metrics, and its housekeeping."""

    host: str = "127.0.0.1"  # 0.0.0.0 in a container (the Dockerfile sets it)
    port: int = Field(default=9464, ge=0, le=65535)  # 0: any free port
    # Each run starts up to this much later than its interval says (at most a tenth of
    # the interval), so that sources configured alike do not all hit Neo4j at once.
    jitter_seconds: float = Field(default=5.0, ge=0)
    graph_interval_seconds: float = Field(default=60.0, gt=0)  # graph-size gauges
    purge_interval_seconds: float = Field(default=3600.0, gt=0)  # retention purge
    # HTTPS for the serve port (and `korrel8 web`): a PEM certificate and its key, both or
    # neither (plain HTTP).
    tls_cert: Path | None = None
    tls_key: Path | None = None


class ApiSettings(BaseModel):
    """The REST API and MCP (``korrel8 serve``, ``korrel8 web``): who may ask, and what each
    caller sees (korrel8/api/auth.py)."""

    # kubernetes: every request needs a bearer token that Kubernetes accepts (TokenReview),
    # and sees what its user may list (SubjectAccessReview). none: every caller sees the
    # whole graph. Unset: none on a loopback address, kubernetes on any other.
    auth: Literal["kubernetes", "none"] | None = None
    # How long a token's identity and permissions are kept before Kubernetes is asked again:
    # a revoked RoleBinding takes effect within this time.
    auth_cache_seconds: float = Field(default=60.0, ge=0, le=3600)
    # auth: none beyond loopback serves the whole graph to anyone who reaches the port;
    # refused unless this is set (and then logged as a warning at start).
    allow_insecure_no_auth: bool = False
    # The graph's clusters this Kubernetes' RBAC speaks for; empty: every cluster (one
    # cluster per graph). With several, objects of the others are hidden from callers.
    auth_clusters: list[str] = Field(default_factory=list)


class Settings(BaseSettings):
    """Every setting korrel8 reads; see the module docstring for where from."""

    model_config = SettingsConfigDict(
        env_prefix="KORREL8_",
        env_nested_delimiter="__",
        populate_by_name=True,
        extra="ignore",
    )

    neo4j_uri: str | None = Field(
        default=None, validation_alias=AliasChoices("NEO4J_URI", "neo4j_uri")
    )
    neo4j_user: str = Field(
        default="neo4j", validation_alias=AliasChoices("NEO4J_USER", "neo4j_user")
    )
    neo4j_password: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("NEO4J_PASSWORD", "neo4j_password")
    )
    neo4j_database: str = Field(
        default="neo4j", validation_alias=AliasChoices("NEO4J_DATABASE", "neo4j_database")
    )
    # Rows per UNWIND transaction: of 1000, 5000 and 10000, 10000 wrote nodes fastest in
    # `make bench` (edges were even across sizes), at a few MB of transaction state.
    batch_size: int = Field(default=10_000, ge=1, le=100_000)
    # How long deleted nodes and closed edges are kept before the purge removes them.
    retention_hours: float = Field(default=72.0, gt=0)
    # The deepest goal or neighbour search a user may ask for (default depth: 4).
    max_depth: int = Field(default=8, ge=1, le=20)
    # Seconds a goal, neighbour or get query may run before Neo4j stops it (a transaction
    # timeout, so the server stops working even when the client has gone away).
    query_timeout: float = Field(default=10.0, gt=0, le=86_400)
    # The largest file (uncompressed) a snapshot may hold: a compression bomb is refused from
    # its declared size before it is decompressed.
    snapshot_max_file_mb: int = Field(default=512, ge=1, le=65_536)
    # The largest YAML or JSON document a snapshot file may hold, and its deepest nesting
    # (Kubernetes objects nest about 15 deep; libyaml crashes the process near 100,000).
    snapshot_max_document_mb: int = Field(default=256, ge=1, le=65_536)
    snapshot_max_depth: int = Field(default=200, ge=8, le=10_000)
    # Archives: the most they may decompress to in all, and the largest ratio of
    # decompressed to compressed bytes (YAML gzips about 10:1; zeros 1000:1), checked as
    # they stream, so that a bomb is refused before it costs memory or minutes.
    snapshot_max_total_mb: int = Field(default=16_384, ge=1, le=1_048_576)
    snapshot_max_ratio: float = Field(default=200.0, ge=2, le=100_000)
    # A sweep that would mark deleted more than this share of a kind's live nodes (and at
    # least mass_delete_min_objects) is held: a snapshot sweeps it only with
    # --allow-mass-delete, the live ingester when the next listing agrees.
    mass_delete_share: float = Field(default=0.10, ge=0, le=1)
    mass_delete_min_objects: int = Field(default=10, ge=1, le=1_000_000)
    local: LocalNeo4jSettings = Field(default_factory=LocalNeo4jSettings)
    sources: SourcesSettings = Field(default_factory=SourcesSettings)
    rules: RulesSettings = Field(default_factory=RulesSettings)
    serve: ServeSettings = Field(default_factory=ServeSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    # Extra label vocabulary files merged over the packaged one (korrel8/vocabulary.yaml).
    vocabularies: list[Path] = Field(default_factory=list)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = config_file()
        if path is not None:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=path))
        return tuple(sources)


def config_file() -> Path | None:
    """The YAML file settings are read from, if any."""
    named = os.environ.get(CONFIG_ENV)
    if named:
        path = Path(named)
        if not path.is_file():
            raise ConfigError(f"{CONFIG_ENV}={named}: no such file")
        return path
    return DEFAULT_CONFIG_FILE if DEFAULT_CONFIG_FILE.is_file() else None


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment and config file, with ``overrides`` on top."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValueError as exc:  # pydantic's ValidationError and YAML errors
        raise ConfigError(f"invalid korrel8 configuration: {exc}") from exc
