"""Rule discovery's precision on the must-gather-shaped fixture, before and after.

    .venv/bin/python -m bench.discover_precision

Loads tests/data/must-gather-discover into a throw-away local Neo4j (see
bench.store_upsert; BENCH_NEO4J_URI / BENCH_NEO4J_PASSWORD name another server to clear
and use instead), then runs, on the same graph, the discovery of commit 2c0e481 (the
baseline: any class whose names or labels match) and today's, and prints for each how
many rules it proposed, how many are true (tests/data/must-gather-discover/expected.yaml)
and how many wrong.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType

from rich.console import Console
from rich.table import Table

from bench.neo4j import bench_store, clear
from korrel8.rules import discover as current
from tests.discover_precision import load, measure

BASELINE = "2c0e481"
ROOT = Path(__file__).resolve().parent.parent


def baseline_module() -> ModuleType:
    source = subprocess.run(
        ["git", "show", f"{BASELINE}:korrel8/rules/discover.py"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    path = Path(tempfile.mkdtemp()) / "discover_baseline.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("discover_baseline", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def main() -> None:
    baseline = baseline_module()
    with bench_store(heap="512m") as store:
        clear(store)
        crds = load(store)
        rows = [
            (f"baseline ({BASELINE})", measure(store, baseline.discover, crds)),
            ("now", measure(store, current.discover, crds)),
        ]
    table = Table(title="rules discover on tests/data/must-gather-discover")
    for column in ("discovery", "proposed", "correct", "wrong", "precision"):
        table.add_column(column, justify="left" if column == "discovery" else "right")
    for name, p in rows:
        table.add_row(name, str(p.proposed), str(p.correct), str(len(p.wrong)), f"{p.share:.0%}")
    Console().print(table)
    for name, p in rows:
        print(f"{name} wrong: {', '.join(p.wrong) or 'none'}", file=sys.stderr)


if __name__ == "__main__":
    main()
