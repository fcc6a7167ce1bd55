"""Reading the manifest file (the parsing and checking are pure: :mod:`jwks_tool.core.manifest`).

>>> from jwks_tool.services.fleet.manifest_file import MAX_MANIFEST_BYTES
>>> MAX_MANIFEST_BYTES
4194304
"""

from __future__ import annotations

import os

from jwks_tool.core.manifest import MANIFEST_NAME, Manifest, parse_manifest
from jwks_tool.errors import InputError

MAX_MANIFEST_BYTES = 4 * 1024 * 1024


def read_manifest(path: str | None, *, cwd: str = ".") -> Manifest:
    """Read and check the manifest at ``path`` (None: ``jwks-tool.toml`` in ``cwd``) before anything runs."""
    target = path if path is not None else (MANIFEST_NAME if cwd == "." else os.path.join(cwd, MANIFEST_NAME))
    try:
        with open(target, "rb") as handle:
            raw = handle.read(MAX_MANIFEST_BYTES + 1)
    except FileNotFoundError:
        if path is None:
            raise InputError(
                f"no {MANIFEST_NAME} in this folder", hint="write one (README: Fleet) or pass --manifest FILE"
            ) from None
        raise InputError(f"the manifest {target} does not exist", hint="check the path") from None
    except IsADirectoryError:
        raise InputError(f"the manifest {target} is a folder", hint="give the manifest file") from None
    except OSError as exc:
        raise InputError(f"cannot read the manifest {target}: {exc.strerror}", hint="check its permissions") from exc
    if len(raw) > MAX_MANIFEST_BYTES:
        raise InputError(f"the manifest {target} is larger than 4 MiB", hint="split it")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"the manifest {target} is not UTF-8 text", hint="save it as UTF-8") from None
    manifest = parse_manifest(text.removeprefix("\ufeff"), target)
    check_destinations(manifest)
    return manifest


def check_destinations(manifest: Manifest) -> None:
    """Every ``to`` of a ``[[clients.deliver]]`` names a destination this jwks-tool has (a built-in one, or a
    plug-in's from the ``jwks_tool.destinations`` entry points); InputError with the line and the choices."""
    from jwks_tool.core.manifest import DELIVER_KEYS

    others = {d.to for client in manifest.clients for d in client.deliver if d.to not in DELIVER_KEYS}
    if not others:
        return
    from jwks_tool.destinations import destination_names

    known = destination_names()
    for client in manifest.clients:
        for delivery in client.deliver:
            if delivery.to not in known:
                raise InputError(
                    f"{manifest.path}:{delivery.line or client.line}: client {client.ref.name!r} delivers to "
                    f"{delivery.to!r}, a destination this jwks-tool does not have",
                    hint=f"use one of {', '.join(known)}, or install the package that adds it",
                )
