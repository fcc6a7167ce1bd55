"""Dependency audit for the test command: pip-audit over .venv, skipped with one clear line when the advisory
database cannot be reached.

    $ .venv/bin/python scripts/audit_deps.py

pip-audit asks PyPI's per-release JSON API (or OSV) for advisories. Where neither answers (an offline machine, a
registry mirror without that API), every dependency comes back "not found": that is no audit at all, so this script
says so in one line and exits 0 instead of reporting a clean bill. Known vulnerabilities fail the run (exit 1).
The offline half of the audit is ``tests/unit/test_dependencies.py``: pyproject.toml's lower bounds stay above the
advisories listed there.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path


def main() -> int:
    """Run pip-audit on this interpreter's environment and judge its JSON report."""
    exe = Path(sys.executable).with_name("pip-audit")
    if not exe.exists() and shutil.which("pip-audit") is None:
        print("== pip-audit: skipped: pip-audit is not installed (pip install -e '.[test]')")
        return 0
    cmd = [str(exe if exe.exists() else "pip-audit"), "--skip-editable", "--progress-spinner", "off", "-f", "json"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    except subprocess.TimeoutExpired:
        print("== pip-audit: skipped: the advisory database did not answer within 300 s")
        return 0
    try:
        report = json.loads(done.stdout)
        deps = report["dependencies"]
    except (json.JSONDecodeError, KeyError, TypeError):
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"== pip-audit: skipped: the advisory database cannot be reached ({last[:200]})")
        return 0
    audited = [dep for dep in deps if "skip_reason" not in dep]
    if not audited:
        print(
            f"== pip-audit: skipped: the advisory database cannot be reached from here (0 of {len(deps)} "
            "dependencies could be looked up); tests/unit/test_dependencies.py still checks the version floors"
        )
        return 0
    found = [(dep["name"], dep["version"], vuln["id"]) for dep in audited for vuln in dep.get("vulns", [])]
    for name, version, ident in found:
        print(f"pip-audit: {name} {version}: {ident}", file=sys.stderr)
    print(f"== pip-audit: {len(audited)} of {len(deps)} dependencies audited, {len(found)} known vulnerabilities")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
