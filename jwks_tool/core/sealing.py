"""Private keys at rest: sealed as JWE (RFC 7516) under a key derived once per command from the passphrase.

    >>> from jwks_tool.core.sealing import new_passphrase_protection, open_protection
    >>> protection, _ = new_passphrase_protection("correct horse battery staple", iterations=1000)
    >>> sealer = open_protection(protection, lambda confirm: "correct horse battery staple")
    >>> sealed = sealer.seal({"kty": "oct", "k": "AA"}, context={"set": "acme/test", "kid": "k1"})
    >>> sealer.unseal(sealed, context={"set": "acme/test", "kid": "k1"})
    {'kty': 'oct', 'k': 'AA'}

The scheme ``pbkdf2-a256kw``: PBKDF2-HMAC-SHA256 (600,000 rounds by default, the count recorded in the store) turns
the passphrase and the store's random salt into a 256-bit key-encryption key, once per command. Each private JWK is
then a compact JWE with ``alg: A256KW, enc: A256GCM`` (a fresh content key per key file) whose protected header names
the set and kid, so a sealed key moved to another set or kid fails to open. Any JOSE library can open it given the
derived key, so the format does not lock anyone in. jwcrypto's own PBES2 would run the KDF per key and refuses more
than 16,384 rounds, hence the derivation here.

The ``plaintext`` scheme stores JWKs unencrypted; a store only uses it after an explicit opt-in that is recorded.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from jwks_tool.core.b64 import b64url_decode, b64url_encode
from jwks_tool.errors import JwksToolError, PassphraseError, StoreCorruptError

PBKDF2_ITERATIONS = 600_000
"""OWASP's figure for PBKDF2-HMAC-SHA256, as smallstep's step CLI uses; about 70 ms here."""
MIN_ITERATIONS = 1_000
MAX_ITERATIONS = 10_000_000
"""More rounds than any store of ours records (about 1.2 s here): a larger count read from a store is damage, not a
setting to spend minutes on."""
SCHEME_PASSPHRASE = "pbkdf2-a256kw"
SCHEME_PLAINTEXT = "plaintext"
_CHECK_PURPOSE = "passphrase-check"
_BINDING_MEMBER = "jwks-tool.protection"
"""The check value's protected header member holding the SHA-256 of the rest of the protection record."""
_RECORD_CONSTANTS = {"kdf": "PBKDF2-HMAC-SHA256", "key_wrap": "A256KW", "content_encryption": "A256GCM"}
PLAINTEXT_PREFIX = "plaintext:"

PassphraseProvider = Callable[[bool], str]
"""Returns the store passphrase; the flag asks for confirmation (typing it twice) because a new store is made."""


class Sealer(Protocol):
    """Seals and opens private JWKs for one store."""

    @property
    def authenticated(self) -> bool:
        """Whether unsealed keys are integrity-protected (so the costly key check may be skipped)."""
        ...

    def prepare(self) -> None:
        """Start any costly set-up (the KDF) in the background."""

    def verify(self) -> None:
        """Finish the set-up and check the passphrase now: raises before any key is made or written."""

    def seal(self, private_jwk: Mapping[str, Any], *, context: Mapping[str, str]) -> str:
        """The private JWK sealed for the store, bound to ``context`` (set, environment, kid, ...)."""
        ...

    def unseal(self, sealed: str, *, context: Mapping[str, str]) -> dict[str, Any]:
        """The private JWK that :meth:`seal` sealed with the same ``context``; StoreCorruptError if it does not open."""
        ...


def derive_kek(passphrase: str, salt: bytes, iterations: int) -> bytes:
    """The 32-byte key-encryption key: PBKDF2-HMAC-SHA256 of the passphrase with ``salt`` and ``iterations``."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

    return PBKDF2HMAC(hashes.SHA256(), 32, salt, iterations).derive(passphrase.encode("utf-8"))


def _check_passphrase(passphrase: str) -> None:
    if not passphrase:
        raise PassphraseError("the passphrase is empty", hint="set JWKS_TOOL_PASSPHRASE or pass --passphrase-file")


def new_passphrase_protection(
    passphrase: str, *, iterations: int = PBKDF2_ITERATIONS
) -> tuple[dict[str, Any], PassphraseSealer]:
    """A fresh ``protection`` record for a new store (salt, KDF parameters, a passphrase check value), and a
    sealer for it with the key already derived."""
    _check_passphrase(passphrase)
    salt = os.urandom(16)
    sealer = PassphraseSealer(salt=salt, iterations=iterations, passphrase=lambda _confirm: passphrase)
    record: dict[str, Any] = {
        "scheme": SCHEME_PASSPHRASE,
        "iterations": iterations,
        "salt": b64url_encode(salt),
        **_RECORD_CONSTANTS,
    }
    context = {"purpose": _CHECK_PURPOSE, "protection": protection_digest(record)}
    record["check"] = sealer.seal({"check": True}, context=context)
    return record, sealer


def protection_digest(protection: Mapping[str, Any]) -> str:
    """SHA-256 (base64url) of the canonical JSON of a protection record without its check value: the check value's
    protected header carries it, so an edit of any member (salt, rounds, scheme, ...) is found before the KDF runs,
    and the header itself cannot be changed without the key-encryption key (AES-GCM authenticates it)."""
    import hashlib

    rest = {name: value for name, value in protection.items() if name != "check"}
    canonical = json.dumps(rest, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return b64url_encode(hashlib.sha256(canonical.encode("utf-8")).digest())


def new_plaintext_protection(opted_in_at: str, by: str) -> dict[str, Any]:
    """The ``protection`` record of a store whose user opted out of encryption (when and by whom)."""
    return {"scheme": SCHEME_PLAINTEXT, "opted_in_at": opted_in_at, "opted_in_by": by}


def open_protection(protection: Mapping[str, Any], passphrase: PassphraseProvider) -> Sealer:
    """The sealer for a store's recorded protection; the passphrase is asked for only when a key is sealed/opened."""
    scheme = protection.get("scheme")
    if scheme == SCHEME_PLAINTEXT:
        return PlaintextSealer()
    if scheme == SCHEME_PASSPHRASE:
        restore = "restore store.json (or the store's configuration) from a backup"
        try:
            salt = b64url_decode(str(protection["salt"]))
            iterations = protection["iterations"]
            check = protection["check"]
        except (KeyError, ValueError, TypeError) as exc:
            raise StoreCorruptError(f"the store's protection record is damaged: {exc!r}", hint=restore) from exc
        if not isinstance(iterations, int) or isinstance(iterations, bool) or not isinstance(check, str):
            raise StoreCorruptError("the store's protection record is damaged (rounds or check value)", hint=restore)
        if iterations > MAX_ITERATIONS:
            raise StoreCorruptError(
                f"the store's protection record asks for {iterations:,} KDF rounds, more than the {MAX_ITERATIONS:,} "
                "jwks-tool accepts: it is damaged or was changed",
                hint=restore,
            )
        if iterations < MIN_ITERATIONS or len(salt) < 16:
            raise StoreCorruptError("the store's protection record has a weak KDF setting", hint=restore)
        for name, value in _RECORD_CONSTANTS.items():
            if protection.get(name, value) != value:
                raise StoreCorruptError(
                    f"the store's protection record names {name} {protection.get(name)!r}, not {value}", hint=restore
                )
        header = _check_header(check)
        bound = header.get(_BINDING_MEMBER)
        if bound is not None and bound != protection_digest(protection):
            raise StoreCorruptError(
                "the store's protection record was changed since the store was made (it no longer matches its check "
                "value)",
                hint=restore,
            )
        return PassphraseSealer(salt=salt, iterations=iterations, passphrase=passphrase, check=check)
    raise StoreCorruptError(f"the store uses protection scheme {scheme!r}, which this jwks-tool does not know")


def _check_header(check: str) -> dict[str, Any]:
    """The protected header of a check value, after its shape is checked: a compact JWE, A256KW + A256GCM, with a
    wrapped 256-bit key, a 96-bit IV and a 128-bit tag. Anything else is damage; a check value of the right shape that
    does not open is a wrong passphrase."""
    damaged = StoreCorruptError(
        "the store's passphrase check value is damaged (not a JWE of the expected shape)",
        hint="restore store.json (or the store's configuration) from a backup",
    )
    parts = check.split(".")
    if len(parts) != 5:
        raise damaged
    try:
        header = json.loads(b64url_decode(parts[0]))
        wrapped, iv, ciphertext, tag = (b64url_decode(part) for part in parts[1:])
    except (ValueError, UnicodeDecodeError):
        raise damaged from None
    if (
        not isinstance(header, dict)
        or header.get("alg") != "A256KW"
        or header.get("enc") != "A256GCM"
        or header.get("jwks-tool.purpose") != _CHECK_PURPOSE
        or len(wrapped) != 40
        or len(iv) != 12
        or len(tag) != 16
        or not ciphertext
    ):
        raise damaged
    return header


def _unwraps(kek: bytes, check: str) -> bool:
    """Whether the key-encryption key unwraps the check value's content key (RFC 3394's integrity check): false
    means a wrong passphrase; the shape was checked when the store was opened (:func:`_check_header`)."""
    from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap

    try:
        aes_key_unwrap(kek, b64url_decode(check.split(".")[1]))
    except InvalidUnwrap:
        return False
    return True


class PlaintextSealer:
    """No encryption: chosen explicitly and recorded in the store."""

    authenticated = False

    def prepare(self) -> None:
        """Nothing to set up."""
        return None

    def verify(self) -> None:
        """Nothing to check: there is no passphrase."""
        return None

    def seal(self, private_jwk: Mapping[str, Any], *, context: Mapping[str, str]) -> str:
        """``plaintext:`` and the compact JSON of the private JWK: not encrypted, ``context`` not bound."""
        return PLAINTEXT_PREFIX + json.dumps(dict(private_jwk), separators=(",", ":"))

    def unseal(self, sealed: str, *, context: Mapping[str, str]) -> dict[str, Any]:
        """The private JWK of a ``plaintext:`` value; StoreCorruptError for a sealed or malformed one."""
        if not sealed.startswith(PLAINTEXT_PREFIX):
            raise StoreCorruptError("a key is sealed, but the store is marked plaintext")
        try:
            value = json.loads(sealed[len(PLAINTEXT_PREFIX) :])
        except json.JSONDecodeError as exc:
            raise StoreCorruptError("a plaintext key in the store is not JSON") from exc
        if not isinstance(value, dict):
            raise StoreCorruptError("a plaintext key in the store is not a JWK")
        return value


class PassphraseSealer:
    """JWE A256KW + A256GCM under a PBKDF2-derived key; the derivation runs once, optionally in the background.

    The passphrase is checked against the store's check value once, under a lock, before any key is sealed or opened:
    every thread waits for that one check. A failed check is final: this sealer then refuses every call.
    """

    authenticated = True

    def __init__(
        self, *, salt: bytes, iterations: int, passphrase: PassphraseProvider, check: str | None = None
    ) -> None:
        self._salt = salt
        self._iterations = iterations
        self._passphrase = passphrase
        self._check = check
        self._kek: bytes | None = None
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._key_lock = threading.Lock()
        self._jwk: Any = None
        self._failed: JwksToolError | None = None

    def __repr__(self) -> str:
        return f"PassphraseSealer(iterations={self._iterations})"

    def prepare(self) -> None:
        """Ask for the passphrase now and derive the key in a thread while the caller does other work."""
        with self._lock:
            if self._failed is not None:
                raise self._failure()
            if self._kek is not None or self._thread is not None:
                return
            secret = self._passphrase(False)
            _check_passphrase(secret)

            def work() -> None:
                try:
                    self._kek = derive_kek(secret, self._salt, self._iterations)
                except BaseException as exc:  # handed to the caller in _key()
                    self._error = exc

            self._thread = threading.Thread(target=work, name="jwks-tool-kdf", daemon=True)
            self._thread.start()

    def verify(self) -> None:
        """Wait for the key and check the passphrase now (PassphraseError if it is wrong)."""
        self._key()

    def _failure(self) -> JwksToolError:
        failed = self._failed
        assert failed is not None
        return type(failed)(failed.message, hint=failed.hint)

    def _key(self) -> Any:
        with self._key_lock:  # one check for every thread; the others wait for its outcome
            if self._failed is not None:
                raise self._failure()
            if self._jwk is not None:
                return self._jwk
            from jwcrypto import jwk

            self.prepare()
            thread = self._thread
            assert thread is not None
            thread.join()
            if self._error is not None:
                raise self._error
            assert self._kek is not None
            key = jwk.JWK(kty="oct", k=b64url_encode(self._kek))
            if self._check is not None:
                if not _unwraps(self._kek, self._check):  # AES key wrap's own integrity check: the wrong key
                    self._kek = None
                    self._failed = PassphraseError(
                        "wrong passphrase for this store",
                        hint="check JWKS_TOOL_PASSPHRASE or the file given to --passphrase-file",
                    )
                    raise self._failure() from None
                try:  # the right key: a check value that does not open now (GCM tag, content) is damaged
                    self._open(key, self._check, {"purpose": _CHECK_PURPOSE})
                except (PassphraseError, StoreCorruptError) as exc:
                    self._kek = None
                    reason = "its content does not authenticate" if isinstance(exc, PassphraseError) else exc.message
                    self._failed = StoreCorruptError(
                        f"the store's passphrase check value is damaged ({reason})",
                        hint="restore store.json (or the store's configuration) from a backup",
                    )
                    raise self._failure() from None
            self._jwk = key
            return key

    def seal(self, private_jwk: Mapping[str, Any], *, context: Mapping[str, str]) -> str:
        """A compact JWE (A256KW, A256GCM) of the private JWK; ``context`` goes into its authenticated header."""
        from jwcrypto import jwe

        header = {
            "alg": "A256KW",
            "enc": "A256GCM",
            "cty": "jwk+json",
            **{f"jwks-tool.{k}": v for k, v in context.items()},
        }
        token = jwe.JWE(json.dumps(dict(private_jwk), separators=(",", ":")).encode("utf-8"), json.dumps(header))
        token.add_recipient(self._key())
        return str(token.serialize(compact=True))

    def unseal(self, sealed: str, *, context: Mapping[str, str]) -> dict[str, Any]:
        """The private JWK; StoreCorruptError if it does not open or its header does not match ``context``."""
        key = self._key()  # the passphrase check has passed: a key that does not open now is damaged
        try:
            return self._open(key, sealed, context)
        except PassphraseError as exc:
            raise StoreCorruptError(
                f"the sealed key {context.get('kid', '')!r} does not open: damaged or from another store"
            ) from exc

    @staticmethod
    def _open(key: Any, sealed: str, context: Mapping[str, str]) -> dict[str, Any]:
        from jwcrypto import jwe
        from jwcrypto.common import JWException

        token = jwe.JWE()
        try:
            token.deserialize(sealed, key=key)
        except JWException as exc:
            raise PassphraseError("a sealed key does not open with this passphrase") from exc
        except ValueError as exc:
            raise StoreCorruptError(f"a sealed key is damaged: {exc}") from exc
        header = json.loads(token.objects["protected"])
        for name, value in context.items():
            if header.get(f"jwks-tool.{name}") != value:
                raise StoreCorruptError(f"a sealed key belongs to another {name} ({header.get(f'jwks-tool.{name}')!r})")
        value = json.loads(token.payload)
        if not isinstance(value, dict):
            raise StoreCorruptError("a sealed key is not a JWK")
        return value
