"""What one caller may see of the graph: the Kubernetes kinds and namespaces it may list.

A ``Visibility`` is built for a caller of the REST API or MCP (korrel8/api/auth.py asks
Kubernetes) and passed to correlation, which leaves every hidden object out of the search
itself, so that no path runs through one. ``None`` in its place is an operator (the CLI,
the Python API): everything is visible.

What is visible:

- a Kubernetes object of a kind the caller may list in every namespace (cluster-wide), or
  a namespaced object in a namespace where the caller may list that kind; a cluster-scoped
  object (a Node, a PersistentVolume) only with cluster-wide permission;
- a signal node (a log stream, a metric, an alert, a trace) follows the namespace it
  belongs to, by the ``signals`` scope (built from who may list the namespace's Pods,
  whose logs and metrics they are); a signal of no namespace (a node's metric, a
  cluster-wide alert) needs cluster-wide permission, as a cluster-scoped object does;
- with ``clusters`` set, only objects of those clusters (a graph may hold several, and a
  Kubernetes answer holds for its own cluster only).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = ["Scope", "Visibility", "cypher_parameter"]

K8S = "k8s"


@dataclass(frozen=True)
class Scope:
    """Where one kind (or the signals) may be seen."""

    cluster_wide: bool = False  # every namespace, and the cluster-scoped objects
    namespaces: frozenset[str] = frozenset()

    @classmethod
    def of(cls, namespaces: Iterable[str] = (), *, cluster_wide: bool = False) -> Scope:
        return cls(cluster_wide, frozenset(namespaces))

    def allows(self, namespace: str | None) -> bool:
        return self.cluster_wide or (namespace is not None and namespace in self.namespaces)


NOTHING = Scope()


@dataclass(frozen=True)
class Visibility:
    """What one caller may see. ``kinds``: per Kubernetes class (canonical, as the graph
    names it: ``Pod``, ``Deployment.apps``), its scope; a kind not listed is hidden."""

    kinds: Mapping[str, Scope] = field(default_factory=dict)
    signals: Scope = NOTHING
    clusters: frozenset[str] | None = None  # None: every cluster of the graph
    subject: str = ""  # who (a user name, for logs and messages; never a credential)

    def __post_init__(self) -> None:
        # Frozen all the way down: a cached Visibility is shared by concurrent requests.
        object.__setattr__(self, "kinds", MappingProxyType(dict(self.kinds)))

    def sees(
        self, domain: str, class_: str, namespace: str | None, cluster: str | None = None
    ) -> bool:
        """Whether an object of this class, namespace and cluster is visible."""
        if self.clusters is not None and cluster not in self.clusters:
            return False
        scope = self.kinds.get(class_, NOTHING) if domain == K8S else self.signals
        return scope.allows(namespace)

    def sees_object(self, props: Mapping[str, Any]) -> bool:
        """Whether a node (its properties) is visible."""
        namespace, cluster = props.get("namespace"), props.get("cluster")
        return self.sees(
            str(props.get("domain")),
            str(props.get("class")),
            namespace if isinstance(namespace, str) else None,
            cluster if isinstance(cluster, str) else None,
        )

    def cypher(self) -> dict[str, Any]:
        """The ``$visible`` parameter of the statements in cypher/queries/ (see
        ``cypher_parameter``)."""
        return {
            "clusters": None if self.clusters is None else sorted(self.clusters),
            "everywhere": sorted(k for k, s in self.kinds.items() if s.cluster_wide),
            "namespaces": {
                k: sorted(s.namespaces)
                for k, s in self.kinds.items()
                if s.namespaces and not s.cluster_wide
            },
            "signals_everywhere": self.signals.cluster_wide,
            "signal_namespaces": sorted(self.signals.namespaces),
        }


def cypher_parameter(visibility: Visibility | None) -> dict[str, Any] | None:
    """The ``$visible`` parameter: null for an operator (everything visible), else a map.

    Every statement that reads objects for a caller tests a node ``x`` with the same
    predicate (values only, never text from the caller)::

        ($visible IS NULL OR (
          ($visible.clusters IS NULL OR x.cluster IN $visible.clusters) AND
          CASE WHEN x.domain = 'k8s'
            THEN x.class IN $visible.everywhere
                 OR x.namespace IN coalesce($visible.namespaces[x.class], [])
            ELSE $visible.signals_everywhere OR x.namespace IN $visible.signal_namespaces
          END))
    """
    return None if visibility is None else visibility.cypher()
