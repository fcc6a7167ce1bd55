"""Azure Key Vault: push a key set's active private JWK as the secrets Altinn's libraries read, and compare.

    >>> from jwks_tool.integrations.azure.keyvault import Preset, secret_names
    >>> sorted(secret_names(Preset.ALTINN_APP, client_id="abc").values())
    ['MaskinportenSettings--Authority', 'MaskinportenSettings--ClientId', 'MaskinportenSettings--JwkBase64']

The value is the standard base64 of the compact UTF-8 JSON of one private JWK (``EncodedJwk`` in
Altinn.ApiClients.Maskinporten, ``JwkBase64`` in Altinn Studio apps). Each secret gets the key's expiry and start as
``expires`` / ``not-before``, a content type, and tags (kid, thumbprint, set, environment; never key material).
Re-pushing an unchanged key writes nothing (the current secret's kid and thumbprint tags are compared); after a
rotation it adds a new secret version. Names and sizes are checked against Key Vault's rules before anything is sent.

The azure packages are imported only here, and only when a vault is used. Every azure exception becomes a
:class:`~jwks_tool.errors.RemoteError` with the fix: not logged in, missing role, vault not found, throttled.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar

from jwks_tool.core.environments import audience_for
from jwks_tool.core.model import KeyRecord, KeySet
from jwks_tool.core.signing import digest
from jwks_tool.errors import InputError, RemoteError

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.keyvault.secrets import SecretClient

SECRET_NAME_RE = re.compile(r"\A[0-9A-Za-z-]{1,127}\Z")
MAX_SECRET_BYTES = 25 * 1024
CONTENT_TYPE_JWK = "application/jwk+json; encoding=base64"
T = TypeVar("T")


class Preset(StrEnum):
    """How a consumer names its secrets (``--`` is ``:`` in .NET configuration)."""

    ALTINN_APP = "altinn-app"
    """Altinn Studio apps: MaskinportenSettings--JwkBase64 (+ --ClientId, --Authority with a client id)."""
    APICLIENT = "apiclient"
    """Altinn.ApiClients.Maskinporten: MaskinportenSettings--EncodedJwk (+ --ClientId with a client id)."""


class Credential(StrEnum):
    DEFAULT = "default"
    """DefaultAzureCredential: environment, workload identity, managed identity, az login, ..."""
    CLI = "cli"
    ENVIRONMENT = "environment"
    MANAGED_IDENTITY = "managed-identity"


@dataclasses.dataclass(frozen=True)
class Connection:
    """How to reach a vault."""

    vault_url: str
    credential: Credential = Credential.DEFAULT
    ca_bundle: str | None = None
    """A PEM CA bundle for private endpoints, proxies and emulators."""
    verify_challenge_resource: bool = True
    """Turn off for emulators and private endpoints whose host is not under vault.azure.net."""
    retry_total: int | None = None


def normalise_vault_url(vault: str) -> str:
    if vault.startswith("https://"):
        return vault if vault.endswith("/") else vault + "/"
    if re.fullmatch(r"[A-Za-z][A-Za-z0-9-]{1,22}[A-Za-z0-9]", vault):
        return f"https://{vault}.vault.azure.net/"
    raise InputError(f"invalid vault {vault!r}", hint="give https://NAME.vault.azure.net/ or a vault name")


def secret_names(preset: Preset | None, *, client_id: str | None, secret_name: str | None = None) -> dict[str, str]:
    """The secret names to write: role (jwk, client_id, authority) → name."""
    if secret_name is not None:
        names = {"jwk": secret_name}
    elif preset is Preset.ALTINN_APP:
        names = {"jwk": "MaskinportenSettings--JwkBase64"}
        if client_id:
            names |= {"client_id": "MaskinportenSettings--ClientId", "authority": "MaskinportenSettings--Authority"}
    elif preset is Preset.APICLIENT:
        names = {"jwk": "MaskinportenSettings--EncodedJwk"}
        if client_id:
            names["client_id"] = "MaskinportenSettings--ClientId"
    else:
        raise InputError(
            "which secret should hold the key?", hint="pass --for altinn-app, --for apiclient or --secret-name"
        )
    for name in names.values():
        if not SECRET_NAME_RE.fullmatch(name):
            raise InputError(
                f"invalid Key Vault secret name {name!r}",
                hint="use 1-127 characters of 0-9 A-Z a-z - (write -- where .NET configuration has :)",
            )
    return names


@dataclasses.dataclass(frozen=True)
class PlannedSecret:
    """One secret to write. ``value`` may be private key material: it is never in repr, logs or dry-run output."""

    role: str
    name: str
    value: str = dataclasses.field(repr=False)
    content_type: str
    tags: dict[str, str]
    expires: datetime | None
    not_before: datetime | None
    sensitive: bool

    def shown_value(self) -> str:
        return f"<{len(self.value)} characters, redacted>" if self.sensitive else self.value


def plan(
    keyset: KeySet,
    record: KeyRecord,
    b64_value: str,
    names: dict[str, str],
    *,
    client_id: str | None,
) -> list[PlannedSecret]:
    tags = {"kid": record.kid, "thumbprint": record.thumbprint, "set": keyset.ref.name, "env": keyset.ref.env.value}
    planned = [
        PlannedSecret(
            "jwk", names["jwk"], b64_value, CONTENT_TYPE_JWK, tags, record.expires, record.created, sensitive=True
        )
    ]
    if "client_id" in names and client_id:
        planned.append(
            PlannedSecret(
                "client_id", names["client_id"], client_id, "text/plain", {"set": keyset.ref.name}, None, None, False
            )
        )
    if "authority" in names:
        authority = audience_for(keyset.ref.env.value)
        planned.append(
            PlannedSecret(
                "authority", names["authority"], authority, "text/plain", {"set": keyset.ref.name}, None, None, False
            )
        )
    for secret in planned:
        if len(secret.value.encode("utf-8")) > MAX_SECRET_BYTES:
            raise InputError(
                f"the value for {secret.name} is {len(secret.value.encode()):,} bytes; Key Vault holds at most 25 KB",
                hint="use a smaller key (RSA 4096 fits easily)",
            )
    return planned


@dataclasses.dataclass(frozen=True)
class Outcome:
    name: str
    action: str
    """``created``, ``new-version``, ``unchanged`` or (dry run) ``would-create`` / ``would-add-version``."""
    current_kid: str | None
    version: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "action": self.action, "current_kid": self.current_kid, "version": self.version}


# ---- the azure boundary -------------------------------------------------------------------------------------------
def make_credential(kind: Credential) -> TokenCredential:
    with azure_errors("sign in to Azure"):
        import azure.identity as identity

        match kind:
            case Credential.DEFAULT:
                return identity.DefaultAzureCredential()
            case Credential.CLI:
                return identity.AzureCliCredential()
            case Credential.ENVIRONMENT:
                return identity.EnvironmentCredential()
            case Credential.MANAGED_IDENTITY:
                return identity.ManagedIdentityCredential()
    raise InputError(f"unknown credential {kind!r}")  # pragma: no cover - the enum is exhaustive


def client_kwargs(connection: Connection) -> dict[str, Any]:
    """Keyword arguments for every Key Vault SDK client: challenge-resource check, CA bundle, retries."""
    kwargs: dict[str, Any] = {"verify_challenge_resource": connection.verify_challenge_resource}
    if connection.ca_bundle:
        kwargs["connection_verify"] = connection.ca_bundle
    if connection.retry_total is not None:
        kwargs["retry_total"] = connection.retry_total
    return kwargs


def secret_client(connection: Connection, credential: TokenCredential | None = None) -> SecretClient:
    from azure.keyvault.secrets import SecretClient

    return SecretClient(
        connection.vault_url, credential or make_credential(connection.credential), **client_kwargs(connection)
    )


def key_client(connection: Connection) -> Any:
    from azure.keyvault.keys import KeyClient

    return KeyClient(connection.vault_url, make_credential(connection.credential), **client_kwargs(connection))


@contextmanager
def azure_errors(doing: str, *, vault: str = "") -> Iterator[None]:
    """Turn azure exceptions into one-line RemoteErrors that name the fix."""
    try:
        yield
    except ImportError as exc:  # pragma: no cover - the azure packages are dependencies
        raise RemoteError(f"the Azure SDK is missing ({exc.name})", hint="pip install jwks-tool again") from exc
    except Exception as exc:
        raise _translate(exc, doing, vault) from exc


def _translate(exc: Exception, doing: str, vault: str) -> Exception:
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ResourceNotFoundError,
        ServiceRequestError,
        ServiceResponseError,
    )

    try:
        from azure.identity import CredentialUnavailableError
    except ImportError:  # pragma: no cover
        CredentialUnavailableError = ClientAuthenticationError  # type: ignore[misc,assignment]

    where = f" {vault}" if vault else ""
    if isinstance(exc, CredentialUnavailableError | ClientAuthenticationError):
        return RemoteError(
            f"cannot {doing}: not signed in to Azure ({_first_line(exc)})",
            hint="run `az login`, set AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET, or use a managed identity",
        )
    if isinstance(exc, ResourceNotFoundError):
        return RemoteError(f"cannot {doing}: not found in the vault{where}", hint="check the vault and secret names")
    if isinstance(exc, HttpResponseError):
        status = exc.status_code or 0
        from jwks_tool.core.text import printable

        code = printable(getattr(getattr(exc, "error", None), "code", None) or "", limit=100)
        if status == 403:
            if "Disabled" in str(exc) or code == "SecretDisabled":
                return RemoteError(
                    f"cannot {doing}: the secret is disabled", hint="enable it in the vault or use another name"
                )
            return RemoteError(
                f"cannot {doing}: no permission in the vault{where}",
                hint="you need the 'Key Vault Secrets Officer' role (or a get/set/list secret access policy)",
            )
        if status == 429:
            return RemoteError(
                f"cannot {doing}: the vault{where} is throttling requests (HTTP 429) and retries ran out",
                hint="wait a minute and run the command again (each step is safe to repeat)",
            )
        if status == 409:
            return RemoteError(
                f"cannot {doing}: the secret is deleted but recoverable ({code or 'Conflict'})",
                hint="recover or purge it in the vault (az keyvault secret recover/purge), or use another name",
            )
        return RemoteError(f"cannot {doing}: the vault answered HTTP {status} {code}".rstrip(), hint=_first_line(exc))
    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        return RemoteError(
            f"cannot {doing}: the vault{where} cannot be reached ({_first_line(exc)})",
            hint="check the vault URL, your network or proxy, and --ca-bundle for private endpoints",
        )
    if isinstance(exc, ValueError) and "challenge" in str(exc).lower():
        return RemoteError(
            f"cannot {doing}: the vault's authentication challenge names another resource",
            hint="for emulators and private endpoints pass --no-verify-challenge-resource",
        )
    return exc


def _first_line(exc: BaseException) -> str:
    from jwks_tool.core.text import printable

    text = str(exc).strip().splitlines()
    return printable(text[0], limit=200) if text else type(exc).__name__


# ---- push and status ----------------------------------------------------------------------------------------------
def current_secret(client: SecretClient, name: str, *, vault: str) -> Any | None:
    from azure.core.exceptions import ResourceNotFoundError

    with azure_errors(f"read the secret {name}", vault=vault):
        try:
            return client.get_secret(name)
        except ResourceNotFoundError:
            return None


def push(client: SecretClient, planned: Sequence[PlannedSecret], *, vault: str, dry_run: bool) -> list[Outcome]:
    """Write what changed. The key secret goes last, so a failure never leaves settings pointing at a new key."""
    outcomes: list[Outcome] = []
    order = sorted(planned, key=lambda secret: secret.role == "jwk")
    for secret in order:
        existing = current_secret(client, secret.name, vault=vault)
        current_kid = None if existing is None else (existing.properties.tags or {}).get("kid")
        if existing is not None and _same(existing, secret):
            outcomes.append(Outcome(secret.name, "unchanged", current_kid, existing.properties.version))
            continue
        action = "create" if existing is None else "add-version"
        if dry_run:
            outcomes.append(Outcome(secret.name, f"would-{action}", current_kid))
            continue
        with azure_errors(f"write the secret {secret.name}", vault=vault):
            written = client.set_secret(
                secret.name,
                secret.value,
                content_type=secret.content_type,
                tags=secret.tags,
                expires_on=secret.expires,
                not_before=secret.not_before,
                enabled=True,
            )
        outcomes.append(
            Outcome(
                secret.name, "created" if existing is None else "new-version", current_kid, written.properties.version
            )
        )
    return outcomes


def _same(existing: Any, secret: PlannedSecret) -> bool:
    tags = existing.properties.tags or {}
    if not existing.properties.enabled:
        return False
    if secret.sensitive:
        return bool(tags.get("kid") == secret.tags["kid"] and tags.get("thumbprint") == secret.tags["thumbprint"])
    return bool(existing.value == secret.value)


@dataclasses.dataclass(frozen=True)
class SecretStatus:
    name: str
    exists: bool
    kid: str | None
    thumbprint: str | None
    matches_active: bool
    expires: datetime | None
    enabled: bool | None
    version: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "exists": self.exists,
            "kid": self.kid,
            "thumbprint": self.thumbprint,
            "matches_active": self.matches_active,
            "expires": None if self.expires is None else self.expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "enabled": self.enabled,
            "version": self.version,
        }


def status(client: SecretClient, name: str, active: KeyRecord | None, *, vault: str) -> SecretStatus:
    existing = current_secret(client, name, vault=vault)
    if existing is None:
        return SecretStatus(name, False, None, None, False, None, None, None)
    tags = existing.properties.tags or {}
    kid = tags.get("kid")
    thumb = _value_thumbprint(existing.value) or tags.get("thumbprint")
    matches = active is not None and kid == active.kid and thumb == active.thumbprint
    props = existing.properties
    return SecretStatus(name, True, kid, thumb, matches, props.expires_on, props.enabled, props.version)


def _value_thumbprint(value: str | None) -> str | None:
    """The thumbprint of the JWK a secret value decodes to (the value itself is never kept or shown)."""
    from jwks_tool.core.keys import decode_base64_json, thumbprint
    from jwks_tool.errors import JwksToolError

    if not value:
        return None
    try:
        decoded = decode_base64_json(value)
        return thumbprint(decoded) if isinstance(decoded, dict) else None
    except JwksToolError:
        return None


def call(doing: str, vault: str, func: Callable[[], T]) -> T:
    with azure_errors(doing, vault=vault):
        return func()


# ---- keys made inside the vault -----------------------------------------------------------------------------------
def check_key_name(name: str) -> None:
    if not SECRET_NAME_RE.fullmatch(name):
        raise InputError(f"invalid Key Vault key name {name!r}", hint="use 1-127 characters of 0-9 A-Z a-z -")


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
    from jwks_tool.core.b64 import b64url_encode

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


# ---- pushing many sets: paced below the vault's limits, requests overlapped ----------------------------------------
SECRET_WRITES_PER_10S = 300
"""Azure's documented per-vault limit for secret creates/updates per 10 seconds."""


PACING_MARGIN = 1.05
"""Our window is this much longer than the vault's, so requests still in flight never push it over the limit."""


class WindowLimiter:
    """At most ``limit`` events in any ``window`` seconds (a sliding window), shared by worker threads."""

    def __init__(self, limit: int, window: float, *, clock: Callable[[], float] | None = None) -> None:
        import collections
        import threading
        import time

        self.limit = limit
        self.window = window
        self._clock = clock or time.monotonic
        self._sleep = time.sleep
        self._events: collections.deque[float] = collections.deque()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        while True:
            with self._lock:
                now = self._clock()
                while self._events and now - self._events[0] >= self.window:
                    self._events.popleft()
                if len(self._events) < self.limit:
                    self._events.append(now)
                    return
                wait = self.window - (now - self._events[0])
            self._sleep(max(wait, 0.001))


def push_many(
    client: SecretClient,
    batches: Sequence[Sequence[PlannedSecret]],
    *,
    vault: str,
    dry_run: bool,
    limiter: WindowLimiter | None = None,
    workers: int = 8,
    progress: Callable[[int], None] | None = None,
) -> list[list[Outcome]]:
    """Push several sets' secrets with ``workers`` requests in flight, writes paced by ``limiter``.

    Each batch (one set) is pushed in order by one worker; results come back in the batches' order. The first
    error is raised after the running batches finish, so nothing is left half-written within a batch.
    """
    from concurrent.futures import ThreadPoolExecutor

    pacer = limiter or WindowLimiter(SECRET_WRITES_PER_10S, 10.0 * PACING_MARGIN)

    class PacedClient:
        def __init__(self, inner: SecretClient) -> None:
            self._inner = inner

        def get_secret(self, name: str) -> Any:
            return self._inner.get_secret(name)

        def set_secret(self, name: str, value: str, **kwargs: Any) -> Any:
            pacer.acquire()
            return self._inner.set_secret(name, value, **kwargs)

    paced = PacedClient(client)

    def one(batch: Sequence[PlannedSecret]) -> list[Outcome]:
        result = push(paced, batch, vault=vault, dry_run=dry_run)  # type: ignore[arg-type]
        if progress is not None:
            progress(1)
        return result

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(pool.map(one, batches))


def push_as_key(
    connection: Connection,
    *,
    name: str,
    private_members: dict[str, Any],
    record: KeyRecord,
    keyset: KeySet,
    hsm: bool,
    dry_run: bool,
) -> Outcome:
    """Import the private key into Key Vault as a key (not a secret), with the key's expiry and tags.

    An unchanged key (same kid and thumbprint tags) is not imported again; a new one becomes a new key version.
    """
    from azure.core.exceptions import ResourceNotFoundError

    from jwks_tool.core.b64 import b64url_decode

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
            return Outcome(name, "unchanged", current.get("kid"), existing.properties.version if existing else None)
        action = "create" if existing is None else "add-version"
        if dry_run:
            return Outcome(name, f"would-{action}", None if current is None else current.get("kid"))
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
    return Outcome(
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
        with azure_errors(f"sign with the Key Vault key {self.key_id}", vault=self._connection.vault_url):
            from azure.keyvault.keys.crypto import CryptographyClient, SignatureAlgorithm

            credential = make_credential(self._connection.credential)
            client = CryptographyClient(self.key_id, credential, **client_kwargs(self._connection))
            result = client.sign(SignatureAlgorithm(self.alg), digest(self.alg, data))
        return bytes(result.signature)
