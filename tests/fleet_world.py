"""A fleet against the test servers, for the fleet tests and benchmarks: Maskinporten-compatible servers for test
and prod (token endpoint + self-service API), a Key Vault-compatible server, a local store, a manifest, and one
simulated clock shared by the library and the servers.

    world = World(tmp_path, vault, clients=[ClientDef("a", "test"), ...])
    fleet = world.fleet()
    run = fleet.apply()
    world.advance(days=7)
    assert world.consumers_get_tokens() == []
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import json
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import requests

from jwks_tool.core.manifest import ClientSpec
from jwks_tool.core.model import utcnow
from jwks_tool.services.fleet import adapters
from jwks_tool.services.fleet.engine import Fleet
from jwks_tool.services.fleet.manifest_file import read_manifest
from jwks_tool.services.key_service import AzureOptions, KeyService
from jwks_tool.stores import open_store
from tests.servers.business_certs import BusinessCert, TestPki
from tests.servers.keyvault import KeyVaultServer
from tests.servers.maskinporten import (
    DCR_READ,
    DCR_WRITE,
    DEFAULT_ORG_NUMBER,
    JWT_BEARER_GRANT,
    PROD_AUDIENCE,
    MaskinportenServer,
)

PASSPHRASE = "fleet test passphrase"
CERT_PASSPHRASE = "fleet certificate passphrase"
ADMIN = "fleet-admin"
CERTIFICATE = "virksomhet.p12"
"""The business certificate's file, beside the manifest (the manifest names it relative to itself)."""


def fleet_env(monkeypatch: Any, vault: KeyVaultServer) -> None:
    """The environment a fleet run reads: the Key Vault server's managed identity, the store's passphrase and the
    business certificate's (``monkeypatch`` is pytest's)."""
    for name, value in vault.identity_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("JWKS_TOOL_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("JWKS_TOOL_CERT_PASSPHRASE", CERT_PASSPHRASE)


@functools.cache
def test_pki() -> TestPki:
    """One test CA for every world (making RSA keys is slow); each world issues its own certificate."""
    return TestPki.make("jwks-tool Fleet Test")


class SimClock:
    """The simulated clock: real time plus an offset, shared with the Maskinporten servers (their ``clock_offset``).
    ``sleep`` and ``advance`` move it forward at once."""

    def __init__(self, *servers: MaskinportenServer) -> None:
        self.offset = 0.0
        self.servers = list(servers)
        self.slept = 0.0

    def now(self) -> datetime:
        return (utcnow() + timedelta(seconds=self.offset)).replace(microsecond=0)

    def sleep(self, seconds: float, stop: threading.Event | None = None) -> None:
        if stop is not None and stop.is_set():
            return
        self.slept += max(seconds, 0.0)
        self.advance(seconds=max(seconds, 0.0) + 1)

    def advance(self, *, days: float = 0, seconds: float = 0) -> None:
        self.offset += days * 86400 + seconds
        for server in self.servers:
            server.clock_offset = self.offset
            server.forget_used_grants()


@dataclasses.dataclass(frozen=True)
class ClientDef:
    name: str
    env: str = "test"
    deliver: bool = True
    register: str = "api"
    rotate_after: str | None = None


class World:
    def __init__(
        self,
        root: Path,
        vault: KeyVaultServer,
        clients: list[ClientDef],
        *,
        defaults: str = 'size = 2048\nrotate_after = "90d"\nrenew_before = "30d"\noverlap = "1h"\npropagation = "5m"',
    ) -> None:
        self.root = root
        self.vault = vault
        self.store_url = str(root / "store")
        cas = [test_pki().root]
        self.mp = {
            "test": MaskinportenServer(certificate_cas=cas).start(),
            "prod": MaskinportenServer(audience=PROD_AUDIENCE, certificate_cas=cas).start(),
        }
        self.clock = SimClock(*self.mp.values())
        self.clients = clients
        self._service: KeyService | None = None
        self.azure = AzureOptions("managed-identity", vault.ca_path, verify_challenge_resource=True)
        self.certificate = self.replace_certificate()  # valid past the simulated year
        for server in self.mp.values():
            # the self-service client: the business certificate signs in for it (no registered key)
            server.register_client(ADMIN, [DCR_READ, DCR_WRITE], {"keys": []}, org_number=DEFAULT_ORG_NUMBER)
        for client in clients:
            self.mp[client.env].register_client(client.name + "-id", ["altinn:instances.read"], {"keys": []})
        self.manifest_path = root / "jwks-tool.toml"
        self.manifest_path.write_text(self.manifest_text(defaults))

    def replace_certificate(self, *, expired: bool = False, days: int = 800) -> BusinessCert:
        """Write a new business certificate (.p12) beside the manifest, as an operator replaces it."""
        cert = test_pki().issue(DEFAULT_ORG_NUMBER, expired=expired, days=days)
        (self.root / CERTIFICATE).write_bytes(cert.pkcs12(CERT_PASSPHRASE))
        (self.root / CERTIFICATE).chmod(0o600)
        self.certificate = cert
        return cert

    def close(self) -> None:
        for server in self.mp.values():
            server.close()

    def write_manifest(self, path: Path, clients: list[ClientDef], defaults: str) -> Path:
        """A manifest of some of the clients (the same servers, store and admin)."""
        everyone = self.clients
        self.clients = clients
        try:
            path.write_text(self.manifest_text(defaults))
        finally:
            self.clients = everyone
        return path

    def manifest_text(self, defaults: str) -> str:
        lines = [f'store = "{self.store_url}"', "", "[defaults]", defaults, ""]
        for env, server in self.mp.items():
            lines += [
                f"[admin.{env}]",
                f'client_id = "{ADMIN}"',
                f'certificate = "{CERTIFICATE}"',
                "",
                f"[endpoints.{env}]",
                f'token_url = "{server.token_url}"',
                f'api_url = "{server.api_url}"',
                f'audience = "{server.audience}"',
                f'ca_bundle = "{server.ca_path}"',
                "",
            ]
        for client in self.clients:
            lines += [
                "[[clients]]",
                f'name = "{client.name}"',
                f'env = "{client.env}"',
                f'client_id = "{client.name}-id"',
                'scopes = ["altinn:instances.read"]',
                f'register = "{client.register}"',
            ]
            if client.rotate_after:
                lines.append(f'rotate_after = "{client.rotate_after}"')
            if client.deliver:
                lines += [
                    "[[clients.deliver]]",
                    'to = "keyvault"',
                    f'vault = "{self.vault.url}"',
                    f'secret_name = "{client.name}-{client.env}-jwk"',
                ]
            lines.append("")
        return "\n".join(lines)

    def service(self, *, fresh: bool = False) -> KeyService:
        """The store's service: one kept for the world (its passphrase KDF runs once), or a fresh one, as another
        process would have (``fresh``)."""
        if not fresh and self._service is not None:
            return self._service
        service = KeyService(
            open_store(self.store_url),
            lambda confirm: PASSPHRASE,
            clock=self.clock.now,
            command="jwks-tool apply",
            azure=self.azure,
            on_warning=lambda message: None,
        )
        if not fresh:
            self._service = service
        return service

    def fleet(
        self,
        *,
        workers: int = 8,
        prover: Any = None,
        registrar: Any = None,
        deliverer: Any = None,
        timeout: float = 3,
        fresh: bool = False,
    ) -> Fleet:
        manifest = read_manifest(str(self.manifest_path))
        svc = self.service(fresh=fresh)
        auth = adapters.CertificateAdminAuth(
            manifest, self.azure, self.clock, passphrase=lambda: CERT_PASSPHRASE, timeout=timeout
        )
        self.admin_auth = auth
        portal = registrar or adapters.PortalRegistrar(manifest, auth, timeout=timeout)
        return Fleet(
            manifest,
            svc,
            registrar=lambda client: portal,
            prover=prover or adapters.TokenProver(manifest, svc, timeout=timeout),
            deliverer=deliverer or adapters.DestinationDeliverer(manifest, svc, self.azure),
            clock=self.clock,
            workers=workers,
        )

    def advance(self, *, days: float = 0, seconds: float = 0) -> None:
        self.clock.advance(days=days, seconds=seconds)

    # ---- what consumers and Digdir see ------------------------------------------------------------------------
    def secret_client(self) -> Any:
        from azure.keyvault.secrets import SecretClient

        return SecretClient(self.vault.url, self.vault.credential(), **self.vault.client_kwargs())

    def consumer_token(self, client: ClientDef, jwk: dict[str, Any]) -> str | None:
        """A consumer's token request with ``jwk`` (private); None on success, else the server's error."""
        server = self.mp[client.env]
        key = jwt.PyJWK(jwk).key
        now = int(server.now())
        claims = {
            "aud": server.audience,
            "iss": client.name + "-id",
            "scope": "altinn:instances.read",
            "iat": now,
            "exp": now + 60,
            "jti": str(uuid.uuid4()),
        }
        grant = jwt.encode(claims, key, algorithm="RS256", headers={"kid": jwk["kid"]})
        answer = requests.post(
            server.token_url,
            data={"grant_type": JWT_BEARER_GRANT, "assertion": grant},
            verify=server.ca_path,
            timeout=30,
        )
        return None if answer.status_code == 200 else f"{client.name}: {answer.text}"

    def consumers_get_tokens(self) -> list[str]:
        """Every delivering client's consumer reads its secret and asks for a token: the failures."""
        from azure.core.exceptions import ResourceNotFoundError

        reader = self.secret_client()
        failures: list[str] = []
        for client in self.clients:
            if not client.deliver:
                continue
            try:
                value = reader.get_secret(f"{client.name}-{client.env}-jwk").value
            except ResourceNotFoundError:
                failures.append(f"{client.name}: nothing delivered")
                continue
            jwk = json.loads(base64.b64decode(value or ""))
            error = self.consumer_token(client, jwk)
            if error:
                failures.append(error)
        return failures

    def registered_counts(self) -> dict[str, int]:
        return {
            client.name: len(self.mp[client.env].registered_jwks(client.name + "-id")["keys"])
            for client in self.clients
        }

    def paste_for_person(self, client: ClientDef, text: str) -> None:
        """A person pastes the printed set into the portal."""
        self.mp[client.env].set_client_jwks(client.name + "-id", json.loads(text))


def spec(fleet: Fleet, name: str) -> ClientSpec:
    return next(client for client in fleet.manifest.clients if client.ref.name == name)


def wait_until(predicate: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)
