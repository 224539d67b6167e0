"""What one ingest run reports: objects per class, seconds, errors."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Summary:
    source: str
    cluster: str
    objects: Counter[str] = field(default_factory=Counter)  # class -> nodes written
    deleted: int = 0  # nodes a complete listing swept
    errors: list[str] = field(default_factory=list)  # one line each, no credentials
    # Not errors: what the source could not read but need not (a kind the credential may not
    # list, e.g. Secrets under least privilege; class -> "forbidden" or "not_served"), and
    # problems still within their retry window (the source stays up, but is not current).
    skipped_kinds: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    # Why a listing that read without error still swept less than it could (a mass
    # deletion held back, objects skipped): one line each.
    partial: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        """What ``--output json`` prints of it."""
        return {
            "source": self.source,
            "cluster": self.cluster,
            "objects": dict(sorted(self.objects.items())),
            "deleted": self.deleted,
            "errors": self.errors,
            "skipped_kinds": dict(sorted(self.skipped_kinds.items())),
            "seconds": round(self.seconds, 3),
            "partial": self.partial,
            "ok": self.ok,
        }
