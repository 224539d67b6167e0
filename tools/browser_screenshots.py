"""Screenshots of korrel8's graph in Neo4j Browser, for docs/browser.md and the README.

    python tools/browser_screenshots.py [--out docs/img] [--style cypher/browser/style.grass]
    python tools/browser_screenshots.py --write-style cypher/browser/style.grass

The first form starts a throw-away local Neo4j (korrel8/graph/localdb.py, free ports, a temporary
data directory), loads the demo graph (korrel8/demo.py: the ``shop`` namespace, its
filling claim's alert, derived log streams, the default rules), deletes the pod ``db-1``
the way the Kubernetes ingester does (marked, edges closed), then drives the Browser that
server serves in headless Chromium (Playwright for Python, ``pip install -e '.[docs]'``,
with the system's ``chromium``: Playwright's own browser download is not needed):

1. logs in, and drops the style file on the window as docs/browser.md tells a user to;
2. checks that Browser stored exactly that style (its ``neo4j.grass`` local storage);
3. runs each saved query of cypher/browser/ with the parameters docs/browser.md gives,
   checks that every node is drawn in its domain's colour from the style, and saves a
   PNG of the result frame in ``--out``.

It fails (exit 1) when a check fails, naming what Browser drew instead: Browser gives every
label it has no colour rule for a colour of its own (its legend asks for each label alone),
and that later rule wins over the domain's. So the style needs a rule per class label
too; ``--write-style`` rewrites a style file with them: the rules of the file, a grey
``node.Object`` ahead of the domain rules, then one rule per known class label (from
korrel8/domains.yaml) in its domain's colours. Classes korrel8 does not list (custom
resources) still get a colour of Browser's choosing.

The Neo4j started here is stopped at the end, also on failure (``--keep`` leaves it running
and prints its URL and password, to look around by hand).
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import SecretStr

from ingest.k8s.sync import mark_deleted
from korrel8 import demo
from korrel8.browser_style import Rules, complete_style, domain_colours, parse_grass
from korrel8.config import LocalNeo4jSettings, Settings
from korrel8.graph import localdb
from korrel8.graph.store import Store

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page, ViewportSize

REPO = Path(__file__).resolve().parents[1]
BROWSER_DIR = REPO / "cypher" / "browser"
CHROMIUM = "/usr/bin/chromium"
VIEWPORT: ViewportSize = {"width": 1400, "height": 1000}
DELETED_POD = "db-1"  # a StatefulSet pod: its claim, owner, config and logs show in history
SETTLE_MS = 5000  # the force layout's time to come to rest before a screenshot
USER = "neo4j"


@dataclass(frozen=True)
class Shot:
    """One saved query, run with the parameters docs/browser.md gives, saved as ``png``."""

    query: str  # a file of cypher/browser/, without .cypher
    params: str | None  # the :param(s) command to run first
    png: str


SHOTS = (
    Shot("alert-to-logs", ":param alertname => 'KubePersistentVolumeFillingUp'", "alert-to-logs"),
    Shot("pod-neighbourhood", ":params {namespace: 'shop', name: 'db-0'}", "pod-neighbourhood"),
    Shot("deleted-last-hour", None, "deleted-last-hour"),
)


class CheckError(RuntimeError):
    """What Browser showed differs from what the docs promise."""


# --- the server and the graph -----------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Server:
    local: LocalNeo4jSettings
    settings: Settings
    password: str

    @property
    def browser_url(self) -> str:
        return f"{self.local.http_url}/browser/"


@contextmanager
def throwaway_neo4j(directory: Path, keep: bool) -> Iterator[Server]:
    """A local Neo4j of its own (free ports, ``directory`` for data), stopped afterwards."""
    local = LocalNeo4jSettings(
        data_dir=directory, bolt_port=free_port(), http_port=free_port(), heap="768m",
        pagecache="256m",
    )  # fmt: skip
    say(f"starting a throw-away Neo4j in {directory}")
    localdb.start(local, progress=say)
    try:
        creds = localdb.credentials(local)
        if creds is None:
            raise CheckError(f"the local Neo4j in {directory} has no stored password")
        settings = Settings(neo4j_uri=creds.uri, neo4j_password=SecretStr(creds.password))
        yield Server(local, settings, creds.password)
    finally:
        if keep:
            say(f"left running: {local.http_url}/browser/ (stop: kill the pid in {directory})")
        else:
            localdb.stop(local)


def load_graph(settings: Settings, snapshot: Path) -> None:
    """The demo graph, then ``DELETED_POD`` gone: marked deleted with its edges closed, as
    the Kubernetes ingester's sweep leaves it, and its log streams swept by a re-derive."""
    demo.write_snapshot(snapshot, 1)  # the shop namespace alone: a readable picture
    with Store.connect(settings) as store:
        store.apply_schema()
        demo.load(store, snapshot, settings, say)
        rows = store.run(
            "MATCH (p:Pod {cluster: $cluster, namespace: $namespace, name: $name}) "
            "RETURN p.ref AS ref",
            cluster=demo.CLUSTER,
            namespace=demo.NAMESPACE,
            name=DELETED_POD,
        )
        if mark_deleted(store, [r["ref"] for r in rows]) != 1:
            raise CheckError(f"no pod {DELETED_POD} in the demo graph to delete")
        demo.derive_logs(store, settings.sources.loki)


# --- Browser -----------------------------------------------------------------------------------


def saved_query(name: str) -> str:
    """A saved query without its comment header (the frame's title shows the Cypher)."""
    text = (BROWSER_DIR / f"{name}.cypher").read_text()
    return "\n".join(line for line in text.splitlines() if not line.startswith("//")).strip()


def run_command(page: Page, command: str) -> None:
    """Type ``command`` into the editor and run it; return once its frame is there (the
    next command typed earlier would land in a busy editor)."""
    frames = page.locator('[data-testid="frame"]')
    before = frames.count()
    page.locator('[data-testid="activeEditor"]').click()
    page.keyboard.insert_text(command)
    page.locator('[data-testid="editor-Run"]').click()
    deadline = time.monotonic() + 30
    while (frames.count() > 0) if command == ":clear" else (frames.count() <= before):
        if time.monotonic() > deadline:
            raise CheckError(f"Browser showed no frame for {command.splitlines()[0]!r}")
        page.wait_for_timeout(100)


def log_in(page: Page, server: Server) -> None:
    page.goto(server.browser_url)
    page.locator('[data-testid="boltaddress"]').wait_for(timeout=60_000)
    page.select_option('[data-testid="bolt-scheme-select"]', "bolt://")
    page.fill('[data-testid="boltaddress"]', f"{server.local.host}:{server.local.bolt_port}")
    page.fill('[data-testid="username"]', USER)
    page.fill('[data-testid="password"]', server.password)
    page.click('[data-testid="connect"]')
    # Connected: the editor's prompt names the database.
    page.locator('[data-testid="activeEditor"]', has_text="neo4j$").wait_for(timeout=30_000)


_DROP = """(text) => {
  const data = new DataTransfer();
  data.items.add(new File([text], 'style.grass'));
  const target = document.querySelector('[data-testid="main"]');
  for (const type of ['dragenter', 'dragover', 'drop']) {
    const init = {bubbles: true, cancelable: true, dataTransfer: data};
    target.dispatchEvent(new DragEvent(type, init));
  }
}"""


def stored_style(page: Page) -> Rules:
    raw = page.evaluate("() => localStorage.getItem('neo4j.grass')")
    parsed: Rules = json.loads(raw) if isinstance(raw, str) else {}
    return parsed


def apply_style(page: Page, grass: str) -> None:
    """Drop the file on the window, as a user does, and check what Browser kept."""
    page.evaluate(_DROP, grass)
    wanted = parse_grass(grass)
    deadline = time.monotonic() + 10
    while stored_style(page) != wanted:
        if time.monotonic() > deadline:
            raise CheckError(f"Browser did not keep the dropped style: {stored_style(page)}")
        page.wait_for_timeout(200)


def drawn_nodes(frame: Locator) -> list[tuple[str, str]]:
    """(fill colour, caption) of every node the frame's graph draws."""
    found = frame.evaluate(
        """f => Array.from(f.querySelectorAll('svg g.node')).map(g => [
             (g.querySelector('circle.b-outline')?.getAttribute('fill') || '').toUpperCase(),
             (g.querySelector('text.caption')?.textContent || '').trim()])"""
    )
    return [(str(fill), str(caption)) for fill, caption in found]


def check_colours(page: Page, frame: Locator, style: Rules, shot: Shot) -> int:
    """Every node in a domain colour of the style, every node captioned; the node count."""
    nodes = drawn_nodes(frame)
    allowed = set(domain_colours(style).values())
    wrong = sorted({fill for fill, _ in nodes if fill not in allowed})
    if wrong:
        added = {k: v.get("color") for k, v in stored_style(page).items() if k not in style}
        raise CheckError(
            f"{shot.query}: nodes drawn in {wrong}, not a domain colour of the style "
            f"({sorted(allowed)}); rules Browser added for labels the style has no colour "
            f"for: {added}. Run this tool with --write-style on the style file."
        )
    if any(not caption for _, caption in nodes):
        raise CheckError(f"{shot.query}: a node without a caption")
    return len(nodes)


def take(page: Page, shot: Shot, style: Rules, out: Path) -> Path:
    run_command(page, ":clear")  # one frame on the page: the result
    if shot.params:
        run_command(page, shot.params)
    run_command(page, saved_query(shot.query))
    frame = page.locator('[data-testid="frame"]').first
    frame.locator("svg g.node").first.wait_for(timeout=60_000)
    page.wait_for_timeout(SETTLE_MS)
    count = check_colours(page, frame, style, shot)
    path = out / f"browser-{shot.png}.png"
    frame.screenshot(path=str(path))
    say(f"{path}: {count} nodes, each in its domain's colour")
    return path


def screenshots(server: Server, grass: str, out: Path) -> list[Path]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise CheckError("Playwright is missing: pip install -e '.[docs]'") from None
    style = parse_grass(grass)
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            log_in(page, server)
            apply_style(page, grass)
            say("style dropped on the window and kept by Browser")
            return [take(page, shot, style, out) for shot in SHOTS]
        finally:
            browser.close()


# --- main --------------------------------------------------------------------------------------


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextmanager
def workdir(keep: bool) -> Iterator[Path]:
    """A temporary directory, removed afterwards unless the server in it is kept."""
    if keep:
        yield Path(tempfile.mkdtemp(prefix="korrel8-browser-"))
        return
    with tempfile.TemporaryDirectory(prefix="korrel8-browser-") as tmp:
        yield Path(tmp)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "img")
    parser.add_argument("--style", type=Path, default=BROWSER_DIR / "style.grass")
    parser.add_argument("--keep", action="store_true", help="leave the Neo4j running")
    parser.add_argument(
        "--write-style", type=Path, metavar="PATH",
        help="rewrite the style file PATH with a rule per class label, and exit",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.write_style is not None:
        args.write_style.write_text(complete_style(args.write_style.read_text()))
        say(f"{args.write_style}: {len(parse_grass(args.write_style.read_text()))} rules")
        return 0
    grass = args.style.read_text()
    try:
        with workdir(args.keep) as tmp, throwaway_neo4j(tmp / "neo4j", args.keep) as server:
            load_graph(server.settings, tmp / "snapshot")
            shots = screenshots(server, grass, args.out)
            if args.keep:
                say(f"Browser: {server.browser_url} user {USER} password {server.password}")
    except CheckError as exc:
        say(f"error: {exc}")
        return 1
    print("\n".join(str(p) for p in shots))
    return 0


if __name__ == "__main__":
    sys.exit(main())
