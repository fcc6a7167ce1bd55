"""apply killed (SIGKILL) right after each of its steps, in a real process: the next apply completes the rotation,
nothing is lost, and a consumer of the delivered secret gets a token all along (tests/faultrunner.py)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from jwks_tool.services.fleet.engine import Outcome
from tests import faultrunner
from tests.fleet_world import ClientDef, World, fleet_env
from tests.servers.keyvault import KeyVaultServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DEFAULTS = 'size = 2048\nrotate_after = "90d"\nrenew_before = "30d"\noverlap = "1h"\npropagation = "0s"'
ROTATION = ("start", "put", "prove", "promote", "deliver")
ONBOARDING = ("generate", "put", "prove", "deliver")
FINISH = ("finish", "put")


@pytest.fixture
def world(tmp_path: Path, vault: KeyVaultServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    fleet_env(monkeypatch, vault)
    clients = [ClientDef(f"r{n}") for n in range(len(ROTATION))] + [ClientDef(f"o{n}") for n in range(len(ONBOARDING))]
    built = World(tmp_path, vault, clients, defaults=DEFAULTS)
    yield built
    built.close()


def apply(world: World, manifest: Path, crash_after: int | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env[faultrunner.CLOCK_OFFSET] = str(world.clock.offset)
    if crash_after is not None:
        env[faultrunner.CRASH_AT] = "fleet-effect"
        env[faultrunner.CRASH_AFTER] = str(crash_after)
    args = ["apply", "--yes", "--workers", "1", "--manifest", str(manifest), "--credential", "managed-identity"]
    args += ["--ca-bundle", world.vault.ca_path]
    return subprocess.run(
        faultrunner.command(args, env), env=env, capture_output=True, text=True, timeout=120, check=False
    )


def consumer_errors(world: World, names: set[str]) -> list[str]:
    return [error for error in world.consumers_get_tokens() if error.split(":")[0] in names]


def test_a_kill_after_each_step_is_completed_by_the_next_apply(world: World) -> None:
    # onboarding, killed after its 1st, 2nd, 3rd, 4th step: generate, PUT, token, Key Vault write
    for n, _ in enumerate(ONBOARDING, 1):
        client = world.clients[len(ROTATION) + n - 1]
        manifest = world.write_manifest(world.root / f"{client.name}.toml", [client], DEFAULTS)
        killed = apply(world, manifest, crash_after=n)
        assert killed.returncode == -9, killed.stderr
        errors = consumer_errors(world, {client.name})
        assert errors in ([], [f"{client.name}: nothing delivered"])  # never a key that does not work
        done = apply(world, manifest)
        assert done.returncode == 0, done.stdout + done.stderr
        assert consumer_errors(world, {client.name}) == []
        assert world.registered_counts()[client.name] == 1

    rotating = world.clients[: len(ROTATION)]
    assert world.write_manifest(world.root / "all.toml", rotating, DEFAULTS)
    assert apply(world, world.root / "all.toml").returncode == 0
    assert consumer_errors(world, {c.name for c in rotating}) == []
    world.advance(days=91)
    # a rotation, killed after each of its steps: start, PUT, token, promote, Key Vault write
    for n, client in enumerate(rotating, 1):
        manifest = world.write_manifest(world.root / f"{client.name}.toml", [client], DEFAULTS)
        killed = apply(world, manifest, crash_after=n)
        assert killed.returncode == -9, killed.stderr
        assert consumer_errors(world, {client.name}) == []
        assert world.registered_counts()[client.name] <= 2
        done = apply(world, manifest)
        assert done.returncode == 0, done.stdout + done.stderr
        assert consumer_errors(world, {client.name}) == []
        keyset = world.service().get_set(client.name, "test")
        assert [key.state.value for key in keyset.keys] == ["retiring", "active"]  # one rotation, nothing lost
    world.advance(seconds=3700)
    # finishing, killed after each of its steps: finish, PUT
    for n, client in enumerate(rotating[: len(FINISH)], 1):
        manifest = world.root / f"{client.name}.toml"
        killed = apply(world, manifest, crash_after=n)
        assert killed.returncode == -9, killed.stderr
        assert consumer_errors(world, {client.name}) == []
        done = apply(world, manifest)
        assert done.returncode == 0, done.stdout + done.stderr
        assert world.registered_counts()[client.name] == 1
        assert consumer_errors(world, {client.name}) == []
    final = world.fleet().apply()
    assert final.count(Outcome.FAILED) == 0
    assert world.consumers_get_tokens() == []
