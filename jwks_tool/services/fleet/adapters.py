"""The fleet's ports over what jwks-tool has today: Digdir's self-service API, Maskinporten's token endpoint and
Azure Key Vault secrets. Thin on purpose: the business-certificate admin grant and other destinations replace them.

    >>> from jwks_tool.services.fleet.adapters import TokenAdminAuth
    >>> TokenAdminAuth("t").token("test", "idporten:dcr.read")
    't'

Each adapter is built once per run and shared by the worker threads: HTTP sessions and Key Vault clients are made per
call or cached behind a lock.
"""

from __future__ import annotations

import dataclasses
import threading
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from jwks_tool.core.environments import audience_for, token_url_for
from jwks_tool.core.manifest import Admin, ClientSpec, Delivery, Manifest
from jwks_tool.core.model import KeyRecord, KeySet, thumbprint
from jwks_tool.errors import InputError, JwksToolError
from jwks_tool.integrations.maskinporten.client import PORTAL_APIS
from jwks_tool.services.fleet.ports import Clock, DeliveredKey, RegisteredKey
from jwks_tool.services.key_service import AzureOptions, KeyService

if TYPE_CHECKING:
    from azure.keyvault.secrets import SecretClient

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


class TokenAdminAuth:
    """An admin token got elsewhere (``JWKS_TOOL_PORTAL_TOKEN``)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __repr__(self) -> str:
        return "TokenAdminAuth(<token>)"

    def token(self, env: str, scope: str) -> str:
        """The token given, whatever the scope."""
        return self._token


class KeySetAdminAuth:
    """An admin token from a key-signed grant of a key set in the store (``key_set`` of ``[admin.<env>]``): what
    ``portal push --admin-set`` does today. Digdir wants the business certificate instead; its grant replaces this.
    Tokens are kept until shortly before they expire."""

    def __init__(self, manifest: Manifest, service: KeyService, clock: Clock) -> None:
        self._manifest = manifest
        self._svc = service
        self._clock = clock
        self._cache: dict[tuple[str, str], tuple[str, datetime]] = {}
        self._lock = threading.Lock()

    def token(self, env: str, scope: str) -> str:
        """A token for ``scope`` signed in as the environment's admin client."""
        from jwks_tool.integrations.maskinporten.client import GrantRequest, request_token

        with self._lock:
            cached = self._cache.get((env, scope))
            if cached is not None and cached[1] > self._clock.now():
                return cached[0]
            admin: Admin | None = self._manifest.admin.get(env)
            if admin is None:
                raise InputError(f"the manifest has no [admin.{env}]", hint=f"add [admin.{env}] with client_id")
            if admin.key_set is None:
                raise InputError(
                    f"[admin.{env}] names a certificate, which this jwks-tool cannot sign in with yet",
                    hint="set JWKS_TOOL_PORTAL_TOKEN to an admin token got with the business certificate, or give "
                    "key_set (a key set of an admin client, for test servers)",
                )
            where = endpoints(self._manifest, env)
            signed = self._svc.grant(
                admin.key_set, env, GrantRequest(admin.client_id, f"{DCR_READ} {DCR_WRITE}", where.audience)
            )
            result = request_token(
                admin.token_url or where.token_url, signed.token, ca_bundle=where.ca_bundle, timeout=where.timeout
            )
            lifetime = max(result.expires_in - 30, 0)
            self._cache[(env, scope)] = (result.access_token, self._clock.now() + timedelta(seconds=lifetime))
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


class KeyVaultDeliverer:
    """The Deliverer over Azure Key Vault secrets, as ``keyvault push`` writes them (presets or ``secret_name``)."""

    def __init__(self, service: KeyService, azure: AzureOptions) -> None:
        self._svc = service
        self._azure = azure
        self._clients: dict[str, SecretClient] = {}
        self._lock = threading.Lock()

    def _secret_client(self, vault: str) -> tuple[SecretClient, str]:
        from jwks_tool.integrations.azure.connection import secret_client

        connection = self._azure.connection(vault)
        with self._lock:
            client = self._clients.get(connection.vault_url)
            if client is None:
                client = self._clients[connection.vault_url] = secret_client(connection)
        return client, connection.vault_url

    @staticmethod
    def _names(client: ClientSpec, delivery: Delivery) -> dict[str, str]:
        from jwks_tool.integrations.azure.secrets import Preset, secret_names

        preset = Preset(delivery.preset) if delivery.preset else None
        return secret_names(preset, client_id=delivery.client_id, secret_name=delivery.secret_name)

    def delivered(self, client: ClientSpec, delivery: Delivery) -> DeliveredKey | None:
        """The kid and thumbprint the delivery's key secret holds (None: no secret)."""
        from jwks_tool.integrations.azure import secrets

        names = self._names(client, delivery)
        vault_client, vault = self._secret_client(delivery.vault)
        status = secrets.status(vault_client, names["jwk"], None, vault=vault)
        if not status.exists or status.enabled is False:
            return None
        return DeliveredKey(status.kid, status.thumbprint)

    def deliver(self, client: ClientSpec, delivery: Delivery, keyset: KeySet, record: KeyRecord) -> None:
        """Write the key (and what the preset names) through the Key Vault destination, as ``keyvault push`` does."""
        from jwks_tool.core.consumers import Consumer
        from jwks_tool.destinations.interface import Target
        from jwks_tool.services.delivering import DeliveryRequest, open_destination, prepare

        request = DeliveryRequest(
            Consumer(delivery.preset or "apiclient"),
            client_id=delivery.client_id,
            scopes=tuple(client.scopes),
            kid=record.kid,
            key_secret_name=delivery.secret_name,
        )
        destination = open_destination(self._svc, Target("keyvault", vault=delivery.vault))
        destination.deliver(prepare(self._svc, keyset, request, destination), dry_run=False)
