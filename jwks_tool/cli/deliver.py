"""``jwks-tool deliver``: write a set's key where its consumer reads it (Kubernetes, .env, files, Key Vault, AWS)."""

from __future__ import annotations

import sys

import click

from jwks_tool.cli.main import (
    StoreOptions,
    azure_option_group,
    cli,
    is_terminal,
    json_option,
    make_service,
    print_json,
    set_options,
    store_options,
)
from jwks_tool.cli.vault import CONSUMERS
from jwks_tool.core.text import printable
from jwks_tool.errors import AbortedError, InputError
from jwks_tool.services.key_service import AzureOptions

DESTINATIONS = ["kubernetes", "dotenv", "file", "keyvault", "aws"]
"""The built-in destinations (jwks_tool.destinations.BUILT_IN_DESTINATIONS; a test keeps them equal)."""


def _pairs(values: tuple[str, ...], option: str) -> dict[str, str]:
    out = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not sep or not key:
            raise InputError(f"{option} {value!r} is not KEY=VALUE", hint=f"write {option} app=my-app")
        if key in out:
            raise InputError(
                f"{option} {printable(key, limit=100)!r} is given twice", hint=f"give each {option} key once"
            )
        out[key] = val
    return out


def _aws_options(region: str | None, ca_bundle: str | None) -> dict[str, str]:
    return {name: value for name, value in (("region", region), ("ca_bundle", ca_bundle)) if value}


@cli.command()
@click.argument("name")
@set_options
@click.option("--to", "to", required=True, type=click.Choice(DESTINATIONS), help="Where to write.")
@click.option("--for", "preset", required=True, type=click.Choice(CONSUMERS), help="The consumer's names and formats.")
@click.option("--client-id", help="The Maskinporten client id.")
@click.option("--scope", "scopes", multiple=True, help="A scope the client asks for (repeat, or space-separated).")
@click.option("--prefix", default="", help="Put this in front of every name (e.g. PROD_).")
@click.option("--kid", help="The key to deliver [default: the active key].")
@click.option(
    "--out",
    metavar="PATH",
    help="dotenv: the file; file: the folder (made 0700 if missing); kubernetes: the manifest file [stdout].",
)
@click.option("--force", is_flag=True, help="Replace existing files.")
@click.option("--adopt", is_flag=True, help="keyvault, aws: write over existing secrets jwks-tool did not make.")
@click.option("--secret-name", help="kubernetes: the Secret's name.")
@click.option("--namespace", help="kubernetes: the Secret's namespace.")
@click.option("--label", "labels", multiple=True, metavar="KEY=VALUE", help="kubernetes: a label (repeat).")
@click.option("--annotation", "annotations", multiple=True, metavar="KEY=VALUE", help="kubernetes: an annotation.")
@click.option("--no-reloader", is_flag=True, help="kubernetes: leave out reloader.stakater.com/match.")
@click.option("--vault", metavar="URL", help="keyvault: https://NAME.vault.azure.net/ or the vault name.")
@click.option("--region", metavar="REGION", help="aws: the AWS region, e.g. eu-north-1 [AWS_REGION or the profile's].")
@azure_option_group("Key Vault (--to keyvault) or AWS Secrets Manager (--to aws, instead of AWS_CA_BUNDLE)")
@click.option("--dry-run", is_flag=True, help="Say what would be written (values redacted); write nothing.")
@click.option("--yes", is_flag=True, help="Do not ask before printing a private key to a terminal.")
@store_options
@json_option
def deliver(
    name: str,
    env: str,
    to: str,
    preset: str,
    client_id: str | None,
    scopes: tuple[str, ...],
    prefix: str,
    kid: str | None,
    out: str | None,
    force: bool,
    adopt: bool,
    secret_name: str | None,
    namespace: str | None,
    labels: tuple[str, ...],
    annotations: tuple[str, ...],
    no_reloader: bool,
    vault: str | None,
    region: str | None,
    azure: AzureOptions,
    dry_run: bool,
    yes: bool,
    store: StoreOptions,
    as_json: bool,
) -> None:
    """Write set NAME's key where its consumer reads it: a Kubernetes Secret, a .env file, a folder, Key Vault, AWS.

    The active key (or --kid), in the names and format of the consumer (--for).

    \b
    --to kubernetes  a v1 Secret manifest (stringData) on stdout or --out FILE, for kubectl apply -f -
    --to dotenv      a .env file (--out), 0600, values single-quoted so a PEM's newlines survive
    --to file        a folder (--out), one 0600 file per item, as a mounted Secret
    --to keyvault    Azure Key Vault secrets (--vault), as `keyvault push`
    --to aws         AWS Secrets Manager secrets (--region; the endpoint from AWS_ENDPOINT_URL_SECRETS_MANAGER)
    Every name and value is checked before anything is written, and files are written atomically.
    """
    from jwks_tool.core.consumers import Consumer, parse_scopes
    from jwks_tool.destinations.interface import Target
    from jwks_tool.services.delivering import DeliveryRequest, open_destination, prepare

    if as_json and to == "kubernetes" and not (out and out != "-"):
        raise click.UsageError("--json with --to kubernetes needs --out FILE: stdout holds one JSON document")
    if to == "kubernetes" and not (out and out != "-") and not dry_run and not yes and is_terminal(sys.stdout):
        if not is_terminal(sys.stdin):
            raise AbortedError(
                "refusing to print a private key to the terminal unasked", hint="pass --yes or --out FILE"
            )
        if not click.confirm("Print a Secret holding the PRIVATE key to this terminal?", default=False, err=True):
            raise AbortedError("nothing delivered", hint="use --out FILE, or pipe it to kubectl apply -f -")
    target = Target(
        to,
        vault=vault,
        out=out,
        replace=force,
        adopt=adopt,
        secret_name=secret_name,
        namespace=namespace,
        labels=_pairs(labels, "--label"),
        annotations=_pairs(annotations, "--annotation"),
        reloader=not no_reloader,
        extra=_aws_options(region, azure.ca_bundle) if to == "aws" else {},
    )
    request = DeliveryRequest(
        Consumer(preset), client_id=client_id, scopes=parse_scopes(scopes), prefix=prefix, kid=kid
    )
    svc = make_service(store, azure)
    destination = open_destination(svc, target)
    delivery = prepare(svc, svc.get_set(name, env), request, destination)
    outcomes = destination.deliver(delivery, dry_run=dry_run)
    if as_json:
        print_json(
            {
                "to": to,
                "for": preset,
                "kid": delivery.kid,
                "dry_run": dry_run,
                "items": [{"name": item.name, "value": item.shown_value()} for item in delivery.items],
                "written": [outcome.to_dict() for outcome in outcomes],
            }
        )
        return
    stream = sys.stderr if to == "kubernetes" and not (out and out != "-") else sys.stdout
    for outcome in outcomes:
        click.echo(f"{outcome.action:<17} {printable(outcome.name, limit=500)}  kid {delivery.kid}", file=stream)
    if dry_run:
        click.echo("Dry run: nothing was written.", file=stream)
