"""apply signs in to Digdir's self-service API with a business certificate kept in Azure Key Vault (``certificate =
"https://VAULT/certificates/NAME"`` in ``[admin.<env>]``): the recommended way the schedule templates carry it. The
Key Vault-compatible server holds it with a non-exportable key and signs each admin grant, through the real Azure
SDK; no .p12 file and no passphrase are there."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import Result

from tests.fleet_world import CERT_PASSPHRASE, CERTIFICATE, PASSPHRASE, ClientDef, World
from tests.servers.keyvault import KeyVaultServer
from tests.servers.maskinporten import DCR_READ, DCR_WRITE

pytestmark = pytest.mark.integration
Run = Callable[..., Result]
FAST = 'size = 2048\nrotate_after = "90d"\nrenew_before = "30d"\noverlap = "1h"\npropagation = "0s"'


@pytest.fixture
def world(tmp_path: Path, vault: KeyVaultServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    for name, value in vault.identity_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("JWKS_TOOL_PASSPHRASE", PASSPHRASE)
    monkeypatch.delenv("JWKS_TOOL_CERT_PASSPHRASE", raising=False)  # a vault certificate needs none
    monkeypatch.delenv("JWKS_TOOL_PORTAL_TOKEN", raising=False)
    made = World(tmp_path, vault, [ClientDef("a", "test")], defaults=FAST)
    yield made
    made.close()


def test_apply_signs_in_with_a_key_vault_certificate(run: Run, world: World) -> None:
    world.vault.import_certificate("virksomhet", world.certificate.pkcs12(CERT_PASSPHRASE), CERT_PASSPHRASE)
    url = world.vault.url.rstrip("/") + "/certificates/virksomhet"
    text = world.manifest_path.read_text()
    assert f'certificate = "{CERTIFICATE}"' in text
    world.manifest_path.write_text(text.replace(f'certificate = "{CERTIFICATE}"', f'certificate = "{url}"'))
    (world.root / CERTIFICATE).unlink()  # nothing on disk to sign with

    args = ["--manifest", str(world.manifest_path), "--credential", "managed-identity"]
    result = run("apply", "--yes", *args, "--ca-bundle", world.vault.ca_path)
    assert result.exit_code == 0, result.output + result.stderr
    cert = world.certificate
    assert result.stderr == (
        f"Signing in to Digdir with {url}: the business certificate of organisation 999888777 (CN=ACME AS,"
        "2.5.4.97=NTRNO-999888777,O=ACME AS,C=NO), "
        f"valid {cert.leaf.not_valid_before_utc:%Y-%m-%d} to {cert.leaf.not_valid_after_utc:%Y-%m-%d}.\n"
    )
    signs = [r for r in world.vault.requests if r.method == "POST" and r.path.endswith("/sign")]
    assert signs  # the vault signed each grant
    assert all(r.path.startswith("/keys/virksomhet/") for r in signs)
    grants = [t for t in world.mp["test"].issued_tokens if t.client_id == "fleet-admin"]
    assert [t.scopes for t in grants] == [(DCR_READ, DCR_WRITE)]  # one admin token for the run
    assert len(signs) == len(grants)
    assert world.registered_counts() == {"a": 1}
