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
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable

from jwks_tool.core.certificates import MAX_PKCS12_BYTES, AdminCredential, load_pkcs12
from jwks_tool.core.text import printable
from jwks_tool.errors import InputError
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
