"""Rotation, revocation, status, check and the audit log, through the CLI and the library."""

from __future__ import annotations

import dataclasses
import errno
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from jwks_tool.core.model import KeyState
from jwks_tool.errors import ConflictError, JwksToolWarning, StoreError
from jwks_tool.services.audit import event, trail
from jwks_tool.services.key_service import GenerateRequest, KeyService, actor
from jwks_tool.services.rotation import Rotation
from jwks_tool.stores.file import FileStore
from jwks_tool.stores.memory import MemoryStore

Run = Callable[..., Result]
FIRST = datetime(2026, 3, 1, tzinfo=UTC)


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


def test_show_json_says_where_each_private_half_is(run: Run, store_dir: Path) -> None:
    assert run("generate", "acme", "--size", "2048", "--kid", "k1").exit_code == 0
    rotate(run, "--all-steps", "--overlap", "0")
    shown = json.loads(run("show", "acme", "--json").stdout)
    assert {key["kid"]: (key["private"], key["has_private"]) for key in shown["keys"]}["k1"] == ("destroyed", False)
    assert [key["private"] for key in shown["keys"] if key["kid"] != "k1"] == ["sealed"]
    listed = json.loads(run("list", "--json").stdout)["sets"][0]["keys"]
    assert sorted(key["private"] for key in listed) == ["destroyed", "sealed"]
    plain = run("generate", "p", "--size", "2048", "--json", "--store", str(store_dir.parent / "plain"))
    assert run("init", "--plaintext", "--store", str(store_dir.parent / "plain2")).exit_code == 0
    made = run("generate", "p", "--size", "2048", "--json", "--store", str(store_dir.parent / "plain2"))
    assert json.loads(plain.stdout)["key"]["private"] == "sealed"
    assert json.loads(made.stdout)["key"]["private"] == "plaintext"


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
    result = run("generate", "acme", "--size", "2048")
    assert result.exit_code == 4
    assert result.stderr == (
        "jwks-tool: error: key set acme (test) already has 5 registered keys, the most maskinporten allows; retire a "
        "key first (jwks-tool rotate acme --env test --finish, with --force before the overlap has passed)\n"
    )


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


# ---- the audit trail: the log, completed from the sets' histories ----------------------------------------------------
class RefusingAppends(MemoryStore):
    """A store whose audit appends fail after the set was written (a vault throttling the append, a full disk)."""

    refuse = True

    def append_audit(self, events: Sequence[Mapping[str, Any]]) -> None:
        if self.refuse:
            raise StoreError("cannot append to the audit log: 429 Too Many Requests")
        super().append_audit(events)


def test_each_stored_change_carries_its_whole_audit_event() -> None:
    store = MemoryStore()
    svc = KeyService(store, lambda confirm: "pw", command="jwks-tool rotate")
    svc.generate(GenerateRequest(name="acme", size=2048, kid="k1"))
    Rotation(svc).start("acme", "test", GenerateRequest(name="acme", size=2048, kid="k2"))
    Rotation(svc).promote("acme", "test")
    logged = store.read_audit()
    keyset = svc.get_set("acme")
    from_history = [event(keyset.ref, key.kid, step) for key in keyset.keys for step in key.history]
    assert sorted(map(json.dumps, from_history)) == sorted(map(json.dumps, logged))
    assert [e["revision"] for e in logged] == [1, 2, 3, 3]
    assert {e["command"] for e in logged} == {"jwks-tool rotate"}
    assert trail(store) == logged  # nothing to recover


def test_a_failed_append_warns_and_the_trail_recovers_the_event() -> None:
    store = RefusingAppends()
    svc = KeyService(store, lambda confirm: "pw", command="jwks-tool generate")
    with pytest.warns(JwksToolWarning, match=r"acme \(test\) was changed, but its audit events could not be appended"):
        record = svc.generate(GenerateRequest(name="acme", size=2048, kid="k1"))
    assert store.read_audit() == []
    store.refuse = False
    Rotation(svc).start("acme", "test", GenerateRequest(name="acme", size=2048, kid="k2"))
    recovered, logged = trail(store)
    assert recovered["kid"] == record.kid == "k1"
    assert recovered["recovered"] is True
    assert (recovered["to"], recovered["revision"], recovered["command"]) == ("active", 1, "jwks-tool generate")
    assert recovered["user"] == actor()
    assert (logged["kid"], logged["revision"]) == ("k2", 2)
    assert "recovered" not in logged


def test_log_shows_a_recovered_event(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    def full_disk(self: FileStore, events: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(FileStore, "append_audit", full_disk)
    generated = run("generate", "acme", "--size", "2048", "--kid", "k1")
    assert generated.exit_code == 0
    assert generated.stderr.count("\n") == 1
    assert generated.stderr.startswith("jwks-tool: warning: acme (test) was changed, but its audit events could not")
    assert "No space left on device" in generated.stderr
    assert "`jwks-tool log` shows them" in generated.stderr
    (shown,) = json.loads(run("log", "acme", "--json").output)["events"]
    assert (shown["kid"], shown["to"], shown["recovered"]) == ("k1", "active", True)
    assert run("log").output.rstrip().endswith("[recovered from the key's history]")


def test_transitions_from_before_the_writer_stamp_match_their_logged_events() -> None:
    store = MemoryStore()
    svc = KeyService(store, lambda confirm: "pw")
    svc.generate(GenerateRequest(name="acme", size=2048, kid="k1"))
    keyset = svc.get_set("acme")
    (key,) = keyset.keys
    unstamped = dataclasses.replace(key.history[0], by=None, command=None, revision=None)
    assert "by" not in unstamped.to_dict()  # what a document from an older jwks-tool holds
    old = keyset.replace_keys([dataclasses.replace(key, history=(unstamped,))])
    store.write_set(old, expected_revision=keyset.revision)
    assert trail(store) == store.read_audit()  # matched by set, env, kid and states: no duplicate
    store._audit.clear()
    (recovered,) = trail(store)
    assert (recovered["user"], recovered["command"], recovered["revision"]) == ("unknown", None, None)


def test_log_is_golden_and_escapes_what_users_typed(
    run: Run, rfc7517_rsa: dict[str, Any], fixed_now: Any, golden: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("jwks_tool.services.key_service.actor", lambda: "tester@host")
    assert run("log").exit_code == 6  # no store yet
    assert run("init").exit_code == 0
    assert run("log").output == "No changes logged.\n"
    del rfc7517_rsa["kid"]
    (tmp_path / "k.json").write_text(json.dumps(rfc7517_rsa))
    assert run("import", "acme", str(tmp_path / "k.json"), "--kid", "k1").exit_code == 0
    reason = "leaked\nFAKE 2026-01-01T00:00:00Z  acme (test)  k1  new -> active\x1b[2J"  # a line and a screen wipe
    monkeypatch.setattr("jwks_tool.services.rotation.check_reason", lambda reason: None)  # as an older version wrote
    assert run("revoke", "acme", "--kid", "k1", "--reason", reason).exit_code == 0
    shown = run("log")
    assert shown.exit_code == 0
    assert shown.output.count("\n") == 2
    assert "\x1b" not in shown.output
    golden("log.txt", shown.output)


def test_the_markdown_report_keeps_a_typed_reason_in_its_table_cell(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    assert run("generate", "acme", "--size", "2048", "--kid", "k1").exit_code == 0
    monkeypatch.setattr("jwks_tool.services.rotation.check_reason", lambda reason: None)  # as an older version wrote
    assert run("revoke", "acme", "--kid", "k1", "--reason", "a | b\n| x | y |").exit_code == 0
    report = run("report", "--format", "md")
    assert report.exit_code == 0
    (row,) = [line for line in report.output.splitlines() if "revoke: a" in line]
    assert "revoke: a \\| b\\\\n\\| x \\| y \\|" in row  # the escaped newline's backslash is itself escaped
    assert row.count(" | ") == 5  # six cells, the reason in one


def test_a_set_made_again_with_the_same_kid_gets_its_own_event() -> None:
    """Found in review: matching on (set, env, kid, states) let an old logged event stand for a new change."""
    store = RefusingAppends()
    store.refuse = False
    svc = KeyService(store, lambda confirm: "pw", clock=lambda: FIRST)
    svc.generate(GenerateRequest(name="acme", size=2048, kid="k1"))
    store._sets.clear()  # the set deleted by hand; the log keeps its event
    store.refuse = True
    again = KeyService(store, lambda confirm: "pw", clock=lambda: FIRST + timedelta(days=1))
    with pytest.warns(JwksToolWarning):
        again.generate(GenerateRequest(name="acme", size=2048, kid="k1"))
    old, new = trail(store)
    assert "recovered" not in old
    assert new["recovered"] is True
    assert new["time"] == "2026-03-02T00:00:00Z"


def test_log_shows_the_log_when_a_set_cannot_be_read(run: Run, store_dir: Path) -> None:
    """Found in review: one unreadable set (here from a newer jwks-tool) hid the whole log."""
    assert run("generate", "acme", "--size", "2048", "--kid", "k1").exit_code == 0
    assert run("generate", "globex", "--size", "2048", "--kid", "g1").exit_code == 0
    path = store_dir / "sets" / "test" / "globex.json"
    path.write_text(path.read_text().replace('"schema": 1', '"schema": 99'))
    shown = run("log")
    assert shown.exit_code == 0
    assert [line.split()[3] for line in shown.stdout.splitlines()] == ["k1", "g1"]
    (warning,) = shown.stderr.splitlines()
    assert warning.startswith("jwks-tool: warning: cannot read globex (test) (")
    assert "newer jwks-tool" in warning


# ---- prune: retired keys leave the set, their story stays in the log -------------------------------------------------
def test_prune_drops_old_retired_keys_and_keeps_their_story() -> None:
    store = MemoryStore()
    svc = KeyService(store, lambda confirm: "pw", command="jwks-tool rotate")
    rotation = Rotation(svc)
    svc.generate(GenerateRequest(name="acme", size=2048, kid="k1"))
    for kid in ("k2", "k3"):
        request = GenerateRequest(name="acme", size=2048, kid=kid)
        rotation.all_steps("acme", "test", request, overlap=timedelta(0), force=False, keep_private=False)
    before = trail(store)
    assert rotation.prune("acme", "test").changed is False  # retired just now: younger than 30 days
    result = rotation.prune("acme", "test", older_than=timedelta(0))
    assert [key.kid for key in result.pruned] == ["k1", "k2"]
    assert result.summary == "pruned k1, k2; their history stays in the audit log"
    assert [(key.kid, key.state) for key in svc.get_set("acme").keys] == [("k3", KeyState.ACTIVE)]
    after = trail(store)
    assert after[: len(before)] == before  # every earlier event is still there, none recovered
    assert [(e["kid"], e["from"], e["to"], e["revision"]) for e in after[len(before) :]] == [
        ("k1", "retired", "pruned", 8),
        ("k2", "retired", "pruned", 8),
    ]
    assert not any(e.get("recovered") for e in after)
    assert rotation.prune("acme", "test", older_than=timedelta(0)).changed is False


def test_prune_first_moves_what_only_the_history_holds_into_the_log() -> None:
    store = RefusingAppends()
    store.refuse = False
    svc = KeyService(store, lambda confirm: "pw")
    rotation = Rotation(svc)
    svc.generate(GenerateRequest(name="acme", size=2048, kid="k1"))
    rotation.start("acme", "test", GenerateRequest(name="acme", size=2048, kid="k2"))
    rotation.promote("acme", "test")
    store.refuse = True
    with pytest.warns(JwksToolWarning):
        rotation.finish("acme", "test", overlap=timedelta(0))  # k1 retired: only the set's history says so
    store.refuse = False
    rotation.prune("acme", "test", older_than=timedelta(0))
    logged = [(e["kid"], e["to"], bool(e.get("recovered"))) for e in store.read_audit()]
    assert ("k1", "retired", True) in logged  # appended before the set dropped k1, marked where it came from
    assert logged[-1] == ("k1", "pruned", False)
    assert [(e["kid"], e["to"]) for e in trail(store)] == [(e[0], e[1]) for e in logged]


def test_prune_keeps_a_revoked_key_that_still_holds_its_private_half(run: Run) -> None:
    assert run("generate", "acme", "--size", "2048", "--kid", "k1").exit_code == 0
    assert run("rotate", "acme", "--all-steps", "--overlap", "0").exit_code == 0
    (k2,) = [kid for kid, state in states(run).items() if state == "active"]
    assert run("generate", "acme", "--size", "2048", "--kid", "k3").exit_code == 0  # next
    assert run("revoke", "acme", "--kid", "k3", "--reason", "test", "--keep-private").exit_code == 0
    pruned = run("prune", "acme", "--older-than", "0d", "--json")
    assert pruned.exit_code == 0, pruned.stderr
    data = json.loads(pruned.stdout)
    assert (data["step"], data["changed"], data["pruned"]) == ("prune", True, ["k1"])
    assert data["states"] == {k2: "active", "k3": "revoked"}
    assert "kept k3: still holding a private half" in data["summary"]
    again = run("prune", "acme", "--older-than", "0d")
    assert again.stdout.startswith("prune: nothing to prune: no retired or revoked key out of use for 0")
    assert "kept k3" in again.stdout


@pytest.mark.parametrize(
    ("reason", "shown"),
    [("x" * 501, "501 characters"), ("leaked\nrun: rm -rf /", "'leaked\\nrun: rm -rf /'"), ("bell\x07", "'bell\\x07'")],
)
def test_a_revocation_reason_is_one_printable_line_of_at_most_500_characters(run: Run, reason: str, shown: str) -> None:
    """The reason goes into the set (a Key Vault set is one secret of at most 25 KB) and the audit log: a megabyte or a
    forged second line is refused before the lock is taken, and the key stays as it was."""
    assert run("generate", "acme", "--size", "2048", "--kid", "k1").exit_code == 0
    result = run("revoke", "acme", "--kid", "k1", "--reason", reason)
    assert result.exit_code == 3
    assert result.stderr == (
        f"jwks-tool: error: the revocation reason ({shown}) must be one line of printable text of at most 500 "
        'characters; pass --reason "what happened" in a line\n'
    )
    assert states(run) == {"k1": "active"}
    assert run("revoke", "acme", "--kid", "k1", "--reason", "x" * 500).exit_code == 0
