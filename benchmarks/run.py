"""Usage: ``.venv/bin/python benchmarks/run.py [--quick] [--json FILE] [--check]``

    $ .venv/bin/python benchmarks/run.py                 # full run, a few minutes
    $ .venv/bin/python benchmarks/run.py --quick         # fewer samples, about a minute
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

The run exits 0 (benchmarks report, they do not fail the build); ``--check`` makes it exit 1 when a target or check
fails. Exit 2 means a benchmark could not run (a compared command failed, or openssl is missing).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import random
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
FIGURES = ("startup", "imports", "readonly", "generate", "kdf")

Sampler = Callable[[], float]
"""One timed run; returns the seconds it took (setup it does before starting its clock is not counted)."""


@dataclass(frozen=True)
class Mode:
    """Samples per side of each comparison."""

    name: str
    startup: int
    generate: int
    kdf: int


FULL = Mode("full", startup=30, generate=40, kdf=30)
QUICK = Mode("quick", startup=10, generate=8, kdf=10)


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
    """The ratio A/B must be at most this; None reports without a target."""
    report_fixed_cost: bool = False
    """Also report median A minus median B: what A pays on top of B's work."""
    interval: tuple[float, float] = (0.0, 0.0)
    """95 % bootstrap interval of the ratio."""
    fixed_cost_interval: tuple[float, float] = (0.0, 0.0)
    """95 % bootstrap interval of median A - median B, in seconds."""

    @property
    def a_median(self) -> float:
        return statistics.median(self.a)

    @property
    def b_median(self) -> float:
        return statistics.median(self.b)

    @property
    def ratio(self) -> float:
        return self.a_median / self.b_median

    @property
    def fixed_cost(self) -> float:
        return self.a_median - self.b_median

    @property
    def passed(self) -> bool | None:
        return None if self.target is None else self.ratio <= self.target

    def summary(self) -> str:
        low, high = self.interval
        text = (
            f"{self.a_label} {ms(self.a_median)}, {self.b_label} {ms(self.b_median)}: "
            f"ratio {self.ratio:.2f} [95% {low:.2f}-{high:.2f}], n={len(self.a)}"
        )
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
            "ratio": self.ratio,
            "ratio_95": list(self.interval),
            "target": self.target,
            "passed": self.passed,
            "fixed_cost_ms": self.fixed_cost * 1000 if self.report_fixed_cost else None,
            "fixed_cost_95_ms": [value * 1000 for value in self.fixed_cost_interval]
            if self.report_fixed_cost
            else None,
            "a_ms": [value * 1000 for value in self.a],
            "b_ms": [value * 1000 for value in self.b],
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

    def few_sets_store(self) -> Path:
        """A store with three sets (four keys), made once with the command line."""
        if self._few_sets is None:
            store = self.workdir / "store-few-sets"
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


def run_command(cmd: Sequence[str], *, env: Mapping[str, str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(cmd, env=env, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, check=False)


def time_command(cmd: Sequence[str], *, env: Mapping[str, str], cwd: Path) -> float:
    """Seconds for one run of ``cmd`` (output captured, stdin empty); a failing command stops the benchmark."""
    start = time.perf_counter()
    result = run_command(cmd, env=env, cwd=cwd)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        stderr = result.stderr.decode("utf-8", "replace").strip()[-800:]
        raise BenchmarkError(f"`{shlex.join(cmd)}` exited {result.returncode}: {stderr}")
    return elapsed


def command_sampler(cmd: Sequence[str], *, env: Mapping[str, str], cwd: Path) -> Sampler:
    def sample() -> float:
        return time_command(cmd, env=env, cwd=cwd)

    return sample


def interleave(a: Sampler, b: Sampler, runs: int) -> tuple[list[float], list[float]]:
    """Warm each side up twice (untimed), then take ``runs`` samples of each as A, B, A, B, ..."""
    for _ in range(WARMUP):
        a()
        b()
    a_times: list[float] = []
    b_times: list[float] = []
    for _ in range(runs):
        a_times.append(a())
        b_times.append(b())
    return a_times, b_times


def median_ratio(a: Sequence[float], b: Sequence[float]) -> float:
    return statistics.median(a) / statistics.median(b)


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
) -> Comparison:
    ctx.log(f"  {figure}: {runs} interleaved pairs ...")
    a, b = interleave(samplers[0], samplers[1], runs)
    result = Comparison(key, figure, labels[0], labels[1], a, b, target, report_fixed_cost)
    result.interval = bootstrap_interval(a, b, median_ratio, ctx.rng)
    if report_fixed_cost:
        result.fixed_cost_interval = bootstrap_interval(a, b, median_difference, ctx.rng)
    ctx.log(f"    {result.summary()}")
    return result


# ---- 1. start-up -------------------------------------------------------------------------------------------------
def startup_figures(ctx: Context, runs: int) -> list[Comparison]:
    """``jwks-tool --help`` and ``jwks-tool list`` against ``python -c "import click"``."""
    store = ctx.few_sets_store()
    env = ctx.env(store, passphrase=False)
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
    ctx.log(f"  making a set of {KDF_KEYS} RSA-2048 keys with the library ...")
    builder = KeyService(open_store(url), passphrase)
    for _ in range(KDF_KEYS):
        builder.generate(GenerateRequest(name="many", size=2048, profile="generic"))

    def unseal(count: int) -> Sampler:
        def sample() -> float:
            svc = KeyService(open_store(url), passphrase)
            keyset = svc.get_set("many", "test")
            records = keyset.keys[:count]
            if len(records) != count:
                raise BenchmarkError(f"the set holds {len(keyset.keys)} keys, not {count}")
            start = time.perf_counter()
            opened = [svc.private_jwk(keyset, record) for record in records]
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
                ms(item.a_median),
                ms(item.b_median),
                f"{item.ratio:.2f}",
                "-" if item.target is None else f"<= {item.target:.2f}",
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
        f"jwks-tool benchmarks ({meta['mode']}): A is jwks-tool's side, B the reference; ratio = median A / median B",
        f"python {meta['python']} | {meta['openssl']} | cryptography's {meta['cryptography_openssl']} | "
        f"{meta['cpus']} CPUs | load {meta['load_before']} -> {meta['load_after']}",
        "",
    ]
    if comparisons:
        out.append(render_table(comparisons))
        out.append("")
        for item in comparisons:
            low, high = item.interval
            line = f"  {item.figure}: n={len(item.a)} pairs, ratio 95% interval {low:.2f}-{high:.2f}"
            if item.report_fixed_cost:
                line += f"; jwks-tool's fixed cost (median A - median B) {item.fixed_cost_text()}"
            out.append(line)
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
    parser.add_argument("--quick", action="store_true", help="fewer samples (10 / 8 / 10 instead of 30 / 40 / 30)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write every sample and figure to FILE")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target or check fails")
    parser.add_argument(
        "--only",
        action="append",
        choices=FIGURES,
        help="run only this group (repeatable; default: all)",
    )
    parser.add_argument("--runs", type=int, metavar="N", help="samples per side for every comparison (overrides)")
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
