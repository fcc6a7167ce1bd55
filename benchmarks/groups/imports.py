"""Group ``imports`` (README figure 1, import checks): ``--help`` must not import the heavy packages.

Runs ``python -X importtime`` on ``import jwks_tool.cli.main`` and ``jwks-tool --help`` (judged) and ``jwks-tool list``
(information), and names every module of :data:`HEAVY_PACKAGES` they import.
"""

from __future__ import annotations

from collections.abc import Sequence

from benchmarks.harness import Context, Mode, run_command
from benchmarks.results import Check, Results

HEAVY_PACKAGES = ("azure", "cryptography", "jinja2", "jwcrypto")
"""Packages that --help must not import: the Azure SDK, templates and the crypto stack are for real commands."""


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
    """The modules of :data:`HEAVY_PACKAGES` among ``modules``, sorted, each once."""
    return sorted({name for name in modules if name.split(".")[0] in HEAVY_PACKAGES})


def import_checks(ctx: Context) -> list[Check]:
    """What ``import jwks_tool.cli.main`` and ``--help`` import (``-X importtime``), and, for information, ``list``."""
    env = ctx.env(ctx.few_sets_store(), passphrase=False)
    checks = []
    cases: tuple[tuple[str, str, list[str], bool], ...] = (
        ("imports.cli", "import jwks_tool.cli.main", ["-c", "import jwks_tool.cli.main"], True),
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


def run(ctx: Context, mode: Mode, runs: int | None) -> Results:
    """The group as ``--only imports`` runs it (no samples: ``mode`` and ``runs`` do not apply)."""
    ctx.log("1b. what --help imports (python -X importtime)")
    return Results(checks=import_checks(ctx))
