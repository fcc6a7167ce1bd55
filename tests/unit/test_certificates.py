"""The business certificate: PKCS#12 files as CAs deliver them, the organisation number, validity, and the admin grant
checked by independent implementations (PyJWT with the leaf's key, ``openssl verify`` of the x5c chain)."""

from __future__ import annotations

import base64
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding

from jwks_tool.core.certificates import BusinessCertificate, load_pkcs12
from jwks_tool.errors import InputError, PassphraseError
from jwks_tool.integrations.maskinporten.admin import AdminRequest, admin_grant
from tests.servers.business_certs import BusinessCert, TestPki

ORG = "999888777"


@cache
def pki() -> TestPki:
    return TestPki.make()


@cache
def good() -> BusinessCert:
    return pki().issue(ORG)


def test_a_pkcs12_with_its_chain_gives_the_org_number_and_the_x5c_chain() -> None:
    credential = load_pkcs12(good().pkcs12("pw"), "pw")
    certificate = credential.certificate
    assert certificate.org_number == ORG
    assert certificate.chain == (good().leaf, pki().intermediate)  # leaf first, the root left to the verifier
    assert certificate.x5c() == [
        base64.b64encode(good().leaf.public_bytes(Encoding.DER)).decode(),
        base64.b64encode(pki().intermediate.public_bytes(Encoding.DER)).decode(),
    ]
    assert all("-" not in part and "_" not in part for part in certificate.x5c())  # standard base64, not url-safe
    assert certificate.describe().startswith(f"business certificate of organisation {ORG} (CN=ACME AS,")
    assert repr(credential) == f"Pkcs12Credential(org_number='{ORG}')"


def test_the_older_serial_number_form_gives_the_org_number() -> None:
    cert = pki().issue("123456789", serial_number=True)
    assert load_pkcs12(cert.pkcs12("pw"), "pw").certificate.org_number == "123456789"


def test_a_legacy_3des_pkcs12_opens() -> None:
    credential = load_pkcs12(good().pkcs12("pw", legacy=True), "pw")
    assert credential.certificate.org_number == ORG


def test_a_wrong_passphrase_is_a_passphrase_error() -> None:
    with pytest.raises(PassphraseError) as caught:
        load_pkcs12(good().pkcs12("right"), "wrong", source="the certificate file v.p12")
    assert caught.value.diagnostics() == (
        "cannot open the certificate file v.p12: the passphrase is wrong (or the file is damaged); "
        "check JWKS_TOOL_CERT_PASSPHRASE or --cert-passphrase-file"
    )


def test_a_file_that_is_not_pkcs12_is_bad_input() -> None:
    with pytest.raises(InputError) as caught:
        load_pkcs12(good().leaf.public_bytes(Encoding.PEM), "pw")
    assert type(caught.value) is InputError
    assert caught.value.message == "the PKCS#12 file is not a PKCS#12 (.p12/.pfx) file"


def test_a_certificate_without_an_org_number_is_refused() -> None:
    with pytest.raises(InputError) as caught:
        load_pkcs12(pki().issue(None).pkcs12("pw"), "pw")
    assert caught.value.diagnostics() == (
        "the certificate CN=ACME AS,O=ACME AS,C=NO holds no Norwegian organisation number (organizationIdentifier "
        "NTRNO-<9 digits> or serialNumber of 9 digits); use the organisation's business certificate "
        "(virksomhetssertifikat), not a personal or TLS certificate"
    )


@pytest.mark.parametrize(
    ("variant", "says"),
    [("expired", "expired"), ("not_yet_valid", "is not valid until")],
)
def test_a_certificate_outside_its_dates_is_refused_before_signing(variant: str, says: str) -> None:
    cert = pki().issue(ORG, expired=variant == "expired", not_yet_valid=variant == "not_yet_valid")
    credential = load_pkcs12(cert.pkcs12("pw"), "pw")
    signed: list[bytes] = []
    original = credential.sign

    def spy(data: bytes) -> bytes:
        signed.append(data)
        return original(data)

    credential.sign = spy  # type: ignore[method-assign]
    with pytest.raises(InputError) as caught:
        admin_grant(credential, AdminRequest("admin-client"))
    assert says in caught.value.message
    assert signed == []


def test_the_admin_grant_is_what_digdir_wants_verified_by_pyjwt() -> None:
    credential = load_pkcs12(good().pkcs12("pw"), "pw")
    now = datetime.now(UTC)
    grant = admin_grant(credential, AdminRequest("admin-client", "idporten:dcr.read", env="prod"), now=now)
    header = jwt.get_unverified_header(grant.token)
    assert header == {"alg": "RS256", "x5c": credential.certificate.x5c()}  # no kid, no typ
    public = good().leaf.public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    claims = jwt.decode(grant.token, public, algorithms=["RS256"], audience="https://maskinporten.no/")
    assert claims["iss"] == "admin-client"
    assert claims["scope"] == "idporten:dcr.read"
    assert claims["exp"] - claims["iat"] == 120
    assert claims["iat"] == int(now.timestamp())
    assert len(claims["jti"]) == 36
    x5c_leaf = x509.load_der_x509_certificate(base64.b64decode(header["x5c"][0]))
    assert x5c_leaf == good().leaf


def test_the_admin_grant_asks_only_for_self_service_scopes() -> None:
    credential = load_pkcs12(good().pkcs12("pw"), "pw")
    with pytest.raises(InputError) as caught:
        admin_grant(credential, AdminRequest("admin-client", "altinn:instances.read"))
    assert caught.value.diagnostics() == (
        "the admin grant asks for altinn:instances.read; the self-service API's scopes are idporten:dcr.read, "
        "idporten:dcr.modify, idporten:dcr.write"
    )


def test_a_key_that_is_not_the_certificates_is_found_before_sending() -> None:
    other = load_pkcs12(pki().issue(ORG).pkcs12("pw"), "pw")
    mine = load_pkcs12(good().pkcs12("pw"), "pw")
    mixed = type(mine)(mine.certificate, other._key)
    with pytest.raises(InputError) as caught:
        admin_grant(mixed, AdminRequest("admin-client"))
    assert caught.value.message == "the signing key does not belong to the business certificate"


@pytest.mark.integration
@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is installed by scripts/test.sh")
def test_the_x5c_chain_verifies_with_openssl(tmp_path: Path) -> None:
    certificate: BusinessCertificate = load_pkcs12(good().pkcs12("pw"), "pw").certificate
    pems = [
        b"-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(base64.b64decode(part)) + b"-----END CERTIFICATE-----\n"
        for part in certificate.x5c()
    ]
    (tmp_path / "leaf.pem").write_bytes(pems[0])
    (tmp_path / "chain.pem").write_bytes(b"".join(pems[1:]))
    (tmp_path / "root.pem").write_bytes(pki().root_pem())
    args = ["openssl", "verify", "-CAfile", "root.pem", "-untrusted", "chain.pem", "leaf.pem"]
    done = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "leaf.pem: OK\n"
    other_root = TestPki.make("Other").root_pem()
    (tmp_path / "root.pem").write_bytes(other_root)
    refused = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert refused.returncode != 0


def test_validity_is_checked_against_the_given_time() -> None:
    certificate = load_pkcs12(good().pkcs12("pw"), "pw").certificate
    certificate.check_valid(datetime.now(UTC))
    with pytest.raises(InputError):
        certificate.check_valid(certificate.not_after + timedelta(seconds=1))
