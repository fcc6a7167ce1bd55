"""Keys made inside Key Vault: never exportable, sign grants through the vault, rotate as new key versions."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import jwt
import pytest
from azure.keyvault.keys import KeyClient
from click.testing import Result

from tests.servers.keyvault import KeyVaultServer

pytestmark = pytest.mark.integration
Run = Callable[..., Result]


@pytest.fixture
def kv(vault: KeyVaultServer, monkeypatch: pytest.MonkeyPatch) -> KeyVaultServer:
    for name, value in vault.identity_env().items():
        monkeypatch.setenv(name, value)
    return vault


def azure(vault: KeyVaultServer) -> list[str]:
    return ["--credential", "managed-identity", "--ca-bundle", vault.ca_path]


def test_vault_native_key_signs_a_grant_that_verifies(run: Run, kv: KeyVaultServer) -> None:
    result = run("generate", "acme", "--size", "2048", "--in-vault", kv.url, *azure(kv), "--json")
    assert result.exit_code == 0, result.stderr
    made = json.loads(result.output)["key"]
    assert (made["has_private"], made["private"]) == (False, "key-vault")
    record = json.loads((run("show", "acme", "--json")).output)["keys"][0]
    assert (record["kid"], record["has_private"], record["private"]) == (made["kid"], False, "key-vault")
    assert kv.key_names() == ["jwks-acme-test"]
    public = json.loads(run("export", "acme").output)
    assert public["kid"] == made["kid"]
    assert set(public) == {"kty", "use", "kid", "alg", "n", "e", "exp"}

    private = run("export", "acme", "--private")
    assert private.exit_code == 6
    assert "lives in Azure Key Vault and cannot leave it" in private.stderr

    token = run("grant", "acme", "--client-id", "c1", "--scope", "altinn:x", *azure(kv)).output.strip()
    claims = jwt.decode(
        token, jwt.PyJWK(public).key, algorithms=["RS256"], audience="https://test.maskinporten.no/", issuer="c1"
    )
    assert claims["scope"] == "altinn:x"
    assert any(r.method == "POST" and r.path.endswith("/sign") and r.status == 200 for r in kv.requests)


def test_vault_native_rotation_adds_a_key_version(run: Run, kv: KeyVaultServer) -> None:
    assert run("generate", "acme", "--size", "2048", "--in-vault", kv.url, *azure(kv)).exit_code == 0
    result = run("rotate", "acme", "--all-steps", "--overlap", "0", *azure(kv), "--json")
    assert result.exit_code == 0, result.stderr
    steps = json.loads(result.output)
    new_kid = steps["steps"][0]["added"]
    assert kv.key_versions("jwks-acme-test").__len__() == 2
    shown = json.loads(run("show", "acme", "--json").output)
    assert [k["state"] for k in shown["keys"]] == ["retired", "active"]
    public = json.loads(run("export", "acme").output)
    assert public["kid"] == new_kid
    token = run("grant", "acme", "--client-id", "c1", "--scope", "s", *azure(kv)).output.strip()
    assert jwt.get_unverified_header(token)["kid"] == new_kid
    jwt.decode(token, jwt.PyJWK(public).key, algorithms=["RS256"], audience="https://test.maskinporten.no/")
    client = KeyClient(kv.url, kv.credential(), **kv.client_kwargs())
    latest = client.get_key("jwks-acme-test")
    assert latest.properties.exportable in (False, None)


def test_ec_vault_key_under_generic_profile(run: Run, kv: KeyVaultServer) -> None:
    result = run(
        "generate", "ec", "--kty", "EC", "--crv", "P-384", "--profile", "generic", "--in-vault", kv.url, *azure(kv)
    )
    assert result.exit_code == 0, result.stderr
    public = json.loads(run("export", "ec").output)
    assert public["crv"] == "P-384"
    token = run(
        "grant", "ec", "--client-id", "c", "--scope", "s", "--audience", "https://idp/", *azure(kv)
    ).output.strip()
    jwt.decode(token, jwt.PyJWK(public).key, algorithms=["ES384"], audience="https://idp/")


def test_retired_and_revoked_vault_keys_are_disabled(run: Run, kv: KeyVaultServer) -> None:
    assert run("generate", "acme", "--size", "2048", "--in-vault", kv.url, *azure(kv)).exit_code == 0
    result = run("rotate", "acme", "--all-steps", "--overlap", "0", *azure(kv), "--json")
    assert result.exit_code == 0, result.stderr
    assert "disabled in Key Vault" in json.loads(result.output)["steps"][2]["summary"]
    client = KeyClient(kv.url, kv.credential(), **kv.client_kwargs())
    enabled = sorted(bool(v.enabled) for v in client.list_properties_of_key_versions("jwks-acme-test"))
    assert enabled == [False, True]  # the retired version is disabled, the active one is not
    active = json.loads(run("show", "acme", "--json").output)["active"]
    assert run("revoke", "acme", "--kid", active, "--reason", "test", *azure(kv)).exit_code == 0
    enabled = sorted(bool(v.enabled) for v in client.list_properties_of_key_versions("jwks-acme-test"))
    assert enabled == [False, False]
    added = run("generate", "fresh", "--size", "2048", "--in-vault", kv.url, *azure(kv))
    assert "it never leaves the vault" in added.output
    assert "--private" not in added.output


def test_a_failed_first_generate_in_vault_leaves_no_store(run: Run, kv: KeyVaultServer, store_dir: Path) -> None:
    closed = "https://127.0.0.1:1/"  # nothing listens there: the vault cannot be reached
    result = run("generate", "acme", "--size", "2048", "--in-vault", closed, *azure(kv), "--json")
    assert result.exit_code == 10, result.stderr
    assert json.loads(result.stdout)["error"]["code"] == "remote"
    assert not store_dir.exists()
    again = run("generate", "acme", "--size", "2048", "--in-vault", kv.url, *azure(kv))
    assert again.exit_code == 0, again.stderr
    assert (store_dir / "store.json").exists()
