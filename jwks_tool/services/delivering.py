"""Deliver a set's key where its consumer reads it: one typed call for the CLI and the fleet manifest.

    >>> from jwks_tool.services.delivering import DeliveryRequest
    >>> DeliveryRequest("pymaskinporten", client_id="c", scopes=("a:b",)).consumer.value
    'pymaskinporten'

:func:`deliver` opens the key's private half, builds the consumer's items (:mod:`jwks_tool.core.consumers`) in the
destination's naming, checks every name and value by the destination's rules, and only then writes
(:mod:`jwks_tool.destinations`). The fleet manifest's ``[[clients.deliver]]`` (``to = "keyvault" | "aws" |
"kubernetes" | "dotenv" | "file"``, ``for = PRESET``) is::

    deliver(svc, "acme", "prod", DeliveryRequest("nais", client_id=..., scopes=(...)),
            Target("kubernetes", secret_name="acme-maskinporten", out="k8s/acme.yaml", replace=True))
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from jwks_tool.core import keys as keymod
from jwks_tool.core.consumers import Consumer, ConsumerInput, Item, items
from jwks_tool.core.model import KeyRecord, KeySet
from jwks_tool.destinations import Delivery, Destination, Outcome, destination_class
from jwks_tool.destinations.interface import Target
from jwks_tool.errors import InputError
from jwks_tool.services.key_service import KeyService


@dataclasses.dataclass(frozen=True)
class DeliveryRequest:
    """What to deliver: the consumer (``--for``) and what it needs besides the key."""

    consumer: Consumer
    client_id: str | None = None
    scopes: tuple[str, ...] = ()
    prefix: str = ""
    """Put in front of every name (``maskinporten-prod-``, ``PROD_``)."""
    kid: str | None = None
    """The key to deliver; default the set's active key."""
    key_secret_name: str | None = None
    """Key Vault's ``--secret-name``: the key's item alone, under this name."""

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "consumer", Consumer(self.consumer))
        except ValueError:
            choices = ", ".join(consumer.value for consumer in Consumer)
            raise InputError(f"no consumer {self.consumer!r}", hint=f"use one of: {choices}") from None


def open_destination(svc: KeyService, target: Target) -> Destination:
    """The destination ``target`` names, built from its options (Key Vault signs in through ``svc``'s options)."""
    return destination_class(target.to).from_target(target, connect=svc.vault_connection)


def prepare(svc: KeyService, keyset: KeySet, request: DeliveryRequest, destination: Destination) -> Delivery:
    """The delivery of ``keyset``'s key for ``request`` in ``destination``'s naming, checked by its rules."""
    record = svc.key_to_use(keyset, request.kid)
    members = svc.private_jwk(keyset, record)
    data = ConsumerInput(
        keymod.decorate(members, kid=record.kid, alg=record.alg, exp=None),
        keyset.ref.env.value,
        client_id=request.client_id,
        scopes=request.scopes,
        expires=int(record.expires.timestamp()),
    )
    made = items(request.consumer, data, destination.naming, prefix=request.prefix)
    if request.key_secret_name is not None:
        made = [_renamed(item, request.key_secret_name) for item in made if item.sensitive]
    delivery = _delivery(request.consumer, made, keyset, record)
    destination.check(delivery)
    return delivery


def _renamed(item: Item, name: str) -> Item:
    return dataclasses.replace(item, name=name)


def _delivery(consumer: Consumer, made: Sequence[Item], keyset: KeySet, record: KeyRecord) -> Delivery:
    return Delivery(
        consumer=consumer,
        items=tuple(made),
        set_name=keyset.ref.name,
        env=keyset.ref.env.value,
        kid=record.kid,
        thumbprint=record.thumbprint,
        expires=record.expires,
        not_before=record.created,
    )


def deliver(
    svc: KeyService,
    name: str,
    env: str,
    request: DeliveryRequest,
    target: Target | Destination,
    *,
    dry_run: bool = False,
) -> tuple[Delivery, list[Outcome]]:
    """Deliver the key of set ``name`` in ``env`` for ``request.consumer`` to ``target``; what was written."""
    destination = target if isinstance(target, Destination) else open_destination(svc, target)
    delivery = prepare(svc, svc.get_set(name, env), request, destination)
    return delivery, destination.deliver(delivery, dry_run=dry_run)


def deliver_many(
    svc: KeyService,
    keysets: Sequence[KeySet],
    requests: Sequence[DeliveryRequest],
    destination: Destination,
    *,
    dry_run: bool = False,
) -> tuple[list[Delivery], list[list[Outcome]]]:
    """Deliver several sets' keys to one destination: every delivery is prepared and checked before any write."""
    deliveries = [prepare(svc, keyset, request, destination) for keyset, request in zip(keysets, requests, strict=True)]
    return deliveries, destination.deliver_many(deliveries, dry_run=dry_run)
