"""Maskinporten commands: grant (and later token, doctor, portal), thin layers over maskinporten.py."""

from __future__ import annotations

from typing import Any

import click

from jwks_tool.cli.main import (
    azure_connection,
    azure_options,
    cli,
    json_option,
    make_service,
    print_json,
    set_options,
    store_options,
)


def _timeout(_ctx: click.Context, param: click.Parameter, value: float) -> float:
    """--timeout: a finite number of seconds, more than 0 and at most 600 (nan and 1e308 are not)."""
    import math

    if not math.isfinite(value) or not 0 < value <= 600:
        raise click.BadParameter(f"{value} is not a number of seconds from 0 (not included) to 600", param=param)
    return value


def _one_line(_ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """--client-id / --scope go into a signed grant: one line of printable text (no newline, no control character)."""
    from jwks_tool.core.text import printable
    from jwks_tool.errors import InputError

    if value is not None and (not value or not value.isprintable()):
        option = "--" + (param.name or "").replace("_", "-")
        raise InputError(
            f"{option} {printable(repr(value), limit=80)} is not one line of printable text",
            hint="give it without newlines or control characters",
        )
    return value


def grant_options(func: Any) -> Any:
    for option in reversed(
        [
            click.option("--client-id", required=True, callback=_one_line, help="The Maskinporten client id (iss)."),
            click.option(
                "--scope",
                required=True,
                callback=_one_line,
                help='Scopes, space separated: "altinn:instances.read ...".',
            ),
            click.option("--kid", help="Sign with this key [default: the active key]."),
            click.option("--audience", help="aud [default: the environment's Maskinporten identifier]."),
            click.option(
                "--lifetime", default="120s", show_default=True, help="exp - iat: 120s, 2m or 60 (at most 120 s)."
            ),
            click.option("--resource", help="The resource claim (the target API), if the API asks for one."),
            click.option("--consumer-org", help="consumer_org: act for this organisation (delegation)."),
        ]
    ):
        func = option(func)
    return func


def loopback_option(func: Any) -> Any:
    return click.option(
        "--allow-http-loopback",
        "allow_http_loopback",
        is_flag=True,
        help="Allow plain http:// to this machine (127.0.0.1, ::1, localhost) for a test server; elsewhere only "
        "https:// is used, and redirects are never followed.",
    )(func)


def _seconds(text: str) -> int:
    from jwks_tool.core.timeutil import parse_duration

    return int(text) if text.strip().isdigit() else int(parse_duration(text).total_seconds())


def _signer_and_grant(
    svc: Any,
    name: str,
    env: str,
    kid: str | None,
    request: Any,
    vault_args: tuple[str, str | None, bool],
) -> tuple[Any, str, dict[str, Any]]:
    from jwks_tool.integrations.azure.keyvault import split_key_id
    from jwks_tool.integrations.maskinporten.client import check_signing_key, make_grant

    keyset = svc.get_set(name, env)
    record = svc.key_to_use(keyset, kid)
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
    lifetime: str,
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
    from jwks_tool.integrations.maskinporten.client import GrantRequest

    svc = make_service(store_url, passphrase_file)
    request = GrantRequest(client_id, scope, audience, _seconds(lifetime), resource, consumer_org)
    record, token, claims = _signer_and_grant(svc, name, env, kid, request, (credential, ca_bundle, no_verify))
    if as_json:
        print_json({"kid": record.kid, "alg": record.alg, "claims": claims, "grant": token})
    else:
        click.echo(token)


@cli.command()
@click.argument("name")
@set_options
@grant_options
@click.option("--token-url", help="The token endpoint [<audience>token].")
@click.option("--show-token", is_flag=True, help="Print the access token itself (it is a bearer credential).")
@click.option(
    "--timeout",
    type=float,
    default=30.0,
    show_default=True,
    callback=_timeout,
    help="Seconds for the whole call to Maskinporten (more than 0, at most 600).",
)
@loopback_option
@azure_options
@store_options
@json_option
def token(
    name: str,
    env: str,
    client_id: str,
    scope: str,
    kid: str | None,
    audience: str | None,
    lifetime: str,
    resource: str | None,
    consumer_org: str | None,
    token_url: str | None,
    show_token: bool,
    timeout: float,
    allow_http_loopback: bool,
    credential: str,
    ca_bundle: str | None,
    no_verify: bool,
    store_url: str | None,
    passphrase_file: str | None,
    as_json: bool,
) -> None:
    """Ask Maskinporten for an access token with a grant from set NAME: proves the key is registered and works.

    On success it prints the token's claims and expiry (the token itself only with --show-token); on failure
    Maskinporten's error code and message, and what to do about it. TLS is always verified (--ca-bundle adds a CA);
    HTTPS_PROXY and NO_PROXY are honoured.
    """
    import json
    from datetime import UTC, datetime

    from jwks_tool.core.environments import audience_for, token_url_for
    from jwks_tool.core.text import printable
    from jwks_tool.integrations.maskinporten.client import GrantRequest, request_token

    svc = make_service(store_url, passphrase_file)
    request = GrantRequest(client_id, scope, audience, _seconds(lifetime), resource, consumer_org)
    record, grant_jwt, _claims = _signer_and_grant(svc, name, env, kid, request, (credential, ca_bundle, no_verify))
    url = token_url or token_url_for(audience or audience_for(env))
    result = request_token(
        url, grant_jwt, ca_bundle=ca_bundle, timeout=timeout, allow_http_loopback=allow_http_loopback
    )
    expires = datetime.fromtimestamp(int(datetime.now(UTC).timestamp()) + result.expires_in, UTC)
    if as_json:
        data: dict[str, Any] = {
            "kid": record.kid,
            "token_url": url,
            "scope": result.scope,
            "expires_in": result.expires_in,
            "claims": result.claims,
        }
        if show_token:
            data["access_token"] = result.access_token
        print_json(data)
        return
    click.echo(f"Maskinporten issued a token for {client_id} with key {record.kid}.")
    click.echo(f"  scope    {printable(result.scope)}")
    click.echo(f"  expires  in {result.expires_in} s ({expires:%Y-%m-%d %H:%M:%S} UTC)")
    for claim in ("iss", "client_id", "consumer", "supplier", "aud"):
        if claim in result.claims:
            value = result.claims[claim]
            click.echo(f"  {claim:<8} {printable(value if isinstance(value, str) else json.dumps(value))}")
    if show_token:
        click.echo(result.access_token)


def _admin_token(
    svc: Any,
    env: str,
    admin_set: str | None,
    admin_client_id: str | None,
    scope: str,
    token_url: str | None,
    ca_bundle: str | None,
    azure: tuple[str, str | None, bool],
    allow_http_loopback: bool = False,
) -> str:
    import os

    from jwks_tool.core.environments import audience_for, token_url_for
    from jwks_tool.errors import InputError
    from jwks_tool.integrations.maskinporten.client import GrantRequest, request_token

    if admin_set is None:
        given = os.environ.get("JWKS_TOOL_PORTAL_TOKEN")
        if given:
            return given
        raise InputError(
            "the self-service API needs an admin token",
            hint="set JWKS_TOOL_PORTAL_TOKEN, or pass --admin-set and --admin-client-id of a client with "
            "idporten:dcr.write",
        )
    if not admin_client_id:
        raise InputError("--admin-set needs --admin-client-id", hint="the admin client's id from the portal")
    request = GrantRequest(admin_client_id, scope)
    _, grant_jwt, _ = _signer_and_grant(svc, admin_set, env, None, request, azure)
    url = token_url or token_url_for(audience_for(env))
    return request_token(
        url, grant_jwt, ca_bundle=ca_bundle, timeout=30.0, allow_http_loopback=allow_http_loopback
    ).access_token


def portal_options(func: Any) -> Any:
    for option in reversed(
        [
            click.option("--client-id", required=True, help="The client whose keys to read or write."),
            click.option("--api-url", help="The self-service API [Digdir's for --env]."),
            click.option(
                "--admin-set", help="A key set of an admin client (scope idporten:dcr.write) to sign in with."
            ),
            click.option("--admin-client-id", help="That admin client's id."),
            click.option("--token-url", help="The token endpoint for the admin client [<audience>token]."),
            click.option(
                "--allow-http-loopback",
                "allow_http_loopback",
                is_flag=True,
                help="Allow plain http:// to this machine for test servers (elsewhere https:// only, no redirects).",
            ),
        ]
    ):
        func = option(func)
    return func


@cli.group()
def portal() -> None:
    """Digdir's self-service API: register a set's keys (push) and compare what is registered (pull)."""


@portal.command()
@click.argument("name")
@set_options
@portal_options
@azure_options
@store_options
@json_option
def push(
    name: str,
    env: str,
    client_id: str,
    api_url: str | None,
    admin_set: str | None,
    admin_client_id: str | None,
    token_url: str | None,
    allow_http_loopback: bool,
    credential: str,
    ca_bundle: str | None,
    no_verify: bool,
    store_url: str | None,
    passphrase_file: str | None,
    as_json: bool,
) -> None:
    """Register the keys of set NAME for the client: PUT of the whole registered set (next, active, retiring)."""
    from jwks_tool.core.keys import public_jwk
    from jwks_tool.core.text import printable
    from jwks_tool.integrations.maskinporten.client import PORTAL_APIS, PortalClient

    svc = make_service(store_url, passphrase_file)
    keyset = svc.get_set(name, env)
    keys = [public_jwk(dict(key.public_jwk)) for key in keyset.registered]
    admin = _admin_token(
        svc,
        env,
        admin_set,
        admin_client_id,
        "idporten:dcr.write",
        token_url,
        ca_bundle,
        (credential, ca_bundle, no_verify),
        allow_http_loopback,
    )
    client = PortalClient(
        api_url or PORTAL_APIS[env], admin, ca_bundle=ca_bundle, allow_http_loopback=allow_http_loopback
    )
    stored = client.put_jwks(client_id, keys)
    kids = [printable(key.get("kid")) for key in stored]
    if as_json:
        print_json({"client_id": client_id, "registered": kids})
    else:
        click.echo(f"Registered {len(kids)} key{'s' if len(kids) != 1 else ''} for {client_id}: {', '.join(kids)}")


@portal.command()
@click.argument("name")
@set_options
@portal_options
@click.option("--warn", default="60d", show_default=True, metavar="DURATION", help="Flag keys expiring this soon.")
@azure_options
@store_options
@json_option
def pull(
    name: str,
    env: str,
    client_id: str,
    api_url: str | None,
    admin_set: str | None,
    admin_client_id: str | None,
    token_url: str | None,
    allow_http_loopback: bool,
    warn: str,
    credential: str,
    ca_bundle: str | None,
    no_verify: bool,
    store_url: str | None,
    passphrase_file: str | None,
    as_json: bool,
) -> None:
    """Read the client's registered keys and compare with set NAME: missing, extra and expiring kids.

    Exits 0 when they agree, 1 when something is expiring, 2 when kids are missing or extra.
    """
    from jwks_tool.cli.main import EXIT_FINDINGS, EXIT_OK, EXIT_WARNINGS
    from jwks_tool.core.text import printable
    from jwks_tool.core.timeutil import parse_duration
    from jwks_tool.integrations.maskinporten.client import PORTAL_APIS, PortalClient, diff_registered

    svc = make_service(store_url, passphrase_file)
    keyset = svc.get_set(name, env)
    admin = _admin_token(
        svc,
        env,
        admin_set,
        admin_client_id,
        "idporten:dcr.read",
        token_url,
        ca_bundle,
        (credential, ca_bundle, no_verify),
        allow_http_loopback,
    )
    client = PortalClient(
        api_url or PORTAL_APIS[env], admin, ca_bundle=ca_bundle, allow_http_loopback=allow_http_loopback
    )
    theirs = client.get_jwks(client_id)
    ours = [dict(key.public_jwk) for key in keyset.registered]
    diff = diff_registered(ours, theirs, now=svc.now(), warn_days=parse_duration(warn).days)
    if as_json:
        print_json({"client_id": client_id, "registered": [k.get("kid") for k in theirs], **diff.to_dict()})
    else:
        click.echo(
            f"{client_id} has {len(theirs)} registered key(s): "
            f"{', '.join(printable(k.get('kid')) for k in theirs) or 'none'}"
        )
        for kid in diff.missing:
            click.echo(f"  missing   {printable(kid)}  (in the store's registered set: run jwks-tool portal push)")
        for kid in diff.extra:
            click.echo(f"  extra     {printable(kid)}  (not registered in the store: push to remove it)")
        for kid in diff.expiring:
            click.echo(f"  expiring  {printable(kid)}")
        if diff.in_sync and not diff.expiring:
            click.echo("  in sync with the store")
    code = EXIT_FINDINGS if not diff.in_sync else (EXIT_WARNINGS if diff.expiring else EXIT_OK)
    click.get_current_context().exit(code)


@cli.command()
@click.argument("name")
@set_options
@click.option(
    "--registered", "registered_file", type=click.File("rb"), help="The registered JWKS (a file, - for stdin)."
)
@click.option("--client-id", help="With --scope: ask Maskinporten for a token; with --api-url etc.: read the portal.")
@click.option("--scope", help="Ask Maskinporten for a token with this scope (the final proof).")
@click.option("--token-url", help="The token endpoint [<audience>token].")
@click.option("--api-url", help="Read the registered set from the self-service API (needs an admin token).")
@click.option("--admin-set", help="Key set of an admin client (idporten:dcr.read) for --api-url.")
@click.option("--admin-client-id", help="That admin client's id.")
@click.option("--vault", help="Compare this Key Vault's secret with the active key.")
@loopback_option
@click.option("--for", "preset", type=click.Choice(["altinn-app", "apiclient"]), default="apiclient", show_default=True)
@click.option("--secret-name", help="The Key Vault secret to compare [the preset's].")
@click.option("--warn", default="60d", show_default=True, metavar="DURATION")
@click.option("--fail", default="14d", show_default=True, metavar="DURATION")
@azure_options
@store_options
@json_option
def doctor(
    name: str,
    env: str,
    registered_file: Any,
    client_id: str | None,
    scope: str | None,
    token_url: str | None,
    api_url: str | None,
    admin_set: str | None,
    admin_client_id: str | None,
    vault: str | None,
    allow_http_loopback: bool,
    preset: str,
    secret_name: str | None,
    warn: str,
    fail: str,
    credential: str,
    ca_bundle: str | None,
    no_verify: bool,
    store_url: str | None,
    passphrase_file: str | None,
    as_json: bool,
) -> None:
    """Check set NAME end to end, with a verdict per check: exit 0 healthy, 1 warnings, 2 failing.

    Active key present; its public JWK passes the profile; expiry far enough; the registered set (--registered
    FILE, or the self-service API with --api-url) holds its kid; the Key Vault secret (--vault) decodes to it; a
    grant made now verifies with the published key; and with --client-id and --scope, Maskinporten issues a token.
    """
    from jwks_tool.cli.main import EXIT_FINDINGS, EXIT_OK, EXIT_WARNINGS
    from jwks_tool.core.timeutil import parse_duration
    from jwks_tool.errors import InputError
    from jwks_tool.services.doctor import DoctorOptions, Outcome, examine, verdict

    svc = make_service(store_url, passphrase_file)
    keyset = svc.get_set(name, env)
    azure = (credential, ca_bundle, no_verify)
    registered: list[dict[str, Any]] | None = None
    source = ""
    if registered_file is not None:
        from jwks_tool.core.reading import read_input

        found = read_input(registered_file.read(1024 * 1024 + 1), passphrase=None)
        registered = [key.jwk for key in found.keys]
        source = f"the registered set in {registered_file.name}"
    elif api_url is not None:
        from jwks_tool.integrations.maskinporten.client import PortalClient

        if not client_id:
            raise InputError("--api-url needs --client-id", hint="the client whose registered keys to read")
        PortalClient(api_url, "", allow_http_loopback=allow_http_loopback)  # refuses a bad URL before signing in
        admin = _admin_token(
            svc,
            env,
            admin_set,
            admin_client_id,
            "idporten:dcr.read",
            token_url,
            ca_bundle,
            azure,
            allow_http_loopback,
        )
        client = PortalClient(api_url, admin, ca_bundle=ca_bundle, allow_http_loopback=allow_http_loopback)
        registered = client.get_jwks(client_id)
        source = f"Maskinporten's registration of {client_id}"

    keyvault_check = None
    if vault is not None:
        from jwks_tool.integrations.azure import keyvault as kv

        connection = azure_connection(vault, credential, ca_bundle, no_verify)
        names = kv.secret_names(kv.Preset(preset), client_id=None, secret_name=secret_name)

        def keyvault_check(active: Any) -> tuple[bool, str]:
            status = kv.status(kv.secret_client(connection), names["jwk"], active, vault=connection.vault_url)
            if not status.exists:
                return False, f"{status.name} is missing in {connection.vault_url}"
            state = "decodes to the active key" if status.matches_active else f"holds {status.kid}, not the active key"
            return status.matches_active, f"{status.name} {state}"

    token_check = None
    if scope is not None:
        if not client_id:
            raise InputError("--scope needs --client-id", hint="the client to ask a token for")
        from jwks_tool.core.environments import audience_for, token_url_for
        from jwks_tool.core.text import printable
        from jwks_tool.integrations.maskinporten.client import GrantRequest, request_token

        def token_check(active: Any) -> str:
            request = GrantRequest(str(client_id), str(scope))
            _, grant_jwt, _ = _signer_and_grant(svc, name, env, active.kid, request, azure)
            url = token_url or token_url_for(audience_for(env))
            result = request_token(
                url, grant_jwt, ca_bundle=ca_bundle, timeout=30.0, allow_http_loopback=allow_http_loopback
            )
            return f"Maskinporten issued a token (scope {printable(result.scope)}, {result.expires_in} s)"

    def signer_for(record: Any) -> Any:
        connection = None
        if record.vault_key is not None:
            from jwks_tool.integrations.azure.keyvault import split_key_id

            connection = azure_connection(split_key_id(record.vault_key)[0], credential, ca_bundle, no_verify)
        return svc.signer_for(keyset, record, connection)

    options = DoctorOptions(
        warn=parse_duration(warn),
        fail=parse_duration(fail),
        registered=registered,
        registered_source=source,
        keyvault=keyvault_check,
        token=token_check,
    )
    checks = examine(keyset, svc, options, signer_for)
    result = verdict(checks)
    if as_json:
        print_json({"set": name, "env": env, "verdict": result.value, "checks": [c.to_dict() for c in checks]})
    else:
        click.echo(f"{keyset.ref}:")
        for check in checks:
            click.echo(f"  {check.line()}")
        click.echo({Outcome.OK: "Healthy.", Outcome.WARN: "Works, with warnings.", Outcome.FAIL: "FAILING."}[result])
    codes = {Outcome.OK: EXIT_OK, Outcome.WARN: EXIT_WARNINGS, Outcome.FAIL: EXIT_FINDINGS}
    click.get_current_context().exit(codes[result])
