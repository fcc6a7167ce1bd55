"""Rotation, revocation, status, check and the audit log, through the CLI and the library."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from click.testing import Result

from jwks_tool.errors import ConflictError
from jwks_tool.model import KeyState
from jwks_tool.rotation import Rotation
from jwks_tool.service import GenerateRequest, KeyService
from jwks_tool.stores.memory import MemoryStore

Run = Callable[..., Result]


def states(run: Run, name: str = "acme") -> dict[str, str]:
    shown = json.loads(run("show", name, "--json").output)
    return {key["kid"]: key["state"] for key in shown["keys"]}


def registered(run: Run, name: str = "acme") -> list[str]:
    return [key["kid"] for key in json.loads(run("export", name, "--format", "jwks").output)["keys"]]


def rotate(run: Run, *args: str) -> dict[str, Any]:
    result = run("rotate", "acme", *args, "--json")
    assert result.exit_code == 0, result.stderr
    return dict(json.loads(result.output))


def test_scripted_rotation_tells_the_whole_story(run: Run) -> None:
    assert run("generate", "acme", "--size", "2048", "--kid", "k1").exit_code == 0
    assert registered(run) == ["k1"]

    step1 = rotate(run)
    new = step1["steps"][0]["added"]
    assert states(run) == {"k1": "active", new: "next"}
    assert [key["kid"] for key in step1["register"]["keys"]] == ["k1", new] == registered(run)
    assert step1["delete_kids"] == []
    again = rotate(run)  # idempotent: the waiting key is reused
    assert again["steps"][0]["changed"] is False
    assert again["steps"][0]["added"] == new
    assert len(states(run)) == 2

    single = run("rotate", "acme", "--single")
    assert single.exit_code == 0
    assert f'"kid": "{new}"' in single.output
    assert '"keys"' not in single.output

    step2 = rotate(run, "--promote")
    assert states(run) == {"k1": "retiring", new: "active"}
    assert registered(run) == ["k1", new]
    assert rotate(run, "--promote")["steps"][0]["changed"] is False

    early = run("rotate", "acme", "--finish")
    assert early.exit_code == 7
    assert "the overlap of 1d has not passed for k1" in early.stderr
    assert states(run) == {"k1": "retiring", new: "active"}

    step3 = rotate(run, "--finish", "--overlap", "0")
    assert step3["delete_kids"] == ["k1"]
    assert states(run) == {"k1": "retired", new: "active"}
    assert registered(run) == [new]
    assert step2["next_action"].startswith("jwks-tool rotate acme --env test --finish")
    assert rotate(run, "--finish", "--overlap", "0")["steps"][0]["changed"] is False

    gone = run("export", "acme", "--kid", "k1", "--private")
    assert gone.exit_code == 6
    assert "the private half of k1 is no longer in the store" in gone.stderr

    events = json.loads(run("log", "acme", "--json").output)["events"]
    story = [(e["kid"], e["from"], e["to"]) for e in events]
    assert story == [
        ("k1", None, "active"),
        (new, None, "next"),
        ("k1", "active", "retiring"),
        (new, "next", "active"),
        ("k1", "retiring", "retired"),
    ]
    assert all(e["user"] and e["command"].startswith("jwks-tool ") for e in events)
    text = run("log").output
    assert text.count("\n") == 5


def test_all_steps_for_automation(run: Run) -> None:
    assert run("generate", "acme", "--size", "2048", "--kid", "k1").exit_code == 0
    out = rotate(run, "--all-steps", "--overlap", "0")
    assert [s["step"] for s in out["steps"]] == ["start", "promote", "finish"]
    new = out["steps"][0]["added"]
    assert states(run) == {"k1": "retired", new: "active"}
    assert out["delete_kids"] == ["k1"]
    keep = rotate(run, "--all-steps", "--overlap", "0", "--keep-private")
    assert keep["delete_kids"] == [new]
    assert run("export", "acme", "--kid", new, "--private").exit_code == 0  # kept


def test_never_more_than_five_registered(run: Run) -> None:
    assert run("generate", "acme", "--size", "2048").exit_code == 0
    for _ in range(4):
        rotate(run)
        rotate(run, "--promote")
    assert len(registered(run)) == 5
    result = run("rotate", "acme")
    assert result.exit_code == 4
    assert result.stderr == (
        "jwks-tool: error: acme (test) already has 5 registered keys, the most maskinporten allows; finish the "
        "rotation in progress first (jwks-tool rotate acme --env test --finish)\n"
    )
    assert list(states(run).values()).count("active") == 1


def test_revoke_active_with_a_successor(run: Run) -> None:
    assert run("generate", "acme", "--size", "2048", "--kid", "k1").exit_code == 0
    new = rotate(run)["steps"][0]["added"]
    result = run("revoke", "acme", "--kid", "k1", "--reason", "laptop stolen")
    assert result.exit_code == 0
    assert result.output.splitlines()[0] == f"revoke: revoked k1; {new} is active now"
    assert states(run) == {"k1": "revoked", new: "active"}
    assert registered(run) == [new]
    history = json.loads(run("log", "--json").output)["events"][-2:]
    assert [(e["kid"], e["to"], e["reason"]) for e in history] == [
        ("k1", "revoked", "revoke: laptop stolen"),
        (new, "active", "replaces revoked k1"),
    ]


def test_revoke_the_only_key_says_what_to_do(run: Run) -> None:
    assert run("generate", "acme", "--size", "2048", "--kid", "k1").exit_code == 0
    result = run("revoke", "acme", "--kid", "k1", "--reason", "leaked")
    assert result.exit_code == 0
    assert "the set has NO active key: run `jwks-tool rotate acme --env test --all-steps --overlap 0`" in result.output
    check = run("check")
    assert check.exit_code == 2
    assert "no active key" in check.output
    assert run("revoke", "acme", "--kid", "nope", "--reason", "x").exit_code == 6


@pytest.mark.parametrize(("days", "code"), [(15, 1), (30, 1), (90, 0), (10, 2)])
def test_check_exit_codes_by_expiry(run: Run, days: int, code: int) -> None:
    assert run("generate", "acme", "--size", "2048", "--expires-in", f"{days}d").exit_code == 0
    result = run("check", "--warn", "60d", "--fail", "14d")
    assert result.exit_code == code, result.output
    report = json.loads(run("check", "--warn", "60d", "--fail", "14d", "--json").output)
    assert report["verdict"] == {0: "ok", 1: "warnings", 2: "errors"}[code]


def test_status_shows_every_set(run: Run, fixed_now: Any) -> None:
    assert run("generate", "acme", "--size", "2048", "--kid", "k1").exit_code == 0
    assert run("generate", "beta", "--size", "2048", "--kid", "b1", "--env", "prod").exit_code == 0
    rotate(run)
    result = run("status")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0] == "acme (test), maskinporten: OK"
    assert "  active k1: 0 days old, expires in 365 days (2027-01-15)" in result.output
    assert any(line.startswith("  next: register the set (jwks-tool export acme --env test") for line in lines)
    assert "beta (prod), maskinporten: OK" in lines
    data = json.loads(run("status", "--json").output)
    assert [(s["set"], s["env"], s["active"]) for s in data["sets"]] == [("acme", "test", "k1"), ("beta", "prod", "b1")]


def test_two_concurrent_promotions_never_make_two_actives() -> None:
    import threading

    store = MemoryStore()
    svc = KeyService(store, lambda confirm: "pw")
    svc.generate(GenerateRequest(name="acme", size=2048))
    Rotation(svc).start("acme", "test", GenerateRequest(name="acme", size=2048))
    results: list[bool] = []

    def promote() -> None:
        results.append(Rotation(KeyService(store, lambda confirm: "pw")).promote("acme", "test").changed)

    threads = [threading.Thread(target=promote) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False, False, False, True]
    keyset = svc.get_set("acme")
    assert [key.state for key in keyset.keys].count(KeyState.ACTIVE) == 1


def test_finish_refuses_early_without_force() -> None:
    svc = KeyService(MemoryStore(), lambda confirm: "pw")
    svc.generate(GenerateRequest(name="acme", size=2048))
    rotation = Rotation(svc)
    rotation.start("acme", "test", GenerateRequest(name="acme", size=2048))
    rotation.promote("acme", "test")
    with pytest.raises(ConflictError):
        rotation.finish("acme", "test", overlap=timedelta(hours=1))
    assert rotation.finish("acme", "test", overlap=timedelta(hours=1), force=True).changed


def test_revoked_keys_are_never_offered_for_registration(run: Run) -> None:
    assert run("generate", "acme", "--size", "2048", "--kid", "k1").exit_code == 0
    assert run("revoke", "acme", "--kid", "k1", "--reason", "leaked").exit_code == 0
    assert json.loads(run("export", "acme", "--format", "jwks").output) == {"keys": []}
    assert json.loads(run("export", "acme", "--format", "jwks-array").output) == []
    single = run("export", "acme")
    assert single.exit_code == 6
    assert "no registered key (every key is retired or revoked)" in single.stderr
    portal = run("render", "portal", "acme")
    assert "k1" not in portal.output.split("## ")[0].split("Paste this JSON")[1]
    assert run("export", "acme", "--kid", "k1").exit_code == 0  # asked for by kid: still shown
