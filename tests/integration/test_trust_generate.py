"""#10 Trust: work that half-happens. A bulk generate checks every name and option before any key is made, refuses a
name given twice, reports exactly what it made, skipped, failed and did not start, and a re-run makes only what is
missing. Ctrl-C exits 130 with one line, for every command."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from jwks_tool.errors import ConflictError

Run = Callable[..., Result]


def set_names(store_dir: Path) -> list[str]:
    folder = store_dir / "sets" / "test"
    return sorted(path.stem for path in folder.glob("*.json")) if folder.exists() else []


def test_one_bad_name_makes_nothing(run: Run, store_dir: Path) -> None:
    result = run("generate", "good1", "bad name", "good2", "--size", "2048")
    assert result.exit_code == 3
    assert result.stdout == ""
    assert result.stderr == (
        "jwks-tool: error: invalid key set name 'bad name'; use 1-63 characters of A-Z a-z 0-9 . _ -, starting with "
        "a letter or digit\n"
    )
    assert not store_dir.exists()


def test_one_bad_option_for_one_set_makes_nothing(run: Run, store_dir: Path) -> None:
    assert run("generate", "ec", "--profile", "generic", "--kty", "EC").exit_code == 0
    result = run("generate", "new1", "ec", "new2", "--profile", "maskinporten", "--size", "2048")
    assert result.exit_code == 0  # ec has a key: it is skipped, so its profile does not matter
    assert set_names(store_dir) == ["ec", "new1", "new2"]
    wrong = run("generate", "new3", "ec", "--profile", "generic", "--kty", "EC", "--alg", "ES384")
    assert wrong.exit_code == 3
    assert wrong.stderr == "jwks-tool: error: alg ES384 does not go with curve P-256; use --alg ES256\n"
    assert "new3" not in set_names(store_dir)


def test_a_name_given_twice_is_refused(run: Run, store_dir: Path) -> None:
    result = run("generate", "dup", "other", "dup", "--size", "2048")
    assert result.exit_code == 3
    assert result.stderr == "jwks-tool: error: the set name 'dup' is given twice; name each set once\n"
    assert not store_dir.exists()


def test_a_rerun_makes_only_what_is_missing(run: Run, store_dir: Path) -> None:
    first = run("generate", "a1", "a2", "--size", "2048", "--json")
    assert first.exit_code == 0, first.stderr
    again = run("generate", "a1", "a2", "a3", "--size", "2048", "--json")
    assert again.exit_code == 0, again.stderr
    report = json.loads(again.stdout)
    assert [key["set"] for key in report["made"]] == ["a3"]
    assert [(s["set"], s["state"]) for s in report["skipped"]] == [("a1", "active"), ("a2", "active")]
    assert (report["failed"], report["not_started"], report["interrupted"]) == ([], [], False)
    for name in ("a1", "a2", "a3"):
        shown = json.loads(run("show", name, "--json").stdout)
        assert [key["state"] for key in shown["keys"]] == ["active"], name
    text = run("generate", "a1", "a3", "--size", "2048")
    assert text.exit_code == 0
    a1 = json.loads(run("show", "a1", "--json").stdout)["keys"][0]["kid"]
    assert text.stdout.splitlines()[0] == (
        f"Skipped a1 (test): it has a key already ({a1}, active); for a new one run `jwks-tool rotate a1 --env test`"
    )


def test_a_failed_set_is_reported_and_the_others_land(
    run: Run, store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jwks_tool.services.key_service import KeyService

    real = KeyService._add_key

    def add_key(self: KeyService, ref: Any, *args: Any, **kwargs: Any) -> Any:
        if ref.name == "b":  # as if another writer had changed the set meanwhile
            raise ConflictError("key set b (test) was changed by another writer", hint="run the command again")
        return real(self, ref, *args, **kwargs)

    monkeypatch.setattr(KeyService, "_add_key", add_key)
    result = run("generate", "a", "b", "c", "--size", "2048", "--workers", "2", "--json")
    assert result.exit_code == 7
    report = json.loads(result.stdout)
    assert [key["set"] for key in report["made"]] == ["a", "c"]
    assert report["failed"] == [
        {
            "set": "b",
            "error": {
                "type": "ConflictError",
                "message": "key set b (test) was changed by another writer; run the command again",
                "exit_code": 7,
            },
        }
    ]
    assert result.stderr == (
        "jwks-tool: error: b (test): key set b (test) was changed by another writer; run the command again\n"
    )
    assert set_names(store_dir) == ["a", "c"]
    monkeypatch.setattr(KeyService, "_add_key", real)
    rerun = run("generate", "a", "b", "c", "--size", "2048", "--json")
    assert rerun.exit_code == 0
    assert [key["set"] for key in json.loads(rerun.stdout)["made"]] == ["b"]


def test_ctrl_c_in_any_command_is_one_line_and_130(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    assert run("generate", "acme", "--size", "2048").exit_code == 0

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr("jwks_tool.services.key_service.KeyService.get_set", interrupted)
    result = run("show", "acme")
    assert result.exit_code == 130
    assert result.stderr == (
        "jwks-tool: interrupted; each store write is whole or not made at all: `jwks-tool list` shows what is there\n"
    )


def test_ctrl_c_after_every_set_of_a_bulk_generate_was_made_says_so(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    from jwks_tool.services.key_service import BulkResult, KeyService

    real = KeyService.generate_bulk

    def all_made_then_interrupted(self: KeyService, *args: Any, **kwargs: Any) -> BulkResult:
        import dataclasses

        return dataclasses.replace(real(self, *args, **kwargs), interrupted=True)

    monkeypatch.setattr(KeyService, "generate_bulk", all_made_then_interrupted)
    result = run("generate", "c1", "c2", "--size", "2048")
    assert result.exit_code == 130
    assert result.stderr == "jwks-tool: interrupted; made: c1, c2; every set was made; `jwks-tool list` shows them\n"


@pytest.mark.integration
def test_ctrl_c_during_a_bulk_generate_reports_what_was_made(store_dir: Path) -> None:
    env = {**os.environ, "JWKS_TOOL_STORE": str(store_dir), "JWKS_TOOL_PASSPHRASE": "pw"}
    names = [f"m{index}" for index in range(1, 11)]
    process = subprocess.Popen(
        [sys.executable, "-m", "jwks_tool", "generate", *names, "--size", "4096", "--workers", "1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not set_names(store_dir) and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    made = set_names(store_dir)
    assert 1 <= len(made) < 10
    made_in_order = [name for name in names if name in made]
    rest = [name for name in names if name not in made]
    assert stderr == (
        f"jwks-tool: interrupted; made: {', '.join(made_in_order)}; not made: {', '.join(rest)}; run the same "
        "command again to make the rest (sets that have a key are skipped)\n"
    )
    assert [line.split(" in ")[1].split(" ")[0] for line in stdout.splitlines()] == made_in_order
    again = subprocess.run(
        [sys.executable, "-m", "jwks_tool", "generate", *names, "--size", "2048", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert [key["set"] for key in report["made"]] == rest
    assert [s["set"] for s in report["skipped"]] == made_in_order
    assert set_names(store_dir) == sorted(names)
