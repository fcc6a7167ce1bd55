"""Ctrl-C and SIGTERM stop `jwks-tool apply` (review12 F1): no step starts after the signal, the steps in flight
finish, the run's clients that did not finish are "interrupted" (JSON, summary, human output, audit log), exit 130
at once, and the next apply resumes and converges."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jwks_tool.documents.fleet import result_line, summary_markdown
from jwks_tool.services.fleet.engine import Outcome, StepKind
from jwks_tool.services.fleet.ports import SystemClock
from tests import faultrunner
from tests.fleet_world import ClientDef, World, fleet_env, wait_until
from tests.servers.keyvault import KeyVaultServer

pytestmark = pytest.mark.integration

SLOW = 'size = 2048\nrotate_after = "90d"\nrenew_before = "30d"\noverlap = "1h"\npropagation = "30s"'
FAST = SLOW.replace('propagation = "30s"', 'propagation = "0s"')
SCHEMA = Path(__file__).resolve().parents[2] / "jwks_tool" / "schemas" / "apply.json"
STOPPED = (
    "jwks-tool: interrupted; 2 clients stopped where they were (no step started after the signal, the steps in "
    "flight finished): run apply again to resume"
)


@pytest.fixture
def world(tmp_path: Path, vault: KeyVaultServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    fleet_env(monkeypatch, vault)
    built = World(tmp_path, vault, [ClientDef("a"), ClientDef("b")], defaults=SLOW)
    yield built
    built.close()


def audit(world: World) -> list[dict[str, Any]]:
    path = Path(world.store_url) / "audit.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def kinds(events: list[dict[str, Any]]) -> list[str]:
    return [str(event.get("to")) for event in events]


def start_apply(world: World, manifest: Path, *extra: str) -> subprocess.Popen[str]:
    env = dict(os.environ)
    args = ["apply", "--yes", "--manifest", str(manifest), "--credential", "managed-identity"]
    args += ["--ca-bundle", world.vault.ca_path, *extra]

    def default_sigint() -> None:  # a test run from a background job inherits SIGINT ignored: Python would too
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    return subprocess.Popen(
        faultrunner.command(args, env),
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,  # only resets a handler (a test run in a background job ignores SIGINT)
    )


def rerun_converges(world: World) -> None:
    """The next apply (propagation 0s: the test server needs none) resumes: the same key, proven and delivered."""
    registered = {c.name: world.mp["test"].registered_jwks(c.name + "-id")["keys"] for c in world.clients}
    fast = world.write_manifest(world.root / "fast.toml", world.clients, FAST)
    again = start_apply(world, fast)
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, out + err
    assert world.consumers_get_tokens() == []
    assert world.registered_counts() == {"a": 1, "b": 1}
    for client in world.clients:
        keyset = world.service(fresh=True).get_set(client.name, "test")
        assert [key.state.value for key in keyset.keys] == ["active"]  # no second key: it went on from the store
        if registered[client.name]:
            assert keyset.keys[0].kid == registered[client.name][0]["kid"]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_during_the_propagation_wait_stops_apply_at_once(world: World, signum: int) -> None:
    import jsonschema

    summary = world.root / "summary.md"
    proc = start_apply(world, world.manifest_path, "--json", "--summary", str(summary))
    try:
        assert wait_until(lambda: kinds(audit(world)).count("fleet:registered") == 2, timeout=60), kinds(audit(world))
        time.sleep(0.5)  # both workers now wait out the 30 s propagation
        before = len(audit(world))
        proc.send_signal(signum)
        sent = time.monotonic()
        out, err = proc.communicate(timeout=30)
        elapsed = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert elapsed < 2.0, elapsed  # before: about 30 s (the workers finished the wait, then proved and delivered)
    assert err.splitlines()[-1] == STOPPED
    assert "Traceback" not in err
    events = audit(world)
    after = kinds(events[before:])
    assert after == ["fleet:run"]  # no step after the signal: only the run's end
    assert events[-1]["reason"] == "apply ended: interrupted: 0 converged, 0 failed, 0 waiting, 2 interrupted"
    assert "fleet:proven" not in kinds(events)
    assert "fleet:delivered" not in kinds(events)

    data = json.loads(out)
    jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text())).validate(data)
    assert (data["interrupted"], data["stopped"], data["converged"], data["failed"]) == (2, True, 0, 0)
    for client in data["clients"]:
        assert client["outcome"] == "interrupted"
        assert [step.split(" ")[0] for step in client["steps"]] == ["generated", "registered"]
        assert client["error"] is None
    text = summary.read_text()
    assert text.startswith(
        "## jwks-tool apply: interrupted: 0 converged, 0 failed, 0 waiting on a person, 2 interrupted\n"
    )
    assert "| a | test | interrupted | generated a-test-" in text
    assert oct(summary.stat().st_mode & 0o777) == "0o600"

    rerun_converges(world)


def test_a_second_ctrl_c_exits_at_once_while_a_step_is_in_flight(world: World) -> None:
    propagation = world.write_manifest(
        world.root / "p.toml", world.clients, SLOW.replace('propagation = "30s"', 'propagation = "5s"')
    )
    proc = start_apply(world, propagation, "--workers", "1")
    try:
        assert wait_until(lambda: "fleet:registered" in kinds(audit(world)), timeout=60), kinds(audit(world))
        slow = world.mp["test"].faults.latency(40, count=1, path="^/token$")  # a's proof: in flight for 40 s
        assert wait_until(lambda: slow.hits == 1, timeout=20)
        proc.send_signal(signal.SIGINT)
        time.sleep(1.0)
        assert proc.poll() is None  # the step in flight (one token request) is let finish
        proc.send_signal(signal.SIGINT)
        sent = time.monotonic()
        out, err = proc.communicate(timeout=30)
        elapsed = time.monotonic() - sent
    finally:
        world.mp["test"].faults.clear()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert elapsed < 2.0, elapsed
    assert out == ""
    assert err.splitlines()[-1] == "jwks-tool: interrupted again; exiting now: run apply again to resume"
    events = kinds(audit(world))
    assert "fleet:proven" not in events
    assert "fleet:delivered" not in events
    assert events.count("fleet:run") == 1  # started; exited before its end, as a kill would
    assert world.registered_counts() == {"a": 1, "b": 0}

    rerun_converges(world)


# ---- the engine in-process: the stop signal set mid-run ------------------------------------------------------------
class StopAfterFirstPut:
    """The Registrar's PUT: the first one lands, then the stop signal is set (as Ctrl-C would, mid-run)."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.fleet: Any = None
        self.puts = 0

    def get(self, client: Any) -> Any:
        return self.real.get(client)

    def put(self, client: Any, jwks: Any) -> None:
        self.real.put(client, jwks)
        self.puts += 1
        self.fleet.stop.set()


def test_the_stop_signal_set_mid_run_stops_every_client_and_the_next_run_converges(world: World) -> None:
    import jsonschema

    from jwks_tool.services.fleet.adapters import PortalRegistrar
    from jwks_tool.services.fleet.manifest_file import read_manifest

    world.clients = [ClientDef("a"), ClientDef("b"), ClientDef("c")]
    world.mp["test"].register_client("c-id", ["altinn:instances.read"], {"keys": []})
    world.manifest_path.write_text(world.manifest_text(FAST))
    fleet = world.fleet(workers=1)
    portal = StopAfterFirstPut(PortalRegistrar(read_manifest(str(world.manifest_path)), world.admin_auth, timeout=3))
    portal.fleet = fleet
    fleet.registrar = lambda client: portal
    run = fleet.apply()

    assert run.stopped
    assert portal.puts == 1
    assert [result.outcome for result in run.results] == [Outcome.INTERRUPTED] * 3
    first = run.results[0]
    assert [step.split(" ")[0] for step in first.steps] == ["generated", "registered"]
    assert [result.steps for result in run.results[1:]] == [(), ()]  # queued: cancelled, or stopped before a step
    assert result_line(run.results[1]) == "b (test): interrupted"
    assert world.registered_counts() == {"a": 1, "b": 0, "c": 0}
    assert world.service(fresh=True).store.read_set(fleet.manifest.clients[1].ref) is None
    events = audit(world)
    assert "fleet:proven" not in kinds(events)
    assert events[-1]["to"] == "fleet:run"
    assert events[-1]["reason"] == "apply ended: interrupted: 0 converged, 0 failed, 0 waiting, 3 interrupted"
    jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text())).validate(run.to_dict())
    assert summary_markdown(run).startswith(
        "## jwks-tool apply: interrupted: 0 converged, 0 failed, 0 waiting on a person, 3 interrupted\n"
    )

    again = world.fleet(fresh=True).apply()
    assert [result.outcome for result in again.results] == [Outcome.CONVERGED] * 3, [r.error for r in again.results]
    assert not again.stopped
    assert world.consumers_get_tokens() == []
    assert world.registered_counts() == {"a": 1, "b": 1, "c": 1}
    keyset = world.service(fresh=True).get_set("a", "test")
    assert [key.kid for key in keyset.keys] == [first.steps[0].split(" ")[1]]  # a went on with its key


class RealWait:
    """The simulated clock's time, but a real (interruptible) wait, as SystemClock waits; the stop signal comes
    0.2 s into the wait."""

    def __init__(self, sim: Any, fleet: Any) -> None:
        self.sim, self.fleet, self.waited = sim, fleet, 0.0

    def now(self) -> Any:
        return self.sim.now()

    def sleep(self, seconds: float, stop: threading.Event | None = None) -> None:
        threading.Timer(0.2, self.fleet.stop.set).start()
        began = time.monotonic()
        SystemClock().sleep(seconds, stop)
        self.waited = time.monotonic() - began


def test_the_propagation_wait_wakes_on_the_stop_signal(world: World) -> None:
    world.write_manifest(world.manifest_path, [ClientDef("a")], SLOW.replace('"30s"', '"5m"'))
    fleet = world.fleet()
    fleet.clock = clock = RealWait(world.clock, fleet)
    began = time.monotonic()
    run = fleet.apply()
    assert time.monotonic() - began < 20
    assert 0.1 < clock.waited < 2.0  # woken: the wait was 5 minutes
    [result] = run.results
    assert result.outcome is Outcome.INTERRUPTED
    assert result.next is not None
    assert result.next.step is StepKind.PROVE
    assert result_line(result).startswith("a (test): interrupted (generated a-test-")
    assert result_line(result).split("; next: ")[1].startswith("prove at ")
    assert "fleet:proven" not in kinds(audit(world))
