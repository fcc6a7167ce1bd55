"""Signers: one interface for local keys and keys that live elsewhere (Azure Key Vault), and compact JWS built on it.

    >>> from jwks_tool.core.signing import LocalSigner, compact_jws
    >>> from jwks_tool.core.keys import generate_private_jwk
    >>> signer = LocalSigner(generate_private_jwk(kty="EC", size=256, crv="P-256"), alg="ES256", trusted=True)
    >>> token = compact_jws({"alg": "ES256", "kid": "k1"}, {"iss": "me"}, signer)
    >>> token.count(".")
    2

RS256/384/512 are RSASSA-PKCS1-v1_5 with SHA-2; ES256/384/512 give the raw ``r || s`` JWS wants. Keys that live in
Azure Key Vault sign through :class:`jwks_tool.integrations.azure.vault_keys.VaultSigner`, which implements the same
:class:`Signer` interface and sends only the digest: the private key never leaves the vault.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, Protocol

from jwks_tool.core.b64 import b64url_encode
from jwks_tool.core.keys import private_key_from_jwk
from jwks_tool.errors import InputError, KeyMaterialError

_HASHES = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}
_EC_SIZES = {"ES256": 32, "ES384": 48, "ES512": 66}


class Signer(Protocol):
    """Anything that makes a JWS signature for ``alg``: a key in memory or a key inside a vault."""

    alg: str

    def sign(self, data: bytes) -> bytes:
        """The JWS signature of ``data`` for ``alg``."""
        ...


def digest(alg: str, data: bytes) -> bytes:
    """The SHA-2 hash of ``data`` that ``alg`` signs; InputError unless ``alg`` is RS or ES with 256, 384 or 512."""
    if alg[:2] not in ("RS", "ES") or alg[2:] not in _HASHES:
        raise InputError(f"unsupported signing algorithm {alg}", hint="use RS256, RS384, RS512, ES256, ES384 or ES512")
    return _HASHES[alg[2:]](data).digest()


class LocalSigner:
    """Signs with a private JWK held in memory (from the store)."""

    def __init__(self, private_jwk: Mapping[str, Any], *, alg: str, trusted: bool) -> None:
        self.alg = alg
        self._key = private_key_from_jwk(private_jwk, trusted=trusted)

    def __repr__(self) -> str:
        return f"LocalSigner(alg={self.alg!r})"

    def sign(self, data: bytes) -> bytes:
        """The JWS signature of ``data`` (RSA PKCS#1 v1.5, or ECDSA as the raw r || s JWS uses)."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

        chosen: hashes.HashAlgorithm = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}[
            self.alg[2:]
        ]
        digest(self.alg, b"")  # validates alg
        if isinstance(self._key, rsa.RSAPrivateKey):
            if not self.alg.startswith("RS"):
                raise KeyMaterialError(f"an RSA key cannot sign {self.alg}")
            return self._key.sign(data, padding.PKCS1v15(), chosen)
        if not self.alg.startswith("ES"):
            raise KeyMaterialError(f"an EC key cannot sign {self.alg}")
        der = self._key.sign(data, ec.ECDSA(chosen))
        r, s = utils.decode_dss_signature(der)
        size = _EC_SIZES[self.alg]
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def compact_jws(header: Mapping[str, Any], claims: Mapping[str, Any], signer: Signer) -> str:
    """``b64url(header).b64url(claims).b64url(signature)`` (RFC 7515 compact serialization)."""
    encoded = [
        b64url_encode(json.dumps(dict(part), separators=(",", ":")).encode("utf-8")) for part in (header, claims)
    ]
    signing_input = ".".join(encoded).encode("ascii")
    return f"{signing_input.decode('ascii')}.{b64url_encode(signer.sign(signing_input))}"
