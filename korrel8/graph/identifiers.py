"""Checks for names that must appear in Cypher text rather than as parameters.

Neo4j takes values as parameters, but labels, relationship types and property
keys are part of a statement's text (or of its plan). Every such name that comes
from data or from a rule passes one of these checks first, so that a value like
``Pod) DETACH DELETE (n`` is refused instead of run.
"""

from __future__ import annotations

import re

from korrel8.errors import InvalidIdentifierError

LABEL = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,127}")
REL_TYPE = re.compile(r"[A-Z][A-Z0-9_]{0,127}")
# Dots are allowed: canonical OpenTelemetry keys such as k8s.pod.name are property keys.
PROPERTY_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.]{0,127}")


def _check(kind: str, pattern: re.Pattern[str], name: object) -> str:
    if not isinstance(name, str) or not pattern.fullmatch(name):
        raise InvalidIdentifierError(
            f"invalid {kind} {name!r}: it must match {pattern.pattern} "
            "(names from data are checked before they reach Cypher)"
        )
    return name


def label(name: object) -> str:
    return _check("node label", LABEL, name)


def rel_type(name: object) -> str:
    return _check("relationship type", REL_TYPE, name)


def property_key(name: object) -> str:
    return _check("property key", PROPERTY_KEY, name)
