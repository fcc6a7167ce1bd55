"""A business certificate kept in Azure Key Vault: its chain from the vault, its signatures by the vault.

    >>> split_certificate_url("https://acme-kv.vault.azure.net/certificates/virksomhet")
    ('https://acme-kv.vault.azure.net/', 'virksomhet', '')
    >>> is_certificate_url("virksomhet.p12")
    False

Import the organisation's ``.p12`` as a Key Vault certificate with a non-exportable key (``az keyvault certificate
import --policy`` with ``exportable: false``). :func:`open_vault_certificate` reads the leaf from the certificate
(``cer``) and the chain from the secret of the same name, where Key Vault keeps the certificate as PKCS#12 or PEM.
Only the certificates are read from that secret, never a private key (for a non-exportable key it holds none); the
grant is signed by the vault's ``sign`` operation on the key of the same name (:class:`VaultSigner`: only the digest
is sent), so the key never leaves the vault.
"""

from __future__ import annotations

import base64
import re
from typing import TYPE_CHECKING, Any

from jwks_tool.core.certificates import BusinessCertificate, business_certificate
from jwks_tool.core.text import printable
from jwks_tool.errors import InputError, RemoteError
from jwks_tool.integrations.azure.connection import (
    Connection,
    azure_errors,
    client_kwargs,
    make_credential,
    normalise_vault_url,
)
from jwks_tool.integrations.azure.vault_keys import VaultSigner

if TYPE_CHECKING:
    from cryptography import x509

_CERT_URL_RE = re.compile(r"\A(https://[^/?#\s]+/)certificates/([0-9A-Za-z-]{1,127})(?:/([0-9a-fA-F]{32}))?/?\Z")
_PEM_CERT_RE = re.compile(rb"-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+?-----END CERTIFICATE-----")


def is_certificate_url(source: str) -> bool:
    """Whether ``source`` names a Key Vault certificate (``https://VAULT/certificates/NAME[/VERSION]``)."""
    return source.startswith("https://") and "/certificates/" in source


def split_certificate_url(url: str) -> tuple[str, str, str]:
    """``https://VAULT/certificates/NAME[/VERSION]`` -> (vault URL, name, version or "")."""
    match = _CERT_URL_RE.fullmatch(url)
    if match is None:
        raise InputError(
            f"not a Key Vault certificate URL: {printable(url, limit=200)}",
            hint="give https://VAULT.vault.azure.net/certificates/NAME",
        )
    return normalise_vault_url(match.group(1)), match.group(2), (match.group(3) or "").lower()


class VaultCertificateCredential:
    """A Key Vault certificate as an admin credential: public chain in memory, signatures by the vault."""

    alg = "RS256"

    def __init__(self, certificate: BusinessCertificate, signer: VaultSigner) -> None:
        self.certificate = certificate
        self._signer = signer

    def __repr__(self) -> str:
        return f"VaultCertificateCredential(key_id={self._signer.key_id!r}, org_number={self.certificate.org_number!r})"

    @property
    def key_id(self) -> str:
        """The vault key that signs."""
        return self._signer.key_id

    def sign(self, data: bytes) -> bytes:
        """RS256 over ``data``, by the vault (only the digest is sent)."""
        return self._signer.sign(data)


def _chain_from_secret(value: str, content_type: str | None) -> list[x509.Certificate]:
    """The certificates in the certificate's secret (PEM or base64 PKCS#12); any private key is left unread or
    dropped at once, never used."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import pkcs12

    raw = value.encode("utf-8")
    if b"-----BEGIN" in raw or (content_type or "").lower() == "application/x-pem-file":
        return [x509.load_pem_x509_certificate(block) for block in _PEM_CERT_RE.findall(raw)]
    try:
        bundle = pkcs12.load_pkcs12(base64.b64decode(value, validate=False), None)
    except ValueError:
        return []
    certs = [c.certificate for c in ([bundle.cert] if bundle.cert else []) + list(bundle.additional_certs)]
    del bundle  # its key (if the certificate is exportable) is never used
    return certs


def open_vault_certificate(url: str, connection_options: Connection) -> VaultCertificateCredential:
    """Read the certificate ``url`` names and bind it to its vault key.

    ``connection_options`` gives the credential, CA bundle and challenge check (its ``vault_url`` is replaced by the
    URL's). RemoteError (exit 10) when the vault refuses; InputError (exit 3) when the certificate holds no
    organisation number or its key is not RSA.
    """
    import dataclasses

    from cryptography import x509

    vault, name, version = split_certificate_url(url)
    connection = dataclasses.replace(connection_options, vault_url=vault)
    with azure_errors(f"read the certificate {name}", vault=vault):
        from azure.keyvault.certificates import CertificateClient
        from azure.keyvault.secrets import SecretClient

        credential = make_credential(connection.credential)
        certificates = CertificateClient(vault, credential, **client_kwargs(connection))
        bundle: Any = (
            certificates.get_certificate_version(name, version) if version else certificates.get_certificate(name)
        )
        key_id = str(bundle.key_id or "")
        secret_id = str(bundle.secret_id or "")
        leaf_der = bytes(bundle.cer or b"")
        secret_value, content_type = "", None
        if secret_id:
            secrets = SecretClient(vault, credential, **client_kwargs(connection))
            secret_version = secret_id.rstrip("/").rsplit("/", 1)[-1] if version else None
            secret = secrets.get_secret(name, secret_version)
            secret_value, content_type = str(secret.value or ""), secret.properties.content_type
    if not leaf_der or not key_id:
        raise RemoteError(f"the vault's certificate {name} has no certificate or key", hint="import the .p12 again")
    try:
        leaf = x509.load_der_x509_certificate(leaf_der)
    except ValueError as exc:
        raise RemoteError(f"the vault's certificate {name} is not a readable X.509 certificate") from exc
    from cryptography.hazmat.primitives.asymmetric import rsa

    if not isinstance(leaf.public_key(), rsa.RSAPublicKey):
        raise InputError(f"the certificate {name} has no RSA key", hint="Maskinporten takes RS256 grants only")
    others = [cert for cert in _chain_from_secret(secret_value, content_type) if cert != leaf]
    certificate = business_certificate(leaf, others)
    return VaultCertificateCredential(certificate, VaultSigner(key_id, connection, alg="RS256"))
