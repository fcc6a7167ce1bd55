"""The benchmark groups, one module each, in the order a full run takes them (``--only NAME`` picks some).

Every group module has ``run(ctx, mode, runs) -> Results``: it logs its heading, takes its samples (``runs`` from
``--runs``, or None for the mode's) and returns its figures and checks.
"""

from __future__ import annotations

from collections.abc import Callable

from benchmarks.groups import bulk, fleet, generate, imports, kdf, keyvault, readonly, scale, startup
from benchmarks.harness import Context, Mode
from benchmarks.results import Results

GroupRun = Callable[[Context, Mode, "int | None"], Results]
"""A group's ``run``: the context, the mode and ``--runs`` (None: the mode's samples)."""

GROUPS: dict[str, GroupRun] = {
    "startup": startup.run,
    "imports": imports.run,
    "readonly": readonly.run,
    "generate": generate.run,
    "kdf": kdf.run,
    "scale": scale.run,
    "bulk": bulk.run,
    "keyvault": keyvault.run,
    "fleet": fleet.run,
}
FIGURES = tuple(GROUPS)
"""The group names, in the order they run."""
