"""The benchmark command keeps working: every group runs end to end (few samples), every figure and check is
reported. Timings are not judged here (the machine is shared and CI is noisy); the benchmarks themselves do that."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
GROUPS = ("startup", "imports", "readonly", "generate", "kdf", "scale", "bulk", "keyvault", "fleet")


def test_every_benchmark_runs_and_reports_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--runs", "2", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    figures = json.loads(out.read_text())
    assert figures["meta"]["figures"] == list(GROUPS)
    keys = {item["key"] for item in figures["comparisons"]}
    for prefix in ("startup.", "generate.", "kdf.", "scale.", "bulk.", "keyvault.", "fleet."):
        assert any(key.startswith(prefix) for key in keys), (prefix, sorted(keys))
    for item in figures["comparisons"]:
        assert item["passed"] is not None or item["target"] is None, item["key"]
        assert 0 < item["a_median_ms"] < math.inf, item["key"]
    checks = {item["key"]: item["passed"] for item in figures["checks"]}
    assert checks["readonly.control"] is True  # the environment that passes the read-only checks does stop a writer
    assert {key for key, passed in checks.items() if passed is False} == set()
    for line in ("| figure ", "targets met: "):
        assert line in done.stdout
