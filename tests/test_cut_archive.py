"""A snapshot archive cut short is a partial listing: what it holds loads, nothing is swept;
an empty cluster name is refused.

An uncompressed tar cut exactly at a member boundary reads, with Python's tarfile, like a
whole archive that ends there; only the missing end-of-archive marker tells. Loading it
with the sweep on must not mark the pods beyond the cut deleted.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from ingest.snapshot import ingest
from korrel8.errors import SnapshotError
from korrel8.graph.store import Store

PODS = 20


def pod(i: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"web-{i:02d}",
            "namespace": "shop",
            "uid": f"uid-{i}",
            "creationTimestamp": "2026-01-10T10:00:00Z",
        },
        "spec": {"nodeName": "node-1", "containers": [{"name": "app", "image": "app"}]},
        "status": {"phase": "Running"},
    }


def tar_of_pods() -> tuple[bytes, list[int]]:
    """A tar of one JSON file per pod, and the offset where each member's header starts."""
    buffer = io.BytesIO()
    starts = []
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for i in range(PODS):
            data = json.dumps(pod(i)).encode()
            info = tarfile.TarInfo(f"pods/web-{i:02d}.json")
            info.size = len(data)
            starts.append(buffer.tell())
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue(), starts


def live_pods(store: Store) -> set[str]:
    rows = store.run(
        "MATCH (n:Object {class: 'Pod', cluster: 'c1'}) WHERE n.deleted_at IS NULL "
        "RETURN n.name AS name"
    )
    return {r["name"] for r in rows}


def test_a_tar_cut_at_a_member_boundary_sweeps_nothing(store: Store, tmp_path: Path) -> None:
    whole, starts = tar_of_pods()
    archive = tmp_path / "pods.tar"
    archive.write_bytes(whole)
    assert ingest(store, archive, "c1").ok
    assert len(live_pods(store)) == PODS

    # Cut exactly where the 11th member's header starts: 10 whole members, no end marker.
    archive.write_bytes(whole[: starts[PODS // 2]])
    summary = ingest(store, archive, "c1")
    assert not summary.ok
    assert any("end-of-archive marker" in e for e in summary.errors), summary.errors
    assert len(live_pods(store)) == PODS  # the half beyond the cut is not marked deleted
    assert summary.deleted == 0


def test_a_whole_tar_missing_half_its_pods_still_sweeps(store: Store, tmp_path: Path) -> None:
    whole, _ = tar_of_pods()
    archive = tmp_path / "pods.tar"
    archive.write_bytes(whole)
    assert ingest(store, archive, "c1").ok
    # A complete archive of fewer pods is a complete listing: the rest are gone.
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for i in range(PODS // 2):
            data = json.dumps(pod(i)).encode()
            info = tarfile.TarInfo(f"pods/web-{i:02d}.json")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    archive.write_bytes(buffer.getvalue())
    summary = ingest(store, archive, "c1")
    assert summary.ok and summary.deleted == PODS // 2
    assert len(live_pods(store)) == PODS // 2


def test_an_empty_cluster_name_is_refused(store: Store, tmp_path: Path) -> None:
    whole, _ = tar_of_pods()
    archive = tmp_path / "pods.tar"
    archive.write_bytes(whole)
    for name in ("", "  "):
        with pytest.raises(SnapshotError, match="is empty"):
            ingest(store, archive, name)
    assert live_pods(store) == set()
