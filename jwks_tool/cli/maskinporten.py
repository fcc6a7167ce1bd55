"""Maskinporten commands: grant (and later token, doctor, portal), thin layers over maskinporten.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, BinaryIO, NamedTuple

import click

from jwks_tool.cli.main import (
    F,
    StoreOptions,
    azure_options,
    cli,
    exit_with,
    json_option,
    make_service,
    maskinporten_azure_options,
    option_group,
    print_json,
    set_options,
    store_options,
)
from jwks_tool.cli.main import (
    one_line as _one_line,
)
from jwks_tool.core.environments import audience_for, token_url_for
from jwks_tool.core.findings import Verdict
from jwks_tool.core.keys import public_jwk
from jwks_tool.core.reading import read_input
from jwks_tool.core.text import plural, printable
from jwks_tool.core.timeutil import parse_duration
from jwks_tool.errors import InputError
from jwks_tool.integrations.azure.secrets import Preset, secret_names
from jwks_tool.integrations.maskinporten.client import (
    PORTAL_APIS,
    GrantRequest,
    PortalClient,
    check_org_number,
    diff_registered,
    request_token,
)
from jwks_tool.services.doctor import DoctorOptions, KeyVaultSecrets, MaskinportenTokens, diagnose
from jwks_tool.services.key_service import AzureOptions

if TYPE_CHECKING:
    from jwks_tool.core.certificates import BusinessCertificate


def _timeout(_ctx: click.Context, param: click.Parameter, value: float) -> float:
    """--timeout: a finite number of seconds, more than 0 and at most 600 (nan and 1e308 are not)."""
    import math

    if not math.isfinite(value) or not 0 < value <= 600:
        raise click.BadParameter(f"{value} is not a number of seconds from 0 (not included) to 600", param=param)
    return value


def _org_number(_ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """--consumer-org: a Norwegian organisation number (nine digits, the last a modulus-11 check digit), checked
    before the store is opened."""
    return None if value is None else check_org_number(value)


class GrantOptions(NamedTuple):
    """The grant options of ``grant`` and ``token``: the claims to sign, and with which key."""

    client_id: str
    scope: str
    kid: str | None
    audience: str | None
    lifetime: str
    resource: str | None
    consumer_org: str | None

    def request(self) -> GrantRequest:
        """The library's grant request (the lifetime parsed: 120s, 2m or 60)."""
        return GrantRequest(
            self.client_id, self.scope, self.audience, _seconds(self.lifetime), self.resource, self.consumer_org
        )


grant_options = option_group(
    "grant",
    GrantOptions,
    click.option("--client-id", required=True, callback=_one_line, help="The Maskinporten client id (iss)."),
    click.option(
        "--scope", required=True, callback=_one_line, help='Scopes, space separated: "altinn:instances.read ...".'
    ),
    click.option("--kid", help="Sign with this key [default: the active key]."),
    click.option("--audience", help="aud [default: the environment's Maskinporten identifier]."),
    click.option("--lifetime", default="120s", show_default=True, help="exp - iat: 120s, 2m or 60 (at most 120 s)."),
    click.option("--resource", help="The resource claim (the target API), if the API asks for one."),
    click.option(
        "--consumer-org",
        metavar="ORGNR",
        callback=_org_number,
        help="consumer_org: act for this organisation (delegation): its nine-digit organisation number.",
    ),
)
"""The grant's claims and key, passed to the command as ``grant`` (:class:`GrantOptions`)."""


def loopback_option(func: F) -> F:
    return click.option(
        "--allow-http-loopback",
        "allow_http_loopback",
        is_flag=True,
        help="Allow plain http:// to this machine (127.0.0.1, ::1, localhost) for a test server; elsewhere only "
        "https:// is used, and redirects are never followed.",
    )(func)


def _seconds(text: str) -> int:
    return int(text) if text.strip().isdigit() else int(parse_duration(text).total_seconds())


@cli.command()
@click.argument("name")
@set_options
@grant_options
@azure_options
@store_options
@json_option
def grant(name: str, env: str, grant: GrantOptions, azure: AzureOptions, store: StoreOptions, as_json: bool) -> None:
    """Print a signed JWT grant for Maskinporten made with a key of set NAME.

    Header alg (from the key) and kid; claims aud, iss = --client-id, scope, iat, exp (at most 120 s later), a fresh
    jti, and resource / consumer_org when given. Keys in Azure Key Vault sign through the vault. Retired, revoked and
    expired keys are refused.
    """
    svc = make_service(store, azure)
    signed = svc.grant(name, env, grant.request(), kid=grant.kid)
    if as_json:
        print_json({"kid": signed.record.kid, "alg": signed.record.alg, "claims": signed.claims, "grant": signed.token})
    else:
        click.echo(signed.token)


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
@maskinporten_azure_options
@store_options
@json_option
def token(
    name: str,
    env: str,
    grant: GrantOptions,
    token_url: str | None,
    show_token: bool,
    timeout: float,
    allow_http_loopback: bool,
    azure: AzureOptions,
    store: StoreOptions,
    as_json: bool,
) -> None:
    """Ask Maskinporten for an access token with a grant from set NAME: proves the key is registered and works.

    On success it prints the token's claims and expiry (the token itself only with --show-token); on failure
    Maskinporten's error code and message, and what to do about it. TLS is always verified: against the system's
    CAs, or only against those in --ca-bundle. HTTPS_PROXY and NO_PROXY are honoured.
    """
    import json
    from datetime import UTC, datetime

    svc = make_service(store, azure)
    signed = svc.grant(name, env, grant.request(), kid=grant.kid)
    url = token_url or token_url_for(grant.audience or audience_for(env))
    result = request_token(
        url,
        signed.token,
        ca_bundle=azure.ca_bundle,
        timeout=timeout,
        allow_http_loopback=allow_http_loopback,
        keyset=f"{name} --env {env}",
        timeout_option="--timeout",
    )
    expires = datetime.fromtimestamp(int(datetime.now(UTC).timestamp()) + result.expires_in, UTC)
    if as_json:
        data: dict[str, Any] = {
            "kid": signed.record.kid,
            "token_url": url,
            "scope": result.scope,
            "expires_in": result.expires_in,
            "claims": result.claims,
        }
        if show_token:
            data["access_token"] = result.access_token
        print_json(data)
        return
    click.echo(f"Maskinporten issued a token for {grant.client_id} with key {signed.record.kid}.")
    click.echo(f"  scope     {printable(result.scope)}")
    click.echo(f"  expires   in {result.expires_in} s ({expires:%Y-%m-%d %H:%M:%S} UTC)")
    for claim in ("iss", "client_id", "consumer", "supplier", "aud"):
        if claim in result.claims:
            value = result.claims[claim]
            click.echo(f"  {claim:<9} {printable(value if isinstance(value, str) else json.dumps(value))}")
    if show_token:
        click.echo(result.access_token)


ENV_PORTAL_TOKEN = "JWKS_TOOL_PORTAL_TOKEN"


def _removed_admin_set(_ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    """--admin-set signed the admin grant with a registered key and kid: Digdir refuses that for idporten:dcr.*."""
    if value is not None:
        raise InputError(
            "--admin-set is gone: Digdir's self-service API takes only a grant signed with the organisation's "
            "business certificate",
            hint="pass --certificate FILE.p12 (or a Key Vault certificate URL) and --admin-client-id",
        )


def cert_passphrase(passphrase_file: str | None) -> Callable[[], str | None]:
    """The PKCS#12 passphrase: --cert-passphrase-file, then $JWKS_TOOL_CERT_PASSPHRASE, then a prompt on a terminal;
    never argv. Without any of them (not a terminal) the file is tried without a passphrase."""
    import os
    import sys

    from jwks_tool.cli.main import is_terminal, read_secret_file
    from jwks_tool.services.admin import ENV_CERT_PASSPHRASE

    def provide() -> str | None:
        if passphrase_file is not None:
            return read_secret_file(passphrase_file, "certificate passphrase")
        if os.environ.get(ENV_CERT_PASSPHRASE):
            return os.environ[ENV_CERT_PASSPHRASE]
        if is_terminal(sys.stdin):
            return str(click.prompt("Certificate passphrase", hide_input=True, err=True))
        return None

    return provide


def _check_given_token(token: str) -> None:
    """An expired JWT in JWKS_TOOL_PORTAL_TOKEN is refused before it is sent (:func:`check_given_token`)."""
    from jwks_tool.services.admin import check_given_token

    check_given_token(
        token,
        hint=f"unset {ENV_PORTAL_TOKEN} and sign in with the business certificate: --certificate FILE.p12 (or a "
        "Key Vault certificate URL) and --admin-client-id",
    )


class AdminSignIn(NamedTuple):
    """How ``portal`` signed in: the admin token and, when jwks-tool made it, the certificate it used."""

    token: str
    certificate: BusinessCertificate | None


class PortalOptions(NamedTuple):
    """The options of ``portal push`` and ``portal pull``: the client, the API and how to sign in to it."""

    client_id: str
    api_url: str | None
    certificate: str | None
    cert_passphrase_file: str | None
    admin_client_id: str | None
    token_url: str | None
    allow_http_loopback: bool

    def sign_in(self, azure: AzureOptions, env: str, scope: str, *, ca_bundle: str | None = None) -> AdminSignIn:
        """An admin token for ``scope``: from the business certificate (--certificate; a Key Vault certificate is
        reached with ``azure``), else JWKS_TOOL_PORTAL_TOKEN. TLS to Maskinporten is verified with ``ca_bundle``
        (default: --ca-bundle, else the system's CAs)."""
        import os

        from jwks_tool.integrations.maskinporten.admin import AdminRequest, admin_token
        from jwks_tool.services.admin import open_admin_credential

        if self.certificate is None:
            given = os.environ.get(ENV_PORTAL_TOKEN)
            if given:
                _check_given_token(given)
                return AdminSignIn(given, None)
            raise InputError(
                "the self-service API needs an admin token",
                hint=f"pass --certificate (the business certificate) and --admin-client-id, or set {ENV_PORTAL_TOKEN}",
            )
        if not self.admin_client_id:
            raise InputError("--certificate needs --admin-client-id", hint="the admin client's id from the portal")
        credential = open_admin_credential(
            self.certificate, passphrase=cert_passphrase(self.cert_passphrase_file), azure=azure
        )
        result = admin_token(
            credential,
            AdminRequest(self.admin_client_id, scope, env=env),
            token_url=self.token_url,
            ca_bundle=ca_bundle or azure.ca_bundle,
            allow_http_loopback=self.allow_http_loopback,
        )
        return AdminSignIn(result.access_token, credential.certificate)

    def client(
        self, azure: AzureOptions, env: str, scope: str, *, ca_bundle: str | None = None
    ) -> tuple[PortalClient, BusinessCertificate | None]:
        """The self-service API's client, signed in for ``scope``, and the certificate used (if any); TLS to
        Maskinporten is verified with ``ca_bundle`` (default: --ca-bundle, else the system's CAs)."""
        PortalClient(self.api_url or PORTAL_APIS[env], "", allow_http_loopback=self.allow_http_loopback)  # URL first
        signed_in = self.sign_in(azure, env, scope, ca_bundle=ca_bundle)
        client = PortalClient(
            self.api_url or PORTAL_APIS[env],
            signed_in.token,
            ca_bundle=ca_bundle or azure.ca_bundle,
            allow_http_loopback=self.allow_http_loopback,
            scope=scope,
        )
        return client, signed_in.certificate


def removed_admin_set(func: F) -> F:
    """A hidden --admin-set that says what replaced it."""
    return click.option("--admin-set", hidden=True, expose_value=False, callback=_removed_admin_set)(func)


def admin_options(func: F) -> F:
    """--certificate, --cert-passphrase-file and --admin-client-id."""
    for option in reversed(
        (
            click.option(
                "--certificate",
                metavar="FILE|URL",
                help="The business certificate to sign in to the self-service API with: a .p12/.pfx file "
                "(passphrase from --cert-passphrase-file, JWKS_TOOL_CERT_PASSPHRASE or a prompt) or "
                "https://VAULT.vault.azure.net/certificates/NAME (the vault signs).",
            ),
            click.option(
                "--cert-passphrase-file",
                metavar="FILE",
                help="Read the .p12 passphrase from this file's first line (default: $JWKS_TOOL_CERT_PASSPHRASE, or "
                "ask).",
            ),
            click.option("--admin-client-id", help="The admin (self-service) client's id, for --certificate."),
        )
    ):
        func = option(func)
    return func


def _sign_in_line(certificate: BusinessCertificate | None) -> None:
    if certificate is not None:
        click.echo(f"Signed in with the {certificate.describe()}.")


def _certificate_json(certificate: BusinessCertificate | None) -> dict[str, Any] | None:
    if certificate is None:
        return None
    return {
        "org_number": certificate.org_number,
        "subject": certificate.subject,
        "not_before": certificate.not_before.isoformat(),
        "not_after": certificate.not_after.isoformat(),
        "sha256": certificate.fingerprint,
    }


portal_options = option_group(
    "portal",
    PortalOptions,
    click.option("--client-id", required=True, callback=_one_line, help="The client whose keys to read or write."),
    click.option("--api-url", help="The self-service API [Digdir's for --env]."),
    admin_options,
    click.option("--token-url", help="The token endpoint for the admin client [<audience>token]."),
    click.option(
        "--allow-http-loopback",
        "allow_http_loopback",
        is_flag=True,
        help="Allow plain http:// to this machine for test servers (elsewhere https:// only, no redirects).",
    ),
)
"""The self-service API's options, passed to the command as ``portal`` (:class:`PortalOptions`)."""


@cli.group()
def portal() -> None:
    """Digdir's self-service API: register a set's keys (push) and compare what is registered (pull)."""


@portal.command()
@click.argument("name")
@set_options
@portal_options
@removed_admin_set
@click.option(
    "--replace",
    is_flag=True,
    help="Drop the registered keys the key set does not know (another store's, or added in the portal) "
    "[default: keep them].",
)
@click.option(
    "--yes",
    "-y",
    is_flag=True,
    help="With --replace: drop the unknown keys without asking (cron, CI, --json); needed when stdin is no terminal.",
)
@maskinporten_azure_options
@store_options
@json_option
def push(
    name: str,
    env: str,
    portal: PortalOptions,
    replace: bool,
    yes: bool,
    azure: AzureOptions,
    store: StoreOptions,
    as_json: bool,
) -> None:
    """Register the keys of set NAME for the client: PUT of the whole registered set (next, active, retiring).

    Digdir's PUT replaces the whole set, so push reads it first: keys the key set does not know (another store's,
    or added in the portal) are kept unless --replace, which lists them (kid, exp) and asks; off a terminal or with
    --json it needs --yes (exit 9 without). The set's own retired and revoked keys leave without a question. Signs
    in to Digdir's self-service API with the business certificate (--certificate, --admin-client-id; scope
    idporten:dcr.write), or with a token from JWKS_TOOL_PORTAL_TOKEN.
    """
    import sys

    from jwks_tool.cli.main import is_terminal
    from jwks_tool.core.profiles import get_profile
    from jwks_tool.errors import AbortedError
    from jwks_tool.services.admin import describe_registered, plan_push

    svc = make_service(store, azure)
    keyset = svc.get_set(name, env)
    keys = [public_jwk(dict(key.public_jwk)) for key in keyset.registered]
    client, certificate = portal.client(azure, env, "idporten:dcr.write")
    if not as_json:
        _sign_in_line(certificate)
    known = {key.kid for key in keyset.keys}
    plan = plan_push(
        keys,
        client.get_jwks(portal.client_id),
        known=known,
        replace=replace,
        max_registered=get_profile(keyset.profile).max_registered,
    )
    states: dict[str, str] = {str(key.kid): key.state.value for key in keyset.keys}
    unknown = [key for key in plan.removed if str(key.get("kid")) not in known]
    if unknown and not yes:  # the set's own retired/revoked keys go without a question: its lifecycle decided that
        gone = ", ".join(describe_registered(key) + " unknown to the key set" for key in unknown)
        what = f"the PUT would remove {plural(len(unknown), 'registered key')} from {portal.client_id}: {gone}"
        if as_json or not (is_terminal(sys.stdin) and is_terminal(sys.stderr)):
            raise AbortedError(
                f"{what}; nothing was registered",
                hint="pass --yes to remove them"
                + (" (JSON output never asks)" if as_json else " (cron, CI), or run it on a terminal"),
            )
        click.echo(f"The PUT replaces {portal.client_id}'s registered set; it would remove:", err=True)
        for key in unknown:
            click.echo(f"  {describe_registered(key)}  (unknown to the key set: another store's?)", err=True)
        if not click.confirm("Remove them?", default=False, err=True):
            raise AbortedError("nothing was registered", hint="run `jwks-tool portal pull` to compare first")
    stored = client.put_jwks(portal.client_id, plan.wanted)
    kids = [printable(key.get("kid")) for key in stored]
    kept = [printable(key.get("kid")) for key in plan.kept]
    removed = [printable(key.get("kid")) for key in plan.removed]
    if as_json:
        print_json(
            {
                "client_id": portal.client_id,
                "registered": kids,
                "kept": kept,
                "removed": removed,
                "certificate": _certificate_json(certificate),
            }
        )
        return
    click.echo(f"Registered {plural(len(kids), 'key')} for {portal.client_id}: {', '.join(kids)}")
    if kept:
        click.echo(f"  kept {', '.join(kept)} (unknown to the key set; --replace drops them)")
    if removed:
        labelled = [
            f"{kid} ({states.get(str(key.get('kid')), 'unknown to the key set')})"
            for kid, key in zip(removed, plan.removed, strict=True)
        ]
        click.echo(f"  removed {', '.join(labelled)}")


@portal.command()
@click.argument("name")
@set_options
@portal_options
@removed_admin_set
@click.option("--warn", default="60d", show_default=True, metavar="DURATION", help="Flag keys expiring this soon.")
@maskinporten_azure_options
@store_options
@json_option
def pull(
    name: str, env: str, portal: PortalOptions, warn: str, azure: AzureOptions, store: StoreOptions, as_json: bool
) -> None:
    """Read the client's registered keys and compare with set NAME: missing, extra and expiring kids.

    Exits 0 when they agree, 1 when something is expiring, 2 when kids are missing or extra. Signs in like push,
    with scope idporten:dcr.read.
    """
    svc = make_service(store, azure)
    keyset = svc.get_set(name, env)
    client_id = portal.client_id
    client, certificate = portal.client(azure, env, "idporten:dcr.read")
    if not as_json:
        _sign_in_line(certificate)
    theirs = client.get_jwks(client_id)
    ours = [dict(key.public_jwk) for key in keyset.registered]
    diff = diff_registered(ours, theirs, now=svc.now(), warn_days=parse_duration(warn).days)
    if as_json:
        print_json(
            {
                "client_id": client_id,
                "registered": [k.get("kid") for k in theirs],
                **diff.to_dict(),
                "certificate": _certificate_json(certificate),
            }
        )
    else:
        click.echo(
            f"{client_id} has {plural(len(theirs), 'registered key')}: "
            f"{', '.join(printable(k.get('kid')) for k in theirs) or 'none'}"
        )
        for kid in diff.missing:
            click.echo(f"  missing   {printable(kid)}  (in the store's registered set: run jwks-tool portal push)")
        states = {str(key.kid): key.state.value for key in keyset.keys}
        for kid in diff.extra:
            state = states.get(str(kid))
            why = (
                f"{state} in the key set: `portal push` removes it"
                if state is not None
                else "not in the key set: `portal push --replace` removes it"
            )
            click.echo(f"  extra     {printable(kid)}  ({why})")
        for kid in diff.expiring:
            click.echo(f"  expiring  {printable(kid)}")
        if diff.in_sync and not diff.expiring:
            click.echo("  in sync with the store")
    exit_with(Verdict.ERRORS if not diff.in_sync else (Verdict.WARNINGS if diff.expiring else Verdict.OK))


@cli.command()
@click.argument("name")
@set_options
@click.option(
    "--registered", "registered_file", type=click.File("rb"), help="The registered JWKS (a file, - for stdin)."
)
@click.option("--client-id", help="With --scope: ask Maskinporten for a token; with --api-url etc.: read the portal.")
@click.option("--scope", help="Ask Maskinporten for a token with this scope (the final proof).")
@click.option("--token-url", help="The token endpoint [<audience>token].")
@click.option(
    "--api-url",
    help="Read the registered set from the self-service API, signed in as `portal pull` is (--certificate and "
    "--admin-client-id, or JWKS_TOOL_PORTAL_TOKEN).",
)
@admin_options
@removed_admin_set
@click.option("--vault", help="Compare this Key Vault's secret with the active key.")
@loopback_option
@click.option("--for", "preset", type=click.Choice(["altinn-app", "apiclient"]), default="apiclient", show_default=True)
@click.option("--secret-name", help="The Key Vault secret to compare [the preset's].")
@click.option("--warn", default="60d", show_default=True, metavar="DURATION")
@click.option("--fail", default="14d", show_default=True, metavar="DURATION")
@maskinporten_azure_options
@click.option(
    "--vault-ca-bundle",
    type=click.Path(dir_okay=False, exists=True),
    metavar="FILE",
    help="A PEM file of CA certificates used INSTEAD of the system's to verify TLS to Key Vault only "
    "[default: --ca-bundle].",
)
@click.option(
    "--maskinporten-ca-bundle",
    type=click.Path(dir_okay=False, exists=True),
    metavar="FILE",
    help="A PEM file of CA certificates used INSTEAD of the system's to verify TLS to Maskinporten only (the "
    "token endpoint and the self-service API) [default: --ca-bundle].",
)
@store_options
@json_option
def doctor(
    name: str,
    env: str,
    registered_file: BinaryIO | None,
    client_id: str | None,
    scope: str | None,
    token_url: str | None,
    api_url: str | None,
    certificate: str | None,
    cert_passphrase_file: str | None,
    admin_client_id: str | None,
    vault: str | None,
    allow_http_loopback: bool,
    preset: str,
    secret_name: str | None,
    warn: str,
    fail: str,
    azure: AzureOptions,
    vault_ca_bundle: str | None,
    maskinporten_ca_bundle: str | None,
    store: StoreOptions,
    as_json: bool,
) -> None:
    """Check set NAME end to end, with a verdict per check: exit 0 healthy, 1 warnings, 2 failing.

    Active key present; its public JWK passes the profile; expiry far enough; the registered set (--registered
    FILE, or the self-service API with --api-url) holds its kid; the Key Vault secret (--vault) decodes to it; a
    grant made now verifies with the published key; and with --client-id and --scope, Maskinporten issues a token.

    Where Key Vault and Maskinporten are verified with different CAs (test servers, private endpoints), give each
    its own: --vault-ca-bundle and --maskinporten-ca-bundle (each defaults to --ca-bundle).
    """
    import dataclasses

    mp_ca_bundle = maskinporten_ca_bundle or azure.ca_bundle
    azure = dataclasses.replace(azure, ca_bundle=vault_ca_bundle or azure.ca_bundle)
    svc = make_service(store, azure)
    svc.get_set(name, env)  # a missing set is said before anything is read or asked
    registered: list[dict[str, Any]] | None = None
    source = ""
    if registered_file is not None:
        found = read_input(registered_file.read(1024 * 1024 + 1), passphrase=None)
        registered = [key.jwk for key in found.keys]
        source = f"the registered set in {registered_file.name}"
    elif api_url is not None:
        if not client_id:
            raise InputError("--api-url needs --client-id", hint="the client whose registered keys to read")
        portal = PortalOptions(
            client_id, api_url, certificate, cert_passphrase_file, admin_client_id, token_url, allow_http_loopback
        )
        registered = portal.client(azure, env, "idporten:dcr.read", ca_bundle=mp_ca_bundle)[0].get_jwks(client_id)
        source = f"Maskinporten's registration of {client_id}"

    secrets = None
    if vault is not None:
        names = secret_names(Preset(preset), client_id=None, secret_name=secret_name)
        secrets = KeyVaultSecrets(svc.vault_connection(vault), names["jwk"])

    tokens = None
    if scope is not None:
        if not client_id:
            raise InputError("--scope needs --client-id", hint="the client to ask a token for")

        url = token_url or token_url_for(audience_for(env))
        tokens = MaskinportenTokens(
            url, mp_ca_bundle, allow_http_loopback=allow_http_loopback, keyset=f"{name} --env {env}"
        )

    options = DoctorOptions(
        warn=parse_duration(warn),
        fail=parse_duration(fail),
        registered=registered,
        registered_source=source,
        vault=secrets,
        token=tokens,
        client_id=client_id or "",
        scope=scope or "",
    )
    report = diagnose(svc, name, env, options)
    if as_json:
        print_json(report.to_dict())
    else:
        click.echo(f"{report.keyset.ref}:")
        for check in report.checks:
            click.echo(f"  {check.line()}")
        words = {Verdict.OK: "Healthy.", Verdict.WARNINGS: "Works, with warnings.", Verdict.ERRORS: "FAILING."}
        click.echo(words[report.verdict])
    exit_with(report.verdict)
