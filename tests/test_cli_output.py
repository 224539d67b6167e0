"""What the commands print through a pipe, into a file and on a terminal: tables whose
names, rules and queries are whole on one line (tab-separated off a terminal), JSON that
parses, errors that are never wrapped, and progress as bars or as a few summary lines."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from korrel8 import rules
from korrel8.cli import app
from korrel8.config import load_settings
from korrel8.console import output
from korrel8.console.output import Column, Table
from korrel8.console.progress import Tracker
from korrel8.graph.store import Store
from tests.servers.neo4j import Neo4jServer
from tests.test_correlate import Mission, build_mission

runner = CliRunner()

CLASS = "k8s:PersistentVolumeClaim"
RULE = "alert-persistentvolumeclaim-reverse"
LOGQL = '{k8s_namespace_name="shop", k8s_pod_name="db-0", k8s_container_name="postgres"}'


def sample() -> Table:
    table = Table("Goals of alert:alert:{alertname: KubePersistentVolumeFillingUp}", [
        Column("class"), Column("rule"), Column("data query"), Column("n", numeric=True),
        Column("status", prose=True),
    ])  # fmt: skip
    table.add(CLASS, RULE, LOGQL, 3, "failed: the server said no to this listing, try again")
    table.add("log:application", "pod-logs", "a\tb\nc\\d", 12, "ok")
    table.add("total", "", "", 15, "", style="bold", section=True)
    return table


def terminal(width: int) -> Console:
    return Console(file=io.StringIO(), force_terminal=True, width=width, color_system=None)


def printed(console: Console) -> str:
    assert isinstance(console.file, io.StringIO)
    return console.file.getvalue()


def tsv_tables(text: str) -> dict[str, list[dict[str, str]]]:
    """Tab-separated tables by title: ``# title``, a header, rows, a blank line."""
    tables: dict[str, list[dict[str, str]]] = {}
    for block in text.split("\n\n"):
        lines = block.strip("\n").split("\n")
        if not lines[0].startswith("# "):
            continue
        header = lines[1].split("\t")
        rows = [line.split("\t") for line in lines[2:]]
        assert all(len(row) == len(header) for row in rows), block
        tables[lines[0][2:]] = [dict(zip(header, row, strict=True)) for row in rows]
    return tables


# --- the shared module, without a server ------------------------------------------------


def test_off_a_terminal_a_table_is_tab_separated_with_every_value_whole() -> None:
    console = Console(file=io.StringIO(), width=40)  # not a terminal; narrow, ignored
    output.print_table(sample(), console)
    assert printed(console) == (
        "# Goals of alert:alert:{alertname: KubePersistentVolumeFillingUp}\n"
        "class\trule\tdata query\tn\tstatus\n"
        f"{CLASS}\t{RULE}\t{LOGQL}\t3\tfailed: the server said no to this listing, try again\n"
        "log:application\tpod-logs\ta\\tb\\nc\\\\d\t12\tok\n"
        "total\t\t\t15\t\n"
        "\n"
    )


@pytest.mark.parametrize("width", [240, 80, 40])
def test_on_a_terminal_names_rules_and_queries_are_never_wrapped(width: int) -> None:
    console = terminal(width)
    output.print_table(sample(), console)
    text = printed(console)
    lines = text.splitlines()
    for whole in (CLASS, RULE, LOGQL, "KubePersistentVolumeFillingUp}"):
        assert any(whole in line for line in lines), (whole, text)
    assert "…" not in text
    # Only the prose column folds, at a space.
    assert ("failed: the server said no to this listing, try again" in text) == (width == 240)
    assert "┃" in text if width == 240 else "┃" not in text  # borders only when it fits


def test_messages_and_errors_are_never_wrapped(capsys: pytest.CaptureFixture[str]) -> None:
    path = "/srv/must-gather/" + "/".join(f"quay-io-openshift-release-dev-{i}" for i in range(6))
    output.error(f"{path}/namespaces/shop/core/pods.yaml:3:1: invalid YAML [brackets] stay")
    output.message(f"loading {path}")
    captured = capsys.readouterr()
    assert captured.err == (
        f"error: {path}/namespaces/shop/core/pods.yaml:3:1: invalid YAML [brackets] stay\n"
    )
    assert captured.out == f"loading {path}\n"
    narrow = terminal(40)  # any console, not only korrel8's own
    output.message(f"korrel8 goals '{path}' log", narrow)
    assert printed(narrow) == f"korrel8 goals '{path}' log\n"


def test_off_a_terminal_progress_is_one_summary_line_per_task() -> None:
    now = [0.0]
    console = Console(file=io.StringIO())
    with Tracker(console, clock=lambda: now[0]) as tracker:
        tracker.say("loading snap as cluster lab")
        files = tracker.task("loading", unit="files", total=1000)
        for n in range(1, 1001):
            now[0] += 0.01
            files.update(n, note=f"{n * 5} objects")
        files.finish("5000 objects")
        quiet = tracker.task("ConfigMap", unit="objects")
        quiet.update(3)
        quiet.finish(quiet=True)  # its caller prints a table instead
    assert printed(console) == (
        "loading snap as cluster lab\nloading: 1000 files in 10.0 s (100 files/s), 5000 objects\n"
    )


def test_on_a_terminal_progress_shows_items_rate_and_time_left() -> None:
    now = [0.0]
    console = terminal(120)
    tracker = Tracker(console, clock=lambda: now[0])
    assert tracker.bars is not None
    files = tracker.task("loading", unit="files", total=100)
    for n in range(1, 51):
        now[0] += 0.1
        files.update(n, note=f"{n * 3} objects")
    console.print(tracker.bars.get_renderable())
    line = printed(console).splitlines()[-1]
    # 50 of 100 at 10 files/s: 5 s left.
    shown = r"loading .* 50/100 +10 files/s +\d:\d\d:\d\d +0:00:05 +150 objects"
    assert re.search(shown, line), line


def test_rules_list_through_a_pipe_prints_every_rule_whole(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KORREL8_")}
    env["COLUMNS"] = "60"  # a narrow terminal's, which a pipe must not follow

    def korrel8(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "korrel8.cli", *args], cwd=tmp_path, env=env,
            capture_output=True, text=True, timeout=120, check=True,
        )  # fmt: skip
        return done.stdout

    settings = load_settings()
    loaded = rules.load(settings.rules.dirs, settings.rules.enable, settings.rules.disable)
    [table] = tsv_tables(korrel8("rules", "list")).values()
    assert [row["name"] for row in table] == [r.name for r in loaded]
    by_name = {row["name"]: row for row in table}
    for rule in loaded:
        start = [rule.start] if isinstance(rule.start, str) else rule.start
        assert by_name[rule.name]["start"] == ", ".join(start)
    assert any(CLASS in row["goal"] for row in table)
    as_json = json.loads(korrel8("rules", "list", "--output", "json"))
    assert [r["name"] for r in as_json] == [r.name for r in loaded]


def test_db_status_as_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KORREL8_LOCAL__DATA_DIR", str(tmp_path / "data"))
    result = runner.invoke(app, ["db", "status", "--output", "json"])
    assert result.exit_code == 3  # not running, as without --output
    status = json.loads(result.stdout)
    assert status["running"] is False and status["data_dir"] == str(tmp_path / "data")


# --- commands against the real Neo4j ----------------------------------------------------


def env_for(server: Neo4jServer) -> dict[str, str]:
    return {"NEO4J_URI": server.uri, "NEO4J_USER": server.user, "NEO4J_PASSWORD": server.password}


@pytest.fixture
def mission(store: Store) -> Mission:
    return build_mission(store)


def invoke(server: Neo4jServer, *args: str) -> Any:
    result = runner.invoke(app, list(args), env=env_for(server))
    assert result.exit_code == 0, result.output
    return result


def test_goals_through_a_pipe_print_whole_queries_and_rules(
    neo4j_server: Neo4jServer, mission: Mission
) -> None:
    data = json.loads(
        invoke(neo4j_server, "goals", mission.alert, "log", "--output", "json").stdout
    )
    tables = tsv_tables(invoke(neo4j_server, "goals", mission.alert, "log").stdout)
    goals = tables[f"Goals of {mission.alert}"]
    queries = {o["name"]: o["data"]["query"] for o in data["objects"] if o["goal"]}
    assert {row["name"]: (row["language"], row["data query"]) for row in goals} == {
        name: ("LogQL", query) for name, query in queries.items()
    }
    assert all("\n" not in q and len(q) > 60 for q in queries.values())  # long, and whole
    paths = [row["path"] for row in tables["Paths (the rule on each edge)"]]
    assert paths and all("-[alert-pvc]-> k8s:PersistentVolumeClaim uploads" in p for p in paths)
    counts = {row["class"]: row["found"] for row in tables["Objects per class"]}
    assert counts[CLASS] == "1"


def test_get_neighbours_and_counts_as_tables_and_json(
    neo4j_server: Neo4jServer, mission: Mission
) -> None:
    tables = tsv_tables(invoke(neo4j_server, "get", mission.pvc).stdout)
    [row] = tables[f"Objects of {mission.pvc}"]
    assert row["class"] == CLASS and row["name"] == "uploads"
    got = json.loads(invoke(neo4j_server, "get", mission.pvc, "--output", "json").stdout)
    assert [o["ref"] for o in got["objects"]] == [mission.pvc]

    near = json.loads(
        invoke(neo4j_server, "neighbours", mission.pvc, "--depth", "1", "--output", "json").stdout
    )
    assert len([o for o in near["objects"] if o["goal"]]) == 2
    tables = tsv_tables(invoke(neo4j_server, "neighbours", mission.pvc, "--depth", "1").stdout)
    assert {r["name"] for r in tables[f"Neighbours of {mission.pvc}"]} == {"web-0", "web-1"}

    tables = tsv_tables(invoke(neo4j_server, "counts").stdout)
    nodes = {r["class"]: r["count"] for r in tables["Nodes per class"]}
    edges = {r["type"]: r["count"] for r in tables["Edges per type"]}
    counts = json.loads(invoke(neo4j_server, "counts", "--output", "json").stdout)
    # Nodes per class name (n.class), as the store counts them.
    assert nodes["PersistentVolumeClaim"] == "2" and counts["nodes"]["PersistentVolumeClaim"] == 2
    assert {k: str(v) for k, v in counts["edges"].items()} == {
        k: v for k, v in edges.items() if k != "total"
    }


def test_rules_apply_and_snapshot_summaries_as_tables_and_json(
    neo4j_server: Neo4jServer, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no korrel8.yaml from the working directory
    snapshot = tmp_path / "snap"
    snapshot.mkdir()
    for i in range(450):  # more than one line's worth of files, before
        meta = {"name": f"cm-{i:03}", "namespace": "shop"}
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta}
        (snapshot / f"cm-{i:03}.json").write_text(json.dumps(cm))
    claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
             "metadata": {"name": "data-db-0", "namespace": "shop"}}  # fmt: skip
    (snapshot / "claims.json").write_text(json.dumps(claim))

    loaded = invoke(neo4j_server, "ingest", "snapshot", str(snapshot), "--cluster", "lab")
    [table] = tsv_tables(loaded.stdout).values()
    written = {"ConfigMap": 450, "PersistentVolumeClaim": 1}
    assert {r["class"]: int(r["nodes written"]) for r in table} == written
    # Off a terminal: a few lines, not one per 200 files.
    progress = loaded.stderr.splitlines()
    assert len(progress) <= 3, progress
    assert any(line.startswith("loading: 451 files in ") for line in progress), progress

    again = invoke(neo4j_server, "ingest", "snapshot", str(snapshot), "--cluster", "lab",
                   "--output", "json")  # fmt: skip
    summary = json.loads(again.stdout)
    assert summary["objects"] == written and summary["ok"] is True

    runs = json.loads(invoke(neo4j_server, "rules", "apply", "--output", "json").stdout)
    assert {"rule", "mode", "edges", "closed", "seconds"} <= set(runs[0])
    applied = invoke(neo4j_server, "rules", "apply")
    [table] = tsv_tables(applied.stdout).values()
    assert [r["rule"] for r in table][:-1] == [r["rule"] for r in runs]
    assert table[-1]["rule"] == "total"
    assert len(applied.stderr.splitlines()) <= 2, applied.stderr


def test_an_error_naming_a_long_path_is_one_line(
    neo4j_server: Neo4jServer, store: Store, tmp_path: Path
) -> None:
    path = tmp_path.joinpath(*(f"a-rather-long-directory-name-{i}" for i in range(4)), "x.yaml")
    result = runner.invoke(app, ["ingest", "snapshot", str(path)], env=env_for(neo4j_server))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {path}: no such file or directory; ")
    assert result.stderr.count("\n") == 1, result.stderr
