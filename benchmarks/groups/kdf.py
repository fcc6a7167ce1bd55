"""Group ``kdf`` (README figure 3): the passphrase KDF is paid once per command, not once per key.

In-process with the library: each sample opens a new ``KeyService`` (so a new KDF run) and times ``private_jwk`` for
50 keys (A) or for 1 key (B).
"""

from __future__ import annotations

import time

from benchmarks.harness import BenchmarkError, Context, Mode, Sampler, compare, passphrase
from benchmarks.results import Comparison, Results

KDF_TARGET = 1.5
"""Median time for 50 keys / median time for 1 key must be at most this."""
KDF_KEYS = 50


def kdf_figure(ctx: Context, runs: int) -> Comparison:
    """``KeyService.private_jwk`` for 1 key against 50 keys, each sample in a new service (so its own KDF)."""
    from jwks_tool.services.key_service import GenerateRequest, KeyService
    from jwks_tool.stores import open_store

    url = str(ctx.workdir / "store-kdf")
    ctx.log(f"  making {KDF_KEYS} sets of one RSA-2048 key each with the library ...")
    builder = KeyService(open_store(url), passphrase)
    requests = [GenerateRequest(name=f"many{n:02}", size=2048) for n in range(KDF_KEYS)]
    builder.generate_many(requests, workers=1)

    def unseal(count: int) -> Sampler:
        def sample() -> float:
            svc = KeyService(open_store(url), passphrase)
            keysets = [svc.get_set(request.name, "test") for request in requests[:count]]
            if len(keysets) != count or any(len(keyset.keys) != 1 for keyset in keysets):
                raise BenchmarkError(f"the store does not hold {count} sets of one key each")
            start = time.perf_counter()
            opened = [svc.private_jwk(keyset, keyset.keys[0]) for keyset in keysets]
            elapsed = time.perf_counter() - start
            if not all("d" in members for members in opened):
                raise BenchmarkError("private_jwk returned a key without its private part")
            return elapsed

        return sample

    return compare(
        ctx,
        "kdf.private_jwk",
        f"private_jwk {KDF_KEYS} keys vs 1 key",
        (f"{KDF_KEYS} keys", "1 key"),
        (unseal(KDF_KEYS), unseal(1)),
        runs,
        target=KDF_TARGET,
    )


def run(ctx: Context, mode: Mode, runs: int | None) -> Results:
    """The group as ``--only kdf`` runs it: ``runs`` pairs, or the mode's."""
    ctx.log(f"3. the passphrase KDF: private_jwk for {KDF_KEYS} keys against 1")
    return Results(comparisons=[kdf_figure(ctx, runs or mode.kdf)])
