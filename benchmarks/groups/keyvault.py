"""Group ``keyvault`` (README figure 6): ``push_many`` of many secrets to the test vault, paced and overlapped.

Paced: N secrets to a vault that enforces Key Vault's write limit, against the floor that limit sets (computed),
with no request answered 429. Overlapped: secrets pushed with 100 ms latency on every request, 8 workers against 1.
The secrets are planned directly, one batch per set as ``keyvault push --all`` plans them.
"""

from __future__ import annotations

import hashlib
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from benchmarks.harness import Context, Mode, finish
from benchmarks.results import Check, Comparison, Results

if TYPE_CHECKING:
    from azure.keyvault.secrets import SecretClient

    from benchmarks._servers import KeyVaultServer
    from jwks_tool.integrations.azure.secrets import PlannedSecret

KV_WORKERS = 8
KV_SLACK = 1.1
"""Pushing N secrets under the vault's limit may take at most this times the limit's floor, N / limit x window."""
KV_LATENCY = 0.1
"""Seconds of latency the test vault adds to every request in the overlap figure."""
KV_LATENCY_TARGET = 0.3
"""Wall time with 8 workers over wall time with 1 must be at most this."""


def planned_batches(prefix: str, count: int, value: str) -> list[list[PlannedSecret]]:
    """One batch (a set's key secret, as ``keyvault push --all --secret-name '{name}-{env}-jwk'`` plans it) per set."""
    from jwks_tool.core.b64 import b64url_encode
    from jwks_tool.core.model import utcnow
    from jwks_tool.integrations.azure.secrets import CONTENT_TYPE_JWK, PlannedSecret

    now = utcnow()
    batches = []
    for index in range(count):
        name = f"{prefix}{index:04d}"
        thumb = b64url_encode(hashlib.sha256(name.encode()).digest())
        tags = {"kid": f"{name}-test-{now:%Y%m%d}-{thumb[:8]}", "thumbprint": thumb, "set": name, "env": "test"}
        secret = PlannedSecret(
            "jwk", f"{name}-test-jwk", value, CONTENT_TYPE_JWK, tags, now + timedelta(days=365), now, sensitive=True
        )
        batches.append([secret])
    return batches


def secret_value() -> str:
    """A real Key Vault value (base64 of an RSA-3072 private JWK), the same for every secret."""
    from jwks_tool.core import keys as keymod

    members = keymod.generate_private_jwk(kty="RSA", size=3072, crv=None)
    return keymod.encode_b64_jwk(keymod.altinn_private_jwk(members, kid="benchmark", alg="RS256"))


def _push(
    client: SecretClient, vault: KeyVaultServer, prefix: str, count: int, value: str, **options: Any
) -> tuple[float, int, str]:
    """Push ``count`` new secrets named ``prefix...``: the wall time, how many the vault holds, and the failure."""
    from jwks_tool.errors import JwksToolError
    from jwks_tool.integrations.azure import secrets as kv

    failure = ""
    start = time.perf_counter()
    try:
        kv.push_many(client, planned_batches(prefix, count, value), vault=vault.url, dry_run=False, **options)
    except JwksToolError as exc:
        failure = f"; push_many raised: {exc}"
    elapsed = time.perf_counter() - start
    written = sum(1 for name in vault.secret_names() if name.lower().startswith(prefix))
    return elapsed, written, failure


def paced(ctx: Context, mode: Mode, value: str) -> tuple[Comparison, list[Check]]:
    """Push the mode's secrets to a vault that enforces its write limit: the time against the limit's floor."""
    from azure.keyvault.secrets import SecretClient

    from benchmarks._servers import KeyVaultServer, ThrottleLimits
    from jwks_tool.integrations.azure import secrets as kv

    count, limit, window = mode.kv_secrets, mode.kv_limit, mode.kv_window
    floor = count / limit * window
    default = (limit, window) == (kv.SECRET_WRITES_PER_10S, 10.0)
    limiter = None if default else kv.WindowLimiter(limit, window * kv.PACING_MARGIN)
    pacing = (
        "push_many's own pacing"
        if limiter is None
        else f"WindowLimiter({limit}, {window:g} s x PACING_MARGIN {kv.PACING_MARGIN:g})"
    )
    ctx.log(
        f"  pushing {count} secrets, {KV_WORKERS} workers, vault limit {limit} writes / {window:g} s ({pacing}) ..."
    )
    throttle = ThrottleLimits(window_seconds=window, secret_creates=limit)
    with KeyVaultServer(resource_matches_host=True, throttle=throttle, max_log_entries=4 * count + 1000) as vault:
        client = SecretClient(vault.url, vault.credential(), **vault.client_kwargs())
        elapsed, written, failure = _push(client, vault, "paced-", count, value, limiter=limiter)
        requests = vault.requests
    throttled = sum(1 for record in requests if record.status == 429)
    figure = Comparison(
        "keyvault.paced",
        f"push {count} secrets under {limit} writes / {window:g} s",
        "push_many",
        "floor",
        [elapsed],
        [floor],
        KV_SLACK,
        unit="s",
    )
    figure.notes.append(
        f"floor = {count} / {limit} x {window:g} s = {floor:.2f} s; {KV_WORKERS} workers, {pacing}; "
        f"{len(requests)} requests (GET, then PUT, per secret), {throttled} answered 429"
    )
    checks = [
        Check(
            "keyvault.paced.writes",
            written == count and not failure,
            f"keyvault: {written} of {count} secrets written under the limit, {count - written} failed{failure}",
        ),
        Check(
            "keyvault.paced.throttled",
            throttled == 0,
            f"keyvault: {throttled} of {len(requests)} requests answered 429 by the vault's limit (want 0)",
        ),
    ]
    return finish(ctx, figure), checks


def overlapped(ctx: Context, mode: Mode, value: str) -> tuple[Comparison, list[Check]]:
    """Push the mode's secrets with latency on every request, 8 workers and then 1: the time with 8 against 1."""
    from azure.keyvault.secrets import SecretClient

    from benchmarks._servers import KeyVaultServer

    count = mode.kv_latency_secrets
    ctx.log(
        f"  pushing {count} secrets with {KV_LATENCY * 1000:.0f} ms latency a request, {KV_WORKERS} workers and 1 ..."
    )
    times: dict[int, float] = {}
    checks = []
    with KeyVaultServer(resource_matches_host=True, max_log_entries=4 * count + 1000) as vault:
        client = SecretClient(vault.url, vault.credential(), **vault.client_kwargs())
        client.set_secret("warm-up", "x")  # untimed: the authentication challenge and the first connection
        vault.faults.latency(KV_LATENCY, count=None)
        for workers in (KV_WORKERS, 1):
            times[workers], written, failure = _push(client, vault, f"overlap{workers}-", count, value, workers=workers)
            checks.append(
                Check(
                    f"keyvault.overlap.writes.{workers}",
                    written == count and not failure,
                    f"keyvault: {written} of {count} secrets written with latency, {workers} worker"
                    f"{'s' if workers > 1 else ''}{failure}",
                )
            )
    figure = Comparison(
        "keyvault.overlap",
        f"push {count} secrets, {KV_LATENCY * 1000:.0f} ms latency: workers={KV_WORKERS} / workers=1",
        f"workers={KV_WORKERS}",
        "workers=1",
        [times[KV_WORKERS]],
        [times[1]],
        KV_LATENCY_TARGET,
        unit="s",
    )
    serial = count * 2 * KV_LATENCY
    figure.notes.append(
        f"2 requests a secret x {KV_LATENCY * 1000:.0f} ms: {serial:.1f} s of latency in all; waited on one at a "
        f"time that is the least workers=1 can take; {KV_WORKERS} workers can overlap it down to "
        f"{serial / KV_WORKERS:.1f} s (ratio {1 / KV_WORKERS:.3f})"
    )
    return finish(ctx, figure), checks


def keyvault_figures(ctx: Context, mode: Mode) -> Results:
    """``push_many`` against the test vault: under its write limit, and with latency on every request."""
    value = secret_value()
    results = Results()
    for part in (paced, overlapped):
        figure, checks = part(ctx, mode, value)
        results.comparisons.append(figure)
        results.checks += checks
    for check in results.checks:
        ctx.log_check(check)
    return results


def run(ctx: Context, mode: Mode, runs: int | None) -> Results:
    """The group as ``--only keyvault`` runs it: single timed runs, so ``runs`` does not apply."""
    ctx.log("6. keyvault: push_many against the test vault, paced and overlapped")
    return keyvault_figures(ctx, mode)
