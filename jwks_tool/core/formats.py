"""Output formats: every one an enum member with its renderer.

    >>> from jwks_tool.core.formats import PublicFormat, render_public
    >>> print(render_public([{"kty": "EC", "crv": "P-256", "x": "x", "y": "y"}], PublicFormat.JWKS_ARRAY), end="")
    [
      {
        "kty": "EC",
        "crv": "P-256",
        "x": "x",
        "y": "y"
      }
    ]

Key exports (:class:`PublicFormat`, :class:`PrivateFormat`) are documents for other programs; :func:`to_json` is the one
JSON style of every output. Reports for people (:class:`ReportFormat`) are ``text`` (Jinja2 templates, rendered by
:mod:`jwks_tool.documents.templates`) or ``json`` (stable, for machines).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any, assert_never

from jwks_tool.core import keys as keymod
from jwks_tool.core.model import KeyRecord


class PublicFormat(StrEnum):
    """The formats a public key set is exported in."""

    JWK = "jwk"
    """One public JWK."""
    JWKS = "jwks"
    """``{"keys": [...]}``: what the Maskinporten portal and API register."""
    JWKS_ARRAY = "jwks-array"
    """The bare JSON array that older portal pages wanted."""
    PEM = "pem"
    """SubjectPublicKeyInfo PEM."""


class PrivateFormat(StrEnum):
    """The formats a private key is exported in."""

    JWK = "jwk"
    """The private JWK with kid, use, alg and exp."""
    PEM = "pem"
    """PKCS#8 PEM, encrypted with a passphrase unless asked otherwise."""
    BASE64 = "base64"
    """Standard base64 of the compact JSON of one private JWK: Altinn's EncodedJwk / JwkBase64."""


class ReportFormat(StrEnum):
    """Text for people, or JSON for programs."""

    TEXT = "text"
    JSON = "json"


def to_json(value: object) -> str:
    """The one JSON style of jwks-tool output: two-space indent, UTF-8, trailing newline. Strict JSON: a non-finite
    number (``NaN``, ``Infinity``) is a ValueError, never written. Characters a terminal would act on or hide
    (control and format characters such as C1 codes and bidi overrides, lone surrogates) are written as ``\\u``
    escapes, so the document is the same data and safe to print."""
    text = json.dumps(value, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    if text.isascii():  # json.dumps escaped every ASCII control character already
        return text
    return "".join(_json_escape(char) if not char.isprintable() and char != "\n" else char for char in text)


def _json_escape(char: str) -> str:
    """One character as a JSON ``\\u`` escape (a surrogate pair above U+FFFF)."""
    code = ord(char)
    if code > 0xFFFF:
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


def render_public(jwks: Sequence[Mapping[str, Any]], fmt: PublicFormat) -> str:
    """The public keys (private members stripped) written in ``fmt``."""
    public = [keymod.public_jwk(jwk) for jwk in jwks]  # belt and braces: never a private member
    match fmt:
        case PublicFormat.JWK:
            (only,) = public
            return to_json(only)
        case PublicFormat.JWKS:
            return to_json({"keys": public})
        case PublicFormat.JWKS_ARRAY:
            return to_json(public)
        case PublicFormat.PEM:
            return "".join(keymod.public_pem(jwk) for jwk in public)
        case _:
            assert_never(fmt)


def render_private(
    record: KeyRecord,
    members: Mapping[str, Any],
    fmt: PrivateFormat,
    *,
    pem_passphrase: str | None,
    trusted: bool,
) -> str:
    """A private export; ``pem_passphrase`` None means an unencrypted PEM (the caller made sure it was asked for)."""
    exp = record.public_jwk.get("exp")
    expiry = exp if isinstance(exp, int) and not isinstance(exp, bool) else None
    match fmt:
        case PrivateFormat.JWK:
            return to_json(keymod.decorate(members, kid=record.kid, alg=record.alg, exp=expiry))
        case PrivateFormat.BASE64:
            value = keymod.altinn_private_jwk(members, kid=record.kid, alg=record.alg, exp=expiry)
            return keymod.encode_b64_jwk(value) + "\n"
        case PrivateFormat.PEM:
            key = keymod.private_key_from_jwk(members, trusted=trusted)
            return keymod.private_pem(key, pem_passphrase)
        case _:
            assert_never(fmt)
