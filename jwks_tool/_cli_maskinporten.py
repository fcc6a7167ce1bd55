"""Maskinporten commands: grant (and later token, doctor, portal), thin layers over maskinporten.py."""

from __future__ import annotations

from typing import Any

import click

from jwks_tool._cli import (
    azure_connection,
    azure_options,
    cli,
    json_option,
    make_service,
    print_json,
    set_options,
    store_options,
)


def grant_options(func: Any) -> Any:
    for option in reversed(
        [
            click.option("--client-id", required=True, help="The Maskinporten client id (iss)."),
            click.option("--scope", required=True, help='Scopes, space separated: "altinn:instances.read ...".'),
            click.option("--kid", help="Sign with this key [default: the active key]."),
            click.option("--audience", help="aud [default: the environment's Maskinporten identifier]."),
            click.option(
                "--lifetime", type=int, default=120, show_default=True, help="exp - iat in seconds (max 120)."
            ),
            click.option("--resource", help="The resource claim (the target API), if the API asks for one."),
            click.option("--consumer-org", help="consumer_org: act for this organisation (delegation)."),
        ]
    ):
        func = option(func)
    return func


def _signer_and_grant(
    svc: Any,
    name: str,
    env: str,
    kid: str | None,
    request: Any,
    vault_args: tuple[str, str | None, bool],
) -> tuple[Any, str, dict[str, Any]]:
    from jwks_tool.errors import NotFoundError
    from jwks_tool.keyvault import split_key_id
    from jwks_tool.maskinporten import check_signing_key, make_grant

    keyset = svc.get_set(name, env)
    record = svc.pick_key(keyset, kid) if kid else keyset.active
    if record is None:
        raise NotFoundError(f"{keyset.ref} has no active key", hint="pass --kid, or rotate to make one active")
    now = svc.now()
    check_signing_key(record, now, profile=keyset.profile)
    connection = None
    if record.vault_key is not None:
        credential, ca_bundle, no_verify = vault_args
        connection = azure_connection(split_key_id(record.vault_key)[0], credential, ca_bundle, no_verify)
    signer = svc.signer_for(keyset, record, connection)
    token, claims = make_grant(signer, record, request, env=env, now=now)
    return record, token, claims


@cli.command()
@click.argument("name")
@set_options
@grant_options
@azure_options
@store_options
@json_option
def grant(
    name: str,
    env: str,
    client_id: str,
    scope: str,
    kid: str | None,
    audience: str | None,
    lifetime: int,
    resource: str | None,
    consumer_org: str | None,
    credential: str,
    ca_bundle: str | None,
    no_verify: bool,
    store_url: str | None,
    passphrase_file: str | None,
    as_json: bool,
) -> None:
    """Print a signed JWT grant for Maskinporten made with a key of set NAME.

    Header alg (from the key) and kid; claims aud, iss = --client-id, scope, iat, exp (at most 120 s later), a fresh
    jti, and resource / consumer_org when given. Keys in Azure Key Vault sign through the vault. Retired, revoked and
    expired keys are refused.
    """
    from jwks_tool.maskinporten import GrantRequest

    svc = make_service(store_url, passphrase_file)
    request = GrantRequest(client_id, scope, audience, lifetime, resource, consumer_org)
    record, token, claims = _signer_and_grant(svc, name, env, kid, request, (credential, ca_bundle, no_verify))
    if as_json:
        print_json({"kid": record.kid, "alg": record.alg, "claims": claims, "grant": token})
    else:
        click.echo(token)
