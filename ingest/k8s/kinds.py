"""Which Kubernetes kinds korrel8 lists: the built-in ones (``kinds.yaml``) and the
custom resources that API discovery finds.

Custom resources are the resources that a CustomResourceDefinition defines; API discovery
says which version of each is served and preferred. Aggregated APIs (metrics.k8s.io...)
are not custom resources: their objects are computed on each request, not stored.
"""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from ingest.k8s.api import Connection, get_json
from korrel8.errors import ConfigError, KubernetesError
from korrel8.model import Class

log = logging.getLogger(__name__)

KINDS_FILE = Path(__file__).with_name("kinds.yaml")
METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
METADATA_ITEM = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
# Aggregated discovery (one document for every group), with the legacy form as fallback.
DISCOVERY_ACCEPT = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
    "application/json"
)
CRDS_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


class KindSpec(BaseModel):
    """One resource korrel8 lists: where it is served and how its nodes are named."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str
    group: str = ""
    version: str
    plural: str
    namespaced: bool
    metadata_only: bool = False
    name_key: str | None = None
    uid_key: str | None = None
    custom: bool = False  # defined by a CustomResourceDefinition
    listed: bool = True  # False: recognised in snapshots, never listed from a cluster

    @property
    def class_name(self) -> str:
        """The canonical class name: ``Pod``, ``Deployment.apps``, ``Widget.example.com``."""
        return self.cls.name

    @property
    def cls(self) -> Class:
        return _class(self.kind, self.group)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def path(self) -> str:
        """The cluster-wide collection: ``/api/v1/pods``, ``/apis/apps/v1/deployments``."""
        root = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        return f"{root}/{self.plural}"

    @property
    def accept(self) -> str:
        """The Accept header of a list: metadata only where the data must not be read."""
        return METADATA_LIST if self.metadata_only else "application/json"

    @property
    def watch_accept(self) -> str:
        return METADATA_ITEM if self.metadata_only else "application/json"

    @property
    def resource(self) -> str:
        """``plural.group`` (as a CRD is named), or ``plural`` in the core group."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


@cache
def _class(kind: str, group: str) -> Class:
    # Class construction validates and canonicalizes; one per kind is enough.
    return Class(domain="k8s", name=f"{kind}.{group}" if group else kind)


class _KindsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kinds: list[KindSpec] = Field(min_length=1)


@cache
def builtin_kinds() -> tuple[KindSpec, ...]:
    """The built-in kinds listed from every cluster, in listing order."""
    return tuple(spec for spec in known_kinds() if spec.listed)


@cache
def known_kinds() -> tuple[KindSpec, ...]:
    """Every kind of ``kinds.yaml``: those listed, and those only recognised in snapshots."""
    try:
        data = yaml.safe_load(KINDS_FILE.read_text(encoding="utf-8"))
        kinds = _KindsFile.model_validate(data).kinds
    except (OSError, ValueError) as exc:  # ValueError covers YAML and validation errors
        raise ConfigError(f"cannot read the Kubernetes kinds from {KINDS_FILE}: {exc}") from exc
    for spec in kinds:
        spec.cls  # noqa: B018 - an ill-formed kind or group fails here, naming itself
    return tuple(kinds)


def custom_kinds(conn: Connection, selection: str | list[str]) -> list[KindSpec]:
    """The custom resources to list: ``"all"``, ``"none"``, or a list of ``plural.group``.

    Raises KubernetesError when discovery fails; a named resource that the cluster does
    not serve is logged and left out.
    """
    if selection == "none" or selection == []:
        return []
    if isinstance(selection, str) and selection != "all":
        raise ConfigError(
            f"sources.kubernetes.custom_resources: {selection!r} is not 'all', 'none' "
            "or a list of plural.group names (widgets.example.com)"
        )
    defined = _crd_names(conn)
    found = [spec for spec in discover(conn) if spec.resource in defined]
    if selection == "all":
        return found
    wanted = set(selection)
    missing = wanted - {spec.resource for spec in found}
    if missing:
        log.warning(
            "custom resources not served by %s: %s", conn.context, ", ".join(sorted(missing))
        )
    return [spec for spec in found if spec.resource in wanted]


def _crd_names(conn: Connection) -> set[str]:
    """The names (``plural.group``) of the cluster's CustomResourceDefinitions."""
    names: set[str] = set()
    token: str | None = None
    while True:
        query: dict[str, Any] = {"limit": 500}
        if token:
            query["continue"] = token
        page = get_json(conn, CRDS_PATH, query, accept=METADATA_LIST)
        names.update(item["metadata"]["name"] for item in page.get("items") or [])
        token = (page.get("metadata") or {}).get("continue")
        if not token:
            return names


def discover(conn: Connection) -> list[KindSpec]:
    """Every listable top-level resource in its group's preferred version."""
    specs: list[KindSpec] = []
    for root in ("/api", "/apis"):
        doc = get_json(conn, root, accept=DISCOVERY_ACCEPT)
        if doc.get("kind") == "APIGroupDiscoveryList":
            specs.extend(_from_aggregated(doc))
        else:
            specs.extend(_from_legacy(conn, root, doc))
    return specs


def _spec(group: str, version: str, res: dict[str, Any], namespaced: bool) -> KindSpec | None:
    if "list" not in (res.get("verbs") or []) or "/" in res.get("name", "/"):
        return None
    kind = res.get("kind") or (res.get("responseKind") or {}).get("kind")
    plural = res.get("name") or res.get("resource")
    if not kind or not plural:
        return None
    return KindSpec(
        kind=kind, group=group, version=version, plural=plural, namespaced=namespaced,
        custom=True,
    )  # fmt: skip


def _from_aggregated(doc: dict[str, Any]) -> list[KindSpec]:
    specs = []
    for group in doc.get("items") or []:
        versions = group.get("versions") or []
        if not versions:
            continue
        version = versions[0]  # listed in order of preference
        for res in version.get("resources") or []:
            entry = {**res, "name": res.get("resource")}
            spec = _spec(
                (group.get("metadata") or {}).get("name", ""),
                version["version"],
                entry,
                res.get("scope") == "Namespaced",
            )
            if spec is not None:
                specs.append(spec)
    return specs


def _from_legacy(conn: Connection, root: str, doc: dict[str, Any]) -> list[KindSpec]:
    if root == "/api":
        versions = [("", doc["versions"][0])]
    else:
        versions = [(g["name"], g["preferredVersion"]["version"]) for g in doc.get("groups", [])]
    specs = []
    for group, version in versions:
        path = f"/api/{version}" if not group else f"/apis/{group}/{version}"
        try:
            resources = get_json(conn, path).get("resources") or []
        except KubernetesError as exc:  # one broken aggregated API must not hide the rest
            log.warning("discovery of %s on %s failed: %s", path, conn.context, exc)
            continue
        for res in resources:
            spec = _spec(group, version, res, bool(res.get("namespaced")))
            if spec is not None:
                specs.append(spec)
    return specs


__all__ = ["KindSpec", "builtin_kinds", "custom_kinds", "discover", "known_kinds"]
