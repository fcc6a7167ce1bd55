#!/usr/bin/env bash
# Set up jwks-tool in .venv and run the onboarding job on the local default store: a Maskinporten test key for a
# sample client, its public JWK for the portal, and its Key Vault value (base64 private JWK, written 0600).
# Usage: bash scripts/quickstart.sh [CLIENT-NAME]     (JWKS_TOOL_PASSPHRASE overrides the demo passphrase)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
NAME=${1:-demo-client}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e .
export JWKS_TOOL_PASSPHRASE=${JWKS_TOOL_PASSPHRASE:-demo passphrase, change me}
tool=.venv/bin/jwks-tool
out=quickstart-out
mkdir -p "$out" && chmod 700 "$out"

if ! "$tool" show "$NAME" --env test >/dev/null 2>&1; then
  "$tool" generate "$NAME" --env test
else
  echo "Key set $NAME (test) exists already; using its newest key."
fi
# --force: a second run replaces the files the first one wrote (without it, --out never overwrites a file)
"$tool" export "$NAME" --env test --format jwk --out "$out/$NAME-test.public.jwk.json" --force
"$tool" export "$NAME" --env test --private --format base64 --out "$out/$NAME-test.keyvault.txt" --force
echo
echo "== Public JWK: paste into the Maskinporten self-service portal ($out/$NAME-test.public.jwk.json)"
cat "$out/$NAME-test.public.jwk.json"
echo
echo "== Checks"
"$tool" inspect "$out/$NAME-test.public.jwk.json" --expect public
"$tool" inspect "$out/$NAME-test.keyvault.txt" --expect keyvault
echo
echo "== Key Vault value (base64 private JWK, for MaskinportenSettings--EncodedJwk / --JwkBase64):"
echo "   $out/$NAME-test.keyvault.txt ($(stat -c %a "$out/$NAME-test.keyvault.txt" 2>/dev/null || echo 600), not printed)"
echo
"$tool" list
