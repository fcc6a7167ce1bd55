#!/usr/bin/env bash
# Set up (a .venv with jwks-tool and its test tools) and run every check: ruff, mypy --strict, the layer contracts,
# docstring coverage, a dependency audit (pip-audit; skipped with one line where its advisory database cannot be
# reached), the whole test suite.
# Usage: bash scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
# The interop tests need openssl, the report test Debian's chromium: install what is missing (as root, with apt).
missing=()
command -v openssl >/dev/null || missing+=(openssl)
command -v chromium >/dev/null || command -v chromium-browser >/dev/null || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "== installing ${missing[*]} (Debian packages)"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "scripts/test.sh: please install ${missing[*]} (the interop and report tests use them)" >&2
  fi
fi
echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== mypy --strict"
.venv/bin/mypy
echo "== lint-imports (the layer contracts in pyproject.toml)"
.venv/bin/lint-imports --no-cache | grep -E "^Contracts:|KEPT|BROKEN" || { .venv/bin/lint-imports --no-cache; exit 1; }
echo "== interrogate (docstrings on the library's public names; settings in pyproject.toml, the CLI excluded)"
.venv/bin/interrogate jwks_tool | tail -1 || { .venv/bin/interrogate -vv jwks_tool | grep -E "MISSED|RESULT"; exit 1; }
.venv/bin/python scripts/audit_deps.py   # prints its own "== pip-audit" line
echo "== pytest"
.venv/bin/python -m pytest "$@"
