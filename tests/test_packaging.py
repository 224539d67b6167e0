"""An installed korrel8 (a wheel, as pip or the Docker image installs it) holds every file
it reads: the Cypher statements, rules and Browser files of cypher/ included."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from korrel8.graph import statements

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_wheel_holds_every_cypher_file_and_data_file(tmp_path: Path) -> None:
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    # pyproject.toml's metadata in the form setuptools wants: no deprecation warning.
    assert "Warning" not in built.stdout + built.stderr, built.stderr
    [wheel] = tmp_path.glob("korrel8-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    metadata = zipfile.ZipFile(wheel).read(
        f"{'-'.join(wheel.name.split('-')[:2])}.dist-info/METADATA"
    )
    assert b"\nLicense-Expression: Apache-2.0\n" in metadata
    data = f"{wheel.name.split('-')[0]}-{wheel.name.split('-')[1]}.data/data/share/korrel8/"
    tracked = subprocess.run(
        ["git", "ls-files", "cypher"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.split()
    assert tracked, "no cypher/ files tracked"
    missing = [f for f in tracked if data + f not in names]
    assert missing == []
    # Package data the code reads beside its modules.
    for pattern in ("korrel8/*.yaml", "korrel8/api/*.yaml", "ingest/*.yaml",
                    "korrel8/schemas/*.json", "korrel8/render/assets/*",
                    "korrel8/graph/launcher/pom.xml"):  # fmt: skip
        for path in ROOT.glob(pattern):
            assert str(path.relative_to(ROOT)) in names, path


def test_an_installed_korrel8_reads_cypher_from_its_share_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a source tree beside the package, the wheel's data directory is used."""
    share = tmp_path / "share" / "korrel8" / "cypher"
    share.mkdir(parents=True)
    monkeypatch.setattr(sys, "prefix", str(tmp_path))
    monkeypatch.setattr(statements, "__file__", str(tmp_path / "site" / "korrel8" / "x.py"))
    assert statements._cypher_dir() == share
