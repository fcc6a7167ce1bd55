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
    text = run("show", "acme").output
    assert "(it never leaves the vault; disabled there)" in text  # the retired version
    assert text.count("in Azure Key Vault: key jwks-acme-test") == 2


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


def test_doctor_takes_a_ca_bundle_per_service(
    run: Run, kv: KeyVaultServer, mp: MaskinportenServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The two test servers each have their own throw-away CA: one bundle alone cannot verify both."""
    assert Path(kv.ca_path).read_text() != Path(mp.ca_path).read_text()
    assert kv.identity_env()["REQUESTS_CA_BUNDLE"] == kv.ca_path  # the managed identity endpoint's (Key Vault's) CA
    assert run("generate", "acme", "--size", "2048").exit_code == 0
    jwks = json.loads(run("export", "acme", "--format", "jwks").output)
    mp.register_client("client-1", ["altinn:x"], jwks)
    mp.register_client("admin", ["idporten:dcr.read"])
    monkeypatch.setenv("JWKS_TOOL_PORTAL_TOKEN", mp.issue_access_token("admin"))
    push = ("--credential", "managed-identity", "--ca-bundle", kv.ca_path)
    assert run("keyvault", "push", "acme", "--vault", kv.url, "--for", "apiclient", *push).exit_code == 0
    args = ["--vault", kv.url, "--client-id", "client-1", "--scope", "altinn:x", "--token-url", mp.token_url]
    args += ["--api-url", mp.api_url, "--credential", "managed-identity", "--json"]

    def checks(*extra: str) -> tuple[int, dict[str, str]]:
        result = run("doctor", "acme", *args, *extra)
        return result.exit_code, {c["check"]: c["outcome"] for c in json.loads(result.stdout)["checks"]}

    per_service = ("--vault-ca-bundle", kv.ca_path, "--maskinporten-ca-bundle", mp.ca_path)
    assert checks(*per_service) == (
        0,
        {
            "active-key": "ok",
            "lint": "ok",
            "expiry": "ok",
            "registered": "ok",
            "keyvault": "ok",
            "grant": "ok",
            "token": "ok",
        },
    )
    # --ca-bundle is used instead of the system's CAs, for both services: Key Vault's CA alone fails Maskinporten
    result = run("doctor", "acme", *args, "--ca-bundle", kv.ca_path)
    assert result.exit_code == 10
    assert result.stderr == (
        f"jwks-tool: error: cannot GET {mp.api_url}clients/client-1/jwks: TLS verification failed; for a private CA, "
        "pass --ca-bundle FILE holding the CA that signed this server's certificate (it is used instead of the "
        "system's CAs)\n"
    )
    # each per-service bundle falls back to --ca-bundle
    assert checks("--ca-bundle", kv.ca_path, "--maskinporten-ca-bundle", mp.ca_path)[0] == 0
    assert checks("--ca-bundle", mp.ca_path, "--vault-ca-bundle", kv.ca_path)[0] == 0
    code, outcome = checks("--ca-bundle", mp.ca_path)
    assert (code, outcome["keyvault"]) == (2, "fail")


@pytest.mark.parametrize(("command", "needs"), [("pull", "idporten:dcr.read"), ("push", "idporten:dcr.write")])
def test_a_refused_admin_token_names_the_scope_the_command_needs(
    run: Run, mp: MaskinportenServer, monkeypatch: pytest.MonkeyPatch, command: str, needs: str
) -> None:
    assert run("generate", "acme", "--size", "2048").exit_code == 0
    monkeypatch.setenv("JWKS_TOOL_PORTAL_TOKEN", "not-a-token")
    result = run(
        "portal", command, "acme", "--client-id", "client-1", "--api-url", mp.api_url, "--ca-bundle", mp.ca_path
    )
    assert result.exit_code == 10, result.stderr
    assert result.stderr.startswith("jwks-tool: error: the self-service API answered 401: ")
    assert result.stderr.endswith(f"; the admin token is missing or expired: get one with a client that has {needs}\n")
