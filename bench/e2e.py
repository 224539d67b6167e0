"""Cold start to first answer: a generated cluster as a snapshot, loaded into an empty
database with korrel8's own commands, then the demo's goal search.

    make bench-e2e                      # or: .venv/bin/python -m bench.e2e
    .venv/bin/python -m bench.e2e --pods 50000

Phases, each a ``korrel8`` command in a process of its own (as a user runs them), timed
with its peak resident memory (RSS):

1. ``korrel8 ingest snapshot DIR --cluster korrel8-demo``
2. ``korrel8 ingest logs --once`` (the log streams, derived from the pods without Loki)
3. ``korrel8 rules apply --full``
4. ``korrel8 goals START log`` (the demo's question: the logs of the pods that mount the
   filling claim)

The snapshot is the demo's cluster (korrel8/demo.py, korrel8/cluster_gen.py) grown to
``--pods``; writing it is shown apart. The database is a throw-away local Neo4j
(bench/neo4j.py) started from a new data directory, its first start shown apart and not
in the total (aim: the total <= 30 s at 10k pods with Neo4j running); or BENCH_NEO4J_URI,
cleared first. Peak RSS must stay bounded as the cluster grows: compare two sizes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.neo4j import bench_settings, clear
from korrel8 import demo
from korrel8.config import Settings
from korrel8.graph.store import Store

console = Console()
KORREL8 = [sys.executable, "-m", "korrel8.cli"]
WRITE_SNAPSHOT = (
    "import json, sys; from pathlib import Path; from korrel8 import demo; "
    "print(json.dumps(demo.write_snapshot(Path(sys.argv[1]), int(sys.argv[2]))))"
)


@dataclass(frozen=True)
class Phase:
    name: str
    seconds: float
    peak_rss_mb: float
    note: str = ""


def run_phase(name: str, args: list[str], env: dict[str, str]) -> tuple[Phase, str]:
    """Run one korrel8 command; its wall time, its peak RSS and its stdout.

    The child is reaped with wait4, which returns its own resource use."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen([*KORREL8, *args], env=env, stdout=out, stderr=err, text=True)
        _, status, rusage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        raise SystemExit(f"korrel8 {' '.join(args)} failed ({proc.returncode}):\n{stderr[-3000:]}")
    return Phase(name, seconds, rusage.ru_maxrss / 1024), stdout


def env_for(settings: Settings) -> dict[str, str]:
    assert settings.neo4j_uri and settings.neo4j_password
    return {
        **os.environ,
        "NEO4J_URI": settings.neo4j_uri,
        "NEO4J_PASSWORD": settings.neo4j_password.get_secret_value(),
        "KORREL8_BATCH_SIZE": str(settings.batch_size),
        "NO_COLOR": "1",
        "COLUMNS": "200",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pods", type=int, default=10_000)
    args = parser.parse_args()

    started = time.perf_counter()
    with bench_settings(batch_size=10_000, heap="2g") as settings:
        first_start = time.perf_counter() - started
        env = env_for(settings)
        with Store.connect(settings) as store:
            clear(store)
        with tempfile.TemporaryDirectory(prefix="korrel8-e2e-") as tmp:
            snap = Path(tmp)
            t = time.perf_counter()
            # In a child: a process inherits its parent's peak RSS (Linux keeps it across
            # exec), so the parent must stay small for the phases' peaks to be their own.
            written = json.loads(
                subprocess.run(
                    [sys.executable, "-c", WRITE_SNAPSHOT, str(snap), str(args.pods)],
                    check=True, capture_output=True, text=True,
                ).stdout
            )  # fmt: skip
            generated = time.perf_counter() - t
            objects = sum(v for k, v in written.items() if k != "alerts")
            console.print(f"Snapshot: {objects:,} objects ({args.pods:,} pods) in {generated:.1f}s")
            phases = []
            phase, _ = run_phase(
                "ingest snapshot",
                ["ingest", "snapshot", str(snap), "--cluster", demo.CLUSTER, "--output", "json"],
                env,
            )
            phases.append(phase)
        phase, _ = run_phase("ingest logs (derived)", ["ingest", "logs", "--once"], env)
        phases.append(phase)
        phase, _ = run_phase("rules apply --full", ["rules", "apply", "--full"], env)
        phases.append(phase)
        phase, out = run_phase(
            "goals (the demo's question)", ["goals", demo.START, demo.GOAL, "--output", "json"], env
        )
        found = json.loads(out).get("goal_counts", {})
        goals = sum(found.values()) if isinstance(found, dict) else found
        phases.append(Phase(phase.name, phase.seconds, phase.peak_rss_mb, f"{goals} goals"))

    table = Table(title=f"Cold start to first answer, {args.pods:,} pods, {objects:,} objects")
    for col in ("phase", "seconds", "peak RSS MB", "note"):
        table.add_column(col, justify="left" if col in ("phase", "note") else "right")
    table.add_row("(apart) Neo4j first start, new data dir", f"{first_start:.1f}", "", "")
    table.add_row("(apart) writing the snapshot", f"{generated:.1f}", "", "")
    for p in phases:
        table.add_row(p.name, f"{p.seconds:.1f}", f"{p.peak_rss_mb:,.0f}", p.note)
    total = sum(p.seconds for p in phases)
    table.add_row("total", f"{total:.1f}", f"{max(p.peak_rss_mb for p in phases):,.0f}", "")
    console.print(table)
    console.print(f"aim: total <= 30 s at 10k pods with Neo4j running; load: {os.getloadavg()}")


if __name__ == "__main__":
    main()
