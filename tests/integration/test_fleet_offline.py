"""review12b N3/N7: ``plan --offline`` goes by the audit log for what it cannot read (a key registered but not yet
proven shows its proof as due) and reads the deliveries on this machine's file system (a ``.env`` gone or holding
another kid is drift), saying which deliveries it did not check; and a client whose registered set is full makes no
key (``plan`` shows it as its error)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from click.testing import Result

from jwks_tool.core.manifest import ClientSpec
from jwks_tool.core.model import KeyRecord, KeySet, SetRef, format_time
from jwks_tool.errors import RemoteError
from jwks_tool.services.fleet.engine import Outcome, StepKind
from jwks_tool.services.key_service import GenerateRequest
from tests.fleet_world import ClientDef, World
from tests.integration import test_fleet
from tests.integration.test_fleet import cli_args

pytestmark = pytest.mark.integration
kv = test_fleet.kv
make_world = test_fleet.make_world
Run = Callable[..., Result]

DOTENV = '\n[[clients.deliver]]\nto = "dotenv"\nfor = "nais"\nout = "a.env"\n'


class RefusingProver:
    """Maskinporten refuses every grant (the key is registered, never proven)."""

    def prove(self, client: ClientSpec, keyset: KeySet, record: KeyRecord) -> None:
        raise RemoteError("Maskinporten refused the grant: invalid_client", hint="wait for propagation")


def active_kid(world: World, name: str = "a") -> str:
    keyset = world.service().store.read_set(SetRef.parse(name, "test"))
    assert keyset is not None
    assert keyset.active is not None
    return keyset.active.kid


def test_plan_offline_shows_the_proof_due_for_a_key_registered_but_not_proven(
    run: Run, make_world: Callable[..., World]
) -> None:
    world = make_world([ClientDef("a", deliver=False)])
    result = world.fleet(prover=RefusingProver()).apply().results[0]
    assert result.outcome is Outcome.FAILED
    kid = active_kid(world)
    assert result.steps == (f"generated {kid}", f"registered {kid}")
    planned = run("plan", "--offline", *cli_args(world))
    assert planned.exit_code == 11, planned.output
    assert planned.stderr == ""
    assert planned.stdout.splitlines()[1:] == [
        f"a (test)  prove     {kid} is registered, not yet proven: a token signed with it"
    ]
    online = run("plan", *cli_args(world))
    assert online.stdout.splitlines()[1:] == planned.stdout.splitlines()[1:]  # as the online plan says
    assert run("apply", "--yes", *cli_args(world)).exit_code == 0  # the proof is what apply does next
    assert run("plan", "--offline", *cli_args(world)).exit_code == 0


def test_plan_offline_shows_a_register_due_for_a_key_apply_never_registered(make_world: Callable[..., World]) -> None:
    world = make_world([ClientDef("a", deliver=False)])
    world.service().generate(GenerateRequest(name="a", env="test", profile="maskinporten", size=2048, alg="RS256"))
    kid = active_kid(world)
    plan = world.fleet().plan(offline=True)[0]
    assert [(due.step, due.reason) for due in plan.due] == [
        (StepKind.REGISTER, f"{kid} has no registration in the audit log (offline: Digdir's set is not read)")
    ]


def test_plan_offline_reads_a_local_dotenv_and_says_what_it_did_not_check(
    run: Run, make_world: Callable[..., World]
) -> None:
    world = make_world([ClientDef("a")])  # Key Vault, and a .env beside the manifest
    world.manifest_path.write_text(world.manifest_path.read_text() + DOTENV)
    assert world.fleet().apply().count(Outcome.CONVERGED) == 1
    kid = active_kid(world)
    keyset = world.service().store.read_set(SetRef.parse("a", "test"))
    assert keyset is not None
    assert keyset.active is not None
    vault = world.fleet().manifest.clients[0].deliver[0].describe()
    dotenv = f"dotenv {world.root / 'a.env'} (nais)"
    rotation = format_time(keyset.active.created + timedelta(days=90))
    ok = run("plan", "--offline", *cli_args(world))
    assert ok.exit_code == 0, ok.output
    assert ok.stdout.splitlines()[1:] == [
        f"a (test)  ok        active {kid}; next: start at {rotation} (rotation: {kid} reaches rotate_after 90d); "
        f"{vault} not checked offline: plan without --offline reads it"
    ]

    env_text = (world.root / "a.env").read_text()
    (world.root / "a.env").unlink()
    gone = run("plan", "--offline", *cli_args(world))
    assert gone.exit_code == 11, gone.output
    assert gone.stdout.splitlines()[1:] == [
        f"a (test)  deliver   drift: {dotenv} holds nothing, the active key is {kid}"
    ]
    assert not (world.root / "a.env").exists()  # read only

    (world.root / "a.env").write_text(env_text.replace(kid, "someone-else"))
    (world.root / "a.env").chmod(0o600)
    other = run("plan", "--offline", *cli_args(world))  # another store's key: not replaced without adopt = true
    assert other.exit_code == 12, other.output
    assert other.stdout.splitlines()[1:] == [
        f"a (test)  error     {dotenv} holds someone-else, a key this store does not know (another store's, or one "
        "that was lost): each would replace the other's key; point the manifest at the store that made it (store = "
        "...), or set adopt = true on this delivery to replace it"
    ]


def test_a_full_registered_set_makes_no_key_and_plan_shows_it_as_the_clients_error(
    make_world: Callable[..., World],
) -> None:
    world = make_world([ClientDef("a")])
    assert world.fleet().apply().count(Outcome.CONVERGED) == 1
    kid = active_kid(world)
    mine = world.mp["test"].registered_jwks("a-id")["keys"]
    foreign: list[dict[str, Any]] = []
    for index in range(4):
        key = dict(mine[0])
        key["kid"] = f"someone-else-{index}"
        foreign.append(key)
    world.mp["test"].set_client_jwks("a-id", {"keys": mine + foreign})
    world.advance(days=91)  # a rotation is due
    error = (
        "a new key would make 6 registered keys, more than Digdir's 5 (Digdir holds someone-else-0, "
        "someone-else-1, someone-else-2, someone-else-3, unknown to the store), so none is made; remove them in "
        "Digdir's portal, or register the store's keys alone: `jwks-tool portal push a --env test --client-id a-id "
        "--replace` with your sign-in options"
    )
    assert world.fleet().plan()[0].error == error  # the CLI shows it as `error` (exit 12)

    puts = len(world.mp["test"].find_requests("PUT"))
    result = world.fleet().apply().results[0]
    assert (result.outcome, result.steps, result.error) == (Outcome.FAILED, (), error)
    keyset = world.service().store.read_set(SetRef.parse("a", "test"))
    assert keyset is not None
    assert [key.kid for key in keyset.keys] == [kid]  # no key was made
    assert len(world.mp["test"].find_requests("PUT")) == puts  # and no PUT
    assert len(world.mp["test"].registered_jwks("a-id")["keys"]) == 5
    assert world.consumers_get_tokens() == []
