"""The harness: running commands and timing them, interleaved A/B sampling, the shared context and the modes.

Every figure goes through :func:`compare` (A and B sampled in interleaved pairs after untimed warm-up runs) or,
when a group takes its own samples, :func:`finish` (the bootstrap intervals and the progress line). Commands run with
output captured and stdin empty (:func:`run_command`); :func:`time_command` also checks their exit status.
"""

from __future__ import annotations

import os
import random
import shlex
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.results import Check, Comparison, Goal, Unit
from benchmarks.stats import bootstrap_interval, median_a, median_difference, median_ratio

SECRET_ENV = ("JWKS_TOOL_PASSPHRASE", "JWKS_TOOL_KEY_PASSPHRASE", "JWKS_TOOL_EXPORT_PASSPHRASE")
ENV_STORE = "JWKS_TOOL_STORE"
PASSPHRASE = "benchmark passphrase (a throwaway store)"
WARMUP = 2
"""Untimed runs of each side before sampling."""

Sampler = Callable[[], float]
"""One timed run; returns the seconds it took (setup it does before starting its clock is not counted)."""


class BenchmarkError(Exception):
    """A benchmark cannot run: a compared command failed, or a tool is missing."""


@dataclass(frozen=True)
class Mode:
    """Samples per side of each comparison."""

    name: str
    startup: int
    generate: int
    kdf: int
    scale: int
    """Rounds of the scale figures (each round runs status and check once on every store size)."""
    bulk_keys: int
    """Keys per generate_many call in the bulk figure."""
    bulk: int
    """Interleaved pairs of generate_many calls."""
    kv_secrets: int
    """Secrets pushed under the throttle."""
    kv_limit: int
    kv_window: float
    """The vault's secret-write limit: kv_limit per kv_window seconds."""
    kv_latency_secrets: int
    """Secrets pushed, once with 8 workers and once with 1, with latency on every request."""


FULL = Mode(
    "full",
    startup=30,
    generate=40,
    kdf=30,
    scale=20,
    bulk_keys=32,
    bulk=6,
    kv_secrets=1000,
    kv_limit=300,
    kv_window=10.0,
    kv_latency_secrets=200,
)
QUICK = Mode(
    "quick",
    startup=10,
    generate=8,
    kdf=10,
    scale=5,
    bulk_keys=16,
    bulk=4,
    kv_secrets=150,
    kv_limit=45,
    kv_window=1.5,
    kv_latency_secrets=50,
)


def passphrase(_confirm: bool) -> str:
    """The passphrase callback of the library's ``KeyService`` for the benchmarks' throwaway stores."""
    return PASSPHRASE


def inherited_env(*drop: str) -> dict[str, str]:
    """This process's environment without the passphrase variables and ``drop``."""
    return {name: value for name, value in os.environ.items() if name not in SECRET_ENV and name not in drop}


@dataclass
class Context:
    """What the benchmarks share: the interpreter, the commands and a scratch folder."""

    python: str
    jwks_tool: str
    workdir: Path
    log: Callable[[str], None]
    rng: random.Random = field(default_factory=lambda: random.Random(20240601))
    _few_sets: Path | None = None

    def env(self, store: Path, *, passphrase: bool) -> dict[str, str]:
        """The inherited environment with this store, and the store passphrase only when asked for."""
        env = inherited_env()
        env[ENV_STORE] = str(store)
        if passphrase:
            env["JWKS_TOOL_PASSPHRASE"] = PASSPHRASE
        return env

    def default_env(self) -> dict[str, str]:
        """No JWKS_TOOL_STORE, as most users run: the store is the default one in the user data folder
        (XDG_DATA_HOME points into the work folder), where :meth:`few_sets_store` makes its store."""
        env = inherited_env(ENV_STORE)
        env["XDG_DATA_HOME"] = str(self.workdir / "xdg-data")
        return env

    def few_sets_store(self) -> Path:
        """A store with three sets (four keys), made once with the command line, where the default store is."""
        if self._few_sets is None:
            store = self.workdir / "xdg-data" / "jwks-tool" / "store"
            env = self.env(store, passphrase=True)
            self.log("  making a store with a few key sets ...")
            for args in (
                ["generate", "acme"],
                ["generate", "acme"],
                ["generate", "globex", "--env", "prod", "--size", "2048"],
                ["generate", "edge", "--kty", "EC", "--profile", "generic"],
            ):
                time_command([self.jwks_tool, *args], env=env, cwd=self.workdir)
            self._few_sets = store
        return self._few_sets

    def log_check(self, check: Check) -> Check:
        """Log a judged check as ``ok: ...`` or ``FAILED: ...``; returns it."""
        self.log(f"    {'ok' if check.passed else 'FAILED'}: {check.detail}")
        return check


def run_command(cmd: Sequence[str], *, env: Mapping[str, str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    """Run ``cmd`` with stdin empty and its output captured; whatever its exit status."""
    return subprocess.run(cmd, env=env, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, check=False)


def time_command(cmd: Sequence[str], *, env: Mapping[str, str], cwd: Path, expect: int = 0) -> float:
    """Seconds for one run of ``cmd`` (output captured, stdin empty); another exit status than ``expect`` stops
    the benchmark."""
    start = time.perf_counter()
    result = run_command(cmd, env=env, cwd=cwd)
    elapsed = time.perf_counter() - start
    if result.returncode != expect:
        stderr = result.stderr.decode("utf-8", "replace").strip()[-800:]
        raise BenchmarkError(f"`{shlex.join(cmd)}` exited {result.returncode}: {stderr}")
    return elapsed


def command_sampler(cmd: Sequence[str], *, env: Mapping[str, str], cwd: Path) -> Sampler:
    """A sampler that times one run of ``cmd`` (see :func:`time_command`)."""

    def sample() -> float:
        return time_command(cmd, env=env, cwd=cwd)

    return sample


def interleave(a: Sampler, b: Sampler, runs: int, *, warmup: int = WARMUP) -> tuple[list[float], list[float]]:
    """Warm each side up ``warmup`` times (untimed), then take ``runs`` samples of each as A, B, A, B, ..."""
    for _ in range(warmup):
        a()
        b()
    a_times: list[float] = []
    b_times: list[float] = []
    for _ in range(runs):
        a_times.append(a())
        b_times.append(b())
    return a_times, b_times


def compare(
    ctx: Context,
    key: str,
    figure: str,
    labels: tuple[str, str],
    samplers: tuple[Sampler, Sampler],
    runs: int,
    *,
    target: float | None,
    report_fixed_cost: bool = False,
    goal: Goal = "at_most",
    limit: float | None = None,
    unit: Unit = "ms",
    warmup: int = WARMUP,
) -> Comparison:
    """Sample A and B (``samplers``) in ``runs`` interleaved pairs and make the figure ``key`` of them."""
    ctx.log(f"  {figure}: {runs} interleaved pairs ...")
    a, b = interleave(samplers[0], samplers[1], runs, warmup=warmup)
    result = Comparison(
        key, figure, labels[0], labels[1], a, b, target, report_fixed_cost, goal=goal, limit=limit, unit=unit
    )
    return finish(ctx, result)


def finish(ctx: Context, result: Comparison) -> Comparison:
    """Fill in the bootstrap intervals of a comparison whose samples are taken, and log its summary."""
    a, b = result.a, result.b
    result.interval = bootstrap_interval(a, b, median_ratio, ctx.rng)
    if result.report_fixed_cost:
        result.fixed_cost_interval = bootstrap_interval(a, b, median_difference, ctx.rng)
    if result.limit is not None:
        result.a_interval = bootstrap_interval(a, b, median_a, ctx.rng)
    ctx.log(f"    {result.summary()}")
    return result
