#!/usr/bin/env bash
# Try jwks-tool without Azure or Digdir: start the Key Vault and Maskinporten test servers on 127.0.0.1 (several
# Maskinporten clients registered) and print the environment to paste into another shell; Ctrl-C stops both.
# Usage: bash scripts/try-local.sh [--env-file FILE] [--state-dir DIR] [--kv-port N] [--mp-port N]
#        (--env-file also writes the export lines, 0600, for `source FILE`; see python -m tests.servers --help)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-python3}
if [ ! -x "$root/.venv/bin/jwks-tool" ]; then
  echo "Setting up $root/.venv (as scripts/quickstart.sh does) ..." >&2
  if [ ! -x "$root/.venv/bin/python" ]; then
    "$PYTHON" -m venv "$root/.venv"
  fi
  "$root/.venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$root/.venv/bin/python" -m pip install --quiet --disable-pip-version-check -e "$root"
fi
# The test servers live in the checkout's tests/ folder (they are not part of the installed package).
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
umask 077
exec "$root/.venv/bin/python" -m tests.servers "$@"
