"""Azure Key Vault connection: which vault, which credential, the SDK clients, and azure errors made readable.

    >>> normalise_vault_url("my-vault")
    'https://my-vault.vault.azure.net/'

The azure packages are imported only here and in the modules beside it, and only when a vault is used. Every azure
exception becomes a :class:`~jwks_tool.errors.RemoteError` with the fix: not logged in, missing role, vault not found,
throttled. A hint names the fix where the caller set the connection up: a command's options (``--ca-bundle``) or a
store URL's query (``ca_bundle=``), as :attr:`Connection.from_store_url` says. A credential that fails is named
(which one, and why) instead of the vault; azure-identity's own warnings about it are not printed (a ``NullHandler``
on the ``azure`` logger replaces Python's last-resort printing; a program that configures logging still sees them).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar

from jwks_tool.core.text import printable
from jwks_tool.errors import InputError, JwksToolError, RemoteError

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.keyvault.secrets import SecretClient

logging.getLogger("azure").addHandler(logging.NullHandler())

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
    from_store_url: bool = False
    """Set up by a store URL's query (hints then name ``ca_bundle=``, not ``--ca-bundle``)."""

    def fix(self, option: str, store_url_option: str) -> str:
        """The fix to name: a command option, or the store URL's query option (see :attr:`from_store_url`)."""
        return f"{store_url_option} in the store URL" if self.from_store_url else option


_OPTIONS_CONNECTION = Connection("")
"""Hints for callers that do not say how the connection was set up: a command's options."""


def normalise_vault_url(vault: str) -> str:
    """The vault's URL with a trailing slash, from an https URL or a bare vault name; InputError otherwise."""
    if vault.startswith("https://"):
        return vault if vault.endswith("/") else vault + "/"
    if re.fullmatch(r"[A-Za-z][A-Za-z0-9-]{1,22}[A-Za-z0-9]", vault):
        return f"https://{vault}.vault.azure.net/"
    raise InputError(f"invalid vault {vault!r}", hint="give https://NAME.vault.azure.net/ or a vault name")


def make_credential(kind: Credential, connection: Connection | None = None) -> TokenCredential:
    """The azure-identity credential of this kind (nothing is asked of Azure until a token is needed), wrapped so
    that a failure to get a token is a :class:`SignInError` naming the credential, not a vault that cannot be
    reached."""
    with azure_errors("sign in to Azure", connection=connection):
        import azure.identity as identity

        inner: TokenCredential
        match kind:
            case Credential.DEFAULT:
                inner = identity.DefaultAzureCredential()
            case Credential.CLI:
                inner = identity.AzureCliCredential()
            case Credential.ENVIRONMENT:
                inner = identity.EnvironmentCredential()
            case Credential.MANAGED_IDENTITY:
                inner = identity.ManagedIdentityCredential()
            case _:  # pragma: no cover - the enum is exhaustive
                raise InputError(f"unknown credential {kind!r}")
        return _NamedCredential(inner, kind, connection or _OPTIONS_CONNECTION)


class SignInError(RemoteError):
    """The credential could not get a token: names which credential failed and how to fix it."""


class _NamedCredential:
    """A credential whose failures say which credential failed (the SDK would report some of them, such as a
    managed-identity endpoint that does not answer, as the vault being unreachable)."""

    def __init__(self, inner: Any, kind: Credential, connection: Connection) -> None:
        self._inner = inner
        self._kind = kind
        self._connection = connection

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        try:
            return self._inner.get_token(*scopes, **kwargs)
        except Exception as exc:
            raise sign_in_error(self._kind, exc, self._connection) from exc

    def get_token_info(self, *scopes: str, options: Any = None) -> Any:
        try:
            return self._inner.get_token_info(*scopes, options=options)
        except Exception as exc:
            raise sign_in_error(self._kind, exc, self._connection) from exc

    def close(self) -> None:
        self._inner.close()

    def __enter__(self) -> _NamedCredential:
        self._inner.__enter__()
        return self

    def __exit__(self, *args: Any) -> None:
        self._inner.__exit__(*args)


def _identity_endpoint() -> str:
    endpoint = os.environ.get("IDENTITY_ENDPOINT") or os.environ.get("MSI_ENDPOINT")
    return printable(endpoint, limit=200) if endpoint else "the instance metadata service (169.254.169.254)"


def _attempt(text: str, credential: str) -> str | None:
    """What DefaultAzureCredential's message says of one credential it tried (``\tName: why``), if anything."""
    for line in text.splitlines():
        name, _, why = line.strip().partition(": ")
        if name == credential and why:
            return why
    return None


def sign_in_error(kind: Credential, exc: Exception, connection: Connection) -> SignInError:
    """One line naming the credential that failed, why (the SDK's reason, first line) and its fix."""
    other = connection.fix("another --credential", "another credential=")
    text = str(exc)
    why = _first_line(exc)
    managed = (
        f"the managed identity endpoint {_identity_endpoint()} failed",
        "check IDENTITY_ENDPOINT and IDENTITY_HEADER (App Service, Functions) or that this machine has a managed "
        f"identity, or use {other}",
    )
    cli = ("Azure CLI sign-in failed", f"run `az login` (or use {other})")
    environment = (
        "the AZURE_* variables did not sign in",
        "set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or AZURE_CLIENT_CERTIFICATE_PATH), "
        f"or use {other}",
    )
    if kind is Credential.MANAGED_IDENTITY:
        what, hint = managed
    elif kind is Credential.CLI:
        what, hint = cli
    elif kind is Credential.ENVIRONMENT:
        what, hint = environment
    elif (
        os.environ.get("AZURE_CLIENT_ID")
        and os.environ.get("AZURE_TENANT_ID")
        and _attempt(text, "EnvironmentCredential")
    ):
        (what, hint), why = environment, printable(_attempt(text, "EnvironmentCredential") or why, limit=200)
        what = f"DefaultAzureCredential: {what}"
    elif (os.environ.get("IDENTITY_ENDPOINT") or os.environ.get("MSI_ENDPOINT")) and _attempt(
        text, "ManagedIdentityCredential"
    ):
        (what, hint), why = managed, printable(_attempt(text, "ManagedIdentityCredential") or why, limit=200)
        what = f"DefaultAzureCredential: {what}"
    else:
        what = "DefaultAzureCredential found no way to sign in"
        why = "no az login, no AZURE_* variables, no managed identity"
        hint = (
            "run `az login`, set AZURE_TENANT_ID/AZURE_CLIENT_ID/AZURE_CLIENT_SECRET, or run where a managed identity "
            f"is (IDENTITY_ENDPOINT); {connection.fix('--credential', 'credential=')} picks one"
        )
    return SignInError(f"cannot sign in to Azure: {what} ({why})", hint=hint)


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
        connection.vault_url,
        credential or make_credential(connection.credential, connection),
        **client_kwargs(connection),
    )


def key_client(connection: Connection) -> Any:
    """A Key Vault KeyClient for the connection."""
    from azure.keyvault.keys import KeyClient

    return KeyClient(
        connection.vault_url, make_credential(connection.credential, connection), **client_kwargs(connection)
    )


@contextmanager
def azure_errors(doing: str, *, vault: str = "", connection: Connection | None = None) -> Iterator[None]:
    """Turn azure exceptions into one-line RemoteErrors that name the fix (where ``connection`` was set up: a
    command's options unless it says a store URL)."""
    try:
        yield
    except SignInError as exc:
        raise SignInError(
            f"cannot {doing}: {exc.message.removeprefix('cannot sign in to Azure: ')}", hint=exc.hint
        ) from exc
    except JwksToolError:
        raise
    except ImportError as exc:  # pragma: no cover - the azure packages are dependencies
        raise RemoteError(f"the Azure SDK is missing ({exc.name})", hint="pip install jwks-tool again") from exc
    except Exception as exc:
        raise _translate(exc, doing, vault, connection or _OPTIONS_CONNECTION) from exc


def _translate(exc: Exception, doing: str, vault: str, connection: Connection) -> Exception:
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
            hint="check the vault URL, your network or proxy, and "
            f"{connection.fix('--ca-bundle', 'ca_bundle=')} for private endpoints",
        )
    if isinstance(exc, ValueError) and "challenge" in str(exc).lower():
        return RemoteError(
            f"cannot {doing}: the vault's authentication challenge names another resource",
            hint="for emulators and private endpoints "
            + connection.fix("pass --no-verify-challenge-resource", "put verify_challenge_resource=false"),
        )
    return exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return printable(text[0], limit=200) if text else type(exc).__name__


def call(doing: str, vault: str, func: Callable[[], T]) -> T:
    """``func()``, with azure exceptions turned into RemoteErrors naming ``doing`` and the vault."""
    with azure_errors(doing, vault=vault):
        return func()
