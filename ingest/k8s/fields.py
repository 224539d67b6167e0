"""Per-class fields that rules join on, for kinds not built into rows.py: operators (OLM)
and KubeVirt. Declarative: ``fields.yaml`` maps a class to properties, each read from one
or more paths of the object.

A path is dot-separated keys; ``key[]`` walks every item of a list. A property is a list of
distinct strings when ``multiple: true`` (or any of its paths walks a list), else the first
non-empty string found. ``format`` builds each value from keys of the item the path reached
(``"{kind}/{name}"``; ``{key?}`` is empty where the key is missing); ``pattern``, a regular
expression, keeps its first group of a value and drops values it does not match.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from korrel8.errors import ConfigError
from korrel8.graph import identifiers
from korrel8.graph.rows import PropertyValue

FIELDS_FILE = Path(__file__).with_name("fields.yaml")


class FieldSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    paths: list[str] = Field(min_length=1)
    multiple: bool = False
    format: str | None = None
    pattern: str | None = None

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, value: str | None) -> str | None:
        if value is not None:
            re.compile(value)
        return value

    @property
    def many(self) -> bool:
        return self.multiple or any("[]" in p for p in self.paths)


def _spec(value: Any) -> FieldSpec:
    """``prop: path``, ``prop: [path, ...]`` or ``prop: {paths, multiple, format, pattern}``."""
    if isinstance(value, str):
        return FieldSpec(paths=[value])
    if isinstance(value, list):
        return FieldSpec(paths=value)
    return FieldSpec.model_validate(value)


@cache
def class_fields() -> dict[str, dict[str, FieldSpec]]:
    """class name -> property -> how to read it."""
    try:
        data = yaml.safe_load(FIELDS_FILE.read_text(encoding="utf-8")) or {}
        found = {
            cls: {identifiers.property_key(k): _spec(v) for k, v in props.items()}
            for cls, props in data["classes"].items()
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"cannot read the per-class fields from {FIELDS_FILE}: {exc}") from exc
    return found


def _walk(obj: Any, keys: list[str]) -> list[Any]:
    """Every value at ``keys`` below ``obj``; ``key[]`` fans out over a list."""
    found = [obj]
    for key in keys:
        many = key.endswith("[]")
        name = key[:-2] if many else key
        step: list[Any] = []
        for item in found:
            value = item.get(name) if isinstance(item, Mapping) else None
            if many:
                if isinstance(value, list):
                    step.extend(v for v in value if v is not None)
            elif value is not None:
                step.append(value)
        found = step
    return found


class _Keys(string.Formatter):
    """``{a.b}`` reads nested keys of a mapping; a missing key makes no value."""

    def get_field(self, field_name: str, args: Any, kwargs: Any) -> tuple[Any, str]:
        optional = field_name.endswith("?")
        values = _walk(kwargs["item"], field_name.rstrip("?").split("."))
        if not values or not isinstance(values[0], str | int) or values[0] == "":
            if optional:
                return "", field_name
            raise KeyError(field_name)
        return values[0], field_name


_KEYS = _Keys()


def _value(spec: FieldSpec, item: Any) -> str | None:
    if spec.format is not None:
        try:
            text = _KEYS.format(spec.format, item=item)
        except (KeyError, ValueError, IndexError):
            return None
    elif isinstance(item, str | int) and not isinstance(item, bool):
        text = str(item)
    else:
        return None
    if spec.pattern is not None:
        match = re.search(spec.pattern, text)
        if match is None:
            return None
        text = match.group(1) if match.groups() else match.group(0)
    return text or None


def extract(class_name: str, obj: Mapping[str, Any]) -> dict[str, PropertyValue]:
    """The properties ``fields.yaml`` declares for ``class_name``, read from ``obj``."""
    props: dict[str, PropertyValue] = {}
    for key, spec in class_fields().get(class_name, {}).items():
        values = [
            v
            for path in spec.paths
            for item in _walk(obj, path.split("."))
            if (v := _value(spec, item)) is not None
        ]
        if spec.many:
            props[key] = sorted(set(values))
        else:
            props[key] = values[0] if values else None
    return props


__all__ = ["FIELDS_FILE", "FieldSpec", "class_fields", "extract"]
