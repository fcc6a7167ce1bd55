"""Destinations, picked by name: where a consumer's items are written (``--to``, the manifest's ``to =``).

    >>> from jwks_tool.destinations import destination_class
    >>> destination_class("kubernetes").__name__
    'KubernetesSecret'

Built in: ``keyvault`` (:mod:`jwks_tool.destinations.keyvault`, Azure Key Vault secrets), ``aws``
(:mod:`jwks_tool.destinations.aws`, AWS Secrets Manager secrets), ``kubernetes`` (a v1 Secret manifest), ``dotenv``
(a ``.env`` file) and ``file`` (a folder with one file per item). Other packages add
destinations through the ``jwks_tool.destinations`` entry-point group, under the name ``--to`` takes: a
:class:`~jwks_tool.destinations.interface.Destination` subclass (its docstring says what one must do). Destination
modules are imported only when their name is used.
"""

from __future__ import annotations

from importlib import import_module
from typing import cast

from jwks_tool.destinations.interface import Delivery, Destination, Outcome
from jwks_tool.errors import InputError, JwksToolWarning

__all__ = ["BUILT_IN_DESTINATIONS", "Delivery", "Destination", "Outcome", "destination_class", "destination_names"]

BUILT_IN_DESTINATIONS = {
    "aws": "jwks_tool.destinations.aws:SecretsManagerSecrets",
    "dotenv": "jwks_tool.destinations.dotenv:DotenvFile",
    "file": "jwks_tool.destinations.files:FileFolder",
    "keyvault": "jwks_tool.destinations.keyvault:KeyVaultSecrets",
    "kubernetes": "jwks_tool.destinations.kubernetes:KubernetesSecret",
}
"""The built-in destinations, exactly as pyproject.toml lists them in the ``jwks_tool.destinations`` entry-point
group (a test keeps the two equal); the group is read only for a name no built-in takes."""


def _load(target: str) -> type[Destination]:
    module, _, name = target.partition(":")
    return cast(type[Destination], getattr(import_module(module), name))


def _plugins() -> dict[str, str]:
    from importlib.metadata import entry_points

    return {entry.name: entry.value for entry in entry_points(group="jwks_tool.destinations")}


def destination_names() -> list[str]:
    """Every destination name: the built-ins and the plug-ins, sorted."""
    return sorted(set(BUILT_IN_DESTINATIONS) | set(_plugins()))


def destination_class(name: str) -> type[Destination]:
    """The destination called ``name``: a built-in one, else the plug-in registered under that name (one that fails
    to load is an error naming it; the others are not loaded)."""
    if name in BUILT_IN_DESTINATIONS:
        return _load(BUILT_IN_DESTINATIONS[name])
    plugins = _plugins()
    if name not in plugins:
        raise InputError(f"no destination {name!r}", hint=f"use one of: {', '.join(destination_names())}")
    import warnings

    try:
        candidate = _load(plugins[name])
    except Exception as exc:  # a broken plug-in is named, not a traceback
        warnings.warn(f"the destination plug-in {name!r} failed to load: {exc}", JwksToolWarning, stacklevel=2)
        raise InputError(
            f"the destination {name!r} ({plugins[name]}) cannot be loaded", hint="reinstall the package that adds it"
        ) from exc
    if not (isinstance(candidate, type) and issubclass(candidate, Destination)):
        raise InputError(f"the destination plug-in {name!r} is not a Destination", hint="report it to its authors")
    return candidate
