"""The Key Vault test server, judged by the real Azure SDK clients over HTTPS."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
)
from azure.identity import DefaultAzureCredential
from azure.keyvault.keys import JsonWebKey, KeyClient, KeyCurveName, KeyType, KeyVaultKey
from azure.keyvault.keys.crypto import CryptographyClient, SignatureAlgorithm
from azure.keyvault.secrets import SecretClient
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature

from tests.servers.keyvault import (
    IDENTITY_PATH,
    KeyVaultServer,
    StaticTokenCredential,
    ThrottleLimits,
)

pytestmark = pytest.mark.integration

VERSION_RE = re.compile(r"[0-9a-f]{32}")
UTC = dt.UTC


# The SDK caches the Key Vault challenge per host:port for the life of the process, so every server in this
# session gets a port no earlier server had.
def secret_client(vault: KeyVaultServer, credential: Any = None, **kwargs: Any) -> SecretClient:
    return SecretClient(vault.url, credential or vault.credential(), **vault.client_kwargs(), **kwargs)


def key_client(vault: KeyVaultServer, **kwargs: Any) -> KeyClient:
    return KeyClient(vault.url, vault.credential(), **vault.client_kwargs(), **kwargs)


def response_headers(error: HttpResponseError) -> Any:
    return getattr(error.response, "headers", {})


def statuses(vault: KeyVaultServer, method: str, path: str) -> list[int | None]:
    return [r.status for r in vault.find_requests(method, path)]


# --------------------------------------------------------------------------------------------------------------------
# Secrets
# --------------------------------------------------------------------------------------------------------------------


def test_secret_round_trip(vault: KeyVaultServer) -> None:
    expires = dt.datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)
    not_before = dt.datetime(2024, 6, 7, 8, 9, 10, tzinfo=UTC)
    with secret_client(vault) as client:
        before = int(time.time())
        stored = client.set_secret(
            "jwks-signing-key",
            "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n",
            content_type="application/x-pem-file",
            tags={"kid": "2024-06-07", "set": "prod"},
            expires_on=expires,
            not_before=not_before,
        )
        got = client.get_secret("jwks-signing-key")

    version = stored.properties.version
    assert version is not None
    assert VERSION_RE.fullmatch(version)
    assert stored.id == f"{vault.url}secrets/jwks-signing-key/{version}"
    assert got.value == "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n"
    assert got.name == "jwks-signing-key"
    assert got.properties.version == version
    assert got.properties.vault_url == vault.url.rstrip("/")
    assert got.properties.content_type == "application/x-pem-file"
    assert got.properties.tags == {"kid": "2024-06-07", "set": "prod"}
    assert got.properties.expires_on == expires
    assert got.properties.not_before == not_before
    assert got.properties.enabled is True
    assert got.properties.recovery_level == "Recoverable+Purgeable"
    assert got.properties.recoverable_days == 90
    created, updated = got.properties.created_on, got.properties.updated_on
    assert created is not None
    assert updated == created
    assert before <= created.timestamp() <= time.time()
    # The SDK asks for the latest version with a trailing slash.
    assert statuses(vault, "GET", r"^/secrets/jwks-signing-key/$") == [200]
    assert vault.secret_value("jwks-signing-key") == got.value


def test_secret_versions_and_paging(vault: KeyVaultServer) -> None:
    with secret_client(vault) as client:
        first = client.set_secret("rotating", "one")
        second = client.set_secret("rotating", "two")
        client.set_secret("other-a", "x")
        client.set_secret("other-b", "y")
        latest = client.get_secret("rotating")
        old = client.get_secret("rotating", first.properties.version)
        versions = list(client.list_properties_of_secret_versions("rotating", max_page_size=1))
        names = [p.name for p in client.list_properties_of_secrets(max_page_size=2)]

    assert first.properties.version != second.properties.version
    assert latest.value == "two"
    assert latest.properties.version == second.properties.version
    assert old.value == "one"
    assert [v.version for v in versions] == [first.properties.version, second.properties.version]
    assert vault.secret_versions("rotating") == [first.properties.version, second.properties.version]
    assert names == ["other-a", "other-b", "rotating"]

    version_pages = vault.find_requests("GET", r"^/secrets/rotating/versions$")
    assert [r.status for r in version_pages] == [200, 200]
    assert [r.query.get("maxresults") for r in version_pages] == ["1", "1"]
    assert "$skiptoken" not in version_pages[0].query
    assert "$skiptoken" in version_pages[1].query
    list_pages = vault.find_requests("GET", r"^/secrets$")
    assert len(list_pages) == 2  # three secrets, two per page


def test_listing_returns_properties_without_values(vault: KeyVaultServer) -> None:
    with secret_client(vault) as client:
        client.set_secret("listed", "hidden-value", content_type="text/plain", tags={"env": "test"})
        (item,) = list(client.list_properties_of_secrets())
        response = requests.get(
            f"{vault.url}secrets?api-version=7.4",
            headers={"Authorization": f"Bearer {vault.token}"},
            verify=vault.ca_path,
            timeout=5,
        )
    assert item.name == "listed"
    assert item.id == f"{vault.url}secrets/listed"
    assert item.content_type == "text/plain"
    assert item.tags == {"env": "test"}
    body = response.json()
    assert body["nextLink"] is None
    assert body["value"][0]["id"] == f"{vault.url}secrets/listed"
    assert "value" not in body["value"][0]


def test_secret_limits_are_enforced(vault: KeyVaultServer) -> None:
    with secret_client(vault) as client:
        client.set_secret("a" * 127, "ok")
        client.set_secret("max-size", "x" * 25_600)
        client.set_secret("many-tags", "ok", tags={f"t{i}": "v" for i in range(15)})
        client.set_secret("ct", "ok", content_type="c" * 255)
        rejected: list[Callable[[], object]] = [
            lambda: client.set_secret("bad_name", "v"),
            lambda: client.set_secret("a" * 128, "v"),
            lambda: client.set_secret("too-big", "x" * 25_601),
            lambda: client.set_secret("too-big-utf8", "\u00e6" * 12_801),  # 25,602 bytes in UTF-8
            lambda: client.set_secret("long-ct", "v", content_type="c" * 256),
            lambda: client.set_secret("too-many-tags", "v", tags={f"t{i}": "v" for i in range(16)}),
        ]
        for call in rejected:
            with pytest.raises(HttpResponseError) as info:
                call()
            assert info.value.status_code == 400
            assert info.value.error is not None
            assert info.value.error.code == "BadParameter"
    assert vault.secret_names() == sorted(["a" * 127, "ct", "many-tags", "max-size"])


def test_missing_secret_is_not_found(vault: KeyVaultServer) -> None:
    with secret_client(vault) as client:
        with pytest.raises(ResourceNotFoundError) as info:
            client.get_secret("nope")
        assert info.value.status_code == 404
        assert info.value.error is not None
        assert info.value.error.code == "SecretNotFound"
        client.set_secret("exists", "v")
        with pytest.raises(ResourceNotFoundError):
            client.get_secret("exists", "0" * 32)


def test_names_are_case_insensitive(vault: KeyVaultServer) -> None:
    with secret_client(vault) as client:
        client.set_secret("MixedCase", "one")
        client.set_secret("mixedcase", "two")
        got = client.get_secret("MIXEDCASE")
    assert got.value == "two"
    assert got.name == "MixedCase"
    assert len(vault.secret_versions("mixedCASE")) == 2


def test_delete_secret_soft_delete_purge_recover(vault: KeyVaultServer) -> None:
    with secret_client(vault) as client:
        client.set_secret("doomed", "v1", tags={"a": "b"})
        deleted = client.begin_delete_secret("doomed").result()
        assert deleted.name == "doomed"
        assert deleted.recovery_id == f"{vault.url}deletedsecrets/doomed"
        assert deleted.deleted_date is not None
        assert deleted.scheduled_purge_date == deleted.deleted_date + dt.timedelta(days=90)
        assert deleted.properties.tags == {"a": "b"}

        with pytest.raises(ResourceNotFoundError):
            client.get_secret("doomed")
        assert client.get_deleted_secret("doomed").name == "doomed"
        assert [d.name for d in client.list_deleted_secrets()] == ["doomed"]
        with pytest.raises(ResourceExistsError) as info:
            client.set_secret("doomed", "again")
        assert info.value.status_code == 409
        assert info.value.error is not None
        assert info.value.error.code == "Conflict"

        recovered = client.begin_recover_deleted_secret("doomed").result()
        assert recovered.name == "doomed"
        assert client.get_secret("doomed").value == "v1"

        client.begin_delete_secret("doomed").wait()
        client.purge_deleted_secret("doomed")
        assert vault.deleted_secret_names() == []
        assert client.set_secret("doomed", "fresh").value == "fresh"
    assert statuses(vault, "DELETE", r"^/deletedsecrets/doomed$") == [204]


def test_delete_without_soft_delete(make_vault: Callable[..., KeyVaultServer]) -> None:
    vault = make_vault(resource_matches_host=True, soft_delete_retention_days=None)
    with secret_client(vault) as client:
        client.set_secret("gone", "v")
        poller = client.begin_delete_secret("gone")
        assert poller.done()
        deleted = poller.result()
        assert deleted.recovery_id is None
        assert deleted.properties.recovery_level == "Purgeable"
        with pytest.raises(ResourceNotFoundError):
            client.get_secret("gone")
        client.set_secret("gone", "reused")  # no soft-deleted copy blocks the name
    assert vault.secret_value("gone") == "reused"


def test_disabled_secret_and_property_updates(vault: KeyVaultServer) -> None:
    with secret_client(vault) as client:
        client.set_secret("switch", "value", enabled=False, content_type="text/plain", tags={"a": "1"})
        with pytest.raises(HttpResponseError) as info:
            client.get_secret("switch")
        assert info.value.status_code == 403
        assert info.value.error is not None
        assert info.value.error.code == "Forbidden"
        assert info.value.error.innererror == {"code": "SecretDisabled"}

        updated = client.update_secret_properties("switch", enabled=True, tags={"b": "2"})
        assert updated.enabled is True
        assert updated.tags == {"b": "2"}
        assert updated.content_type == "text/plain"
        got = client.get_secret("switch")
    assert got.value == "value"
    assert got.properties.tags == {"b": "2"}
    assert statuses(vault, "PATCH", r"^/secrets/switch/$") == [200]


# --------------------------------------------------------------------------------------------------------------------
# Keys
# --------------------------------------------------------------------------------------------------------------------


def member(key: KeyVaultKey, name: str) -> Any:
    """A JsonWebKey member (they are set dynamically, so mypy cannot see them)."""
    return getattr(key.key, name)


def _int_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def test_import_rsa_key_and_sign_rs256(vault: KeyVaultServer) -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    numbers = private.private_numbers()
    jwk = JsonWebKey(
        kty=KeyType.rsa,
        n=_int_bytes(numbers.public_numbers.n),
        e=_int_bytes(numbers.public_numbers.e),
        d=_int_bytes(numbers.d),
        p=_int_bytes(numbers.p),
        q=_int_bytes(numbers.q),
        dp=_int_bytes(numbers.dmp1),
        dq=_int_bytes(numbers.dmq1),
        qi=_int_bytes(numbers.iqmp),
    )
    digest = hashlib.sha256(b"header.payload").digest()
    with key_client(vault) as client:
        imported = client.import_key("imported-rsa", jwk, tags={"kid": "k1"})
        fetched = client.get_key("imported-rsa")
        crypto = CryptographyClient(fetched, vault.credential(), **vault.client_kwargs())
        signed = crypto.sign(SignatureAlgorithm.rs256, digest)
        verified = crypto.verify(SignatureAlgorithm.rs256, digest, signed.signature)

    assert imported.id == fetched.id
    assert fetched.key_type == KeyType.rsa
    assert fetched.properties.tags == {"kid": "k1"}
    assert fetched.properties.exportable is False
    assert member(fetched, "n") == _int_bytes(numbers.public_numbers.n)
    assert member(fetched, "e") == b"\x01\x00\x01"
    for name in ("d", "p", "q", "dp", "dq", "qi", "k"):
        assert getattr(fetched.key, name) is None
    assert fetched.key_operations == ["encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey"]
    assert signed.key_id == fetched.id
    private.public_key().verify(signed.signature, digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
    assert verified.is_valid is True
    assert statuses(vault, "POST", rf"^/keys/imported-rsa/{fetched.properties.version}/sign$") == [200]


def test_create_rsa_hsm_and_ec_keys_sign(vault: KeyVaultServer) -> None:
    digest256 = hashlib.sha256(b"to be signed").digest()
    digest384 = hashlib.sha384(b"to be signed").digest()
    with key_client(vault) as client:
        rsa_key = client.create_rsa_key("hsm-rsa", size=3072, hardware_protected=True)
        ec_key = client.create_ec_key("ec-p256", curve=KeyCurveName.p_256)
        ec_hsm = client.create_ec_key("ec-p384", curve=KeyCurveName.p_384, hardware_protected=True)
        rsa_sig = CryptographyClient(rsa_key, vault.credential(), **vault.client_kwargs()).sign(
            SignatureAlgorithm.ps256, digest256
        )
        # A key id without a version: the client fetches the key first, then signs its latest version.
        ec_crypto = CryptographyClient(f"{vault.url}keys/ec-p256", vault.credential(), **vault.client_kwargs())
        ec_sig = ec_crypto.sign(SignatureAlgorithm.es256, digest256)
        ec384_sig = CryptographyClient(ec_hsm, vault.credential(), **vault.client_kwargs()).sign(
            SignatureAlgorithm.es384, digest384
        )

    assert rsa_key.key_type == KeyType.rsa_hsm
    assert member(rsa_key, "n") is not None
    assert len(member(rsa_key, "n")) == 384
    assert ec_key.key_type == KeyType.ec
    assert member(ec_key, "crv") == KeyCurveName.p_256
    assert ec_key.key_operations == ["sign", "verify"]
    assert ec_hsm.key_type == KeyType.ec_hsm
    for key in (rsa_key, ec_key, ec_hsm):
        assert member(key, "d") is None
        assert key.properties.version is not None
        assert VERSION_RE.fullmatch(key.properties.version)

    rsa_public = vault.public_key("hsm-rsa")
    assert isinstance(rsa_public, rsa.RSAPublicKey)
    assert rsa_public.public_numbers().n == int.from_bytes(member(rsa_key, "n"), "big")
    rsa_public.verify(
        rsa_sig.signature,
        digest256,
        padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
        Prehashed(hashes.SHA256()),
    )

    for key, sig, digest, curve, hash_alg, size in (
        (ec_key, ec_sig.signature, digest256, ec.SECP256R1(), hashes.SHA256(), 32),
        (ec_hsm, ec384_sig.signature, digest384, ec.SECP384R1(), hashes.SHA384(), 48),
    ):
        assert member(key, "x") is not None
        assert member(key, "y") is not None
        assert len(member(key, "x")) == size
        assert len(sig) == 2 * size  # raw r || s, as JWS wants it
        public = ec.EllipticCurvePublicNumbers(
            int.from_bytes(member(key, "x"), "big"), int.from_bytes(member(key, "y"), "big"), curve
        ).public_key()
        der = encode_dss_signature(int.from_bytes(sig[:size], "big"), int.from_bytes(sig[size:], "big"))
        public.verify(der, digest, ec.ECDSA(Prehashed(hash_alg)))
    assert statuses(vault, "GET", r"^/keys/ec-p256/$") == [200]


def test_key_listing_update_delete(vault: KeyVaultServer) -> None:
    with key_client(vault) as client:
        first = client.create_ec_key("listed-key")
        second = client.create_ec_key("listed-key")
        client.create_ec_key("another-key")
        versions = [p.version for p in client.list_properties_of_key_versions("listed-key", max_page_size=1)]
        names = [p.name for p in client.list_properties_of_keys(max_page_size=1)]
        updated = client.update_key_properties(
            "listed-key", first.properties.version, enabled=False, tags={"state": "retired"}
        )
        deleted = client.begin_delete_key("another-key").result()
        with pytest.raises(ResourceNotFoundError):
            client.get_key("another-key")

    assert versions == [first.properties.version, second.properties.version]
    assert names == ["another-key", "listed-key"]
    assert updated.properties.enabled is False
    assert updated.properties.tags == {"state": "retired"}
    assert updated.properties.version == first.properties.version
    assert deleted.recovery_id == f"{vault.url}deletedkeys/another-key"
    assert member(deleted, "d") is None
    assert vault.key_names() == ["listed-key"]
    assert len(vault.find_requests("GET", r"^/keys/listed-key/versions$")) == 2


def test_disabled_key_refuses_to_sign(vault: KeyVaultServer) -> None:
    with key_client(vault) as client:
        key = client.create_ec_key("off", enabled=False)
        crypto = CryptographyClient(key, vault.credential(), **vault.client_kwargs())
        with pytest.raises(HttpResponseError) as info:
            crypto.sign(SignatureAlgorithm.es256, hashlib.sha256(b"x").digest())
    assert info.value.status_code == 403
    assert info.value.error is not None
    assert info.value.error.innererror == {"code": "KeyDisabled"}


# --------------------------------------------------------------------------------------------------------------------
# Authentication
# --------------------------------------------------------------------------------------------------------------------


def test_first_request_is_answered_with_the_challenge(vault: KeyVaultServer) -> None:
    with secret_client(vault) as client:
        client.set_secret("first", "v")
        client.get_secret("first")
    first, second, third = vault.requests
    assert (first.method, first.path, first.status, first.token, first.body_size) == (
        "PUT",
        "/secrets/first",
        401,
        None,
        0,
    )
    assert first.is_challenge
    assert (second.method, second.path, second.status, second.token) == ("PUT", "/secrets/first", 200, vault.token)
    assert second.body_size > 0
    assert (third.method, third.status, third.token) == ("GET", 200, vault.token)
    assert vault.resource == f"https://1:{vault.port}"

    raw = requests.get(f"{vault.url}secrets/first?api-version=7.4", verify=vault.ca_path, timeout=5)
    assert raw.status_code == 401
    assert raw.headers["WWW-Authenticate"] == (
        f'Bearer authorization="https://login.microsoftonline.com/{vault.tenant_id}", resource="https://1:{vault.port}"'
    )
    assert raw.json()["error"]["code"] == "Unauthorized"


def test_default_resource_needs_verification_off(make_vault: Callable[..., KeyVaultServer]) -> None:
    vault = make_vault()
    assert vault.resource == "https://vault.azure.net"
    assert vault.client_kwargs() == {"connection_verify": vault.ca_path, "verify_challenge_resource": False}
    strict = SecretClient(vault.url, vault.credential(), connection_verify=vault.ca_path)
    with strict, pytest.raises(ValueError, match="does not match the requested domain"):
        strict.set_secret("x", "y")
    with secret_client(vault) as client:
        assert client.set_secret("x", "y").value == "y"


def test_wrong_token_is_rejected(vault: KeyVaultServer) -> None:
    client = secret_client(vault, credential=StaticTokenCredential("not-a-real-token"))
    with client, pytest.raises(ClientAuthenticationError) as info:
        client.get_secret("anything")
    assert info.value.status_code == 401
    # Challenge, then one authorized attempt; a second plain challenge in a row is returned to the caller.
    assert [(r.status, r.token) for r in vault.requests] == [(401, None), (401, "not-a-real-token")]


def test_default_azure_credential_via_managed_identity(vault: KeyVaultServer, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "AZURE_TOKEN_CREDENTIALS",
        "AZURE_CLIENT_ID",
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_SECRET",
        "AZURE_FEDERATED_TOKEN_FILE",
        "IDENTITY_SERVER_THUMBPRINT",
        "MSI_ENDPOINT",
        "MSI_SECRET",
        "IMDS_ENDPOINT",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in vault.identity_env().items():
        monkeypatch.setenv(name, value)

    credential = DefaultAzureCredential(
        exclude_environment_credential=True,
        exclude_workload_identity_credential=True,
        exclude_shared_token_cache_credential=True,
        exclude_visual_studio_code_credential=True,
        exclude_cli_credential=True,
        exclude_developer_cli_credential=True,
        exclude_powershell_credential=True,
        exclude_interactive_browser_credential=True,
        exclude_broker_credential=True,
    )
    with credential, secret_client(vault, credential=credential) as client:
        client.set_secret("via-mi", "value")
        assert client.get_secret("via-mi").value == "value"
        token = credential.get_token(f"https://1:{vault.port}/.default").token

    issued = vault.issued_tokens
    assert issued == [token]
    identity_calls = vault.find_requests("GET", f"^{IDENTITY_PATH}$")
    assert [(r.status, r.query["api-version"], r.query["resource"]) for r in identity_calls] == [
        (200, "2019-08-01", f"https://1:{vault.port}")
    ]
    authorized = [r for r in vault.requests if r.path.startswith("/secrets/") and r.status == 200]
    assert [(r.method, r.token) for r in authorized] == [("PUT", token), ("GET", token)]


def test_managed_identity_endpoint_checks_its_header(vault: KeyVaultServer) -> None:
    url = f"{vault.identity_endpoint}?api-version=2019-08-01&resource=https://vault.azure.net"
    wrong = requests.get(url, headers={"X-IDENTITY-HEADER": "wrong"}, verify=vault.ca_path, timeout=5)
    right = requests.get(url, headers={"X-IDENTITY-HEADER": vault.identity_header}, verify=vault.ca_path, timeout=5)
    assert wrong.status_code == 401
    assert right.status_code == 200
    body = right.json()
    assert body["token_type"] == "Bearer"
    assert body["resource"] == "https://vault.azure.net"
    assert 3590 <= int(body["expires_on"]) - time.time() <= 3600
    # Issued for another audience than the vault's resource: the vault refuses it.
    response = requests.get(
        f"{vault.url}secrets?api-version=7.4",
        headers={"Authorization": f"Bearer {body['access_token']}"},
        verify=vault.ca_path,
        timeout=5,
    )
    assert response.status_code == 401
    assert "Invalid audience" in response.json()["error"]["message"]


# --------------------------------------------------------------------------------------------------------------------
# Faults and throttling
# --------------------------------------------------------------------------------------------------------------------


def test_429_with_retry_after_is_retried(vault: KeyVaultServer) -> None:
    with secret_client(vault) as client:
        client.set_secret("busy", "v")
        rule = vault.faults.throttle(retry_after=1, count=1, method="GET", path=r"^/secrets/busy")
        started = time.monotonic()
        assert client.get_secret("busy").value == "v"
        elapsed = time.monotonic() - started
    assert 1.0 <= elapsed < 3.0  # the SDK waited Retry-After
    gets = vault.find_requests("GET", r"^/secrets/busy/$")
    assert [(r.status, r.fault) for r in gets] == [(429, "throttle"), (200, None)]
    assert rule.hits == 1
    assert rule.remaining == 0
    assert vault.faults.rules == []


def test_429_storm_exhausts_retries(vault: KeyVaultServer) -> None:
    with secret_client(vault, retry_total=2, retry_backoff_factor=0.01) as client:
        client.set_secret("storm", "v")
        vault.faults.throttle(retry_after=None, count=None, method="GET")
        with pytest.raises(HttpResponseError) as info:
            client.get_secret("storm")
    assert info.value.status_code == 429
    assert info.value.error is not None
    assert info.value.error.code == "Throttled"
    assert "Retry-After" not in response_headers(info.value)
    assert statuses(vault, "GET", r"^/secrets/storm/$") == [429, 429, 429]


def test_500_once_then_ok(vault: KeyVaultServer) -> None:
    with secret_client(vault, retry_backoff_factor=0.01) as client:
        client.set_secret("flaky", "v")
        vault.faults.server_error(500, count=1, method="GET")
        assert client.get_secret("flaky").value == "v"
    assert statuses(vault, "GET", r"^/secrets/flaky/$") == [500, 200]


def test_dropped_connection_is_retried(vault: KeyVaultServer) -> None:
    with secret_client(vault, retry_backoff_factor=0.01) as client:
        client.set_secret("dropped", "v")
        vault.faults.drop_connection(count=1, method="GET", path="dropped")
        assert client.get_secret("dropped").value == "v"
    gets = vault.find_requests("GET", r"^/secrets/dropped/$")
    assert [(r.status, r.fault) for r in gets] == [(None, "drop"), (200, None)]


def test_post_sign_429_with_retry_after_is_retried(vault: KeyVaultServer) -> None:
    with key_client(vault) as client:
        key = client.create_ec_key("throttled-signer")
    crypto = CryptographyClient(key, vault.credential(), **vault.client_kwargs())
    vault.faults.throttle(retry_after=0, count=1, method="POST", path="/sign$")
    assert len(crypto.sign(SignatureAlgorithm.es256, hashlib.sha256(b"x").digest()).signature) == 64
    assert statuses(vault, "POST", "/sign$") == [429, 200]


def test_latency_adds_delay(vault: KeyVaultServer) -> None:
    with secret_client(vault) as client:
        client.set_secret("slow", "v")
        vault.faults.latency(0.3, count=1, method="GET")
        started = time.monotonic()
        client.get_secret("slow")
        slow = time.monotonic() - started
        started = time.monotonic()
        client.get_secret("slow")
        fast = time.monotonic() - started
    assert slow >= 0.3
    assert fast < 0.3
    delayed, normal = vault.find_requests("GET", r"^/secrets/slow/$")
    assert (delayed.fault, normal.fault) == ("latency", None)
    assert delayed.duration >= 0.3


def test_throttle_limiter_counts_creates_per_window(vault: KeyVaultServer) -> None:
    vault.set_throttle(ThrottleLimits(window_seconds=30.0, secret_creates=2))
    with secret_client(vault, retry_total=0) as client:
        client.set_secret("w1", "v")
        client.set_secret("w2", "v")
        with pytest.raises(HttpResponseError) as info:
            client.set_secret("w3", "v")
        assert client.get_secret("w1").value == "v"  # other operations have their own bucket
    assert info.value.status_code == 429
    assert 1 <= int(response_headers(info.value)["Retry-After"]) <= 30
    throttled = [r for r in vault.requests if r.status == 429]
    assert [(r.method, r.path, r.fault) for r in throttled] == [("PUT", "/secrets/w3", "throttle-limit")]
    assert vault.secret_names() == ["w1", "w2"]

    vault.set_throttle(None)
    with secret_client(vault) as client:
        client.set_secret("w3", "v")
    assert vault.secret_names() == ["w1", "w2", "w3"]


# --------------------------------------------------------------------------------------------------------------------
# Lifecycle, persistence, CLI
# --------------------------------------------------------------------------------------------------------------------


def test_close_joins_threads_and_frees_the_port(make_vault: Callable[..., KeyVaultServer]) -> None:
    vault = make_vault(resource_matches_host=True)
    port = vault.port
    with secret_client(vault) as client:
        client.set_secret("keepalive", "v")  # leaves a pooled keep-alive connection open
        vault.close()
    assert not vault.running
    alive = [t.name for t in threading.enumerate() if t.name.startswith(f"kv-test-server-{port}")]
    assert alive == []
    assert not [t for t in threading.enumerate() if t.name.startswith("kv-test-conn-")]
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


def test_state_dir_persists_ca_and_contents(make_vault: Callable[..., KeyVaultServer], tmp_path: Path) -> None:
    first = make_vault(resource_matches_host=True, state_dir=tmp_path)
    first.set_secret("kept", "value", tags={"a": "b"})
    with key_client(first) as client:
        key = client.create_ec_key("kept-key")
    ca = Path(first.ca_path).read_bytes()
    first.close()
    assert (tmp_path / "vault.json").is_file()

    second = make_vault(resource_matches_host=True, state_dir=tmp_path)
    assert Path(second.ca_path).read_bytes() == ca
    with secret_client(second) as client:
        got = client.get_secret("kept")
    assert (got.value, got.properties.tags) == ("value", {"a": "b"})
    public = second.public_key("kept-key", key.properties.version)
    assert isinstance(public, ec.EllipticCurvePublicKey)
    assert member(key, "x") is not None
    assert public.public_numbers().x == int.from_bytes(member(key, "x"), "big")


def test_cli_prints_connection_details_and_stops_on_signal(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.servers.keyvault", "--state-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(12)]
        output = "".join(lines)
        match = re.search(r"vault URL:\s+(https://127\.0\.0\.1:(\d+)/)", output)
        assert match, output
        assert f"export REQUESTS_CA_BUNDLE={tmp_path / 'ca.pem'}" in output
        assert f"export IDENTITY_ENDPOINT=https://127.0.0.1:{match.group(2)}{IDENTITY_PATH}" in output
        assert "export IDENTITY_HEADER=" in output
        response = requests.get(f"{match.group(1)}secrets?api-version=7.4", verify=str(tmp_path / "ca.pem"), timeout=5)
        assert response.status_code == 401
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=5)
    assert (tmp_path / "vault.json").is_file()
