"""Group ``startup`` (README figure 1): ``jwks-tool --help`` and ``jwks-tool list`` against ``import click``.

B is the least any click program can cost: the same interpreter starting and importing click. ``list`` runs as most
users run it, on the default store in the user data folder and without a passphrase.
"""

from __future__ import annotations

import subprocess

from benchmarks.harness import BenchmarkError, Context, Mode, command_sampler, compare
from benchmarks.results import Comparison, Results

STARTUP_TARGET = 1.25
"""Median jwks-tool / median ``import click`` must be at most this."""


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


def run(ctx: Context, mode: Mode, runs: int | None) -> Results:
    """The group as ``--only startup`` runs it: ``runs`` pairs a figure, or the mode's."""
    ctx.log("1. start-up against python -c 'import click'")
    return Results(comparisons=startup_figures(ctx, runs or mode.startup))
