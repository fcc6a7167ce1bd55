"""The destination interface: where a consumer's items (:mod:`jwks_tool.core.consumers`) are written.

    >>> from jwks_tool.destinations import destination_class
    >>> destination_class("dotenv").naming.value
    'env'

A destination is built with its own options (a vault, a path, a Secret's name) and writes one :class:`Delivery`:
the items of one consumer for one key, with the key's kid, thumbprint, expiry and start. Adding one (Google Secret
Manager, HashiCorp Vault, AWS Secrets Manager) is one module with a :class:`Destination` subclass, listed in the
``jwks_tool.destinations`` entry-point group. What an implementation must do:

1. :meth:`Destination.from_target`: build it from a :class:`Target` (its own options in ``extra``, e.g. a
   ``secretsmanager://REGION/PREFIX`` URL), refusing one that lacks what it needs. ``name`` (the ``--to`` /
   manifest ``to =`` value) and ``naming`` (:class:`~jwks_tool.core.consumers.Naming`:
   SECRET for a secret store, ENV for environment variables, FILE for files or Secret keys) as class attributes.
2. :meth:`Destination.check`: every name and value against the destination's own rules (characters, lengths, sizes)
   *before anything is sent or written*, raising :class:`~jwks_tool.errors.InputError` naming the item and the rule.
   :meth:`Destination.check_target` applies the same rules to what is known before any key exists (the options
   and the item names) with no I/O, so the fleet manifest is refused at load; :meth:`Destination.preflight` checks,
   reading only, that the place can be written (a file where a link or folder is), before a key is made for it.
3. :meth:`Destination.deliver`: write every item, or (``dry_run``) only say what it would write. Never put key
   material (an item with ``sensitive``) in a name, tag, description, label, log line or outcome: tags and labels
   carry :meth:`Delivery.tags` (kid, thumbprint, set, env) only. Idempotent: an item that already holds this key
   (same kid and thumbprint, or the same value for a non-sensitive item) is not rewritten (``unchanged``).
   Write the sensitive items last, so a failure never leaves settings that point at a key that is not there; where
   the destination can (a file), write all or nothing. Give a secret store's secret the key's ``expires`` and
   ``not_before`` where it has such fields. Wrap the SDK's errors at the boundary (``raise RemoteError(...) from
   exc``) with a hint for the fix; handle throttling with the SDK's retry policy. Import heavy SDKs (boto3, azure)
   inside the methods, never at module level: ``--help`` must not load them.
4. Return one :class:`Outcome` per thing written (a secret, a file), in the order they were written.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar

from jwks_tool.core.consumers import Consumer, Item, Naming


@dataclasses.dataclass(frozen=True)
class Delivery:
    """One consumer's items for one key of a set, and what is known about the key (never its material)."""

    consumer: Consumer
    items: tuple[Item, ...]
    set_name: str
    env: str
    kid: str
    thumbprint: str
    expires: datetime | None
    not_before: datetime | None

    def tags(self) -> dict[str, str]:
        """The tags or labels a destination may attach to what it writes: never key material."""
        return {"kid": self.kid, "thumbprint": self.thumbprint, "set": self.set_name, "env": self.env}


@dataclasses.dataclass(frozen=True)
class Target:
    """Where to deliver, as the CLI (``--to``) and the fleet manifest (``[[clients.deliver]]``) say it. Each
    destination reads the fields it needs; a plug-in reads its own from ``extra``."""

    to: str
    """The destination's name: keyvault, aws, kubernetes, dotenv, file, or a plug-in's."""
    vault: str | None = None
    """keyvault: the vault URL or name."""
    out: str | None = None
    """dotenv: the file; file: the folder; kubernetes: the manifest file (None or ``-``: stdout)."""
    replace: bool = False
    """Replace an existing file (``--force``)."""
    adopt: bool = False
    """aws, keyvault: write over existing secrets jwks-tool did not make (``--adopt``); refused otherwise."""
    secret_name: str | None = None
    """kubernetes: the Secret's name; keyvault: one secret holding the key alone (instead of the consumer's names)."""
    namespace: str | None = None
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)
    annotations: Mapping[str, str] = dataclasses.field(default_factory=dict)
    reloader: bool = True
    """kubernetes: annotate the Secret for Stakater Reloader."""
    extra: Mapping[str, str] = dataclasses.field(default_factory=dict)
    """aws: ``region``, ``ca_bundle``, ``endpoint_url``; a plug-in's own options."""


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What a delivery did (or, in a dry run, would do) to one item."""

    name: str
    action: str
    """``created``, ``new-version``, ``replaced``, ``written``, ``unchanged``; in a dry run ``would-...``."""
    current_kid: str | None = None
    version: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The outcome as JSON output shows it."""
        return {"name": self.name, "action": self.action, "current_kid": self.current_kid, "version": self.version}


class Destination(ABC):
    """Where items go. Chosen by name (:func:`jwks_tool.destinations.destination_class`)."""

    name: ClassVar[str]
    naming: ClassVar[Naming]

    @classmethod
    @abstractmethod
    def from_target(cls, target: Target, *, connect: Callable[[str], Any] | None = None) -> Destination:
        """The destination ``target`` describes; ``connect`` turns a vault URL into a connection (keyvault).
        Refuse (InputError) a target that lacks what this destination needs, naming the option."""

    @classmethod  # noqa: B027 - optional: a destination with nothing to check keeps this
    def check_target(cls, target: Target, names: Sequence[str]) -> None:
        """Refuse (InputError) options of ``target`` or item ``names`` this destination cannot take: the rules of
        :meth:`from_target` and :meth:`check` that need no key, with no I/O and no connection (the fleet checks every
        ``[[clients.deliver]]`` with it when the manifest is read). The default checks nothing."""

    def preflight(self) -> None:  # noqa: B027 - optional: a destination with nothing to check keeps this
        """Refuse (InputError) a place this destination could not write to, reading only (no write, no connection):
        run before a key is made for it. The default checks nothing."""

    @abstractmethod
    def check(self, delivery: Delivery) -> None:
        """Refuse (InputError) a name or value this destination cannot hold, before anything is written."""

    @abstractmethod
    def deliver(self, delivery: Delivery, *, dry_run: bool = False) -> list[Outcome]:
        """Write the delivery's items (checked first); with ``dry_run`` write nothing and say what would change."""

    def deliver_many(self, deliveries: Sequence[Delivery], *, dry_run: bool = False) -> list[list[Outcome]]:
        """Several deliveries (each checked before the first is written); a destination may overlap them."""
        for delivery in deliveries:
            self.check(delivery)
        return [self.deliver(delivery, dry_run=dry_run) for delivery in deliveries]
