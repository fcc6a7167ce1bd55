"""#10 Trust: `check` and `status` never say OK about a store that is not there, or about a set with nothing checked;
a retiring key past its expiry is a note to finish the rotation, not a failure."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import Result

Run = Callable[..., Result]
T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def test_check_on_a_store_that_does_not_exist_fails(run: Run, tmp_path: Path) -> None:
    typo = tmp_path / "typo"
    result = run("check", "--store", str(typo))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"jwks-tool: error: there is no key store at {typo}, so nothing was checked; check --store and "
        "$JWKS_TOOL_STORE (`jwks-tool init` makes an empty store)\n"
    )
    assert not typo.exists()
    data = run("check", "--store", str(typo), "--json")
    assert data.exit_code == 2
    report = json.loads(data.stdout)
    assert report["verdict"] == "errors"
    assert [f["code"] for f in report["findings"]] == ["no-store"]
    # --allow-empty says an empty store is fine, not that a missing one is
    assert run("check", "--store", str(typo), "--allow-empty").exit_code == 2


def test_check_on_a_store_without_sets_fails_unless_allowed(run: Run, store_dir: Path) -> None:
    assert run("init").exit_code == 0
    result = run("check")
    assert result.exit_code == 2
    assert result.stderr == (
        f"jwks-tool: error: the key store {store_dir} holds no key sets, so nothing was checked; make one "
        "(jwks-tool generate NAME), or pass --allow-empty if an empty store is expected\n"
    )
    allowed = run("check", "--allow-empty")
    assert allowed.exit_code == 0, allowed.stderr
    assert allowed.stdout == "OK: 0 key sets checked\n"
    assert json.loads(run("check", "--allow-empty", "--json").stdout)["verdict"] == "ok"


def test_check_after_a_set_file_is_deleted(run: Run, store_dir: Path) -> None:
    assert run("generate", "acme", "--size", "2048").exit_code == 0
    assert run("check").exit_code == 0
    (store_dir / "sets" / "test" / "acme.json").unlink()
    assert run("check").exit_code == 2  # the store is empty now
    named = run("check", "acme")
    assert named.exit_code == 6
    assert named.stderr.startswith(f"jwks-tool: error: no key set acme (test) in {store_dir}; ")
    assert run("check", "--env", "prod").exit_code == 2  # nothing checked in prod either


def test_status_on_a_store_that_does_not_exist_says_so(run: Run, tmp_path: Path) -> None:
    typo = tmp_path / "typo"
    for args in ((), ("--json",), ("acme",)):
        result = run("status", "--store", str(typo), *args)
        assert result.exit_code == 6
        if "--json" in args:  # the error as one JSON document too (README "JSON output")
            assert json.loads(result.stdout)["error"]["code"] == "not-found"
        else:
            assert result.stdout == ""
        assert result.stderr == (
            f"jwks-tool: error: there is no key store at {typo}; check --store and $JWKS_TOOL_STORE, or run "
            "`jwks-tool generate NAME` to make one\n"
        )
    assert not typo.exists()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[datetime], None]:
    def set_time(moment: datetime) -> None:
        monkeypatch.setattr("jwks_tool.services.key_service.utcnow", lambda: moment)

    return set_time


def test_an_expired_retiring_key_is_a_note_not_a_failure(run: Run, clock: Callable[[datetime], None]) -> None:
    clock(T0)
    assert run("generate", "acme", "--size", "2048", "--kid", "k1", "--expires-in", "30d").exit_code == 0
    assert run("rotate", "acme", "--size", "2048").exit_code == 0
    assert run("rotate", "acme", "--promote").exit_code == 0

    clock(T0 + timedelta(days=20))  # the retiring key expires in 10 days: nothing signs with it
    assert run("check").exit_code == 0, run("check").stdout

    clock(T0 + timedelta(days=31))  # and now it is past its expiry
    result = run("check")
    assert result.exit_code == 1, result.stdout
    assert result.stdout.splitlines() == [
        "WARNING: acme (test): k1 (retiring) expired on 2026-03-31; nothing signs with it any more: finish the "
        "rotation (jwks-tool rotate acme --env test --finish)",
        "WARNINGS: 1 key set checked",
    ]
    (finding,) = json.loads(run("check", "--json").stdout)["findings"]
    assert (finding["severity"], finding["code"]) == ("warning", "retiring-expired")
    assert run("status").exit_code == 0
    assert run("rotate", "acme", "--finish").exit_code == 0
    assert run("check").exit_code == 0


def test_check_and_status_with_env_look_at_that_environment_only(run: Run, store_dir: Path) -> None:
    assert run("generate", "t1", "--size", "2048").exit_code == 0
    assert run("generate", "p1", "--env", "prod", "--size", "2048").exit_code == 0
    report = json.loads(run("check", "--env", "prod", "--json").stdout)
    assert [s["set"] for s in report["sets"]] == ["p1"]
    status = run("status", "--env", "prod")
    assert "p1" in status.stdout
    assert "t1" not in status.stdout
    (store_dir / "sets" / "prod" / "p1.json").unlink()
    assert run("check", "--env", "prod").exit_code == 2


@pytest.mark.parametrize("how", ["deleted", "renamed"])
def test_a_set_the_audit_log_names_but_the_store_lacks_fails(run: Run, store_dir: Path, how: str) -> None:
    assert run("generate", "acme", "other", "--size", "2048").exit_code == 0
    assert run("generate", "acme", "--env", "prod", "--size", "2048").exit_code == 0
    assert run("check").exit_code == 0
    gone = store_dir / "sets" / "test" / "other.json"
    if how == "deleted":
        gone.unlink()
    else:
        gone.rename(gone.with_suffix(".json.bak"))
    result = run("check")
    assert result.exit_code == 2
    assert result.stdout == (
        "ERROR: other (test): the audit log names this key set, but the store does not hold it (a set file was "
        "deleted or moved); restore it from a backup\nERRORS: 2 key sets checked\n"
    )
    report = json.loads(run("check", "--json").stdout)
    assert [(f["code"], f["where"]) for f in report["findings"]] == [("set-missing", "other (test)")]
    assert run("check", "--env", "prod").exit_code == 0  # only that environment
    assert run("check", "acme").exit_code == 0  # only that name
    # even when no set is left, with --allow-empty
    for path in (store_dir / "sets").rglob("*.json"):
        path.unlink()
    assert run("check", "--allow-empty").exit_code == 2


def test_pruned_keys_keep_their_set_so_check_stays_green(run: Run, store_dir: Path) -> None:
    assert run("generate", "acme", "--size", "2048").exit_code == 0
    assert run("rotate", "acme", "--all-steps", "--overlap", "0", "--size", "2048").exit_code == 0
    pruned = run("prune", "acme", "--older-than", "0d", "--json")
    assert pruned.exit_code == 0, pruned.stderr
    assert json.loads(pruned.stdout)["pruned"]
    assert run("check").exit_code == 0
