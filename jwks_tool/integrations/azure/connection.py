"""Azure Key Vault connection: which vault, which credential, the SDK clients, and azure errors made readable.

    >>> normalise_vault_url("my-vault")
    'https://my-vault.vault.azure.net/'

The azure packages are imported only here and in the modules beside it, and only when a vault is used. Every azure
exception becomes a :class:`~jwks_tool.errors.RemoteError` with the fix: not logged in, missing role, vault not found,
throttled.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar

from jwks_tool.core.text import printable
from jwks_tool.errors import InputError, RemoteError

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.keyvault.secrets import SecretClient

SECRET_NAME_RE = re.compile(r"\A[0-9A-Za-z-]{1,127}\Z")
MAX_SECRET_BYTES = 25 * 1024


def check_name(name: str, what: str = "secret") -> None:
    """InputError unless ``name`` is a valid Key Vault secret or key name (1-127 characters of 0-9 A-Z a-z -)."""
    if not SECRET_NAME_RE.fullmatch(name):
        dotnet = " (write -- where .NET configuration has :)" if what == "secret" else ""
        raise InputError(
            f"invalid Key Vault {what} name {name!r}", hint=f"use 1-127 characters of 0-9 A-Z a-z -{dotnet}"
        )


T = TypeVar("T")


class Credential(StrEnum):
    """How to sign in to Azure (``--credential``)."""

    DEFAULT = "default"
    """DefaultAzureCredential: environment, workload identity, managed identity, az login, ..."""
    CLI = "cli"
    ENVIRONMENT = "environment"
    MANAGED_IDENTITY = "managed-identity"


@dataclasses.dataclass(frozen=True)
class Connection:
    """How to reach a vault."""

    vault_url: str
    credential: Credential = Credential.DEFAULT
    ca_bundle: str | None = None
    """A PEM CA bundle for private endpoints, proxies and emulators."""
    verify_challenge_resource: bool = True
    """Turn off for emulators and private endpoints whose host is not under vault.azure.net."""
    retry_total: int | None = None


def normalise_vault_url(vault: str) -> str:
    """The vault's URL with a trailing slash, from an https URL or a bare vault name; InputError otherwise."""
    if vault.startswith("https://"):
        return vault if vault.endswith("/") else vault + "/"
    if re.fullmatch(r"[A-Za-z][A-Za-z0-9-]{1,22}[A-Za-z0-9]", vault):
        return f"https://{vault}.vault.azure.net/"
    raise InputError(f"invalid vault {vault!r}", hint="give https://NAME.vault.azure.net/ or a vault name")


def make_credential(kind: Credential) -> TokenCredential:
    """The azure-identity credential of this kind (nothing is asked of Azure until a token is needed)."""
    with azure_errors("sign in to Azure"):
        import azure.identity as identity

        match kind:
            case Credential.DEFAULT:
                return identity.DefaultAzureCredential()
            case Credential.CLI:
                return identity.AzureCliCredential()
            case Credential.ENVIRONMENT:
                return identity.EnvironmentCredential()
            case Credential.MANAGED_IDENTITY:
                return identity.ManagedIdentityCredential()
    raise InputError(f"unknown credential {kind!r}")  # pragma: no cover - the enum is exhaustive


def client_kwargs(connection: Connection) -> dict[str, Any]:
    """Keyword arguments for every Key Vault SDK client: challenge-resource check, CA bundle, retries."""
    kwargs: dict[str, Any] = {"verify_challenge_resource": connection.verify_challenge_resource}
    if connection.ca_bundle:
        kwargs["connection_verify"] = connection.ca_bundle
    if connection.retry_total is not None:
        kwargs["retry_total"] = connection.retry_total
    return kwargs


def secret_client(connection: Connection, credential: TokenCredential | None = None) -> SecretClient:
    """A Key Vault SecretClient for the connection (its own credential unless one is given)."""
    from azure.keyvault.secrets import SecretClient

    return SecretClient(
        connection.vault_url, credential or make_credential(connection.credential), **client_kwargs(connection)
    )


def key_client(connection: Connection) -> Any:
    """A Key Vault KeyClient for the connection."""
    from azure.keyvault.keys import KeyClient

    return KeyClient(connection.vault_url, make_credential(connection.credential), **client_kwargs(connection))


@contextmanager
def azure_errors(doing: str, *, vault: str = "") -> Iterator[None]:
    """Turn azure exceptions into one-line RemoteErrors that name the fix."""
    try:
        yield
    except ImportError as exc:  # pragma: no cover - the azure packages are dependencies
        raise RemoteError(f"the Azure SDK is missing ({exc.name})", hint="pip install jwks-tool again") from exc
    except Exception as exc:
        raise _translate(exc, doing, vault) from exc


def _translate(exc: Exception, doing: str, vault: str) -> Exception:
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ResourceNotFoundError,
        ServiceRequestError,
        ServiceResponseError,
    )

    try:
        from azure.identity import CredentialUnavailableError
    except ImportError:  # pragma: no cover
        CredentialUnavailableError = ClientAuthenticationError  # type: ignore[misc,assignment]

    where = f" {vault}" if vault else ""
    if isinstance(exc, CredentialUnavailableError | ClientAuthenticationError):
        return RemoteError(
            f"cannot {doing}: not signed in to Azure ({_first_line(exc)})",
            hint="run `az login`, set AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET, or use a managed identity",
        )
    if isinstance(exc, ResourceNotFoundError):
        return RemoteError(f"cannot {doing}: not found in the vault{where}", hint="check the vault and secret names")
    if isinstance(exc, HttpResponseError):
        status = exc.status_code or 0
        code = printable(getattr(getattr(exc, "error", None), "code", None) or "", limit=100)
        if status == 403:
            if "Disabled" in str(exc) or code == "SecretDisabled":
                return RemoteError(
                    f"cannot {doing}: the secret is disabled", hint="enable it in the vault or use another name"
                )
            return RemoteError(
                f"cannot {doing}: no permission in the vault{where}",
                hint="you need the 'Key Vault Secrets Officer' role (or a get/set/list secret access policy)",
            )
        if status == 429:
            return RemoteError(
                f"cannot {doing}: the vault{where} is throttling requests (HTTP 429) and retries ran out",
                hint="wait a minute and run the command again (each step is safe to repeat)",
            )
        if status == 409:
            return RemoteError(
                f"cannot {doing}: the secret is deleted but recoverable ({code or 'Conflict'})",
                hint="recover or purge it in the vault (az keyvault secret recover/purge), or use another name",
            )
        return RemoteError(f"cannot {doing}: the vault answered HTTP {status} {code}".rstrip(), hint=_first_line(exc))
    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        return RemoteError(
            f"cannot {doing}: the vault{where} cannot be reached ({_first_line(exc)})",
            hint="check the vault URL, your network or proxy, and --ca-bundle for private endpoints",
        )
    if isinstance(exc, ValueError) and "challenge" in str(exc).lower():
        return RemoteError(
            f"cannot {doing}: the vault's authentication challenge names another resource",
            hint="for emulators and private endpoints pass --no-verify-challenge-resource",
        )
    return exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return printable(text[0], limit=200) if text else type(exc).__name__


def call(doing: str, vault: str, func: Callable[[], T]) -> T:
    """``func()``, with azure exceptions turned into RemoteErrors naming ``doing`` and the vault."""
    with azure_errors(doing, vault=vault):
        return func()
