"""The command line of the benchmarks: arguments, the run of the selected groups, the report and the exit status.

``benchmarks/run.py`` and ``python -m benchmarks`` both call :func:`main`; see benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.groups import FIGURES, GROUPS
from benchmarks.harness import FULL, QUICK, BenchmarkError, Context
from benchmarks.report import load, meta, render_report, write_json
from benchmarks.results import Results

ROOT = Path(__file__).resolve().parents[1]
"""The checkout: ``jwks_tool/`` and ``benchmarks/`` are in it."""


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
    """The options: --quick, --json FILE, --check, --only GROUP (repeatable), --runs N."""
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


def log(message: str) -> None:
    """A progress line on stderr."""
    print(message, file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks, print the report; the exit status (0, 1 with --check on a failure, 2 on an error)."""
    args = parse_args(argv)
    mode = QUICK if args.quick else FULL
    selected = args.only or list(FIGURES)
    started = time.perf_counter()
    results = Results()
    load_before = load()
    try:
        python = sys.executable
        tool_path = find_jwks_tool(python)
        # An installed wheel has its bytecode compiled; an editable checkout under PYTHONDONTWRITEBYTECODE would
        # recompile jwks_tool on every run and measure the compiler. Compile once, as pip does on install.
        import compileall

        compileall.compile_dir(str(ROOT / "jwks_tool"), quiet=1)
        with tempfile.TemporaryDirectory(prefix="jwks-tool-bench-") as scratch:
            ctx = Context(python=python, jwks_tool=tool_path, workdir=Path(scratch), log=log)
            log(f"jwks-tool benchmarks, {mode.name} mode, {python}")
            for name, run in GROUPS.items():
                if name in selected:
                    done = run(ctx, mode, args.runs)
                    results.comparisons += done.comparisons
                    results.checks += done.checks
    except BenchmarkError as exc:
        print(f"benchmarks/run.py: error: {'; '.join(str(part) for part in exc.args)}", file=sys.stderr)
        return 2

    facts = meta(
        mode=f"{mode.name} mode" if args.runs is None else f"{mode.name} mode, --runs {args.runs}",
        figures=selected,
        load_before=load_before,
        started=started,
    )
    comparisons, checks = results.comparisons, results.checks
    print(render_report(comparisons, checks, facts), end="")
    if args.json is not None:
        write_json(args.json, comparisons, checks, facts)
        log(f"wrote {args.json}")
    failed = any(item.passed is False for item in comparisons) or any(check.passed is False for check in checks)
    return 1 if args.check and failed else 0
