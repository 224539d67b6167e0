"""Neo4j Browser's style file (GRaSS): parsing, writing, and the rules korrel8's style needs.

Browser gives every label it has no colour rule for a colour of its own (its legend asks
for each label alone), and that later rule wins over the domain's. So cypher/browser/
style.grass carries, besides a rule per domain label, a rule per known class label in its
domain's colours; ``complete_style`` writes them (tools/browser_screenshots.py
--write-style), and tests/test_browser_style.py checks that the file is complete.
"""

from __future__ import annotations

import re

from korrel8.model import Class, domains

Rules = dict[str, dict[str, str]]
_RULE = re.compile(r"([^{}\s]+)\s*\{((?:[^{}\"']|\"[^\"]*\"|'[^']*')*)\}", re.S)


def parse_grass(text: str) -> Rules:
    """``selector -> {property: value}``, in file order, quotes taken off values (as Browser
    stores them); braces inside quoted values (captions) are values, not blocks."""
    rules: Rules = {}
    for selector, body in _RULE.findall(text):
        props: dict[str, str] = {}
        for declaration in re.findall(r"(?:[^;\"']|\"[^\"]*\"|'[^']*')+", body):
            key, sep, value = declaration.partition(":")
            if sep and key.strip():
                props[key.strip()] = value.strip().strip("\"'")
        rules[selector] = props
    return rules


def format_grass(rules: Rules, one_line: frozenset[str] = frozenset()) -> str:
    """GRaSS text, the rules in ``one_line`` on one line each. No comments: Browser's
    parser takes none."""
    out = []
    for selector, props in rules.items():
        declarations = [
            f'{k}: "{v}";' if k == "caption" else f"{k}: {v};" for k, v in props.items()
        ]
        if selector in one_line:
            out.append(f"{selector} {{ {' '.join(declarations)} }}")
        else:
            out.extend([f"{selector} {{", *(f"  {d}" for d in declarations), "}"])
    return "\n".join(out) + "\n"


COLOUR_KEYS = ("color", "border-color", "text-color-internal")


def complete_style(text: str) -> str:
    """The style with the rules Browser needs to keep the domain colours (module docstring):
    a ``node.Object`` rule ahead of the domain rules, and one rule per known class label,
    after them, in its domain's colours. Idempotent: its own output is unchanged by it."""
    rules = parse_grass(text)
    domain_labels = [d.label for d in domains()]
    class_labels = {
        Class(domain=d.name, name=c).label: d.label for d in domains() for c in d.classes
    }
    base = {k: v for k, v in rules.items() if k in ("node", "relationship")}
    node = rules.get("node", {})
    base["node.Object"] = {k: node[k] for k in (*COLOUR_KEYS, "caption") if k in node}
    for selector, props in rules.items():  # the domain rules, in the file's order
        if selector.removeprefix("node.") in domain_labels:
            base[selector] = props
    # Anything else the file had (hand-written rules for other labels) stays, before the
    # generated class rules, which are rewritten from the domains every time.
    generated = {f"node.{label}" for label in class_labels}
    for selector, props in rules.items():
        if selector not in base and selector not in generated:
            base[selector] = props
    for label, domain_label in sorted(class_labels.items()):
        selector = f"node.{label}"
        if selector in base:  # the domain's own label (Alert, Metric)
            continue
        domain_rule = rules.get(f"node.{domain_label}", node)
        props = {k: domain_rule[k] for k in COLOUR_KEYS if k in domain_rule}
        if "caption" in domain_rule:
            props["caption"] = domain_rule["caption"]
        base[selector] = props
    one_line = frozenset(f"node.{label}" for label in class_labels if label not in domain_labels)
    return format_grass(base, one_line)


def domain_colours(style: Rules) -> dict[str, str]:
    """Fill colour by domain label, as the style sets it (upper case, as compared)."""
    return {
        d.label: style[f"node.{d.label}"]["color"].upper()
        for d in domains()
        if "color" in style.get(f"node.{d.label}", {})
    }


__all__ = [
    "COLOUR_KEYS",
    "Rules",
    "complete_style",
    "domain_colours",
    "format_grass",
    "parse_grass",
]
