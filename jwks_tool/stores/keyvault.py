"""Azure Key Vault as a team's shared key store: ``--store https://NAME.vault.azure.net/``.

    >>> from jwks_tool.stores.keyvault import KeyVaultStore, set_secret_name
    >>> store = KeyVaultStore.from_url("https://acme-keys.vault.azure.net/?credential=cli")
    >>> store.describe()
    'https://acme-keys.vault.azure.net/'
    >>> from jwks_tool.core.model import Env, SetRef
    >>> set_secret_name(SetRef("Acme.api_1", Env.PROD))
    'jwks-tool-set-prod--3acme-1api-21'

Nothing is sent until the store is used; then the store signs in with the credential the URL names. The URL is
``https://NAME.vault.azure.net/`` (or a sovereign cloud's vault domain), or ``https://HOST:PORT/?store=keyvault``
for emulators and private endpoints. Connection options go in the query string: ``credential=default|cli|
environment|managed-identity`` (default: DefaultAzureCredential), ``ca_bundle=/path/ca.pem``,
``verify_challenge_resource=false`` (emulators, private endpoints) and ``retry_total=N``. Users need the
"Key Vault Secrets Officer" role (or get/list/set/delete/recover secret permissions).

Layout (everything is a secret; Key Vault names are ``[0-9A-Za-z-]{1,127}``, case-insensitive, values at most 25 KB)::

    jwks-tool-store               the store's configuration JSON (how private keys are sealed); tag schema
    jwks-tool-set-<env>-<name>    one key set: KeySet JSON whose sealed_private members are references
                                  "kv-secret:jwks-tool-key-..."; each version is tagged revision, parent, writer
    jwks-tool-key-<64 hex>        one private half (the sealed JWE), named by the bytes of its RFC 7638
                                  thumbprint; tags set, env, kid, thumbprint (never key material)
    jwks-tool-audit-<yyyymm>      the audit log: each append a new version holding its events (JSON lines)

Set names are encoded into lowercase (Key Vault names ignore case): letters and digits as they are, ``-`` → ``-0``,
``.`` → ``-1``, ``_`` → ``-2``, an uppercase letter X → ``-3x``. A name whose encoding would not fit in 127
characters becomes ``--9<sha256 of the name>`` and is read back from the secret's ``set`` tag.

A private half is written before the set document that references it. When a write drops a key's private half (a
retired or revoked key), its secret is deleted once the set document is written (at the end of the store's lock,
after the audit entry). Key Vault's soft delete keeps a deleted secret recoverable for the vault's retention period
(7-90 days): the private half is gone for good when that period ends, or sooner if someone purges it
(``az keyvault secret purge``; a vault with purge protection refuses that). A writer that loses a race deletes the
private halves it had just added. Because a private half is named by its thumbprint, a key can be in one set only.

Concurrency: Key Vault has no conditional writes, so each write of a set is a new version tagged ``revision`` (the
set's revision), ``parent`` (the version it was based on) and ``writer`` (random, per write). The current document
is the end of the chain of winners: the winner of revision 1 is the earliest created of its versions (ties broken by
version id), the winner of revision n+1 the earliest created of the versions whose parent is the winner of revision
n. A writer reads the current revision (ConflictError if it is not the one it expects), writes its version, waits
until the vault's clock has passed the second of its version's creation time (creation times have whole seconds, so
no later write can sort before it), then lists the versions again: if its version is not the winner, someone else
won the race and it raises ConflictError. A write whose reply never arrives (lost on the way back, retries spent)
looks for its own version by the writer tag and, if it landed, goes on to the same check: a write that won is not
reported as failed. The losing version stays in the history; readers skip it. A reader may,
for about a second, see a version that then loses the race; nothing written on top of it can win. So every
successful write costs about a second of waiting. :meth:`KeyVaultStore.lock` serialises the writers of one store
object (a thread lock); safety across processes and machines comes from the revision check. The configuration
is protected the same way (its earliest version wins). Each audit append is a version of its own, so appends from
several machines at once are never lost; reading the log costs one request per append.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import re
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from jwks_tool.core.model import SET_NAME_RE, Env, KeySet, SetRef
from jwks_tool.errors import (
    ConflictError,
    InputError,
    RemoteError,
    StoreCorruptError,
    StoreError,
)
from jwks_tool.integrations.azure.connection import (
    MAX_SECRET_BYTES,
    SECRET_NAME_RE,
    Connection,
    Credential,
    azure_errors,
    secret_client,
)
from jwks_tool.stores import is_keyvault_url
from jwks_tool.stores.interface import STORE_SCHEMA, KeyStore, thread_lock_held, url_options

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.keyvault.secrets import SecretClient

CONFIG_SECRET = "jwks-tool-store"
SET_PREFIX = "jwks-tool-set-"
KEY_PREFIX = "jwks-tool-key-"
AUDIT_PREFIX = "jwks-tool-audit-"
REFERENCE_PREFIX = "kv-secret:"
"""A key record's ``sealed_private`` in a Key Vault store: ``kv-secret:<secret name>``."""
CONTENT_TYPE_JSON = "application/json"
CONTENT_TYPE_AUDIT = "application/x-ndjson"
CONTENT_TYPE_SEALED = "application/vnd.jwks-tool.sealed-jwk"
SETTLE_MARGIN_SECONDS = 0.15
"""How far past the second of its creation the vault's clock must be before a writer trusts its version won."""
NO_PARENT = "none"
_HASHED_MARK = "-9"
_ESCAPES = {"-": "-0", ".": "-1", "_": "-2"}
_UNESCAPES = {"0": "-", "1": ".", "2": "_"}
_AUDIT_NAME_RE = re.compile(r"\Ajwks-tool-audit-(\d{6})(?:-(\d{1,6}))?\Z")
_OPTIONS = ("store", "credential", "ca_bundle", "verify_challenge_resource", "retry_total")


# ---- names ----------------------------------------------------------------------------------------------------------
def encode_set_name(name: str) -> str:
    """A set name in Key Vault's case-insensitive alphabet ``[0-9a-z-]``, reversibly (see :func:`decode_set_name`)."""
    out: list[str] = []
    for char in name:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif "A" <= char <= "Z":
            out.append("-3" + char.lower())
        elif "a" <= char <= "z" or "0" <= char <= "9":
            out.append(char)
        else:
            raise InputError(f"invalid key set name {name!r}", hint="use A-Z a-z 0-9 . _ -")
    return "".join(out)


def decode_set_name(encoded: str) -> str | None:
    """The set name :func:`encode_set_name` made ``encoded`` from, or None if it is not such an encoding."""
    out: list[str] = []
    chars = iter(encoded)
    for char in chars:
        if char != "-":
            if not ("a" <= char <= "z" or "0" <= char <= "9"):
                return None
            out.append(char)
            continue
        code = next(chars, "")
        if code in _UNESCAPES:
            out.append(_UNESCAPES[code])
        elif code == "3":
            letter = next(chars, "")
            if not "a" <= letter <= "z":
                return None
            out.append(letter.upper())
        else:
            return None
    name = "".join(out)
    return name if SET_NAME_RE.fullmatch(name) else None


def set_secret_name(ref: SetRef) -> str:
    """``jwks-tool-set-<env>-<encoded name>`` (a hash of the name when the encoding is too long)."""
    name = f"{SET_PREFIX}{ref.env.value}-{encode_set_name(ref.name)}"
    if len(name) <= 127:
        return name
    digest = hashlib.sha256(ref.name.encode("utf-8")).hexdigest()
    return f"{SET_PREFIX}{ref.env.value}-{_HASHED_MARK}{digest}"


def ref_from_secret_name(name: str, tags: Mapping[str, str] | None = None) -> SetRef | None:
    """The key set a ``jwks-tool-set-...`` secret holds, or None for foreign names."""
    lowered = name.lower()
    if not lowered.startswith(SET_PREFIX):
        return None
    env_text, _, encoded = lowered[len(SET_PREFIX) :].partition("-")
    if env_text not in {env.value for env in Env}:
        return None
    if encoded.startswith(_HASHED_MARK):
        tagged = (tags or {}).get("set", "")
        if not SET_NAME_RE.fullmatch(tagged):
            return None
        ref = SetRef(tagged, Env(env_text))
        return ref if set_secret_name(ref) == lowered else None
    decoded = decode_set_name(encoded)
    return None if decoded is None else SetRef(decoded, Env(env_text))


def key_secret_name(thumbprint: str) -> str:
    """``jwks-tool-key-<64 hex>``: the bytes of the RFC 7638 SHA-256 thumbprint (other strings are hashed)."""
    import base64

    try:
        raw = base64.urlsafe_b64decode(thumbprint + "=" * (-len(thumbprint) % 4))
    except ValueError:
        raw = b""
    if len(raw) != 32 or len(thumbprint) != 43:
        raw = hashlib.sha256(thumbprint.encode("utf-8")).digest()
    return KEY_PREFIX + raw.hex()


def _document_text(document: Mapping[str, Any]) -> str:
    """A set document as its secret holds it."""
    return json.dumps(document, indent=1, ensure_ascii=False)


def _answered(exc: BaseException) -> bool:
    """Whether the vault answered a request with an error status (so that request changed nothing), rather than
    leaving it without a reply (dropped, timed out: it may have landed, or may yet)."""
    from azure.core.exceptions import HttpResponseError

    cause = exc if isinstance(exc, HttpResponseError) else exc.__cause__
    return isinstance(cause, HttpResponseError) and cause.status_code is not None


def audit_secret_name(month: str, part: int) -> str:
    """``jwks-tool-audit-<yyyymm>`` for the first part of a month, ``...-<n>`` for the n-th."""
    return f"{AUDIT_PREFIX}{month}" if part == 1 else f"{AUDIT_PREFIX}{month}-{part}"


# ---- the vault's clock ----------------------------------------------------------------------------------------------
class _VaultClock:
    """A lower bound of the vault's clock, learnt from its answers (creation times and ``Date`` headers).

    Kept against the monotonic clock, so a jump of this machine's wall clock does not fool it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offset: float | None = None
        """vault time - time.monotonic(), at least."""

    def observe(self, vault_seconds: float, received: float) -> None:
        """The vault's clock read at least ``vault_seconds`` when we received an answer at monotonic ``received``."""
        offset = vault_seconds - received
        with self._lock:
            if self._offset is None or offset > self._offset:
                self._offset = offset

    def hook(self, pipeline_response: Any) -> None:
        """azure-core ``raw_response_hook``: learn from the ``Date`` header of every answer."""
        received = time.monotonic()
        with contextlib.suppress(Exception):  # a missing or odd header teaches nothing
            date = pipeline_response.http_response.headers.get("Date")
            if date:
                self.observe(parsedate_to_datetime(date).timestamp(), received)

    def wait_until(self, vault_seconds: float) -> None:
        """Sleep until the vault's clock is surely at or past ``vault_seconds``."""
        with self._lock:
            offset = self._offset
        if offset is None:  # pragma: no cover - callers observe first
            return
        delay = vault_seconds - offset - time.monotonic()
        if delay > 0:
            time.sleep(delay)


# ---- versions -------------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class _Version:
    """One enabled version of a secret, as its listing shows it."""

    version: str
    created: float
    tags: Mapping[str, str]
    enabled: bool = True

    @property
    def order(self) -> tuple[float, str]:
        return (self.created, self.version)

    @property
    def revision(self) -> int | None:
        text = self.tags.get("revision", "")
        return int(text) if text.isdigit() and len(text) < 12 else None

    @property
    def parent(self) -> str:
        return self.tags.get("parent", NO_PARENT)

    @property
    def writer(self) -> str:
        return self.tags.get("writer", "")


def _winners(versions: Sequence[_Version]) -> list[_Version]:
    """The chain of winning versions, revision 1 first: see the module's description of concurrency."""
    by_revision: dict[int, list[_Version]] = {}
    for version in versions:
        if version.revision is not None and version.revision >= 1:
            by_revision.setdefault(version.revision, []).append(version)
    chain: list[_Version] = []
    parent = NO_PARENT
    while True:
        candidates = [v for v in by_revision.get(len(chain) + 1, []) if v.parent == parent]
        if not candidates:
            return chain
        winner = min(candidates, key=lambda v: v.order)
        chain.append(winner)
        parent = winner.version


def _references(document: Mapping[str, Any] | None) -> dict[str, str]:
    """The private-half secrets a stored set document references: secret name → kid."""
    found: dict[str, str] = {}
    for key in (document or {}).get("keys", []):
        sealed = key.get("sealed_private")
        if isinstance(sealed, str) and sealed.startswith(REFERENCE_PREFIX):
            found[sealed[len(REFERENCE_PREFIX) :].partition("/")[0].lower()] = str(key.get("kid"))
    return found


@dataclasses.dataclass(frozen=True)
class _Upload:
    """A private half to write before the set document: ``value`` is sealed key material, never shown."""

    name: str
    kid: str
    thumbprint: str
    value: str = dataclasses.field(repr=False)


@dataclasses.dataclass(frozen=True)
class _Dropped:
    """A private-half secret to delete once the set document that no longer references it is written."""

    name: str
    kid: str
    ref: SetRef


# ---- the store ------------------------------------------------------------------------------------------------------
def connection_from_url(url: str) -> Connection:
    """The vault and connection options of a store URL (the query string carries the options)."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname or "@" in parts.netloc:
        raise StoreError(f"not a Key Vault store URL: {url}", hint="use https://NAME.vault.azure.net/")
    values = url_options(
        parts.query,
        _OPTIONS,
        "Key Vault",
        hint="use credential=, ca_bundle=, verify_challenge_resource=false or retry_total=",
    )
    try:
        credential = Credential(values.get("credential", Credential.DEFAULT.value))
    except ValueError:
        raise StoreError(
            f"unknown credential {values['credential']!r} in the Key Vault store URL",
            hint="use credential=default, cli, environment or managed-identity",
        ) from None
    verify_text = values.get("verify_challenge_resource", "true").lower()
    if verify_text not in ("true", "false", "1", "0", "yes", "no"):
        raise StoreError(f"verify_challenge_resource={verify_text!r} in the store URL", hint="use true or false")
    retry_text = values.get("retry_total")
    if retry_text is not None and not retry_text.isdigit():
        raise StoreError(f"retry_total={retry_text!r} in the store URL", hint="give a whole number, e.g. 3")
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    return Connection(
        vault_url=urlunsplit(("https", parts.netloc, path, "", "")),
        credential=credential,
        ca_bundle=values.get("ca_bundle") or None,
        verify_challenge_resource=verify_text in ("true", "1", "yes"),
        retry_total=None if retry_text is None else int(retry_text),
        from_store_url=True,
    )


class KeyVaultStore(KeyStore):
    """Key sets, private halves and the audit log as secrets in one Azure Key Vault."""

    def __init__(self, url: str, *, credential: TokenCredential | None = None) -> None:
        """Open the store at ``url``; ``credential`` replaces the one the URL names (tests, embedding programs)."""
        self.url = url
        self.connection = connection_from_url(url)
        self._credential = credential
        self._client: SecretClient | None = None
        self._client_lock = threading.Lock()
        self._lock = threading.RLock()
        self._depth = 0
        """How deep this store's :meth:`lock` is held (by the thread holding ``_lock``)."""
        self._dropped: list[_Dropped] = []
        self._values: dict[tuple[str, str], str] = {}
        """Secret values by (name, version): versions never change, so they are kept for the store's life."""
        self._clock = _VaultClock()

    @classmethod
    def supports(cls, url: str) -> bool:
        """Key Vault URLs (see :func:`jwks_tool.stores.is_keyvault_url`)."""
        return is_keyvault_url(url)

    @classmethod
    def from_url(cls, url: str) -> KeyVaultStore:
        """The store in the vault the URL names (options in its query)."""
        return cls(url)

    def describe(self) -> str:
        """The vault's URL."""
        return self.connection.vault_url

    # ---- the azure boundary -----------------------------------------------------------------------------------
    @property
    def client(self) -> SecretClient:
        """The SecretClient, made (and signed in) on first use."""
        with self._client_lock:
            if self._client is None:
                with azure_errors("sign in to Azure", vault=self.describe(), connection=self.connection):
                    self._client = secret_client(self.connection, self._credential)
            return self._client

    @contextmanager
    def _azure(self, doing: str) -> Iterator[None]:
        with azure_errors(doing, vault=self.describe(), connection=self.connection):
            yield

    def _versions(self, name: str, doing: str, *, disabled: bool = False) -> list[_Version]:
        """The enabled versions of a secret (with ``disabled``, every version); none if it does not exist."""
        from azure.core.exceptions import ResourceNotFoundError

        found: list[_Version] = []
        with self._azure(doing):
            try:
                for props in self.client.list_properties_of_secret_versions(name, raw_response_hook=self._clock.hook):
                    if (props.enabled is False and not disabled) or props.version is None:
                        continue
                    created = props.created_on.timestamp() if props.created_on else 0.0
                    found.append(_Version(props.version, created, dict(props.tags or {}), props.enabled is not False))
            except ResourceNotFoundError:
                return []
        return found

    def _value(self, name: str, version: str | None, doing: str) -> str | None:
        """A secret's value (a version's, or the latest), or None if there is none."""
        from azure.core.exceptions import ResourceNotFoundError

        if version is not None and (name.lower(), version) in self._values:
            return self._values[(name.lower(), version)]
        with self._azure(doing):
            try:
                secret = self.client.get_secret(name, version, raw_response_hook=self._clock.hook)
            except ResourceNotFoundError:
                return None
        value = secret.value or ""
        if secret.properties.version:
            self._values[(name.lower(), secret.properties.version)] = value
        return value

    def _put(self, name: str, value: str, *, content_type: str, tags: Mapping[str, str], doing: str) -> _Version:
        """Write a new version; returns it, and teaches the clock its creation time."""
        with self._azure(doing):
            written = self.client.set_secret(
                name,
                value,
                content_type=content_type,
                tags=dict(tags),
                enabled=True,
                raw_response_hook=self._clock.hook,
            )
        received = time.monotonic()
        props = written.properties
        created = props.created_on.timestamp() if props.created_on else time.time()
        self._clock.observe(created, received)
        version = props.version or ""
        self._values[(name.lower(), version)] = value
        return _Version(version, created, dict(props.tags or {}))

    def _settle(self, written: _Version) -> None:
        """Wait until no later write can be created in the same second as ``written`` (creation times are whole
        seconds), so the versions listed next decide the race for good."""
        self._clock.wait_until(math.floor(written.created) + 1 + SETTLE_MARGIN_SECONDS)

    def _delete(self, name: str, doing: str) -> None:
        """Start deleting a secret (soft delete: recoverable for the vault's retention period); gone already is fine."""
        from azure.core.exceptions import ResourceNotFoundError

        with self._azure(doing), contextlib.suppress(ResourceNotFoundError):
            self.client.begin_delete_secret(name, raw_response_hook=self._clock.hook)

    def _json(self, name: str, version: str, doing: str) -> Any:
        text = self._value(name, version, doing)
        if text is None:
            raise StoreCorruptError(f"the secret {name} (version {version}) vanished while it was read")
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise StoreCorruptError(
                f"the secret {name} in {self.describe()} is not valid JSON ({exc.msg})",
                hint="it was changed outside jwks-tool; restore an earlier version in the vault",
            ) from exc

    # ---- configuration ----------------------------------------------------------------------------------------
    def read_config(self) -> dict[str, Any] | None:
        """The earliest version of the configuration secret (the first writer made the store; later ones lost). A
        disabled earliest version, or key sets without any configuration, is tampering: never a fall-through to a
        later version (which anyone allowed to write secrets could add, e.g. a plaintext scheme)."""
        restore = "someone changed the store's configuration outside jwks-tool; restore it (enable its first version)"
        versions = self._versions(CONFIG_SECRET, "read the store configuration", disabled=True)
        if not versions:
            self._refuse_orphans()
            return None
        first = min(versions, key=lambda v: v.order)
        if not first.enabled:
            raise StoreCorruptError(
                f"the first version of the secret {CONFIG_SECRET} in {self.describe()} is disabled", hint=restore
            )
        data = self._json(CONFIG_SECRET, first.version, "read the store configuration")
        return self.check_config_document(data, f"the secret {CONFIG_SECRET} in {self.describe()}")

    def _refuse_orphans(self) -> None:
        """No configuration: a new store, unless key sets or private halves are there already (then the
        configuration was deleted)."""
        with self._azure("list the store's secrets"):
            for props in self.client.list_properties_of_secrets(raw_response_hook=self._clock.hook):
                name = (props.name or "").lower()
                if name.startswith((SET_PREFIX, KEY_PREFIX)):
                    raise StoreCorruptError(
                        f"the store {self.describe()} holds key sets but no configuration ({CONFIG_SECRET})",
                        hint=f"someone deleted it; recover it (az keyvault secret recover --name {CONFIG_SECRET}) "
                        "or restore it from a backup",
                    )

    def init_config(self, config: Mapping[str, Any]) -> None:
        """Create the configuration secret; ConflictError if it exists or another writer created it at the same time."""
        with self._held():
            if self._versions(CONFIG_SECRET, "read the store configuration", disabled=True):
                raise ConflictError(
                    f"the store {self.describe()} exists already",
                    hint="another jwks-tool made it; run the command again",
                )
            document = {"format": "jwks-tool-store", "schema": STORE_SCHEMA, **config}
            writer = uuid.uuid4().hex
            written = self._put(
                CONFIG_SECRET,
                json.dumps(document, indent=2, ensure_ascii=False),
                content_type=CONTENT_TYPE_JSON,
                tags={"schema": str(STORE_SCHEMA), "writer": writer},
                doing="create the store configuration",
            )
            self._settle(written)
            versions = self._versions(CONFIG_SECRET, "read the store configuration")
            first = min(versions, key=lambda v: v.order) if versions else None
            if first is None or first.tags.get("writer") != writer:
                raise ConflictError(
                    f"the store {self.describe()} was created by someone else at the same time",
                    hint="run the command again (it will use their store)",
                )

    # ---- key sets ---------------------------------------------------------------------------------------------
    def list_refs(self) -> list[SetRef]:
        """Every enabled key set secret, sorted."""
        refs: set[SetRef] = set()
        with self._azure("list the key sets"):
            for props in self.client.list_properties_of_secrets(raw_response_hook=self._clock.hook):
                name = props.name or ""
                if props.enabled is False or not name.lower().startswith(SET_PREFIX):
                    continue
                ref = ref_from_secret_name(name, props.tags)
                if ref is not None:
                    refs.add(ref)
        return sorted(refs)

    def _head(self, ref: SetRef) -> _Version | None:
        """The set's current version: the end of its chain of winners. A newer version without jwks-tool's revision
        tag was written outside jwks-tool (a hand edit or restore): that is damage, not a version to skip."""
        name = set_secret_name(ref)
        versions = self._versions(name, f"read the key set {ref}")
        chain = _winners(versions)
        head = chain[-1] if chain else None
        foreign = [v for v in versions if v.revision is None and (head is None or (v.created, v.version) >= head.order)]
        if foreign:
            newest = max(foreign, key=lambda v: v.order)
            back = "to go back to its last jwks-tool version" if head else "(it holds no jwks-tool version)"
            raise StoreCorruptError(
                f"the newest version of the secret {name} in {self.describe()} was written outside jwks-tool "
                "(it has no revision tag)",
                hint=f"disable that version {back} (az keyvault secret set-attributes --enabled false --id "
                f"{self._secret_id(name)}/{newest.version}), or restore the secret from a backup",
            )
        return head

    def _set_document(self, ref: SetRef, head: _Version) -> dict[str, Any]:
        name = set_secret_name(ref)
        data = self._json(name, head.version, f"read the key set {ref}")
        if not isinstance(data, dict):
            raise StoreCorruptError(f"the secret {name} in {self.describe()} is not a jwks-tool key set")
        return data

    def _secret_id(self, name: str) -> str:
        """The secret's identifier, as ``az keyvault secret ... --id`` takes it."""
        return f"https://{urlsplit(self.connection.vault_url).netloc}/secrets/{name}"

    def damage_fix(self, ref: SetRef) -> str:
        """Restore the set's secret or delete it."""
        name = set_secret_name(ref)
        return (
            f"restore the secret {name} in {self.describe()} from a backup, or delete it (az keyvault secret delete "
            f"--id {self._secret_id(name)}: its keys are lost, the audit log keeps their story)"
        )

    def read_set(self, ref: SetRef) -> KeySet | None:
        """The set at the end of its secret's chain of winning versions, checked; None when there is none."""
        head = self._head(ref)
        if head is None:
            return None
        name = set_secret_name(ref)
        keyset = KeySet.from_dict(self._set_document(ref, head), f"the secret {name} in {self.describe()}")
        if keyset.ref != ref or keyset.revision != head.revision:
            raise StoreCorruptError(
                f"the secret {name} in {self.describe()} holds {keyset.ref} revision {keyset.revision}, not {ref} "
                f"revision {head.revision}",
                hint="it was changed outside jwks-tool; restore an earlier version in the vault",
            )
        return keyset

    def write_set(self, keyset: KeySet, *, expected_revision: int) -> KeySet:
        """Write the set as a new secret version (its private halves as secrets of their own) if its revision is
        still ``expected_revision`` and this version wins the race (see the module's description of concurrency)."""
        ref = keyset.ref
        name = set_secret_name(ref)
        with self._held():
            head = self._head(ref)
            revision = 0 if head is None else head.revision or 0
            self.check_revision(ref, revision, expected_revision)
            previous = None if head is None else self._set_document(ref, head)
            stored = dataclasses.replace(keyset, revision=revision + 1)
            document, uploads = self._with_references(stored)
            text = _document_text(document)
            size = len(text.encode("utf-8"))
            if size > MAX_SECRET_BYTES:
                raise StoreError(
                    f"key set {ref} would be {size:,} bytes; a Key Vault secret holds at most {MAX_SECRET_BYTES:,}",
                    hint=f"drop its retired keys (their history stays in the audit log): jwks-tool prune {ref.name} "
                    f"--env {ref.env.value}",
                )
            created = [upload.name for upload in uploads if self._upload(ref, upload)]
            writer = uuid.uuid4().hex
            tags = {
                "revision": str(revision + 1),
                "parent": NO_PARENT if head is None else head.version,
                "writer": writer,
                "set": ref.name,
                "env": ref.env.value,
            }
            try:
                written = self._put(
                    name, text, content_type=CONTENT_TYPE_JSON, tags=tags, doing=f"write the key set {ref}"
                )
            except Exception as exc:
                # the write may have landed all the same (a reply lost on the way back, retries spent). Our
                # versions carry our writer tag: if one is there, go on and let the race decide. If none is and the
                # vault answered with an error, the private halves uploaded for this write are orphans: delete
                # them. If it never answered, a request may still be on its way in: keep them (sealed) rather than
                # risk a set that names a deleted private half
                landed = None
                with contextlib.suppress(Exception):
                    versions = self._versions(name, f"check the write of the key set {ref}")
                    ours = [v for v in versions if v.tags.get("writer") == writer]
                    landed = min(ours, key=lambda v: v.order) if ours else None
                    if landed is None and _answered(exc):
                        self._discard(ref, created, None)
                if landed is None:
                    raise
                written = landed
            self._settle(written)
            chain = _winners(self._versions(name, f"check the write of the key set {ref}"))
            winner = chain[revision] if len(chain) > revision else None
            if winner is None or winner.writer != writer:
                self._discard(ref, created, winner)
                raise ConflictError(
                    f"key set {ref} was changed by someone else at the same time; run the command again",
                    hint="nothing of this command was kept",
                )
            kept = _references(document)
            for secret, kid in _references(previous).items():
                if secret not in kept:
                    self._dropped.append(_Dropped(secret, kid, ref))
            if self._depth == 0:  # not inside lock(): nothing else comes, delete now
                self._delete_dropped(quiet=False)
            return KeySet.from_dict(document, f"the secret {name} in {self.describe()}")

    def set_size(self, keyset: KeySet) -> tuple[int, int]:
        """A set is one secret: its document, private halves replaced by references, holds at most 25 KB."""
        return len(_document_text(self._with_references(keyset)[0]).encode("utf-8")), MAX_SECRET_BYTES

    def _with_references(self, keyset: KeySet) -> tuple[dict[str, Any], list[_Upload]]:
        """The set document to store (private halves replaced by references) and the private halves to write."""
        document = keyset.to_dict()
        uploads: list[_Upload] = []
        for entry, record in zip(document["keys"], keyset.keys, strict=True):
            sealed = record.sealed_private
            if sealed is None or sealed.startswith(REFERENCE_PREFIX):
                continue
            secret = key_secret_name(record.thumbprint)
            entry["sealed_private"] = REFERENCE_PREFIX + secret
            uploads.append(_Upload(secret, record.kid, record.thumbprint, sealed))
        return document, uploads

    def _upload(self, ref: SetRef, upload: _Upload) -> bool:
        """Write one private half unless the vault holds it already; True if its secret is new."""
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

        doing = f"write the private half of {upload.kid}"
        existing = None
        with self._azure(doing), contextlib.suppress(ResourceNotFoundError):
            existing = self.client.get_secret(upload.name, raw_response_hook=self._clock.hook)
        if existing is not None:
            owner = existing.properties.tags or {}
            if owner.get("set", ref.name) != ref.name or owner.get("env", ref.env.value) != ref.env.value:
                raise StoreError(
                    f"the key {upload.kid} is already kept for the key set {owner.get('set')} "
                    f"({owner.get('env')}) in {self.describe()}",
                    hint="a key can be in one set of a Key Vault store; generate a new key for this set",
                )
            if existing.value == upload.value:
                return False
        tags = {"set": ref.name, "env": ref.env.value, "kid": upload.kid[:256], "thumbprint": upload.thumbprint}
        try:
            self._put(upload.name, upload.value, content_type=CONTENT_TYPE_SEALED, tags=tags, doing=doing)
        except RemoteError as exc:
            cause = exc.__cause__
            if not (isinstance(cause, HttpResponseError) and cause.status_code == 409):
                raise
            # the same key was deleted before (retired, or a lost race): recover its secret, then write over it
            with self._azure(f"recover the deleted secret {upload.name}"):
                self.client.begin_recover_deleted_secret(upload.name, raw_response_hook=self._clock.hook).wait()
            self._put(upload.name, upload.value, content_type=CONTENT_TYPE_SEALED, tags=tags, doing=doing)
        return existing is None

    def _discard(self, ref: SetRef, created: Sequence[str], winner: _Version | None) -> None:
        """After a lost race: delete the private halves this write added that the winner does not reference."""
        if not created:
            return
        with contextlib.suppress(Exception):  # best effort: an orphan secret is sealed and harmless
            used = _references(self._set_document(ref, winner)) if winner is not None else {}
            for secret in created:
                if secret not in used:
                    self._delete(secret, f"delete the unused secret {secret}")

    def _delete_dropped(self, *, quiet: bool) -> None:
        """Delete the private halves written sets no longer reference (soft delete)."""
        dropped, self._dropped = self._dropped, []
        for item in dropped:
            try:
                self._delete(item.name, f"delete the private half of {item.kid} after updating {item.ref}")
            except RemoteError as exc:
                if quiet:  # an error is on its way out already; it matters more
                    continue
                raise RemoteError(
                    exc.message,
                    hint=f"the key set was updated; delete the secret {item.name} in {self.describe()} by hand "
                    f"(az keyvault secret delete --id {self._secret_id(item.name)})",
                ) from exc

    def resolve_sealed(self, sealed: str) -> str:
        """Fetch the sealed private JWK a ``kv-secret:NAME`` (or ``kv-secret:NAME/VERSION``) reference names."""
        if not sealed.startswith(REFERENCE_PREFIX):
            return sealed
        name, _, version = sealed[len(REFERENCE_PREFIX) :].partition("/")
        if not SECRET_NAME_RE.fullmatch(name) or (version and not re.fullmatch(r"[0-9A-Za-z]{1,64}", version)):
            raise StoreCorruptError(f"bad private key reference {sealed!r} in {self.describe()}")
        value = self._value(name, version or None, f"read the private key secret {name}")
        if not value:
            raise StoreCorruptError(
                f"the private key secret {name} is missing from {self.describe()}",
                hint="if it was deleted by mistake, recover it (az keyvault secret recover) within the retention "
                "period",
            )
        return value

    # ---- lock and audit ---------------------------------------------------------------------------------------
    def _held(self) -> AbstractContextManager[None]:
        return thread_lock_held(self._lock, self)

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Serialise this store object's writers (a thread lock). Other processes and machines are kept apart by
        the revision check of :meth:`write_set`. Private halves dropped by writes are deleted on the way out."""
        with self._held():
            self._depth += 1
            failed = True
            try:
                yield
                failed = False
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self._delete_dropped(quiet=failed)

    def append_audit(self, events: Sequence[Mapping[str, Any]]) -> None:
        """Each append is a new version of the month's audit secret holding only the new events: a version is
        written atomically and never overwritten, so writers on several machines can append at once without
        losing an entry."""
        lines = "".join(json.dumps(dict(event), ensure_ascii=False, separators=(",", ":")) + "\n" for event in events)
        if not lines:
            return
        if len(lines.encode("utf-8")) > MAX_SECRET_BYTES:
            raise StoreError(f"the audit events are {len(lines.encode()):,} bytes, too many for one secret")
        month = datetime.now(UTC).strftime("%Y%m")
        self._put(
            audit_secret_name(month, 1),
            lines,
            content_type=CONTENT_TYPE_AUDIT,
            tags={"month": month, "at": str(time.time_ns())},  # orders appends within the vault's 1 s resolution
            doing="append to the audit log",
        )

    def read_audit(self) -> list[dict[str, Any]]:
        """Every version of every audit secret, events in time order (reads one version per append)."""
        names: list[tuple[str, int, str]] = []
        with self._azure("list the audit log"):
            for props in self.client.list_properties_of_secrets(raw_response_hook=self._clock.hook):
                match = _AUDIT_NAME_RE.fullmatch((props.name or "").lower())
                if match and props.enabled is not False:
                    names.append((match.group(1), int(match.group(2) or 1), props.name or ""))
        events: list[tuple[int, float, str, int, dict[str, Any]]] = []

        def appended(version: _Version) -> tuple[int, float, str]:
            at = version.tags.get("at", "")
            return (int(at) if at.isdigit() else int(version.created * 1e9), version.created, version.version)

        for _month, _part, name in sorted(names):
            for version in sorted(self._versions(name, "list the audit log"), key=appended):
                text = self._value(name, version.version, "read the audit log") or ""
                for number, line in enumerate(text.splitlines(), 1):
                    if not line.strip():
                        continue
                    try:
                        event = json.loads(line)
                    except json.JSONDecodeError:
                        raise StoreCorruptError(
                            f"the audit secret {name} line {number} is not JSON",
                            hint=f"restore the version of the secret {name} that holds it from a backup",
                        ) from None
                    if isinstance(event, dict):
                        events.append((*appended(version), number, event))
        events.sort(key=lambda item: item[:4])
        return [event for *_, event in events]
