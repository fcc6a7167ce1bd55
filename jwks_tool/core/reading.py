"""Read whatever key a user holds: JWK, JWKS, bare JWK array, PEM (public, private, PKCS#1, PKCS#8, SEC1,
encrypted, certificate) or a standard / URL-safe base64 JWK.

    >>> from jwks_tool.core.reading import read_input
    >>> found = read_input(b'{"keys": [{"kty": "EC", "crv": "P-256", "x": "a", "y": "b"}]}', passphrase=None)
    >>> found.kind, len(found.keys)
    ('JWKS', 1)

Input that is none of these is refused with one line that says what jwks-tool reads. Private PEM keys get OpenSSL's
full key check on the way in.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from jwks_tool.core.keys import (
    PassphraseCallback,
    decode_base64_json,
    load_pem_private,
    load_pem_public,
    parse_json_text,
    pem_label,
    private_key_to_jwk,
    public_key_to_jwk,
)
from jwks_tool.core.model import PRIVATE_MEMBERS
from jwks_tool.errors import InputError, KeyMaterialError

MAX_INPUT_BYTES = 1024 * 1024
"""A key file is a few KB; anything above a MiB is not one."""

_STANDARD_B64 = re.compile(r"\A[A-Za-z0-9+/]*={0,2}\Z")
_WHAT_WE_READ = "jwks-tool reads a JWK, a JWKS, a JSON array of JWKs, a PEM key or certificate, or a base64 JWK"

_PEM_KINDS = {
    "PUBLIC KEY": ("pem-public", "PEM public key (SubjectPublicKeyInfo)"),
    "RSA PUBLIC KEY": ("pem-rsa-public", "PEM RSA public key (PKCS#1)"),
    "CERTIFICATE": ("pem-certificate", "PEM X.509 certificate"),
    "PRIVATE KEY": ("pem-private-pkcs8", "PEM private key (PKCS#8)"),
    "ENCRYPTED PRIVATE KEY": ("pem-private-pkcs8-encrypted", "PEM encrypted private key (PKCS#8)"),
    "RSA PRIVATE KEY": ("pem-private-pkcs1", "PEM RSA private key (PKCS#1)"),
    "EC PRIVATE KEY": ("pem-private-sec1", "PEM EC private key (SEC1)"),
}


@dataclasses.dataclass(frozen=True)
class FoundKey:
    """One key found in the input; ``jwk`` may hold private members: never print it."""

    jwk: dict[str, Any]
    from_pem: bool

    @property
    def private(self) -> bool:
        """Whether the JWK holds a private member."""
        return any(member in self.jwk for member in PRIVATE_MEMBERS)

    def __repr__(self) -> str:
        return f"FoundKey(kty={self.jwk.get('kty')!r}, kid={self.jwk.get('kid')!r}, private={self.private})"


@dataclasses.dataclass(frozen=True)
class FoundInput:
    """What the input is and the keys in it."""

    code: str
    """Stable machine name: ``jwk``, ``jwks``, ``jwk-array``, ``pem-public``, ``pem-private-pkcs8``, ..."""
    kind: str
    """For people: ``JWKS``, ``PEM RSA private key (PKCS#1)``, ..."""
    encoding: str
    """``json``, ``pem``, ``base64`` or ``base64url``."""
    keys: tuple[FoundKey, ...]
    locked: bool = False
    """An encrypted PEM key whose passphrase was not given: its key could not be read."""

    @property
    def container(self) -> str:
        """How the keys came: ``jwks``, ``array``, ``jwk`` or (any PEM) ``pem``."""
        return {"jwks": "jwks", "jwk-array": "array", "jwk": "jwk"}.get(self.code, "pem")


def read_input(data: bytes, *, passphrase: PassphraseCallback | None) -> FoundInput:
    """Work out what ``data`` is and read the keys in it."""
    if len(data) > MAX_INPUT_BYTES:
        raise InputError(
            f"the input is {len(data):,} bytes; a key file is a few KB",
            hint=f"give a key file ({_WHAT_WE_READ})",
        )
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    codec = "utf-16" if data.startswith((b"\xff\xfe", b"\xfe\xff")) else "utf-8"  # PowerShell 5's Out-File
    try:
        text = data.decode(codec)
    except UnicodeDecodeError:
        raise InputError(
            "the input is binary, not text",
            hint=f"{_WHAT_WE_READ}; convert DER with `openssl pkey -inform DER -in FILE`",
        ) from None
    if not text.strip():
        raise InputError("the input is empty", hint=_WHAT_WE_READ)
    if "-----BEGIN " in text:
        return _read_pem(text, data, passphrase)
    parsed = parse_json_text(text)
    if parsed is not None:
        return _from_json(parsed, "json")
    decoded = decode_base64_json(text)
    if decoded is not None:
        compact = "".join(text.split())
        # standard means: its alphabet and its padding (what .NET's Convert.FromBase64String takes)
        encoding = "base64" if _STANDARD_B64.fullmatch(compact) and len(compact) % 4 == 0 else "base64url"
        found = _from_json(decoded, encoding)
        label = "standard" if encoding == "base64" else "URL-safe or unpadded"
        return dataclasses.replace(found, kind=f"{label} base64 of a {found.kind}")
    raise InputError("the input is not a key", hint=_WHAT_WE_READ)


def _from_json(value: object, encoding: str) -> FoundInput:
    if isinstance(value, dict) and "keys" in value:
        keys = value["keys"]
        if not isinstance(keys, list):
            raise InputError("the JWKS's 'keys' member is not an array", hint='write {"keys": [ {JWK}, ... ]}')
        return FoundInput("jwks", "JWKS", encoding, _jwks(keys))
    if isinstance(value, dict):
        if "kty" not in value:
            raise InputError("the JSON object has neither 'kty' (a JWK) nor 'keys' (a JWKS)", hint=_WHAT_WE_READ)
        key = FoundKey(_jwk(value, "the JWK"), from_pem=False)
        return FoundInput("jwk", "private JWK" if key.private else "public JWK", encoding, (key,))
    if isinstance(value, list):
        return FoundInput("jwk-array", "JSON array of JWKs (no 'keys' wrapper)", encoding, _jwks(value))
    raise InputError(f"the JSON is a {type(value).__name__}, not a JWK or JWKS", hint=_WHAT_WE_READ)


def _jwks(items: list[Any]) -> tuple[FoundKey, ...]:
    return tuple(FoundKey(_jwk(item, f"keys[{index}]"), from_pem=False) for index, item in enumerate(items))


def _jwk(item: object, where: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise InputError(f"{where} is not a JSON object", hint="each key must be a JWK object")
    return item


def _read_pem(text: str, data: bytes, passphrase: PassphraseCallback | None) -> FoundInput:
    label = pem_label(text)
    if label not in _PEM_KINDS:
        raise InputError(f"PEM block '{label}' is not a key", hint=_WHAT_WE_READ)
    if text.count("-----BEGIN ") > 1:
        raise InputError("the PEM input holds more than one block", hint="give one key per file")
    code, kind = _PEM_KINDS[label]
    if "-----END " not in text:
        raise InputError(f"the {kind} is truncated (no END line)", hint="copy the whole PEM block")
    if code in ("pem-public", "pem-rsa-public"):
        return FoundInput(code, kind, "pem", (FoundKey(public_key_to_jwk(load_pem_public(data)), from_pem=True),))
    if code == "pem-certificate":
        from cryptography import x509

        try:
            cert = x509.load_pem_x509_certificate(data)
        except ValueError as exc:
            raise KeyMaterialError(f"cannot read the certificate: {exc}") from exc
        key = public_key_to_jwk(cert.public_key())  # type: ignore[arg-type]
        return FoundInput(code, kind, "pem", (FoundKey(key, from_pem=True),))
    encrypted = "ENCRYPTED" in label or "Proc-Type: 4,ENCRYPTED" in text
    if encrypted and passphrase is None:
        return FoundInput(code, kind, "pem", (), locked=True)
    private = load_pem_private(data, passphrase)
    if encrypted and code == "pem-private-pkcs1":
        kind = "PEM RSA private key (PKCS#1, legacy encryption)"
    return FoundInput(code, kind, "pem", (FoundKey(private_key_to_jwk(private), from_pem=True),))
