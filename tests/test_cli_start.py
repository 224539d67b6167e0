"""The command line imports only what the command it runs uses (a fast start: see
bench/cli_start.py for the times): checked in a new process, through ``sys.modules``."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from korrel8.cli import LAZY, load_command

# Imported by the command line only for the commands that need them.
HEAVY = ("neo4j", "kubernetes", "apscheduler", "pydantic_settings", "yaml", "ingest")


def imported_by(*args: str) -> set[str]:
    """The top-level packages and korrel8 modules loaded by ``korrel8 ARGS``."""
    script = (
        "import json, sys\n"
        "from korrel8.cli import app\n"
        f"sys.argv = ['korrel8', *{list(args)!r}]\n"
        "try:\n    app()\nexcept SystemExit:\n    pass\n"
        "names = {m.split('.')[0] for m in sys.modules} | {m for m in sys.modules "
        "if m.startswith('korrel8.')}\n"
        "sys.stderr.write(json.dumps(sorted(names)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert "Usage" in done.stdout, done.stdout
    return set(json.loads(done.stderr.strip().splitlines()[-1]))


def test_help_lists_every_command_without_importing_them() -> None:
    loaded = imported_by("--help")
    assert not loaded & set(HEAVY), loaded & set(HEAVY)
    assert not {m for m in loaded if m.startswith("korrel8.") and m != "korrel8.cli"}


def test_goals_loads_the_search_not_the_ingesters_the_service_or_the_renderers() -> None:
    loaded = imported_by("goals", "--help")
    assert {"neo4j", "korrel8.correlate"} <= loaded  # what it uses
    unused = {"kubernetes", "apscheduler", "ingest", "korrel8.rules", "korrel8.service",
              "korrel8.render.html", "korrel8.render.graphml", "korrel8.demo"}  # fmt: skip
    assert not loaded & unused, loaded & unused


@pytest.mark.parametrize("name", list(LAZY))
def test_the_listed_help_is_the_commands_own(name: str) -> None:
    """`korrel8 --help` shows each command's line without loading it: the same line the
    command itself has."""
    _, line = LAZY[name]
    command = load_command(name)
    assert (command.help or "").strip().splitlines()[0] == line
