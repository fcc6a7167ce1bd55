"""Usage: ``.venv/bin/python benchmarks/run.py [--quick] [--only GROUP]... [--runs N] [--json FILE] [--check]``

    $ .venv/bin/python benchmarks/run.py                 # full run, about 7 minutes
    $ .venv/bin/python benchmarks/run.py --quick         # fewer samples, smaller workloads, about 1.5 minutes
    $ .venv/bin/python benchmarks/run.py --only scale --only bulk --only keyvault
    $ .venv/bin/python benchmarks/run.py --json benchmarks/results/latest.json --check

From Python (a smoke test)::

    from benchmarks.run import main
    assert main(["--quick", "--only", "imports", "--only", "readonly"]) == 0

jwks-tool's speed, measured as ratios against reference commands run side by side in the same process tree:
``python -c "import click"`` for start-up, ``openssl genpkey`` for key generation, and one key against fifty for the
passphrase KDF. The compared commands are interleaved (A, B, A, B, ...) after two untimed warm-up runs each, so drift
on a shared, noisy machine hits both sides alike; the table gives both medians, their ratio, the target and
PASS/FAIL, and a 95 % bootstrap interval of each ratio follows it. Pass/fail checks come last: --help imports no heavy
package, and read-only commands work without a passphrase. See benchmarks/README.md for what each figure means.

Three groups measure jwks-tool against itself or against a computed bound: ``scale`` (``status`` and ``check`` on a
store of 10,000 keys under 1 s, and linear from 1,000 keys up), ``bulk`` (``KeyService.generate_many`` with 2
workers at least 1.7 times the throughput of 1) and ``keyvault`` (``push_many`` of 1,000 secrets within 1.1 times the
floor that Key Vault's write limit sets, with no 429; with 100 ms latency a request, 8 workers in at most 0.3 of the
time of 1).

The run exits 0 (benchmarks report, they do not fail the build); ``--check`` makes it exit 1 when a target or check
fails. Exit 2 means a benchmark could not run (a compared command failed, or openssl is missing).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import math
import os
import platform
import random
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from jwks_tool.keyvault import PlannedSecret
    from jwks_tool.model import KeySet

HEAVY_PACKAGES = ("azure", "cryptography", "jinja2", "jwcrypto")
"""Packages that --help must not import: the Azure SDK, templates and the crypto stack are for real commands."""
SECRET_ENV = ("JWKS_TOOL_PASSPHRASE", "JWKS_TOOL_KEY_PASSPHRASE", "JWKS_TOOL_EXPORT_PASSPHRASE")
ENV_STORE = "JWKS_TOOL_STORE"
PASSPHRASE = "benchmark passphrase (a throwaway store)"

STARTUP_TARGET = 1.25
GENERATE_TARGET = 0.8
KDF_TARGET = 1.5
KDF_KEYS = 50
WARMUP = 2
BOOTSTRAP_ROUNDS = 2000
FIGURES = ("startup", "imports", "readonly", "generate", "kdf", "scale", "bulk", "keyvault")

SCALE_SIZES = ((10, 100), (100, 1_000), (1_000, 10_000))
"""(sets, keys) of the scale stores: ten keys a set. The first is the start-up, the last is judged."""
SCALE_KEYS_PER_SET = 10
SCALE_LIMIT = 1.0
"""Seconds: ``status`` and ``check`` on 10,000 keys must take less."""
LINEARITY_TARGET = 2.0
"""Time per key at 10,000 keys over time per key at 1,000 keys (start-up subtracted) must be at most this."""
SCALE_WARN_EVERY = 100
"""Every 100th set's active key expires in 30 days, so ``check`` has a few warnings to print (and exits 1)."""
SEALED_PLACEHOLDER = "benchmark-placeholder-not-a-sealed-key"
BULK_TARGET = 1.7
"""Throughput of ``generate_many`` with 2 workers over 1 worker must be at least this."""
KV_WORKERS = 8
KV_SLACK = 1.1
"""Pushing N secrets under the vault's limit may take at most this times the limit's floor, N / limit x window."""
KV_LATENCY = 0.1
"""Seconds of latency the test vault adds to every request in the overlap figure."""
KV_LATENCY_TARGET = 0.3
"""Wall time with 8 workers over wall time with 1 must be at most this."""

Goal = Literal["at_most", "at_least"]
Unit = Literal["ms", "us", "s"]

Sampler = Callable[[], float]
"""One timed run; returns the seconds it took (setup it does before starting its clock is not counted)."""


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


class BenchmarkError(Exception):
    """A benchmark cannot run: a compared command failed, or a tool is missing."""


@dataclass
class Comparison:
    """A (jwks-tool) against B (the reference), sampled in interleaved pairs."""

    key: str
    figure: str
    a_label: str
    b_label: str
    a: list[float]
    b: list[float]
    target: float | None
    """The ratio A/B must be at most (``goal`` at_most) or at least (at_least) this; None: no ratio target."""
    report_fixed_cost: bool = False
    """Also report median A minus median B: what A pays on top of B's work."""
    goal: Goal = "at_most"
    limit: float | None = None
    """Median A must be below this many seconds (an absolute target, besides or instead of the ratio's)."""
    unit: Unit = "ms"
    """How the medians are shown; samples are always seconds."""
    notes: list[str] = field(default_factory=list)
    """Extra lines printed under the table after this figure's interval line."""
    interval: tuple[float, float] = (0.0, 0.0)
    """95 % bootstrap interval of the ratio."""
    fixed_cost_interval: tuple[float, float] = (0.0, 0.0)
    """95 % bootstrap interval of median A - median B, in seconds."""
    a_interval: tuple[float, float] = (0.0, 0.0)
    """95 % bootstrap interval of median A, in seconds (figures with a ``limit``)."""

    @property
    def a_median(self) -> float:
        return statistics.median(self.a)

    @property
    def b_median(self) -> float:
        return statistics.median(self.b)

    @property
    def ratio(self) -> float:
        return median_ratio(self.a, self.b)

    @property
    def fixed_cost(self) -> float:
        return self.a_median - self.b_median

    @property
    def passed(self) -> bool | None:
        verdicts = []
        if self.target is not None:
            verdicts.append(self.ratio <= self.target if self.goal == "at_most" else self.ratio >= self.target)
        if self.limit is not None:
            verdicts.append(self.a_median < self.limit)
        return all(verdicts) if verdicts else None

    def show(self, seconds: float) -> str:
        return show_time(seconds, self.unit)

    def target_text(self) -> str:
        parts = []
        if self.limit is not None:
            parts.append(f"A < {self.limit:g} s")
        if self.target is not None:
            parts.append(f"{'<=' if self.goal == 'at_most' else '>='} {self.target:.2f}")
        return ", ".join(parts) or "-"

    def interval_text(self) -> str:
        """The bootstrap intervals, or why there are none."""
        if len(self.a) < 3:
            return f"n={len(self.a)}: one timed run a side, no interval"
        low, high = self.interval
        text = f"n={len(self.a)} pairs, ratio 95% interval {low:.2f}-{high:.2f}"
        if self.limit is not None:
            low, high = self.a_interval
            text += f"; median A ({self.a_label}) 95% interval {self.show(low)}-{self.show(high)}"
        return text

    def summary(self) -> str:
        text = f"{self.a_label} {self.show(self.a_median)}, {self.b_label} {self.show(self.b_median)}: "
        text += f"ratio {self.ratio:.2f}, {self.interval_text()}"
        if self.report_fixed_cost:
            text += f", fixed cost {self.fixed_cost_text()}"
        return text

    def fixed_cost_text(self) -> str:
        low, high = self.fixed_cost_interval
        return f"{self.fixed_cost * 1000:+.1f} ms [95% {low * 1000:+.1f} to {high * 1000:+.1f}]"

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "figure": self.figure,
            "a": self.a_label,
            "b": self.b_label,
            "runs": len(self.a),
            "a_median_ms": self.a_median * 1000,
            "b_median_ms": self.b_median * 1000,
            "ratio": finite(self.ratio),
            "ratio_95": [finite(value) for value in self.interval] if len(self.a) >= 3 else None,
            "target": self.target,
            "goal": self.goal,
            "limit_ms": None if self.limit is None else self.limit * 1000,
            "a_median_95_ms": [value * 1000 for value in self.a_interval]
            if self.limit is not None and len(self.a) >= 3
            else None,
            "passed": self.passed,
            "fixed_cost_ms": self.fixed_cost * 1000 if self.report_fixed_cost else None,
            "fixed_cost_95_ms": [value * 1000 for value in self.fixed_cost_interval]
            if self.report_fixed_cost
            else None,
            "a_ms": [value * 1000 for value in self.a],
            "b_ms": [value * 1000 for value in self.b],
            "notes": list(self.notes),
        }


@dataclass
class Check:
    """A pass/fail line; ``passed`` None is information only."""

    key: str
    passed: bool | None
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "passed": self.passed, "detail": self.detail}


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
        env = {name: value for name, value in os.environ.items() if name not in SECRET_ENV}
        env[ENV_STORE] = str(store)
        if passphrase:
            env["JWKS_TOOL_PASSPHRASE"] = PASSPHRASE
        return env

    def default_env(self) -> dict[str, str]:
        """No JWKS_TOOL_STORE, as most users run: the store is the default one in the user data folder
        (XDG_DATA_HOME points into the work folder), where :meth:`few_sets_store` makes its store."""
        env = {name: value for name, value in os.environ.items() if name not in SECRET_ENV and name != ENV_STORE}
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


# ---- measuring ---------------------------------------------------------------------------------------------------
def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def finite(value: float) -> float | None:
    """``value``, or None for an infinite ratio (JSON has no infinity)."""
    return value if math.isfinite(value) else None


def show_time(seconds: float, unit: Unit) -> str:
    """``12.3 ms``, ``45.6 us`` or ``33.41 s``."""
    if unit == "us":
        return f"{seconds * 1e6:.1f} us"
    if unit == "s":
        return f"{seconds:.2f} s"
    return ms(seconds)


def run_command(cmd: Sequence[str], *, env: Mapping[str, str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
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


def median_ratio(a: Sequence[float], b: Sequence[float]) -> float:
    """Median A / median B; infinite when median B is not positive (a difference lost in the noise)."""
    below = statistics.median(b)
    return statistics.median(a) / below if below > 0 else float("inf")


def median_a(a: Sequence[float], _b: Sequence[float]) -> float:
    return statistics.median(a)


def median_difference(a: Sequence[float], b: Sequence[float]) -> float:
    return statistics.median(a) - statistics.median(b)


def bootstrap_interval(
    a: Sequence[float],
    b: Sequence[float],
    statistic: Callable[[Sequence[float], Sequence[float]], float],
    rng: random.Random,
) -> tuple[float, float]:
    """A 95 % bootstrap interval of ``statistic(A, B)``, resampling whole (A, B) pairs to keep their pairing."""
    indexes = range(len(a))
    values = sorted(
        statistic([a[i] for i in picked], [b[i] for i in picked])
        for picked in (rng.choices(indexes, k=len(a)) for _ in range(BOOTSTRAP_ROUNDS))
    )
    return values[int(0.025 * BOOTSTRAP_ROUNDS)], values[int(0.975 * BOOTSTRAP_ROUNDS) - 1]


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


# ---- 1. start-up -------------------------------------------------------------------------------------------------
def startup_figures(ctx: Context, runs: int) -> list[Comparison]:
    """``jwks-tool --help`` and ``jwks-tool list`` (the default store) against ``python -c "import click"``."""
    ctx.few_sets_store()
    env = ctx.default_env()
    listed = subprocess.run([ctx.jwks_tool, "list"], env=env, cwd=ctx.workdir, capture_output=True, text=True)
    if listed.returncode != 0 or "globex" not in listed.stdout:
        raise BenchmarkError(f"jwks-tool list does not show the default store's sets: {listed.stderr.strip()}")
    baseline = command_sampler([ctx.python, "-c", "import click"], env=env, cwd=ctx.workdir)
    results = []
    for key, args in (("help", ["--help"]), ("list", ["list"])):
        tool = command_sampler([ctx.jwks_tool, *args], env=env, cwd=ctx.workdir)
        figure = f"jwks-tool {' '.join(args)} vs import click"
        results.append(
            compare(
                ctx,
                f"startup.{key}",
                figure,
                (f"jwks-tool {' '.join(args)}", "import click"),
                (tool, baseline),
                runs,
                target=STARTUP_TARGET,
            )
        )
    return results


def imported_modules(stderr: str) -> list[str]:
    """Module names from ``python -X importtime`` output (stderr), in import order.

    >>> imported_modules("import time: self [us] | cumulative | imported package\\nimport time: 5 | 9 |   click.core")
    ['click.core']
    """
    names = []
    for line in stderr.splitlines():
        if not line.startswith("import time:"):
            continue
        parts = line.split("|")
        if len(parts) == 3 and parts[2].strip() != "imported package":
            names.append(parts[2].strip())
    return names


def heavy_modules(modules: Sequence[str]) -> list[str]:
    return sorted({name for name in modules if name.split(".")[0] in HEAVY_PACKAGES})


def import_checks(ctx: Context) -> list[Check]:
    """What ``import jwks_tool._cli`` and ``--help`` import (``-X importtime``), and, for information, ``list``."""
    env = ctx.env(ctx.few_sets_store(), passphrase=False)
    checks = []
    cases: tuple[tuple[str, str, list[str], bool], ...] = (
        ("imports.cli", "import jwks_tool._cli", ["-c", "import jwks_tool._cli"], True),
        ("imports.help", "jwks-tool --help", ["-m", "jwks_tool", "--help"], True),
        ("imports.list", "jwks-tool list", ["-m", "jwks_tool", "list"], False),
    )
    heavy_names = ", ".join(HEAVY_PACKAGES)
    for key, label, args, judged in cases:
        result = run_command([ctx.python, "-X", "importtime", *args], env=env, cwd=ctx.workdir)
        modules = imported_modules(result.stderr.decode("utf-8", "replace"))
        heavy = heavy_modules(modules)
        ok = result.returncode == 0 and bool(modules) and not heavy
        if result.returncode != 0 or not modules:
            detail = f"{label}: exited {result.returncode} with {len(modules)} import lines; cannot tell"
        elif heavy:
            shown = ", ".join(heavy[:8]) + (", ..." if len(heavy) > 8 else "")
            detail = f"{label} imports {len(heavy)} modules of {heavy_names}: {shown}"
        else:
            detail = f"{label} imports none of {heavy_names} ({len(modules)} modules in all)"
        checks.append(Check(key, ok if judged else None, detail))
        ctx.log(f"    {detail}")
    return checks


# ---- 2. key generation -------------------------------------------------------------------------------------------
def generate_figures(ctx: Context, runs: int) -> list[Comparison]:
    """``jwks-tool generate`` (a new set each run, sealed and written) against ``openssl genpkey`` to a file."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise BenchmarkError("the generate figures need the openssl command (apt-get install openssl)")
    store = ctx.workdir / "store-generate"
    env = ctx.env(store, passphrase=True)
    out = ctx.workdir / "openssl-keys"
    out.mkdir()
    names = itertools.count()
    cases: tuple[tuple[str, str, list[str], list[str], float | None], ...] = (
        ("rsa2048", "RSA 2048", ["--size", "2048"], ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"], None),
        (
            "rsa3072",
            "RSA 3072",
            ["--size", "3072"],
            ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072"],
            GENERATE_TARGET,
        ),
        (
            "rsa4096",
            "RSA 4096",
            ["--size", "4096"],
            ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:4096"],
            GENERATE_TARGET,
        ),
        (
            "ecp256",
            "EC P-256",
            ["--kty", "EC", "--profile", "generic"],
            ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
            None,
        ),
    )
    results = []
    for key, label, tool_args, openssl_args, target in cases:

        def tool(tool_args: list[str] = tool_args) -> float:
            cmd = [ctx.jwks_tool, "generate", f"set{next(names)}", *tool_args]
            return time_command(cmd, env=env, cwd=ctx.workdir)

        def reference(openssl_args: list[str] = openssl_args) -> float:
            cmd = [openssl, "genpkey", *openssl_args, "-out", str(out / f"key{next(names)}.pem")]
            return time_command(cmd, env=env, cwd=ctx.workdir)

        results.append(
            compare(
                ctx,
                f"generate.{key}",
                f"generate {label} vs openssl genpkey",
                ("jwks-tool generate", "openssl genpkey"),
                (tool, reference),
                runs,
                target=target,
                report_fixed_cost=key == "ecp256",
            )
        )
    return results


# ---- 3. the passphrase KDF ---------------------------------------------------------------------------------------
def kdf_figure(ctx: Context, runs: int) -> Comparison:
    """``KeyService.private_jwk`` for 1 key against 50 keys, each sample in a new service (so its own KDF)."""
    from jwks_tool.service import GenerateRequest, KeyService
    from jwks_tool.stores import open_store

    def passphrase(_confirm: bool) -> str:
        return PASSPHRASE

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


def readonly_checks(ctx: Context) -> list[Check]:
    """list, show and public export work with no passphrase in the environment and stdin not a terminal."""
    from jwks_tool._cli import EXIT_CODES
    from jwks_tool.errors import PassphraseError

    env = ctx.env(ctx.few_sets_store(), passphrase=False)
    checks = []
    for key, args in (
        ("readonly.list", ["list"]),
        ("readonly.show", ["show", "acme"]),
        ("readonly.export", ["export", "acme"]),
    ):
        result = run_command([ctx.jwks_tool, *args], env=env, cwd=ctx.workdir)
        stdout = result.stdout.decode("utf-8", "replace")
        ok = result.returncode == 0 and bool(stdout.strip())
        if key == "readonly.export":
            ok = ok and '"d"' not in stdout and '"kty"' in stdout
        why = "" if ok else f": exited {result.returncode}, {result.stderr.decode('utf-8', 'replace').strip()[-300:]}"
        detail = f"jwks-tool {' '.join(args)} without a passphrase, stdin not a terminal{why}"
        checks.append(Check(key, ok, detail))
        ctx.log(f"    {'ok' if ok else 'FAILED'}: {detail}")
    # The control: the same environment does stop a command that needs the key, so the passes above mean something.
    expected = EXIT_CODES[PassphraseError]
    args = ["export", "acme", "--private", "--format", "jwk", "--yes"]
    result = run_command([ctx.jwks_tool, *args], env=env, cwd=ctx.workdir)
    ok = result.returncode == expected and not result.stdout.strip()
    detail = f"control: jwks-tool {' '.join(args)} in the same environment exits {result.returncode} (want {expected})"
    checks.append(Check("readonly.control", ok, detail))
    ctx.log(f"    {'ok' if ok else 'FAILED'}: {detail}")
    return checks


# ---- 4. scale: status and check on 10,000 keys ---------------------------------------------------------------------
def scale_keyset(index: int, public: Mapping[str, Any], now: datetime) -> KeySet:
    """Set ``index`` of a scale store: ten keys as years of rotation leave them, public JWKs copied from one key.

    Key k was made 2 + 90 x (9 - k) days ago, as next; promoted 2 days later; it became retiring when the key after
    it was promoted and retired a day after that. So keys 0-6 are retired (private halves destroyed), 7 is retiring,
    8 active and 9 next (2 days old). Every ``SCALE_WARN_EVERY``-th set's active key expires in 30 days.
    """
    from jwks_tool import keys as keymod
    from jwks_tool.b64 import b64url_encode
    from jwks_tool.model import Env, KeyRecord, KeySet, KeyState, Kid, Origin, SetRef, Thumbprint, Transition

    ref = SetRef(f"client-{index:04d}", Env.TEST if index % 2 == 0 else Env.PROD)
    made = [now - timedelta(days=2 + 90 * (SCALE_KEYS_PER_SET - 1 - k)) for k in range(SCALE_KEYS_PER_SET)]
    records = []
    for k, created in enumerate(made):
        last = SCALE_KEYS_PER_SET - 1
        history = [Transition(created, None, KeyState.ACTIVE if k == 0 else KeyState.NEXT, "generated")]
        if 0 < k < last:
            history.append(Transition(created + timedelta(days=2), KeyState.NEXT, KeyState.ACTIVE, "promote"))
        if k < last - 1:
            history.append(Transition(made[k + 1] + timedelta(days=2), KeyState.ACTIVE, KeyState.RETIRING, "promote"))
        if k < last - 2:
            history.append(Transition(made[k + 1] + timedelta(days=3), KeyState.RETIRING, KeyState.RETIRED, "finish"))
        state = history[-1].to_state
        expires = created + timedelta(days=365)
        if state is KeyState.ACTIVE and index % SCALE_WARN_EVERY == 0:
            expires = now + timedelta(days=30)
        thumb = b64url_encode(hashlib.sha256(f"{ref.name}/{ref.env.value}/{k}".encode()).digest())
        kid = keymod.readable_kid(ref.name, ref.env.value, created, thumb)
        records.append(
            KeyRecord(
                kid=Kid(kid),
                kty="RSA",
                alg="RS256",
                size=3072,
                crv=None,
                thumbprint=Thumbprint(thumb),
                created=created,
                expires=expires,
                state=state,
                origin=Origin.GENERATED,
                public_jwk=keymod.decorate(public, kid=kid, alg="RS256", exp=int(expires.timestamp())),
                sealed_private=None if state is KeyState.RETIRED else SEALED_PLACEHOLDER,
                history=tuple(history),
            )
        )
    return KeySet(ref=ref, profile="maskinporten", keys=tuple(records), created=made[0], updated=now)


def build_scale_store(ctx: Context, sets: int, public: Mapping[str, Any]) -> Path:
    """A file store with ``sets`` sets of ten keys, each set document written by ``FileStore.write_set``."""
    from jwks_tool.model import utcnow
    from jwks_tool.service import KeyService
    from jwks_tool.stores.file import FileStore

    path = ctx.workdir / f"store-scale-{sets * SCALE_KEYS_PER_SET}"
    store = FileStore.from_url(str(path))
    KeyService(store, lambda _confirm: PASSPHRASE).init_store()  # a real store.json (one KDF run)
    now = utcnow()
    for index in range(sets):
        store.write_set(scale_keyset(index, public, now), expected_revision=0)
    return path


def scale_figures(ctx: Context, rounds: int) -> list[Comparison]:
    """``jwks-tool status`` and ``jwks-tool check`` on 100, 1,000 and 10,000 keys, sampled round-robin."""
    from jwks_tool import keys as keymod

    public = keymod.public_jwk(keymod.generate_private_jwk(kty="RSA", size=3072, crv=None))
    stores: dict[int, Path] = {}
    for sets, keys in SCALE_SIZES:
        started = time.perf_counter()
        stores[keys] = build_scale_store(ctx, sets, public)
        ctx.log(
            f"  wrote {sets:,} sets ({keys:,} keys) with FileStore.write_set in {time.perf_counter() - started:.1f} s"
        )
    commands = {"status": 0, "check": 1}
    """Each command and the exit status it must give (check: 1, the warnings of the sets that expire soon)."""

    def cmd(command: str) -> list[str]:
        return [ctx.jwks_tool, command]

    for sets, keys in SCALE_SIZES:  # the warm-up run, checked: every set shows up in the output
        env = ctx.env(stores[keys], passphrase=False)
        for command, expect in commands.items():
            result = run_command(cmd(command), env=env, cwd=ctx.workdir)
            stdout = result.stdout.decode("utf-8", "replace")
            shown = (
                sum(1 for line in stdout.splitlines() if re.match(r"^\S+ \((test|prod)\), ", line))
                if command == "status"
                else int(f"{sets} key sets checked" in stdout) * sets
            )
            if result.returncode != expect or shown != sets:
                stderr = result.stderr.decode("utf-8", "replace").strip()[-500:]
                raise BenchmarkError(
                    f"jwks-tool {command} on {keys:,} keys exited {result.returncode} (want {expect}) and showed "
                    f"{shown} of {sets} sets: {stderr}"
                )
    ctx.log(f"  status and check on {', '.join(f'{keys:,}' for _, keys in SCALE_SIZES)} keys: {rounds} rounds ...")
    samples: dict[tuple[str, int], list[float]] = {(c, keys): [] for c in commands for _, keys in SCALE_SIZES}
    for _ in range(rounds):
        for _sets, keys in SCALE_SIZES:
            env = ctx.env(stores[keys], passphrase=False)
            for command, expect in commands.items():
                samples[command, keys].append(time_command(cmd(command), env=env, cwd=ctx.workdir, expect=expect))

    (_, small), (_, mid), (big_sets, big) = SCALE_SIZES
    results: list[Comparison] = []
    per_key: dict[tuple[str, int], list[float]] = {}
    for command in commands:
        base = samples[command, small]
        for keys in (mid, big):  # the marginal time per key of each round: (t - t at 100 keys) / (keys - 100)
            per_key[command, keys] = [
                (t - t0) / (keys - small) for t, t0 in zip(samples[command, keys], base, strict=True)
            ]
        results.append(
            finish(
                ctx,
                Comparison(
                    f"scale.{command}",
                    f"{command}: {big:,} keys in {big_sets:,} sets",
                    f"{big:,} keys",
                    f"{small:,} keys",
                    samples[command, big],
                    base,
                    None,
                    limit=SCALE_LIMIT,
                ),
            )
        )
        results.append(
            finish(
                ctx,
                Comparison(
                    f"scale.{command}.linearity",
                    f"{command}: time per key at {big:,} / at {mid:,}",
                    f"per key at {big:,}",
                    f"per key at {mid:,}",
                    per_key[command, big],
                    per_key[command, mid],
                    LINEARITY_TARGET,
                    unit="us",
                ),
            )
        )
    notes = results[0].notes
    notes.append(f"curve (medians of {rounds} rounds; per key = (t - t at {small} keys) / (keys - {small})):")
    header = ("keys", "sets", "status", "per key", "check", "per key")
    rows: list[Sequence[str]] = [header]
    for sets, keys in SCALE_SIZES:
        row = [f"{keys:,}", f"{sets:,}"]
        for command in commands:
            row.append(ms(statistics.median(samples[command, keys])))
            row.append(show_time(statistics.median(per_key[command, keys]), "us") if keys != small else "-")
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    notes.extend("  " + "  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)) for row in rows)
    return results


# ---- 5. bulk generation: generate_many on threads -----------------------------------------------------------------
def bulk_figure(ctx: Context, keys: int, runs: int) -> Comparison:
    """``KeyService.generate_many`` of ``keys`` RSA-3072 keys (new sets), workers=1 against workers=2."""
    from jwks_tool.service import GenerateRequest, KeyService
    from jwks_tool.stores import open_store

    svc = KeyService(open_store(str(ctx.workdir / "store-bulk")), lambda _confirm: PASSPHRASE)
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


# ---- 6. Key Vault: pushing many secrets ------------------------------------------------------------------------------
def planned_batches(prefix: str, count: int, value: str) -> list[list[PlannedSecret]]:
    """One batch (a set's key secret, as ``keyvault push --all --secret-name '{name}-{env}-jwk'`` plans it) per set."""
    from jwks_tool.b64 import b64url_encode
    from jwks_tool.keyvault import CONTENT_TYPE_JWK, PlannedSecret
    from jwks_tool.model import utcnow

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
    from jwks_tool import keys as keymod

    members = keymod.generate_private_jwk(kty="RSA", size=3072, crv=None)
    return keymod.encode_b64_jwk(keymod.altinn_private_jwk(members, kid="benchmark", alg="RS256"))


def keyvault_figures(ctx: Context, mode: Mode) -> tuple[list[Comparison], list[Check]]:
    """``push_many`` against the test vault: under its write limit, and with latency on every request."""
    from azure.keyvault.secrets import SecretClient

    from jwks_tool import keyvault as kv
    from jwks_tool.errors import JwksToolError
    from jwks_tool.testing.keyvault_server import KeyVaultServer, ThrottleLimits

    value = secret_value()
    comparisons: list[Comparison] = []
    checks: list[Check] = []
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
        failure = ""
        start = time.perf_counter()
        try:
            kv.push_many(
                client, planned_batches("paced-", count, value), vault=vault.url, dry_run=False, limiter=limiter
            )
        except JwksToolError as exc:
            failure = f"; push_many raised: {exc}"
        elapsed = time.perf_counter() - start
        written = sum(1 for name in vault.secret_names() if name.lower().startswith("paced-"))
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
    comparisons.append(finish(ctx, figure))
    checks.append(
        Check(
            "keyvault.paced.writes",
            written == count and not failure,
            f"keyvault: {written} of {count} secrets written under the limit, {count - written} failed{failure}",
        )
    )
    checks.append(
        Check(
            "keyvault.paced.throttled",
            throttled == 0,
            f"keyvault: {throttled} of {len(requests)} requests answered 429 by the vault's limit (want 0)",
        )
    )

    count = mode.kv_latency_secrets
    ctx.log(
        f"  pushing {count} secrets with {KV_LATENCY * 1000:.0f} ms latency a request, {KV_WORKERS} workers and 1 ..."
    )
    times: dict[int, float] = {}
    with KeyVaultServer(resource_matches_host=True, max_log_entries=4 * count + 1000) as vault:
        client = SecretClient(vault.url, vault.credential(), **vault.client_kwargs())
        client.set_secret("warm-up", "x")  # untimed: the authentication challenge and the first connection
        vault.faults.latency(KV_LATENCY, count=None)
        for workers in (KV_WORKERS, 1):
            prefix = f"overlap{workers}-"
            failure = ""
            start = time.perf_counter()
            try:
                kv.push_many(
                    client, planned_batches(prefix, count, value), vault=vault.url, dry_run=False, workers=workers
                )
            except JwksToolError as exc:
                failure = f"; push_many raised: {exc}"
            times[workers] = time.perf_counter() - start
            written = sum(1 for name in vault.secret_names() if name.lower().startswith(prefix))
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
    comparisons.append(finish(ctx, figure))
    for check in checks:
        ctx.log(f"    {'ok' if check.passed else 'FAILED'}: {check.detail}")
    return comparisons, checks


# ---- the report --------------------------------------------------------------------------------------------------
def mark(passed: bool | None) -> str:
    return {True: "PASS", False: "FAIL", None: "info"}[passed]


def render_table(comparisons: Sequence[Comparison]) -> str:
    header = ("figure", "A median", "B median", "ratio A/B", "target", "result")
    rows = [header]
    for item in comparisons:
        rows.append(
            (
                item.figure,
                item.show(item.a_median),
                item.show(item.b_median),
                f"{item.ratio:.2f}",
                item.target_text(),
                mark(item.passed),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for number, row in enumerate(rows):
        cells = [
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("| " + " | ".join(cells) + " |")
        if number == 0:
            lines.append("|" + "|".join("-" * (width + 2) for width in widths) + "|")
    return "\n".join(lines)


def render_report(comparisons: Sequence[Comparison], checks: Sequence[Check], meta: Mapping[str, Any]) -> str:
    out = [
        "",
        f"jwks-tool benchmarks ({meta['mode']}): each figure names its sides A and B (mostly A is jwks-tool, B a "
        "reference); ratio = median A / median B",
        f"python {meta['python']} | {meta['openssl']} | cryptography's {meta['cryptography_openssl']} | "
        f"{meta['cpus']} CPUs | load {meta['load_before']} -> {meta['load_after']}",
        "",
    ]
    if comparisons:
        out.append(render_table(comparisons))
        out.append("")
        for item in comparisons:
            line = f"  {item.figure}: A = {item.a_label}, B = {item.b_label}; {item.interval_text()}"
            if item.report_fixed_cost:
                line += f"; jwks-tool's fixed cost (median A - median B) {item.fixed_cost_text()}"
            out.append(line)
            out.extend(f"    {note}" for note in item.notes)
        out.append("")
    for check in checks:
        out.append(f"{mark(check.passed)}  {check.detail}")
    judged = [item.passed for item in comparisons if item.passed is not None]
    judged_checks = [check.passed for check in checks if check.passed is not None]
    out.append("")
    out.append(
        f"targets met: {sum(judged)}/{len(judged)}; checks passed: {sum(judged_checks)}/{len(judged_checks)}; "
        f"took {meta['seconds']:.0f} s"
    )
    return "\n".join(out) + "\n"


def openssl_version() -> str:
    path = shutil.which("openssl")
    if path is None:
        return "openssl: not found"
    result = subprocess.run([path, "version"], capture_output=True, text=True, check=False)
    return " ".join(result.stdout.split()[:2]) or "openssl: unknown"


def cryptography_openssl() -> str:
    from cryptography.hazmat.backends.openssl import backend

    return " ".join(str(backend.openssl_version_text()).split()[:2])


def load() -> str:
    try:
        return "/".join(f"{value:.1f}" for value in os.getloadavg())
    except OSError:
        return "?"


def find_jwks_tool(python: str) -> str:
    """The jwks-tool script beside this interpreter (a virtual environment's bin folder), else on PATH."""
    beside = Path(python).parent / ("jwks-tool.exe" if os.name == "nt" else "jwks-tool")
    if beside.exists():
        return str(beside)
    found = shutil.which("jwks-tool")
    if found is None:
        raise BenchmarkError(
            f"no jwks-tool command beside {python} or on PATH",
            "run with the project's interpreter: .venv/bin/python benchmarks/run.py",
        )
    return found


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="benchmarks/run.py",
        description="jwks-tool benchmarks: medians and ratios against reference commands, interleaved.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="fewer samples and smaller workloads (see benchmarks/README.md); about 1.5 minutes for everything",
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write every sample and figure to FILE")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target or check fails")
    parser.add_argument(
        "--only",
        action="append",
        choices=FIGURES,
        help="run only this group (repeatable; default: all)",
    )
    parser.add_argument(
        "--runs",
        type=int,
        metavar="N",
        help="samples per side for every interleaved comparison, rounds for scale (overrides; not keyvault)",
    )
    args = parser.parse_args(argv)
    if args.runs is not None and args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks, print the report; the exit status (0, 1 with --check on a failure, 2 on an error)."""
    args = parse_args(argv)
    mode = QUICK if args.quick else FULL
    selected = args.only or list(FIGURES)
    started = time.perf_counter()

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    comparisons: list[Comparison] = []
    checks: list[Check] = []
    load_before = load()
    try:
        python = sys.executable
        tool_path = find_jwks_tool(python)
        # An installed wheel has its bytecode compiled; an editable checkout under PYTHONDONTWRITEBYTECODE would
        # recompile jwks_tool on every run and measure the compiler. Compile once, as pip does on install.
        import compileall

        compileall.compile_dir(str(Path(__file__).resolve().parents[1] / "jwks_tool"), quiet=1)
        with tempfile.TemporaryDirectory(prefix="jwks-tool-bench-") as scratch:
            ctx = Context(python=python, jwks_tool=tool_path, workdir=Path(scratch), log=log)
            log(f"jwks-tool benchmarks, {mode.name} mode, {python}")
            if "startup" in selected:
                log("1. start-up against python -c 'import click'")
                comparisons += startup_figures(ctx, args.runs or mode.startup)
            if "imports" in selected:
                log("1b. what --help imports (python -X importtime)")
                checks += import_checks(ctx)
            if "readonly" in selected:
                log("3b. read-only commands without a passphrase")
                checks += readonly_checks(ctx)
            if "generate" in selected:
                log("2. key generation against openssl genpkey")
                comparisons += generate_figures(ctx, args.runs or mode.generate)
            if "kdf" in selected:
                log(f"3. the passphrase KDF: private_jwk for {KDF_KEYS} keys against 1")
                comparisons.append(kdf_figure(ctx, args.runs or mode.kdf))
            if "scale" in selected:
                log("4. scale: status and check on 100, 1,000 and 10,000 keys")
                comparisons += scale_figures(ctx, args.runs or mode.scale)
            if "bulk" in selected:
                log(f"5. bulk: generate_many of {mode.bulk_keys} RSA-3072 keys, workers=1 against workers=2")
                comparisons.append(bulk_figure(ctx, mode.bulk_keys, args.runs or mode.bulk))
            if "keyvault" in selected:
                log("6. keyvault: push_many against the test vault, paced and overlapped")
                kv_comparisons, kv_checks = keyvault_figures(ctx, mode)
                comparisons += kv_comparisons
                checks += kv_checks
    except BenchmarkError as exc:
        print(f"benchmarks/run.py: error: {'; '.join(str(part) for part in exc.args)}", file=sys.stderr)
        return 2

    import jwks_tool

    meta: dict[str, Any] = {
        "mode": f"{mode.name} mode" if args.runs is None else f"{mode.name} mode, --runs {args.runs}",
        "figures": selected,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "openssl": openssl_version(),
        "cryptography_openssl": cryptography_openssl(),
        "jwks_tool": jwks_tool.__version__,
        "load_before": load_before,
        "load_after": load(),
        "seconds": time.perf_counter() - started,
    }
    print(render_report(comparisons, checks, meta), end="")
    if args.json is not None:
        document = {
            "meta": meta,
            "comparisons": [item.to_json() for item in comparisons],
            "checks": [check.to_json() for check in checks],
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        log(f"wrote {args.json}")
    failed = any(item.passed is False for item in comparisons) or any(check.passed is False for check in checks)
    return 1 if args.check and failed else 0


if __name__ == "__main__":
    sys.exit(main())
