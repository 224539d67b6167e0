"""How fast the korrel8 command starts: `korrel8 --help` and `korrel8 goals` on a warm graph.

    .venv/bin/python -m bench.cli_start            # 15 runs of each
    .venv/bin/python -m bench.cli_start --runs 31

Each command runs in a new process, as a user runs it, against a throw-away local Neo4j
(see bench.neo4j) holding a small generated cluster with its rules applied; a goal search
is run once first so that Neo4j has planned it (a warm graph). The baseline, measured in
the same run: the same command with every command module imported up front, as the CLI
did before its commands were loaded lazily; and `python -c pass`, the interpreter's own
start. Prints the median and fastest wall time and the median CPU time of each, and the
top imports (`python -X importtime`, cumulative, top level) of one `korrel8 goals` run and
of its baseline. Aim: `korrel8 goals` at most 0.3 s.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.neo4j import bench_settings
from ingest import snapshot
from korrel8 import cluster_gen, rules
from korrel8.graph.store import Store
from korrel8.rules import runner

console = Console()
EAGER = (
    "import korrel8.cli.query, korrel8.cli.rules, korrel8.cli.db, korrel8.cli.demo, "
    "ingest.cli, ingest.k8s.cli, ingest.snapshot_cli, korrel8.service.cli, "
    "korrel8.render.html, korrel8.render.graphml, korrel8.render.dot, korrel8.render.mermaid, "
    "korrel8.render.json, korrel8.console.progress; "
)
RUN = "import sys; from korrel8.cli import app; sys.argv[0] = 'korrel8'; app()"


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one run. The CPU time says the same on a
    loaded machine, where the wall time waits for a core."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{argv[-3:]} failed ({done.returncode}): {done.stderr[-2000:]}")
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return seconds, cpu


def top_imports(argv: list[str], env: dict[str, str], n: int = 8) -> list[tuple[str, float]]:
    """The top-level imports of one run, by cumulative time (seconds)."""
    done = subprocess.run(
        [argv[0], "-X", "importtime", *argv[1:]], env=env, capture_output=True, text=True
    )
    found = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.split("|")
        if name[1:2] != " " and cumulative.strip().isdigit():  # top level: no indent
            found.append((name.strip(), int(cumulative) / 1e6))
    return sorted(found, key=lambda x: -x[1])[:n]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--pods", type=int, default=200)
    args = parser.parse_args()
    py = sys.executable
    with bench_settings(heap="512m") as settings, tempfile.TemporaryDirectory() as tmp:
        with Store.connect(settings) as store:
            store.apply_schema()
            cluster_gen.write_files(cluster_gen.cluster(args.pods, seed=7), Path(tmp))
            snapshot.ingest(store, Path(tmp), "bench")
            runner.apply(store, rules.load(), full=True)
            pod = store.run("MATCH (p:Pod)-[]-() RETURN p.namespace AS ns, p.name AS name LIMIT 1")[
                0
            ]
        password = settings.neo4j_password
        env = {
            **os.environ,
            "NEO4J_URI": str(settings.neo4j_uri),
            "NEO4J_PASSWORD": password.get_secret_value() if password else "",
            "COLUMNS": "200",
        }
        start = f'k8s:Pod:{{"namespace":"{pod["ns"]}","name":"{pod["name"]}"}}'
        goals = ["goals", start, "k8s:Node"]  # a table, as on a terminal or a pipe
        cases = {
            "python -c pass (interpreter)": [py, "-c", "pass"],
            "korrel8 --help": [py, "-c", RUN, "--help"],
            "korrel8 --help, eager (before)": [py, "-c", EAGER + RUN, "--help"],
            "korrel8 goals": [py, "-c", RUN, *goals],
            "korrel8 goals, eager (before)": [py, "-c", EAGER + RUN, *goals],
        }
        timed(cases["korrel8 goals"], env)  # Neo4j plans the search once
        seconds: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
        for _ in range(args.runs):  # interleaved: a load spike hits every case alike
            for name, argv in cases.items():
                seconds[name].append(timed(argv, env))
        table = Table(title=f"CLI start, {args.runs} runs each (seconds)")
        for column in ("command", "wall median", "wall fastest", "CPU median"):
            table.add_column(column, justify="left" if column == "command" else "right")
        for name, values in seconds.items():
            wall, cpu = [w for w, _ in values], [c for _, c in values]
            table.add_row(
                name,
                f"{statistics.median(wall):.3f}",
                f"{min(wall):.3f}",
                f"{statistics.median(cpu):.3f}",
            )
        console.print(table)
        for name in ("korrel8 goals", "korrel8 goals, eager (before)"):
            imports = Table(title=f"Top imports of {name} (-X importtime, cumulative s)")
            imports.add_column("module")
            imports.add_column("seconds", justify="right")
            for module, secs in top_imports(cases[name], env):
                imports.add_row(module, f"{secs:.3f}")
            console.print(imports)


if __name__ == "__main__":
    main()
