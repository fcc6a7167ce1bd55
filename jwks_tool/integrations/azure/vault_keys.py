"""Keys made or imported inside Azure Key Vault (non-exportable, optionally HSM-backed), and a signer that uses them.

    >>> vault_key_name("acme.api", "prod")
    'jwks-acme-api-prod'

The private half never leaves the vault: :class:`VaultSigner` sends only the digest to the vault's ``sign`` operation.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from jwks_tool.core.b64 import b64url_decode, b64url_encode
from jwks_tool.core.model import KeyRecord, KeySet
from jwks_tool.core.signing import digest
from jwks_tool.errors import InputError
from jwks_tool.integrations.azure.connection import (
    Connection,
    azure_errors,
    check_name,
    client_kwargs,
    key_client,
    make_credential,
    normalise_vault_url,
)
from jwks_tool.integrations.azure.secrets import PushOutcome


def check_key_name(name: str) -> None:
    """InputError unless ``name`` is a valid Key Vault key name (1-127 characters of 0-9 A-Z a-z -)."""
    check_name(name, "key")


def split_key_id(key_id: str) -> tuple[str, str]:
    """``https://v.vault.azure.net/keys/NAME/VERSION`` → (vault URL, key name)."""
    match = re.fullmatch(r"(https://[^/]+/?)(?:\?[^/]*)?keys/([0-9A-Za-z-]+)(?:/[0-9a-f]*)?", key_id)
    if match is None:
        raise InputError(f"not a Key Vault key id: {key_id!r}")
    return normalise_vault_url(match.group(1)), match.group(2)


def vault_key_name(set_name: str, env: str) -> str:
    """``jwks-<set>-<env>``: Key Vault key names take ``0-9 A-Z a-z -``; other characters become ``-``."""
    return re.sub(r"[^0-9A-Za-z-]", "-", f"jwks-{set_name}-{env}")[:127]


def create_vault_key(
    connection: Connection,
    *,
    name: str,
    kty: str,
    size: int,
    crv: str | None,
    hsm: bool,
    expires: datetime,
    not_before: datetime,
    tags: dict[str, str],
) -> tuple[str, dict[str, str]]:
    """Create a non-exportable key (a new version when the name exists); returns its id and public JWK members."""
    check_key_name(name)
    with azure_errors(f"create the key {name}", vault=connection.vault_url):
        from azure.keyvault.keys import KeyOperation

        client = key_client(connection)
        common: dict[str, Any] = {
            "hardware_protected": hsm,
            "expires_on": expires,
            "not_before": not_before,
            "tags": tags,
            "key_operations": [KeyOperation.sign, KeyOperation.verify],
            "exportable": False,
        }
        if kty == "RSA":
            key = client.create_rsa_key(name, size=size, **common)
        else:
            key = client.create_ec_key(name, curve=crv, **common)
    material = key.key
    if kty == "RSA":
        members = {
            "kty": "RSA",
            "n": b64url_encode(bytes(getattr(material, "n"))),  # noqa: B009 - JsonWebKey's members are dynamic
            "e": b64url_encode(bytes(getattr(material, "e"))),  # noqa: B009
        }
    else:
        members = {
            "kty": "EC",
            "crv": str(crv),
            "x": b64url_encode(bytes(getattr(material, "x"))),  # noqa: B009
            "y": b64url_encode(bytes(getattr(material, "y"))),  # noqa: B009
        }
    return str(key.id), members


def push_as_key(
    connection: Connection,
    *,
    name: str,
    private_members: dict[str, Any],
    record: KeyRecord,
    keyset: KeySet,
    hsm: bool,
    dry_run: bool,
) -> PushOutcome:
    """Import the private key into Key Vault as a key (not a secret), with the key's expiry and tags.

    An unchanged key (same kid and thumbprint tags) is not imported again; a new one becomes a new key version.
    """
    from azure.core.exceptions import ResourceNotFoundError

    check_key_name(name)
    tags = {"kid": record.kid, "thumbprint": record.thumbprint, "set": keyset.ref.name, "env": keyset.ref.env.value}
    with azure_errors(f"import the key {name}", vault=connection.vault_url):
        from azure.keyvault.keys import JsonWebKey, KeyOperation

        client = key_client(connection)
        try:
            existing = client.get_key(name)
        except ResourceNotFoundError:
            existing = None
        current = None if existing is None else (existing.properties.tags or {})
        if current is not None and current.get("kid") == record.kid and current.get("thumbprint") == record.thumbprint:
            return PushOutcome(name, "unchanged", current.get("kid"), existing.properties.version if existing else None)
        action = "create" if existing is None else "add-version"
        if dry_run:
            return PushOutcome(name, f"would-{action}", None if current is None else current.get("kid"))
        kty = str(private_members["kty"])
        members = {k: b64url_decode(str(v)) for k, v in private_members.items() if k not in ("kty", "crv")}
        ops = [KeyOperation.sign, KeyOperation.verify]
        if kty == "EC":
            jwk = JsonWebKey(kty="EC-HSM" if hsm else "EC", crv=private_members["crv"], key_ops=ops, **members)
        else:
            jwk = JsonWebKey(kty="RSA-HSM" if hsm else "RSA", key_ops=ops, **members)
        imported = client.import_key(
            name,
            jwk,
            hardware_protected=hsm,
            enabled=True,
            not_before=record.created,
            expires_on=record.expires,
            tags=tags,
        )
    return PushOutcome(
        name,
        "created" if existing is None else "new-version",
        None if current is None else current.get("kid"),
        imported.properties.version,
    )


def disable_key_version(connection: Connection, key_id: str) -> None:
    """Take a vault-native key version out of use (retired or revoked): it can no longer sign."""
    _, name = split_key_id(key_id)
    version = key_id.rstrip("/").rsplit("/", 1)[-1]
    with azure_errors(f"disable the key {name}", vault=connection.vault_url):
        key_client(connection).update_key_properties(name, version, enabled=False)


class VaultSigner:
    """Signs through Azure Key Vault's ``sign`` operation; only the digest is sent."""

    def __init__(self, key_id: str, connection: Connection, *, alg: str) -> None:
        self.alg = alg
        self.key_id = key_id
        self._connection = connection

    def __repr__(self) -> str:
        return f"VaultSigner(key_id={self.key_id!r}, alg={self.alg!r})"

    def sign(self, data: bytes) -> bytes:
        """The JWS signature of ``data``: its digest, signed by the vault with the key ``key_id``."""
        with azure_errors(f"sign with the Key Vault key {self.key_id}", vault=self._connection.vault_url):
            from azure.keyvault.keys.crypto import CryptographyClient, SignatureAlgorithm

            credential = make_credential(self._connection.credential, self._connection)
            client = CryptographyClient(self.key_id, credential, **client_kwargs(self._connection))
            result = client.sign(SignatureAlgorithm(self.alg), digest(self.alg, data))
        return bytes(result.signature)
