"""An in-memory store for tests and demos: ``memory:`` (new each time) or ``memory:NAME`` (shared in-process).

>>> from jwks_tool.stores.memory import MemoryStore
>>> MemoryStore.from_url("memory:shared") is MemoryStore.from_url("memory:shared")
True
"""

from __future__ import annotations

import copy
import dataclasses
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar

from jwks_tool.core.model import KeySet, SetRef
from jwks_tool.errors import ConflictError
from jwks_tool.stores.interface import KeyStore


class MemoryStore(KeyStore):
    """Holds everything in a dict; revisions and locking behave as in the file store."""

    _named: ClassVar[dict[str, MemoryStore]] = {}
    _named_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, url: str = "memory:") -> None:
        self.url = url
        self._config: dict[str, Any] | None = None
        self._sets: dict[SetRef, dict[str, Any]] = {}
        self._lock = threading.RLock()
        self._audit: list[dict[str, Any]] = []

    @classmethod
    def supports(cls, url: str) -> bool:
        """``memory:`` and ``memory:NAME``."""
        return url == "memory:" or url.startswith("memory:")

    @classmethod
    def from_url(cls, url: str) -> MemoryStore:
        """A new store for ``memory:``; for ``memory:NAME``, the one store of that name in this process."""
        name = url.removeprefix("memory:")
        if not name:
            return cls(url)
        with cls._named_lock:
            return cls._named.setdefault(name, cls(url))

    def read_config(self) -> dict[str, Any] | None:
        """A copy of the configuration, or None before :meth:`init_config`."""
        return copy.deepcopy(self._config)

    def init_config(self, config: Mapping[str, Any]) -> None:
        """Keep a copy of ``config``; ConflictError if the store has one already."""
        with self._lock:
            if self._config is not None:
                raise ConflictError(f"the store {self.url} exists already")
            self._config = copy.deepcopy(dict(config))

    def list_refs(self) -> list[SetRef]:
        """Every key set, sorted."""
        return sorted(self._sets)

    def read_set(self, ref: SetRef) -> KeySet | None:
        """A copy of the set, or None."""
        data = self._sets.get(ref)
        return None if data is None else KeySet.from_dict(copy.deepcopy(data), f"{self.url} {ref}")

    def write_set(self, keyset: KeySet, *, expected_revision: int) -> KeySet:
        """Keep the set if the stored revision is still ``expected_revision``; returns it with the next revision."""
        with self._lock:
            current = self._sets.get(keyset.ref)
            revision = 0 if current is None else int(current["revision"])
            self.check_revision(keyset.ref, revision, expected_revision)
            stored = dataclasses.replace(keyset, revision=revision + 1)
            self._sets[keyset.ref] = stored.to_dict()
            return stored

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the store's (re-entrant, in-process) lock."""
        with self._lock:
            yield

    def append_audit(self, events: Sequence[Mapping[str, Any]]) -> None:
        """Append copies of the events to the in-memory log."""
        with self._lock:
            self._audit.extend(copy.deepcopy(dict(event)) for event in events)

    def read_audit(self) -> list[dict[str, Any]]:
        """A copy of the log, oldest first."""
        return copy.deepcopy(self._audit)
