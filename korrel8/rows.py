"""The rows every ingester yields and the store writes: one shape per node and edge.

A row holds only data; the store adds the bookkeeping (first_seen, last_seen,
changed_at, deleted_at on nodes; first_seen, last_seen, valid_to on edges).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from korrel8 import identifiers

Scalar = str | int | float | bool | datetime
PropertyValue = Scalar | list[str] | list[int] | list[float] | None

# Set by the store; a row may not carry them.
NODE_META = ("ref", "first_seen", "last_seen", "changed_at", "deleted_at")
EDGE_META = ("rule", "first_seen", "last_seen", "valid_to")
# Fields of NodeRow that become properties of the same name.
NODE_FIELDS = ("domain", "class", "source", "cluster", "namespace", "name")

CLASS_NAME = r"^[A-Za-z][A-Za-z0-9_]*(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$"
_DOMAIN_LABELS = {"k8s": "K8s"}


def domain_label(domain: str) -> str:
    """The Neo4j label of a domain: k8s -> K8s, log -> Log."""
    return identifiers.label(_DOMAIN_LABELS.get(domain, domain[:1].upper() + domain[1:]))


def class_label(class_name: str) -> str:
    """The Neo4j label of a class: Deployment.apps -> Deployment, application -> Application."""
    kind = class_name.split(".", 1)[0]
    return identifiers.label(kind[:1].upper() + kind[1:])


def _check_properties(props: dict[str, PropertyValue], reserved: tuple[str, ...]) -> None:
    for key in props:
        identifiers.property_key(key)
        if key in reserved:
            raise ValueError(f"property {key!r} is set by the store, not by a row")


class NodeRow(BaseModel):
    """One object: a Kubernetes resource, an alert, or a reference to a signal."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    ref: str = Field(min_length=1)
    domain: str = Field(pattern=r"^[a-z][a-z0-9]*$")
    # A kind, optionally with its API group: Pod, Deployment.apps, application.
    class_name: str = Field(alias="class", pattern=CLASS_NAME)
    source: str = Field(min_length=1)  # the ingester that owns the node; scopes its sweeps
    cluster: str = Field(min_length=1)
    namespace: str | None = None
    name: str | None = None
    properties: dict[str, PropertyValue] = Field(default_factory=dict)

    @field_validator("properties")
    @classmethod
    def _valid_properties(cls, props: dict[str, PropertyValue]) -> dict[str, PropertyValue]:
        _check_properties(props, NODE_META + NODE_FIELDS)
        return props

    @property
    def graph_labels(self) -> list[str]:
        return [domain_label(self.domain), class_label(self.class_name)]

    def to_param(self) -> dict[str, Any]:
        props: dict[str, Any] = {k: v for k, v in self.properties.items() if v is not None}
        props.update(
            domain=self.domain,
            source=self.source,
            cluster=self.cluster,
            namespace=self.namespace,
            name=self.name,
        )
        props["class"] = self.class_name
        return {
            "ref": self.ref,
            "labels": self.graph_labels,
            "props": {k: v for k, v in props.items() if v is not None},
        }


class EdgeRow(BaseModel):
    """One relationship, made by a rule, from a start node to a goal node."""

    model_config = ConfigDict(frozen=True)

    start: str = Field(min_length=1)
    goal: str = Field(min_length=1)
    type: str
    rule: str = Field(min_length=1)
    properties: dict[str, PropertyValue] = Field(default_factory=dict)

    @field_validator("type")
    @classmethod
    def _valid_type(cls, value: str) -> str:
        return identifiers.rel_type(value)

    @field_validator("properties")
    @classmethod
    def _valid_properties(cls, props: dict[str, PropertyValue]) -> dict[str, PropertyValue]:
        _check_properties(props, EDGE_META)
        return props

    def to_param(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "goal": self.goal,
            "type": self.type,
            "rule": self.rule,
            "props": {k: v for k, v in self.properties.items() if v is not None},
        }
