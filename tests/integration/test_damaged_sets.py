"""One damaged set file: list, status, check and report still show the other sets, name the damaged one with its
repair, and end non-zero (list: 5, the others: 2 as a failing set-damaged finding)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

pytestmark = pytest.mark.integration
Run = Callable[..., Result]


def truncate(path: Path) -> str:
    path.write_bytes(path.read_bytes()[:100])
    return f"{path} is not valid JSON ("


def edit(path: Path) -> str:
    document = json.loads(path.read_text())
    jwk = document["keys"][0]["public_jwk"]
    jwk["n"] = jwk["n"][:-4] + "AAAA"
    path.write_text(json.dumps(document))
    return "its public JWK does not match its thumbprint (the set file was damaged or changed)"


@pytest.fixture(params=[truncate, edit], ids=["truncated", "edited"])
def damaged(request: pytest.FixtureRequest, run: Run, store_dir: Path) -> tuple[Path, str]:
    """Two sets, acme and beta; acme's file damaged. Returns its path and the start of the problem it reports."""
    for name in ("acme", "beta"):
        assert run("generate", name, "--size", "2048").exit_code == 0
    path = store_dir / "sets" / "test" / "acme.json"
    return path, request.param(path)


def fix(path: Path) -> str:
    return (
        f"restore {path} from a backup, or remove it (`rm {path}`: its keys are lost, the audit log keeps their story)"
    )


def test_list_shows_the_others_and_names_the_damaged_set(run: Run, damaged: tuple[Path, str]) -> None:
    path, problem = damaged
    result = run("list")
    assert result.exit_code == 5
    rows = [line.split() for line in result.output.splitlines()]
    assert rows[1] == ["acme", "test", "?", "-", "DAMAGED", "-", "-", "-"]
    assert rows[2][:5] == ["beta", "test", "maskinporten", rows[2][3], "active"]
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("jwks-tool: error: key set acme (test) is damaged: ")
    assert problem in result.stderr
    assert result.stderr.endswith(f"; {fix(path)}\n")
    listed = json.loads(run("list", "--json").stdout)
    assert [s["name"] for s in listed["sets"]] == ["beta"]
    assert [(d["name"], d["env"], d["fix"]) for d in listed["damaged"]] == [("acme", "test", fix(path))]
    path.unlink()  # the repair the hint names
    assert run("list").exit_code == 0


def test_check_and_status_fail_with_a_set_damaged_finding(run: Run, damaged: tuple[Path, str]) -> None:
    path, problem = damaged
    checked = run("check", "--json")
    assert checked.exit_code == 2
    report = json.loads(checked.stdout)
    assert [s["set"] for s in report["sets"]] == ["beta"]
    [finding] = report["findings"]
    assert (finding["severity"], finding["code"], finding["where"]) == ("error", "set-damaged", "acme (test)")
    assert problem in finding["message"]
    assert finding["message"].endswith(fix(path))
    text = run("check")
    assert text.exit_code == 2
    assert text.output.splitlines()[0].startswith("ERROR: acme (test): damaged: ")
    status = run("status")
    assert status.exit_code == 2
    assert status.output.startswith("beta (test), maskinporten: OK\n")
    assert "acme (test): FAILING\n  error: damaged: " in status.output
    assert run("status", "beta").exit_code == 0  # the damaged set is not asked for


@pytest.mark.usefixtures("damaged")
def test_report_names_the_damaged_set_and_fails(run: Run) -> None:
    result = run("report", "--format", "md")
    assert result.exit_code == 2
    assert "beta" in result.output
    assert "acme (test)" in result.stdout
    assert "damaged: " in result.stdout
    assert "acme.json from a backup, or remove it" in result.stdout


@pytest.mark.parametrize("command", [("show", "acme"), ("export", "acme"), ("rotate", "acme")])
def test_reading_the_damaged_set_names_its_repair(
    run: Run, damaged: tuple[Path, str], command: tuple[str, ...]
) -> None:
    path, problem = damaged
    result = run(*command, "--json")
    assert result.exit_code == 5
    error = json.loads(result.stdout)["error"]
    repair = fix(path) if problem.endswith("is not valid JSON (") else "restore the set from a backup"
    assert (error["code"], error["hint"]) == ("store", repair)
    assert problem in error["message"]
    assert result.stderr == f"jwks-tool: error: {error['message']}; {repair}\n"
