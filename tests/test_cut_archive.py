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


def test_a_whole_tar_missing_half_its_pods_sweeps_only_when_allowed(
    store: Store, tmp_path: Path
) -> None:
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
    # Half a kind gone at once is held back (the mass-delete guard): partial, not swept.
    summary = ingest(store, archive, "c1")
    assert summary.ok and summary.deleted == 0 and len(live_pods(store)) == PODS
    assert len(summary.partial) == 1 and "Pod in cluster c1" in summary.partial[0]
    summary = ingest(store, archive, "c1", allow_mass_delete=True)
    assert summary.ok and not summary.partial and summary.deleted == PODS // 2
    assert len(live_pods(store)) == PODS // 2


def test_an_empty_cluster_name_is_refused(store: Store, tmp_path: Path) -> None:
    whole, _ = tar_of_pods()
    archive = tmp_path / "pods.tar"
    archive.write_bytes(whole)
    for name in ("", "  "):
        with pytest.raises(SnapshotError, match="is empty"):
            ingest(store, archive, name)
    assert live_pods(store) == set()


def bad_objects() -> dict[str, dict[str, Any]]:
    """Objects with one wrong field each, as the fault run found them, by name."""
    owners = pod(90)
    owners["metadata"] = {**owners["metadata"], "name": "owners", "ownerReferences": ["x", "y"]}
    spec = pod(91)
    spec["metadata"] = {**spec["metadata"], "name": "spec"}
    spec["spec"] = "not a map"
    restarts = pod(92)
    restarts["metadata"] = {**restarts["metadata"], "name": "restarts"}
    restarts["status"] = {"containerStatuses": [{"name": "app", "restartCount": 2**64}]}
    created = pod(93)
    created["metadata"] = {
        **created["metadata"],
        "name": "created",
        "creationTimestamp": "0001-01-01T00:00:00+14:00",
    }
    long_name = pod(94)
    long_name["metadata"] = {**long_name["metadata"], "name": "n" * 100_000}
    return {
        "owners": owners,
        "spec": spec,
        "restarts": restarts,
        "created": created,
        "n" * 100_000: long_name,
    }


def test_one_bad_object_is_skipped_and_the_others_load(store: Store, tmp_path: Path) -> None:
    snapshot = tmp_path / "snapshot"
    snapshot.mkdir()
    good = [pod(i) for i in range(5)]
    bad = bad_objects()
    (snapshot / "pods.json").write_text(
        json.dumps({"apiVersion": "v1", "kind": "List", "items": [*good, *bad.values()]})
    )
    summary = ingest(store, snapshot, "c1")
    # The good ones load, in the same batch as the bad ones.
    loaded = live_pods(store)
    assert {f"web-{i:02d}" for i in range(5)} <= loaded
    # Each bad one is reported by name (a long name cut short) and is not a node.
    assert not summary.ok
    for name in ("owners", "spec", "restarts", "created"):
        assert any(f"/{name}:" in e for e in summary.errors), (name, summary.errors)
    assert any("longer than" in e for e in summary.errors), summary.errors
    assert not {"spec", "restarts", "created", "n" * 100_000} & loaded
    # An error makes the listing partial: nothing swept.
    assert summary.deleted == 0


def test_a_compression_bomb_is_refused_from_its_declared_size(store: Store, tmp_path: Path) -> None:
    # 8 MiB of zeros compress to a few KiB; with a 1 MiB limit the member is refused from
    # its header, before it is decompressed, and the listing is partial.
    archive = tmp_path / "bomb.tar.gz"
    with tarfile.open(archive, mode="w:gz") as tar:
        for i in range(3):
            data = json.dumps(pod(i)).encode()
            info = tarfile.TarInfo(f"pods/web-{i:02d}.json")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        info = tarfile.TarInfo("pods/zeros.json")
        info.size = 8 * 1024 * 1024
        tar.addfile(info, io.BytesIO(bytes(info.size)))
    assert archive.stat().st_size < 100_000
    summary = ingest(store, archive, "c1", max_file_bytes=1024 * 1024)
    assert not summary.ok and summary.deleted == 0
    assert any(
        "zeros.json" in e and "more than the 1048576-byte limit" in e for e in summary.errors
    )
    assert live_pods(store) == {"web-00", "web-01", "web-02"}  # what came before it loads
