"""Peak memory of `korrel8 ingest snapshot`: compression bombs against a large real-looking
snapshot, each loaded by its own process (peak RSS from wait4), on a throw-away Neo4j.

    python -m bench.ingest_memory [--pods 10000]

The baseline, measured in the same run, is a snapshot of one pod: what the process costs
before any data (Python, the driver, the schema). A bomb must cost about that, refused
within a few MB of decompression; the large snapshot costs what its parsing holds (one
file at a time) and the rows of one store batch.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.neo4j import bench_settings, console
from korrel8 import cluster_gen
from korrel8.config import Settings
from korrel8.graph.store import Store

GIB = 1024**3
MIB = 1024**2


class Zeros(io.RawIOBase):
    """``size`` zero bytes, never all in memory."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self.left)
        buffer[:n] = bytes(n)
        self.left -= n
        return n


def pod_json(name: str) -> bytes:
    obj = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "b"}}
    return json.dumps(obj).encode()


def tar_bomb(path: Path, mode: str, member: str, size: int) -> Path:
    with tarfile.open(path, mode) as tar:  # type: ignore[call-overload]
        first = pod_json("before-the-bomb")
        info = tarfile.TarInfo("pods/before.json")
        info.size = len(first)
        tar.addfile(info, io.BytesIO(first))
        info = tarfile.TarInfo(member)
        info.size = size
        tar.addfile(info, Zeros(size))
    return path


def zip_bomb(path: Path, size: int) -> Path:
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("pods.yaml", "w", force_zip64=True) as out,
    ):
        chunk = b"#" * MIB
        for _ in range(size // MIB):
            out.write(chunk)
    return path


def large_snapshot(path: Path, pods: int) -> tuple[Path, int]:
    """A tar.gz of `kubectl get -o json` Lists of a generated cluster; its size unpacked."""
    with tempfile.TemporaryDirectory(prefix="korrel8-bench-lists-") as tmp:
        cluster_gen.write_files(cluster_gen.cluster(pods=pods, seed=1), Path(tmp))
        unpacked = sum(f.stat().st_size for f in Path(tmp).iterdir())
        with tarfile.open(path, "w:gz") as tar:
            tar.add(tmp, arcname="lists")
    return path, unpacked


@dataclass
class Run:
    case: str
    path: Path
    unpacked: int
    code: int = 0
    seconds: float = 0.0
    peak_mib: float = 0.0
    outcome: str = ""


def load(run: Run, settings: Settings, workdir: Path) -> None:
    """``korrel8 ingest snapshot`` in a child process: its exit code, time and peak RSS."""
    assert settings.neo4j_uri and settings.neo4j_password
    env = {
        **os.environ,
        "NEO4J_URI": settings.neo4j_uri,
        "NEO4J_PASSWORD": settings.neo4j_password.get_secret_value(),
    }
    env.pop("KORREL8_CONFIG", None)
    korrel8 = Path(sys.executable).parent / "korrel8"
    argv = [str(korrel8), "ingest", "snapshot", str(run.path), "--output", "json"]
    argv += ["--cluster", run.case.split()[0]]
    out, err = workdir / "stdout", workdir / "stderr"
    with out.open("w") as stdout, err.open("w") as stderr:
        started = time.monotonic()
        child = subprocess.Popen(argv, env=env, stdout=stdout, stderr=stderr, cwd=workdir)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        run.seconds = time.monotonic() - started
    run.code = child.returncode
    run.peak_mib = usage.ru_maxrss / 1024  # KiB on Linux
    try:
        summary = json.loads(out.read_text().strip().splitlines()[-1])
        errors = summary["errors"]
        # The error's cause, without the archive's path.
        cause = errors[0].split(": ", 1)[-1] if errors else ""
        run.outcome = cause[:90] if errors else f"{sum(summary['objects'].values()):,} nodes"
    except (IndexError, ValueError, KeyError):
        run.outcome = err.read_text().strip()[-110:]


def report(runs: list[Run]) -> None:
    table = Table(title="korrel8 ingest snapshot: peak memory (one process per row)")
    for column in ("case", "archive", "unpacked", "exit", "seconds", "peak RSS", "outcome"):
        table.add_column(column, justify="left" if column in ("case", "outcome") else "right")
    for run in runs:
        table.add_row(
            run.case, f"{run.path.stat().st_size / MIB:,.1f} MiB",
            f"{run.unpacked / MIB:,.0f} MiB", str(run.code), f"{run.seconds:.1f}",
            f"{run.peak_mib:,.0f} MiB", run.outcome,
        )  # fmt: skip
    Console(width=200).print(table)  # a row per case, also off a terminal


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pods", type=int, default=10_000, help="pods of the large snapshot")
    parser.add_argument("--bomb-gib", type=int, default=1, help="GiB of zeros in each bomb")
    args = parser.parse_args()
    bomb = args.bomb_gib * GIB
    with tempfile.TemporaryDirectory(prefix="korrel8-bench-mem-") as tmp:
        work = Path(tmp)
        console.print("Writing the archives...")
        baseline = work / "one-pod.tar.gz"
        with tarfile.open(baseline, "w:gz") as tar:
            data = pod_json("alone")
            info = tarfile.TarInfo("pods/alone.json")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        large, unpacked = large_snapshot(work / "generated.tar.gz", args.pods)
        runs = [
            Run("baseline (1 pod)", baseline, len(data)),
            Run("bomb-log (tar.gz, zeros in a log)", tar_bomb(
                work / "bomb-log.tar.gz", "w:gz", "ns/pods/p/c/c/logs/current.log", bomb), bomb),
            Run("bomb-other (tar.gz, zeros in a .bin)", tar_bomb(
                work / "bomb-other.tar.gz", "w:gz", "data/zeros.bin", bomb), bomb),
            Run("bomb-xz (tar.xz, zeros in a .bin)", tar_bomb(
                work / "bomb-xz.tar.xz", "w:xz", "data/zeros.bin", bomb), bomb),
            Run("bomb-yaml (tar.gz, zeros as pods.yaml)", tar_bomb(
                work / "bomb-yaml.tar.gz", "w:gz", "pods.yaml", bomb), bomb),
            Run("bomb-zip (zip, comment lines)", zip_bomb(work / "bomb.zip", bomb), bomb),
            Run(f"generated ({args.pods:,} pods, tar.gz)", large, unpacked),
        ]  # fmt: skip
        with bench_settings() as settings:
            with Store.connect(settings) as store:
                store.apply_schema()
            for run in runs:
                console.print(f"loading {run.case}...")
                load(run, settings, work)
        report(runs)


if __name__ == "__main__":
    main()
