"""The fleet's ports over what jwks-tool has today: Digdir's self-service API, Maskinporten's token endpoint and
the consumers' destinations. Thin on purpose: each is a few calls into the integrations.

Each adapter is built once per run and shared by the worker threads: HTTP sessions and Key Vault clients are made per
call or cached behind a lock.
"""

from __future__ import annotations

import dataclasses
import os
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from jwks_tool.core.environments import audience_for, token_url_for
from jwks_tool.core.manifest import Admin, ClientSpec, Delivery, Manifest
from jwks_tool.core.model import KeyRecord, KeySet, thumbprint
from jwks_tool.errors import ConflictError, InputError, JwksToolError
from jwks_tool.integrations.maskinporten.client import PORTAL_APIS
from jwks_tool.services.fleet.manifest_file import check_certificate, delivery_target, manifest_folder
from jwks_tool.services.fleet.ports import Clock, DeliveredKey, RegisteredKey
from jwks_tool.services.key_service import AzureOptions, KeyService

if TYPE_CHECKING:
    from azure.keyvault.secrets import SecretClient

    from jwks_tool.core.certificates import AdminCredential, BusinessCertificate

DCR_READ = "idporten:dcr.read"
DCR_WRITE = "idporten:dcr.write"


@dataclasses.dataclass(frozen=True)
class Endpoints:
    """The endpoints of one environment after the manifest's overrides."""

    token_url: str
    api_url: str
    audience: str
    ca_bundle: str | None
    timeout: float = 30.0


def endpoints(manifest: Manifest, env: str, *, timeout: float = 30.0) -> Endpoints:
    """Digdir's endpoints of ``env``, with ``[endpoints.<env>]`` applied."""
    given = manifest.endpoints_for(env)
    audience = given.audience or audience_for(env)
    return Endpoints(
        given.token_url or token_url_for(audience),
        given.api_url or PORTAL_APIS[env],
        audience,
        given.ca_bundle,
        timeout,
    )


class CertificateAdminAuth:
    """An admin token from the business certificate of ``[admin.<env>]`` (``certificate``: a PKCS#12 file relative to
    the manifest, or an Azure Key Vault certificate URL): the grant Digdir wants (``x5c``, RS256, no ``kid``).

    One token per environment per run, asking for both self-service scopes, fetched again when it nears its expiry
    (by the fleet's clock). Each certificate is opened once (the passphrase asked for once); a certificate that
    cannot be opened, or is outside its dates, fails every call with the same line. ``on_certificate`` is told each
    certificate once (the organisation number shown). ``given_token`` (``JWKS_TOOL_PORTAL_TOKEN``, a token got
    elsewhere) serves the environments whose ``[admin.<env>]`` names no certificate; a certificate named wins."""

    def __init__(
        self,
        manifest: Manifest,
        azure: AzureOptions,
        clock: Clock,
        *,
        passphrase: Callable[[], str | None],
        timeout: float = 30.0,
        on_certificate: Callable[[str, BusinessCertificate], None] | None = None,
        given_token: str | None = None,
    ) -> None:
        self._manifest = manifest
        self._given_token = given_token
        self._azure = azure
        self._clock = clock
        self._passphrase = passphrase
        self._timeout = timeout
        self._on_certificate = on_certificate
        self._credentials: dict[str, AdminCredential | JwksToolError] = {}
        self._tokens: dict[str, tuple[str, datetime]] = {}
        self._lock = threading.Lock()
        self.fetched = 0
        """How many admin tokens this run got from Maskinporten."""

    def __repr__(self) -> str:
        return "CertificateAdminAuth(<certificates>)"

    def source(self, admin: Admin) -> str:
        """Where the certificate is: a vault URL as written, a file relative to the manifest's folder."""
        given = admin.certificate or ""
        if "://" in given or os.path.isabs(given):
            return given
        return os.path.join(manifest_folder(self._manifest), given)

    def _credential(self, env: str, admin: Admin) -> AdminCredential:
        from jwks_tool.services.admin import open_admin_credential

        source = self.source(admin)
        known = self._credentials.get(source)
        if known is None:
            try:
                check_certificate(self._manifest, env, admin)  # the manifest's key and line if the file is gone
                known = open_admin_credential(source, passphrase=self._passphrase, azure=self._azure)
            except JwksToolError as exc:
                known = exc
            self._credentials[source] = known
            if not isinstance(known, JwksToolError) and self._on_certificate is not None:
                self._on_certificate(admin.certificate or source, known.certificate)
        if isinstance(known, JwksToolError):
            raise known
        return known

    def token(self, env: str, scope: str) -> str:
        """A token with both self-service scopes for the environment's admin client (``scope`` is in them)."""
        from jwks_tool.integrations.maskinporten.admin import AdminRequest, admin_token

        with self._lock:
            now = self._clock.now()
            cached = self._tokens.get(env)
            if cached is not None and cached[1] > now:
                return cached[0]
            admin: Admin | None = self._manifest.admin.get(env)
            if admin is None:
                raise InputError(f"the manifest has no [admin.{env}]", hint=f"add [admin.{env}] with client_id")
            if admin.certificate is None and self._given_token:
                from jwks_tool.services.admin import check_given_token

                check_given_token(
                    self._given_token,
                    hint=f'add certificate = "virksomhet.p12" (or an Azure Key Vault certificate URL) to [admin.{env}] '
                    "and unset JWKS_TOOL_PORTAL_TOKEN",
                )
                return self._given_token
            if admin.certificate is None:
                raise InputError(
                    f"[admin.{env}] of {self._manifest.path} has no certificate",
                    hint=f'add certificate = "virksomhet.p12" (or an Azure Key Vault certificate URL) to '
                    f"[admin.{env}], or set JWKS_TOOL_PORTAL_TOKEN",
                )
            credential = self._credential(env, admin)
            where = endpoints(self._manifest, env, timeout=self._timeout)
            result = admin_token(
                credential,
                AdminRequest(admin.client_id, f"{DCR_READ} {DCR_WRITE}", env=env, audience=where.audience),
                token_url=admin.token_url or where.token_url,
                ca_bundle=where.ca_bundle,
                timeout=where.timeout,
                now=now,
            )
            self.fetched += 1
            margin = min(60, result.expires_in // 2)  # fetched again this long before it expires
            self._tokens[env] = (result.access_token, now + timedelta(seconds=max(result.expires_in - margin, 0)))
            return result.access_token


class PortalRegistrar:
    """The Registrar over Digdir's self-service API (``GET``/``PUT /clients/{id}/jwks``)."""

    def __init__(self, manifest: Manifest, auth: Any, *, timeout: float = 30.0) -> None:
        self._manifest = manifest
        self._auth = auth
        self._timeout = timeout

    def _client(self, client: ClientSpec, scope: str) -> Any:
        from jwks_tool.integrations.maskinporten.client import PortalClient

        env = client.ref.env.value
        where = endpoints(self._manifest, env)
        return PortalClient(
            where.api_url, self._auth.token(env, scope), ca_bundle=where.ca_bundle, timeout=self._timeout
        )

    def get(self, client: ClientSpec) -> list[RegisteredKey]:
        """The client's registered keys with the exp Digdir reports."""
        keys = self._client(client, DCR_READ).get_jwks(client.client_id)
        return [_registered(key) for key in keys if isinstance(key.get("kid"), str)]

    def put(self, client: ClientSpec, jwks: list[dict[str, Any]]) -> None:
        """Replace the client's registered set."""
        self._client(client, DCR_WRITE).put_jwks(client.client_id, jwks)


def _registered(jwk: dict[str, Any]) -> RegisteredKey:
    try:
        thumb: str | None = thumbprint(jwk)
    except JwksToolError:
        thumb = None
    exp = jwk.get("exp")
    when = (
        datetime.fromtimestamp(exp, UTC)
        if isinstance(exp, int) and not isinstance(exp, bool) and 0 < exp < 253402300800
        else None
    )
    return RegisteredKey(str(jwk["kid"]), thumb, when, dict(jwk))


class TokenProver:
    """The Prover over Maskinporten's token endpoint: a grant signed with the key, for the client's scopes."""

    def __init__(self, manifest: Manifest, service: KeyService, *, timeout: float = 30.0) -> None:
        self._manifest = manifest
        self._svc = service
        self._timeout = timeout

    def prove(self, client: ClientSpec, keyset: KeySet, record: KeyRecord) -> None:
        """A token with ``record``, or RemoteError with Maskinporten's reason."""
        from jwks_tool.integrations.maskinporten.client import GrantRequest, request_token

        env = client.ref.env.value
        where = endpoints(self._manifest, env, timeout=self._timeout)
        signed = self._svc.grant(
            client.ref.name, env, GrantRequest(client.client_id, client.scope, where.audience), kid=record.kid
        )
        request_token(where.token_url, signed.token, ca_bundle=where.ca_bundle, timeout=where.timeout)


UNREADABLE = DeliveredKey(None, None, readable=False)
"""What :meth:`DestinationDeliverer.delivered` says of a destination it cannot read back."""


class DestinationDeliverer:
    """The Deliverer over the destinations layer (:mod:`jwks_tool.services.delivering`): every ``to`` the
    destination registry knows, with ``deliver``'s and ``keyvault push``'s presets (``for``). Files (``out``) are
    relative to the manifest and replaced on each rotation.

    Reading back what a delivery holds (for drift and resuming): Key Vault (the key secret's ``kid`` tag and the
    thumbprint of its value), a ``.env`` file (its ``# jwks-tool: ... kid`` line), a Kubernetes Secret manifest
    written to a file (its ``jwks-tool/kid`` annotation) and a folder of files (the key's file: a JWK, base64 JWK,
    settings document, or the ``KID`` file beside a PEM). Others (a manifest on stdout, plug-ins) cannot be read
    back: :data:`UNREADABLE`."""

    def __init__(self, manifest: Manifest, service: KeyService, azure: AzureOptions) -> None:
        self._manifest = manifest
        self._svc = service
        self._azure = azure
        self._clients: dict[str, SecretClient] = {}
        self._lock = threading.Lock()

    def _path(self, delivery: Delivery) -> str | None:
        given = delivery.out
        if given is None or given == "-" or os.path.isabs(given):
            return given
        return delivery.resolved_out or os.path.join(manifest_folder(self._manifest), given)

    def target(self, delivery: Delivery) -> Any:
        """The destinations layer's Target of a manifest delivery."""
        return delivery_target(dataclasses.replace(delivery, resolved_out=self._path(delivery)))

    def _local(self, delivery: Delivery) -> DeliveredKey | None:
        """What a delivery on this machine's file system holds (as :meth:`_held`), read once, after refusing a place
        that cannot be written (a ``.env`` that is a link or a folder, a missing folder, a link out of the manifest's
        folder) or holds what jwks-tool did not write. Reading only; run by :meth:`delivered`, so ``plan`` shows a
        refusal as that client's error and ``apply`` stops that client before it makes or registers a key it could
        not deliver."""
        if delivery.out is None or delivery.out == "-":
            return UNREADABLE  # a plug-in or stdout: nothing on this machine's file system
        from jwks_tool.destinations import destination_class

        destination_class(delivery.to).from_target(self.target(delivery)).preflight()
        path = self._path(delivery) or delivery.out
        if not delivery.allow_outside:
            self._check_inside(path)
        held = self._held(delivery, path)
        if not delivery.adopt and held == DeliveredKey(None, None):
            raise ConflictError(
                f"{path} holds something jwks-tool did not write (no mark of a kid it delivered)",
                hint="set adopt = true on this delivery to replace it, or give another out",
            )
        return held

    def _check_inside(self, path: str) -> None:
        """The path written is really in the manifest's folder: no folder link on the way leads out of it (the load
        refused ``..`` and absolute paths; a link is a property of the file system, so it is checked here)."""
        folder = os.path.realpath(manifest_folder(self._manifest))
        real = os.path.realpath(path)
        if os.path.commonpath([folder, real]) != folder:
            raise InputError(
                f"{path} is outside the manifest's folder {folder} (a symbolic link leads to {real})",
                hint="give a path inside it, or set allow_outside = true on this delivery",
            )

    @staticmethod
    def _consumer(delivery: Delivery) -> Any:
        from jwks_tool.core.consumers import Consumer

        return Consumer(delivery.preset or "apiclient")

    def _secret_client(self, vault: str) -> tuple[SecretClient, str]:
        from jwks_tool.integrations.azure.connection import secret_client

        connection = self._azure.connection(vault)
        with self._lock:
            client = self._clients.get(connection.vault_url)
            if client is None:
                client = self._clients[connection.vault_url] = secret_client(connection)
        return client, connection.vault_url

    def delivered(self, client: ClientSpec, delivery: Delivery) -> DeliveredKey | None:
        """The kid (and thumbprint where known) the delivery holds; None: nothing yet; UNREADABLE: cannot tell."""
        if delivery.to == "keyvault" and delivery.vault:
            return self._keyvault(client, delivery)
        return self._local(delivery)

    def _held(self, delivery: Delivery, out: str | None) -> DeliveredKey | None:
        """What a local delivery holds: its kid by jwks-tool's mark; None: nothing there; ``DeliveredKey(None,
        None)``: something jwks-tool did not write; UNREADABLE: not a place on this machine."""
        if out is None or out == "-":
            return UNREADABLE
        if delivery.to == "dotenv":
            return _marked(out, re.compile(r"^# jwks-tool: .* kid (\S+)$", re.MULTILINE))
        if delivery.to == "kubernetes":
            return _marked(out, re.compile(r"^\s*\"?jwks-tool/kid\"?:\s*\"?([^\"\s]+)\"?\s*$", re.MULTILINE))
        if delivery.to == "file":
            return self._folder(delivery, out)
        return UNREADABLE

    def _keyvault(self, client: ClientSpec, delivery: Delivery) -> DeliveredKey | None:
        from jwks_tool.integrations.azure import secrets

        names = secrets.secret_names(
            None if delivery.secret_name else self._consumer(delivery),
            client_id=delivery.client_id or client.client_id,
            secret_name=delivery.secret_name,
            prefix=delivery.prefix,
        )
        assert delivery.vault is not None
        vault_client, vault = self._secret_client(delivery.vault)
        status = secrets.status(vault_client, names["jwk"], None, vault=vault)
        if not status.exists or status.enabled is False:
            return None
        return DeliveredKey(status.kid, status.thumbprint)

    def _folder(self, delivery: Delivery, out: str) -> DeliveredKey | None:
        from jwks_tool.core.consumers import Naming, names

        found_any = False
        for name in names(self._consumer(delivery), Naming.FILE, prefix=delivery.prefix):
            data = _read_small(os.path.join(out, name))
            if data is None:
                continue
            found_any = True
            if name.upper().endswith("KID"):
                return DeliveredKey(data.strip() or None, None)
            held = _jwk_in(data)
            if held is not None:
                return held
        return DeliveredKey(None, None) if found_any else None  # files, but not this consumer's key

    def deliver(self, client: ClientSpec, delivery: Delivery, keyset: KeySet, record: KeyRecord) -> None:
        """Write the key (and what the preset names) through the destination, as ``deliver`` does."""
        from jwks_tool.services.delivering import DeliveryRequest, open_destination, prepare

        request = DeliveryRequest(
            self._consumer(delivery),
            client_id=delivery.client_id or client.client_id,
            scopes=tuple(client.scopes),
            prefix=delivery.prefix,
            kid=record.kid,
            key_secret_name=delivery.secret_name if delivery.to == "keyvault" else None,
        )
        destination = open_destination(self._svc, self.target(delivery))
        destination.deliver(prepare(self._svc, keyset, request, destination), dry_run=False)


KeyVaultDeliverer = DestinationDeliverer
"""The first name of the deliverer, when it wrote to Key Vault only."""


def _read_small(path: str) -> str | None:
    """A regular file's text (at most 1 MiB, not through a link); None when there is none."""
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            return None
        data = handle.read(1024 * 1024 + 1)
    if len(data) > 1024 * 1024:
        return None
    return data.decode("utf-8", errors="replace")


def _marked(path: str, pattern: re.Pattern[str]) -> DeliveredKey | None:
    text = _read_small(path)
    if text is None:
        return None
    match = pattern.search(text)
    return DeliveredKey(match.group(1), None) if match else DeliveredKey(None, None)  # something else is there


def _jwk_in(text: str) -> DeliveredKey | None:
    """The kid and thumbprint of the JWK a consumer's file holds: JSON, base64 of JSON, or a settings document."""
    import base64
    import binascii
    import json

    candidates: list[Any] = []
    try:
        candidates.append(json.loads(text))
    except ValueError:
        try:
            candidates.append(json.loads(base64.b64decode(text.strip(), validate=True)))
        except (ValueError, binascii.Error):
            return None
    while candidates:
        value = candidates.pop()
        if not isinstance(value, dict):
            continue
        if isinstance(value.get("kid"), str) and "kty" in value:
            try:
                thumb: str | None = thumbprint(value)
            except JwksToolError:
                thumb = None
            return DeliveredKey(value["kid"], thumb)
        candidates.extend(item for item in value.values() if isinstance(item, dict))
    return None
