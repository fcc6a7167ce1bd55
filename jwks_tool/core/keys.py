"""Key material: generate, convert between JWK and PEM, thumbprint, kid, and read whatever a user holds.

    >>> from jwks_tool.core.keys import generate_private_jwk, public_jwk, thumbprint
    >>> jwk = generate_private_jwk(kty="RSA", size=2048, crv=None)
    >>> sorted(public_jwk(jwk))
    ['e', 'kty', 'n']
    >>> len(thumbprint(jwk))
    43

Private JWKs travel as plain dicts inside this module and :mod:`jwks_tool.services.key_service`; they are never
logged or put in a repr. Keys read from outside get OpenSSL's full key check; keys the store wrote and authenticated
skip it.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from jwks_tool.core.b64 import b64_decode_any, b64url_decode, b64url_encode, b64url_to_int, int_to_b64url
from jwks_tool.core.model import PRIVATE_MEMBERS, B64Jwk
from jwks_tool.core.model import thumbprint as thumbprint  # re-exported: key material has its thumbprint here too
from jwks_tool.core.text import plural
from jwks_tool.errors import KeyMaterialError, PassphraseError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey, EllipticCurvePublicKey
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

    PrivateKey = RSAPrivateKey | EllipticCurvePrivateKey
    PublicKey = RSAPublicKey | EllipticCurvePublicKey

JsonDict = dict[str, Any]

RSA_PRIVATE_ORDER = ("kty", "use", "kid", "alg", "n", "e", "d", "p", "q", "dp", "dq", "qi")
"""The members of an Altinn private JWK, in the order Altinn's own tooling writes them."""
EC_PRIVATE_ORDER = ("kty", "use", "kid", "alg", "crv", "x", "y", "d")
_REQUIRED = {"RSA": ("n", "e"), "EC": ("crv", "x", "y")}
_CURVE_SIZES = {"P-256": 32, "P-384": 48, "P-521": 66}
MAX_RSA_BITS = 16384
"""The largest RSA modulus jwks-tool reads: checking a bigger key costs seconds and no server takes one."""
PEM_PBKDF2_ITERATIONS = 600_000
"""PBKDF2-SHA256 rounds for encrypted PKCS#8 exports (cryptography's default is only 2,048)."""


# ---- generating ---------------------------------------------------------------------------------------------------
def generate_private_key(*, kty: str, size: int, crv: str | None) -> PrivateKey:
    """A new RSA (e = 65537) or EC private key from OpenSSL's CSPRNG."""
    if kty == "RSA":
        from cryptography.hazmat.primitives.asymmetric import rsa

        return rsa.generate_private_key(public_exponent=65537, key_size=size)
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(_curve(crv or "P-256"))


def _curve(crv: object) -> Any:
    """The cryptography curve of a JWK ``crv`` (P-256, P-384, P-521)."""
    from cryptography.hazmat.primitives.asymmetric import ec

    curves: dict[str, ec.EllipticCurve] = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1(), "P-521": ec.SECP521R1()}
    if not isinstance(crv, str) or crv not in curves:
        raise KeyMaterialError(f"unsupported curve {crv!r}", hint="use P-256, P-384 or P-521")
    return curves[crv]


def generate_private_jwk(*, kty: str, size: int, crv: str | None) -> JsonDict:
    """A new private key (see :func:`generate_private_key`) as a bare private JWK."""
    return private_key_to_jwk(generate_private_key(kty=kty, size=size, crv=crv))


# ---- converting ---------------------------------------------------------------------------------------------------
def private_key_to_jwk(key: PrivateKey) -> JsonDict:
    """The bare private JWK (key members only) of a cryptography private key."""
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if isinstance(key, rsa.RSAPrivateKey):
        numbers = key.private_numbers()
        pub = numbers.public_numbers
        return {
            "kty": "RSA",
            "n": int_to_b64url(pub.n),
            "e": int_to_b64url(pub.e),
            "d": int_to_b64url(numbers.d),
            "p": int_to_b64url(numbers.p),
            "q": int_to_b64url(numbers.q),
            "dp": int_to_b64url(numbers.dmp1),
            "dq": int_to_b64url(numbers.dmq1),
            "qi": int_to_b64url(numbers.iqmp),
        }
    if isinstance(key, ec.EllipticCurvePrivateKey):
        crv = _curve_name(key.curve)
        size = _CURVE_SIZES[crv]
        ec_numbers = key.private_numbers()
        return {
            "kty": "EC",
            "crv": crv,
            "x": b64url_encode(ec_numbers.public_numbers.x.to_bytes(size, "big")),
            "y": b64url_encode(ec_numbers.public_numbers.y.to_bytes(size, "big")),
            "d": b64url_encode(ec_numbers.private_value.to_bytes(size, "big")),
        }
    raise KeyMaterialError(f"{type(key).__name__} keys are not supported", hint="use an RSA or EC (P-256/384/521) key")


def public_key_to_jwk(key: PublicKey) -> JsonDict:
    """The bare public JWK of a cryptography RSA or EC public key; KeyMaterialError for other kinds."""
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if isinstance(key, rsa.RSAPublicKey):
        pub = key.public_numbers()
        return {"kty": "RSA", "n": int_to_b64url(pub.n), "e": int_to_b64url(pub.e)}
    if isinstance(key, ec.EllipticCurvePublicKey):
        crv = _curve_name(key.curve)
        size = _CURVE_SIZES[crv]
        numbers = key.public_numbers()
        return {
            "kty": "EC",
            "crv": crv,
            "x": b64url_encode(numbers.x.to_bytes(size, "big")),
            "y": b64url_encode(numbers.y.to_bytes(size, "big")),
        }
    raise KeyMaterialError(f"{type(key).__name__} keys are not supported", hint="use an RSA or EC (P-256/384/521) key")


def _curve_name(curve: object) -> str:
    names = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
    name = getattr(curve, "name", "")
    if name not in names:
        raise KeyMaterialError(f"curve {name} is not supported", hint="use P-256, P-384 or P-521")
    return names[name]


def public_jwk(jwk: Mapping[str, Any]) -> JsonDict:
    """The JWK without any private member."""
    return {name: value for name, value in jwk.items() if name not in PRIVATE_MEMBERS}


def private_key_from_jwk(jwk: Mapping[str, Any], *, trusted: bool) -> PrivateKey:
    """A cryptography key from a private JWK.

    ``trusted`` skips OpenSSL's RSA key check, which costs as much as generating the key; pass it only for keys
    whose integrity jwks-tool authenticated itself (sealed in its own store).
    """
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if jwk.get("kty") == "RSA":
        check_rsa_sizes(jwk)
    try:
        if jwk.get("kty") == "RSA":
            public = rsa.RSAPublicNumbers(b64url_to_int(jwk["e"]), b64url_to_int(jwk["n"]))
            numbers = rsa.RSAPrivateNumbers(
                p=b64url_to_int(jwk["p"]),
                q=b64url_to_int(jwk["q"]),
                d=b64url_to_int(jwk["d"]),
                dmp1=b64url_to_int(jwk["dp"]),
                dmq1=b64url_to_int(jwk["dq"]),
                iqmp=b64url_to_int(jwk["qi"]),
                public_numbers=public,
            )
            return numbers.private_key(unsafe_skip_rsa_key_validation=trusted)
        if jwk.get("kty") == "EC":
            private = ec.derive_private_key(b64url_to_int(jwk["d"]), _curve(jwk.get("crv")))
            expected = public_key_to_jwk(private.public_key())
            if (expected["x"], expected["y"]) != (jwk["x"], jwk["y"]):
                raise KeyMaterialError("the EC JWK's x/y do not match its private value d")
            return private
    except KeyError as exc:
        raise KeyMaterialError(f"the private JWK lacks the member {exc.args[0]!r}") from exc
    except (ValueError, TypeError) as exc:
        raise KeyMaterialError(f"the private JWK is not a valid key: {exc}") from exc
    raise KeyMaterialError(f"kty {jwk.get('kty')!r} is not supported", hint="use an RSA or EC key")


def _too_big(bits: int) -> KeyMaterialError:
    return KeyMaterialError(
        f"the RSA key has a {bits}-bit modulus; jwks-tool takes at most {MAX_RSA_BITS} bits",
        hint="use a key of 2048 to 4096 bits",
    )


def check_rsa_sizes(jwk: Mapping[str, Any]) -> None:
    """Refuse an RSA JWK whose modulus is beyond :data:`MAX_RSA_BITS`, or whose other members are longer than the
    modulus, before any costly check (OpenSSL's key check of a 40,000-bit key takes seconds)."""
    n = jwk.get("n")
    if not isinstance(n, str):
        return  # the key check says what is missing
    try:
        bits = b64url_to_int(n).bit_length()
    except ValueError:
        return
    if bits > MAX_RSA_BITS:
        raise _too_big(bits)
    for member in ("e", "d", "p", "q", "dp", "dq", "qi"):
        value = jwk.get(member)
        if isinstance(value, str) and len(value) > len(n):
            raise KeyMaterialError(
                f"the RSA private member {member!r} is longer than the modulus; this is not an RSA key"
            )


def public_key_problems(jwk: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every reason the public half of an RSA or EC JWK is not a key, as ``(code, message)``; empty when it is one.

    Each member is checked on its own (so that every fault is named), then the key is built with cryptography, which
    also checks that an EC point lies on its curve. An RSA modulus beyond :data:`MAX_RSA_BITS` is not looked at.
    """
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    problems: list[tuple[str, str]] = []
    kty = jwk.get("kty")
    if kty == "RSA":
        n_text, e_text = jwk.get("n"), jwk.get("e")
        try:
            n = b64url_to_int(n_text) if isinstance(n_text, str) else None
        except ValueError:
            n = None
        try:
            e = b64url_to_int(e_text) if isinstance(e_text, str) else None
        except ValueError:
            problems.append(("bad-exponent", "e is not base64url"))
            e = None
        if n is None or n.bit_length() > MAX_RSA_BITS:
            return problems  # the profile's lint names a missing, unreadable or huge n
        if n % 2 == 0:
            problems.append(("even-modulus", "n is even: it is not an RSA modulus"))
        problems.extend(rsa_number_problems(jwk))
        if e is not None:
            if e < 3:
                problems.append(("bad-exponent", f"e is {e}; it must be odd and at least 3 (65537 is usual)"))
            elif e % 2 == 0:
                problems.append(("bad-exponent", "e is even; it must be odd (65537 is usual)"))
            elif e >= n:
                problems.append(("bad-exponent", "e is not smaller than n; it must be (65537 is usual)"))
        if not problems and e is not None:
            try:
                rsa.RSAPublicNumbers(e, n).public_key()
            except ValueError as exc:
                problems.append(("invalid-public-key", f"cryptography refuses the key: {exc}"))
        return problems
    if kty == "EC":
        crv = jwk.get("crv")
        if not isinstance(crv, str) or crv not in _CURVE_SIZES:
            return problems  # the profile's lint names the curve
        size = _CURVE_SIZES[crv]
        coordinates: dict[str, int] = {}
        for member in ("x", "y"):
            value = jwk.get(member)
            if not isinstance(value, str):
                problems.append(("bad-coordinate", f"{member} is missing or not a string"))
                continue
            try:
                raw = b64url_decode(value)
            except ValueError:
                problems.append(("bad-coordinate", f"{member} is not base64url"))
                continue
            if len(raw) != size:
                problems.append(
                    (
                        "bad-coordinate",
                        f"{member} is {plural(len(raw), 'byte')}; {crv} coordinates are {size} bytes (RFC 7518)",
                    )
                )
            coordinates[member] = int.from_bytes(raw, "big")
        if len(coordinates) == 2:
            try:
                ec.EllipticCurvePublicNumbers(coordinates["x"], coordinates["y"], _curve(crv)).public_key()
            except ValueError:
                problems.append(("not-on-curve", f"the point (x, y) is not on {crv}: this is not a key"))
        return problems
    return problems


_SMALL_PRIMES_BELOW = 1000


@functools.cache
def _small_odd_primes() -> int:
    """The product of the odd primes below 1,000, computed once."""
    sieve = bytearray([1]) * _SMALL_PRIMES_BELOW
    sieve[0:2] = b"\0\0"
    for i in range(2, int(_SMALL_PRIMES_BELOW**0.5) + 1):
        if sieve[i]:
            sieve[i * i :: i] = bytes(len(sieve[i * i :: i]))
    return math.prod(p for p in range(3, _SMALL_PRIMES_BELOW) if sieve[p])


def rsa_number_problems(jwk: Mapping[str, Any]) -> list[tuple[str, str]]:
    """What RFC 7518 and a sound modulus rule out beyond what cryptography checks: ``n`` and ``e`` in the minimum
    number of octets (no leading zero octet), and no prime factor below 1,000 in ``n`` (a modulus of two large primes
    has none; 2 is the even-modulus check). One gcd with the product of those primes: linear in the modulus."""
    problems: list[tuple[str, str]] = []
    for member, code in (("n", "non-minimal-modulus"), ("e", "non-minimal-exponent")):
        text = jwk.get(member)
        try:
            raw = b64url_decode(text) if isinstance(text, str) else b""
        except ValueError:
            continue
        if len(raw) > 1 and raw[0] == 0:
            problems.append(
                (code, f"{member} has a leading zero octet; RFC 7518 requires the minimum number of octets")
            )
    try:
        n = b64url_to_int(jwk["n"])
    except (KeyError, TypeError, ValueError):
        return problems
    if n % 2 and n > _SMALL_PRIMES_BELOW and math.gcd(n, _small_odd_primes()) > 1:
        factor = next(p for p in range(3, _SMALL_PRIMES_BELOW, 2) if n % p == 0)
        problems.append(("small-factor", f"n is divisible by {factor}: it is not a product of two large primes"))
    return problems


def validate_private_jwk(jwk: Mapping[str, Any]) -> JsonDict:
    """Check a private JWK from outside (full key check) and return its canonical key members."""
    if jwk.get("kty") == "RSA":
        check_rsa_sizes(jwk)
        unsafe = rsa_number_problems(jwk)
        if unsafe:
            raise KeyMaterialError(f"the RSA key is unsafe: {unsafe[0][1]}", hint="use a key generated by a sound tool")
    key = private_key_from_jwk(jwk, trusted=False)
    canonical = private_key_to_jwk(key)
    if jwk.get("kty") == "RSA" and canonical["n"] != jwk.get("n"):
        raise KeyMaterialError("the private JWK's members do not form one RSA key")
    return canonical


# ---- thumbprints and kids ---------------------------------------------------------------------------------------
_KID_SAFE = re.compile(r"[^A-Za-z0-9]")


def readable_kid(set_name: str, env: str, when: datetime, thumb: str, *, length: int = 8) -> str:
    """``acme-test-20261125-Xk3T9aQz``: the set, environment, date and a part of the thumbprint.

    The thumbprint part keeps only letters and digits so the kid stays within ``[A-Za-z0-9._-]``.
    """
    tail = _KID_SAFE.sub("", thumb)[:length]
    return f"{set_name}-{env}-{when:%Y%m%d}-{tail}"


# ---- rendering ----------------------------------------------------------------------------------------------------
def decorate(key_members: Mapping[str, Any], *, kid: str, alg: str, exp: int | None) -> JsonDict:
    """A JWK with ``kid use alg`` (and ``exp``) around its key members, in a stable order."""
    jwk: JsonDict = {"kty": key_members["kty"], "use": "sig", "kid": kid, "alg": alg}
    for name, value in key_members.items():
        jwk.setdefault(name, value)
    if exp is not None:
        jwk["exp"] = exp
    return jwk


def altinn_private_jwk(private: Mapping[str, Any], *, kid: str, alg: str) -> JsonDict:
    """Exactly the members Altinn validates, in order: ``kty use kid alg n e d p q dp dq qi`` (RSA)."""
    full = decorate(private, kid=kid, alg=alg, exp=None)
    order = RSA_PRIVATE_ORDER if full["kty"] == "RSA" else EC_PRIVATE_ORDER
    return {name: full[name] for name in order}


def compact_json(value: object) -> str:
    """JSON without white space, non-ASCII characters kept as they are (not \\u escaped)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def encode_b64_jwk(jwk: Mapping[str, Any]) -> B64Jwk:
    """Standard base64 of the compact UTF-8 JSON of one JWK, as Altinn's ``EncodedJwk``/``JwkBase64`` read it."""
    import base64

    return B64Jwk(base64.b64encode(compact_json(jwk).encode("utf-8")).decode("ascii"))


def public_pem(jwk: Mapping[str, Any]) -> str:
    """SubjectPublicKeyInfo PEM of a JWK's public half."""
    from cryptography.hazmat.primitives import serialization

    key = public_key_from_jwk(jwk)
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def public_key_from_jwk(jwk: Mapping[str, Any]) -> PublicKey:
    """The cryptography public key of an RSA or EC JWK; KeyMaterialError if its members are missing or invalid."""
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    try:
        if jwk.get("kty") == "RSA":
            return rsa.RSAPublicNumbers(b64url_to_int(jwk["e"]), b64url_to_int(jwk["n"])).public_key()
        if jwk.get("kty") == "EC":
            curve = _curve(jwk.get("crv"))
            return ec.EllipticCurvePublicNumbers(b64url_to_int(jwk["x"]), b64url_to_int(jwk["y"]), curve).public_key()
    except (KeyError, ValueError, TypeError) as exc:
        raise KeyMaterialError(f"the JWK is not a valid public key: {exc!r}") from exc
    raise KeyMaterialError(f"kty {jwk.get('kty')!r} is not supported", hint="use an RSA or EC key")


def private_pem(key: PrivateKey, passphrase: str | None) -> str:
    """PKCS#8 PEM; encrypted (PBES2: PBKDF2-HMAC-SHA256 x 600,000, AES-256-CBC) unless ``passphrase`` is None.

    cryptography can only encrypt PKCS#8 with its fixed, low PBKDF2 count, so the EncryptedPrivateKeyInfo
    (RFC 5958 / RFC 8018) is assembled here from cryptography's primitives; openssl reads it (tests/integration).
    """
    import base64
    import os

    from cryptography.hazmat.primitives import hashes, padding, serialization
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

    if passphrase is None:
        return key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
    plain = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    salt, iv = os.urandom(16), os.urandom(16)
    kek = PBKDF2HMAC(hashes.SHA256(), 32, salt, PEM_PBKDF2_ITERATIONS).derive(passphrase.encode("utf-8"))
    padder = padding.PKCS7(128).padder()
    encryptor = Cipher(algorithms.AES(kek), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(padder.update(plain) + padder.finalize()) + encryptor.finalize()
    pbkdf2_params = _der_seq(
        _der(0x04, salt),
        _der_int(PEM_PBKDF2_ITERATIONS),
        _der_seq(_der_oid("1.2.840.113549.2.9"), _der(0x05, b"")),  # hmacWithSHA256
    )
    algorithm = _der_seq(
        _der_oid("1.2.840.113549.1.5.13"),  # PBES2
        _der_seq(
            _der_seq(_der_oid("1.2.840.113549.1.5.12"), pbkdf2_params),  # PBKDF2
            _der_seq(_der_oid("2.16.840.1.101.3.4.1.42"), _der(0x04, iv)),  # aes256-CBC
        ),
    )
    der = _der_seq(algorithm, _der(0x04, ciphertext))
    body = base64.encodebytes(der).decode("ascii").replace("\n", "")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    label = "ENCRYPTED PRIVATE KEY"
    return f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n"


def _der(tag: int, content: bytes) -> bytes:
    length = len(content)
    if length < 0x80:
        return bytes([tag, length]) + content
    size = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + content


def _der_seq(*items: bytes) -> bytes:
    return _der(0x30, b"".join(items))


def _der_int(value: int) -> bytes:
    return _der(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def _der_oid(dotted: str) -> bytes:
    parts = [int(part) for part in dotted.split(".")]
    body = bytearray([40 * parts[0] + parts[1]])
    for part in parts[2:]:
        chunk = [part & 0x7F]
        part >>= 7
        while part:
            chunk.append(0x80 | (part & 0x7F))
            part >>= 7
        body.extend(reversed(chunk))
    return _der(0x06, bytes(body))


# ---- reading what a user holds ------------------------------------------------------------------------------------
PassphraseCallback = Callable[[str], str]
"""Asked for a passphrase, with a prompt naming what it is for."""

_PEM_RE = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----")


def pem_label(text: str) -> str | None:
    """The label of the first PEM block in ``text`` (``PRIVATE KEY``, ``PUBLIC KEY``, ...), or None."""
    match = _PEM_RE.search(text)
    return match.group(1) if match else None


def load_pem_private(data: bytes, passphrase: PassphraseCallback | None) -> PrivateKey:
    """Load a PKCS#1/SEC1/PKCS#8 (optionally encrypted) PEM private key, with OpenSSL's full key check."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    label = pem_label(data.decode("ascii", "replace")) or ""
    secret: bytes | None = None
    if "ENCRYPTED" in label or b"Proc-Type: 4,ENCRYPTED" in data:
        if passphrase is None:
            raise PassphraseError(
                "the PEM private key is encrypted",
                hint="give its passphrase in JWKS_TOOL_KEY_PASSPHRASE or a prompt",
            )
        secret = passphrase("passphrase of the PEM key").encode("utf-8")
    try:  # read without the RSA key check, which costs seconds for a huge key: sizes are checked first
        key = serialization.load_pem_private_key(data, password=secret, unsafe_skip_rsa_key_validation=True)
        if isinstance(key, rsa.RSAPrivateKey) and key.key_size <= MAX_RSA_BITS:
            key = key.private_numbers().private_key()  # now OpenSSL's full key check
    except TypeError as exc:
        raise KeyMaterialError(f"cannot read the PEM private key: {exc}") from exc
    except ValueError as exc:
        if secret is not None and ("password" in str(exc).lower() or "decrypt" in str(exc).lower()):
            raise PassphraseError("wrong passphrase for the encrypted PEM key") from exc
        raise KeyMaterialError(f"cannot read the PEM private key: {exc}") from exc
    except Exception as exc:  # cryptography raises UnsupportedAlgorithm and Rust-side errors here
        raise KeyMaterialError(f"cannot read the PEM private key: {exc}") from exc
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise KeyMaterialError(f"{type(key).__name__} keys are not supported", hint="use an RSA or EC key")
    if isinstance(key, rsa.RSAPrivateKey) and key.key_size > MAX_RSA_BITS:
        raise _too_big(key.key_size)  # never checked: refused
    return key


def load_pem_public(data: bytes) -> PublicKey:
    """Load a SubjectPublicKeyInfo PEM public key; KeyMaterialError unless it is an RSA or EC key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    try:
        key = serialization.load_pem_public_key(data)
    except Exception as exc:  # ValueError, UnsupportedAlgorithm
        raise KeyMaterialError(f"cannot read the PEM public key: {exc}") from exc
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise KeyMaterialError(f"{type(key).__name__} keys are not supported", hint="use an RSA or EC key")
    return key


def parse_json_text(text: str) -> object | None:
    """JSON that rejects duplicate members (a classic JOSE confusion) and NaN/Infinity (not JSON, though Python's
    reader takes them), or None when the text is not JSON at all."""

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for name, value in pairs:
            if name in seen:
                raise KeyMaterialError(f"the JSON has the member {name!r} twice", hint="remove the duplicate")
            seen[name] = value
        return seen

    def no_constants(name: str) -> Any:
        raise KeyMaterialError(f"the JSON holds {name}, which JSON does not allow", hint="write a finite number")

    def finite(number: str) -> float:
        value = float(number)
        if value in (float("inf"), float("-inf")):
            raise KeyMaterialError(f"the JSON number {number} is out of range", hint="write a finite number")
        return value

    stripped = text.strip()
    if not stripped or stripped[0] not in "{[":
        return None
    try:
        value: object = json.loads(
            stripped, object_pairs_hook=no_duplicates, parse_constant=no_constants, parse_float=finite
        )
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, and ValueError for numbers over 4,300 digits
        raise KeyMaterialError(f"the input looks like JSON but is not valid JSON: {exc}") from exc
    return value


def decode_base64_json(text: str) -> object | None:
    """The JSON inside a standard or URL-safe base64 string, or None when the text is not base64 of JSON."""
    try:
        raw = b64_decode_any(text)
    except ValueError:
        return None
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return parse_json_text(decoded)
