"""The offline ceiling: ``neo4j-admin database import full`` of node rows as CSV.

The local launcher's jars (korrel8/graph/localdb.py, from Maven Central) hold the admin
tool (``org.neo4j.cli.AdminTool``, with ``neo4j-import-tool``): it runs as
``java -cp '<jars>/*' org.neo4j.cli.AdminTool database import full ...`` with NEO4J_HOME
and NEO4J_CONF set, into a new home of its own, with no server running on it.
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from korrel8.config import LocalNeo4jSettings
from korrel8.graph import localdb
from korrel8.graph.rows import NodeRow

DONE = re.compile(r"IMPORT DONE in (?:(\d+)m )?(\d+)s (\d+)ms")


@dataclass(frozen=True)
class Imported:
    seconds: float  # the tool's own time (IMPORT DONE in ...)
    overhead: float  # the rest of the wall time: the JVM's start and the tool's set-up


def _csv_type(values: list[Any]) -> str:
    sample = next((v for v in values if v is not None), "")
    base = {bool: "boolean", int: "long", float: "double", datetime: "datetime"}
    if isinstance(sample, list):
        inner = next((x for v in values if isinstance(v, list) for x in v), "")
        return base.get(type(inner), "string") + "[]"
    return base.get(type(sample), "string")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ";".join(_cell(v) for v in value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def write_csv(rows: list[NodeRow], path: Path) -> None:
    """The rows as one node file: ref as the ID, labels, then every property column."""
    params = [(row.graph_labels, row.to_param()) for row in rows]
    keys = sorted({k for _, p in params for k in p["props"]})
    types = {k: _csv_type([p["props"].get(k) for _, p in params]) for k in keys}
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["ref:ID", ":LABEL", *(f"{k}:{types[k]}" for k in keys)])
        for labels, p in params:
            out.writerow(
                [p["ref"], ";".join(("Object", *labels)), *(_cell(p["props"].get(k)) for k in keys)]
            )


def admin_import(rows: list[NodeRow]) -> Imported:
    """Import ``rows`` into a new database with neo4j-admin; its time."""
    local = LocalNeo4jSettings()
    lib = localdb.jar_dir(local)
    with tempfile.TemporaryDirectory(prefix="korrel8-import-") as tmp:
        home = Path(tmp)
        (home / "conf").mkdir()
        (home / "conf" / "neo4j.conf").write_text(
            f"server.directories.data={home / 'data'}\n"
            f"server.directories.logs={home / 'logs'}\n"
            "server.memory.pagecache.size=1g\n"
        )
        nodes = home / "nodes.csv"
        write_csv(rows, nodes)
        env = {**os.environ, "NEO4J_HOME": str(home), "NEO4J_CONF": str(home / "conf")}
        cmd = [
            localdb.java(), "-Xmx1g", "-cp", f"{lib}/*", "org.neo4j.cli.AdminTool",
            "database", "import", "full", f"--nodes={nodes}", "--array-delimiter=;",
            f"--report-file={home / 'import.report'}", "neo4j",
        ]  # fmt: skip
        started = time.perf_counter()
        result = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - started
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-20:])
        raise RuntimeError(f"neo4j-admin database import failed:\n{tail}")
    done = DONE.search(result.stdout + result.stderr)
    if done is None:
        raise RuntimeError("neo4j-admin database import did not say IMPORT DONE")
    minutes, secs, millis = (int(g or 0) for g in done.groups())
    seconds = minutes * 60 + secs + millis / 1000
    return Imported(seconds=seconds, overhead=wall - seconds)
