"""The use cases as a library user sees them: one factory with the Azure options, the next key of a rotation, doctor
over its ports (no vault, no Maskinporten), one verdict vocabulary."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime

from jwks_tool.core import findings, profiles
from jwks_tool.core.b64 import b64url_decode
from jwks_tool.core.findings import Finding, Severity, Verdict
from jwks_tool.core.model import KeyRecord
from jwks_tool.integrations.azure.connection import Connection, Credential
from jwks_tool.services import inspecting, status
from jwks_tool.services.doctor import DoctorOptions, IssuedToken, VaultSecret, diagnose
from jwks_tool.services.key_service import AzureOptions, GenerateRequest, KeyService, VaultKeyOptions
from jwks_tool.services.rotation import Rotation

VAULT_KEY = "https://acme-kv.vault.azure.net/keys/jwks-acme-test/0123abcd"


def _service(**kwargs: object) -> KeyService:
    return KeyService.open("memory:", passphrase="library passphrase", **kwargs)  # type: ignore[arg-type]


def test_a_vault_key_is_reached_with_the_services_azure_options() -> None:
    azure = AzureOptions("cli", None, verify_challenge_resource=False)
    svc = _service(azure=azure)
    record = dataclasses.replace(svc.generate(GenerateRequest(name="acme", size=2048)), vault_key=VAULT_KEY)
    expected = Connection("https://acme-kv.vault.azure.net/", Credential.CLI, None, False)
    assert svc.key_vault_of(record) == expected
    assert svc.vault_key_like(record) == VaultKeyOptions(expected, key_name="jwks-acme-test")
    assert _service().key_vault_of(record) == Connection("https://acme-kv.vault.azure.net/")  # the defaults
    local = svc.get_set("acme", "test").keys[0]
    assert svc.key_vault_of(local) is None
    assert svc.vault_key_like(local) is None


def test_the_next_key_of_a_rotation_is_like_the_active_one() -> None:
    svc = _service()
    svc.generate(GenerateRequest(name="acme", size=2048, alg="RS384"))
    svc.generate(GenerateRequest(name="lab", profile="generic", kty="EC", crv="P-384"))
    rotation = Rotation(svc)
    rsa = rotation.next_key_request("acme", "test")
    assert (rsa.kty, rsa.size, rsa.crv, rsa.alg, rsa.in_vault) == ("RSA", 2048, None, "RS384", None)
    assert rotation.next_key_request("acme", "test", size=4096).size == 4096
    ec = rotation.next_key_request("lab", "test")
    assert (ec.kty, ec.crv, ec.alg) == ("EC", "P-384", "ES384")
    results = rotation.rotate("acme", "test", "all", force=True)
    assert [result.step.value for result in results] == ["start", "promote", "finish"]
    active = svc.get_set("acme", "test").active
    assert active is not None
    assert (active.size, active.alg) == (2048, "RS384")


class _Vault:
    vault_url = "https://acme-kv.vault.azure.net/"

    def read(self, active: KeyRecord) -> VaultSecret:
        return VaultSecret("MaskinportenSettings--EncodedJwk", True, "an-old-kid", False)


class _Tokens:
    def __init__(self) -> None:
        self.grants: list[str] = []

    def request(self, grant: str) -> IssuedToken:
        self.grants.append(grant)
        return IssuedToken("altinn:instances.read", 119)


def test_doctor_runs_on_its_ports() -> None:
    svc = _service()
    record = svc.generate(GenerateRequest(name="acme", size=2048))
    tokens = _Tokens()
    options = DoctorOptions(vault=_Vault(), token=tokens, client_id="client-1", scope="altinn:instances.read")
    report = diagnose(svc, "acme", "test", options)
    outcomes = {check.name: (check.outcome, check.detail) for check in report.checks}
    assert outcomes["keyvault"] == ("fail", "MaskinportenSettings--EncodedJwk holds an-old-kid, not the active key")
    assert outcomes["token"] == ("ok", "Maskinporten issued a token (scope altinn:instances.read, 119 s)")
    assert outcomes["registered"][0] == "skip"
    assert outcomes["grant"][0] == "ok"
    header, claims = (json.loads(b64url_decode(part)) for part in tokens.grants[0].split(".")[:2])
    assert (header["kid"], claims["iss"], claims["scope"]) == (record.kid, "client-1", "altinn:instances.read")
    assert report.verdict is Verdict.ERRORS
    assert report.to_dict()["verdict"] == "fail"
    assert report.to_dict()["checks"][0] == {
        "check": "active-key",
        "outcome": "ok",
        "detail": outcomes["active-key"][1],
    }


def svc_now() -> datetime:
    return _service().now()


def test_one_verdict_vocabulary() -> None:
    maskinporten = profiles.get_profile("maskinporten")
    assert all(type(found) is findings.Finding for found in maskinporten.lint_jwk({"kty": "EC"}))
    data = b'{"kty":"RSA","n":"AQAB","e":"AQAB"}'
    report = inspecting.inspect_bytes(data, maskinporten, inspecting.Expect.ANY)
    assert report.verdict is Verdict.ERRORS
    assert status.check([], svc_now(), status.CheckPolicy()).verdict is Verdict.OK
    assert Verdict.of([]) is Verdict.OK
    warning, error = Finding(Severity.WARNING, "w", "w"), Finding(Severity.ERROR, "e", "e")
    assert Verdict.of([warning]) is Verdict.WARNINGS
    assert Verdict.of([warning, error, warning]) is Verdict.ERRORS
    assert Verdict.worst([Verdict.WARNINGS, Verdict.OK]) is Verdict.WARNINGS
