"""The rows every ingester yields and the store writes: one shape per node and edge.

A row holds only data; the store adds the bookkeeping (first_seen, last_seen,
changed_at, deleted_at on nodes; first_seen, last_seen, valid_to on edges).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from korrel8.graph import identifiers
from korrel8.model import Class

Scalar = str | int | float | bool | datetime
PropertyValue = Scalar | list[str] | list[int] | list[float] | None

# Set by the store; a row may not carry them. ``props_digest``: a hash of the row's
# properties, so that re-writing an unchanged object writes only its last_seen.
NODE_META = ("ref", "first_seen", "last_seen", "changed_at", "deleted_at", "props_digest")
EDGE_META = ("rule", "first_seen", "last_seen", "valid_to")
# Fields of NodeRow that become properties of the same name.
NODE_FIELDS = ("domain", "class", "source", "cluster", "namespace", "name")


# Cached: a listing holds a few dozen classes and key names (_GOOD_KEYS), each checked
# once, not once per row (measured with `make bench`: a third of a row's construction time).
@lru_cache(maxsize=4096)
def graph_labels(domain: str, class_name: str) -> tuple[str, str]:
    """The Neo4j labels of a node besides :Object: its domain's and its class's."""
    cls = Class(domain=domain, name=class_name)
    return (identifiers.label(cls.domain_label), identifiers.label(cls.label))


@lru_cache(maxsize=4096)
def _canonical_class(domain: str, class_name: str) -> str:
    return Class(domain=domain, name=class_name).name


# Neo4j refuses a whole batch when one value is too large for an index (about 8 KB a key)
# or an integer does not fit 64 bits: such a row is refused alone, before the batch.
MAX_INDEXED_BYTES = 4096
INDEXED_PROPERTIES = frozenset({"k8s.pod.name", "owners_text"})
INT64 = (-(2**63), 2**63 - 1)


def _check_value(key: str, value: PropertyValue) -> None:
    if type(value) is str:  # the common case, checked first
        if key in INDEXED_PROPERTIES:
            _check_indexed(key, value)
        return
    values = value if isinstance(value, list) else [value]
    for v in values:
        if type(v) is str:
            continue
        if isinstance(v, int) and not isinstance(v, bool) and not INT64[0] <= v <= INT64[1]:
            raise ValueError(f"{key} = {v} does not fit a 64-bit integer")
        if isinstance(v, datetime) and v.tzinfo is not None:
            try:  # the driver sends times in UTC: 0001-01-01T00:00:00+14:00 is before year 1
                v.astimezone(UTC)
            except OverflowError:
                raise ValueError(f"{key} = {v.isoformat()} is before year 1 in UTC") from None
    if key in INDEXED_PROPERTIES and isinstance(value, str):
        _check_indexed(key, value)


def _check_indexed(key: str, value: str | None) -> None:
    if value is not None and len(value.encode()) > MAX_INDEXED_BYTES:
        raise ValueError(
            f"{key} of {len(value.encode())} bytes is longer than {MAX_INDEXED_BYTES}, "
            "more than Neo4j can index"
        )


def _check_properties(props: dict[str, PropertyValue], reserved: frozenset[str]) -> None:
    # Inlined for the common case (a checked key, a string value): it runs for every
    # property of every ingested object.
    for key, value in props.items():
        if key in reserved:
            raise ValueError(f"property {key!r} is set by the store, not by a row")
        if key not in _GOOD_KEYS:
            if len(_GOOD_KEYS) >= 16384:  # bounded, whatever the keys a source sends
                _GOOD_KEYS.clear()
            _GOOD_KEYS.add(identifiers.property_key(key))
        if type(value) is not str or key in INDEXED_PROPERTIES:
            _check_value(key, value)


_GOOD_KEYS: set[str] = set()
_NODE_RESERVED = frozenset(NODE_META + NODE_FIELDS)
_EDGE_RESERVED = frozenset(EDGE_META)


class NodeRow(BaseModel):
    """One object: a Kubernetes resource, an alert, or a reference to a signal."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    ref: str = Field(min_length=1)
    domain: str = Field(pattern=r"^[a-z][a-z0-9]*$")
    # The class within the domain, canonical: Pod, Deployment.apps, application.
    class_name: str = Field(alias="class", min_length=1)
    source: str = Field(min_length=1)  # the ingester that owns the node; scopes its sweeps
    cluster: str = Field(min_length=1)
    namespace: str | None = None
    name: str | None = None
    properties: dict[str, PropertyValue] = Field(default_factory=dict)

    @field_validator("properties")
    @classmethod
    def _valid_properties(cls, props: dict[str, PropertyValue]) -> dict[str, PropertyValue]:
        _check_properties(props, _NODE_RESERVED)
        return props

    @model_validator(mode="after")
    def _indexable(self) -> NodeRow:
        for key in ("ref", "cluster", "namespace", "name"):
            _check_indexed(key, getattr(self, key))
        return self

    @model_validator(mode="after")
    def _known_class(self) -> NodeRow:
        # Canonical (k8s:Deployment -> Deployment.apps) and checked: an unknown
        # domain or an ill-formed class is refused here, before any Cypher.
        canonical = _canonical_class(self.domain, self.class_name)
        if canonical != self.class_name:
            object.__setattr__(self, "class_name", canonical)
        return self

    @property
    def graph_labels(self) -> tuple[str, str]:
        return graph_labels(self.domain, self.class_name)

    def to_param(self) -> dict[str, Any]:
        """The row as the node upsert takes it: its ref, its properties as the node holds
        them, and their digest (see ``digest``)."""
        props: dict[str, Any] = {k: v for k, v in self.properties.items() if v is not None}
        props["domain"] = self.domain
        props["class"] = self.class_name
        props["source"] = self.source
        props["cluster"] = self.cluster
        if self.namespace is not None:
            props["namespace"] = self.namespace
        if self.name is not None:
            props["name"] = self.name
        return {"ref": self.ref, "props": props, "digest": digest(props)}


def digest(props: dict[str, Any]) -> str:
    """A hash of a node's properties: equal for equal properties, whatever their order.

    The store keeps it on the node (``props_digest``) and compares it instead of every
    key: an unchanged object costs one comparison and one write (last_seen). A value
    written differently but equal in Neo4j (1 and 1.0) counts as a change: harmless, its
    changed_at moves once more.
    """
    text = repr(sorted(props.items()))
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


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
        _check_properties(props, _EDGE_RESERVED)
        return props

    def to_param(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "goal": self.goal,
            "type": self.type,
            "rule": self.rule,
            "props": {k: v for k, v in self.properties.items() if v is not None},
        }
