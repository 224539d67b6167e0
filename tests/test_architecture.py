"""The package layering of docs/architecture.md: each part imports only what its row allows."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

CORE = {
    "korrel8.model",
    "korrel8.errors",
    "korrel8.config",
    "korrel8.labels",
    "korrel8.querygen",
    "korrel8.visibility",
}
GRAPH = {"korrel8.graph"}
# What each part may import of the project, besides itself.
ALLOWED: dict[str, set[str]] = {
    "core": CORE,
    "graph": CORE,
    "ingest": CORE | GRAPH,
    "rules": CORE | GRAPH,
    "correlate": CORE | GRAPH | {"korrel8.result", "korrel8.correlate", "korrel8.expand"},
    "render": CORE | {"korrel8.result", "korrel8.render"},
    # auth asks Kubernetes through the ingester's connection (kubeconfig, in-cluster, retries).
    "api": CORE | GRAPH | {"korrel8.result", "korrel8.correlate", "korrel8.api", "ingest.k8s.api"},
    "service": CORE | GRAPH | {"ingest", "korrel8.rules", "korrel8.service", "korrel8.api"},
    "console": CORE | {"korrel8.console"},
}


def part_of(module: str) -> str | None:
    if module in CORE:
        return "core"
    if module.endswith((".cli", "_cli")) or ".cli." in module:
        return None  # a command (ingest's too) belongs to the command line
    for prefix, part in (
        ("korrel8.graph", "graph"),
        ("ingest", "ingest"),
        ("korrel8.rules", "rules"),
        ("korrel8.render", "render"),
        ("korrel8.service", "service"),
        ("korrel8.api", "api"),
        ("korrel8.console", "console"),
    ):
        if module == prefix or module.startswith(prefix + "."):
            return part
    if module in {"korrel8.correlate", "korrel8.result", "korrel8.expand"}:
        return "correlate"
    return None  # the CLI, the demo and the generators may import anything


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return {m for m in found if m.split(".")[0] in {"korrel8", "ingest"}}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def allowed(imported: str, rules: set[str]) -> bool:
    # `from korrel8 import labels` names korrel8.labels; a bare package import is harmless.
    return imported in {"korrel8", "ingest"} or any(
        imported == r or imported.startswith(r + ".") for r in rules
    )


SOURCES = sorted([*(ROOT / "korrel8").rglob("*.py"), *(ROOT / "ingest").rglob("*.py")])


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_a_module_imports_only_what_its_part_may(path: Path) -> None:
    part = part_of(module_name(path))
    if part is None:
        return
    rules = ALLOWED[part]
    bad = sorted(m for m in imports_of(path) if not allowed(m, rules) and part_of(m) != part)
    # A package's own name (korrel8.rules in `from korrel8.rules import Rule`) is its part.
    assert not bad, f"{path.relative_to(ROOT)} ({part}) imports {bad}"
