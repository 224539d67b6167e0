"""``korrel8 demo``: the mission's example on a generated cluster."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from korrel8.config import load_settings
from korrel8.console.output import Format, fail, out
from korrel8.console.progress import Tracker
from korrel8.demo import DEFAULT_SIZE as DEFAULT_DEMO_SIZE
from korrel8.errors import Korrel8Error
from korrel8.render import json as render_json


def demo(
    size: Annotated[
        int, typer.Option(help="Pods in the generated cluster (the shop's at least).")
    ] = DEFAULT_DEMO_SIZE,
    html: Annotated[Path, typer.Option(help="Where to write the investigation graph.")] = Path(
        "korrel8-demo.html"
    ),
    snapshot_dir: Annotated[
        Path | None,
        typer.Option(help="Keep the generated snapshot here (default: a temporary directory)."),
    ] = None,
    output: Annotated[
        Format,
        typer.Option("--output", help="The report (tables), or the example's result as json."),
    ] = Format.table,
) -> None:
    """The mission's example on a generated cluster: from the alert of a filling
    PersistentVolumeClaim to the logs of the pods that mount it, with the rules that
    explain each step. Starts the local Neo4j unless one is configured."""
    from korrel8 import demo as demo_mod

    try:
        settings = load_settings()
        with Tracker() as tracker:
            found = demo_mod.run(
                settings, size=size, html=html, snapshot_dir=snapshot_dir, out=out,
                tracker=tracker, print_report=False,
            )  # fmt: skip
        if output is Format.json:
            sys.stdout.write(render_json.to_json(found.result) + "\n")
        else:
            demo_mod.report(found, settings, out)  # below the finished bars
    except Korrel8Error as exc:
        raise fail(exc) from exc
