"""``jwks-tool keyvault``: push the Key Vault value Altinn's libraries read, and compare a vault with the store."""

from __future__ import annotations

import sys
from typing import Any

import click

from jwks_tool.cli.main import (
    F,
    StoreOptions,
    azure_options,
    cli,
    json_option,
    make_service,
    print_json,
    set_options,
    store_options,
)
from jwks_tool.core.text import printable
from jwks_tool.errors import InputError, RemoteError
from jwks_tool.integrations.azure import secrets, vault_keys
from jwks_tool.integrations.azure.connection import secret_client
from jwks_tool.services.key_service import AzureOptions, KeyService


def vault_options(func: F) -> F:
    func = azure_options(func)
    func = click.option(
        "--vault", required=True, metavar="URL", help="https://NAME.vault.azure.net/ or the vault name."
    )(func)
    return func


@cli.group()
def keyvault() -> None:
    """Azure Key Vault: push a set's key as the secrets its consumer reads, and check what a vault holds."""


CONSUMERS = ["apiclient", "altinn-app", "pymaskinporten", "nais", "altinn-studio"]
"""--for's choices: jwks_tool.core.consumers.Consumer's values (a test keeps them equal; that module is not imported
here, so --help stays light)."""


@keyvault.command()
@click.argument("name", required=False)
@set_options
@vault_options
@click.option("--for", "preset", type=click.Choice(CONSUMERS), help="Name and format the secrets for this consumer.")
@click.option("--secret-name", help="Write the key to this secret instead of a preset's name ({name}, {env} allowed).")
@click.option("--client-id", help="The Maskinporten client id (written as the consumer's ClientId setting).")
@click.option("--scope", "scopes", multiple=True, help="A scope the client asks for (repeat, or space-separated).")
@click.option("--prefix", default="", help="Put this in front of every secret name (e.g. maskinporten-prod-).")
@click.option("--kid", help="The key to push [default: the active key].")
@click.option("--all", "all_sets", is_flag=True, help="Push every set of --env; needs --secret-name with {name}.")
@click.option("--workers", type=click.IntRange(1, 32), default=8, show_default=True, help="Requests in flight (--all).")
@click.option(
    "--as",
    "as_",
    type=click.Choice(["secret", "key"]),
    default="secret",
    show_default=True,
    help="secret: the base64 JWK Altinn reads; key: import it as a Key Vault key (signing in the vault).",
)
@click.option("--key-name", help="With --as key: the Key Vault key name [jwks-<name>-<env>].")
@click.option("--hsm", is_flag=True, help="With --as key: HSM protection (Premium vault).")
@click.option("--adopt", is_flag=True, help="Write over existing secrets jwks-tool did not make (no jwks-tool tags).")
@click.option("--dry-run", is_flag=True, help="Show what would be written (values redacted); write nothing.")
@store_options
@json_option
def push(
    name: str | None,
    env: str,
    vault: str,
    azure: AzureOptions,
    preset: str | None,
    secret_name: str | None,
    client_id: str | None,
    scopes: tuple[str, ...],
    prefix: str,
    kid: str | None,
    all_sets: bool,
    workers: int,
    as_: str,
    key_name: str | None,
    hsm: bool,
    adopt: bool,
    dry_run: bool,
    store: StoreOptions,
    as_json: bool,
) -> None:
    """Write the active key of set NAME to Key Vault as the secrets its consumer reads.

    \b
    --for apiclient       MaskinportenSettings--EncodedJwk (+ --ClientId with --client-id)
    --for altinn-app      MaskinportenSettings--JwkBase64 (+ --ClientId, --Authority with --client-id)
    --for pymaskinporten  PRIVATE-KEY (PEM), KID, MASKINPORTEN-CLIENT-ID, SCOPE (needs --client-id, --scope)
    --for nais            MASKINPORTEN-CLIENT-JWK, -CLIENT-ID, -SCOPES, -ISSUER, ... (needs --client-id, --scope)
    --for altinn-studio   maskinporten-settings (the operator's settings JSON; needs --client-id)
    --prefix goes in front of every name. The key's secret gets the key's expires/not-before; tags hold kid,
    thumbprint, set and environment. A key that is there already is not written again; after a rotation a new
    secret version is added. --all pushes every set, paced below Key Vault's limit of 300 secret writes per 10 s,
    with a progress bar.
    """
    from jwks_tool.core.consumers import Consumer, parse_scopes
    from jwks_tool.destinations.keyvault import KeyVaultSecrets
    from jwks_tool.services.delivering import DeliveryRequest, deliver_many

    svc = make_service(store, azure)
    if as_ == "key":
        _push_as_key(svc, name, env, vault, kid, key_name, hsm, dry_run, as_json)
        return
    if key_name or hsm:
        raise InputError("--key-name and --hsm go with --as key", hint="add --as key")
    if all_sets == (name is not None):
        raise InputError(
            "give a set NAME or --all", hint=f"jwks-tool keyvault push NAME --vault {vault} --for apiclient"
        )
    if all_sets and (secret_name is None or "{name}" not in secret_name or kid):
        raise InputError(
            "--all needs --secret-name with {name} (and no --kid)", hint="--secret-name '{name}-{env}-jwk'"
        )
    if preset is None and secret_name is None:
        raise InputError(
            "which secret should hold the key?", hint=f"pass --for ({'|'.join(CONSUMERS)}) or --secret-name"
        )
    keysets = [s for s in svc.list_sets() if s.ref.env.value == env] if all_sets else [svc.get_set(str(name), env)]
    requests = [
        DeliveryRequest(
            Consumer(preset or "apiclient"),
            client_id=client_id,
            scopes=parse_scopes(scopes),
            prefix=prefix,
            kid=kid,
            key_secret_name=None if secret_name is None else secret_name.format(name=keyset.ref.name, env=env),
        )
        for keyset in keysets
    ]
    connection = svc.vault_connection(vault)
    if all_sets and not as_json:  # under --json nothing goes to stderr after a success
        bar: Any
        with click.progressbar(length=len(keysets), label="Pushing", file=sys.stderr) as bar:
            destination = KeyVaultSecrets(
                connection, workers=workers, progress=lambda done: bar.update(done), adopt=adopt
            )
            deliveries, results = deliver_many(svc, keysets, requests, destination, dry_run=dry_run)
    else:
        destination = (
            KeyVaultSecrets(connection, workers=workers, adopt=adopt)
            if all_sets
            else KeyVaultSecrets(connection, adopt=adopt)
        )
        deliveries, results = deliver_many(svc, keysets, requests, destination, dry_run=dry_run)
    rows = []
    for delivery, outcomes in zip(deliveries, results, strict=True):
        by_name = {item.name: item for item in delivery.items}
        rows += [(delivery, outcome, by_name[outcome.name]) for outcome in outcomes]
    if as_json:
        print_json(
            {
                "vault": connection.vault_url,
                "env": env,
                "dry_run": dry_run,
                "secrets": [
                    {
                        **outcome.to_dict(),
                        "kid": delivery.kid,
                        "value": item.shown_value(),
                        "tags": delivery.tags() if item.sensitive else {"set": delivery.set_name},
                    }
                    for delivery, outcome, item in rows
                ],
            }
        )
        return
    for delivery, outcome, item in rows:
        detail = f"kid {delivery.kid}" if item.sensitive else printable(item.shown_value(), limit=200)
        was = f" (was {outcome.current_kid})" if outcome.current_kid and outcome.current_kid != delivery.kid else ""
        click.echo(f"{outcome.action:<17} {item.name}  {detail}{was}")
    if dry_run:
        click.echo("Dry run: nothing was written.")


def _push_as_key(
    svc: KeyService,
    name: str | None,
    env: str,
    vault: str,
    kid: str | None,
    key_name: str | None,
    hsm: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    if name is None:
        raise InputError("--as key takes one set NAME", hint=f"jwks-tool keyvault push NAME --as key --vault {vault}")
    keyset = svc.get_set(name, env)
    record = svc.key_to_use(keyset, kid)
    connection = svc.vault_connection(vault)
    members = svc.private_jwk(keyset, record)
    outcome = vault_keys.push_as_key(
        connection,
        name=key_name or vault_keys.vault_key_name(keyset.ref.name, env),
        private_members=members,
        record=record,
        keyset=keyset,
        hsm=hsm,
        dry_run=dry_run,
    )
    if as_json:
        print_json({"vault": connection.vault_url, "kid": record.kid, "key": outcome.to_dict()})
    else:
        click.echo(f"{outcome.action:<17} key {outcome.name}  kid {record.kid}")


@keyvault.command("status")
@click.argument("name")
@set_options
@vault_options
@click.option("--for", "preset", type=click.Choice(CONSUMERS), default="apiclient", show_default=True)
@click.option("--prefix", default="", help="The prefix the secrets were pushed with.")
@click.option("--secret-name", help="The secret to check instead of the preset's name.")
@store_options
@json_option
def status_(
    name: str,
    env: str,
    vault: str,
    azure: AzureOptions,
    preset: str,
    secret_name: str | None,
    prefix: str,
    store: StoreOptions,
    as_json: bool,
) -> None:
    """Show which kid the vault's secret holds and whether it is the store's active key of set NAME."""
    svc = make_service(store, azure)
    keyset = svc.get_set(name, env)
    names = secrets.secret_names(secrets.Preset(preset), client_id=None, secret_name=secret_name, prefix=prefix)
    connection = svc.vault_connection(vault)
    result = secrets.status(secret_client(connection), names["jwk"], keyset.active, vault=connection.vault_url)
    if as_json:
        print_json(
            {"vault": connection.vault_url, "active": keyset.active.kid if keyset.active else None, **result.to_dict()}
        )
    elif not result.exists:
        click.echo(f"{result.name}: missing in {connection.vault_url}")
    else:
        verdict = "matches the active key" if result.matches_active else "does NOT match the active key"
        shown = printable(result.kid or "-", limit=200)  # the vault's secret is not ours to trust
        click.echo(f"{result.name}: kid {shown}, {verdict} ({keyset.active.kid if keyset.active else 'none'})")
    if not result.matches_active:
        raise RemoteError(
            f"the vault's {result.name} is not the active key of {keyset.ref}",
            hint=f"run `jwks-tool keyvault push {name} --env {env} --vault {vault} --for {preset}`",
        )
