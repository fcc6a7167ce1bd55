"""The toolkit's operations on a store: generate, import, look up and export keys.

    >>> from jwks_tool.stores import open_store
    >>> from jwks_tool.services.key_service import KeyService, GenerateRequest
    >>> from jwks_tool.core.formats import PublicFormat
    >>> svc = KeyService(open_store("memory:"), passphrase=lambda confirm: "demo passphrase")
    >>> rec = svc.generate(GenerateRequest(name="acme", size=2048))
    >>> '"d"' in svc.export_public(svc.get_set("acme", "test"), rec.kid, PublicFormat.JWK)
    False

A :class:`KeyService` opens the store's protection lazily: read-only work (list, show, public export) never asks
for the passphrase or runs the KDF; work that seals or opens private keys asks once and derives the key once per
service, while RSA generation runs beside it. Every change is a read-modify-write of one key set under the store's
lock, checked against the revision it read.
"""

from __future__ import annotations

import dataclasses
import getpass
import socket
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from jwks_tool.core import keys as keymod
from jwks_tool.core.formats import PrivateFormat, PublicFormat, render_private, render_public
from jwks_tool.core.model import (
    EC_CURVE_ALGS,
    EC_CURVE_BITS,
    Env,
    KeyRecord,
    KeySet,
    KeyState,
    Kid,
    Origin,
    SetRef,
    Transition,
    format_time,
    utcnow,
)
from jwks_tool.core.profiles import Profile, get_profile, rsa_bits
from jwks_tool.core.sealing import (
    PassphraseProvider,
    Sealer,
    new_passphrase_protection,
    new_plaintext_protection,
    open_protection,
)
from jwks_tool.errors import (
    ConflictError,
    InputError,
    JwksToolError,
    JwksToolWarning,
    KeyMaterialError,
    NotFoundError,
    PassphraseError,
    ProfileError,
    StoreCorruptError,
    StoreError,
)
from jwks_tool.services import audit
from jwks_tool.stores import open_store
from jwks_tool.stores.interface import DamagedSet, KeyStore

if TYPE_CHECKING:  # start-up: show loads this module, and these only when a key signs or lives in a vault
    from jwks_tool.core.signing import Signer
    from jwks_tool.integrations.azure.connection import Connection
    from jwks_tool.integrations.maskinporten.client import GrantRequest

DEFAULT_LIFETIME = timedelta(days=365)
DEFAULT_PROFILE = "maskinporten"


class KidStyle(StrEnum):
    """How a new key's kid is made."""

    READABLE = "readable"
    """``<set>-<env>-<yyyymmdd>-<8 thumbprint characters>``"""
    THUMBPRINT = "thumbprint"
    """The bare RFC 7638 SHA-256 thumbprint."""


@dataclasses.dataclass(frozen=True)
class GenerateRequest:
    """What ``jwks-tool generate`` asks for."""

    name: str
    env: str = "test"
    profile: str | None = None
    kty: str = "RSA"
    size: int = 3072
    crv: str | None = None
    alg: str | None = None
    kid: str | None = None
    kid_style: KidStyle = KidStyle.READABLE
    expires_in: timedelta | None = None
    in_vault: VaultKeyOptions | None = None
    """Make the key inside Azure Key Vault (non-exportable) instead of locally."""


@dataclasses.dataclass(frozen=True)
class AzureOptions:
    """How to reach Azure Key Vault: the sign-in, a CA bundle for TLS (also used for Maskinporten), and whether the
    vault's challenge resource must be under its own domain (off for emulators and private endpoints)."""

    credential: str = "default"
    """default (DefaultAzureCredential), cli (az login), environment (AZURE_* variables) or managed-identity."""
    ca_bundle: str | None = None
    verify_challenge_resource: bool = True

    def connection(self, vault: str) -> Connection:
        """A connection to ``vault`` (https://NAME.vault.azure.net/ or the vault name) with these options."""
        # start-up: show loads this module
        from jwks_tool.integrations.azure.connection import Connection, Credential, normalise_vault_url

        return Connection(
            normalise_vault_url(vault), Credential(self.credential), self.ca_bundle, self.verify_challenge_resource
        )


@dataclasses.dataclass(frozen=True)
class SignedGrant:
    """A JWT grant signed with a key of a set: the key, the compact token and its claims."""

    record: KeyRecord
    token: str = dataclasses.field(repr=False)
    claims: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class VaultKeyOptions:
    """Where and how to make a vault-native key."""

    connection: Connection
    hsm: bool = False
    key_name: str | None = None


@dataclasses.dataclass(frozen=True)
class ImportRequest:
    """What ``jwks-tool import`` asks for; ``data`` is the raw input."""

    name: str
    data: bytes = dataclasses.field(repr=False)
    env: str = "test"
    profile: str | None = None
    kid: str | None = None
    alg: str | None = None
    kid_style: KidStyle = KidStyle.READABLE
    expires_in: timedelta | None = None
    key_passphrase: Callable[[str], str] | None = dataclasses.field(default=None, repr=False)


@dataclasses.dataclass(frozen=True)
class ImportNote:
    """Something an import changed about the key it was given (a warning for the user)."""

    code: str
    message: str
    details: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, str]:
        """The note as JSON: code, message and its details."""
        return {"code": self.code, "message": self.message, **self.details}


@dataclasses.dataclass(frozen=True)
class _Plan:
    ref: SetRef
    profile: Profile
    kty: str
    crv: str | None
    size: int
    alg: str
    lifetime: timedelta


@dataclasses.dataclass(frozen=True)
class BulkResult:
    """What a bulk generate did, set by set, in the order asked (names of sets)."""

    made: tuple[tuple[str, KeyRecord], ...]
    skipped: tuple[tuple[str, KeyRecord], ...]
    """Sets that had an active or next key already, with that key: left as they were."""
    failed: tuple[tuple[str, Exception], ...]
    not_started: tuple[str, ...]
    """Dropped after Ctrl-C or an error that concerns the whole store."""
    interrupted: bool


def _next_key(keyset: KeySet) -> KeyRecord | None:
    return next((key for key in keyset.keys if key.state is KeyState.NEXT), None)


class NextKeyWaiting(Exception):  # a signal for rotation, not an error a user sees
    """Raised by ``generate(only_if_no_next=True)`` when another writer's next key got there first."""

    def __init__(self, record: KeyRecord) -> None:
        super().__init__(record.kid)
        self.record = record


class ActiveKeyChanged(Exception):  # a signal for rotation, not an error a user sees
    """Raised by ``generate(only_if_active=KID)`` when, by the time the set is locked, its active key is no longer
    ``KID`` (another writer rotated it): a rotation decided on the older state must not make a second key."""

    def __init__(self, active: KeyRecord | None) -> None:
        super().__init__(active.kid if active is not None else "")
        self.active = active


@dataclasses.dataclass(frozen=True)
class Change:
    """One state change of one key, for the audit log."""

    record: KeyRecord
    from_state: KeyState | None
    to_state: KeyState
    reason: str


def actor() -> str:
    """``user@host`` for records of who did what. On POSIX the user is the OS account of the process (its uid's
    name, or the uid number when it has none), not $USER or $LOGNAME, which anyone can set; elsewhere getpass."""
    import os

    if hasattr(os, "getuid"):
        import pwd

        uid = os.getuid()
        try:
            user = pwd.getpwuid(uid).pw_name
        except KeyError:  # no name for this uid (containers)
            user = str(uid)
    else:  # pragma: no cover - Windows
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = "unknown"
    return f"{user}@{socket.gethostname()}"


class KeyService:
    """Operations on one store, with the store's passphrase asked for at most once."""

    def __init__(
        self,
        store: KeyStore,
        passphrase: PassphraseProvider,
        *,
        clock: Callable[[], datetime] | None = None,
        command: str = "api",
        on_warning: Callable[[str], None] | None = None,
        allow_plaintext: bool = False,
        azure: AzureOptions | None = None,
    ) -> None:
        self.store = store
        self.azure = azure or AzureOptions()
        """How vault-resident keys of this store are reached (signing, disabling, rotating)."""
        self.command = command
        """Named in audit events: the command line that asked for the change."""
        self._on_warning = on_warning or _warn
        store.lock_holder = {"user": actor(), "command": command}
        store.on_lock_wait = self._on_warning
        self._passphrase = passphrase
        self._clock = clock or (lambda: utcnow())
        self._sealer: Sealer | None = None
        self._sealer_lock = threading.RLock()
        self._write_checked = False
        self._allow_plaintext = allow_plaintext
        """Write keys unencrypted into a store that holds sealed ones (its protection record says plaintext)."""

    @classmethod
    def open(
        cls,
        store_url: str | None,
        *,
        passphrase: PassphraseProvider | str,
        azure: AzureOptions | None = None,
        command: str = "api",
        on_warning: Callable[[str], None] | None = None,
        allow_plaintext: bool = False,
        clock: Callable[[], datetime] | None = None,
    ) -> KeyService:
        """A service over the store at ``store_url`` (a folder, file:PATH, https://NAME.vault.azure.net/ or memory:;
        None: $JWKS_TOOL_STORE, else the data folder), with the store's passphrase (a provider, or the text itself)
        and how to reach the Key Vault of vault-resident keys (``azure``)."""
        provider: PassphraseProvider = (lambda confirm: passphrase) if isinstance(passphrase, str) else passphrase
        return cls(
            open_store(store_url),
            provider,
            clock=clock,
            command=command,
            on_warning=on_warning,
            allow_plaintext=allow_plaintext,
            azure=azure,
        )

    def __repr__(self) -> str:
        return f"KeyService({self.store!r})"

    def now(self) -> datetime:
        """The service's clock (UTC, whole seconds)."""
        return self._clock()

    # ---- the store's protection -------------------------------------------------------------------------------
    def init_store(self, *, plaintext: bool = False) -> dict[str, Any]:
        """Create the store explicitly; ``plaintext`` records the opt-in to unencrypted private keys."""
        if self.store.read_config() is not None:
            raise ConflictError(
                f"the store {self.store.describe()} exists already",
                hint="it is ready to use (`jwks-tool list` shows its sets); pass another --store for a new one",
            )
        secret = None if plaintext else self._passphrase(True)  # asked before anything is created
        with self.store.lock():
            if self.store.read_config() is not None:
                raise ConflictError(
                    f"the store {self.store.describe()} exists already",
                    hint="it is ready to use (`jwks-tool list` shows its sets); pass another --store for a new one",
                )
            self._create_store(plaintext=plaintext, passphrase=secret)
            return self.store.read_config() or {}

    def _create_store(self, *, plaintext: bool, passphrase: str | None = None) -> Sealer:
        created = format_time(self._clock())
        if plaintext:
            protection = new_plaintext_protection(created, actor())
            sealer: Sealer = open_protection(protection, self._passphrase)
        else:
            protection, sealer = new_passphrase_protection(passphrase or self._passphrase(True))
        self._sealer = sealer
        self.store.init_config({"created": created, "protection": protection})
        return self._sealer

    def _open_sealer(self, *, create: bool, secret: str | None = None) -> Sealer:
        """The store's sealer; ``create`` (a command that writes keys) also creates a missing store (under ``secret``
        when the passphrase was asked already) and refuses an unexpected plaintext scheme (see
        :meth:`_check_plaintext`)."""
        with self._sealer_lock:
            sealer = self._sealer or self._load_sealer(create=create, secret=secret)
            if create and not self._write_checked:
                self._check_plaintext(sealer)
                self._write_checked = True
            return sealer

    def _load_sealer(self, *, create: bool, secret: str | None = None) -> Sealer:
        config = self.store.read_config()
        if config is None:
            if not create:
                raise NotFoundError(
                    f"there is no key store at {self.store.describe()}",
                    hint="run `jwks-tool generate NAME` to create one, or pass --store",
                )
            if secret is None:
                secret = self._passphrase(True)  # asked before anything is created: a refusal leaves no trace
            with self.store.lock():
                config = self.store.read_config()
                if config is None:
                    return self._create_store(plaintext=False, passphrase=secret)
        self._sealer = open_protection(config.get("protection", {}), self._passphrase)
        return self._sealer

    def unlock(self) -> None:
        """Ask for the store's passphrase (when it has one) and check it now, on the calling thread: before a command's
        workers start, so that a prompt is on the main thread and a wrong passphrase stops it before anything is done.
        PassphraseError when it is wrong or cannot be asked for."""
        self._open_sealer(create=True).verify()

    def verify_protection(self) -> None:
        """Check the store's protection record without the passphrase (``jwks-tool check``): StoreCorruptError when
        it was edited (it no longer matches its check value, or asks for an unknown or weak KDF) or when a store that
        holds sealed keys is marked plaintext; what any write would refuse."""
        sealer = self._open_sealer(create=False)
        if not sealer.authenticated and self.store.holds_sealed_keys():
            raise self._replaced_protection()

    def _replaced_protection(self) -> StoreCorruptError:
        return StoreCorruptError(
            f"the store {self.store.describe()} is marked plaintext but holds sealed keys: its protection record "
            "was replaced",
            hint="restore store.json (or the store's configuration) from a backup; to write unencrypted keys "
            "all the same, set JWKS_TOOL_ALLOW_PLAINTEXT=1 for this command",
        )

    def _check_plaintext(self, sealer: Sealer) -> None:
        """Before a command writes a key unencrypted: a store that holds sealed keys has had its protection record
        replaced, and is refused unless the caller opted in (``allow_plaintext``); every plaintext write is said."""
        if sealer.authenticated:
            return
        if not self._allow_plaintext and self.store.holds_sealed_keys():
            raise self._replaced_protection()
        self._on_warning(
            f"private keys are written unencrypted: the store {self.store.describe()} uses the plaintext scheme"
        )

    def store_info(self) -> dict[str, Any] | None:
        """The store's description, creation time and protection (scheme, KDF, iterations); None for a store not
        made yet. Asks for no passphrase."""
        config = self.store.read_config()
        if config is None:
            return None
        protection = config.get("protection", {})
        return {
            "store": self.store.describe(),
            "created": config.get("created"),
            "protection": protection.get("scheme"),
            "kdf": protection.get("kdf"),
            "iterations": protection.get("iterations"),
        }

    # ---- reading ----------------------------------------------------------------------------------------------
    def list_sets(self) -> list[KeySet]:
        """Every key set in the store, as stored (private halves still sealed); asks for no passphrase."""
        return list(self.store.read_sets())

    def read_set(self, ref: SetRef) -> KeySet | None:
        """The store's set ``ref`` (None when there is none); a damaged one is a :class:`StoreCorruptError` naming
        the store's repair, as ``list`` does."""
        try:
            return self.store.read_set(ref)
        except StoreCorruptError as exc:
            if exc.hint is not None:
                raise
            raise StoreCorruptError(exc.message, hint=self.store.damage_fix(ref)) from exc

    def get_set(self, name: str, env: str | Env = Env.TEST) -> KeySet:
        """The key set ``name`` in ``env``; :class:`NotFoundError` (with the envs it does exist in) if there is none."""
        ref = SetRef.parse(name, env)
        keyset = self.read_set(ref)
        if keyset is None:
            other = [r for r in self.store.list_refs() if r.name == ref.name]
            hint = (
                f"it exists in {', '.join(r.env.value for r in other)}: pass --env"
                if other
                else "run `jwks-tool list` to see the sets, or `jwks-tool generate` to make one"
            )
            raise NotFoundError(f"no key set {ref} in {self.store.describe()}", hint=hint)
        return keyset

    def select_sets_or_damage(
        self, name: str | None = None, env: str | None = None
    ) -> tuple[list[KeySet], list[DamagedSet]]:
        """As :meth:`select_sets`, with each selected set that cannot be read as a :class:`DamagedSet` instead of an
        error, so one damaged set does not hide the others."""
        sets: list[KeySet] = []
        damaged: list[DamagedSet] = []
        for item in self.store.read_sets_or_damage():
            if (name is not None and item.ref.name != name) or (env is not None and item.ref.env.value != env):
                continue
            if isinstance(item, DamagedSet):
                damaged.append(item)
            else:
                sets.append(item)
        if name is not None and not sets and not damaged:
            self.get_set(name, env or "test")  # NotFoundError, naming the envs it exists in
        return sets, damaged

    def select_sets(self, name: str | None = None, env: str | None = None) -> list[KeySet]:
        """The sets a command looks at: set ``name`` (in ``env``, or in every environment that has it), or every set
        (of ``env`` when given). A ``name`` that is nowhere is NotFoundError, as for :meth:`get_set`."""
        if name is not None:
            if env:
                return [self.get_set(name, env)]
            return [keyset for keyset in self.list_sets() if keyset.ref.name == name] or [self.get_set(name, "test")]
        return [keyset for keyset in self.list_sets() if env is None or keyset.ref.env.value == env]

    @staticmethod
    def pick_key(keyset: KeySet, kid: str | None) -> KeyRecord:
        """The key with ``kid``, or the newest one."""
        if kid is None:
            newest = keyset.newest
            if newest is None:
                what = "no keys" if not keyset.keys else "no registered key (every key is retired or revoked)"
                raise NotFoundError(
                    f"key set {keyset.ref} has {what}",
                    hint=f"run `jwks-tool rotate {keyset.ref.name} --env {keyset.ref.env.value}`, or pass --kid",
                )
            return newest
        found = keyset.key(kid)
        if found is None:
            kids = ", ".join(key.kid for key in keyset.keys) or "none"
            raise NotFoundError(f"no key {kid!r} in {keyset.ref}", hint=f"its kids are: {kids}")
        return found

    def key_to_use(self, keyset: KeySet, kid: str | None) -> KeyRecord:
        """The key a command signs with or pushes: ``kid``, else the active key."""
        if kid is not None:
            return self.pick_key(keyset, kid)
        if keyset.active is None:
            raise NotFoundError(
                f"{keyset.ref} has no active key",
                hint=f"promote one first (`jwks-tool rotate {keyset.ref.name} --env {keyset.ref.env.value} --promote`)",
            )
        return keyset.active

    def private_jwk(self, keyset: KeySet, record: KeyRecord) -> dict[str, Any]:
        """Open a key's sealed private half (asks for the passphrase); never log or print the result."""
        if record.vault_key is not None:
            raise NotFoundError(
                f"the private half of {record.kid} lives in Azure Key Vault and cannot leave it",
                hint="sign with it through the vault (jwks-tool grant), or export the public half",
            )
        if record.sealed_private is None:
            raise NotFoundError(
                f"the private half of {record.kid} is no longer in the store (state {record.state.value})",
                hint="export a key whose private half is kept",
            )
        sealer = self._open_sealer(create=False)
        sealed = self.store.resolve_sealed(record.sealed_private)
        members = sealer.unseal(sealed, context=_seal_context(keyset.ref, record.kid))
        if not sealer.authenticated:
            members = keymod.validate_private_jwk(members)
        if keymod.thumbprint(members) != record.thumbprint:
            raise KeyMaterialError(f"the stored private half of {record.kid} does not match its public key")
        return members

    # ---- exporting --------------------------------------------------------------------------------------------
    def export_public(self, keyset: KeySet, kid: str | None, fmt: PublicFormat) -> str:
        """One key (jwk, pem) or the registered set (jwks, jwks-array; one key when ``kid`` is given)."""
        if fmt in (PublicFormat.JWKS, PublicFormat.JWKS_ARRAY) and kid is None:
            records = list(keyset.registered)  # may be empty: then nothing is to be registered
        else:
            records = [self.pick_key(keyset, kid)]
        return render_public([record.public_jwk for record in records], fmt)

    def export_private(
        self, keyset: KeySet, kid: str | None, fmt: PrivateFormat, *, pem_passphrase: str | None
    ) -> tuple[KeyRecord, str]:
        """Key ``kid`` (default: the newest) and its private half in ``fmt``, opened with the store's passphrase
        (refused for a key that lives in Key Vault); ``pem_passphrase`` encrypts a PEM (None: unencrypted)."""
        record = self.pick_key(keyset, kid)
        members = self.private_jwk(keyset, record)
        trusted = self._sealer is not None and self._sealer.authenticated
        return record, render_private(record, members, fmt, pem_passphrase=pem_passphrase, trusted=trusted)

    # ---- changing ---------------------------------------------------------------------------------------------
    def generate(
        self, request: GenerateRequest, *, only_if_no_next: bool = False, only_if_active: str | None = None
    ) -> KeyRecord:
        """Make a key and add it to its set (created if new): active if the set has none, else next.

        ``only_if_no_next`` (rotation): if a next key is waiting by the time the set is locked, raise
        :class:`NextKeyWaiting` with it instead of adding another. ``only_if_active`` (the fleet's rotation): if the
        active key is no longer this kid by then, raise :class:`ActiveKeyChanged`.
        """
        plan = self._plan(request, self.read_set(SetRef.parse(request.name, request.env)))
        vault_key = None
        if request.in_vault is not None:
            vault_key, members = self._create_in_vault(
                plan.ref, request.in_vault, kty=plan.kty, size=plan.size, crv=plan.crv, lifetime=plan.lifetime
            )
        else:
            self._open_sealer(create=True).verify()  # the passphrase is checked before any key is made
            members = keymod.generate_private_jwk(kty=plan.kty, size=plan.size, crv=plan.crv)
        return self._add_key(
            plan.ref,
            plan.profile,
            members,
            kid=request.kid,
            kid_style=request.kid_style,
            alg=plan.alg,
            lifetime=plan.lifetime,
            origin=Origin.GENERATED,
            only_if_no_next=only_if_no_next,
            only_if_active=only_if_active,
            vault_key=vault_key,
        )

    def _plan(self, request: GenerateRequest, existing: KeySet | None) -> _Plan:
        """Check everything about a request that can be checked before any work (names, options, the profile)."""
        ref = SetRef.parse(request.name, request.env)
        profile = self._profile_for(existing, request.profile)
        kty = request.kty.upper()
        if kty not in ("RSA", "EC"):
            raise InputError(f"unknown key type {request.kty!r}", hint="use --kty RSA or --kty EC")
        if kty == "RSA" and request.crv is not None:  # never ignore what was asked for
            raise InputError(
                f"--crv {request.crv} is for EC keys, and this is an RSA key (--kty RSA is the default)",
                hint="drop --crv, or add --kty EC (EC keys need --profile generic)",
            )
        crv = (request.crv or "P-256") if kty == "EC" else None
        if crv is not None and crv not in EC_CURVE_ALGS:
            raise InputError(f"unknown curve {crv!r}", hint="use --crv P-256, P-384 or P-521")
        size = EC_CURVE_BITS[crv] if crv is not None else request.size
        alg = request.alg or profile.default_alg(kty, crv)
        if kty == "EC" and alg != EC_CURVE_ALGS[crv or "P-256"]:
            raise InputError(
                f"alg {alg} does not go with curve {crv}", hint=f"use --alg {EC_CURVE_ALGS[crv or 'P-256']}"
            )
        lifetime = request.expires_in if request.expires_in is not None else (profile.max_lifetime or DEFAULT_LIFETIME)
        profile.check_new_key(kty=kty, size=size, crv=crv, alg=alg, lifetime=lifetime)
        if kty == "RSA" and size not in (2048, 3072, 4096):
            raise InputError(f"unsupported RSA size {size}", hint="use --size 2048, 3072 or 4096")
        if request.kid is not None:
            profile.check_kid(request.kid)
        self._check_room(existing, profile)
        return _Plan(ref, profile, kty, crv, size, alg, lifetime)

    def generate_many(self, requests: Sequence[GenerateRequest], *, workers: int = 0) -> list[KeyRecord]:
        """Generate a key in each of many sets (a next key where a set has one already), on ``workers`` threads.

        Every request is checked first; if any key could not be made, the first error is raised after the others
        have landed. :meth:`generate_bulk` says exactly what was made, skipped, failed and not started.
        """
        result = self.generate_bulk(requests, workers=workers, skip_existing=False)
        if result.interrupted:
            raise KeyboardInterrupt
        if result.failed:
            raise result.failed[0][1]
        return [record for _name, record in result.made]

    def generate_bulk(
        self, requests: Sequence[GenerateRequest], *, workers: int = 0, skip_existing: bool = True
    ) -> BulkResult:
        """Generate keys for many sets at once, on ``workers`` threads (default: one per core).

        Every request (set name, options, the set's profile and room) is checked before any key is made: one bad
        request makes nothing, and a name given twice is refused. With ``skip_existing`` a set that has an active or
        next key already is skipped (reported, not changed), so running the same bulk command again after a partial
        failure makes only what is missing. RSA generation releases the GIL inside OpenSSL, so threads use every
        core; the KDF runs once; each set is written under the store's lock as with one key. A failure of one set
        does not stop the others, unless it concerns the whole store (passphrase, store errors): then the requests
        not yet started are not started. On Ctrl-C (KeyboardInterrupt) the requests not yet started are dropped,
        those running finish, and the result says so (``interrupted``).
        """
        import os
        import threading
        from concurrent.futures import Future, ThreadPoolExecutor, wait

        refs: list[SetRef] = []
        for request in requests:  # every name is checked before any set is read
            ref = SetRef.parse(request.name, request.env)
            if ref in refs:
                raise InputError(f"the set name {request.name!r} is given twice", hint="name each set once")
            refs.append(ref)
        todo: list[GenerateRequest] = []
        skipped: list[tuple[str, KeyRecord]] = []
        for request, ref in zip(requests, refs, strict=True):
            existing = self.read_set(ref)
            have = None if existing is None else (existing.active or _next_key(existing))
            if skip_existing and have is not None:
                skipped.append((request.name, have))
                continue
            self._plan(request, existing)
            todo.append(request)
        if not todo:
            return BulkResult((), tuple(skipped), (), (), interrupted=False)
        if any(request.in_vault is None for request in todo):
            self._open_sealer(create=True).verify()  # one passphrase, one KDF and its check, before any worker starts
        stop = threading.Event()

        def one(request: GenerateRequest) -> KeyRecord | None:
            if stop.is_set():
                return None  # not started
            try:
                return self.generate(request)
            except (PassphraseError, StoreError):
                stop.set()  # the whole store is at stake: start nothing more
                raise

        interrupted = False
        with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
            futures: list[Future[KeyRecord | None]] = [pool.submit(one, request) for request in todo]
            try:
                wait(futures)
            except KeyboardInterrupt:
                interrupted = True
                stop.set()
                for future in futures:
                    future.cancel()
                wait(futures)  # the keys being made land (or fail) before the report
        made: list[tuple[str, KeyRecord]] = []
        failed: list[tuple[str, Exception]] = []
        not_started: list[str] = []
        for request, future in zip(todo, futures, strict=True):
            if future.cancelled():
                not_started.append(request.name)
                continue
            error = future.exception()
            if error is not None:
                if not isinstance(error, Exception):
                    raise error
                failed.append((request.name, error))
                continue
            record = future.result()
            if record is None:
                not_started.append(request.name)
            else:
                made.append((request.name, record))
        return BulkResult(tuple(made), tuple(skipped), tuple(failed), tuple(not_started), interrupted=interrupted)

    def _create_in_vault(
        self, ref: SetRef, options: VaultKeyOptions, *, kty: str, size: int, crv: str | None, lifetime: timedelta
    ) -> tuple[str, dict[str, str]]:
        """A non-exportable key made in Key Vault: its id and public members."""
        # start-up: show loads this module
        from jwks_tool.integrations.azure.vault_keys import create_vault_key, vault_key_name

        # a new store still records its protection: its passphrase is asked now, the store made once the vault has
        # made the key (a vault that cannot be reached leaves no store behind)
        secret = self._passphrase(True) if self.store.read_config() is None else None
        now = self._clock()
        made = create_vault_key(
            options.connection,
            name=options.key_name or vault_key_name(ref.name, ref.env.value),
            kty=kty,
            size=size,
            crv=crv,
            hsm=options.hsm,
            expires=now + lifetime,
            not_before=now,
            tags={"set": ref.name, "env": ref.env.value, "managed-by": "jwks-tool"},
        )
        if secret is not None:
            self._open_sealer(create=True, secret=secret)
        return made

    # ---- vault-resident keys ----------------------------------------------------------------------------------
    def vault_connection(self, vault: str) -> Connection:
        """A connection to ``vault`` (a URL or name) with this service's :class:`AzureOptions`."""
        return self.azure.connection(vault)

    def key_vault_of(self, record: KeyRecord) -> Connection | None:
        """The connection to the vault a vault-resident key lives in (None for a key kept in the store)."""
        if record.vault_key is None:
            return None
        from jwks_tool.integrations.azure.vault_keys import split_key_id  # start-up: show loads this module

        return self.vault_connection(split_key_id(record.vault_key)[0])

    def vault_key_like(self, template: KeyRecord | None) -> VaultKeyOptions | None:
        """Keys made in Key Vault rotate in Key Vault: a new version of ``template``'s vault key (None for a key
        kept in the store)."""
        if template is None or template.vault_key is None:
            return None
        from jwks_tool.integrations.azure.vault_keys import split_key_id  # start-up: show loads this module

        vault, key_name = split_key_id(template.vault_key)
        return VaultKeyOptions(self.vault_connection(vault), key_name=key_name)

    def disable_vault_key(self, record: KeyRecord) -> None:
        """Disable a vault-resident key's version in Key Vault (it leaves use); nothing for other keys."""
        connection = self.key_vault_of(record)
        if connection is None or record.vault_key is None:
            return
        from jwks_tool.integrations.azure.vault_keys import disable_key_version  # start-up: show loads this module

        disable_key_version(connection, record.vault_key)

    def signer_for(self, keyset: KeySet, record: KeyRecord, connection: Connection | None = None) -> Signer:
        """A signer for a registered key: local (opens the sealed private half) or through Key Vault (by
        ``connection``, else the key's own vault reached with this service's :class:`AzureOptions`)."""
        from jwks_tool.core.signing import LocalSigner  # start-up: show loads this module

        if record.vault_key is not None:
            from jwks_tool.integrations.azure.vault_keys import VaultSigner  # start-up: show loads this module

            connection = connection or self.key_vault_of(record)
            assert connection is not None
            return VaultSigner(record.vault_key, connection, alg=record.alg)
        members = self.private_jwk(keyset, record)
        trusted = self._sealer is not None and self._sealer.authenticated
        return LocalSigner(members, alg=record.alg, trusted=trusted)

    def grant(self, name: str, env: str, request: GrantRequest, *, kid: str | None = None) -> SignedGrant:
        """A Maskinporten JWT grant signed with key ``kid`` of the set (default: its active key). Retired, revoked
        and expired keys are refused; vault-resident keys sign through their vault."""
        # start-up: show loads this module
        from jwks_tool.integrations.maskinporten.client import check_signing_key, make_grant

        keyset = self.get_set(name, env)
        record = self.key_to_use(keyset, kid)
        now = self.now()
        check_signing_key(record, now, profile=keyset.profile, rotate=f"{keyset.ref.name} --env {keyset.ref.env.value}")
        token, claims = make_grant(self.signer_for(keyset, record), record, request, env=env, now=now)
        return SignedGrant(record, token, claims)

    def import_key(self, request: ImportRequest, *, notes: list[ImportNote] | None = None) -> KeyRecord:
        """Bring an existing private key (PEM, JWK, base64 JWK) into a set.

        What the import changes about the key (an ``exp`` further away than the profile allows is shortened) is
        appended to ``notes``, or else reported through ``on_warning``. A key marked for anything but signing
        (``use`` other than ``sig``, ``key_ops`` without ``sign``, an encryption ``alg``) is refused under every
        profile: jwks-tool keeps signing keys.
        """
        from jwks_tool.core.reading import read_input  # start-up: show loads this module

        ref = SetRef.parse(request.name, request.env)
        existing = self.read_set(ref)
        profile = self._profile_for(existing, request.profile)
        found = read_input(request.data, passphrase=request.key_passphrase)
        if found.locked:
            raise InputError(f"the {found.kind} is encrypted", hint="set JWKS_TOOL_KEY_PASSPHRASE or run in a terminal")
        if len(found.keys) != 1:
            raise InputError(
                f"the input ({found.kind}) holds {len(found.keys)} keys; import takes one",
                hint="split the JWKS and import one key at a time",
            )
        given = found.keys[0].jwk
        if not found.keys[0].private:
            raise InputError(
                f"the input ({found.kind}) holds only a public key; import needs the private key",
                hint="give the private PEM or private JWK",
            )
        _check_signing_key(given)
        members = keymod.validate_private_jwk(given)
        kty = str(members["kty"])
        crv = members.get("crv")
        size = EC_CURVE_BITS[str(crv)] if kty == "EC" else (rsa_bits(members) or 0)
        alg = request.alg or given.get("alg") or profile.default_alg(kty, crv)
        if not isinstance(alg, str):
            raise InputError("the JWK's alg is not a string", hint="pass --alg")
        if kty == "EC" and alg != EC_CURVE_ALGS.get(str(crv)):
            raise ProfileError(
                f"alg {alg} does not go with curve {crv}", hint=f"use --alg {EC_CURVE_ALGS.get(str(crv), 'ES256')}"
            )
        kid = request.kid or given.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise InputError("the JWK's kid is not a string", hint="pass --kid")
        now = self._clock()
        lifetime = request.expires_in if request.expires_in is not None else (profile.max_lifetime or DEFAULT_LIFETIME)
        nbf = given.get("nbf")
        if nbf is not None:
            if not isinstance(nbf, int) or isinstance(nbf, bool):
                raise InputError(f"the JWK's nbf {nbf!r} is not whole seconds since 1970", hint="fix it, or drop nbf")
            if nbf > now.timestamp():
                raise ProfileError(
                    f"the key is not valid before {format_time(datetime.fromtimestamp(min(nbf, 253402300799), UTC))} "
                    "(its nbf)",
                    hint="import it once it is valid, or drop nbf",
                )
        exp = given.get("exp")
        if exp is not None and (not isinstance(exp, int) or isinstance(exp, bool)):
            raise InputError(f"the JWK's exp {exp!r} is not whole seconds since 1970", hint="fix it, or drop exp")
        shortened: ImportNote | None = None
        if request.expires_in is None and exp is not None:
            try:
                expires = datetime.fromtimestamp(exp, UTC)
            except (OverflowError, OSError, ValueError):
                raise InputError(f"the JWK's exp {exp} is out of range", hint="fix it, or drop exp") from None
            if expires <= now:
                raise ProfileError(f"the key expired on {expires:%Y-%m-%d}", hint="generate a new key instead")
            if profile.max_lifetime is None:
                lifetime = expires - now  # the profile sets no limit: the key keeps its own expiry
            elif expires - now > profile.max_lifetime:
                kept = now + profile.max_lifetime
                shortened = ImportNote(
                    "exp-shortened",
                    f"the JWK's exp ({expires:%Y-%m-%d}) is further away than the {profile.name} profile allows "
                    f"({profile.max_lifetime.days} days): the key expires on {kept:%Y-%m-%d} instead; pass "
                    "--expires-in to choose a shorter lifetime",
                    {"given_exp": format_time(expires), "expires": format_time(kept)},
                )
            else:
                lifetime = expires - now
        profile.check_new_key(kty=kty, size=size, crv=crv if isinstance(crv, str) else None, alg=alg, lifetime=lifetime)
        if kid is not None:
            profile.check_kid(kid)
        self._check_room(existing, profile)
        self._open_sealer(create=True).verify()
        record = self._add_key(
            ref,
            profile,
            members,
            kid=kid,
            kid_style=request.kid_style,
            alg=alg,
            lifetime=lifetime,
            origin=Origin.IMPORTED,
        )
        if shortened is not None:
            if notes is None:
                self._on_warning(shortened.message)
            else:
                notes.append(shortened)
        return record

    # ---- helpers ----------------------------------------------------------------------------------------------
    @staticmethod
    def _profile_for(existing: KeySet | None, requested: str | None) -> Profile:
        if existing is None:
            return get_profile(requested or DEFAULT_PROFILE)
        if requested is not None and requested != existing.profile:
            raise ProfileError(
                f"key set {existing.ref} uses the {existing.profile} profile, not {requested}",
                hint=f"drop --profile, or use a new set name for {requested} keys",
            )
        return get_profile(existing.profile)

    @staticmethod
    def _check_room(existing: KeySet | None, profile: Profile) -> None:
        if existing is None or profile.max_registered is None:
            return
        if len(existing.registered) >= profile.max_registered:
            raise ProfileError(
                f"key set {existing.ref} already has {len(existing.registered)} registered keys, the most "
                f"{profile.name} allows",
                hint=f"retire a key first (jwks-tool rotate {existing.ref.name} --env {existing.ref.env.value} "
                "--finish, with --force before the overlap has passed)",
            )

    def _add_key(
        self,
        ref: SetRef,
        profile: Profile,
        members: Mapping[str, Any],
        *,
        kid: str | None,
        kid_style: KidStyle,
        alg: str,
        lifetime: timedelta,
        origin: Origin,
        only_if_no_next: bool = False,
        only_if_active: str | None = None,
        vault_key: str | None = None,
    ) -> KeyRecord:
        now = self._clock()
        thumb = keymod.thumbprint(members)
        if kid is None:
            kid = (
                thumb if kid_style is KidStyle.THUMBPRINT else keymod.readable_kid(ref.name, ref.env.value, now, thumb)
            )
        profile.check_kid(kid)
        expires = now + lifetime
        public = keymod.decorate(keymod.public_jwk(members), kid=kid, alg=alg, exp=int(expires.timestamp()))
        sealed = None
        if vault_key is None:  # a vault-native key has no private half outside the vault
            sealed = self._open_sealer(create=True).seal(members, context=_seal_context(ref, kid))
        with self.store.lock():
            current = self.read_set(ref)
            keyset = current or KeySet(ref=ref, profile=profile.name, created=now, updated=now)
            waiting = next((key for key in keyset.keys if key.state is KeyState.NEXT), None)
            if only_if_no_next and waiting is not None:
                raise NextKeyWaiting(waiting)
            if only_if_active is not None and (keyset.active is None or keyset.active.kid != only_if_active):
                raise ActiveKeyChanged(keyset.active)
            twin = next((key for key in keyset.keys if key.thumbprint == thumb), None)
            if twin is not None:
                raise ConflictError(f"this key is already in {ref} as {twin.kid}", hint="nothing to import")
            if keyset.key(kid) is not None:
                raise ConflictError(f"key set {ref} already has a key with kid {kid!r}", hint="pass another --kid")
            self._check_room(current, profile)
            if sealed is not None and current is not None:
                self._check_sealed_keys_open(current)
            if waiting is not None:
                raise ConflictError(
                    f"key set {ref} already has a next key waiting: {waiting.kid}",
                    hint=f"register and promote it (jwks-tool rotate {ref.name} --env {ref.env.value} --promote), "
                    "or revoke it, before making another",
                )
            state = KeyState.NEXT if keyset.active is not None else KeyState.ACTIVE
            record = KeyRecord(
                kid=Kid(kid),
                kty=str(members["kty"]),
                alg=alg,
                size=EC_CURVE_BITS[str(members["crv"])] if members["kty"] == "EC" else rsa_bits(members) or 0,
                crv=str(members["crv"]) if members["kty"] == "EC" else None,
                thumbprint=thumb,
                created=now,
                expires=expires,
                state=state,
                origin=origin,
                public_jwk=public,
                sealed_private=sealed,
                history=(Transition(now, None, state, origin.value),),
                vault_key=vault_key,
            )
            self.commit(
                current, keyset.replace_keys([*keyset.keys, record]), [Change(record, None, state, origin.value)]
            )
        return record

    def _check_sealed_keys_open(self, keyset: KeySet) -> None:
        """Before a new key sealed under this store's protection joins ``keyset``: one of its sealed keys must open
        (one AES unwrap and decrypt). A store.json swapped for another store's with the same passphrase passes the
        passphrase check, and would seal new keys under a key the set's other keys do not open with."""
        sealer = self._open_sealer(create=True)
        if not sealer.authenticated:
            return  # plaintext: _check_plaintext has refused a store that holds sealed keys
        record = next((key for key in keyset.keys if key.sealed_private is not None and key.vault_key is None), None)
        if record is None or record.sealed_private is None:
            return
        try:
            sealed = self.store.resolve_sealed(record.sealed_private)
            sealer.unseal(sealed, context=_seal_context(keyset.ref, record.kid))
        except StoreCorruptError as exc:
            raise StoreCorruptError(
                f"the sealed key {record.kid} of {keyset.ref} does not open with the store's protection record: the "
                "store's configuration (store.json) was replaced, or the set comes from another store; nothing was "
                "written",
                hint="restore store.json (or the store's configuration) from a backup",
            ) from exc

    def commit(self, current: KeySet | None, updated: KeySet, changes: Sequence[Change]) -> KeySet:
        """Write a set changed under the store's lock, then append the changes to the audit log.

        Each change's transition (the newest step of its key's history) is stamped with the writer, the command and
        the new revision before the write, so the set document holds every change's whole audit event (see
        :mod:`jwks_tool.services.audit`). The change is stored once the set is written: a failed append is then a
        warning (``on_warning``), not an error, and ``jwks-tool log`` recovers the event from the history.
        """
        expected = 0 if current is None else current.revision
        who = actor()
        changed = {change.record.kid: change for change in changes}
        if len(changed) != len(changes):
            raise AssertionError(f"two changes of one key in one write: {[c.record.kid for c in changes]}")
        keys: list[KeyRecord] = []
        for record in updated.keys:
            change = changed.get(record.kid)
            if change is not None:
                step = record.history[-1]
                if step.to_state is not change.to_state or step.by is not None:
                    raise AssertionError(f"{record.kid}: the change to {change.to_state} is not its newest step")
                step = dataclasses.replace(step, by=who, command=self.command, revision=expected + 1)
                record = dataclasses.replace(record, history=(*record.history[:-1], step))
            keys.append(record)
        stored = self.store.write_set(dataclasses.replace(updated, keys=tuple(keys)), expected_revision=expected)
        steps = {record.kid: record.history[-1] for record in stored.keys if record.kid in changed}
        events = [audit.event(stored.ref, change.record.kid, steps[change.record.kid]) for change in changes]
        self._append_after_write(
            events,
            f"{stored.ref} was changed, but its audit events could not be appended to the log",
            "the key set's history keeps them and `jwks-tool log` shows them",
        )
        return stored

    def _append_after_write(self, events: Sequence[Mapping[str, Any]], failed: str, *after: str) -> None:
        """Append the events of a set written already: the change stands, so a failed append is a warning (without
        the error's hint: running the command again would find nothing to do)."""
        try:
            self.store.append_audit(events)
        except (JwksToolError, OSError) as exc:
            reason = exc.message if isinstance(exc, JwksToolError) else str(exc)
            self._on_warning("; ".join([f"{failed} ({reason})", *after]))

    def prune_keys(self, current: KeySet, gone: Sequence[KeyRecord]) -> KeySet:
        """Drop retired or revoked keys from a set (the caller holds the store's lock); the audit log keeps their
        story. First every event of theirs that only the set's history holds is appended to the log (after the
        write nothing could recover it), then the set is written, then one ``pruned`` event per key is appended (a
        failed append is a warning: the keys are gone from the set, their story is in the log)."""
        kids = {record.kid for record in gone}
        if any(record.state.registered or record.sealed_private is not None for record in gone):
            raise AssertionError("only retired or revoked keys without a private half are pruned")
        mine = (current.ref.name, current.ref.env.value)
        only_in_history = [
            event
            for event in audit.trail(self.store, [current], on_damage=self._on_warning)
            if event.get("recovered") and (event.get("set"), event.get("env")) == mine and event.get("kid") in kids
        ]
        if only_in_history:
            self.store.append_audit(only_in_history)
        kept = [record for record in current.keys if record.kid not in kids]
        stored = self.store.write_set(current.replace_keys(kept), expected_revision=current.revision)
        at, who = self._clock(), actor()
        events = [
            audit.removal(stored.ref, record, at=at, by=who, command=self.command, revision=stored.revision)
            for record in gone
        ]
        self._append_after_write(events, f"{stored.ref} was pruned, but the log could not record it")
        return stored


def _check_signing_key(jwk: Mapping[str, Any]) -> None:
    """Refuse a JWK marked for anything but signing: jwks-tool keeps signing keys, and would relabel it ``sig``."""
    escape = "import a signing key"
    use = jwk.get("use")
    if use is not None and use != "sig":
        what = " (encryption)" if use == "enc" else ""
        raise ProfileError(
            f'the key is marked "use": {_json_text(use)}{what}, and jwks-tool keeps signing keys',
            hint=f'{escape}, or set "use": "sig" if this key is meant to sign',
        )
    ops = jwk.get("key_ops")
    if ops is not None:
        if not isinstance(ops, list) or not all(isinstance(op, str) for op in ops):
            raise InputError("the JWK's key_ops is not an array of strings", hint='write it as ["sign", "verify"]')
        if "sign" not in ops:
            raise ProfileError(
                f'the key\'s key_ops {_json_text(ops)} do not include "sign", and jwks-tool keeps signing keys',
                hint=f'{escape}, or add "sign" to key_ops if this key is meant to sign',
            )
        others = sorted({op for op in ops if op not in ("sign", "verify")})
        if others:
            raise ProfileError(
                f"the key's key_ops {_json_text(ops)} allow {', '.join(others)}, and jwks-tool keeps signing keys",
                hint=f'{escape}, or set key_ops to ["sign", "verify"] if this key is meant only to sign',
            )


def _json_text(value: object) -> str:
    import json

    return json.dumps(value, ensure_ascii=True)[:80]


def _warn(message: str) -> None:
    warnings.warn(message, JwksToolWarning, stacklevel=3)


def _seal_context(ref: SetRef, kid: str) -> dict[str, str]:
    return {"set": f"{ref.name}/{ref.env.value}", "kid": kid}
