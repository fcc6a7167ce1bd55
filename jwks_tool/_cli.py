"""The ``jwks-tool`` command line: thin click commands over :mod:`jwks_tool.service`.

    $ jwks-tool generate acme --env test
    $ jwks-tool export acme > acme-public.jwk.json
    $ jwks-tool export acme --private --format base64 --out keyvault-value.txt

Each command parses options, calls one library function and renders the result. Errors are mapped to exit codes in
one place (:data:`EXIT_CODES`, applied by :class:`JwksGroup`). Nothing heavy is imported before a command runs.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from jwks_tool import __version__
from jwks_tool.errors import (
    AbortedError,
    ConflictError,
    InputError,
    JwksToolError,
    NotFoundError,
    PassphraseError,
    ProfileError,
    RemoteError,
    StoreError,
)

if TYPE_CHECKING:
    from jwks_tool.model import KeyRecord, KeySet
    from jwks_tool.service import KeyService

F = TypeVar("F", bound=Callable[..., Any])

ENV_PASSPHRASE = "JWKS_TOOL_PASSPHRASE"
ENV_KEY_PASSPHRASE = "JWKS_TOOL_KEY_PASSPHRASE"
ENV_EXPORT_PASSPHRASE = "JWKS_TOOL_EXPORT_PASSPHRASE"

EXIT_OK = 0
EXIT_WARNINGS = 1
EXIT_FINDINGS = 2
EXIT_CODES: dict[type[JwksToolError], int] = {
    InputError: 3,
    ProfileError: 4,
    StoreError: 5,
    NotFoundError: 6,
    ConflictError: 7,
    PassphraseError: 8,
    AbortedError: 9,
    RemoteError: 10,
    JwksToolError: 1,
}
"""Exit codes by error class (the nearest base class wins). 2 is a usage error (click), or errors found by inspect."""
EXIT_INTERNAL = 70
EXIT_IO = 74


def exit_code_for(error: JwksToolError) -> int:
    for cls in type(error).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return 1


class JwksGroup(click.Group):
    """The top-level group: turns every error into one line on stderr and its exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except JwksToolError as exc:
            self._fail(ctx, exc.diagnostics(), exit_code_for(exc))
        except OSError as exc:
            where = f" {exc.filename}" if exc.filename else ""
            self._fail(ctx, f"{exc.strerror or exc}{where}; check the path and its permissions", EXIT_IO)
        except Exception as exc:
            self._fail(
                ctx,
                f"internal error {type(exc).__name__}: {exc}; run with -v for the traceback and report it",
                EXIT_INTERNAL,
            )

    @staticmethod
    def _fail(ctx: click.Context, line: str, code: int) -> NoReturn:
        if ctx.meta.get("jwks_tool.verbose"):
            traceback.print_exc()
        click.echo(f"jwks-tool: error: {line}", err=True)
        ctx.exit(code)


@click.group(cls=JwksGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, "--version", prog_name="jwks-tool")
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks of errors.")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """Manage the signing keys of OAuth2 machine clients: Maskinporten first.

    \b
    Onboarding a Maskinporten client:
      jwks-tool generate acme                      # a key for the client 'acme' (test)
      jwks-tool export acme                        # the public JWK to paste into the portal
      jwks-tool export acme --private --format base64 --out kv.txt   # the Key Vault value

    The store's passphrase comes from JWKS_TOOL_PASSPHRASE, --passphrase-file or a prompt; never from argv.
    """
    ctx.meta["jwks_tool.verbose"] = verbose


# ---- shared options ----------------------------------------------------------------------------------------------
def store_options(func: F) -> F:
    func = click.option(
        "--passphrase-file",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Read the store passphrase from the first line of this file (default: $JWKS_TOOL_PASSPHRASE, or ask).",
    )(func)
    func = click.option(
        "--store",
        "store_url",
        envvar="JWKS_TOOL_STORE",
        metavar="URL",
        help="Key store: a folder, file:PATH or memory: (default: $JWKS_TOOL_STORE, else your data folder).",
    )(func)
    return func


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print stable JSON for programs.")(func)


def set_options(func: F) -> F:
    func = click.option(
        "--env", type=click.Choice(["test", "prod"]), default="test", show_default=True, help="Environment."
    )(func)
    return func


def is_terminal(stream: Any) -> bool:
    """Whether a standard stream is a terminal (a person is there to ask or to read)."""
    return bool(getattr(stream, "isatty", lambda: False)())


def azure_options(func: F) -> F:
    """--credential, --ca-bundle and --no-verify-challenge-resource: how to reach Key Vault."""
    func = click.option(
        "--no-verify-challenge-resource",
        "no_verify",
        is_flag=True,
        help="Accept a challenge resource that is not the vault's domain (emulators, private endpoints).",
    )(func)
    func = click.option(
        "--ca-bundle", type=click.Path(dir_okay=False, exists=True), help="PEM CA bundle for TLS to the vault."
    )(func)
    func = click.option(
        "--credential",
        type=click.Choice(["default", "cli", "environment", "managed-identity"]),
        default="default",
        show_default=True,
        help="How to sign in to Azure: DefaultAzureCredential, az login, AZURE_* variables, or managed identity.",
    )(func)
    return func


def azure_connection(vault: str, credential: str, ca_bundle: str | None, no_verify: bool) -> Any:
    """A Key Vault connection from the command line's options."""
    from jwks_tool.keyvault import Connection, Credential, normalise_vault_url

    return Connection(normalise_vault_url(vault), Credential(credential), ca_bundle, not no_verify)


def read_secret_file(path: Path, what: str) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read the {what} file {path}: {exc.strerror}") from exc
    line = text.splitlines()[0] if text else ""
    if not line:
        raise PassphraseError(f"the {what} file {path} is empty", hint="put the passphrase on its first line")
    return line


def passphrase_provider(passphrase_file: Path | None) -> Callable[[bool], str]:
    """The store passphrase: --passphrase-file, then $JWKS_TOOL_PASSPHRASE, then a prompt on a terminal."""
    cached: list[str] = []

    def provide(confirm: bool) -> str:
        if cached:
            return cached[0]
        if passphrase_file is not None:
            value = read_secret_file(passphrase_file, "passphrase")
        elif os.environ.get(ENV_PASSPHRASE):
            value = os.environ[ENV_PASSPHRASE]
        elif is_terminal(sys.stdin):
            prompt = "New store passphrase" if confirm else "Store passphrase"
            value = click.prompt(prompt, hide_input=True, confirmation_prompt=confirm, err=True)
        else:
            raise PassphraseError(
                "the key store needs its passphrase",
                hint=f"set {ENV_PASSPHRASE} or pass --passphrase-file (stdin is not a terminal to ask on)",
            )
        cached.append(value)
        return value

    return provide


def secret_from_env_or_prompt(env_name: str, prompt: str, *, confirm: bool) -> str:
    if os.environ.get(env_name):
        return os.environ[env_name]
    if is_terminal(sys.stdin):
        return str(click.prompt(prompt, hide_input=True, confirmation_prompt=confirm, err=True))
    raise PassphraseError(f"{prompt.lower()} is needed", hint=f"set {env_name} (stdin is not a terminal to ask on)")


def make_service(store_url: str | None, passphrase_file: Path | None) -> KeyService:
    from jwks_tool.service import KeyService
    from jwks_tool.stores import open_store

    context = click.get_current_context(silent=True)
    command = f"jwks-tool {context.command.name}" if context is not None else "jwks-tool"
    return KeyService(open_store(store_url), passphrase_provider(passphrase_file), command=command)


def emit(text: str, out: Path | None, *, private: bool = False) -> None:
    """Write a result to ``out`` (atomically, 0600 for private material) or stdout."""
    if out is None:
        click.echo(text, nl=False)
        return
    from jwks_tool.stores.file import atomic_write

    atomic_write(out, text.encode("utf-8"), mode=0o600 if private else 0o644)


def key_json(record: KeyRecord, keyset: KeySet | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "kid": record.kid,
        "kty": record.kty,
        "alg": record.alg,
        "size": record.size,
        "crv": record.crv,
        "thumbprint": record.thumbprint,
        "created": record.created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "expires": record.expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "state": record.state.value,
        "origin": record.origin.value,
        "has_private": record.sealed_private is not None,
    }
    if keyset is not None:
        newest = keyset.newest
        data["newest"] = newest is not None and newest.kid == record.kid
    return data


def set_json(keyset: KeySet) -> dict[str, Any]:
    active = keyset.active
    return {
        "name": keyset.ref.name,
        "env": keyset.ref.env.value,
        "profile": keyset.profile,
        "active": None if active is None else active.kid,
        "newest": None if keyset.newest is None else keyset.newest.kid,
        "keys": [key_json(key, keyset) for key in keyset.keys],
    }


def print_json(value: object) -> None:
    from jwks_tool.formats import to_json

    click.echo(to_json(value), nl=False)


# ---- commands ----------------------------------------------------------------------------------------------------
@cli.command()
@store_options
@click.option("--plaintext", is_flag=True, help="Keep private keys UNENCRYPTED in this store (recorded in the store).")
@json_option
def init(store_url: str | None, passphrase_file: Path | None, plaintext: bool, as_json: bool) -> None:
    """Create a key store (generate and import create one on first use).

    The store encrypts private keys with a passphrase unless --plaintext is given; that choice is recorded.
    """
    svc = make_service(store_url, passphrase_file)
    svc.init_store(plaintext=plaintext)
    info = svc.store_info()
    if as_json:
        print_json(info)
    else:
        assert info is not None
        click.echo(f"Created key store {info['store']} (private keys: {_protection_text(info)})")


def _protection_text(info: dict[str, Any]) -> str:
    if info.get("protection") == "plaintext":
        return "NOT encrypted, by explicit choice"
    return f"JWE A256KW+A256GCM, key from {info.get('kdf')} x {info.get('iterations'):,}"


@cli.command()
@click.argument("name")
@set_options
@click.option(
    "--profile",
    type=click.Choice(["maskinporten", "generic"]),
    help="Rules to follow [default: maskinporten].",
)
@click.option("--kty", type=click.Choice(["RSA", "EC"], case_sensitive=False), default="RSA", show_default=True)
@click.option(
    "--size", type=click.Choice(["2048", "3072", "4096"]), default="3072", show_default=True, help="RSA bits."
)
@click.option("--crv", type=click.Choice(["P-256", "P-384", "P-521"]), help="EC curve [default: P-256].")
@click.option(
    "--alg",
    type=click.Choice(["RS256", "RS384", "RS512", "ES256", "ES384", "ES512"]),
    help="[default: RS256 or the curve's].",
)
@click.option("--kid", help="Key id (default: <name>-<env>-<yyyymmdd>-<thumbprint part>).")
@click.option("--kid-style", type=click.Choice(["readable", "thumbprint"]), default="readable", show_default=True)
@click.option(
    "--expires-in",
    metavar="DURATION",
    help="Lifetime such as 90d or 1y [default and maximum for maskinporten: 365d].",
)
@click.option("--in-vault", metavar="URL", help="Make the key inside this Azure Key Vault (non-exportable).")
@click.option("--hsm", is_flag=True, help="With --in-vault: HSM-protected key (Premium vault).")
@click.option("--vault-key-name", help="With --in-vault: the Key Vault key name [jwks-<name>-<env>].")
@azure_options
@store_options
@json_option
def generate(
    name: str,
    env: str,
    profile: str | None,
    kty: str,
    size: str,
    crv: str | None,
    alg: str | None,
    kid: str | None,
    kid_style: str,
    expires_in: str | None,
    in_vault: str | None,
    hsm: bool,
    vault_key_name: str | None,
    credential: str,
    ca_bundle: str | None,
    no_verify: bool,
    store_url: str | None,
    passphrase_file: Path | None,
    as_json: bool,
) -> None:
    """Generate a key in the key set NAME (made if new).

    The first key of a set is active; later ones wait as next. The private half is sealed in the store and never
    shown; `export` gives the public JWK, `export --private` the private one.
    """
    from jwks_tool.service import GenerateRequest, KidStyle, VaultKeyOptions
    from jwks_tool.timeutil import parse_duration

    svc = make_service(store_url, passphrase_file)
    vault_key = None
    if in_vault is not None:
        vault_key = VaultKeyOptions(azure_connection(in_vault, credential, ca_bundle, no_verify), hsm, vault_key_name)
    elif hsm or vault_key_name:
        raise InputError("--hsm and --vault-key-name go with --in-vault", hint="add --in-vault URL")
    request = GenerateRequest(
        name=name,
        env=env,
        profile=profile,
        kty=kty.upper(),
        size=int(size),
        crv=crv,
        alg=alg,
        kid=kid,
        kid_style=KidStyle(kid_style),
        expires_in=None if expires_in is None else parse_duration(expires_in),
        in_vault=vault_key,
    )
    record = svc.generate(request)
    keyset = svc.get_set(name, env)
    _report_added(svc, keyset, record, as_json, verb="Generated")


def _report_added(svc: KeyService, keyset: KeySet, record: KeyRecord, as_json: bool, *, verb: str) -> None:
    if as_json:
        print_json(
            {
                "store": svc.store.describe(),
                "set": keyset.ref.name,
                "env": keyset.ref.env.value,
                "key": key_json(record, keyset),
            }
        )
        return
    from jwks_tool.formats import render_template

    click.echo(
        render_template("added.txt.j2", verb=verb, keyset=keyset, key=record, store=svc.store.describe()),
        nl=False,
    )


@cli.command("import")
@click.argument("name")
@click.argument("source", type=click.File("rb"))
@set_options
@click.option(
    "--profile",
    type=click.Choice(["maskinporten", "generic"]),
    help="Rules to follow [default: maskinporten].",
)
@click.option("--kid", help="Key id (default: the JWK's kid, else the readable style).")
@click.option("--alg", type=click.Choice(["RS256", "RS384", "RS512", "ES256", "ES384", "ES512"]))
@click.option("--kid-style", type=click.Choice(["readable", "thumbprint"]), default="readable", show_default=True)
@click.option("--expires-in", metavar="DURATION", help="Lifetime from now [default: the JWK's exp, else 365d].")
@store_options
@json_option
def import_(
    name: str,
    source: Any,
    env: str,
    profile: str | None,
    kid: str | None,
    alg: str | None,
    kid_style: str,
    expires_in: str | None,
    store_url: str | None,
    passphrase_file: Path | None,
    as_json: bool,
) -> None:
    """Import an existing private key (PEM, JWK or base64 JWK) from SOURCE (a file, or - for stdin).

    An encrypted PEM's passphrase comes from JWKS_TOOL_KEY_PASSPHRASE or a prompt.
    """
    from jwks_tool.service import ImportRequest, KidStyle
    from jwks_tool.timeutil import parse_duration

    data = source.read(1024 * 1024 + 1)
    svc = make_service(store_url, passphrase_file)
    request = ImportRequest(
        name=name,
        data=data,
        env=env,
        profile=profile,
        kid=kid,
        alg=alg,
        kid_style=KidStyle(kid_style),
        expires_in=None if expires_in is None else parse_duration(expires_in),
        key_passphrase=lambda prompt: secret_from_env_or_prompt(ENV_KEY_PASSPHRASE, prompt.capitalize(), confirm=False),
    )
    record = svc.import_key(request)
    _report_added(svc, svc.get_set(name, env), record, as_json, verb="Imported")


@cli.command()
@click.argument("name")
@set_options
@click.option("--kid", help="The key to export [default: the newest; for jwks formats, every registered key].")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jwk", "jwks", "jwks-array", "pem", "base64"]),
    help="Public: jwk, jwks, jwks-array, pem [jwk]. Private: jwk, pem, base64 [jwk].",
)
@click.option("--private", is_flag=True, help="Export the PRIVATE key (deliberate: asks on a terminal unless --yes).")
@click.option("--unencrypted", is_flag=True, help="With --private --format pem: do not encrypt the PEM.")
@click.option("--yes", is_flag=True, help="Do not ask before printing a private key to a terminal.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file (atomically; 0600 if private).",
)
@store_options
@json_option
def export(
    name: str,
    env: str,
    kid: str | None,
    fmt: str | None,
    private: bool,
    unencrypted: bool,
    yes: bool,
    out: Path | None,
    store_url: str | None,
    passphrase_file: Path | None,
    as_json: bool,
) -> None:
    """Export a key of the set NAME: the public half, or with --private the private one.

    \b
    Public formats:  jwk (one key), jwks ({"keys": [...]} of every registered key),
                     jwks-array (the bare array), pem (SubjectPublicKeyInfo).
    Private formats: jwk, pem (PKCS#8, encrypted with a passphrase from JWKS_TOOL_EXPORT_PASSPHRASE or a
                     prompt, unless --unencrypted), base64 (Altinn's EncodedJwk / JwkBase64 Key Vault value).
    """
    from jwks_tool.formats import PrivateFormat, PublicFormat

    svc = make_service(store_url, passphrase_file)
    keyset = svc.get_set(name, env)
    if not private:
        if fmt == "base64":
            raise InputError("--format base64 is a private format", hint="add --private for the Key Vault value")
        if unencrypted:
            raise InputError("--unencrypted goes with --private --format pem", hint="drop --unencrypted")
        public_format = PublicFormat(fmt or "jwk")
        text = svc.export_public(keyset, kid, public_format)
        record = svc.pick_key(keyset, kid) if public_format in (PublicFormat.JWK, PublicFormat.PEM) else None
        _emit_export(text, out, as_json, keyset, record, public_format.value, private=False)
        return
    if fmt in ("jwks", "jwks-array"):
        raise InputError(f"--format {fmt} is public only", hint="use --format jwk, pem or base64 with --private")
    private_format = PrivateFormat(fmt or "jwk")
    if unencrypted and private_format is not PrivateFormat.PEM:
        raise InputError("--unencrypted goes with --format pem", hint="drop --unencrypted")
    record = svc.pick_key(keyset, kid)
    if out is None and not yes and is_terminal(sys.stdout) and not as_json:
        if not is_terminal(sys.stdin):
            raise AbortedError(
                "refusing to print a private key to the terminal unasked", hint="pass --yes or --out FILE"
            )
        if not click.confirm(f"Print the PRIVATE key {record.kid} to this terminal?", default=False, err=True):
            raise AbortedError("nothing exported", hint="use --out FILE to write it to a file instead")
    pem_passphrase = None
    if private_format is PrivateFormat.PEM and not unencrypted:
        pem_passphrase = secret_from_env_or_prompt(ENV_EXPORT_PASSPHRASE, "Passphrase for the PEM file", confirm=True)
    record, text = svc.export_private(keyset, record.kid, private_format, pem_passphrase=pem_passphrase)
    _emit_export(text, out, as_json, keyset, record, private_format.value, private=True)


def _emit_export(
    text: str,
    out: Path | None,
    as_json: bool,
    keyset: KeySet,
    record: KeyRecord | None,
    fmt: str,
    *,
    private: bool,
) -> None:
    if not as_json:
        emit(text, out, private=private)
        return
    result: dict[str, Any] = {
        "set": keyset.ref.name,
        "env": keyset.ref.env.value,
        "kid": None if record is None else record.kid,
        "format": fmt,
        "private": private,
    }
    if out is not None:
        emit(text, out, private=private)
        result["out"] = str(out)
    else:
        result["value"] = text
    print_json(result)


@cli.command("list")
@store_options
@json_option
def list_(store_url: str | None, passphrase_file: Path | None, as_json: bool) -> None:
    """List the key sets in the store with their keys (never key material)."""
    svc = make_service(store_url, passphrase_file)
    sets = svc.list_sets()
    if as_json:
        print_json({"store": svc.store.describe(), "sets": [set_json(keyset) for keyset in sets]})
        return
    if not sets:
        click.echo(f"No key sets in {svc.store.describe()}. Make one: jwks-tool generate NAME")
        return
    rows = [("SET", "ENV", "PROFILE", "KID", "STATE", "KEY", "ALG", "EXPIRES", "")]
    for keyset in sets:
        newest = keyset.newest
        for key in keyset.keys:
            marker = "newest" if newest is not None and key.kid == newest.kid else ""
            rows.append(
                (
                    keyset.ref.name,
                    keyset.ref.env.value,
                    keyset.profile,
                    key.kid,
                    key.state.value,
                    key.describe(),
                    key.alg,
                    key.expires.strftime("%Y-%m-%d"),
                    marker,
                )
            )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


@cli.command()
@click.argument("name")
@set_options
@store_options
@json_option
def show(name: str, env: str, store_url: str | None, passphrase_file: Path | None, as_json: bool) -> None:
    """Show one key set: each key's kid, algorithm, size, thumbprint, dates and state (never key material)."""
    svc = make_service(store_url, passphrase_file)
    keyset = svc.get_set(name, env)
    if as_json:
        print_json({"store": svc.store.describe(), **set_json(keyset)})
        return
    from jwks_tool.formats import render_template

    click.echo(render_template("show.txt.j2", keyset=keyset, store=svc.store.describe()), nl=False)


@cli.command()
@click.argument("source", type=click.File("rb"))
@click.option("--profile", type=click.Choice(["maskinporten", "generic"]), default="maskinporten", show_default=True)
@click.option(
    "--expect",
    type=click.Choice(["any", "public", "private", "keyvault"]),
    default="any",
    show_default=True,
    help="What the file should be: public (to register), private, keyvault (Altinn's base64 JWK).",
)
@json_option
def inspect(source: Any, profile: str, expect: str, as_json: bool) -> None:
    """Say what SOURCE (a file, or - for stdin) holds and lint it against a profile.

    Reads JWK, JWKS, bare JWK arrays, PEM (public, private, PKCS#1, PKCS#8, SEC1, encrypted, certificates) and
    standard or URL-safe base64 JWKs. Exit code: 0 clean, 1 warnings, 2 errors. An encrypted PEM is opened with
    JWKS_TOOL_KEY_PASSPHRASE when set.
    """
    from jwks_tool.formats import render_template
    from jwks_tool.inspecting import Expect, Verdict, inspect_bytes
    from jwks_tool.profiles import get_profile

    data = source.read(1024 * 1024 + 1)
    key_passphrase = os.environ.get(ENV_KEY_PASSPHRASE)
    report = inspect_bytes(
        data,
        get_profile(profile),
        Expect(expect),
        source=source.name if source.name != "<stdin>" else "-",
        passphrase=None if not key_passphrase else (lambda _prompt: key_passphrase),
    )
    if as_json:
        print_json(report.to_dict())
    else:
        click.echo(render_template("inspect.txt.j2", report=report), nl=False)
    codes = {Verdict.OK: EXIT_OK, Verdict.WARNINGS: EXIT_WARNINGS, Verdict.ERRORS: EXIT_FINDINGS}
    click.get_current_context().exit(codes[report.verdict])


from jwks_tool import _cli_keyvault, _cli_lifecycle, _cli_maskinporten  # noqa: E402, F401  (register their commands)


def main() -> None:
    """Console entry point."""
    cli(prog_name="jwks-tool")
