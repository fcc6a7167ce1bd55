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

This file is only the entry: the package ``benchmarks`` holds the harness (``harness.py``: running and timing
commands, interleaved pairs), the statistics (``stats.py``), the figures' data (``results.py``), the report
(``report.py``), the arguments (``cli.py``) and one module per group in ``groups/``. ``python -m benchmarks`` is the
same command.
"""

from __future__ import annotations

import sys
from pathlib import Path

if not __package__:  # run as a script: the checkout, not benchmarks/, goes first on the path (no module shadowing)
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from benchmarks.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
