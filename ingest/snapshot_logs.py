"""The container logs a must-gather keeps, as the log stream nodes of that snapshot.

``oc adm inspect`` (openshift/oc, pkg/cli/admin/inspect/pod.go, ``gatherContainerLogs``)
saves the logs of every container of each running pod at

    namespaces/<ns>/pods/<pod>/<container>/<container>/logs/current.log
                                                              previous.log

and ``current.insecure.log`` / ``previous.insecure.log`` when it had to skip the kubelet's
TLS verification. Each container with such files becomes the node of its log stream, made
as ingest/logs.py makes the streams it derives from pods (the same ref, class
``log:application`` or ``log:infrastructure`` by namespace, the LogQL of the log store
convention), with ``origin: must-gather`` and ``log_files``: where its lines are, named as
the snapshot names files (``ARCHIVE:MEMBER`` inside an archive). korrel8 shows those files
as the stream's data query (korrel8/result.py). The files are never read.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import PurePosixPath

from ingest import logs
from korrel8.graph.rows import NodeRow

__all__ = ["LOG_NAMES", "ORIGIN", "Container", "container_of", "to_rows"]

LOG_NAMES = frozenset(
    {"current.log", "previous.log", "current.insecure.log", "previous.insecure.log"}
)
ORIGIN = "must-gather"


@dataclass(frozen=True, order=True)
class Container:
    """The container whose logs a file holds."""

    namespace: str
    pod: str
    container: str


def container_of(name: str) -> Container | None:
    """The container of a must-gather log file (``name`` ends with its path), else None."""
    parts = PurePosixPath(name).parts
    if len(parts) < 8:
        return None
    namespaces, namespace, pods, pod, container, again, logs_dir, file = parts[-8:]
    if (namespaces, pods, logs_dir) != ("namespaces", "pods", "logs") or container != again:
        return None
    return Container(namespace, pod, container) if file in LOG_NAMES else None


def to_rows(
    files: Mapping[Container, Sequence[str]], cluster: str, convention: str
) -> Iterator[NodeRow]:
    """One row per container with log files. ``convention``: a ``sources.loki.convention``
    setting (``lokistack``...), for the LogQL and labels the stream would have in Loki."""
    querygen = logs.querygen_convention(convention)
    by_pod: dict[tuple[str, str], list[str]] = {}
    for c in sorted(files):
        by_pod.setdefault((c.namespace, c.pod), []).append(c.container)
    pods = (
        logs.K8sObject(cluster, namespace, pod, tuple(containers))
        for (namespace, pod), containers in by_pod.items()
    )
    for stream in logs.pod_streams(pods, querygen):
        where = sorted(files[Container(stream.namespace, stream.pod, stream.container)])
        for row in logs.to_rows([replace(stream, origin=ORIGIN)], querygen, convention):
            yield row.model_copy(update={"properties": {**row.properties, "log_files": where}})
