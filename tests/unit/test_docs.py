"""The README and the packaging stay true: every command and exit code documented, templates in the wheel."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from jwks_tool.cli.main import (
    EXIT_CHANGES_DUE,
    EXIT_CODES,
    EXIT_FINDINGS,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_IO,
    EXIT_STEP_FAILED,
    EXIT_WAITING,
    EXIT_WARNINGS,
)

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_readme_documents_every_command() -> None:
    from jwks_tool.cli.main import COMMANDS

    for name in COMMANDS:
        assert re.search(rf"^\| `{name}( |`)", README, re.MULTILINE), f"README's command table lacks {name}"


def test_readme_documents_every_exit_code() -> None:
    documented = {int(code) for code in re.findall(r"^\| (\d+) \|", README, re.MULTILINE)}
    assert documented == {
        0,
        EXIT_WARNINGS,
        EXIT_FINDINGS,
        EXIT_INTERNAL,
        EXIT_IO,
        EXIT_INTERRUPTED,
        EXIT_CHANGES_DUE,
        EXIT_STEP_FAILED,
        EXIT_WAITING,
        *EXIT_CODES.values(),
    }


def test_readme_quick_start_commands_exist() -> None:
    for script in re.findall(r"^bash (scripts/\S+)", README, re.MULTILINE):
        assert (ROOT / script).exists(), script
    assert (ROOT / ".ci" / "run").read_text().count("bash scripts/test.sh") == 1


def test_shell_completion_script() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "jwks_tool"],
        env={"_JWKS_TOOL_COMPLETE": "bash_source", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert "_jwks_tool_completion" in result.stdout


@pytest.mark.integration
def test_wheel_ships_templates_and_py_typed(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(tmp_path)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("jwks_tool-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    templates = {p.name for p in (ROOT / "jwks_tool" / "documents" / "templates").iterdir() if p.suffix == ".j2"}
    assert {f"jwks_tool/documents/templates/{name}" for name in templates} <= names
    assert "jwks_tool/py.typed" in names
    assert not any(name.startswith("tests/") for name in names)


def test_every_test_the_readme_names_exists() -> None:
    """The security model names its proof: each ``file.py::test`` (or ``::test`` after a file) must be a test there."""
    found = 0
    for paragraph in README.split("\n\n"):
        current: Path | None = None
        for match in re.finditer(r"`((?:tests/[\w/]+/)?test_\w+\.py)?(?:::(\w+))?", paragraph):
            file, name = match.group(1), match.group(2)
            if file:
                hits = list(ROOT.glob(f"tests/**/{Path(file).name}"))
                assert len(hits) == 1, f"README names {file}, which is not one test file"
                current = hits[0]
            if name:
                assert current is not None, f"README names ::{name} before any test file"
                assert re.search(rf"^def {name}\(", current.read_text(), re.M), f"{current.name} has no {name}"
                found += 1
    assert found >= 20
