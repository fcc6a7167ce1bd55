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


def retyped(member: str, raw: str, problem: str) -> Callable[[Path], str]:
    """A set file whose ``member`` (``revision``, or ``keys.0.size``) holds the JSON text ``raw``: valid JSON,
    the wrong type or range (``1e400`` parses as infinity)."""

    def damage(path: Path) -> str:
        document = json.loads(path.read_text())
        *parents, last = member.split(".")
        target = document
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[last] = "@RAW@"
        path.write_text(json.dumps(document).replace('"@RAW@"', raw))
        return problem.format(path=path)

    return damage


TYPED = {
    "revision-1e400": retyped("revision", "1e400", "{path}: revision is not a whole number: Infinity"),
    "revision-string": retyped("revision", '"1"', '{path}: revision is not a whole number: "1"'),
    "revision-true": retyped("revision", "true", "{path}: revision is not a whole number: true"),
    "revision-negative": retyped("revision", "-1", "{path}: revision is out of range: -1"),
    "revision-float": retyped("revision", "1.5", "{path}: revision is not a whole number: 1.5"),
    "revision-huge": retyped("revision", "1" + "0" * 30, "{path}: revision is out of range: 1" + "0" * 30),
    "size-float": retyped("keys.0.size", "2048.0", ": size is not a whole number: 2048.0"),
    "history-revision": retyped("keys.0.history.0.revision", "1e400", "revision is not a whole number: Infinity"),
    "created-number": retyped("keys.0.created", "5", "created is not a time string"),
}


@pytest.fixture(params=[truncate, edit, *TYPED.values()], ids=["truncated", "edited", *TYPED])
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
    edited = problem.startswith("its public JWK does not match")  # a key edited: the set's repair; else the file's
    repair = "restore the set from a backup" if edited else fix(path)
    assert (error["code"], error["hint"]) == ("store", repair)
    assert problem in error["message"]
    assert result.stderr == f"jwks-tool: error: {error['message']}; {repair}\n"


@pytest.mark.parametrize("damage", TYPED.values(), ids=TYPED.keys())
def test_a_badly_typed_set_is_store_damage_for_that_set_only(
    run: Run, store_dir: Path, damage: Callable[[Path], str]
) -> None:
    """A value that parses as JSON but has the wrong type (``"revision": 1e400`` was an OverflowError, exit 70, for
    every command on every set): the set is damaged (exit 5, its repair named), the other sets work."""
    for name in ("acme", "beta"):
        assert run("generate", name, "--size", "2048").exit_code == 0
    path = store_dir / "sets" / "test" / "acme.json"
    problem = damage(path)
    for command in (("show", "acme"), ("rotate", "acme", "--size", "2048"), ("export", "acme")):
        result = run(*command)
        assert result.exit_code == 5, (command, result.output)
        assert result.stdout == ""
        assert result.stderr.startswith("jwks-tool: error: ")
        assert problem in result.stderr
        assert result.stderr.count("\n") == 1
    assert run("show", "beta").exit_code == 0
    assert run("rotate", "beta", "--size", "2048").exit_code == 0
    assert run("status", "beta").exit_code == 0
    listed = run("list")
    assert listed.exit_code == 5
    assert listed.stderr.startswith("jwks-tool: error: key set acme (test) is damaged: ")
    assert listed.stderr.endswith(f"; {fix(path)}\n")
    assert problem in listed.stderr
