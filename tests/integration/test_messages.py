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
