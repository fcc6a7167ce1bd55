"""Key stores, picked by URL.

    >>> from jwks_tool.stores import open_store
    >>> type(open_store("memory:")).__name__
    'MemoryStore'

Built in: ``file:PATH`` or a plain path (:mod:`jwks_tool.stores.file`, the default, in the user's data folder),
``memory:`` (:mod:`jwks_tool.stores.memory`, for tests), ``https://NAME.vault.azure.net/``
(:mod:`jwks_tool.stores.keyvault`, a store shared by a team) and ``secretsmanager://REGION/PREFIX``
(:mod:`jwks_tool.stores.secretsmanager`, AWS Secrets Manager; boto3 is the ``aws`` extra). Other packages add stores
through the ``jwks_tool.stores`` entry-point group: a :class:`~jwks_tool.stores.interface.KeyStore` subclass whose
``supports(url)`` says yes.
Store modules are imported only when their URL is used.
"""

from __future__ import annotations

import os
import sys
from importlib import import_module
from typing import cast

from jwks_tool.errors import JwksToolWarning, StoreError
from jwks_tool.stores.interface import KeyStore

ENV_STORE = "JWKS_TOOL_STORE"

KEYVAULT_SUFFIXES = (".vault.azure.net", ".vault.azure.cn", ".vault.usgovcloudapi.net", ".vault.microsoftazure.de")


def is_keyvault_url(url: str) -> bool:
    """``https://NAME.vault.azure.net/`` (and the sovereign clouds), or any https URL with ``store=keyvault`` in its
    query (emulators, private endpoints)."""
    if not url.startswith("https://"):
        return False  # cheap: plain paths (the common case) never import urllib
    from urllib.parse import parse_qs, urlsplit

    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        return False
    return parts.hostname.endswith(KEYVAULT_SUFFIXES) or parse_qs(parts.query).get("store") == ["keyvault"]


def default_store_url() -> str:
    """``$JWKS_TOOL_STORE``, else ``<user data dir>/jwks-tool/store`` (the data folder platformdirs names)."""
    configured = os.environ.get(ENV_STORE)
    if configured:
        return configured
    data = _xdg_data_home()
    if data is not None:
        return os.path.join(data, "jwks-tool", "store")
    from platformdirs import user_data_path

    return str(user_data_path("jwks-tool", appauthor=False) / "store")


def _xdg_data_home() -> str | None:
    """The XDG Base Directory rule for the user data folder (``$XDG_DATA_HOME`` if absolute, else
    ``$HOME/.local/share``) on a plain Linux environment, where platformdirs gives the same; None elsewhere (other
    systems, Android, an unusual HOME), which leaves it to platformdirs. Importing platformdirs costs about 20 ms,
    half of click's import: every command that uses the default store would pay it. A test compares the two."""
    if sys.platform != "linux" or os.environ.get("ANDROID_ROOT") or hasattr(sys, "getandroidapilevel"):
        return None
    xdg, home = os.environ.get("XDG_DATA_HOME", ""), os.environ.get("HOME", "")
    if xdg.strip() and not xdg.startswith("/"):
        return None  # a relative XDG_DATA_HOME: platformdirs releases disagree on it, so ask the installed one
    base = xdg or os.path.join(home, ".local", "share")
    return base if base.startswith("/") and os.path.normpath(base) == base else None


BUILT_IN_STORES = {
    "file": "jwks_tool.stores.file:FileStore",
    "keyvault": "jwks_tool.stores.keyvault:KeyVaultStore",
    "memory": "jwks_tool.stores.memory:MemoryStore",
    "secretsmanager": "jwks_tool.stores.secretsmanager:SecretsManagerStore",
}
"""The built-in stores, exactly as pyproject.toml lists them in the ``jwks_tool.stores`` entry-point group that
plug-ins use too (a test keeps the two equal). Reading entry points costs start-up time, so the built-ins have this
fast path and the group is read only for a URL no built-in store takes."""


def _load(target: str) -> type[KeyStore]:
    module, _, name = target.partition(":")
    return cast(type[KeyStore], getattr(import_module(module), name))


def _plugin_stores(url: str) -> type[KeyStore] | None:
    """The first plug-in store whose ``supports(url)`` says yes; a plug-in that fails to load is reported on stderr
    as one warning line and skipped, so it cannot hide the others."""
    import warnings
    from importlib.metadata import entry_points

    for entry in entry_points(group="jwks_tool.stores"):
        if entry.name in BUILT_IN_STORES:
            continue
        try:
            candidate = entry.load()
        except Exception as exc:  # a broken plug-in must not hide the others
            warnings.warn(
                f"the store plug-in {entry.name!r} ({entry.value}) failed to load and was skipped: {exc}",
                JwksToolWarning,
                stacklevel=3,
            )
            continue
        if isinstance(candidate, type) and issubclass(candidate, KeyStore) and candidate.supports(url):
            return candidate
    return None


def store_class_for(url: str) -> type[KeyStore]:
    """The store type for ``url``: a built-in one, else the first plug-in whose ``supports(url)`` says yes."""
    if url.startswith("memory:"):
        return _load(BUILT_IN_STORES["memory"])
    if is_keyvault_url(url):
        return _load(BUILT_IN_STORES["keyvault"])
    if url.startswith("secretsmanager://"):
        return _load(BUILT_IN_STORES["secretsmanager"])
    if "://" in url and not url.startswith("file://"):
        candidate = _plugin_stores(url)
        if candidate is not None:
            return candidate
        raise StoreError(
            f"no key store handles {url!r}",
            hint="use a folder path, file:PATH, memory:, https://NAME.vault.azure.net/ (Azure Key Vault) or "
            "secretsmanager://REGION/PREFIX (AWS Secrets Manager)",
        )
    return _load(BUILT_IN_STORES["file"])


def open_store(url: str | None = None) -> KeyStore:
    """Open the store at ``url`` (default: :func:`default_store_url`)."""
    return store_class_for(url or default_store_url()).from_url(url or default_store_url())
