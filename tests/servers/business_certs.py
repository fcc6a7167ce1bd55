"""Test business certificates (virksomhetssertifikat) like Buypass and Commfides issue: a root CA, an intermediate and
a leaf with the organisation number, delivered as a PKCS#12 file with its chain.

    pki = TestPki.make()                                   # root + intermediate
    cert = pki.issue("999888777")                          # leaf with organizationIdentifier NTRNO-999888777
    data = cert.pkcs12("secret")                           # .p12 bytes (AES-256), leaf + key + intermediate
    server = MaskinportenServer(certificate_cas=[pki.root])

Variants for tests: ``issue(org, expired=True)``, ``issue(org, not_yet_valid=True)``, ``issue(None)`` (no
organisation number), ``issue(org, serial_number=True)`` (the older ``serialNumber`` form), ``pkcs12(pw,
legacy=True)`` (3DES, as older exports are).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

ORG_IDENTIFIER = x509.ObjectIdentifier("2.5.4.97")


def _name(common_name: str, *extra: x509.NameAttribute[str]) -> x509.Name:
    return x509.Name(
        [x509.NameAttribute(NameOID.COUNTRY_NAME, "NO"), *extra, x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    )


def _key(size: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=size)


def _certificate(
    subject: x509.Name,
    key: rsa.RSAPrivateKey,
    issuer: x509.Name,
    issuer_key: rsa.RSAPrivateKey,
    *,
    ca: bool,
    not_before: dt.datetime,
    not_after: dt.datetime,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
    else:
        builder = builder.add_extension(
            x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True
        )
    return builder.sign(issuer_key, hashes.SHA256())


@dataclass(frozen=True)
class BusinessCert:
    """A leaf certificate, its key and its chain (intermediate); the root is the verifier's."""

    leaf: x509.Certificate
    key: rsa.RSAPrivateKey
    intermediates: tuple[x509.Certificate, ...]
    root: x509.Certificate

    def pkcs12(self, passphrase: str | None, *, legacy: bool = False) -> bytes:
        """The PKCS#12 file as a CA delivers it: key, leaf, intermediates (AES-256, or 3DES with ``legacy``)."""
        if passphrase is None:
            encryption: serialization.KeySerializationEncryption = serialization.NoEncryption()
        elif legacy:
            encryption = (
                serialization.PrivateFormat.PKCS12.encryption_builder()
                .kdf_rounds(2048)
                .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
                .hmac_hash(hashes.SHA1())  # noqa: S303 - legacy files are what this makes
                .build(passphrase.encode())
            )
        else:
            encryption = serialization.BestAvailableEncryption(passphrase.encode())
        return pkcs12.serialize_key_and_certificates(
            b"virksomhetssertifikat", self.key, self.leaf, list(self.intermediates), encryption
        )

    def chain_pem(self) -> bytes:
        """Leaf and intermediates as PEM (the secret of a Key Vault certificate with a non-exportable key)."""
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (self.leaf, *self.intermediates))


@dataclass(frozen=True)
class TestPki:
    """A test root CA and an intermediate that issues business certificates."""

    root: x509.Certificate
    root_key: rsa.RSAPrivateKey
    intermediate: x509.Certificate
    intermediate_key: rsa.RSAPrivateKey

    __test__ = False  # not a pytest test class

    @classmethod
    def make(cls, name: str = "jwks-tool Test") -> TestPki:
        """A fresh root (10 years) and intermediate (5 years)."""
        now = dt.datetime.now(dt.UTC)
        root_key, intermediate_key = _key(), _key()
        root_name = _name(f"{name} Root CA")
        root = _certificate(
            root_name,
            root_key,
            root_name,
            root_key,
            ca=True,
            not_before=now - dt.timedelta(days=1),
            not_after=now + dt.timedelta(days=3650),
        )
        intermediate = _certificate(
            _name(f"{name} Class 3 CA"),
            intermediate_key,
            root_name,
            root_key,
            ca=True,
            not_before=now - dt.timedelta(days=1),
            not_after=now + dt.timedelta(days=1825),
        )
        return cls(root, root_key, intermediate, intermediate_key)

    def issue(
        self,
        org: str | None,
        *,
        expired: bool = False,
        not_yet_valid: bool = False,
        serial_number: bool = False,
        name: str = "ACME AS",
        size: int = 2048,
        days: int = 365,
    ) -> BusinessCert:
        """A business certificate for ``org`` (SEID 2 organizationIdentifier, or serialNumber with
        ``serial_number``; none when ``org`` is None), valid for ``days`` (a year) from yesterday unless told
        otherwise."""
        now = dt.datetime.now(dt.UTC)
        if expired:
            not_before, not_after = now - dt.timedelta(days=400), now - dt.timedelta(days=2)
        elif not_yet_valid:
            not_before, not_after = now + dt.timedelta(days=2), now + dt.timedelta(days=400)
        else:
            not_before, not_after = now - dt.timedelta(days=1), now + dt.timedelta(days=days)
        extra: list[x509.NameAttribute[str]] = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, name)]
        if org is not None:
            if serial_number:
                extra.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, org))
            else:
                extra.append(x509.NameAttribute(ORG_IDENTIFIER, f"NTRNO-{org}"))
        key = _key(size)
        leaf = _certificate(
            _name(name, *extra),
            key,
            self.intermediate.subject,
            self.intermediate_key,
            ca=False,
            not_before=not_before,
            not_after=not_after,
        )
        return BusinessCert(leaf, key, (self.intermediate,), self.root)

    def root_pem(self) -> bytes:
        """The root CA as PEM (for ``openssl verify -CAfile`` and the test server)."""
        return self.root.public_bytes(serialization.Encoding.PEM)
