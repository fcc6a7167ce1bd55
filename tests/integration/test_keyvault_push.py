"""keyvault push/status through the CLI, against the Key Vault-compatible server, with the real SDK clients.

The CLI signs in with the real ManagedIdentityCredential (IDENTITY_ENDPOINT on the test server) and verifies TLS
against the server's test CA, with challenge-resource verification on.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
from azure.keyvault.secrets import SecretClient
from click.testing import Result

from tests.servers.keyvault import KeyVaultServer

pytestmark = pytest.mark.integration
Run = Callable[..., Result]
ALTINN_MEMBERS = ["kty", "use", "kid", "alg", "n", "e", "d", "p", "q", "dp", "dq", "qi", "exp"]
"""The Key Vault value's members, in order; exp (the key's expiry) goes into AdditionalData of .NET's JsonWebKey."""


@pytest.fixture
def kv(vault: KeyVaultServer, monkeypatch: pytest.MonkeyPatch) -> KeyVaultServer:
    for name, value in vault.identity_env().items():
        monkeypatch.setenv(name, value)
    return vault


def vault_args(vault: KeyVaultServer) -> list[str]:
    return ["--vault", vault.url, "--credential", "managed-identity", "--ca-bundle", vault.ca_path]


def reader(vault: KeyVaultServer) -> SecretClient:
    return SecretClient(vault.url, vault.credential(), **vault.client_kwargs())


def puts(vault: KeyVaultServer) -> int:
    return len([r for r in vault.requests if r.method == "PUT" and r.status == 200])


def test_push_writes_what_altinn_reads(run: Run, kv: KeyVaultServer) -> None:
    assert run("generate", "acme", "--size", "2048").exit_code == 0
    active = json.loads(run("export", "acme", "--private").output)
    result = run("keyvault", "push", "acme", *vault_args(kv), "--for", "altinn-app", "--client-id", "cid-1")
    assert result.exit_code == 0, result.stderr
    assert result.output.splitlines() == [
        "created           MaskinportenSettings--ClientId  cid-1",
        "created           MaskinportenSettings--Authority  https://test.maskinporten.no/",
        f"created           MaskinportenSettings--JwkBase64  kid {active['kid']}",
    ]
    secret = reader(kv).get_secret("MaskinportenSettings--JwkBase64")
    assert secret.value is not None
    decoded = json.loads(base64.b64decode(secret.value, validate=True), object_pairs_hook=list)
    assert [name for name, _ in decoded] == ALTINN_MEMBERS
    assert dict(decoded)["d"] == active["d"]
    props = secret.properties
    shown = json.loads(run("show", "acme", "--json").output)["keys"][0]
    assert props.tags == {"kid": active["kid"], "thumbprint": shown["thumbprint"], "set": "acme", "env": "test"}
    assert props.expires_on is not None
    assert int(props.expires_on.timestamp()) == active["exp"]
    assert props.not_before is not None
    assert props.content_type == "application/jwk+json; encoding=base64"
    for value in (props.tags or {}).values():
        assert value not in (active["d"], active["p"], active["q"])
    assert reader(kv).get_secret("MaskinportenSettings--Authority").value == "https://test.maskinporten.no/"
    assert kv.identity_env()["IDENTITY_ENDPOINT"]
    assert any(r.path.startswith("/msi/") for r in kv.requests), "signed in through the managed identity endpoint"


def test_re_push_writes_nothing_and_rotation_adds_a_version(run: Run, kv: KeyVaultServer) -> None:
    assert run("generate", "acme", "--size", "2048", "--kid", "k1").exit_code == 0
    args = ["keyvault", "push", "acme", *vault_args(kv), "--for", "apiclient"]
    assert run(*args).exit_code == 0
    before = puts(kv)
    again = run(*args)
    assert again.exit_code == 0
    assert again.output == "unchanged         MaskinportenSettings--EncodedJwk  kid k1\n"
    assert puts(kv) == before
    assert run("rotate", "acme", "--all-steps", "--overlap", "0").exit_code == 0
    rotated = run(*args, "--json")
    data = json.loads(rotated.output)
    assert data["secrets"][0]["action"] == "new-version"
    assert data["secrets"][0]["current_kid"] == "k1"
    assert data["secrets"][0]["value"].endswith("characters, redacted>")
    versions = list(reader(kv).list_properties_of_secret_versions("MaskinportenSettings--EncodedJwk"))
    assert len(versions) == 2
    status = run("keyvault", "status", "acme", *vault_args(kv), "--json")
    assert status.exit_code == 0
    assert json.loads(status.output)["matches_active"] is True


def test_a_secret_jwks_tool_did_not_make_is_refused_unless_adopt(run: Run, kv: KeyVaultServer) -> None:
    """A hand-made secret under the names (no jwks-tool tags) is not overwritten: exit 7, nothing written."""
    assert run("generate", "acme", "--size", "2048", "--kid", "k1").exit_code == 0
    reader(kv).set_secret("other-KID", "theirs", tags={"owner": "team-b"})
    args = ["keyvault", "push", "acme", *vault_args(kv), "--for", "pymaskinporten", "--client-id", "c", "--scope", "s"]
    before = puts(kv)
    refused = run(*args, "--prefix", "other-")
    assert refused.exit_code == 7
    assert refused.stderr == (
        f"jwks-tool: error: the secret other-KID in {kv.url.rstrip('/')}/ was not made by jwks-tool (no jwks-tool "
        "tags), so nothing was written; check --prefix and --secret-name, or pass --adopt to take it over\n"
    )
    assert puts(kv) == before
    assert reader(kv).get_secret("other-KID").value == "theirs"
    adopted = run(*args, "--prefix", "other-", "--adopt")
    assert adopted.exit_code == 0, adopted.stderr
    assert "new-version       other-KID  k1" in adopted.output
    again = run(*args, "--prefix", "other-")  # now tagged as jwks-tool's: a re-push works without --adopt
    assert again.exit_code == 0, again.stderr
    assert [line.split()[0] for line in again.output.splitlines()] == ["unchanged"] * 4


def test_dry_run_writes_nothing_and_redacts(run: Run, kv: KeyVaultServer) -> None:
    assert run("generate", "acme", "--size", "2048").exit_code == 0
    secret_d = json.loads(run("export", "acme", "--private").output)["d"]
    result = run("keyvault", "push", "acme", *vault_args(kv), "--secret-name", "my-key", "--dry-run", "--json")
    assert result.exit_code == 0
    assert puts(kv) == 0
    assert secret_d not in result.output
    assert json.loads(result.output)["secrets"][0]["action"] == "would-create"


def test_status_reports_a_stale_secret(run: Run, kv: KeyVaultServer) -> None:
    assert run("generate", "acme", "--size", "2048", "--kid", "k1").exit_code == 0
    assert run("keyvault", "push", "acme", *vault_args(kv), "--for", "apiclient").exit_code == 0
    assert run("rotate", "acme", "--all-steps", "--overlap", "0").exit_code == 0
    result = run("keyvault", "status", "acme", *vault_args(kv))
    assert result.exit_code == 10
    assert result.output.startswith("MaskinportenSettings--EncodedJwk: kid k1, does NOT match the active key")
    assert "run `jwks-tool keyvault push acme" in result.stderr


def test_bad_names_are_refused_before_anything_is_sent(run: Run, kv: KeyVaultServer) -> None:
    assert run("generate", "acme", "--size", "2048").exit_code == 0
    result = run("keyvault", "push", "acme", *vault_args(kv), "--secret-name", "Maskinporten:Jwk")
    assert result.exit_code == 3
    assert result.stderr.startswith("jwks-tool: error: invalid Key Vault secret name 'Maskinporten:Jwk'")
    assert kv.requests == []


def test_throttling_is_retried_then_succeeds(run: Run, kv: KeyVaultServer) -> None:
    assert run("generate", "acme", "--size", "2048").exit_code == 0
    kv.faults.throttle(retry_after=0, count=1, method="PUT")
    result = run("keyvault", "push", "acme", *vault_args(kv), "--for", "apiclient")
    assert result.exit_code == 0, result.stderr
    assert [r.status for r in kv.requests if r.method == "PUT"] == [429, 200]


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("forbidden", "no permission in the vault"),
        ("unreachable", "cannot be reached"),
        ("not-signed-in", "the managed identity endpoint the instance metadata service (169.254.169.254) failed"),
    ],
)
def test_errors_are_one_line_with_the_fix(
    run: Run, kv: KeyVaultServer, monkeypatch: pytest.MonkeyPatch, fault: str, message: str
) -> None:
    assert run("generate", "acme", "--size", "2048").exit_code == 0
    args = vault_args(kv)
    if fault == "forbidden":
        kv.faults.add("error", status=403, count=None, method="GET")
    elif fault == "unreachable":
        args = ["--vault", "https://127.0.0.1:9/", "--credential", "managed-identity", "--ca-bundle", kv.ca_path]
    else:
        monkeypatch.delenv("IDENTITY_ENDPOINT")
        monkeypatch.delenv("IDENTITY_HEADER")
    result = run("keyvault", "push", "acme", *args, "--for", "apiclient")
    assert result.exit_code == 10, result.stderr
    assert result.stderr.count("\n") == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_push_all_paces_below_the_limit(run: Run, kv: KeyVaultServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """--all keeps writes within the vault's window limit (scaled down here: 4 writes per 1 s) and ends with no 429."""
    from jwks_tool.integrations.azure import secrets as kvmod
    from tests.servers.keyvault import ThrottleLimits

    for i in range(10):
        assert run("generate", f"c{i}", "--size", "2048").exit_code == 0
    kv.set_throttle(ThrottleLimits(window_seconds=1.0, secret_creates=4))
    real = kvmod.WindowLimiter

    def scaled(limit: int, window: float, **kwargs: Any) -> kvmod.WindowLimiter:
        return real(4, window * kvmod.PACING_MARGIN / 10.0, **kwargs)  # the vault's 10 s window, scaled to 1 s

    monkeypatch.setattr(kvmod, "WindowLimiter", scaled)
    result = run("keyvault", "push", "--all", *vault_args(kv), "--secret-name", "{name}-{env}-jwk", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""  # no progress bar under --json
    secrets = json.loads(result.stdout)["secrets"]
    assert sorted(s["name"] for s in secrets) == sorted(f"c{i}-test-jwk" for i in range(10))
    assert {s["action"] for s in secrets} == {"created"}
    writes = [r for r in kv.requests if r.method == "PUT"]
    assert [r.status for r in writes] == [200] * 10  # paced: the vault never had to say 429
    again = run("keyvault", "push", "--all", *vault_args(kv), "--secret-name", "{name}-{env}-jwk", "--json")
    assert {s["action"] for s in json.loads(again.stdout)["secrets"]} == {"unchanged"}


def test_push_as_key_imports_a_signing_key(run: Run, kv: KeyVaultServer) -> None:
    from azure.keyvault.keys import KeyClient
    from azure.keyvault.keys.crypto import CryptographyClient, SignatureAlgorithm
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    from jwks_tool.core.keys import public_key_from_jwk

    assert run("generate", "acme", "--size", "2048", "--kid", "k1").exit_code == 0
    result = run("keyvault", "push", "acme", *vault_args(kv), "--as", "key")
    assert result.exit_code == 0, result.stderr
    assert result.output == "created           key jwks-acme-test  kid k1\n"
    assert run("keyvault", "push", "acme", *vault_args(kv), "--as", "key").output.startswith("unchanged")
    client = KeyClient(kv.url, kv.credential(), **kv.client_kwargs())
    key = client.get_key("jwks-acme-test")
    thumb = json.loads(run("show", "acme", "--json").output)["keys"][0]["thumbprint"]
    assert key.properties.tags == {
        "kid": "k1",
        "thumbprint": thumb,
        "set": "acme",
        "env": "test",
    }
    public = json.loads(run("export", "acme").output)
    assert key.properties.expires_on is not None
    assert int(key.properties.expires_on.timestamp()) == public["exp"]
    import hashlib

    digest = hashlib.sha256(b"hello").digest()
    signed = CryptographyClient(key, kv.credential(), **kv.client_kwargs()).sign(SignatureAlgorithm.rs256, digest)
    public_key_from_jwk(public).verify(signed.signature, b"hello", padding.PKCS1v15(), hashes.SHA256())  # type: ignore[call-arg, arg-type]


def test_a_throttling_storm_and_dropped_connections_end_clearly(run: Run, kv: KeyVaultServer) -> None:
    assert run("generate", "acme", "--size", "2048").exit_code == 0
    args = ["keyvault", "push", "acme", *vault_args(kv), "--for", "apiclient"]
    kv.faults.throttle(retry_after=0, count=None, method="PUT")
    storm = run(*args)
    assert storm.exit_code == 10
    assert "throttling requests (HTTP 429) and retries ran out" in storm.stderr
    assert storm.stderr.count("\n") == 1
    kv.faults.clear()
    kv.faults.drop_connection(count=1, method="GET")
    dropped = run(*args)
    assert dropped.exit_code == 0, dropped.stderr  # a GET is retried by the SDK
    assert run("keyvault", "status", "acme", *vault_args(kv)).exit_code == 0


def test_default_azure_credential_through_managed_identity(
    run: Run, kv: KeyVaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_FEDERATED_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    assert run("generate", "acme", "--size", "2048").exit_code == 0
    result = run("keyvault", "push", "acme", "--vault", kv.url, "--ca-bundle", kv.ca_path, "--for", "apiclient")
    assert result.exit_code == 0, result.stderr
    assert any(r.path.startswith("/msi/") for r in kv.requests)


def test_a_disabled_secret_is_named_with_the_fix(run: Run, kv: KeyVaultServer) -> None:
    assert run("generate", "acme", "--size", "2048").exit_code == 0
    args = [*vault_args(kv), "--for", "apiclient"]
    assert run("keyvault", "push", "acme", *args).exit_code == 0
    reader(kv).update_secret_properties("MaskinportenSettings--EncodedJwk", enabled=False)
    status = run("keyvault", "status", "acme", *args)
    assert status.exit_code == 10
    assert status.stderr.startswith(
        "jwks-tool: error: cannot read the secret MaskinportenSettings--EncodedJwk: the secret is disabled"
    )
    pushed = run("keyvault", "push", "acme", *args)
    assert pushed.exit_code == 10  # reading a disabled secret is refused by the vault: say so, write nothing
    assert "enable it in the vault or use another name" in pushed.stderr


def test_status_escapes_a_hostile_kid_from_the_vault(run: Run, kv: KeyVaultServer) -> None:
    assert run("generate", "acme", "--size", "2048", "--kid", "k1").exit_code == 0
    private = json.loads(run("export", "acme", "--private").output)
    hostile = {**private, "kid": "evil\x1b]0;owned\x07\x1b[2J"}
    value = base64.b64encode(json.dumps(hostile).encode()).decode()
    reader(kv).set_secret("MaskinportenSettings--EncodedJwk", value, tags={"kid": hostile["kid"]})
    result = run("keyvault", "status", "acme", *vault_args(kv))
    assert "\x1b" not in result.output
    assert "\x07" not in result.output
    assert "kid evil\\x1b]0;owned\\x07\\x1b[2J," in result.output
