"""Key commands: init, generate, import, export, inspect (thin layers over service.py)."""

from __future__ import annotations

import os
import sys
from typing import Any, BinaryIO

import click

from jwks_tool.cli.main import (
    ENV_EXPORT_PASSPHRASE,
    ENV_KEY_PASSPHRASE,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_IO,
    StoreOptions,
    azure_options,
    check_out,
    cli,
    emit,
    exit_code_for,
    exit_with,
    is_terminal,
    json_option,
    key_json,
    make_service,
    out_option,
    print_json,
    print_warning,
    secret_from_env_or_prompt,
    set_options,
    store_options,
)
from jwks_tool.core.formats import PrivateFormat, PublicFormat
from jwks_tool.core.model import KeyRecord, KeySet
from jwks_tool.core.profiles import get_profile
from jwks_tool.core.timeutil import parse_duration
from jwks_tool.documents.templates import render_template
from jwks_tool.errors import AbortedError, InputError, JwksToolError
from jwks_tool.services.inspecting import Expect, inspect_bytes
from jwks_tool.services.key_service import (
    AzureOptions,
    BulkResult,
    GenerateRequest,
    ImportNote,
    ImportRequest,
    KeyService,
    KidStyle,
    VaultKeyOptions,
)


# ---- commands ----------------------------------------------------------------------------------------------------
@cli.command()
@store_options
@click.option("--plaintext", is_flag=True, help="Keep private keys UNENCRYPTED in this store (recorded in the store).")
@json_option
def init(store: StoreOptions, plaintext: bool, as_json: bool) -> None:
    """Create a key store (generate and import create one on first use).

    The store encrypts private keys with a passphrase unless --plaintext is given; that choice is recorded.
    """
    svc = make_service(store)
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
@click.argument("names", metavar="NAME...", nargs=-1, required=True)
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
@click.option("--workers", type=click.IntRange(1, 64), help="With several NAMEs: keys made at once [one per core].")
@azure_options
@store_options
@json_option
def generate(
    names: tuple[str, ...],
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
    azure: AzureOptions,
    workers: int | None,
    store: StoreOptions,
    as_json: bool,
) -> None:
    """Generate a key in the key set NAME (made if new).

    The first key of a set is active; later ones wait as next. The private half is sealed in the store and never
    shown; `export` gives the public JWK, `export --private` the private one.

    With several NAMEs every name and option is checked before any key is made, and each set is made at once on
    --workers threads. A set that already has an active or next key is skipped (it gets no next key: use
    `jwks-tool rotate NAME` for that), so after a partial failure or Ctrl-C the same command makes only what is
    missing. The output (and --json: made, skipped, failed, not_started) says which sets were made and which not.
    """
    if kty.upper() == "EC" and _given("size"):  # never ignore what was asked for
        raise InputError(
            f"--size {size} is for RSA keys; an EC key's size is its curve's", hint="drop --size, or use --crv"
        )
    svc = make_service(store, azure)
    vault_key = None
    if in_vault is not None:
        vault_key = VaultKeyOptions(svc.vault_connection(in_vault), hsm, vault_key_name)
    elif hsm or vault_key_name:
        raise InputError("--hsm and --vault-key-name go with --in-vault", hint="add --in-vault URL")
    if len(names) > 1 and kid is not None:
        raise InputError("--kid names one key; with several sets let jwks-tool choose", hint="drop --kid")
    request = GenerateRequest(
        name=names[0],
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
    if len(names) == 1:
        record = svc.generate(request)
        _report_added(svc, svc.get_set(names[0], env), record, as_json, verb="Generated")
        return
    import dataclasses

    result = svc.generate_bulk([dataclasses.replace(request, name=name) for name in names], workers=workers or 0)
    _report_bulk(svc, result, env, as_json)


def _given(param: str) -> bool:
    """Whether the option ``param`` was given on the command line (or from the environment), not left at its
    default."""
    source = click.get_current_context().get_parameter_source(param)
    return source is not None and source not in (
        click.core.ParameterSource.DEFAULT,
        click.core.ParameterSource.DEFAULT_MAP,
    )


def _report_bulk(svc: KeyService, result: BulkResult, env: str, as_json: bool) -> None:
    """Say exactly which sets were made, skipped, failed and not started; exit as the first failure, or 130."""

    def code_of(error: Exception) -> int:
        if isinstance(error, JwksToolError):
            return exit_code_for(error)
        return EXIT_IO if isinstance(error, OSError) else EXIT_INTERNAL

    def text_of(error: Exception) -> str:
        if isinstance(error, JwksToolError):
            return error.diagnostics()
        return " ".join(f"{type(error).__name__}: {error}".split())

    if as_json:
        print_json(
            {
                "store": svc.store.describe(),
                "env": env,
                "made": [{"set": name, **key_json(record)} for name, record in result.made],
                "skipped": [
                    {"set": name, "kid": record.kid, "state": record.state.value} for name, record in result.skipped
                ],
                "failed": [
                    {
                        "set": name,
                        "error": {
                            "type": type(error).__name__,
                            "message": text_of(error),
                            "exit_code": code_of(error),
                        },
                    }
                    for name, error in result.failed
                ],
                "not_started": list(result.not_started),
                "interrupted": result.interrupted,
                "keys": [key_json(record) for _name, record in result.made],
            }
        )
    else:
        for name, record in result.made:
            click.echo(f"Generated {record.describe()} key {record.kid} in {name} ({env}), state {record.state.value}")
        for name, record in result.skipped:
            click.echo(
                f"Skipped {name} ({env}): it has a key already ({record.kid}, {record.state.value}); for a new one "
                f"run `jwks-tool rotate {name} --env {env}`"
            )
    for name, error in result.failed:
        click.echo(f"jwks-tool: error: {name} ({env}): {text_of(error)}", err=True)
    again = "run the same command again to make the rest (sets that have a key are skipped)"
    made = ", ".join(name for name, _record in result.made) or "none"
    if result.interrupted:
        rest = ", ".join([*(n for n, _e in result.failed), *result.not_started])
        tail = f"not made: {rest}; {again}" if rest else "every set was made; `jwks-tool list` shows them"
        click.echo(f"jwks-tool: interrupted; made: {made}; {tail}", err=True)
        click.get_current_context().exit(EXIT_INTERRUPTED)
    if result.not_started:
        click.echo(f"jwks-tool: error: not started: {', '.join(result.not_started)}; {again}", err=True)
    if result.failed:
        click.get_current_context().exit(code_of(result.failed[0][1]))


def _report_added(
    svc: KeyService,
    keyset: KeySet,
    record: KeyRecord,
    as_json: bool,
    *,
    verb: str,
    warnings: list[dict[str, str]] | None = None,
) -> None:
    if as_json:
        data: dict[str, Any] = {
            "store": svc.store.describe(),
            "set": keyset.ref.name,
            "env": keyset.ref.env.value,
            "key": key_json(record, keyset),
        }
        if warnings is not None:
            data["warnings"] = warnings
        print_json(data)
        return

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
    source: BinaryIO,
    env: str,
    profile: str | None,
    kid: str | None,
    alg: str | None,
    kid_style: str,
    expires_in: str | None,
    store: StoreOptions,
    as_json: bool,
) -> None:
    """Import an existing private key (PEM, JWK or base64 JWK) from SOURCE (a file, or - for stdin).

    An encrypted PEM's passphrase comes from JWKS_TOOL_KEY_PASSPHRASE or a prompt.
    """
    data = source.read(1024 * 1024 + 1)
    svc = make_service(store)
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
    notes: list[ImportNote] = []
    record = svc.import_key(request, notes=notes)
    for note in notes:
        print_warning(note.message)
    _report_added(
        svc, svc.get_set(name, env), record, as_json, verb="Imported", warnings=[note.to_dict() for note in notes]
    )


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
@out_option()
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
    out: str | None,
    force_out: bool,
    store: StoreOptions,
    as_json: bool,
) -> None:
    """Export a key of the set NAME: the public half, or with --private the private one.

    \b
    Public formats:  jwk (one key), jwks ({"keys": [...]} of every registered key),
                     jwks-array (the bare array), pem (SubjectPublicKeyInfo).
    Private formats: jwk, pem (PKCS#8, encrypted with a passphrase from JWKS_TOOL_EXPORT_PASSPHRASE or a
                     prompt, unless --unencrypted), base64 (Altinn's EncodedJwk / JwkBase64 Key Vault value).
    """
    out = None if out == "-" else out
    force_out = check_out(out, force=force_out)
    svc = make_service(store)
    keyset = svc.get_set(name, env)
    if not private:
        if fmt == "base64":
            raise InputError("--format base64 is a private format", hint="add --private for the Key Vault value")
        if unencrypted:
            raise InputError("--unencrypted goes with --private --format pem", hint="drop --unencrypted")
        public_format = PublicFormat(fmt or "jwk")
        text = svc.export_public(keyset, kid, public_format)
        record = svc.pick_key(keyset, kid) if public_format in (PublicFormat.JWK, PublicFormat.PEM) else None
        _emit_export(text, out, force_out, as_json, keyset, record, public_format.value, private=False)
        return
    if fmt in ("jwks", "jwks-array"):
        raise InputError(f"--format {fmt} is public only", hint="use --format jwk, pem or base64 with --private")
    private_format = PrivateFormat(fmt or "jwk")
    if unencrypted and private_format is not PrivateFormat.PEM:
        raise InputError("--unencrypted goes with --format pem", hint="drop --unencrypted")
    record = svc.pick_key(keyset, kid)
    if out is None and not yes and is_terminal(sys.stdout):  # with --json too: the JSON holds the key
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
    _emit_export(text, out, force_out, as_json, keyset, record, private_format.value, private=True)


def _emit_export(
    text: str,
    out: str | None,
    force_out: bool,
    as_json: bool,
    keyset: KeySet,
    record: KeyRecord | None,
    fmt: str,
    *,
    private: bool,
) -> None:
    if not as_json:
        emit(text, out, private=private, force=force_out)
        return
    result: dict[str, Any] = {
        "set": keyset.ref.name,
        "env": keyset.ref.env.value,
        "kid": None if record is None else record.kid,
        "format": fmt,
        "private": private,
    }
    if out is not None:
        emit(text, out, private=private, force=force_out)
        result["out"] = str(out)
    else:
        result["value"] = text
    print_json(result)


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
def inspect(source: BinaryIO, profile: str, expect: str, as_json: bool) -> None:
    """Say what SOURCE (a file, or - for stdin) holds and lint it against a profile.

    Reads JWK, JWKS, bare JWK arrays, PEM (public, private, PKCS#1, PKCS#8, SEC1, encrypted, certificates) and
    standard or URL-safe base64 JWKs. Exit code: 0 clean, 1 warnings, 2 errors. An encrypted PEM is opened with
    JWKS_TOOL_KEY_PASSPHRASE when set.
    """
    data = source.read(1024 * 1024 + 1)
    key_passphrase = os.environ.get(ENV_KEY_PASSPHRASE)
    report = inspect_bytes(
        data,
        get_profile(profile),
        Expect(expect),
        source="-" if getattr(source, "name", "<stdin>") == "<stdin>" else str(source.name),
        passphrase=None if not key_passphrase else (lambda _prompt: key_passphrase),
    )
    if as_json:
        print_json(report.to_dict())
    else:
        click.echo(render_template("inspect.txt.j2", report=report), nl=False)
    exit_with(report.verdict)
