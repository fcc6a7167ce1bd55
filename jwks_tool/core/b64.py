"""Strict base64 helpers for JOSE (base64url, no padding) and Altinn's standard base64.

>>> from jwks_tool.core.b64 import b64url_encode, b64url_decode
>>> b64url_encode(b"\\xfb\\xff")
'-_8'
>>> b64url_decode("-_8")
b'\\xfb\\xff'
"""

from __future__ import annotations

import base64
import binascii
import re

_B64URL_RE = re.compile(r"\A[A-Za-z0-9_-]*\Z")
_B64STD_RE = re.compile(r"\A[A-Za-z0-9+/]*={0,2}\Z")


def b64url_encode(data: bytes) -> str:
    """Encode as base64url without padding (RFC 7515, section 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode base64url without padding; raise ValueError on anything else."""
    if not _B64URL_RE.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def int_to_b64url(value: int) -> str:
    """A non-negative integer as big-endian bytes (at least one), base64url-encoded: a JWK's n, e, d, ... member."""
    return b64url_encode(value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))


def b64url_to_int(text: str) -> int:
    """The big-endian integer a base64url JWK member encodes; ValueError if it is not base64url."""
    return int.from_bytes(b64url_decode(text), "big")


def b64_decode_any(text: str) -> bytes:
    """Decode standard or URL-safe base64, padded or not, ignoring white space; ValueError otherwise."""
    compact = "".join(text.split())
    if not compact:
        raise ValueError("empty")
    if _B64URL_RE.fullmatch(compact):
        return b64url_decode(compact)
    if _B64STD_RE.fullmatch(compact) and len(compact) % 4 == 0:
        try:
            return base64.b64decode(compact, validate=True)
        except binascii.Error as exc:
            raise ValueError("not base64") from exc
    raise ValueError("not base64")
