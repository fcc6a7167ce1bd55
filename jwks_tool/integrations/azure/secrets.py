"""Push a key set's active private JWK to Azure Key Vault as the secrets Altinn's libraries read, and compare.

    >>> from jwks_tool.integrations.azure.secrets import Preset, secret_names
    >>> sorted(secret_names(Preset.ALTINN_APP, client_id="abc").values())
    ['MaskinportenSettings--Authority', 'MaskinportenSettings--ClientId', 'MaskinportenSettings--JwkBase64']

What each consumer reads (names and values) is :mod:`jwks_tool.core.consumers`; this module writes it
(:func:`plan_items`, :func:`push`), and :class:`jwks_tool.destinations.keyvault.KeyVaultSecrets` is the
destination built on it. The key's secret gets the key's expiry and start as
``expires`` / ``not-before``, a content type, and tags (kid, thumbprint, set, environment; never key material).
Re-pushing an unchanged key writes nothing (the current secret's kid and thumbprint tags are compared); after a
rotation it adds a new secret version. Names and sizes are checked against Key Vault's rules before anything is sent.
Many sets are pushed with requests overlapped and writes paced below the vault's limit (:func:`push_many`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from jwks_tool.core.consumers import (
    CONTENT_TYPE_B64_JWK,
    KEY_ROLES,
    Consumer,
    Item,
    Naming,
    consumer_choices,
    roles_and_names,
)
from jwks_tool.core.keys import decode_base64_json, thumbprint
from jwks_tool.core.model import KeyRecord
from jwks_tool.errors import ConflictError, InputError, JwksToolError
from jwks_tool.integrations.azure.connection import MAX_SECRET_BYTES, azure_errors, check_name

if TYPE_CHECKING:
    from azure.keyvault.secrets import SecretClient

CONTENT_TYPE_JWK = CONTENT_TYPE_B64_JWK

Preset = Consumer
"""The consumers (``--for``): they live in :mod:`jwks_tool.core.consumers`, the one place that knows each format."""


def secret_names(
    preset: Consumer | None, *, client_id: str | None, secret_name: str | None = None, prefix: str = ""
) -> dict[str, str]:
    """The secret names a consumer reads in Key Vault: role (jwk for the one holding the key, client_id, ...) →
    name, each checked against Key Vault's rules. ``secret_name`` names the key's secret alone instead."""
    if secret_name is not None:
        names = {"jwk": secret_name}
    elif preset is None:
        raise InputError(
            "which secret should hold the key?",
            hint=f"pass --for ({'|'.join(consumer_choices())}) or --secret-name",
        )
    else:
        names = {
            ("jwk" if role in KEY_ROLES else role): name
            for role, name in roles_and_names(preset, Naming.SECRET, prefix=prefix)
            if client_id or role not in ("client_id", "authority")
        }
    for name in names.values():
        check_name(name)
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
        """The value as dry runs and reports show it: redacted (its length only) when sensitive."""
        return f"<{len(self.value)} characters, redacted>" if self.sensitive else self.value


def plan_items(
    items: Sequence[Item],
    *,
    tags: Mapping[str, str],
    expires: datetime | None,
    not_before: datetime | None,
    set_name: str,
) -> list[PlannedSecret]:
    """The secrets to write for a consumer's items: the key's secret (the sensitive item) gets the key's ``tags``
    (kid, thumbprint, set, env), expiry and start; the others a ``set`` tag. Names and sizes are checked here."""
    planned = []
    for item in items:
        check_name(item.name)
        if item.sensitive:
            planned.append(
                PlannedSecret("jwk", item.name, item.value, item.content_type, dict(tags), expires, not_before, True)
            )
        else:
            planned.append(
                PlannedSecret(item.role, item.name, item.value, item.content_type, {"set": set_name}, None, None, False)
            )
    for secret in planned:
        if len(secret.value.encode("utf-8")) > MAX_SECRET_BYTES:
            raise InputError(
                f"the value for {secret.name} is {len(secret.value.encode()):,} bytes; Key Vault holds at most 25 KB",
                hint="use a smaller key (RSA 4096 fits easily)",
            )
    return planned


@dataclasses.dataclass(frozen=True)
class PushOutcome:
    """What a push did (or, in a dry run, would do) to one secret or vault key."""

    name: str
    action: str
    """``created``, ``new-version``, ``unchanged`` or (dry run) ``would-create`` / ``would-add-version``."""
    current_kid: str | None
    version: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The outcome as JSON output shows it."""
        return {"name": self.name, "action": self.action, "current_kid": self.current_kid, "version": self.version}


# ---- push and status ----------------------------------------------------------------------------------------------
def current_secret(client: SecretClient, name: str, *, vault: str) -> Any | None:
    """The secret's current version, or None when there is none."""
    from azure.core.exceptions import ResourceNotFoundError

    with azure_errors(f"read the secret {name}", vault=vault):
        try:
            return client.get_secret(name)
        except ResourceNotFoundError:
            return None


def push(
    client: SecretClient, planned: Sequence[PlannedSecret], *, vault: str, dry_run: bool, adopt: bool = False
) -> list[PushOutcome]:
    """Write what changed. The key secret goes last, so a failure never leaves settings pointing at a new key. Every
    secret is read first: one that exists without jwks-tool's ``set`` tag was made by someone else and is refused
    (ConflictError, nothing written) unless ``adopt``."""
    outcomes: list[PushOutcome] = []
    order = sorted(planned, key=lambda secret: secret.sensitive)
    current = [current_secret(client, secret.name, vault=vault) for secret in order]
    foreign = [
        s.name for s, existing in zip(order, current, strict=True) if existing is not None and not _ours(existing)
    ]
    if foreign and not adopt:
        raise ConflictError(
            f"the secret {foreign[0]} in {vault} was not made by jwks-tool (no jwks-tool tags), so nothing was written",
            hint="check --prefix and --secret-name, or pass --adopt to take it over",
        )
    for secret, existing in zip(order, current, strict=True):
        current_kid = None if existing is None else (existing.properties.tags or {}).get("kid")
        if existing is not None and _same(existing, secret):
            outcomes.append(PushOutcome(secret.name, "unchanged", current_kid, existing.properties.version))
            continue
        action = "create" if existing is None else "add-version"
        if dry_run:
            outcomes.append(PushOutcome(secret.name, f"would-{action}", current_kid))
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
            PushOutcome(
                secret.name, "created" if existing is None else "new-version", current_kid, written.properties.version
            )
        )
    return outcomes


def _ours(existing: Any) -> bool:
    """Whether jwks-tool wrote the secret: every secret it writes carries a ``set`` tag."""
    return "set" in (existing.properties.tags or {})


def _same(existing: Any, secret: PlannedSecret) -> bool:
    tags = existing.properties.tags or {}
    if not existing.properties.enabled:
        return False
    if secret.sensitive:
        return bool(tags.get("kid") == secret.tags["kid"] and tags.get("thumbprint") == secret.tags["thumbprint"])
    return bool(existing.value == secret.value)


@dataclasses.dataclass(frozen=True)
class SecretStatus:
    """How a secret in the vault compares with the set's active key (never the value itself)."""

    name: str
    exists: bool
    kid: str | None
    thumbprint: str | None
    matches_active: bool
    expires: datetime | None
    enabled: bool | None
    version: str | None

    def to_dict(self) -> dict[str, Any]:
        """The status as JSON output shows it."""
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
    """Compare the secret ``name`` with ``active`` by kid and thumbprint (read from the value where it decodes)."""
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
    if not value:
        return None
    try:
        decoded = decode_base64_json(value)
        return thumbprint(decoded) if isinstance(decoded, dict) else None
    except JwksToolError:
        return None


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
        """Wait until one more event fits in the window, and count it."""
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
    adopt: bool = False,
    limiter: WindowLimiter | None = None,
    workers: int = 8,
    progress: Callable[[int], None] | None = None,
) -> list[list[PushOutcome]]:
    """Push several sets' secrets with ``workers`` requests in flight, writes paced by ``limiter``.

    Each batch (one set) is pushed in order by one worker; results come back in the batches' order. The first
    error is raised after the running batches finish, so nothing is left half-written within a batch.
    """
    from concurrent.futures import ThreadPoolExecutor

    pacer = limiter or WindowLimiter(SECRET_WRITES_PER_10S, 10.0 * PACING_MARGIN)

    class PacedClient:
        """The client, with every write first waiting for the limiter."""

        def __init__(self, inner: SecretClient) -> None:
            self._inner = inner

        def get_secret(self, name: str) -> Any:
            """Read a secret (reads are not paced)."""
            return self._inner.get_secret(name)

        def set_secret(self, name: str, value: str, **kwargs: Any) -> Any:
            """Write a secret once the limiter allows it."""
            pacer.acquire()
            return self._inner.set_secret(name, value, **kwargs)

    paced = PacedClient(client)

    def one(batch: Sequence[PlannedSecret]) -> list[PushOutcome]:
        result = push(paced, batch, vault=vault, dry_run=dry_run, adopt=adopt)  # type: ignore[arg-type]
        if progress is not None:
            progress(1)
        return result

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(pool.map(one, batches))
