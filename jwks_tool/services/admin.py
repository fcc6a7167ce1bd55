"""The self-service API's admin credential, picked by where the business certificate is: a PKCS#12 file or an
Azure Key Vault certificate URL.

    >>> from jwks_tool.services.admin import is_vault_certificate
    >>> is_vault_certificate("https://acme-kv.vault.azure.net/certificates/virksomhet")
    True
    >>> is_vault_certificate("virksomhet.p12")
    False

    credential = open_admin_credential("virksomhet.p12", passphrase=lambda: os.environ["JWKS_TOOL_CERT_PASSPHRASE"],
                                       azure=AzureOptions())
    token = admin_token(credential, AdminRequest("admin-client-id", scope_for("read"), env="prod"))

The passphrase is asked for only when a file is opened (a vault certificate needs none). The fleet's ``apply`` and
``portal push/pull`` call the same two functions.

``portal push`` plans its PUT (Digdir's PUT replaces the whole registered set) with :func:`plan_push`: the store's
registered keys, plus the registered keys the key set does not know (another store's, or added in the portal) unless
``replace``; what the PUT would drop is listed so the command can ask first.

    >>> plan = plan_push([{"kid": "new"}], [{"kid": "old"}, {"kid": "theirs", "exp": 0}], known={"new", "old"})
    >>> [k["kid"] for k in plan.wanted], [k["kid"] for k in plan.removed], [k["kid"] for k in plan.kept]
    (['new', 'theirs'], ['old'], ['theirs'])
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from jwks_tool.core.certificates import MAX_PKCS12_BYTES, AdminCredential, load_pkcs12
from jwks_tool.core.text import printable
from jwks_tool.errors import InputError, ProfileError
from jwks_tool.integrations.azure.vault_certificates import is_certificate_url, open_vault_certificate
from jwks_tool.services.key_service import AzureOptions

ENV_CERT_PASSPHRASE = "JWKS_TOOL_CERT_PASSPHRASE"
"""Where the PKCS#12 file's passphrase is read from, when no --cert-passphrase-file is given."""


def is_vault_certificate(source: str) -> bool:
    """Whether ``source`` is an Azure Key Vault certificate URL rather than a file path."""
    return is_certificate_url(source)


def read_pkcs12_file(path: str) -> bytes:
    """The bytes of a PKCS#12 file: a regular file of at most 1 MiB (InputError otherwise; exit 3)."""
    shown = printable(path, limit=200)
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO or device would block or never end
            raise InputError(f"the certificate {shown} is not a regular file", hint="give the .p12/.pfx file")
        with open(path, "rb") as handle:
            data = handle.read(MAX_PKCS12_BYTES + 1)
    except OSError as exc:
        raise InputError(
            f"cannot read the certificate file {shown}: {exc.strerror}", hint="check the path given to --certificate"
        ) from exc
    return data


def open_admin_credential(source: str, *, passphrase: Callable[[], str | None], azure: AzureOptions) -> AdminCredential:
    """The business certificate at ``source`` (a .p12/.pfx path, or ``https://VAULT/certificates/NAME``) as an
    :class:`~jwks_tool.core.certificates.AdminCredential`. ``passphrase`` is called only for a file."""
    if source.startswith("https://"):
        return open_vault_certificate(source, azure.connection(source.split("/certificates/", 1)[0] + "/"))
    if "://" in source:
        raise InputError(
            f"--certificate {printable(source, limit=80)} is neither a file nor a Key Vault certificate URL",
            hint="give a .p12/.pfx path or https://VAULT.vault.azure.net/certificates/NAME",
        )
    data = read_pkcs12_file(source)
    return load_pkcs12(data, passphrase(), source=f"the certificate file {source}")


@dataclass(frozen=True)
class PushPlan:
    """What ``portal push`` sends (``wanted``, Digdir's PUT replaces the whole set) and what that changes."""

    wanted: list[dict[str, Any]]
    """The keys to PUT: the store's registered keys, then the kept ones."""
    added: list[str]
    """Kids in ``wanted`` that Digdir does not hold yet."""
    kept: list[dict[str, Any]]
    """Registered keys the key set does not know, kept (without ``replace``)."""
    removed: list[dict[str, Any]]
    """Registered keys the PUT drops: the set's keys no longer registered (retired, revoked), and with ``replace``
    the ones it does not know."""

    def unknown_removed(self, known: Collection[str]) -> list[dict[str, Any]]:
        """The removed keys the key set does not know."""
        return [key for key in self.removed if str(key.get("kid")) not in known]


def plan_push(
    ours: Sequence[Mapping[str, Any]],
    registered: Sequence[Mapping[str, Any]],
    *,
    known: Collection[str],
    replace: bool = False,
    max_registered: int | None = None,
) -> PushPlan:
    """The PUT for ``portal push``: ``ours`` (the set's registered public keys) plus, unless ``replace``, the keys in
    ``registered`` (what Digdir holds now) whose kid is not in ``known`` (every kid of the key set). A set over
    ``max_registered`` keys is refused (ProfileError, exit 4) before anything is sent."""
    mine = {str(key.get("kid")) for key in ours}
    kept = [dict(key) for key in registered if str(key.get("kid")) not in known and not replace]
    removed = [
        dict(key) for key in registered if str(key.get("kid")) not in mine and (replace or str(key.get("kid")) in known)
    ]
    wanted = [dict(key) for key in ours] + kept
    holds = {str(key.get("kid")) for key in registered}
    if max_registered is not None and len(wanted) > max_registered:
        raise ProfileError(
            f"the registered set would hold {len(wanted)} keys ({len(kept)} of them unknown to the key set), more "
            f"than the {max_registered} Digdir allows",
            hint="pass --replace to drop the keys the key set does not know, or delete some in Digdir's portal",
        )
    added = [str(key.get("kid")) for key in ours if str(key.get("kid")) not in holds]
    return PushPlan(wanted, added, kept, removed)


def describe_registered(key: Mapping[str, Any]) -> str:
    """A registered key for a person: its kid (made printable) and ``exp`` as a UTC date, if it has one."""
    kid = printable(key.get("kid"), limit=120)
    exp = key.get("exp")
    if isinstance(exp, int) and not isinstance(exp, bool):
        try:
            return f"{kid} (exp {datetime.fromtimestamp(exp, UTC):%Y-%m-%d})"
        except (OverflowError, OSError, ValueError):
            return f"{kid} (exp {exp})"
    return f"{kid} (no exp)"


ENV_PORTAL_TOKEN = "JWKS_TOOL_PORTAL_TOKEN"
"""An admin token got elsewhere, for the self-service API (used where no business certificate is named)."""


def check_given_token(token: str, *, hint: str) -> None:
    """A JWT in ``JWKS_TOOL_PORTAL_TOKEN`` whose ``exp`` has passed is refused before it is sent (a token kept in a
    CI secret or a crontab outlives its minutes); an opaque token is sent as it is. The claims are read, not trusted:
    the API checks the token. ``hint`` says how the caller signs in with the business certificate instead.

    A token that is not one printable token (a control character, a space, a line break, nothing) is refused
    before it is sent, without showing it.

    >>> check_given_token("opaque", hint="-")
    """
    import base64
    import json

    if not token or any(not 33 <= ord(char) <= 126 for char in token):
        raise InputError(
            f"{ENV_PORTAL_TOKEN} is not one printable token: it holds "
            + ("nothing" if not token else "a space, a line break or a control character"),
            hint=f"set {ENV_PORTAL_TOKEN} to the access token alone (printable ASCII, nothing around it)",
        )
    parts = token.split(".")
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))) if len(parts) == 3 else {}
    except ValueError:
        return
    exp = claims.get("exp") if isinstance(claims, dict) else None
    if isinstance(exp, int) and not isinstance(exp, bool) and exp <= datetime.now(UTC).timestamp():
        try:
            when = f"at {datetime.fromtimestamp(exp, UTC):%Y-%m-%d %H:%M} UTC"
        except (OverflowError, OSError, ValueError):
            when = "long ago"
        raise InputError(
            f"{ENV_PORTAL_TOKEN} holds an admin token that expired {when}; admin tokens are short-lived, so one cannot "
            "be kept in a secret",
            hint=hint,
        )
