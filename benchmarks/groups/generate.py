"""Group ``generate`` (README figure 2): ``jwks-tool generate`` against ``openssl genpkey``.

Each A run generates a key into a new key set (sealed with the store's passphrase and written under the store's
lock); each B run writes a new key file with the system's openssl command. The EC figure also reports jwks-tool's
fixed cost (median A - median B).
"""

from __future__ import annotations

import itertools
import shutil

from benchmarks.harness import BenchmarkError, Context, Mode, compare, time_command
from benchmarks.results import Comparison, Results

GENERATE_TARGET = 0.8
"""RSA 3072 and 4096: median jwks-tool / median openssl must be at most this."""

CASES: tuple[tuple[str, str, list[str], list[str], float | None], ...] = (
    *(
        (
            f"rsa{bits}",
            f"RSA {bits}",
            ["--size", str(bits)],
            ["-algorithm", "RSA", "-pkeyopt", f"rsa_keygen_bits:{bits}"],
            target,
        )
        for bits, target in ((2048, None), (3072, GENERATE_TARGET), (4096, GENERATE_TARGET))
    ),
    (
        "ecp256",
        "EC P-256",
        ["--kty", "EC", "--profile", "generic"],
        ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
        None,
    ),
)
"""(key, label, jwks-tool generate's arguments, openssl genpkey's arguments, target) of each figure."""


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
    results = []
    for key, label, tool_args, openssl_args, target in CASES:

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


def run(ctx: Context, mode: Mode, runs: int | None) -> Results:
    """The group as ``--only generate`` runs it: ``runs`` pairs a figure, or the mode's."""
    ctx.log("2. key generation against openssl genpkey")
    return Results(comparisons=generate_figures(ctx, runs or mode.generate))
