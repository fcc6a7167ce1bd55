"""Azure Key Vault secrets: every consumer's items as secrets (``keyvault push`` and ``--to keyvault``).

    >>> from jwks_tool.destinations.keyvault import KeyVaultSecrets
    >>> KeyVaultSecrets.naming.value
    'secret'

Built on :mod:`jwks_tool.integrations.azure.secrets`: names and sizes checked against Key Vault's rules before
anything is sent; the key's secret gets the key's expiry and start as ``expires``/``not-before``, a content type and
tags (kid, thumbprint, set, environment; never key material) and is written last; re-pushing an unchanged key writes
nothing, a rotated one adds a secret version; many deliveries are pushed overlapped and paced below the vault's
limit of 300 secret writes per 10 s (:meth:`KeyVaultSecrets.deliver_many`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from jwks_tool.core.consumers import Naming
from jwks_tool.destinations.interface import Delivery, Destination, Outcome, Target
from jwks_tool.errors import InputError
from jwks_tool.integrations.azure import secrets
from jwks_tool.integrations.azure.connection import check_name, normalise_vault_url

if TYPE_CHECKING:
    from jwks_tool.integrations.azure.connection import Connection


def planned(delivery: Delivery) -> list[secrets.PlannedSecret]:
    """The secrets a delivery becomes (checked), the key's secret last."""
    plan = secrets.plan_items(
        delivery.items,
        tags=delivery.tags(),
        expires=delivery.expires,
        not_before=delivery.not_before,
        set_name=delivery.set_name,
    )
    return sorted(plan, key=lambda secret: secret.sensitive)


def _outcomes(results: list[secrets.PushOutcome]) -> list[Outcome]:
    return [Outcome(r.name, r.action, r.current_kid, r.version) for r in results]


class KeyVaultSecrets(Destination):
    """Write deliveries as secrets of the vault ``connection`` reaches (sign-in and TLS as it says)."""

    name = "keyvault"
    naming = Naming.SECRET

    def __init__(
        self,
        connection: Connection,
        *,
        workers: int = 8,
        progress: Callable[[int], None] | None = None,
        adopt: bool = False,
    ) -> None:
        self.connection = connection
        self.adopt = adopt
        self.workers = workers
        self.progress = progress

    @classmethod
    def from_target(cls, target: Target, *, connect: Callable[[str], Any] | None = None) -> KeyVaultSecrets:
        """``vault`` is the vault; ``connect`` signs in to it."""
        if not target.vault:
            raise InputError("--to keyvault needs the vault", hint="pass --vault URL")
        if connect is None:
            raise InputError("--to keyvault needs a connection to the vault", hint="this is a bug: please report")
        return cls(connect(target.vault), adopt=target.adopt)

    @classmethod
    def check_target(cls, target: Target, names: Sequence[str]) -> None:
        """A vault URL or name, and names by Key Vault's rules (no sign-in)."""
        if not target.vault:
            raise InputError("--to keyvault needs the vault", hint="pass --vault URL")
        normalise_vault_url(target.vault)
        for name in names:
            check_name(name)

    def check(self, delivery: Delivery) -> None:
        """Names and sizes by Key Vault's rules (nothing is sent)."""
        planned(delivery)

    def deliver(self, delivery: Delivery, *, dry_run: bool = False) -> list[Outcome]:
        """Write what changed, the key's secret last."""
        from jwks_tool.integrations.azure.connection import secret_client

        plan = planned(delivery)
        client = secret_client(self.connection)
        return _outcomes(secrets.push(client, plan, vault=self.connection.vault_url, dry_run=dry_run, adopt=self.adopt))

    def deliver_many(self, deliveries: Sequence[Delivery], *, dry_run: bool = False) -> list[list[Outcome]]:
        """Every delivery checked first, then pushed with requests overlapped and writes paced."""
        from jwks_tool.integrations.azure.connection import secret_client

        batches = [planned(delivery) for delivery in deliveries]
        results = secrets.push_many(
            secret_client(self.connection),
            batches,
            vault=self.connection.vault_url,
            dry_run=dry_run,
            adopt=self.adopt,
            workers=self.workers,
            progress=self.progress,
        )
        return [_outcomes(result) for result in results]
