"""The ports of the fleet engine: what it needs from Digdir, Maskinporten, the consumers' vaults and the clock.

    >>> from jwks_tool.services.fleet.ports import SystemClock
    >>> SystemClock().now().tzinfo is not None
    True

Each is a small Protocol, so an adapter is thin and a test (or another integration) plugs in its own. Every method
raises a :class:`~jwks_tool.errors.JwksToolError` (most often :class:`~jwks_tool.errors.RemoteError`) when it cannot do
its job; the engine stops that client there.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from datetime import datetime
from typing import Any, Protocol

from jwks_tool.core.manifest import ClientSpec, Delivery
from jwks_tool.core.model import KeyRecord, KeySet, utcnow


class Clock(Protocol):
    """Now, and waiting: the system's, or a simulated one shared with test servers."""

    def now(self) -> datetime:
        """Now, in UTC, to the second."""
        ...

    def sleep(self, seconds: float, stop: threading.Event | None = None) -> None:
        """Wait ``seconds`` (a simulated clock advances instead), or less: return as soon as ``stop`` is set (the
        engine's stop signal, set on Ctrl-C or SIGTERM)."""
        ...


class SystemClock:
    """The machine's clock."""

    def now(self) -> datetime:
        """Now, in UTC, to the second."""
        return utcnow()

    def sleep(self, seconds: float, stop: threading.Event | None = None) -> None:
        """Sleep for real; wake when ``stop`` is set.

        >>> import threading
        >>> stop = threading.Event()
        >>> stop.set()
        >>> SystemClock().sleep(3600, stop)  # returns at once
        """
        if stop is None:
            time.sleep(max(seconds, 0.0))
        else:
            stop.wait(max(seconds, 0.0))


@dataclasses.dataclass(frozen=True)
class RegisteredKey:
    """One key as Digdir reports it for a client: its kid, thumbprint (when it is an RSA JWK) and ``exp``."""

    kid: str
    thumbprint: str | None
    exp: datetime | None
    jwk: dict[str, Any] = dataclasses.field(repr=False, compare=False, default_factory=dict)


class AdminAuth(Protocol):
    """An admin token for Digdir's self-service API: from the business certificate's grant, or a token given
    (``JWKS_TOOL_PORTAL_TOKEN``)."""

    def token(self, env: str, scope: str) -> str:
        """A bearer token with ``scope`` (idporten:dcr.read / idporten:dcr.write) in ``env``."""
        ...


class Registrar(Protocol):
    """A client's registered set at Digdir."""

    def get(self, client: ClientSpec) -> list[RegisteredKey]:
        """The keys registered for the client, each with the ``exp`` Digdir reports."""
        ...

    def put(self, client: ClientSpec, jwks: list[dict[str, Any]]) -> None:
        """Replace the client's registered set with ``jwks`` (public JWKs, at most 5)."""
        ...


class Prover(Protocol):
    """Proof that a key is registered and accepted: Maskinporten issues a token signed with it."""

    def prove(self, client: ClientSpec, keyset: KeySet, record: KeyRecord) -> None:
        """Get a token for the client with ``record``; RemoteError (Maskinporten's reason and the fix) if refused."""
        ...


@dataclasses.dataclass(frozen=True)
class DeliveredKey:
    """What a consumer reads from a delivery: the kid and thumbprint of the key (never the key)."""

    kid: str | None
    thumbprint: str | None
    readable: bool = True
    """False: this destination cannot be read back (a Secret manifest on stdout, a plug-in); apply goes by its audit
    log instead, and plan says so in its notes."""


class Deliverer(Protocol):
    """A place a consumer reads the active key from: any destination (Key Vault, a Kubernetes Secret, a .env file, a
    folder, a plug-in's)."""

    def delivered(self, client: ClientSpec, delivery: Delivery) -> DeliveredKey | None:
        """What the delivery holds now (None: nothing yet)."""
        ...

    def deliver(self, client: ClientSpec, delivery: Delivery, keyset: KeySet, record: KeyRecord) -> None:
        """Write ``record`` (the active key) where the delivery says."""
        ...
