"""plan and apply against the Maskinporten- and Key Vault-compatible servers: real HTTPS, real keys, real tokens."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from jwks_tool.core.manifest import ClientSpec, Delivery
from jwks_tool.core.model import KeyRecord, KeySet
from jwks_tool.errors import AbortedError, RemoteError
from jwks_tool.services.fleet.adapters import UNREADABLE
from jwks_tool.services.fleet.engine import Outcome, StepKind
from jwks_tool.services.fleet.ports import DeliveredKey, RegisteredKey
from tests.fleet_world import CERT_PASSPHRASE, ClientDef, World, fleet_env, spec
from tests.servers.keyvault import KeyVaultServer

pytestmark = pytest.mark.integration
Run = Callable[..., Result]

FAST = 'size = 2048\nrotate_after = "90d"\nrenew_before = "30d"\noverlap = "1h"\npropagation = "0s"'


@pytest.fixture
def kv(vault: KeyVaultServer, monkeypatch: pytest.MonkeyPatch) -> KeyVaultServer:
    fleet_env(monkeypatch, vault)
    return vault


@pytest.fixture
def make_world(tmp_path: Path, kv: KeyVaultServer) -> Iterator[Callable[..., World]]:
    worlds: list[World] = []

    def factory(clients: list[ClientDef], defaults: str = FAST) -> World:
        root = tmp_path / f"w{len(worlds)}"
        root.mkdir()
        world = World(root, kv, clients, defaults=defaults)
        worlds.append(world)
        return world

    yield factory
    for world in worlds:
        world.close()


def cli_args(world: World, *extra: str) -> list[str]:
    return [
        "--manifest",
        str(world.manifest_path),
        "--credential",
        "managed-identity",
        "--ca-bundle",
        world.vault.ca_path,
        *extra,
    ]


def signed_in(world: World) -> str:
    """What plan and apply print on stderr once per certificate when they sign in to Digdir's self-service API."""
    return (
        "Signing in to Digdir with virksomhet.p12: the business certificate of organisation 999888777 (CN=ACME AS,"
        "2.5.4.97=NTRNO-999888777,O=ACME AS,C=NO), "
        f"valid {world.certificate.leaf.not_valid_before_utc:%Y-%m-%d} to "
        f"{world.certificate.leaf.not_valid_after_utc:%Y-%m-%d}.\n"
    )


# ---- plan and apply from the command line ---------------------------------------------------------------------------
def test_plan_apply_and_plan_at_from_the_command_line(run: Run, make_world: Callable[..., World]) -> None:
    world = make_world([ClientDef("invoice-sync", "prod"), ClientDef("reporting", "test")])
    planned = run("plan", *cli_args(world))
    assert planned.exit_code == 11, planned.stderr
    assert planned.stderr == signed_in(world)  # once, though test and prod both sign in with it
    lines = planned.stdout.splitlines()
    assert lines[0].endswith("(2 clients): 2 with changes due")
    assert lines[1] == "invoice-sync (prod)  generate  missing key: no key set in the store"
    assert lines[2] == "reporting (test)     generate  missing key: no key set in the store"
    offline = run("plan", "--offline", *cli_args(world))
    assert offline.exit_code == 11
    assert offline.stderr == ""  # no sign-in offline
    assert offline.output.splitlines()[1:] == lines[1:]

    summary = world.root / "summary.md"
    summary.write_text("# CI job\n")
    summary.chmod(0o640)
    applied = run("apply", "--yes", "--summary", str(summary), *cli_args(world))
    assert applied.exit_code == 0, applied.stderr
    assert applied.stderr == signed_in(world)
    out = applied.stdout.splitlines()
    assert out[0].startswith("invoice-sync (prod): converged (generated invoice-sync-prod-")
    assert "; registered invoice-sync-prod-" in out[0]
    assert "; proven invoice-sync-prod-" in out[0]
    assert "; delivered invoice-sync-prod-" in out[0]
    assert " next: start at " in out[0]
    assert world.consumers_get_tokens() == []
    assert world.registered_counts() == {"invoice-sync": 1, "reporting": 1}
    text = summary.read_text()
    assert text.startswith("# CI job\n## jwks-tool apply: 2 converged, 0 failed, 0 waiting on a person\n")
    assert "| invoice-sync | prod | converged | generated invoice-sync-prod-" in text
    assert summary.stat().st_mode & 0o777 == 0o640

    again = run("plan", *cli_args(world))
    assert again.exit_code == 0, again.output
    assert again.stdout.splitlines()[1].startswith("invoice-sync (prod)  ok        active invoice-sync-prod-")
    later = run("plan", "--at", "+91d", "--json", *cli_args(world))
    assert later.exit_code == 11
    data = json.loads(later.stdout)
    assert [client["due"][0]["step"] for client in data["clients"]] == ["start", "start"]
    assert data["clients"][0]["due"][0]["reason"].startswith("age 91d >= rotate_after 90d")

    log = run("log", "--json", "--store", world.store_url)
    text_log = run("log", "--store", world.store_url)
    assert text_log.exit_code == 0  # the text log shows the fleet's events too, each with what it is about
    assert "None" not in text_log.output
    run_lines = [line for line in text_log.output.splitlines() if "fleet:run" in line]
    assert run_lines
    assert all(re.search(r"Z  run [0-9a-f]{12}  -> fleet:run  apply (started|ended)", line) for line in run_lines)
    report = run("report", "--format", "md", "--store", world.store_url)
    assert report.exit_code in (0, 1, 2), report.stderr
    assert "fleet:delivered" in report.output
    events = [event for event in json.loads(log.output)["events"] if str(event.get("to", "")).startswith("fleet:")]
    assert {event["to"] for event in events} >= {
        "fleet:generated",
        "fleet:registered",
        "fleet:proven",
        "fleet:delivered",
    }
    run_ids = {event["run"] for event in events}
    assert len(run_ids) == 1
    assert all(event["manifest"] == str(world.manifest_path) for event in events)


def test_apply_asks_first_without_yes_and_refuses_more_than_max_changes(
    run: Run, make_world: Callable[..., World]
) -> None:
    world = make_world([ClientDef("a"), ClientDef("b")])
    result = run("apply", *cli_args(world))
    assert result.exit_code == 9
    assert result.stderr == (
        "jwks-tool: error: apply changes keys, registrations and secrets and asks first; "
        "pass --yes (cron, CI), or run it on a terminal\n"
    )
    result = run("apply", "--yes", "--max-changes", "1", *cli_args(world))
    assert result.exit_code == 9
    assert result.stderr == signed_in(world) + (
        "jwks-tool: error: 2 clients have changes due, more than --max-changes 1: nothing was done; "
        "run `jwks-tool plan` to see them, then raise --max-changes or apply a smaller manifest\n"
    )
    assert world.service().store.list_refs() == []


# ---- the invariants, through the library with the simulated clock -------------------------------------------------
class Recorder:
    """Wraps the real ports and records what happened when (on the simulated clock)."""

    def __init__(self, world: World, prover: Any, deliverer: Any) -> None:
        self.world = world
        self.prover = prover
        self.deliverer = deliverer
        self.log: list[tuple[str, str, str, Any]] = []
        self.fail_prove: set[str] = set()

    def prove(self, client: ClientSpec, keyset: KeySet, record: KeyRecord) -> None:
        if client.ref.name in self.fail_prove:
            raise RemoteError("Maskinporten refused the grant: simulated", hint="wait")
        self.prover.prove(client, keyset, record)
        self.log.append(("proven", client.ref.name, record.kid, self.world.clock.now()))

    def delivered(self, client: ClientSpec, delivery: Delivery) -> DeliveredKey | None:
        result: DeliveredKey | None = self.deliverer.delivered(client, delivery)
        return result

    def deliver(self, client: ClientSpec, delivery: Delivery, keyset: KeySet, record: KeyRecord) -> None:
        self.deliverer.deliver(client, delivery, keyset, record)
        self.log.append(("delivered", client.ref.name, record.kid, self.world.clock.now()))


def recorded_fleet(world: World, **kwargs: Any) -> tuple[Any, Recorder]:
    base = world.fleet(**kwargs)
    recorder = Recorder(world, base.prover, base.deliverer)
    base.prover = recorder
    base.deliverer = recorder
    return base, recorder


def test_a_key_is_delivered_only_after_a_token_proved_it_and_propagation_passed(
    make_world: Callable[..., World],
) -> None:
    defaults = 'size = 2048\nrotate_after = "30d"\nrenew_before = "10d"\noverlap = "1h"\npropagation = "5m"'
    world = make_world([ClientDef("a"), ClientDef("b", "prod")], defaults)
    fleet, recorder = recorded_fleet(world, workers=1)
    fleet.max_wait = timedelta(0)
    first = fleet.apply()
    assert [result.outcome for result in first.results] == [Outcome.CONVERGED, Outcome.CONVERGED]
    assert all(result.next is not None and result.next.step is StepKind.PROVE for result in first.results)
    assert recorder.log == []  # registered, but not tested before propagation
    assert world.consumers_get_tokens() == ["a: nothing delivered", "b: nothing delivered"]
    world.advance(seconds=301)
    fleet, recorder = recorded_fleet(world, workers=1)
    assert fleet.apply().count(Outcome.CONVERGED) == 2
    assert [entry[0] for entry in recorder.log] == ["proven", "delivered", "proven", "delivered"]
    assert world.consumers_get_tokens() == []


def test_a_retiring_key_stays_registered_for_the_overlap_after_delivery(make_world: Callable[..., World]) -> None:
    world = make_world([ClientDef("a")])
    fleet = world.fleet()
    assert fleet.apply().count(Outcome.CONVERGED) == 1
    old = world.mp["test"].registered_jwks("a-id")["keys"][0]["kid"]
    world.advance(days=91)
    result = world.fleet().apply().results[0]
    assert result.outcome is Outcome.CONVERGED
    assert result.next is not None
    assert result.next.step is StepKind.FINISH
    kids = [key["kid"] for key in world.mp["test"].registered_jwks("a-id")["keys"]]
    assert old in kids
    assert len(kids) == 2
    world.advance(seconds=3500)  # not yet an hour after the delivery
    assert world.fleet().apply().results[0].steps == ()
    assert old in [key["kid"] for key in world.mp["test"].registered_jwks("a-id")["keys"]]
    world.advance(seconds=200)
    steps = world.fleet().apply().results[0].steps
    assert steps[0].startswith(f"retired {old}")
    assert steps[1].startswith("registered a-test-")
    assert [key["kid"] for key in world.mp["test"].registered_jwks("a-id")["keys"]] == [kids[1]]
    assert world.consumers_get_tokens() == []


def test_a_failed_step_stops_its_client_the_others_go_on_and_the_next_run_resumes(
    make_world: Callable[..., World],
) -> None:
    world = make_world([ClientDef("a"), ClientDef("b"), ClientDef("c")])
    fleet, recorder = recorded_fleet(world)
    recorder.fail_prove.add("b")
    run = fleet.apply()
    by_name = {result.client.ref.name: result for result in run.results}
    assert by_name["a"].outcome is Outcome.CONVERGED
    assert by_name["c"].outcome is Outcome.CONVERGED
    assert by_name["b"].outcome is Outcome.FAILED
    assert by_name["b"].error == "Maskinporten refused the grant: simulated; wait"
    assert [step.split()[0] for step in by_name["b"].steps] == ["generated", "registered"]
    assert ("delivered", "b") not in [(entry[0], entry[1]) for entry in recorder.log]
    plan = {item.client.ref.name: item for item in world.fleet().plan()}
    assert [due.step for due in plan["b"].due] == [StepKind.PROVE]
    fleet, recorder = recorded_fleet(world)
    again = fleet.apply()
    assert again.count(Outcome.CONVERGED) == 3
    assert [(entry[0], entry[1]) for entry in recorder.log] == [("proven", "b"), ("delivered", "b")]
    assert world.consumers_get_tokens() == []


def test_manual_registration_waits_on_a_person_then_continues(make_world: Callable[..., World]) -> None:
    world = make_world([ClientDef("m", register="manual")])
    result = world.fleet().apply().results[0]
    assert result.outcome is Outcome.WAITING
    assert result.next is not None
    assert result.next.step is StepKind.MANUAL
    assert result.paste is not None
    assert '"d"' not in result.paste
    assert world.consumers_get_tokens() == ["m: nothing delivered"]
    assert world.fleet().apply().results[0].outcome is Outcome.WAITING  # still nobody pasted it
    world.paste_for_person(world.clients[0], result.paste)
    done = world.fleet().apply().results[0]
    assert done.outcome is Outcome.CONVERGED, done.error
    assert done.steps[0].startswith("proven m-test-")
    assert done.steps[0].endswith("(manual registration)")
    assert world.consumers_get_tokens() == []


def test_manual_waiting_is_exit_13_and_prints_the_set(run: Run, make_world: Callable[..., World]) -> None:
    world = make_world([ClientDef("m", register="manual")])
    result = run("apply", "--yes", *cli_args(world))
    assert result.exit_code == 13, result.stderr
    assert result.output.splitlines()[1] == "  paste this set into Digdir's portal for m-id:"
    pasted = json.loads("\n".join(line[2:] for line in result.output.splitlines()[2:]))
    assert [key["kid"] for key in pasted["keys"]] == [result.output.split("generated ")[1].split(")")[0]]
    assert all("d" not in key for key in pasted["keys"])


def test_a_failed_step_is_exit_12_with_the_fix(run: Run, make_world: Callable[..., World]) -> None:
    world = make_world([ClientDef("a")])
    world.mp["test"].faults.server_error(503, path="^/token$", count=None)
    result = run("apply", "--yes", *cli_args(world))
    assert result.exit_code == 12
    assert result.stderr == signed_in(world)
    assert result.stdout == (
        "a (test): failed; Maskinporten refused the grant: temporarily_unavailable: Injected fault: HTTP 503; "
        "see Maskinporten's documentation of the /token endpoint\n"
    )
    assert world.service().store.read_set(spec(world.fleet(), "a").ref) is None  # stopped before anything
    check = run("check", "--store", world.store_url)
    assert "the audit log names this key set" not in check.output  # a failure's event names the client, not a set
    world.mp["test"].faults.clear()
    assert run("apply", "--yes", *cli_args(world)).exit_code == 0
    assert world.consumers_get_tokens() == []


def test_never_more_than_five_registered_keys(make_world: Callable[..., World]) -> None:
    world = make_world([ClientDef("a")])
    assert world.fleet().apply().count(Outcome.CONVERGED) == 1
    mine = world.mp["test"].registered_jwks("a-id")["keys"]
    foreign = []
    for index in range(4):
        key = dict(world.mp["test"].public_jwks["keys"][0])
        key["kid"] = f"someone-else-{index}"
        foreign.append(key)
    world.mp["test"].set_client_jwks("a-id", {"keys": mine + foreign})
    world.advance(days=91)
    result = world.fleet().apply().results[0]
    assert result.outcome is Outcome.FAILED
    assert result.error == (  # refused before the key is made (test_fleet_offline.py checks no key and no PUT)
        "a new key would make 6 registered keys, more than Digdir's 5 (Digdir holds someone-else-0, "
        "someone-else-1, someone-else-2, someone-else-3, unknown to the store), so none is made; remove them in "
        "Digdir's portal, or register the store's keys alone: `jwks-tool portal push a --env test --client-id a-id "
        "--replace` with your sign-in options"
    )
    assert result.steps == ()
    assert len(world.mp["test"].registered_jwks("a-id")["keys"]) == 5
    assert world.consumers_get_tokens() == []


def test_two_concurrent_applies_rotate_each_client_once(make_world: Callable[..., World]) -> None:
    world = make_world([ClientDef(f"c{index}", "test" if index % 2 else "prod") for index in range(6)])
    assert world.fleet().apply().count(Outcome.CONVERGED) == 6
    world.advance(days=91)
    results: list[Any] = []

    def one() -> None:
        results.append(world.fleet(workers=3, fresh=True).apply())  # each its own store object, as two runners

    threads = [threading.Thread(target=one) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for _ in range(2):  # a run that lost a race converges on the next one
        world.fleet().apply()
    assert world.consumers_get_tokens() == []
    svc = world.service()
    for client in world.clients:
        keyset = svc.get_set(client.name, client.env)
        assert len(keyset.keys) == 2, [k.state for k in keyset.keys]  # one rotation: one new key, never two
        assert keyset.active is not None
        assert max(world.registered_counts().values()) <= 2


def test_a_rotation_decided_before_another_run_rotated_makes_no_second_key(
    make_world: Callable[..., World], monkeypatch: pytest.MonkeyPatch
) -> None:
    from jwks_tool.core import keys

    world = make_world([ClientDef("a")])
    assert world.fleet().apply().count(Outcome.CONVERGED) == 1
    world.advance(days=91)
    generate = keys.generate_private_jwk
    other: list[Any] = []
    racing: list[bool] = []

    def slow_generate(**kwargs: Any) -> Any:  # while this run makes its key, another run rotates the client
        members = generate(**kwargs)
        if not racing:
            racing.append(True)
            other.append(world.fleet(fresh=True).apply())
        return members

    monkeypatch.setattr(keys, "generate_private_jwk", slow_generate)
    result = world.fleet().apply().results[0]
    assert other[0].results[0].steps[0].startswith("made a-test-")  # the other run rotated it
    assert result.outcome is Outcome.CONVERGED, result.error
    assert result.steps[0].startswith("not started: the active key is now a-test-")
    keyset = world.service().get_set("a", "test")
    assert len(keyset.keys) == 2  # one rotation, not two
    assert world.consumers_get_tokens() == []


def test_plan_reads_only(make_world: Callable[..., World]) -> None:
    world = make_world([ClientDef("a")])
    before = len(world.mp["test"].requests)
    plans = world.fleet().plan()
    assert [due.step for due in plans[0].due] == [StepKind.GENERATE]
    assert world.service().store.read_set(spec(world.fleet(), "a").ref) is None
    api = [record for record in world.mp["test"].requests[before:] if record.path.startswith("/api/")]
    assert [record.method for record in api] == ["GET"]  # the admin token is a POST to /token; no PUT


class NoRegistrar:
    def get(self, client: ClientSpec) -> list[RegisteredKey]:
        raise RemoteError("the self-service API answered 503: down", hint="try later")

    def put(self, client: ClientSpec, jwks: list[dict[str, Any]]) -> None:
        raise AssertionError("no PUT when GET fails")


def test_plan_reports_a_client_it_cannot_check_and_goes_on(make_world: Callable[..., World]) -> None:
    world = make_world([ClientDef("a"), ClientDef("m", register="manual")])
    plans = world.fleet(registrar=NoRegistrar()).plan()
    assert plans[0].error == "the self-service API answered 503: down; try later"
    assert [due.step for due in plans[1].due] == [StepKind.GENERATE]


def test_max_changes_refuses_before_anything_is_done(make_world: Callable[..., World]) -> None:
    world = make_world([ClientDef("a"), ClientDef("b")])
    with pytest.raises(AbortedError):
        world.fleet().apply(max_changes=1)
    assert world.fleet().apply(max_changes=2).count(Outcome.CONVERGED) == 2


def test_apply_on_a_new_store_makes_it_once_before_the_workers(run: Run, tmp_path: Path) -> None:
    manifest = tmp_path / "jwks-tool.toml"
    store = tmp_path / "new-store"
    clients = "".join(
        f'[[clients]]\nname = "c{n}"\nenv = "test"\nclient_id = "c{n}"\nscopes = ["s:r"]\nregister = "manual"\n\n'
        for n in range(6)
    )
    manifest.write_text(f'store = "{store}"\n\n{clients}')
    result = run("apply", "--yes", "--manifest", str(manifest))
    lines = result.output.splitlines()
    waiting = [line for line in lines if line.startswith("c") and ": waiting (generated c" in line]
    assert len(waiting) == 6, result.output  # each worker generated its key; none raced to make the store
    assert result.exit_code == 13
    assert (store / "store.json").exists()


# ---- signing in to Digdir's self-service API with the business certificate ----------------------------------------
def test_one_admin_token_per_environment_per_run_fetched_again_when_it_nears_expiry(
    make_world: Callable[..., World],
) -> None:
    world = make_world([ClientDef("a", "test"), ClientDef("b", "test"), ClientDef("c", "prod")])
    assert world.fleet().apply().count(Outcome.CONVERGED) == 3
    auth = world.admin_auth
    assert auth.fetched == 2  # test and prod, for every GET and PUT of three clients
    grants = [
        request
        for server in world.mp.values()
        for request in server.requests
        if request.path == "/token" and request.client_id == "fleet-admin"
    ]
    assert len(grants) == 2
    first = auth.token("test", "idporten:dcr.read")
    world.advance(seconds=60)  # the server's tokens live 120 s; fetched again 60 s before that
    token = auth.token("test", "idporten:dcr.read")
    assert token != first
    assert auth.fetched == 3
    world.advance(seconds=57)
    assert auth.token("test", "idporten:dcr.write") == token
    assert auth.fetched == 3
    world.advance(seconds=4)
    assert auth.token("test", "idporten:dcr.read") != token
    assert auth.fetched == 4


def test_a_portal_token_from_the_environment_still_works_without_the_certificate(
    run: Run, make_world: Callable[..., World], monkeypatch: pytest.MonkeyPatch
) -> None:
    world = make_world([ClientDef("a", "test")])
    world.fleet()
    token = world.admin_auth.token("test", "idporten:dcr.read")
    (world.root / "virksomhet.p12").unlink()
    world.manifest_path.write_text(world.manifest_path.read_text().replace('certificate = "virksomhet.p12"\n', ""))
    monkeypatch.setenv("JWKS_TOOL_PORTAL_TOKEN", token)
    monkeypatch.delenv("JWKS_TOOL_CERT_PASSPHRASE")
    result = run("apply", "--yes", *cli_args(world))
    assert result.exit_code == 0, result.output
    assert result.stderr == ""  # no certificate opened, no sign-in line
    assert world.consumers_get_tokens() == []


def test_the_certificate_the_manifest_names_wins_over_a_portal_token(
    run: Run, make_world: Callable[..., World], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A token left in the environment (a CI secret) must not silently replace the certificate the manifest names
    (found in review): the certificate signs in, and the token is not sent."""
    world = make_world([ClientDef("a", "test")])
    monkeypatch.setenv("JWKS_TOOL_PORTAL_TOKEN", "a-token-left-in-the-environment")
    result = run("apply", "--yes", *cli_args(world))
    assert result.exit_code == 0, result.output
    assert result.stderr == signed_in(world)
    assert world.registered_counts() == {"a": 1}


def test_an_expired_portal_token_fails_its_clients_before_it_is_sent(
    run: Run, make_world: Callable[..., World], monkeypatch: pytest.MonkeyPatch
) -> None:
    import base64

    world = make_world([ClientDef("a", "test")])
    world.manifest_path.write_text(world.manifest_path.read_text().replace('certificate = "virksomhet.p12"\n', ""))
    claims = base64.urlsafe_b64encode(json.dumps({"exp": 1700000000}).encode()).decode().rstrip("=")
    monkeypatch.setenv("JWKS_TOOL_PORTAL_TOKEN", f"eyJhbGciOiJSUzI1NiJ9.{claims}.c2ln")
    result = run("apply", "--yes", *cli_args(world))
    assert result.exit_code == 12, result.output
    assert result.stdout == (
        "a (test): failed; JWKS_TOOL_PORTAL_TOKEN holds an admin token that expired at 2023-11-14 22:13 UTC; admin "
        'tokens are short-lived, so one cannot be kept in a secret; add certificate = "virksomhet.p12" (or an Azure '
        "Key Vault certificate URL) to [admin.test] and unset JWKS_TOOL_PORTAL_TOKEN\n"
    )
    assert world.registered_counts() == {"a": 0}


@pytest.mark.parametrize(
    ("passphrase", "message"),
    [
        (
            "wrong",
            "cannot open the certificate file {p12}: the passphrase is wrong (or the file is damaged); check "
            "JWKS_TOOL_CERT_PASSPHRASE or --cert-passphrase-file",
        ),
        (
            None,
            "the business certificate's passphrase is not given; set JWKS_TOOL_CERT_PASSPHRASE or pass "
            "--cert-passphrase-file",
        ),
    ],
)
def test_a_certificate_that_cannot_be_opened_fails_each_api_client_with_one_line(
    run: Run,
    make_world: Callable[..., World],
    monkeypatch: pytest.MonkeyPatch,
    passphrase: str | None,
    message: str,
) -> None:
    world = make_world([ClientDef("a", "test"), ClientDef("b", "prod"), ClientDef("m", register="manual")])
    if passphrase is None:
        monkeypatch.delenv("JWKS_TOOL_CERT_PASSPHRASE")
    else:
        monkeypatch.setenv("JWKS_TOOL_CERT_PASSPHRASE", passphrase)
    result = run("apply", "--yes", *cli_args(world))
    assert result.exit_code == 12
    assert result.stderr == ""
    line = message.format(p12=world.root / "virksomhet.p12")
    out = result.stdout.splitlines()
    assert out[0] == f"a (test): failed; {line}"
    assert out[1] == f"b (prod): failed; {line}"
    assert out[2].startswith("m (test): waiting (generated m-test-")  # a manual client needs no sign-in
    assert [ref.name for ref in world.service().store.list_refs()] == ["m"]


def test_the_passphrase_is_read_from_cert_passphrase_file(
    run: Run, make_world: Callable[..., World], monkeypatch: pytest.MonkeyPatch
) -> None:
    world = make_world([ClientDef("a", "test")])
    monkeypatch.setenv("JWKS_TOOL_CERT_PASSPHRASE", "wrong")
    secret = world.root / "cert-passphrase"
    secret.write_text(CERT_PASSPHRASE + "\n")
    result = run("plan", "--cert-passphrase-file", str(secret), *cli_args(world))
    assert result.exit_code == 11, result.output
    assert result.stderr == signed_in(world)


def test_an_expired_certificate_fails_every_api_client_and_the_next_apply_converges(
    run: Run, make_world: Callable[..., World]
) -> None:
    world = make_world([ClientDef("a", "test"), ClientDef("b", "prod")])
    assert world.fleet().apply().count(Outcome.CONVERGED) == 2
    world.advance(days=91)  # both rotations are due
    expired = world.replace_certificate(expired=True)
    svc = world.service()

    def state() -> Any:
        sets = {c.name: [(k.kid, k.state) for k in svc.get_set(c.name, c.env).keys] for c in world.clients}
        secrets = world.secret_client()
        delivered = {c.name: secrets.get_secret(f"{c.name}-{c.env}-jwk").properties.version for c in world.clients}
        registered = {c.name: world.mp[c.env].registered_jwks(c.name + "-id") for c in world.clients}
        return sets, delivered, registered

    def admin_grants() -> int:
        return sum(
            1
            for server in world.mp.values()
            for request in server.requests
            if request.path == "/token" and request.client_id == "fleet-admin"
        )

    before, grants = state(), admin_grants()
    result = run("apply", "--yes", *cli_args(world))
    assert result.exit_code == 12
    line = (
        f"the business certificate for 999888777 expired {expired.leaf.not_valid_after_utc:%Y-%m-%d %H:%M} UTC; "
        "order a new business certificate (Buypass or Commfides) and use it"
    )
    assert result.stdout == f"a (test): failed; {line}\nb (prod): failed; {line}\n"
    assert result.stderr.startswith("Signing in to Digdir with virksomhet.p12: the business certificate of ")
    assert result.stderr.count("\n") == 1
    assert state() == before  # nothing changed: no key, registration or delivery
    assert admin_grants() == grants  # refused before any request
    assert world.consumers_get_tokens() == []

    world.replace_certificate()  # the library on the simulated clock from here: the CLI's is the machine's
    again = world.fleet().apply()
    assert again.count(Outcome.CONVERGED) == 2, [r.error for r in again.results]
    assert all(r.steps[0].startswith("made ") and r.steps[0].endswith(" as next") for r in again.results)
    assert world.consumers_get_tokens() == []
    world.advance(seconds=3700)  # the overlap
    assert world.fleet().apply().count(Outcome.CONVERGED) == 2
    assert [item.due for item in world.fleet().plan()] == [(), ()]
    assert world.consumers_get_tokens() == []
    assert all(len(keys) == 2 for keys in state()[0].values())


# ---- deliveries through the destinations layer --------------------------------------------------------------------
DELIVERIES = """
[[clients.deliver]]
to = "dotenv"
for = "nais"
out = "a.env"

[[clients.deliver]]
to = "file"
for = "pymaskinporten"
out = "a-files"

[[clients.deliver]]
to = "kubernetes"
for = "altinn-studio"
secret_name = "a-maskinporten"
namespace = "apps"
out = "a-secret.yaml"

[[clients.deliver]]
to = "keyvault"
vault = "{vault}"
for = "nais"
prefix = "a-"
"""


def delivered_env(world: World) -> dict[str, str]:
    lines = (world.root / "a.env").read_text().splitlines()
    return {k: v.removeprefix("'").removesuffix("'") for k, _, v in (line.partition("=") for line in lines[1:])}


def test_every_destination_gets_the_proven_key_and_is_read_back(make_world: Callable[..., World]) -> None:
    world = make_world([ClientDef("a", deliver=False)])
    world.manifest_path.write_text(world.manifest_path.read_text() + DELIVERIES.format(vault=world.vault.url))
    run = world.fleet().apply()
    assert run.results[0].outcome is Outcome.CONVERGED, run.results[0].error
    active = world.service().get_set("a", "test").active
    assert active is not None
    env = delivered_env(world)
    assert env["MASKINPORTEN_CLIENT_ID"] == "a-id"
    assert env["MASKINPORTEN_SCOPES"] == "altinn:instances.read"
    jwk = json.loads(env["MASKINPORTEN_CLIENT_JWK"])
    assert jwk["kid"] == active.kid
    assert world.consumer_token(world.clients[0], jwk) is None  # the consumer reading the .env gets a token
    assert (world.root / "a-files" / "KID").read_text() == active.kid
    assert (world.root / "a-files" / "PRIVATE_KEY").stat().st_mode & 0o777 == 0o600
    assert f"jwks-tool/kid: {active.kid}" in (world.root / "a-secret.yaml").read_text().replace('"', "")
    secret = world.secret_client().get_secret("a-MASKINPORTEN-CLIENT-JWK")
    assert json.loads(secret.value or "")["kid"] == active.kid
    fleet = world.fleet()
    plan = fleet.plan()[0]
    assert (plan.due, plan.notes) == ((), ())
    held = [fleet.deliverer.delivered(spec(fleet, "a"), d) for d in spec(fleet, "a").deliver]
    assert [(h.kid if h else None) for h in held] == [active.kid] * 4

    (world.root / "a.env").write_text("MASKINPORTEN_CLIENT_JWK=stale\n")  # someone else wrote it: not replaced
    plan = world.fleet().plan()[0]
    assert plan.error == (  # the path written, as plan shows it (not the manifest's relative one)
        f"{world.root / 'a.env'} holds something jwks-tool did not write (no mark of a kid it delivered); set adopt "
        "= true on this delivery to replace it, or give another out"
    )
    text = world.manifest_path.read_text()
    world.manifest_path.write_text(text.replace('out = "a.env"\n', 'out = "a.env"\nadopt = true\n', 1))
    plan = world.fleet().plan()[0]
    assert [due.step for due in plan.due] == [StepKind.DELIVER]
    assert plan.due[0].reason == (
        f"drift: dotenv {world.root / 'a.env'} (nais) holds no kid jwks-tool wrote, the active key is {active.kid}"
    )
    assert world.fleet().apply().results[0].steps == (f"delivered {active.kid}",)
    assert delivered_env(world)["MASKINPORTEN_CLIENT_ID"] == "a-id"

    world.advance(days=91)  # a rotation: every destination follows the new key once it is proven
    assert world.fleet().apply().count(Outcome.CONVERGED) == 1
    world.advance(seconds=3700)
    assert world.fleet().apply().count(Outcome.CONVERGED) == 1
    new = world.service().get_set("a", "test").active
    assert new is not None
    assert new.kid != active.kid
    assert json.loads(delivered_env(world)["MASKINPORTEN_CLIENT_JWK"])["kid"] == new.kid
    assert (world.root / "a-files" / "KID").read_text() == new.kid
    assert f"jwks-tool/kid: {new.kid}" in (world.root / "a-secret.yaml").read_text().replace('"', "")
    assert world.consumer_token(world.clients[0], json.loads(delivered_env(world)["MASKINPORTEN_CLIENT_JWK"])) is None


def test_a_destination_that_cannot_be_read_back_is_said_in_plans_notes(make_world: Callable[..., World]) -> None:
    world = make_world([ClientDef("a", deliver=False)])
    world.manifest_path.write_text(
        world.manifest_path.read_text() + '\n[[clients.deliver]]\nto = "dotenv"\nfor = "nais"\nout = "a.env"\n'
    )
    fleet = world.fleet()
    assert fleet.apply().count(Outcome.CONVERGED) == 1
    unreadable = world.fleet()
    unreadable.deliverer = type(  # a plug-in's destination that has no way to read back
        "Blind", (), {"delivered": lambda *a: UNREADABLE, "deliver": lambda *a: None}
    )()
    plan = unreadable.plan()[0]
    assert plan.due == ()
    assert plan.notes == (f"dotenv {world.root / 'a.env'} (nais) cannot be read back: apply goes by its audit log",)


def test_an_unknown_destination_is_refused_with_its_line(run: Run, make_world: Callable[..., World]) -> None:
    world = make_world([ClientDef("a", deliver=False)])
    text = world.manifest_path.read_text() + '\n[[clients.deliver]]\nto = "acme-vault"\nfor = "nais"\nbucket = "b"\n'
    world.manifest_path.write_text(text)
    line = text.splitlines().index('to = "acme-vault"')  # the [[clients.deliver]] header above it, 1-based
    result = run("plan", *cli_args(world))
    assert result.exit_code == 3
    assert result.stderr == (
        f"jwks-tool: error: {world.manifest_path}:{line}: client 'a' delivers to 'acme-vault', a destination this "
        "jwks-tool does not have; use one of aws, dotenv, file, keyvault, kubernetes, or install the package that "
        "adds it\n"
    )


def test_a_wrong_store_passphrase_stops_apply_before_anything_is_done(
    run: Run, make_world: Callable[..., World], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The passphrase is asked for and checked once, on the main thread, before any worker starts: a prompt is never
    on a worker thread (where Ctrl-C cannot reach it), and a wrong one is exit 8 with nothing registered or logged."""
    world = make_world([ClientDef("invoice-sync", "prod"), ClientDef("reporting", "test")])
    assert run("init", "--store", world.store_url).exit_code == 0
    monkeypatch.setenv("JWKS_TOOL_PASSPHRASE", "not the passphrase")
    applied = run("apply", "--yes", *cli_args(world))
    assert applied.exit_code == 8, applied.output
    assert applied.stdout == ""
    assert applied.stderr.splitlines()[-1].startswith("jwks-tool: error: wrong passphrase")
    assert world.registered_counts() == {"invoice-sync": 0, "reporting": 0}
    assert run("list", "--store", world.store_url, "--json").exit_code == 0
    log = json.loads(run("log", "--json", "--store", world.store_url).stdout)["events"]
    assert [event for event in log if event.get("kind", "").startswith("fleet")] == []


def test_plan_checks_a_store_passphrase_it_is_given(
    run: Run, make_world: Callable[..., World], monkeypatch: pytest.MonkeyPatch
) -> None:
    """plan as a CI preflight: a wrong passphrase in the environment is exit 8 as apply's would be; with none given
    plan reads the store without it (it needs no private key)."""
    world = make_world([ClientDef("a", "test")])
    assert run("init", "--store", world.store_url).exit_code == 0
    monkeypatch.setenv("JWKS_TOOL_PASSPHRASE", "not the passphrase")
    for extra in ((), ("--offline",)):
        planned = run("plan", *extra, *cli_args(world))
        assert planned.exit_code == 8, planned.output
        assert planned.stderr.splitlines()[-1].startswith("jwks-tool: error: wrong passphrase")
    monkeypatch.delenv("JWKS_TOOL_PASSPHRASE")
    assert run("plan", "--offline", *cli_args(world)).exit_code == 11


def test_the_question_on_a_terminal_counts_the_clients_apply_will_work_on(
    run: Run, make_world: Callable[..., World], monkeypatch: pytest.MonkeyPatch
) -> None:
    """review12c: it asked about "1 client(s)" and then worked on 2 (the other could not be checked by plan)."""
    world = make_world([ClientDef("a", "test"), ClientDef("b", "test")])
    world.mp["test"].set_client_jwks("b-id", {"keys": []})
    monkeypatch.setattr("jwks_tool.cli.fleet.is_terminal", lambda stream: True)
    declined = run("apply", *cli_args(world), input="n\n")
    assert declined.exit_code == 9
    assert "2 clients have changes due: apply? [y/N]: " in declined.stderr
    assert world.registered_counts() == {"a": 0, "b": 0}
