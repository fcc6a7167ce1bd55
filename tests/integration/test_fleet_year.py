"""The simulated year: 10 clients x 2 environments against the test servers, the clock advanced in steps through
more than one rotation of every client, with faults injected along the way. After every step, each consumer reads
its delivered secret and gets a token: zero failures; never more than 5 registered keys."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from jwks_tool.services.fleet.engine import Outcome
from tests.fleet_world import ClientDef, World, fleet_env
from tests.servers.keyvault import KeyVaultServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DEFAULTS = 'size = 2048\nrotate_after = "90d"\nrenew_before = "30d"\noverlap = "1h"\npropagation = "5m"'


def year_clients() -> list[ClientDef]:
    clients = []
    for index in range(10):
        for env in ("test", "prod"):
            clients.append(
                ClientDef(
                    f"client{index}",
                    env,
                    deliver=index < 7,  # 14 deliver to Key Vault, 6 do not
                    register="manual" if (index, env) == (9, "prod") else "api",
                    rotate_after=("60d", "75d", None)[index % 3],
                )
            )
    return clients


@pytest.fixture
def world(tmp_path: Path, vault: KeyVaultServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    fleet_env(monkeypatch, vault)
    built = World(tmp_path, vault, year_clients(), defaults=DEFAULTS)
    yield built
    built.close()


FAULTS = ("api-503", "token-429", "api-slow", "token-down", "vault-503")


def inject(world: World, kind: str) -> None:
    for server in world.mp.values():
        if kind == "api-503":
            server.faults.server_error(503, path="^/api/", count=3)
        elif kind == "token-429":
            server.faults.throttle(path="^/token$", count=3)
        elif kind == "api-slow":
            server.faults.latency(4.0, path="^/api/", count=1)  # longer than the adapters' 3 s timeout
        elif kind == "token-down":
            server.faults.drop_connection(path="^/token$", count=2)
    if kind == "vault-503":
        world.vault.faults.server_error(503, path="/secrets/", count=2)


def clear(world: World) -> None:
    for server in world.mp.values():
        server.faults.clear()
    world.vault.faults.clear()


def test_a_simulated_year_rotates_every_client_without_a_failed_token(world: World) -> None:
    manual = next(client for client in world.clients if client.register == "manual")
    failures: list[str] = []
    most_registered = 0
    outcomes: dict[str, int] = {}
    faults_seen = 0

    def step(fault: str | None = None) -> Any:
        nonlocal most_registered, faults_seen
        if fault is not None:
            inject(world, fault)
        fleet = world.fleet(workers=4)
        fleet.max_wait = timedelta(0)  # the loop advances the shared clock past propagation; no jump mid-run
        run = fleet.apply()
        clear(world)
        for result in run.results:
            outcomes[result.outcome.value] = outcomes.get(result.outcome.value, 0) + 1
            if result.outcome is Outcome.WAITING and result.paste:
                world.paste_for_person(manual, result.paste)  # the person does it before the next run
        faults_seen += run.count(Outcome.FAILED)
        failures.extend(f"day {day}: {failure}" for failure in world.consumers_get_tokens() if day > 0)
        most_registered = max(most_registered, *world.registered_counts().values())
        return run

    day = 0
    step()
    world.advance(seconds=400)  # propagation
    step()
    step()
    assert world.consumers_get_tokens() == []
    svc = world.service()
    first_keys = {c.name + c.env: str(svc.get_set(c.name, c.env).active) for c in world.clients}
    iteration = 0
    while day < 370:
        world.advance(days=30)
        day += 30
        fault = FAULTS[iteration % len(FAULTS)] if iteration % 2 == 0 else None
        step(fault)
        world.advance(seconds=400)
        step()
        world.advance(seconds=3700)
        step()
        iteration += 1
    world.advance(seconds=60)
    final = step()
    assert failures == []
    assert most_registered <= 5
    assert faults_seen > 0  # the faults did fail steps, and later runs converged
    assert final.count(Outcome.FAILED) == 0
    assert final.count(Outcome.WAITING) == 0
    for client in world.clients:
        keyset = svc.get_set(client.name, client.env)
        assert keyset.active is not None
        assert str(keyset.active) != first_keys[client.name + client.env]
        rotations = sum(1 for key in keyset.keys) - 1
        assert rotations >= 3, (client, rotations)  # 370 days at rotate_after <= 90d, in 30-day steps
        assert len(keyset.registered) <= 2
    story = [event for event in svc.store.read_audit() if event.get("set") == "client0" and event.get("env") == "test"]
    kinds = {event["to"] for event in story}
    assert {"fleet:generated", "fleet:registered", "fleet:proven", "fleet:delivered", "fleet:started"} <= kinds
    assert {"fleet:promoted", "fleet:finished", "fleet:unregistered"} <= kinds
