"""The Browser style file colours every known class by its domain (korrel8/browser_style.py
says why a rule per class label is needed)."""

from __future__ import annotations

from pathlib import Path

from korrel8.browser_style import complete_style, domain_colours, parse_grass
from korrel8.model import Class, domains

STYLE = Path(__file__).resolve().parents[1] / "cypher" / "browser" / "style.grass"


def test_the_style_file_is_complete() -> None:
    """A class added to domains.yaml needs its rule: regenerate with
    `python tools/browser_screenshots.py --write-style cypher/browser/style.grass`."""
    text = STYLE.read_text()
    assert complete_style(text) == text


def test_every_class_label_has_its_domains_colour_and_a_name_caption() -> None:
    rules = parse_grass(STYLE.read_text())
    colours = domain_colours(rules)
    assert set(colours) == {d.label for d in domains()}
    assert len(set(colours.values())) == len(colours)  # one colour per domain
    for domain in domains():
        for name in domain.classes:
            rule = rules[f"node.{Class(domain=domain.name, name=name).label}"]
            assert rule["color"].upper() == colours[domain.label], name
            assert rule["caption"] == "{name}", name
    # Object, a label every node has, comes before the domain rules: their colours win.
    order = list(rules)
    assert order.index("node.Object") < min(order.index(f"node.{d.label}") for d in domains())
