"""The report: the table and the lines under it (stdout), the JSON document (``--json``) and the header's facts.

Nothing here measures; it renders :class:`~benchmarks.results.Comparison` and :class:`~benchmarks.results.Check`
objects and the run's ``meta`` (versions, CPUs, load, mode, duration; see :func:`meta`).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks.results import Check, Comparison, align, mark
from benchmarks.stats import finite


def render_table(comparisons: Sequence[Comparison]) -> str:
    """The markdown table: figure, both medians, the ratio, the target and PASS/FAIL/info."""
    header = ("figure", "A median", "B median", "ratio A/B", "target", "result")
    rows: list[Sequence[str]] = [header]
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
    lines = []
    for number, cells in enumerate(align(rows, left=1)):
        lines.append("| " + " | ".join(cells) + " |")
        if number == 0:
            lines.append("|" + "|".join("-" * (len(cell) + 2) for cell in cells) + "|")
    return "\n".join(lines)


def render_report(comparisons: Sequence[Comparison], checks: Sequence[Check], meta: Mapping[str, Any]) -> str:
    """The whole report: header, table, each figure's A/B and intervals with its notes, the checks, the tally."""
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


def _in_ms(values: Sequence[float]) -> list[float]:
    return [value * 1000 for value in values]


def comparison_json(item: Comparison) -> dict[str, Any]:
    """One figure in the JSON document: medians and samples in ms, ratio and intervals, target and verdict."""
    return {
        "key": item.key,
        "figure": item.figure,
        "a": item.a_label,
        "b": item.b_label,
        "runs": len(item.a),
        "a_median_ms": item.a_median * 1000,
        "b_median_ms": item.b_median * 1000,
        "ratio": finite(item.ratio),
        "ratio_95": [finite(value) for value in item.interval] if item.has_interval else None,
        "target": item.target,
        "goal": item.goal,
        "limit_ms": None if item.limit is None else item.limit * 1000,
        "a_median_95_ms": _in_ms(item.a_interval) if item.limit is not None and item.has_interval else None,
        "passed": item.passed,
        "fixed_cost_ms": item.fixed_cost * 1000 if item.report_fixed_cost else None,
        "fixed_cost_95_ms": _in_ms(item.fixed_cost_interval) if item.report_fixed_cost else None,
        "a_ms": _in_ms(item.a),
        "b_ms": _in_ms(item.b),
        "notes": list(item.notes),
    }


def check_json(check: Check) -> dict[str, Any]:
    """One check in the JSON document."""
    return {"key": check.key, "passed": check.passed, "detail": check.detail}


def write_json(path: Path, comparisons: Sequence[Comparison], checks: Sequence[Check], meta: Mapping[str, Any]) -> None:
    """Write the JSON document (``meta``, ``comparisons``, ``checks``) to ``path``, making its folder."""
    document = {
        "meta": meta,
        "comparisons": [comparison_json(item) for item in comparisons],
        "checks": [check_json(check) for check in checks],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def openssl_version() -> str:
    """The system openssl command's version, e.g. ``OpenSSL 3.0.13``."""
    path = shutil.which("openssl")
    if path is None:
        return "openssl: not found"
    result = subprocess.run([path, "version"], capture_output=True, text=True, check=False)
    return " ".join(result.stdout.split()[:2]) or "openssl: unknown"


def cryptography_openssl() -> str:
    """The version of the OpenSSL bundled in the ``cryptography`` wheel (the one jwks-tool uses)."""
    from cryptography.hazmat.backends.openssl import backend

    return " ".join(str(backend.openssl_version_text()).split()[:2])


def load() -> str:
    """The load averages, ``1.2/0.9/0.7``, or ``?`` where the system does not tell."""
    try:
        return "/".join(f"{value:.1f}" for value in os.getloadavg())
    except OSError:
        return "?"


def meta(*, mode: str, figures: Sequence[str], load_before: str, started: float) -> dict[str, Any]:
    """The run's facts for the header and the JSON document's ``meta``; ``started`` is the run's
    ``time.perf_counter()`` at its start."""
    import jwks_tool

    return {
        "mode": mode,
        "figures": figures,
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
