"""Group ``fleet``: ``jwks-tool plan --offline`` on 100, 1,000 and 10,000 clients, and ``apply`` across clients
with 100 ms latency on every request (bounded concurrency against one at a time).

Plan: file stores of ten-key sets as the ``scale`` group writes them, a manifest naming every set; ``plan --offline``
timed round-robin on the three sizes. Figures: the time on 1,000 clients (under 1 s) and the time per client at
10,000 against 1,000 (linearity, start-up subtracted). Apply: the clients are onboarded once without latency (keys
made, registered, proven, delivered to the test vault), then 100 ms is added to every request of the Maskinporten-
and Key Vault-compatible servers and a steady-state ``apply`` (each client: its registered set read from the
self-service API and its delivered secret from the vault, nothing due) runs with 8 workers and with 1.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path
from typing import Any

from benchmarks.groups.scale import scale_keyset
from benchmarks.harness import QUICK, BenchmarkError, Context, Mode, finish, passphrase, run_command, time_command
from benchmarks.results import Check, Comparison, Results

PLAN_SIZES_FULL = (100, 1_000, 10_000)
PLAN_SIZES_QUICK = (100, 1_000, 2_000)
PLAN_LIMIT = 1.0
"""Seconds: ``plan --offline`` on 1,000 clients must take less."""
LINEARITY_TARGET = 2.0
APPLY_CLIENTS_FULL = 100
APPLY_CLIENTS_QUICK = 16
APPLY_LATENCY = 0.1
APPLY_WORKERS = 8
APPLY_TARGET = 0.3


def _manifest(sets: int) -> str:
    lines = [
        "[defaults]",
        'rotate_after = "90d"',
        "",
        "[admin.test]",
        'client_id = "admin"',
        'certificate = "virksomhet-test.p12"',
        "[admin.prod]",
        'client_id = "admin"',
        'certificate = "virksomhet-prod.p12"',
        "",
    ]
    for index in range(sets):
        lines += [
            "[[clients]]",
            f'name = "client-{index:04d}"',
            f'env = "{"test" if index % 2 == 0 else "prod"}"',
            f'client_id = "id-{index}"',
            'scopes = ["altinn:instances.read"]',
            "[[clients.deliver]]",
            'to = "keyvault"',
            'vault = "https://app-kv.vault.azure.net/"',
            'for = "apiclient"',
            f'prefix = "client-{index:04d}-"',  # a place of its own: two deliveries to one secret are refused
            "",
        ]
    return "\n".join(lines)


def _plan_store(ctx: Context, sets: int, public: dict[str, Any]) -> tuple[Path, Path]:
    from jwks_tool.core.model import utcnow
    from jwks_tool.services.key_service import KeyService
    from jwks_tool.stores.file import FileStore

    path = ctx.workdir / f"store-fleet-{sets}"
    store = FileStore.from_url(str(path))
    KeyService(store, passphrase).init_store()
    now = utcnow()
    for index in range(sets):
        keyset = scale_keyset(index, public, now)
        store.write_set(keyset, expected_revision=0)
    manifest = ctx.workdir / f"fleet-{sets}.toml"
    manifest.write_text(_manifest(sets))
    return path, manifest


def plan_figures(ctx: Context, mode: Mode, runs: int | None) -> tuple[list[Comparison], list[Check]]:
    from jwks_tool.core import keys as keymod

    sizes = PLAN_SIZES_QUICK if mode is QUICK else PLAN_SIZES_FULL
    ctx.log(f"  writing stores and manifests of {', '.join(f'{n:,}' for n in sizes)} clients ...")
    public = keymod.public_jwk(keymod.generate_private_jwk(kty="RSA", size=3072, crv=None))  # scale sets say 3072
    stores = {sets: _plan_store(ctx, sets, public) for sets in sizes}
    checks: list[Check] = []
    codes: dict[int, int] = {}
    for sets, (store, manifest) in stores.items():
        result = run_command(
            [ctx.jwks_tool, "plan", "--offline", "--json", "--manifest", str(manifest), "--store", str(store)],
            env=ctx.env(store, passphrase=False),
            cwd=ctx.workdir,
        )
        stdout = result.stdout.decode("utf-8", "replace")
        planned = stdout.count('"client_id"')
        if result.returncode not in (0, 11) or planned != sets:
            stderr = result.stderr.decode("utf-8", "replace").strip()[-500:]
            raise BenchmarkError(f"plan on {sets:,} clients exited {result.returncode}, planned {planned}: {stderr}")
        codes[sets] = result.returncode
        checks.append(Check(f"fleet.plan.clients.{sets}", True, f"fleet: plan --offline planned all {sets:,} clients"))
    rounds = runs or (mode.scale if mode is QUICK else mode.scale // 2)
    times: dict[int, list[float]] = {sets: [] for sets in sizes}
    for _ in range(rounds):
        for sets, (store, manifest) in stores.items():
            times[sets].append(
                time_command(
                    [ctx.jwks_tool, "plan", "--offline", "--manifest", str(manifest), "--store", str(store)],
                    env=ctx.env(store, passphrase=False),
                    cwd=ctx.workdir,
                    expect=codes[sets],
                )
            )
    small, middle, large = sizes
    figure = Comparison(
        "fleet.plan",
        f"plan --offline on {middle:,} clients",
        f"{middle:,} clients",
        f"{small:,} clients",
        times[middle],
        times[small],
        None,
        unit="s",
        limit=PLAN_LIMIT,
    )
    base = statistics.median(times[small])
    per_middle = (statistics.median(times[middle]) - base) / (middle - small)
    per_large = (statistics.median(times[large]) - base) / (large - small)
    linear = per_large / per_middle if per_middle > 0 else float("inf")
    figure.notes.append(
        "medians: " + ", ".join(f"{sets:,} clients {statistics.median(times[sets]):.3f} s" for sets in sizes)
    )
    figure.notes.append(
        f"time per client (start-up at {small} subtracted): {per_middle * 1000:.3f} ms at {middle:,}, "
        f"{per_large * 1000:.3f} ms at {large:,}: ratio {linear:.2f} (target <= {LINEARITY_TARGET})"
    )
    checks.append(
        Check(
            "fleet.plan.linear",
            linear <= LINEARITY_TARGET,
            f"fleet: plan cost per client {linear:.2f}x from {middle:,} to {large:,} clients (<= {LINEARITY_TARGET})",
        )
    )
    return [finish(ctx, figure)], checks


def apply_figures(ctx: Context, mode: Mode) -> tuple[list[Comparison], list[Check]]:
    from benchmarks._servers import ClientDef, FleetWorld, KeyVaultServer

    count = APPLY_CLIENTS_QUICK if mode is QUICK else APPLY_CLIENTS_FULL
    ctx.log(f"  onboarding {count} clients against the test servers, then apply with {APPLY_LATENCY * 1000:.0f} ms ...")
    saved = dict(os.environ)
    checks: list[Check] = []
    times: dict[int, float] = {}
    try:
        with KeyVaultServer(resource_matches_host=True, max_log_entries=20 * count + 1000) as vault:
            os.environ.update(vault.identity_env())
            root = ctx.workdir / "fleet-apply"
            root.mkdir()
            world = FleetWorld(
                root,
                vault,
                [ClientDef(f"c{index}", "test" if index % 2 else "prod") for index in range(count)],
                defaults='size = 2048\nrotate_after = "90d"\npropagation = "0s"',
            )
            try:
                onboarded = world.fleet(timeout=30).apply()
                checks.append(
                    Check(
                        "fleet.apply.onboarded",
                        onboarded.count(onboarded.results[0].outcome.CONVERGED) == count,
                        f"fleet: {count} clients onboarded (made, registered, proven, delivered)",
                    )
                )
                for server in world.mp.values():
                    server.faults.latency(APPLY_LATENCY, count=None)
                vault.faults.latency(APPLY_LATENCY, count=None)
                for workers in (APPLY_WORKERS, 1):
                    fleet = world.fleet(workers=workers, timeout=30)
                    started = time.perf_counter()
                    run = fleet.apply()
                    times[workers] = time.perf_counter() - started
                    checks.append(
                        Check(
                            f"fleet.apply.converged.{workers}",
                            run.count(run.results[0].outcome.CONVERGED) == count,
                            f"fleet: apply with {workers} worker(s): {count} clients converged",
                        )
                    )
            finally:
                world.close()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    figure = Comparison(
        "fleet.apply",
        f"apply on {count} clients, {APPLY_LATENCY * 1000:.0f} ms latency: workers={APPLY_WORKERS} / workers=1",
        f"workers={APPLY_WORKERS}",
        "workers=1",
        [times[APPLY_WORKERS]],
        [times[1]],
        APPLY_TARGET,
        unit="s",
    )
    figure.notes.append(
        "steady state: each client's registered set (GET of the self-service API) and delivered secret (GET of the "
        "vault) read, nothing due; the admin token is kept across clients"
    )
    return [finish(ctx, figure)], checks


def run(ctx: Context, mode: Mode, runs: int | None) -> Results:
    """The group as ``--only fleet`` runs it."""
    ctx.log("9. fleet: plan --offline on 100 / 1,000 / 10,000 clients; apply overlapped across clients")
    results = Results()
    for figures, checks in (plan_figures(ctx, mode, runs), apply_figures(ctx, mode)):
        results.comparisons += figures
        results.checks += checks
    for check in results.checks:
        ctx.log_check(check)
    return results
