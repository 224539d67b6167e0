"""korrel8: a correlation store for Kubernetes observability, backed by Neo4j.

``from korrel8 import Korrel8, Result``. Both are imported on first use, so that
``import korrel8.model`` (and the CLI's start-up) does not pay for the Neo4j driver.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from korrel8.correlate import Korrel8
    from korrel8.result import Result

__all__ = ["Korrel8", "Result"]

_LAZY = {"Korrel8": "korrel8.correlate", "Result": "korrel8.result"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'korrel8' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value
