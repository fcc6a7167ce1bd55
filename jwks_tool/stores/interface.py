"""The key store interface: a few abstract operations every store implements, and defaults it may override.

    >>> from jwks_tool.stores import open_store
    >>> store = open_store("memory:")
    >>> store.read_config() is None  # a new store: nothing written yet
    True

A store keeps a configuration record (how private keys are protected) and one document per key set
(:class:`jwks_tool.core.model.KeySet`). Private halves arrive already sealed; a store never sees key material in the
clear unless the user opted into the plaintext scheme. Writers hold :meth:`KeyStore.lock` and pass the revision they
read; a store refuses a write based on a stale revision (:class:`~jwks_tool.errors.ConflictError`), so two writers
can never silently overwrite each other. ``jwks_tool.testing.store_conformance`` is the suite every store passes.
"""

from __future__ import annotations

import dataclasses
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from jwks_tool.core.model import KeySet, SetRef
from jwks_tool.errors import ConflictError, StoreCorruptError, StoreError, StoreLockedError, StoreVersionError

STORE_SCHEMA = 1
"""Version of the store configuration record this jwks-tool writes and reads."""


@dataclasses.dataclass(frozen=True)
class DamagedSet:
    """A key set whose stored document cannot be read (edited, truncated, not what it claims): what is wrong with it,
    and how to repair it (:meth:`KeyStore.damage_fix`)."""

    ref: SetRef
    problem: str
    fix: str

    def to_dict(self) -> dict[str, str]:
        """As --json prints it."""
        return {"name": self.ref.name, "env": self.ref.env.value, "problem": self.problem, "fix": self.fix}


class KeyStore(ABC):
    """Where key sets live. Chosen by URL (see :func:`jwks_tool.stores.open_store`)."""

    url: str

    lock_holder: Mapping[str, str] = {}
    """Who takes :meth:`lock` through this object (``user``: user@host, ``command``), recorded by stores whose lock
    others can wait for (the file store), so a waiter can say who holds it."""
    on_lock_wait: Callable[[str], None] | None = None
    """Called once with one line (who holds the lock, how long this waits at most) when :meth:`lock` has waited about
    a second for another holder. The store never prints: the command line shows the line on stderr."""

    @classmethod
    @abstractmethod
    def supports(cls, url: str) -> bool:
        """Whether this store type handles ``url``; must be cheap and import nothing heavy."""

    @classmethod
    @abstractmethod
    def from_url(cls, url: str) -> KeyStore:
        """Open (not create) the store at ``url``."""

    @abstractmethod
    def read_config(self) -> dict[str, Any] | None:
        """The store's configuration record, or None when nothing was ever written here."""

    @abstractmethod
    def init_config(self, config: Mapping[str, Any]) -> None:
        """Create the store with this configuration; ConflictError if it exists already."""

    @abstractmethod
    def list_refs(self) -> list[SetRef]:
        """Every key set in the store, sorted."""

    @abstractmethod
    def read_set(self, ref: SetRef) -> KeySet | None:
        """One key set, or None."""

    @abstractmethod
    def write_set(self, keyset: KeySet, *, expected_revision: int) -> KeySet:
        """Store ``keyset`` atomically if the stored revision is still ``expected_revision`` (0: a new set).

        Returns what was stored, its revision ``expected_revision + 1``. Raises ConflictError if someone else wrote
        in between.
        """

    @abstractmethod
    def lock(self) -> AbstractContextManager[None]:
        """Serialise writers (across processes where the store can)."""

    @abstractmethod
    def append_audit(self, events: Sequence[Mapping[str, Any]]) -> None:
        """Add events to the store's audit log (callers hold the lock). Events never hold key material."""

    @abstractmethod
    def read_audit(self) -> list[dict[str, Any]]:
        """The whole audit log, oldest first."""

    # ---- checks every store makes the same way -----------------------------------------------------------------
    def check_config_document(self, data: Any, where: str, *, what: str = "a jwks-tool store") -> dict[str, Any]:
        """``data`` (the stored configuration record, read from ``where``) if it is one this jwks-tool can read.

        StoreCorruptError if it is not a store configuration (``{where} is not {what}``) or has no schema version;
        StoreVersionError if a newer jwks-tool wrote it.
        """
        if not isinstance(data, dict) or data.get("format") != "jwks-tool-store":
            raise StoreCorruptError(f"{where} is not {what}")
        schema = data.get("schema")
        if not isinstance(schema, int):
            raise StoreCorruptError(f"{where} has no schema version")
        if schema > STORE_SCHEMA:
            raise StoreVersionError(
                f"the store {self.describe()} was written by a newer jwks-tool (schema {schema}, this one reads "
                f"{STORE_SCHEMA})",
                hint="upgrade jwks-tool (pip install -U jwks-tool)",
            )
        return data

    @staticmethod
    def check_revision(ref: SetRef, stored: int, expected: int) -> None:
        """Refuse a write based on a stale read: ConflictError unless the stored revision is still ``expected``."""
        if stored != expected:
            raise ConflictError(
                f"key set {ref} changed while this command ran (revision {stored}, expected {expected})",
                hint="run the command again",
            )

    # ---- defaults a store may override for bulk work -----------------------------------------------------------
    def read_sets(self) -> Iterator[KeySet]:
        """Every key set; stores with a cheaper bulk read override this."""
        for ref in self.list_refs():
            keyset = self.read_set(ref)
            if keyset is not None:
                yield keyset

    def read_sets_or_damage(self) -> Iterator[KeySet | DamagedSet]:
        """Every key set, and a :class:`DamagedSet` in place of each one that cannot be read (StoreCorruptError), so
        one damaged set does not hide the others."""
        for ref in self.list_refs():
            try:
                keyset = self.read_set(ref)
            except StoreCorruptError as exc:
                yield DamagedSet(ref, " ".join(exc.message.split()), self.damage_fix(ref))
                continue
            if keyset is not None:
                yield keyset

    def damage_fix(self, ref: SetRef) -> str:
        """How to repair the damaged set ``ref``; stores name the file or secret that holds it."""
        return (
            f"restore the key set {ref} from a backup, or remove it (its keys are lost; the audit log keeps their "
            "story)"
        )

    def holds_sealed_keys(self) -> bool:
        """Whether any set holds a private half sealed under a passphrase (anything not written in plaintext): a
        store marked plaintext that does has had its protection record replaced. Reads every set (and, where private
        halves are kept apart, each private half): only asked before a plaintext write."""
        from jwks_tool.core.sealing import PLAINTEXT_PREFIX  # start-up: list loads this module, not sealing

        for keyset in self.read_sets():
            for record in keyset.keys:
                sealed = record.sealed_private
                if sealed is not None and not self.resolve_sealed(sealed).startswith(PLAINTEXT_PREFIX):
                    return True
        return False

    def set_size(self, keyset: KeySet) -> tuple[int, int] | None:
        """``(bytes, limit)``: what ``keyset`` takes in a store that limits a set's size, and that limit; None for
        stores without one (``check`` warns before a set fills)."""
        return None

    def resolve_sealed(self, sealed: str) -> str:
        """The sealed private JWK a key record holds; stores that keep private halves apart (as secrets of their
        own) store a reference in the record and override this to fetch it."""
        return sealed

    def describe(self) -> str:
        """What to show a user: the URL or path."""
        return self.url

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.describe()!r})"


THREAD_LOCK_TIMEOUT_SECONDS = 60.0
"""How long a writer of a remote store (Key Vault, AWS) waits for another thread of this process to finish."""


@contextmanager
def thread_lock_held(lock: threading.Lock | threading.RLock, store: KeyStore) -> Iterator[None]:
    """Hold ``lock`` (a remote store's thread lock), or StoreLockedError after
    :data:`THREAD_LOCK_TIMEOUT_SECONDS`. Other processes are kept apart by each store's own write protocol."""
    if not lock.acquire(timeout=THREAD_LOCK_TIMEOUT_SECONDS):
        raise StoreLockedError(
            f"another thread has held the lock of {store.describe()} for {THREAD_LOCK_TIMEOUT_SECONDS:.0f} s",
            hint="wait for it to finish",
        )
    try:
        yield
    finally:
        lock.release()


def url_options(query: str, allowed: Sequence[str], kind: str, hint: str) -> dict[str, str]:
    """The options of a remote store URL's query string (``?credential=cli&ca_bundle=...``): each one of
    ``allowed``, each given once; StoreError naming the first that is not, for the ``kind`` of store ("Key Vault",
    "Secrets Manager"), with ``hint`` (the options it takes)."""
    from urllib.parse import parse_qs

    from jwks_tool.core.text import printable

    options = parse_qs(query, keep_blank_values=True)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise StoreError(f"unknown option '{printable(unknown[0], limit=60)}' in the {kind} store URL", hint=hint)
    values: dict[str, str] = {}
    for name, given in options.items():
        if len(given) != 1:
            raise StoreError(f"the option {name!r} is given {len(given)} times in the {kind} store URL")
        values[name] = given[0]
    return values
