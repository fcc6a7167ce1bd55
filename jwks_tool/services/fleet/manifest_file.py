"""Reading the manifest file (the parsing and checking are pure: :mod:`jwks_tool.core.manifest`).

>>> from jwks_tool.services.fleet.manifest_file import MAX_MANIFEST_BYTES
>>> MAX_MANIFEST_BYTES
4194304
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from jwks_tool.core.consumers import Consumer, Naming, names
from jwks_tool.core.environments import token_url_for
from jwks_tool.core.manifest import MANIFEST_NAME, Admin, Delivery, Manifest, parse_manifest
from jwks_tool.core.text import printable
from jwks_tool.destinations import Destination, destination_class
from jwks_tool.destinations.interface import Target
from jwks_tool.errors import InputError
from jwks_tool.integrations.maskinporten.client import check_url
from jwks_tool.services.admin import read_pkcs12_file

MAX_MANIFEST_BYTES = 4 * 1024 * 1024


def read_manifest(path: str | None, *, cwd: str = ".", certificates: bool = False) -> Manifest:
    """Read and check the manifest at ``path`` (None: ``jwks-tool.toml`` in ``cwd``) before anything runs: its
    syntax and values, its endpoints, each delivery by its destination's rules and, with ``certificates`` (the
    admin sign-in will use them), that each ``register = "api"`` environment's certificate file can be read."""
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
    check_endpoints(manifest)
    manifest = resolve_outs(manifest)
    check_deliveries(manifest)
    check_places(manifest)
    if certificates:
        for env in sorted({client.ref.env.value for client in manifest.clients if client.register == "api"}):
            admin = manifest.admin.get(env)
            if admin is not None and admin.certificate is not None:
                check_certificate(manifest, env, admin)
    return manifest


def manifest_folder(manifest: Manifest) -> str:
    """The folder the manifest's relative paths (``out``, ``certificate``) start from."""
    return os.path.dirname(os.path.abspath(manifest.path))


def resolve_outs(manifest: Manifest) -> Manifest:
    """``manifest`` with each delivery's ``resolved_out``: its ``out`` as the path written (``plan`` shows it)."""
    folder = manifest_folder(manifest)

    def resolved(delivery: Delivery) -> Delivery:
        if delivery.out is None or delivery.out == "-":
            return delivery
        return dataclasses.replace(delivery, resolved_out=os.path.normpath(os.path.join(folder, delivery.out)))

    clients = tuple(
        dataclasses.replace(client, deliver=tuple(resolved(delivery) for delivery in client.deliver))
        for client in manifest.clients
    )
    return dataclasses.replace(manifest, clients=clients)


def delivery_target(delivery: Delivery) -> Target:
    """The destinations layer's Target of a manifest delivery (files replaced on each rotation)."""
    return Target(
        delivery.to,
        vault=delivery.vault,
        out=delivery.resolved_out or delivery.out,
        replace=True,
        adopt=delivery.adopt,
        secret_name=delivery.secret_name if delivery.to == "kubernetes" else None,
        namespace=delivery.namespace,
        reloader=delivery.reloader,
        extra=dict(delivery.extra),
    )


def item_names(delivery: Delivery, naming: Naming) -> list[str]:
    """The names of the items a delivery writes in a destination's ``naming`` (as
    :func:`jwks_tool.services.delivering.prepare` makes them: Key Vault's ``secret_name`` holds the key alone)."""
    if delivery.to == "keyvault" and delivery.secret_name is not None:
        return [delivery.secret_name]
    return names(Consumer(delivery.preset or "apiclient"), naming, prefix=delivery.prefix)


def check_deliveries(manifest: Manifest) -> None:
    """Every ``[[clients.deliver]]`` by its destination's own rules for its options and names
    (:meth:`~jwks_tool.destinations.interface.Destination.check_target`: no I/O), so a value ``apply`` would refuse
    only after making and registering a key is refused now; InputError with the line."""
    kinds: dict[str, type[Destination]] = {}  # a plug-in's entry points are read once, not per delivery
    for client in manifest.clients:
        for number, delivery in enumerate(client.deliver, 1):
            try:
                kind = kinds.get(delivery.to) or kinds.setdefault(delivery.to, destination_class(delivery.to))
                if delivery.to == "keyvault" and delivery.vault and "://" in delivery.vault:
                    check_url_parts(delivery.vault, "the vault")  # no user:pass@ (a vault URL carries none)
                kind.check_target(delivery_target(delivery), item_names(delivery, kind.naming))
            except InputError as exc:
                where = f"client {client.ref.name!r} delivery #{number} (to = {delivery.to!r})"
                raise InputError(
                    f"{manifest.path}:{delivery.line or client.line}: {exc.message} in {where}",
                    hint=(exc.hint or "").replace("a --prefix", "a prefix"),
                ) from None


def check_places(manifest: Manifest) -> None:
    """No two deliveries write one place (a file or folder, a Kubernetes Secret, a vault secret): each run would
    replace the other's key, so the consumers' key would change every run. InputError with the second one's line."""
    from jwks_tool.core.consumers import Naming

    seen: dict[tuple[str, ...], tuple[str, int, int]] = {}
    for client in manifest.clients:
        for number, delivery in enumerate(client.deliver, 1):
            places: list[tuple[tuple[str, ...], str]] = []
            out = delivery.resolved_out or delivery.out
            if delivery.to in ("dotenv", "file", "kubernetes") and out not in (None, "-"):
                path = os.path.normpath(os.path.abspath(str(out)))
                places.append((("path", path), path))
            if delivery.to == "kubernetes" and delivery.secret_name:
                namespace = delivery.namespace or "default"
                places.append(
                    (
                        ("secret", namespace, delivery.secret_name),
                        f"the Secret {delivery.secret_name} in namespace {namespace}",
                    )
                )
            if delivery.to == "keyvault" and delivery.vault:
                vault = delivery.vault if "://" in delivery.vault else f"https://{delivery.vault}.vault.azure.net"
                vault = vault.lower().rstrip("/")
                for name in item_names(delivery, Naming.SECRET):
                    places.append((("vault", vault, name.lower()), f"the secret {name} in {vault}"))
            for place, shown in places:
                first = seen.setdefault(place, (client.ref.name, number, delivery.line or client.line))
                if first[:2] != (client.ref.name, number):
                    where = f"{manifest.path}:{delivery.line or client.line}"
                    raise InputError(
                        f"{where}: client {client.ref.name!r} delivery #{number} (to = {delivery.to!r}) writes "
                        f"{printable(shown, limit=300)}, as client {first[0]!r} delivery #{first[1]} does "
                        f"(line {first[2]}): each run would replace the other's key",
                        hint="give each delivery a place of its own (another out, secret_name, prefix or vault)",
                    )


URL_CARRIES = {"token_url": "the grant", "api_url": "the admin token"}
"""What each endpoint of the manifest is sent (the reason plain http is refused)."""


def check_url_parts(url: str, what: str) -> None:
    """Refuse a URL no request should go to: a control character or a space in it, a user name or password
    (``user:pass@``, never shown), a port that is not 1-65535 (or is empty: ``https://h:/``), no host, or a query
    or fragment (``?x=1``, ``#f``: a path is appended to the URL, and the same-place check compares it without
    them). InputError without the line."""
    from urllib.parse import urlsplit

    shown = printable(url, limit=200)
    if any(not char.isprintable() or char.isspace() for char in url):
        raise InputError(
            f"{what} {shown} holds a control character or a space",
            hint="write the URL on one line, with no spaces or control characters (percent-encode them)",
        )
    try:
        parts = urlsplit(url)
    except ValueError:
        raise InputError(f"{what} {shown} is not a URL", hint="write https://HOST/PATH") from None
    if "@" in parts.netloc:
        raise InputError(
            f"{what} holds a user name or password before its host (user:pass@)",
            hint="remove it: the fleet signs in with the business certificate, never with a password in a URL",
        )
    if not parts.hostname:
        raise InputError(f"{what} {shown} has no host", hint="write https://HOST/PATH")
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0 or parts.netloc.endswith(":"):  # out of 1-65535, not a number, or empty (h:/ goes to 443)
        raise InputError(f"{what} {shown} has an invalid port", hint="give a port from 1 to 65535, or none (443)")
    if "?" in url or "#" in url:  # also an empty one: h/? is not h/
        raise InputError(
            f"{what} {shown} has a query (?) or a fragment (#)",
            hint="remove it: write https://HOST/PATH (percent-encode a ? or # the path holds)",
        )


def check_endpoints(manifest: Manifest) -> None:
    """``token_url``, ``api_url`` and ``audience`` of ``[endpoints.<env>]`` and ``token_url`` of ``[admin.<env>]``:
    a well-formed URL (:func:`check_url_parts`), and the two that are sent to by the rule the Maskinporten client
    applies when it sends (:func:`~jwks_tool.integrations.maskinporten.client.check_url`): https only, as the fleet
    allows no plain http, not even to this machine; the ``ca_bundle`` a PEM file of CA certificates, as
    ``--ca-bundle``. InputError with the line."""
    tables: list[tuple[str, Any]] = [(f"endpoints.{env}", given) for env, given in manifest.endpoints.items()]
    tables += [(f"admin.{env}", given) for env, given in manifest.admin.items()]
    for table, given in tables:
        for key in ("token_url", "api_url", "audience"):
            url = getattr(given, key, None)
            if url is None:
                continue
            try:
                check_url_parts(url, f"{key} in [{table}]")
            except InputError as exc:
                raise InputError(f"{_at(manifest, given, key)}: {exc.message}", hint=exc.hint) from None
        bundle = getattr(given, "ca_bundle", None)
        if bundle is not None:
            from jwks_tool.core.certificates import check_ca_bundle

            try:
                check_ca_bundle(bundle, option=f"ca_bundle in [{table}]")
            except InputError as exc:
                raise InputError(f"{_at(manifest, given, 'ca_bundle')}: {exc.message}", hint=exc.hint) from None
        urls = [(key, getattr(given, key, None), f"{key} in [{table}]") for key in URL_CARRIES]
        if getattr(given, "audience", None) and not given.token_url:  # the token endpoint is then <audience>token
            urls.append(("audience", token_url_for(given.audience), f"the token endpoint of audience in [{table}]"))
        for key, url, what in urls:
            if url is None:
                continue
            try:
                check_url(url, what=what, carries=URL_CARRIES.get(key, URL_CARRIES["token_url"]))
            except InputError as exc:
                raise InputError(
                    f"{_at(manifest, given, key)}: {exc.message}", hint=f"use an https:// URL in [{table}]"
                ) from None


def _at(manifest: Manifest, given: Any, key: str) -> str:
    """``FILE:LINE`` of ``key`` in a table (``FILE`` alone when its line is not known)."""
    line = given.lines.get(key) or given.lines.get("", 0)
    return f"{manifest.path}:{line}" if line else manifest.path


def check_certificate(manifest: Manifest, env: str, admin: Admin) -> None:
    """The business certificate file of ``[admin.<env>]`` can be read (a vault certificate URL is not checked
    here; the passphrase is asked for only at sign-in); InputError naming the manifest's key and line."""
    given = admin.certificate or ""
    if "://" in given:
        return
    path = given if os.path.isabs(given) else os.path.join(manifest_folder(manifest), given)
    try:
        read_pkcs12_file(path)
    except InputError as exc:
        line = admin.lines.get("certificate") or admin.lines.get("", 0)
        hint = f"check certificate in [admin.{env}] of {manifest.path} (line {line})"
        raise InputError(exc.message, hint=hint) from exc


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
