"""Try jwks-tool without Azure or Digdir: both test servers on 127.0.0.1, and the environment that points at them.

Usage (from a checkout; ``bash scripts/try-local.sh`` sets up ``.venv`` first and runs this)::

    python -m tests.servers [--env-file FILE] [--state-dir DIR] [--kv-port N] [--mp-port N]

It starts the Key Vault test server (with its managed-identity endpoint) and the Maskinporten test server (token
endpoint and self-service JWKS API), registers the clients in :data:`CLIENTS`, then prints a block of ``export``
lines to paste into another shell (``--env-file`` also writes it, mode 0600, for ``source``), and a last line
``ready``. It serves until Ctrl-C or SIGTERM, then stops both servers and removes what it made (with
``--state-dir`` the vault's contents, its CA and the local store are kept there for the next run).

The block sets ``JWKS_TOOL_STORE`` to a throw-away local store (your own default store is not touched),
``REQUESTS_CA_BUNDLE`` to both servers' test CA, ``NO_PROXY`` (and ``no_proxy``) to 127.0.0.1 too,
``IDENTITY_ENDPOINT`` / ``IDENTITY_HEADER`` (Azure's managed identity, served by the Key Vault server),
``VAULT_URL``, ``KEYVAULT_STORE`` (a jwks-tool store inside the test vault), ``MASKINPORTEN_TOKEN_URL``,
``PORTAL_API_URL``, ``PORTAL_CERTIFICATE`` and ``JWKS_TOOL_CERT_PASSPHRASE`` (a test business certificate for
organisation 999888777, a ``.p12`` issued by a test CA the Maskinporten server trusts, to sign in to the
self-service API as ``portal-admin``) and ``JWKS_TOOL_PORTAL_TOKEN`` (an admin token got elsewhere, for the other
way in), and puts this checkout's ``.venv/bin`` first on ``PATH``.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import signal
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Final
from urllib.parse import quote

from tests.servers._https import announce_and_wait, stop_on_sigterm, write_private
from tests.servers.business_certs import TestPki
from tests.servers.keyvault import KeyVaultServer
from tests.servers.maskinporten import DCR_READ, DCR_WRITE, MaskinportenServer

#: The Maskinporten clients registered on start: client id -> scopes (none has a key until you register one).
CLIENTS: Final[dict[str, tuple[str, ...]]] = {
    "demo-client": ("altinn:demo.read",),
    "acme-client": ("altinn:instances.read", "altinn:instances.write"),
    "portal-admin": (DCR_READ, DCR_WRITE),
}
ADMIN_CLIENT: Final = "portal-admin"
ADMIN_TOKEN_LIFETIME: Final = 24 * 3600
READY: Final = "ready"
CERT_PASSPHRASE: Final = "test business certificate"
"""The passphrase of the test .p12 (a throw-away certificate of a throw-away CA)."""


def _venv_bin() -> Path:
    """The folder of the running interpreter's scripts (``.venv/bin`` when run from the checkout's venv)."""
    return Path(sys.executable).parent


def environment(
    kv: KeyVaultServer, mp: MaskinportenServer, *, store: Path, ca_bundle: Path, certificate: Path
) -> list[str]:
    """The ``export`` block (with comments) that points jwks-tool, the Azure SDK and requests at the servers."""
    q = shlex.quote
    keyvault_store = f"{kv.url}?store=keyvault&verify_challenge_resource=false&ca_bundle={quote(str(ca_bundle))}"
    admin_token = mp.issue_access_token(ADMIN_CLIENT, lifetime=ADMIN_TOKEN_LIFETIME)
    clients = "; ".join(f"{client} ({' '.join(scopes)})" for client, scopes in CLIENTS.items())
    return [
        "# jwks-tool: try it without Azure or Digdir (test servers on 127.0.0.1; gone when they stop)",
        f'export PATH={q(str(_venv_bin()))}:"$PATH"',
        f"export JWKS_TOOL_STORE={q(str(store))}    # a throw-away local store; your own is not touched",
        f"export REQUESTS_CA_BUNDLE={q(str(ca_bundle))}    # the test CA of both servers",
        'export NO_PROXY="127.0.0.1${NO_PROXY:+,$NO_PROXY}" no_proxy="127.0.0.1${no_proxy:+,$no_proxy}"    # no proxy',
        f"export IDENTITY_ENDPOINT={q(kv.identity_endpoint)}    # Azure managed identity, on the Key Vault server",
        f"export IDENTITY_HEADER={q(kv.identity_header)}",
        f"export VAULT_URL={q(kv.url)}",
        f"export KEYVAULT_STORE={q(keyvault_store)}",
        f"export MASKINPORTEN_TOKEN_URL={q(mp.token_url)}",
        f"export PORTAL_API_URL={q(mp.api_url)}",
        f"export PORTAL_CERTIFICATE={q(str(certificate))}    # a test business certificate of {mp.org_number}",
        f"export JWKS_TOOL_CERT_PASSPHRASE={q(CERT_PASSPHRASE)}    # its passphrase",
        f"export JWKS_TOOL_PORTAL_TOKEN={q(admin_token)}    # {ADMIN_CLIENT}'s admin token, valid 24 h",
        f"# Maskinporten clients: {clients}",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Serve both test servers until Ctrl-C (or SIGTERM); print (and with --env-file write) the environment."""
    parser = argparse.ArgumentParser(
        prog="bash scripts/try-local.sh",
        description="Start the Key Vault and Maskinporten test servers on 127.0.0.1 and print the environment "
        "that points jwks-tool at them.",
    )
    parser.add_argument("--env-file", type=Path, help="also write the export lines to FILE (mode 0600)")
    parser.add_argument(
        "--state-dir",
        type=Path,
        help="keep the vault, its CA and the local store here across runs (default: a temporary folder)",
    )
    parser.add_argument("--kv-port", type=int, default=0, help="Key Vault server port (default: a free port)")
    parser.add_argument("--mp-port", type=int, default=0, help="Maskinporten server port (default: a free port)")
    args = parser.parse_args(argv)

    stop = stop_on_sigterm()
    signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C stops it even if started with SIGINT ignored
    temporary = args.state_dir is None
    base = Path(tempfile.mkdtemp(prefix="jwks-tool-try-")) if temporary else args.state_dir.resolve()
    base.mkdir(mode=0o700, parents=True, exist_ok=True)
    env_file = args.env_file.resolve() if args.env_file is not None else None
    try:
        kv = KeyVaultServer(state_dir=base / "vault", port=args.kv_port)
        pki = TestPki.make("jwks-tool try-local")
        mp = MaskinportenServer(port=args.mp_port, certificate_cas=[pki.root])
        certificate = base / "virksomhet.p12"
        write_private(certificate, pki.issue(mp.org_number, name="Demo AS").pkcs12(CERT_PASSPHRASE))
        for client, scopes in CLIENTS.items():
            mp.register_client(client, scopes)
        with kv, mp:
            ca_bundle = base / "ca-bundle.pem"
            ca_bundle.write_text(
                Path(kv.ca_path).read_text(encoding="ascii") + Path(mp.ca_path).read_text(encoding="ascii"),
                encoding="ascii",
            )
            block = environment(kv, mp, store=base / "store", ca_bundle=ca_bundle, certificate=certificate)
            if env_file is not None:
                write_private(env_file, ("\n".join(block) + "\n").encode("utf-8"))
            source = f" (or: source {shlex.quote(str(args.env_file))})" if env_file is not None else ""
            lines = [
                f"Key Vault test server:    {kv.url}",
                f"Maskinporten test server: {mp.url}",
                "",
                f"Paste this into another shell{source}:",
                "",
                *block,
                "",
                "Press Ctrl-C to stop both servers.",
                READY,
            ]
            announce_and_wait(lines, stop)
    finally:
        if env_file is not None:
            env_file.unlink(missing_ok=True)
        if temporary:
            shutil.rmtree(base, ignore_errors=True)
    print("Test servers stopped.", flush=True)
    return 0


if __name__ == "__main__":
    os.umask(0o077)
    sys.exit(main())
