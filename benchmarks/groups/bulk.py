"""Group ``bulk`` (README figure 5): ``KeyService.generate_many`` with 1 worker against 2, the speed-up.

In-process on a temporary file store: each sample is one ``generate_many`` call for new sets of one RSA-3072 key
each. Besides the ratio, the notes give both throughputs and the cores each side kept busy.
"""

from __future__ import annotations

import itertools
import os
import statistics
import time
from typing import TYPE_CHECKING

from benchmarks.harness import BenchmarkError, Context, Mode, Sampler, compare, passphrase
from benchmarks.results import Comparison, Results

if TYPE_CHECKING:
    from jwks_tool.services.key_service import GenerateRequest

BULK_TARGET = 1.7
"""Throughput of ``generate_many`` with 2 workers over 1 worker must be at least this."""


def bulk_figure(ctx: Context, keys: int, runs: int) -> Comparison:
    """``KeyService.generate_many`` of ``keys`` RSA-3072 keys (new sets), workers=1 against workers=2."""
    from jwks_tool.services.key_service import GenerateRequest, KeyService
    from jwks_tool.stores import open_store

    svc = KeyService(open_store(str(ctx.workdir / "store-bulk")), passphrase)
    names = itertools.count()

    def requests(count: int) -> list[GenerateRequest]:
        return [GenerateRequest(name=f"bulk{next(names)}", size=3072, profile="generic") for _ in range(count)]

    svc.generate_many(requests(2), workers=2)  # untimed: creates the store, runs the KDF once, imports, threads
    busy: dict[int, list[float]] = {1: [], 2: []}
    """Per sample, the process's CPU time over the wall time: how many cores the call kept busy."""

    def sampler(workers: int) -> Sampler:
        def sample() -> float:
            batch = requests(keys)
            cpu = time.process_time()
            start = time.perf_counter()
            made = svc.generate_many(batch, workers=workers)
            elapsed = time.perf_counter() - start
            busy[workers].append((time.process_time() - cpu) / elapsed)
            if len(made) != keys:
                raise BenchmarkError(f"generate_many made {len(made)} keys, not {keys}")
            return elapsed

        return sample

    result = compare(
        ctx,
        "bulk.generate_many",
        f"generate_many {keys} x RSA 3072: workers=1 / workers=2",
        ("workers=1", "workers=2"),
        (sampler(1), sampler(2)),
        runs,
        target=BULK_TARGET,
        goal="at_least",
        unit="s",
        warmup=0,
    )
    result.notes.append(
        f"throughput: workers=1 {keys / result.a_median:.2f} keys/s, workers=2 {keys / result.b_median:.2f} keys/s "
        f"(ratio = throughput 2 / throughput 1); {os.cpu_count()} CPUs"
    )
    result.notes.append(
        f"cores kept busy (process CPU time / wall time, median): workers=1 {statistics.median(busy[1]):.2f}, "
        f"workers=2 {statistics.median(busy[2]):.2f}; unlike the ratio, not moved by how long each prime search took"
    )
    return result


def run(ctx: Context, mode: Mode, runs: int | None) -> Results:
    """The group as ``--only bulk`` runs it: the mode's keys a call, ``runs`` pairs or the mode's."""
    ctx.log(f"5. bulk: generate_many of {mode.bulk_keys} RSA-3072 keys, workers=1 against workers=2")
    return Results(comparisons=[bulk_figure(ctx, mode.bulk_keys, runs or mode.bulk)])
