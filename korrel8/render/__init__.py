"""Renderings of a correlation Result: JSON, DOT, Mermaid, GraphML and an HTML page.

Each module has one ``to_*`` function taking a Result. What they share is here: the
colour of each domain, so that every picture of the graph reads the same way.
"""

from __future__ import annotations

__all__ = ["DOMAIN_COLOURS", "OTHER_COLOUR", "domain_colour"]

# Fill colours per domain (white text reads on each): Kubernetes blue for k8s objects,
# red for alerts, and one colour per signal kind.
DOMAIN_COLOURS: dict[str, str] = {
    "k8s": "#326ce5",
    "alert": "#d93f3f",
    "log": "#2f8f5b",
    "metric": "#c77700",
    "trace": "#7d4cc9",
    "incident": "#8e2a57",
    "netflow": "#0f7c80",
}
OTHER_COLOUR = "#6b7280"


def domain_colour(domain: str) -> str:
    return DOMAIN_COLOURS.get(domain, OTHER_COLOUR)
