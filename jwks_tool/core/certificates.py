"""The organisation's business certificate (virksomhetssertifikat): its chain, its organisation number, its validity,
and the ``x5c`` header that carries it in a JWT grant.

    >>> from jwks_tool.core.certificates import org_number_from_text
    >>> org_number_from_text("NTRNO-991825827")
    '991825827'
    >>> org_number_from_text("991825827")
    '991825827'
    >>> org_number_from_text("NTRSE-5560000000") is None
    True

A certificate comes from a PKCS#12 file (``.p12``/``.pfx``, as Buypass and Commfides deliver it, with its chain;
legacy RC2/3DES files open too) through :func:`load_pkcs12`, which gives a :class:`Pkcs12Credential`: the
certificate and a signer over its private key. Azure Key Vault certificates give the same :class:`AdminCredential`
from :mod:`jwks_tool.integrations.azure.vault_certificates`, where the vault signs and the key never leaves it.

The organisation number is read from the leaf's subject: SEID 2's ``organizationIdentifier`` (OID 2.5.4.97,
``NTRNO-<9 digits>``) or, in older certificates, ``serialNumber`` (OID 2.5.4.5) of 9 digits. A certificate without
one, or outside its validity dates, is refused (:class:`~jwks_tool.errors.InputError`, exit 3) before any request.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from jwks_tool.core.text import printable
from jwks_tool.errors import InputError, PassphraseError

if TYPE_CHECKING:
    from cryptography import x509

ORGANIZATION_IDENTIFIER_OID = "2.5.4.97"
SERIAL_NUMBER_OID = "2.5.4.5"
_NTRNO_RE = re.compile(r"\ANTRNO-(\d{9})\Z")
_DIGITS_RE = re.compile(r"\A(\d{9})\Z")
MAX_PKCS12_BYTES = 1024 * 1024
"""A PKCS#12 file larger than this is not a business certificate (they are a few KB)."""


def org_number_from_text(value: str) -> str | None:
    """The 9-digit Norwegian organisation number in an ``organizationIdentifier`` (``NTRNO-<9 digits>``) or an
    older ``serialNumber`` (9 digits); None for anything else."""
    match = _NTRNO_RE.fullmatch(value) or _DIGITS_RE.fullmatch(value)
    return match.group(1) if match else None


@dataclasses.dataclass(frozen=True)
class BusinessCertificate:
    """A certificate chain, leaf first, with what jwks-tool reads from the leaf. Public material only."""

    chain: tuple[x509.Certificate, ...]
    """The leaf, then the intermediates that issued it (as delivered; roots are left out of ``x5c``)."""
    org_number: str
    """The organisation number from the leaf's subject."""
    subject: str
    """The leaf's subject, RFC 4514, for display (sanitised)."""
    not_before: datetime
    not_after: datetime
    fingerprint: str
    """SHA-256 of the leaf's DER, hex."""

    @property
    def leaf(self) -> x509.Certificate:
        """The certificate whose key signs."""
        return self.chain[0]

    def x5c(self) -> list[str]:
        """The ``x5c`` header: each certificate's DER in standard base64 (not URL-safe), leaf first (RFC 7515)."""
        from cryptography.hazmat.primitives.serialization import Encoding

        return [base64.b64encode(cert.public_bytes(Encoding.DER)).decode("ascii") for cert in self.chain]

    def check_valid(self, now: datetime) -> None:
        """InputError (exit 3) unless ``now`` is within the leaf's validity dates."""
        if now < self.not_before:
            raise InputError(
                f"the business certificate for {self.org_number} is not valid until "
                f"{self.not_before:%Y-%m-%d %H:%M} UTC",
                hint="use the certificate that is valid now, or check this machine's clock",
            )
        if now >= self.not_after:
            raise InputError(
                f"the business certificate for {self.org_number} expired {self.not_after:%Y-%m-%d %H:%M} UTC",
                hint="order a new business certificate (Buypass or Commfides) and use it",
            )

    def describe(self) -> str:
        """One line for a person: organisation number, subject and validity."""
        return (
            f"business certificate of organisation {self.org_number} ({self.subject}), "
            f"valid {self.not_before:%Y-%m-%d} to {self.not_after:%Y-%m-%d}"
        )


def _attribute(cert: x509.Certificate, oid: str) -> list[str]:
    from cryptography.x509 import ObjectIdentifier

    return [str(attr.value) for attr in cert.subject.get_attributes_for_oid(ObjectIdentifier(oid))]


def org_number_of(cert: x509.Certificate) -> str:
    """The organisation number in the certificate's subject; InputError when it holds none."""
    for oid in (ORGANIZATION_IDENTIFIER_OID, SERIAL_NUMBER_OID):
        for value in _attribute(cert, oid):
            found = org_number_from_text(value.strip())
            if found:
                return found
    raise InputError(
        f"the certificate {printable(cert.subject.rfc4514_string(), limit=200)} holds no Norwegian organisation "
        "number (organizationIdentifier NTRNO-<9 digits> or serialNumber of 9 digits)",
        hint="use the organisation's business certificate (virksomhetssertifikat), not a personal or TLS certificate",
    )


def order_chain(leaf: x509.Certificate, others: list[x509.Certificate]) -> tuple[x509.Certificate, ...]:
    """The leaf, then each issuer in turn found among ``others`` (by name and signature); self-signed roots and
    certificates that are not in the leaf's path are left out."""
    chain = [leaf]
    pool = [cert for cert in others if cert != leaf]
    while pool:
        current = chain[-1]
        if current.issuer == current.subject:
            break
        issuer = next((cert for cert in pool if _issued(current, cert)), None)
        if issuer is None or issuer.subject == issuer.issuer:  # roots are the verifier's, not x5c's
            break
        chain.append(issuer)
        pool.remove(issuer)
    return tuple(chain)


def _issued(child: x509.Certificate, issuer: x509.Certificate) -> bool:
    if child.issuer != issuer.subject:
        return False
    try:
        child.verify_directly_issued_by(issuer)
    except Exception:  # InvalidSignature, or a key type that cannot have signed it
        return False
    return True


def business_certificate(leaf: x509.Certificate, others: list[x509.Certificate]) -> BusinessCertificate:
    """Read the organisation number and validity of ``leaf`` and order its chain from ``others``."""
    from cryptography.hazmat.primitives.serialization import Encoding

    return BusinessCertificate(
        chain=order_chain(leaf, others),
        org_number=org_number_of(leaf),
        subject=printable(leaf.subject.rfc4514_string(), limit=300),
        not_before=leaf.not_valid_before_utc,
        not_after=leaf.not_valid_after_utc,
        fingerprint=hashlib.sha256(leaf.public_bytes(Encoding.DER)).hexdigest(),
    )


class AdminCredential(Protocol):
    """A business certificate and a way to sign with its key: the admin client's credential for Digdir's
    self-service API. ``sign`` makes an RS256 (RSASSA-PKCS1-v1_5 SHA-256) signature of ``data``."""

    certificate: BusinessCertificate
    alg: str

    def sign(self, data: bytes) -> bytes:
        """The RS256 signature of ``data`` by the certificate's private key."""
        ...


class Pkcs12Credential:
    """The certificate and private key of a PKCS#12 file; the key stays in memory and out of every repr."""

    alg = "RS256"

    def __init__(self, certificate: BusinessCertificate, private_key: Any) -> None:
        self.certificate = certificate
        self._key = private_key

    def __repr__(self) -> str:
        return f"Pkcs12Credential(org_number={self.certificate.org_number!r})"

    def sign(self, data: bytes) -> bytes:
        """RS256 over ``data`` with the certificate's RSA key."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        signature: bytes = self._key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        return signature


def _looks_like_pkcs12(data: bytes) -> bool:
    """A DER SEQUENCE whose first member is INTEGER 3 (PFX version 3), as every PKCS#12 file starts."""
    if len(data) < 8 or data[0] != 0x30:
        return False
    length_octets = data[1] - 0x80 if data[1] & 0x80 else 0
    start = 2 + length_octets
    return data[start : start + 3] == b"\x02\x01\x03"


def load_pkcs12(data: bytes, passphrase: str | None, *, source: str = "the PKCS#12 file") -> Pkcs12Credential:
    """Open a PKCS#12 file (modern AES or legacy RC2/3DES encryption) with ``passphrase``.

    A wrong passphrase is a :class:`~jwks_tool.errors.PassphraseError` (exit 8); a file that is not PKCS#12, has no
    certificate or no RSA key matching it is an :class:`~jwks_tool.errors.InputError` (exit 3). The validity dates
    are not checked here (:meth:`BusinessCertificate.check_valid`), so an expired certificate can still be shown.
    """
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import pkcs12

    if len(data) > MAX_PKCS12_BYTES:
        raise InputError(f"{source} is larger than 1 MiB", hint="give the business certificate's .p12/.pfx file")
    if not _looks_like_pkcs12(data):
        raise InputError(f"{source} is not a PKCS#12 (.p12/.pfx) file", hint="give the business certificate's .p12")
    secret = passphrase.encode("utf-8") if passphrase else None
    try:
        key, leaf, extra = pkcs12.load_key_and_certificates(data, secret)
    except ValueError as exc:
        if passphrase is None:  # none was given and there was no terminal to ask on
            raise PassphraseError(
                f"cannot open {source}: it needs its passphrase, and none was given",
                hint="set JWKS_TOOL_CERT_PASSPHRASE or pass --cert-passphrase-file (stdin is not a terminal to ask on)",
            ) from exc
        raise PassphraseError(
            f"cannot open {source}: the passphrase is wrong (or the file is damaged)",
            hint="check JWKS_TOOL_CERT_PASSPHRASE or --cert-passphrase-file",
        ) from exc
    except Exception as exc:  # UnsupportedAlgorithm: a cipher this OpenSSL lacks
        raise InputError(
            f"cannot open {source}: {printable(exc, limit=200)}",
            hint="re-export it with AES-256 (openssl pkcs12 -export)",
        ) from exc
    if leaf is None:
        raise InputError(f"{source} holds no certificate", hint="export the certificate together with its key")
    if not isinstance(key, rsa.RSAPrivateKey):
        raise InputError(
            f"{source} holds no RSA private key", hint="Maskinporten signs RS256: use the RSA business certificate"
        )
    if key.public_key().public_numbers() != leaf.public_key().public_numbers():  # type: ignore[union-attr]
        raise InputError(f"{source}: the private key does not match the certificate", hint="export them together")
    return Pkcs12Credential(business_certificate(leaf, list(extra)), key)


def now_utc() -> datetime:
    """The current time (UTC)."""
    return datetime.now(UTC)


MAX_CA_BUNDLE_BYTES = 16 * 1024 * 1024


def check_ca_bundle(path: str, *, option: str = "--ca-bundle") -> None:
    """Check that ``path`` is a PEM bundle holding at least one certificate, before any connection uses it: an
    :class:`~jwks_tool.errors.InputError` (exit 3) naming the file otherwise (TLS would only say it cannot connect)."""
    from cryptography import x509

    shown = printable(path, limit=300)
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_CA_BUNDLE_BYTES + 1)
    except OSError as exc:
        raise InputError(
            f"cannot read {option} {shown}: {exc.strerror}", hint="check the path and its permissions"
        ) from exc
    fix = "give a PEM file of CA certificates (-----BEGIN CERTIFICATE----- blocks)"
    if len(data) > MAX_CA_BUNDLE_BYTES:
        raise InputError(f"{option} {shown} is larger than 16 MiB", hint=fix)
    try:
        x509.load_pem_x509_certificates(data)
    except ValueError:
        raise InputError(f"{option} {shown} holds no PEM certificate", hint=fix) from None
