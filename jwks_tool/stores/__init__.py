"""Key stores, picked by URL.

    >>> from jwks_tool.stores import open_store
    >>> type(open_store("memory:")).__name__
    'MemoryStore'

Built in: ``file:PATH`` or a plain path (:mod:`jwks_tool.stores.file`, the default, in the user's data folder) and
``memory:`` (:mod:`jwks_tool.stores.memory`, for tests). Other packages add stores through the ``jwks_tool.stores``
entry-point group: a :class:`~jwks_tool.stores.interface.KeyStore` subclass whose ``supports(url)`` says yes.
Store modules are imported only when their URL is used.
"""

from __future__ import annotations

import os
from importlib import import_module
from typing import cast

from jwks_tool.errors import StoreError
from jwks_tool.stores.interface import KeyStore

ENV_STORE = "JWKS_TOOL_STORE"

_BUILTIN: tuple[tuple[str, str], ...] = (
    ("memory:", "jwks_tool.stores.memory:MemoryStore"),
    ("", "jwks_tool.stores.file:FileStore"),  # the fallback: file: URLs and plain paths
)


def default_store_url() -> str:
    """``$JWKS_TOOL_STORE``, else ``<user data dir>/jwks-tool/store``."""
    configured = os.environ.get(ENV_STORE)
    if configured:
        return configured
    from platformdirs import user_data_path

    return str(user_data_path("jwks-tool", appauthor=False) / "store")


def _load(target: str) -> type[KeyStore]:
    module, _, name = target.partition(":")
    return cast(type[KeyStore], getattr(import_module(module), name))


def store_class_for(url: str) -> type[KeyStore]:
    """The store type for ``url``: a built-in one by prefix, else the first plug-in that supports it."""
    for prefix, target in _BUILTIN[:-1]:
        if url.startswith(prefix):
            return _load(target)
    if "://" in url and not url.startswith("file://"):
        from importlib.metadata import entry_points

        for entry in entry_points(group="jwks_tool.stores"):
            try:
                candidate = entry.load()
            except Exception as exc:  # a broken plug-in must not hide the others
                raise StoreError(f"the store plug-in {entry.name!r} failed to load: {exc}") from exc
            if isinstance(candidate, type) and issubclass(candidate, KeyStore) and candidate.supports(url):
                return candidate
        raise StoreError(
            f"no key store handles {url!r}",
            hint="use a folder path, file:PATH, or memory: (Key Vault URLs need the Key Vault store plug-in)",
        )
    return _load(_BUILTIN[-1][1])


def open_store(url: str | None = None) -> KeyStore:
    """Open the store at ``url`` (default: :func:`default_store_url`)."""
    return store_class_for(url or default_store_url()).from_url(url or default_store_url())
