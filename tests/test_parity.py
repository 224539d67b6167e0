"""The README's table of korrel8r's rules and korrel8's counterparts matches its data file
(docs/korrel8r-parity.yaml) and the rule files: a rule added, renamed or removed on either
side fails here until the table says so. No Neo4j."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from ingest.status import STATUS_FILE as INGEST_STATUS_FILE
from korrel8 import rules
from korrel8.rules import parity

ROOT = Path(__file__).resolve().parent.parent
ALL = rules.load()
PARITY = parity.load_parity()
STATUS: dict[str, Any] = yaml.safe_load(parity.STATUS_FILE.read_text())


def test_readme_table_is_the_rendering() -> None:
    table = parity.between_markers((ROOT / "README.md").read_text())
    assert table == parity.render(PARITY, ALL), (
        f"README.md's parity table drifted: run {parity.COMMAND}"
    )


def test_data_file_agrees_with_the_rules() -> None:
    assert parity.check(PARITY, ALL, STATUS) == []


def test_every_named_korrel8_rule_exists() -> None:
    names = {r.name for r in ALL}
    missing = [(e.korrel8r, n) for e in PARITY.rules for n in e.korrel8 if n not in names]
    assert missing == []


def test_every_kebab_family_rule_stands_against_its_korrel8r_rule() -> None:
    """A new OLM, KubeVirt, netflow, incident or generic rule cannot be left out of the table."""
    family = [r for r in ALL if parity.rule_file(r) in parity.KEBAB_FILES]
    assert len(family) >= 69  # the five files' rules as of this test
    listed = {n: e.korrel8r for e in PARITY.rules for n in e.korrel8}
    wrong = [r.name for r in family if parity.kebab(listed.get(r.name, "")) != r.name]
    assert wrong == []


def test_the_header_counts_the_entries() -> None:
    assert len(PARITY.rules) == PARITY.korrel8r.rule_count
    assert len(PARITY.status) == PARITY.korrel8r.status_rule_count
    assert len({e.korrel8r for e in PARITY.rules}) == len(PARITY.rules)


def test_status_file_is_ingests() -> None:
    assert parity.STATUS_FILE == INGEST_STATUS_FILE


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"korrel8": ["no-such-rule"]}, "AlertToDeployment: no korrel8 rule named 'no-such-rule'"),
        ({"korrel8": [], "why": ""}, "AlertToDeployment: no korrel8 rule and no why"),
        ({"korrel8r": "AlertToPod"}, "AlertToPod: listed 2 times"),
        # off until enabled (high-cardinality.yaml): not a counterpart
        ({"korrel8": ["node-pods"]}, "AlertToDeployment: korrel8's node-pods is off by default"),
    ],
)
def test_check_names_the_faulty_entry(change: dict[str, Any], message: str) -> None:
    first = PARITY.rules[0].model_copy(update=change)
    bad = PARITY.model_copy(update={"rules": [first, *PARITY.rules[1:]]})
    assert message in parity.check(bad, ALL, STATUS)


def test_check_finds_a_family_rule_left_out() -> None:
    entries = [e for e in PARITY.rules if e.korrel8r != "SubscriptionToCSV"]
    bad = PARITY.model_copy(update={"rules": entries})
    errors = parity.check(bad, ALL, STATUS)
    assert "subscription-to-csv (olm.yaml): not listed against any korrel8r rule" in errors
    assert (
        f"the header counts {len(PARITY.rules)} korrel8r rules, the file lists {len(entries)}"
        in errors
    )


def test_check_finds_a_missing_status_entry() -> None:
    first = PARITY.status[0].model_copy(update={"korrel8": ["kubernetes.nothing"]})
    bad = PARITY.model_copy(update={"status": [first, *PARITY.status[1:]]})
    assert "HealthStatus: no entry 'kubernetes.nothing' in ingest/status.yaml" in parity.check(
        bad, ALL, STATUS
    )


def test_write_replaces_only_between_markers(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"before\n{parity.BEGIN}\nstale\n{parity.END}\nafter\n")
    assert parity.main(["--write", str(readme)]) == 0
    text = readme.read_text()
    assert text.startswith(f"before\n{parity.BEGIN}\n| korrel8r rule |")
    assert text.endswith(f"{parity.END}\nafter\n")
    assert "stale" not in text
