"""What a snapshot may not do to korrel8: sweep half a kind because half its files are
missing, crash the process with a deep document, exhaust memory with a compression bomb,
or read files outside it through symlinks.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest
from typer import Typer
from typer.testing import CliRunner

from ingest.snapshot import Limits, ingest, iter_objects
from ingest.snapshot_cli import register
from korrel8.errors import SnapshotFormatError
from korrel8.graph.store import Store
from tests.servers.neo4j import Neo4jServer

MIB = 1024 * 1024


def pod(name: str, namespace: str = "shop") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}"},
        "spec": {"nodeName": "node-1", "containers": [{"name": "app", "image": "app"}]},
        "status": {"phase": "Running"},
    }


def write_pods(directory: Path, names: list[str]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        (directory / f"{name}.json").write_text(json.dumps(pod(name)))


def live_pods(store: Store, cluster: str) -> set[str]:
    rows = store.run(
        "MATCH (n:Object {class: 'Pod', cluster: $cluster}) WHERE n.deleted_at IS NULL "
        "RETURN n.name AS name",
        cluster=cluster,
    )
    return {r["name"] for r in rows}


@pytest.fixture
def cli_env(
    neo4j_server: Neo4jServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """The environment of a korrel8 command that uses the test Neo4j."""
    monkeypatch.chdir(tmp_path)  # no korrel8.yaml from the working directory
    env = {
        "NEO4J_URI": neo4j_server.uri,
        "NEO4J_USER": neo4j_server.user,
        "NEO4J_PASSWORD": neo4j_server.password,
    }
    monkeypatch.delenv("KORREL8_CONFIG", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return {**os.environ, **env}


def snapshot_app() -> Typer:
    app = Typer()
    register(app)
    app.command("other")(lambda: None)  # a group, so that the command is named as in korrel8
    return app


# --------------------------------------------------------------------------- mass delete


def test_a_directory_missing_half_its_files_sweeps_only_with_allow_mass_delete(
    store: Store, cli_env: dict[str, str], tmp_path: Path
) -> None:
    snapshot = tmp_path / "snap"
    names = [f"web-{i:02d}" for i in range(40)]
    write_pods(snapshot, names)
    app = snapshot_app()
    load = ["snapshot", str(snapshot), "--cluster", "lab"]
    assert CliRunner().invoke(app, load).exit_code == 0
    for name in names[20:]:
        (snapshot / f"{name}.json").unlink()

    held = CliRunner().invoke(app, load)
    assert held.exit_code == 1, held.output
    assert "Pod in cluster lab: the listing lacks 20 of the 40 objects" in held.stderr
    assert "--allow-mass-delete" in held.stderr
    assert live_pods(store, "lab") == set(names)  # nothing swept

    (snapshot / "other.json").write_text(json.dumps(pod("web-new")))
    allowed = CliRunner().invoke(app, [*load, "--allow-mass-delete", "--output", "json"])
    assert allowed.exit_code == 0, allowed.output
    assert json.loads(allowed.stdout)["deleted"] == 20
    assert live_pods(store, "lab") == {*names[:20], "web-new"}


def test_a_few_objects_gone_sweep_as_usual(store: Store, tmp_path: Path) -> None:
    snapshot = tmp_path / "snap"
    names = [f"web-{i:02d}" for i in range(40)]
    write_pods(snapshot, names)
    assert ingest(store, snapshot, "lab").ok
    for name in names[:3]:  # 7.5%, under the 10% share
        (snapshot / f"{name}.json").unlink()
    summary = ingest(store, snapshot, "lab")
    assert summary.deleted == 3 and not summary.partial
    assert live_pods(store, "lab") == set(names[3:])


# --------------------------------------------------------------------------- depth and size


DEEP = 100_000


def test_documents_nested_100k_deep_are_refused_without_a_crash(
    store: Store, cli_env: dict[str, str], tmp_path: Path
) -> None:
    """libyaml's composer recurses: 100,000 levels crashed `ingest snapshot` (SIGSEGV)."""
    snapshot = tmp_path / "snap"
    write_pods(snapshot, ["web-00"])
    deep = {
        "flow.yaml": "[" * DEEP + "]" * DEEP,
        "block.yaml": "- " * DEEP + "x\n",
        "mixed.yaml": "a: " + "{b: " * DEEP + "1" + "}" * DEEP + "\n",
        "flow.json": "[" * DEEP + "]" * DEEP,
        "objects.json": '{"a": ' * DEEP + "1" + "}" * DEEP,
    }
    for name, text in deep.items():
        (snapshot / name).write_text(text)
    korrel8 = [str(Path(sys.executable).parent / "korrel8")]
    done = subprocess.run(
        [*korrel8, "ingest", "snapshot", str(snapshot), "--cluster", "deep"],
        env=cli_env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 1, (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr
    for name in deep:
        assert f"{snapshot / name}" in done.stderr, name
    assert done.stderr.count("nested more than 200 levels deep (snapshot_max_depth") == len(deep)
    assert live_pods(store, "deep") == {"web-00"}  # the rest loaded


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_the_depth_limit_is_exact(tmp_path: Path, suffix: str) -> None:
    limits = Limits(depth=20)
    # A List of one pod whose labels sit 20 levels down (List, items, pod, and 17 more).
    at_limit = pod("web-00")
    nested: dict[str, Any] = at_limit["spec"]
    for _ in range(15):
        nested["x"] = {}
        nested = nested["x"]
    nested["leaf"] = [1]
    doc = {"apiVersion": "v1", "kind": "List", "items": [at_limit]}
    path = tmp_path / f"ok{suffix}"
    path.write_text(json.dumps(doc, indent=1) if suffix == ".json" else as_block_yaml(doc))
    assert [o["metadata"]["name"] for _, o in iter_objects(path, limits=limits)] == ["web-00"]
    nested["leaf"] = [[1]]  # one more
    path.write_text(json.dumps(doc, indent=1) if suffix == ".json" else as_block_yaml(doc))
    with pytest.raises(SnapshotFormatError, match="nested more than 20 levels deep"):
        list(iter_objects(path, limits=limits))


def as_block_yaml(doc: Any) -> str:
    import yaml

    return yaml.safe_dump(doc, default_flow_style=False)


def test_a_document_larger_than_the_limit_is_refused(tmp_path: Path) -> None:
    small = json.dumps(pod("web-00"))
    large = json.dumps({**pod("web-01"), "padding": "x" * 4000})
    path = tmp_path / "pods.yaml"
    path.write_text(f"{small}\n---\n{large}\n---\n{small}\n")
    errors: list[SnapshotFormatError] = []
    found = list(iter_objects(path, errors.append, limits=Limits(document_bytes=2000)))
    assert not found  # checked before any document is parsed
    assert len(errors) == 1 and "snapshot_max_document_mb" in str(errors[0])
    assert f"{path}:2: a document of" in str(errors[0])  # where it begins


def test_aliases_of_lists_and_maps_are_refused(tmp_path: Path) -> None:
    """A few aliases can stand for billions of nodes (the "billion laughs")."""
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    path = tmp_path / "laughs.yaml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(SnapshotFormatError, match=r"an alias \(\*a0\) of a list or map"):
        list(iter_objects(path))


# --------------------------------------------------------------------------- bombs


class Zeros(io.RawIOBase):
    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self.left)
        buffer[:n] = bytes(n)
        self.left -= n
        return n


def tar_with(path: Path, mode: str, members: list[tuple[str, int | bytes]]) -> Path:
    """A tar whose members hold the bytes given, or that many zeros."""
    with tarfile.open(path, mode) as tar:  # type: ignore[call-overload]
        for name, content in members:
            info = tarfile.TarInfo(name)
            if isinstance(content, bytes):
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
            else:
                info.size = content
                tar.addfile(info, Zeros(content))
    return path


@pytest.mark.parametrize("compression", ["gz", "bz2", "xz"])
def test_a_compression_bomb_in_a_tar_is_refused_as_it_streams(
    store: Store, tmp_path: Path, compression: str
) -> None:
    """Zeros in a member korrel8 does not even read (a log): refused after a few MB, by
    its ratio, before the rest is decompressed; what came before it loaded. (Its peak
    memory with 1 GiB: bench/ingest_memory.py.)"""
    good = json.dumps(pod("web-00")).encode()
    members: list[tuple[str, int | bytes]] = [("pods/web-00.json", good), ("logs/x.bin", 64 * MIB)]
    archive = tar_with(tmp_path / f"bomb.tar.{compression}", f"w:{compression}", members)
    assert archive.stat().st_size < 8 * MIB
    summary = ingest(store, archive, "c1")
    assert not summary.ok and "snapshot_max_ratio" in summary.errors[0]
    assert "compression bomb?" in summary.errors[0]
    assert live_pods(store, "c1") == {"web-00"}


def test_a_zip_member_beyond_the_ratio_is_refused_from_its_header(
    store: Store, tmp_path: Path
) -> None:
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        out.writestr("pods.yaml", "#" * (64 * MIB))
    summary = ingest(store, archive, "c1")
    assert not summary.ok and "snapshot_max_ratio" in summary.errors[0]


def test_an_archive_beyond_the_total_limit_is_refused(store: Store, tmp_path: Path) -> None:
    members: list[tuple[str, int | bytes]] = [
        (f"pods/web-{i:02d}.json", json.dumps(pod(f"web-{i:02d}")).encode() + b" " * 100_000)
        for i in range(30)
    ]
    archive = tar_with(tmp_path / "big.tar", "w", members)
    summary = ingest(store, archive, "c1", limits=Limits(total_bytes=MIB))
    assert not summary.ok and "snapshot_max_total_mb" in summary.errors[0]
    assert 0 < len(live_pods(store, "c1")) < 30  # what came first loaded; nothing swept


# --------------------------------------------------------------------------- symlinks


def test_symlinks_out_of_a_directory_snapshot_are_not_followed(
    store: Store, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    write_pods(outside, ["secret-pod"])
    write_pods(outside / "dir", ["other-pod"])
    snapshot = tmp_path / "snap"
    write_pods(snapshot / "pods", ["web-00"])
    (snapshot / "linked.json").symlink_to(outside / "secret-pod.json")
    (snapshot / "linked-dir").symlink_to(outside / "dir")
    (snapshot / "again.json").symlink_to(snapshot / "pods" / "web-00.json")  # inside: read
    stale = tmp_path / "old"
    write_pods(stale, ["web-00", "stale"])
    assert ingest(store, stale, "c1").ok

    summary = ingest(store, snapshot, "c1")
    assert len(summary.errors) == 2, summary.errors
    assert all("a symlink out of the snapshot" in e for e in summary.errors)
    assert any(str(snapshot / "linked.json") in e for e in summary.errors)
    assert any(str(snapshot / "linked-dir") in e for e in summary.errors)
    # Neither target was read, and the load is partial: the stale pod is kept.
    assert live_pods(store, "c1") == {"web-00", "stale"}
