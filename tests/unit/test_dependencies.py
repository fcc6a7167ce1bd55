"""The offline half of the dependency audit: pyproject.toml's lower bounds exclude releases with known advisories.

scripts/audit_deps.py runs pip-audit where the advisory database can be reached; this table keeps the floors true
on any machine. Add a row when an advisory lands for a direct dependency.
"""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]

ADVISORY_FLOORS = {
    "cryptography": ("44.0.1", "CVE-2024-12797: vulnerable OpenSSL in the wheels"),
    "jinja2": ("3.1.6", "CVE-2025-27516: sandbox breakout through the attr filter"),
    "requests": ("2.32.4", "CVE-2024-47081: .netrc credentials leaked to other hosts"),
    "jwcrypto": ("1.5.6", "CVE-2024-28102: JWE decompression bomb"),
    "filelock": ("3.20.1", "CVE-2025-68146: lock file TOCTOU through a symlink"),
    "azure-identity": ("1.16.1", "CVE-2024-35255: elevation of privilege"),
}


def _floors() -> dict[str, Version]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    floors: dict[str, Version] = {}
    for spec in project["dependencies"]:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)(?:\[[^]]*\])?>=([0-9][0-9A-Za-z.]*)", spec.replace(" ", ""))
        assert match, f"every dependency has a >= floor: {spec}"
        floors[match.group(1).lower()] = Version(match.group(2))
    return floors


@pytest.mark.parametrize("name", sorted(ADVISORY_FLOORS))
def test_lower_bound_excludes_known_advisories(name: str) -> None:
    fixed, advisory = ADVISORY_FLOORS[name]
    floors = _floors()
    assert name in floors, f"{name} is a direct dependency"
    assert floors[name] >= Version(fixed), f"{name}>={floors[name]} allows releases with {advisory}"


@pytest.mark.parametrize("name", sorted(ADVISORY_FLOORS))
def test_installed_release_is_above_the_floor(name: str) -> None:
    assert Version(version(name)) >= _floors()[name]
