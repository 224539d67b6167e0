"""The HTML investigation graph, opened in headless Chromium with no network.

The page reports what it drew in ``#korrel8-status`` (read back with --dump-dom), and a
screenshot must show a picture (many colours), not a blank page. Chromium is Debian's
package (tools/install-chromium.sh); without it the tests skip, or fail under CI=true.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from korrel8.correlate import Korrel8
from korrel8.graph.store import Store
from korrel8.render import html as html_render
from tests.servers.common import unavailable
from tests.test_correlate import build_mission

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1200,800",
    # Lets the page's timers and animation frames run before the dump or the screenshot.
    "--virtual-time-budget=3000",
]


@pytest.fixture(scope="module")
def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        unavailable("Chromium", "run tools/install-chromium.sh (apt-get install chromium)")
    return path


def run_chromium(chromium: str, tmp_path: Path, *args: str) -> str:
    profile = tmp_path / "profile"  # a fresh profile per run: no state carried over
    done = subprocess.run(
        [chromium, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    shutil.rmtree(profile, ignore_errors=True)
    return done.stdout


def status(dom: str) -> dict[str, int]:
    match = re.search(r'<div id="korrel8-status"([^>]*)>', dom)
    assert match is not None, dom[:2000]
    return {k: int(v) for k, v in re.findall(r'data-(\w+)="(\d+)"', match[1])}


def png_colours(path: Path) -> int:
    """Distinct colours of an 8-bit RGB or RGBA PNG, decoded with zlib alone."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour_type = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour_type in (2, 6), (depth, colour_type)
    bpp = 3 if colour_type == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    previous = bytearray(stride)
    colours: set[bytes] = set()
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = previous[x]
            c = previous[x - bpp] if x >= bpp else 0
            if kind == 1:
                line[x] = (line[x] + a) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + b) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[x] = (line[x] + pred) & 0xFF
        if y % 4 == 0:  # a sample of rows is plenty to tell a picture from a blank page
            colours.update(bytes(line[i : i + 3]) for i in range(0, stride, bpp))
        previous = line
    return len(colours)


def test_the_investigation_graph_renders_every_object(
    store: Store, chromium: str, tmp_path: Path
) -> None:
    mission = build_mission(store)
    result = Korrel8(store).goals(mission.alert, ["log", "k8s"])
    page = tmp_path / "graph.html"
    html_render.write_html(result, page)
    dom = run_chromium(chromium, tmp_path, "--dump-dom", page.as_uri())
    drawn = status(dom)
    assert drawn["nodes"] == len(result.nodes) == 8
    assert drawn["edges"] == len(result.edges)
    assert drawn["rendered"] == drawn["nodes"]  # every object inside the visible canvas
    assert 'data-ready="true"' in dom
    # The side panel opens on the start, with its query.
    assert "KubePersistentVolumeFillingUp" in dom.split('id="panel"', 1)[1]

    shot = tmp_path / "graph.png"
    run_chromium(chromium, tmp_path, f"--screenshot={shot}", page.as_uri())
    # A blank or failed page has a handful of colours; the graph, text and legend many.
    assert png_colours(shot) > 50


def test_a_start_with_no_path_still_shows_itself(
    store: Store, chromium: str, tmp_path: Path
) -> None:
    mission = build_mission(store)
    result = Korrel8(store).neighbours(mission.deploy, depth=1)
    page = tmp_path / "alone.html"
    html_render.write_html(result, page)
    drawn = status(run_chromium(chromium, tmp_path, "--dump-dom", page.as_uri()))
    assert drawn == {"nodes": 1, "edges": 0, "rendered": 1}


# Appended to the page: after the app has filled the side panel, find every word of it
# that the layout put on two lines although it fits on one (its box is narrower than its
# element's content box), and write them into <body data-split-words>.
SPLIT_WORDS = """
<script>
window.addEventListener("load", function () {
  var split = [];
  var walker = document.createTreeWalker(document.getElementById("panel"), NodeFilter.SHOW_TEXT);
  for (var node = walker.nextNode(); node; node = walker.nextNode()) {
    var parent = node.parentElement, style = getComputedStyle(parent);
    var room = parent.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    var word, words = /\\S+/g;
    while ((word = words.exec(node.data)) !== null) {
      var range = document.createRange();
      range.setStart(node, word.index);
      range.setEnd(node, word.index + word[0].length);
      var rects = Array.from(range.getClientRects()).filter(function (r) { return r.width > 0; });
      var tops = new Set(rects.map(function (r) { return Math.round(r.top); }));
      var width = rects.reduce(function (sum, r) { return sum + r.width; }, 0);
      if (tops.size > 1 && width < room) split.push(word[0]);
    }
  }
  document.body.dataset.splitWords = JSON.stringify(split);
  document.body.dataset.checked = "true";
});
</script>
"""


def test_the_side_panel_wraps_at_word_boundaries(
    store: Store, chromium: str, tmp_path: Path
) -> None:
    mission = build_mission(store)
    result = Korrel8(store).goals(mission.alert, ["log", "k8s"])
    page = tmp_path / "graph.html"
    page.write_text(
        html_render.to_html(result).replace("</body>", SPLIT_WORDS + "</body>"), "utf-8"
    )
    dom = run_chromium(chromium, tmp_path, "--dump-dom", page.as_uri())
    assert 'data-checked="true"' in dom
    # The start alert's panel: its name and labels wrap over several lines of 360 px.
    assert "KubePersistentVolumeFillingUp" in dom.split('id="panel"', 1)[1]
    split = re.search(r'data-split-words="([^"]*)"', dom)
    assert split is not None
    assert json.loads(html.unescape(split[1])) == []
