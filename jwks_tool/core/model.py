"""The data model: key sets, keys, their states and history — plain data, no cryptography.

    >>> from jwks_tool.core.model import SetRef, Env
    >>> SetRef.parse("acme", "prod")
    SetRef(name='acme', env=<Env.PROD: 'prod'>)

A :class:`KeySet` is what a store keeps for one client in one environment: its keys with their public JWKs, their
sealed private halves (opaque strings; see :mod:`jwks_tool.core.sealing`), states and timestamps. Documents are
versioned (``schema``) and carry a ``revision`` that a store uses to detect concurrent writers.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, NewType

from jwks_tool.core.b64 import b64url_decode, b64url_encode
from jwks_tool.core.sealing import PLAINTEXT_PREFIX
from jwks_tool.errors import InputError, KeyMaterialError, StoreCorruptError, StoreVersionError

Kid = NewType("Kid", str)
"""A JWK key id."""
Thumbprint = NewType("Thumbprint", str)
"""An RFC 7638 SHA-256 thumbprint, base64url without padding."""
B64Jwk = NewType("B64Jwk", str)
"""Standard base64 of the compact UTF-8 JSON of one JWK (Altinn's ``EncodedJwk`` / ``JwkBase64``)."""

SET_SCHEMA = 1
"""Version of the key set document this jwks-tool writes and reads."""

SET_NAME_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,62}\Z")
r"""A key set name (validate with ``fullmatch``; ``\Z``, unlike ``$``, refuses a trailing newline)."""
KID_RE = re.compile(r"\A[A-Za-z0-9._-]+\Z")
_B64URL_RE = re.compile(r"\A[A-Za-z0-9_-]+\Z")

PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
"""JWK members that hold private or secret material (RFC 7518)."""

RSA_ALGS = ("RS256", "RS384", "RS512")
EC_CURVE_ALGS = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}
EC_CURVE_BITS = {"P-256": 256, "P-384": 384, "P-521": 521}
MIN_RSA_BITS = 2048
PROFILE_KEY_TYPES: Mapping[str, frozenset[str]] = {
    "maskinporten": frozenset({"RSA"}),
    "generic": frozenset({"RSA", "EC"}),
}
"""The profiles (see :mod:`jwks_tool.core.profiles`) and the key types each takes: a stored set names one of them."""
_FOREIGN_MEMBERS = ("x5c", "x5u", "jku")
"""JWK members a stored public key never has: they would point a verifier at other keys or certificates."""


try:  # CPython's built-in SHA-256: hashlib would load OpenSSL (about 2 ms) on every `list`, which checks thumbprints
    from _sha2 import sha256 as _sha256  # type: ignore[import-not-found,unused-ignore]  # Python 3.12+
except ImportError:  # pragma: no cover - by version
    try:
        from _sha256 import sha256 as _sha256  # type: ignore[import-not-found,unused-ignore]  # Python 3.11
    except ImportError:  # builds without the built-in hashes (FIPS): hashlib's
        from hashlib import sha256 as _sha256


_THUMBPRINT_MEMBERS = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y")}


def thumbprint(jwk: Mapping[str, Any]) -> Thumbprint:
    """The RFC 7638 SHA-256 thumbprint of a JWK (public or private), base64url."""
    kty = jwk.get("kty")
    if not isinstance(kty, str) or kty not in _THUMBPRINT_MEMBERS:
        raise KeyMaterialError(f"cannot take the thumbprint of kty {kty!r}")
    try:
        members = {name: jwk[name] for name in _THUMBPRINT_MEMBERS[str(kty)]}
    except KeyError as exc:
        raise KeyMaterialError(f"the JWK lacks the member {exc.args[0]!r}") from exc
    if not all(isinstance(value, str) for value in members.values()):
        raise KeyMaterialError("the JWK's key members are not all strings")
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return Thumbprint(b64url_encode(_sha256(canonical.encode("utf-8")).digest()))


class Env(StrEnum):
    """A Maskinporten environment; test and prod keys are separate sets."""

    TEST = "test"
    PROD = "prod"


class KeyState(StrEnum):
    """Where a key is in its life (see the rotation lifecycle)."""

    NEXT = "next"
    ACTIVE = "active"
    RETIRING = "retiring"
    RETIRED = "retired"
    REVOKED = "revoked"

    @property
    def registered(self) -> bool:
        """Whether a key in this state belongs in the set registered with the authorization server."""
        return self in (KeyState.NEXT, KeyState.ACTIVE, KeyState.RETIRING)


class Origin(StrEnum):
    """How a key came into the store."""

    GENERATED = "generated"
    IMPORTED = "imported"


def utcnow() -> datetime:
    """Now, in UTC, to the second."""
    return datetime.now(UTC).replace(microsecond=0)


def format_time(value: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``: the one time format in documents and JSON output."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


MAX_COUNT = 2**63 - 1
"""The largest revision or key size a stored record may hold (what any JSON reader can keep as an integer)."""


def stored_count(value: object, what: str) -> int:
    """A whole number >= 0 read from a stored document (a revision, a key size): an ``int``, never a bool, a float
    (``1e400`` parses as infinity), a string or a negative number; StoreCorruptError otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise StoreCorruptError(f"{what} is not a whole number: {_shown(value)}")
    if not 0 <= value <= MAX_COUNT:
        raise StoreCorruptError(f"{what} is out of range: {_shown(value)}")
    return value


def stored_text(value: object, what: str) -> str:
    """A string read from a stored document; StoreCorruptError for any other JSON type."""
    if not isinstance(value, str):
        raise StoreCorruptError(f"{what} is not a string: {_shown(value)}")
    return value


def _shown(value: object) -> str:
    """A stored value named in an error: its JSON spelling (a bool as ``true``), cut short."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def parse_time(value: object, what: str) -> datetime:
    """Parse a time written by :func:`format_time`."""
    if not isinstance(value, str):
        raise StoreCorruptError(f"{what} is not a time string")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise StoreCorruptError(f"{what} is not a valid time: {value!r}") from exc
    if parsed.tzinfo is None:
        raise StoreCorruptError(f"{what} has no time zone: {value!r}")
    return parsed.astimezone(UTC)


@dataclasses.dataclass(frozen=True, order=True)
class SetRef:
    """Names one key set: a client name and an environment."""

    name: str
    env: Env

    @classmethod
    def parse(cls, name: str, env: str | Env = Env.TEST) -> SetRef:
        """Validate a set name and environment given by a user."""
        if not isinstance(name, str) or not SET_NAME_RE.fullmatch(name):
            raise InputError(
                f"invalid key set name {name!r}",
                hint="use 1-63 characters of A-Z a-z 0-9 . _ -, starting with a letter or digit",
            )
        try:
            return cls(name, Env(env))
        except ValueError as exc:
            raise InputError(f"invalid environment {env!r}", hint="use test or prod") from exc

    def __str__(self) -> str:
        return f"{self.name} ({self.env.value})"


@dataclasses.dataclass(frozen=True)
class Transition:
    """One change of a key's state, kept forever in the key's history."""

    at: datetime
    from_state: KeyState | None
    to_state: KeyState
    reason: str
    by: str | None = None
    """``user@host`` of the writer (stamped when the change is stored; None in documents older than this field)."""
    command: str | None = None
    """The command that made the change."""
    revision: int | None = None
    """The set revision the change was stored in: with ``by`` and ``command``, the change's whole audit event."""

    def to_dict(self) -> dict[str, Any]:
        """The transition as stored in a key set document (``by``, ``command``, ``revision`` only when stamped)."""
        data: dict[str, Any] = {
            "at": format_time(self.at),
            "from": None if self.from_state is None else self.from_state.value,
            "to": self.to_state.value,
            "reason": self.reason,
        }
        if self.by is not None:
            data |= {"by": self.by, "command": self.command, "revision": self.revision}
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Transition:
        """Read a stored transition; StoreCorruptError if a member is missing or invalid."""
        try:
            from_state = None if data.get("from") is None else KeyState(data["from"])
            return cls(
                parse_time(data.get("at"), "transition time"),
                from_state,
                KeyState(data["to"]),
                stored_text(data["reason"], "reason"),
                None if data.get("by") is None else stored_text(data["by"], "by"),
                None if data.get("command") is None else stored_text(data["command"], "command"),
                None if data.get("revision") is None else stored_count(data["revision"], "revision"),
            )
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            raise StoreCorruptError(f"bad state transition record: {exc}") from exc


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class KeyRecord:
    """One key of a set: metadata, public JWK and (sealed, opaque) private half.

    Its repr shows the kid and thumbprint only, never key material.
    """

    kid: Kid
    kty: str
    alg: str
    size: int
    """RSA modulus bits, or the EC curve's bits."""
    crv: str | None
    thumbprint: Thumbprint
    created: datetime
    expires: datetime
    state: KeyState
    origin: Origin
    public_jwk: Mapping[str, Any]
    sealed_private: str | None
    """The private JWK sealed by the store's protection, or ``None`` once destroyed."""
    history: tuple[Transition, ...] = ()
    vault_key: str | None = None
    """For keys made inside Azure Key Vault: the key's id (URL with version); the private half never leaves it."""

    def __repr__(self) -> str:
        return f"KeyRecord(kid={self.kid!r}, thumbprint={self.thumbprint!r})"

    __str__ = __repr__

    def with_state(self, state: KeyState, reason: str, at: datetime | None = None) -> KeyRecord:
        """A copy in another state, the change recorded in its history."""
        moment = at or utcnow()
        step = Transition(moment, self.state, state, reason)
        return dataclasses.replace(self, state=state, history=(*self.history, step))

    def describe(self) -> str:
        """``RSA 3072`` or ``EC P-256``."""
        return f"EC {self.crv}" if self.kty == "EC" else f"{self.kty} {self.size}"

    def vault_location(self) -> tuple[str, str] | None:
        """For a key inside Azure Key Vault: (the vault's URL, the key's name), read from :attr:`vault_key`
        (``https://v.vault.azure.net/keys/NAME/VERSION``); None for a key whose private half is (or was) here."""
        if self.vault_key is None:
            return None
        match = re.fullmatch(r"(https://[^/?#]+/)keys/([0-9A-Za-z-]+)(?:/[0-9A-Za-z]*)?", self.vault_key)
        return ("", self.vault_key) if match is None else (match.group(1), match.group(2))

    def private_where(self) -> str:
        """Where the private half is: ``key-vault`` (inside Azure Key Vault, it never leaves it), ``sealed`` (in the
        store, under its passphrase), ``plaintext`` (in the store, unencrypted by opt-in) or ``destroyed``."""
        if self.vault_key is not None:
            return "key-vault"
        if self.sealed_private is None:
            return "destroyed"
        return "plaintext" if self.sealed_private.startswith(PLAINTEXT_PREFIX) else "sealed"

    def to_dict(self) -> dict[str, Any]:
        """The key record as stored in a key set document (``vault_key`` only for a key inside a vault)."""
        return {
            "kid": self.kid,
            "kty": self.kty,
            "alg": self.alg,
            "size": self.size,
            "crv": self.crv,
            "thumbprint": self.thumbprint,
            "created": format_time(self.created),
            "expires": format_time(self.expires),
            "state": self.state.value,
            "origin": self.origin.value,
            "public_jwk": dict(self.public_jwk),
            "sealed_private": self.sealed_private,
            "history": [step.to_dict() for step in self.history],
        } | ({"vault_key": self.vault_key} if self.vault_key else {})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> KeyRecord:
        """Read and check a stored key record; StoreCorruptError if it is malformed or its public JWK is not public."""
        try:
            public = data["public_jwk"]
            if not isinstance(public, dict) or any(member in public for member in PRIVATE_MEMBERS):
                raise StoreCorruptError(f"key {data.get('kid')!r}: public_jwk is not a public JWK")
            sealed = data.get("sealed_private")
            if sealed is not None and not isinstance(sealed, str):
                raise StoreCorruptError(f"key {data.get('kid')!r}: sealed_private is not a string")
            kid = data["kid"]
            if not isinstance(kid, str) or not KID_RE.fullmatch(kid) or len(kid) > 255:
                raise StoreCorruptError(f"a key record has an invalid kid {kid!r}")
            if public.get("kid", kid) != kid:
                raise StoreCorruptError(f"key {kid!r}: its public JWK names the kid {public.get('kid')!r}")
            _check_thumbprint(kid, public, data["thumbprint"])
            record = cls(
                kid=Kid(kid),
                kty=stored_text(data["kty"], f"key {kid!r}: kty"),
                alg=stored_text(data["alg"], f"key {kid!r}: alg"),
                size=stored_count(data["size"], f"key {kid!r}: size"),
                crv=None if data.get("crv") is None else stored_text(data["crv"], f"key {kid!r}: crv"),
                thumbprint=Thumbprint(str(data["thumbprint"])),
                created=parse_time(data["created"], "created"),
                expires=parse_time(data["expires"], "expires"),
                state=KeyState(data["state"]),
                origin=Origin(data["origin"]),
                public_jwk=public,
                sealed_private=sealed,
                history=tuple(Transition.from_dict(step) for step in data.get("history", [])),
                vault_key=None if data.get("vault_key") is None else stored_text(data["vault_key"], "vault_key"),
            )
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            raise StoreCorruptError(f"bad key record: {exc!r}") from exc
        _check_record(record)
        return record


def _check_thumbprint(kid: str, public: Mapping[str, Any], recorded: object) -> None:
    """A stored public JWK must still be the key its RFC 7638 thumbprint was taken of (json and SHA-256 only)."""
    try:
        actual = thumbprint(public)
    except InputError as exc:
        raise StoreCorruptError(f"key {kid!r}: its public JWK is damaged ({exc.message})") from exc
    if actual != recorded:
        raise StoreCorruptError(
            f"key {kid!r}: its public JWK does not match its thumbprint (the set file was damaged or changed)",
            hint="restore the set from a backup",
        )


def _check_record(record: KeyRecord) -> None:
    """A stored key's record must say what its public JWK is, and the JWK be a plain signing key: the thumbprint
    covers the key members only, so a writer of the set file could otherwise swap in a weak key with ``use: enc`` and
    leave ``size: 2048``, or add ``x5u``. Plain string work, no cryptography (``list`` and ``show`` run it)."""
    public = record.public_jwk

    def bad(what: str) -> StoreCorruptError:
        return StoreCorruptError(
            f"key {record.kid!r}: {what} (the set file was damaged or changed)", hint="restore the set from a backup"
        )

    if public.get("kty") != record.kty:
        raise bad(f"its public JWK is kty {public.get('kty')!r}, its record says {record.kty!r}")
    if record.kty == "RSA":
        if record.crv is not None or "crv" in public:
            raise bad("an RSA key names a curve")
        if record.alg not in RSA_ALGS:
            raise bad(f"alg {record.alg!r} is not an RSA signing algorithm")
        bits = modulus_bits(public.get("n"))
        if bits != record.size:
            raise bad(f"its modulus has {bits} bits, its record says {record.size}")
        if bits < MIN_RSA_BITS:
            raise bad(f"RSA {bits} is too weak (at least {MIN_RSA_BITS} bits)")
    elif record.kty == "EC":
        if public.get("crv") != record.crv or record.crv not in EC_CURVE_ALGS:
            raise bad(f"its public JWK is on curve {public.get('crv')!r}, its record says {record.crv!r}")
        if record.alg != EC_CURVE_ALGS[record.crv] or record.size != EC_CURVE_BITS[record.crv]:
            raise bad(f"alg {record.alg!r} or size {record.size} does not fit curve {record.crv}")
    else:
        raise bad(f"kty {record.kty!r} is not RSA or EC")
    if "alg" in public and public["alg"] != record.alg:
        raise bad(f"its public JWK is alg {public['alg']!r}, its record says {record.alg!r}")
    if public.get("use", "sig") != "sig":
        raise bad(f"its public JWK is for use {public.get('use')!r}, not sig")
    if "key_ops" in public and public["key_ops"] != ["verify"]:
        raise bad(f"its public JWK has key_ops {public['key_ops']!r}")
    foreign = [member for member in _FOREIGN_MEMBERS if member in public]
    if foreign:
        raise bad(f"its public JWK has {', '.join(foreign)}")
    if "exp" in public and public["exp"] != int(record.expires.timestamp()):
        raise bad(f"its public JWK's exp {public['exp']!r} is not its recorded expiry {format_time(record.expires)}")


def modulus_bits(n: object) -> int:
    """The bit length of an RSA modulus given as base64url (0 if it is not), from its length and first octet only:
    a leading zero octet counts as 8 bits more than the number has, so it never matches a recorded size."""
    if not isinstance(n, str) or len(n) < 2 or len(n) % 4 == 1 or not _B64URL_RE.fullmatch(n):
        return 0
    first = b64url_decode(n[:4] if len(n) >= 4 else n)[0]
    return (len(n) * 3 // 4 - 1) * 8 + first.bit_length()


def _check_sealed_binding(ref: SetRef, record: KeyRecord) -> None:
    """A sealed half's JWE header names the set and kid it was sealed for (authenticated when it is opened). Read
    here without the key: a set file copied to another name or environment is refused by every read, public ones too.
    (Not proof: a writer of the store can rewrite the header; ``doctor`` opens the key and checks it.)"""
    sealed = record.sealed_private
    if sealed is None or sealed.count(".") != 4:
        return  # destroyed, a plaintext key, or a reference to a half kept elsewhere (Key Vault)
    try:
        header = json.loads(b64url_decode(sealed[: sealed.index(".")]))
    except (ValueError, UnicodeDecodeError):
        header = None
    if not isinstance(header, dict):
        raise StoreCorruptError(f"key {record.kid!r}: its sealed half is damaged", hint="restore the set from a backup")
    expected = {"jwks-tool.set": f"{ref.name}/{ref.env.value}", "jwks-tool.kid": record.kid}
    for member, value in expected.items():
        if member in header and header[member] != value:
            raise StoreCorruptError(
                f"key {record.kid!r} in {ref}: its sealed half was sealed for {member[len('jwks-tool.') :]} "
                f"{header[member]!r}, not {value!r} (the set file was copied or changed)",
                hint="restore the set from a backup",
            )


@dataclasses.dataclass(frozen=True, eq=False)
class KeySet:
    """All keys of one client in one environment, as a store keeps them."""

    ref: SetRef
    profile: str
    keys: tuple[KeyRecord, ...] = ()
    revision: int = 0
    """Bumped by every write; a store refuses a write based on a stale revision."""
    created: datetime = dataclasses.field(default_factory=utcnow)
    updated: datetime = dataclasses.field(default_factory=utcnow)

    def key(self, kid: str) -> KeyRecord | None:
        """The key with this kid, or None."""
        return next((key for key in self.keys if key.kid == kid), None)

    @property
    def newest(self) -> KeyRecord | None:
        """The most recently created registered key (next, active or retiring); None when every key is retired or
        revoked: such a key is never offered for registration or use by default."""
        live = [key for key in self.keys if key.state.registered]
        return max(live, key=lambda key: (key.created, self.keys.index(key)), default=None)

    @property
    def active(self) -> KeyRecord | None:
        """The active key (the one that signs), or None."""
        return next((key for key in self.keys if key.state is KeyState.ACTIVE), None)

    @property
    def registered(self) -> tuple[KeyRecord, ...]:
        """The keys that must be registered with the authorization server now."""
        return tuple(key for key in self.keys if key.state.registered)

    def replace_keys(self, keys: Sequence[KeyRecord]) -> KeySet:
        """A copy of the set with these keys, its ``updated`` time now."""
        return dataclasses.replace(self, keys=tuple(keys), updated=utcnow())

    def to_dict(self) -> dict[str, Any]:
        """The set as a stored document (``format`` jwks-tool-keyset, ``schema``)."""
        return {
            "format": "jwks-tool-keyset",
            "schema": SET_SCHEMA,
            "name": self.ref.name,
            "env": self.ref.env.value,
            "profile": self.profile,
            "revision": self.revision,
            "created": format_time(self.created),
            "updated": format_time(self.updated),
            "keys": [key.to_dict() for key in self.keys],
        }

    @classmethod
    def from_dict(cls, data: object, where: str) -> KeySet:
        """Read and check a stored key set document (``where`` names it in errors): StoreCorruptError if it is not
        one or is damaged, StoreVersionError if a newer jwks-tool wrote it."""
        if not isinstance(data, dict) or data.get("format") != "jwks-tool-keyset":
            raise StoreCorruptError(f"{where} is not a jwks-tool key set")
        schema = data.get("schema")
        if not isinstance(schema, int) or isinstance(schema, bool):
            raise StoreCorruptError(f"{where} has no schema version")
        if schema > SET_SCHEMA:
            raise StoreVersionError(
                f"{where} was written by a newer jwks-tool (key set schema {schema}, this one reads {SET_SCHEMA})",
                hint="upgrade jwks-tool (pip install -U jwks-tool)",
            )
        name = data.get("name")
        if not isinstance(name, str) or not SET_NAME_RE.fullmatch(name):
            raise StoreCorruptError(f"{where} holds an invalid key set name {name!r}")
        try:
            keyset = cls(
                ref=SetRef(name, Env(data["env"])),
                profile=stored_text(data["profile"], f"{where}: profile"),
                keys=tuple(KeyRecord.from_dict(key) for key in data["keys"]),
                revision=stored_count(data["revision"], f"{where}: revision"),
                created=parse_time(data["created"], "created"),
                updated=parse_time(data["updated"], "updated"),
            )
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            raise StoreCorruptError(f"{where} is damaged: {exc!r}") from exc
        kinds = PROFILE_KEY_TYPES.get(keyset.profile)
        if kinds is None:
            raise StoreCorruptError(f"{where} names the unknown profile {keyset.profile!r}")
        for record in keyset.keys:
            if record.kty not in kinds:
                raise StoreCorruptError(
                    f"{where}: key {record.kid!r} is an {record.kty} key, which the {keyset.profile} profile does "
                    "not take (the set file was damaged or changed)",
                    hint="restore the set from a backup",
                )
            _check_sealed_binding(keyset.ref, record)
        return keyset
