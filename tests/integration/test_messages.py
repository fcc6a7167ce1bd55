"""Messages that name the right thing, against the Key Vault- and Maskinporten-compatible test servers (issue #14)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import Result

from tests.servers.keyvault import KeyVaultServer
from tests.servers.maskinporten import MaskinportenServer

pytestmark = pytest.mark.integration
Run = Callable[..., Result]


@pytest.fixture
def kv(vault: KeyVaultServer, monkeypatch: pytest.MonkeyPatch) -> KeyVaultServer:
    for name, value in vault.identity_env().items():
        monkeypatch.setenv(name, value)
    return vault


@pytest.fixture
def mp() -> Iterator[MaskinportenServer]:
    with MaskinportenServer() as server:
        yield server


def azure(vault: KeyVaultServer) -> list[str]:
    return ["--credential", "managed-identity", "--ca-bundle", vault.ca_path]


def test_show_says_a_vault_resident_key_lives_in_key_vault(run: Run, kv: KeyVaultServer) -> None:
    assert run("generate", "acme", "--size", "2048", "--in-vault", kv.url, *azure(kv)).exit_code == 0
    shown = run("show", "acme")
    assert shown.exit_code == 0, shown.stderr
    assert f"  private     in Azure Key Vault: key jwks-acme-test of {kv.url} (it never leaves the vault)\n" in (
        shown.output
    )
    assert "not kept" not in shown.output
    assert run("rotate", "acme", "--all-steps", "--overlap", "0", *azure(kv)).exit_code == 0
    shown = run("show", "acme").output
    assert "(it never leaves the vault; disabled there)" in shown  # the retired version
    assert shown.count("in Azure Key Vault: key jwks-acme-test") == 2


def test_maskinporten_errors_name_the_set_in_their_hint(run: Run, mp: MaskinportenServer) -> None:
    assert run("generate", "acme", "--env", "prod", "--size", "2048", "--kid", "k1").exit_code == 0
    mp.register_client("client-1", ["altinn:x"], {"keys": []})
    args = ("--client-id", "client-1", "--scope", "altinn:x", "--token-url", mp.token_url, "--ca-bundle", mp.ca_path)
    result = run("token", "acme", "--env", "prod", "--audience", mp.audience, *args)
    assert result.exit_code == 10
    assert result.stderr.startswith("jwks-tool: error: Maskinporten refused the grant: invalid_grant: ")
    assert result.stderr.endswith(
        "; the registered set lacks this kid: register it (jwks-tool export acme --env prod --format jwks, or "
        "jwks-tool portal push acme --env prod --client-id ID)\n"
    )
    assert "NAME" not in result.stderr
