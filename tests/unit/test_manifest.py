"""The fleet manifest: every key the README documents, refused unknown keys with file, line and fix."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import Result

from jwks_tool.core.manifest import parse_manifest
from jwks_tool.errors import InputError

Run = Callable[..., Result]

GOOD = """\
store = "https://team-kv.vault.azure.net/"   # optional

[defaults]
size = 3072
profile = "maskinporten"
alg = "RS256"
rotate_after = "90d"
renew_before = "30d"
overlap = "1h"
propagation = "5m"

[admin.prod]
client_id = "admin-prod"
certificate = "virksomhet-prod.p12"

[endpoints.test]
token_url = "https://mp.example/token"
api_url = "https://api.example/api/v1/"
audience = "https://test.maskinporten.no/"
ca_bundle = "ca.pem"

[[clients]]
name = "invoice-sync"
env = "prod"
client_id = "c-1"
scopes = ["altinn:instances.read"]
register = "api"

[[clients.deliver]]
to = "keyvault"
vault = "https://app-kv.vault.azure.net/"
for = "apiclient"

[[clients]]
name = "reporting"
env = "test"
client_id = "c-2"
scopes = ["altinn:instances.read", "altinn:instances.write"]
register = "manual"
rotate_after = "60d"

[[clients.deliver]]
to = "keyvault"
vault = "https://app-kv.vault.azure.net/"
secret_name = "Reporting--Jwk"
"""


def test_the_documented_manifest_reads_whole() -> None:
    manifest = parse_manifest(GOOD, "jwks-tool.toml")
    assert manifest.store == "https://team-kv.vault.azure.net/"
    assert manifest.defaults.rotate_after == timedelta(days=90)
    assert manifest.defaults.overlap == timedelta(hours=1)
    assert manifest.defaults.propagation == timedelta(minutes=5)
    assert manifest.admin["prod"].certificate == "virksomhet-prod.p12"
    assert manifest.endpoints_for("test").token_url == "https://mp.example/token"
    first, second = manifest.clients
    assert (first.ref.name, first.ref.env.value, first.client_id, first.register) == (
        "invoice-sync",
        "prod",
        "c-1",
        "api",
    )
    assert first.deliver[0].preset == "apiclient"
    assert first.line == 22
    assert second.policy.rotate_after == timedelta(days=60)
    assert second.policy.renew_before == timedelta(days=30)
    assert second.deliver[0].secret_name == "Reporting--Jwk"
    assert second.scope == "altinn:instances.read altinn:instances.write"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            ('rotate_after = "90d"', 'rotate_afer = "90d"'),
            "jwks-tool.toml:7: unknown key 'rotate_afer' in [defaults]; did you mean 'rotate_after'?",
        ),
        (
            ('register = "manual"', 'register = "manual"\ncolour = "blue"'),
            "jwks-tool.toml:40: unknown key 'colour' in [[clients]] #2; remove it; [[clients]] #2 takes name, env, "
            "client_id, scopes, register, deliver, size, profile, alg, rotate_after, renew_before, overlap, "
            "propagation",
        ),
        (
            ('secret_name = "Reporting--Jwk"', 'secret_nam = "Reporting--Jwk"'),
            "jwks-tool.toml:45: unknown key 'secret_nam' in client 'reporting' delivery #1 (to = 'keyvault'); did you "
            "mean 'secret_name'?",
        ),
        (
            ('vault = "https://app-kv.vault.azure.net/"', 'vault = "https://app-kv.vault.azure.net/"\nout = "x.env"'),
            "jwks-tool.toml:32: unknown key 'out' in client 'invoice-sync' delivery #1 (to = 'keyvault'); remove it; "
            "client 'invoice-sync' delivery #1 (to = 'keyvault') takes to, for, client_id, prefix, vault, secret_name, "
            "adopt",
        ),
        (
            ('to = "keyvault"\nvault = "https://app-kv.vault.azure.net/"', 'to = "dotenv"\nvault = "x"'),
            "jwks-tool.toml:31: unknown key 'vault' in client 'invoice-sync' delivery #1 (to = 'dotenv'); remove it; "
            "client 'invoice-sync' delivery #1 (to = 'dotenv') takes to, for, client_id, prefix, out, allow_outside, "
            "adopt",
        ),
        (
            ('to = "keyvault"\nvault = "https://app-kv.vault.azure.net/"', 'to = "kubernetes"\nnamespace = "x"'),
            "jwks-tool.toml:29: client 'invoice-sync' delivery #1 (to = 'kubernetes') has no secret_name; add "
            'secret_name = "NAME"',
        ),
        (
            ('for = "apiclient"', 'for = "dotnet"'),
            "jwks-tool.toml:32: client 'invoice-sync' delivery #1: for must be one of apiclient, altinn-app, "
            "pymaskinporten, nais, altinn-studio, not 'dotnet'; write for = \"apiclient\"",
        ),
        (
            ('overlap = "1h"', 'overlap = "1 hour"'),
            "jwks-tool.toml:9: overlap in [defaults]: invalid duration '1 hour'; write a number and a unit: 30s, "
            "15m, 24h, 90d, 12w, 1y",
        ),
        (
            ('env = "test"', 'env = "staging"'),
            "jwks-tool.toml:36: client 'reporting': unknown environment 'staging'; use test or prod",
        ),
        (
            ('name = "reporting"', 'name = "invoice-sync"\n# same set\nenv2 = 1'),
            "jwks-tool.toml:37: unknown key 'env2' in [[clients]] #2; did you mean 'env'?",
        ),
        (
            ('register = "api"', 'register = "portal"'),
            "jwks-tool.toml:27: register of client 'invoice-sync' must be api or manual, not 'portal'; write "
            'register = "api" (through the self-service API) or "manual" (you paste the set)',
        ),
        (
            ('certificate = "virksomhet-prod.p12"', 'key_set = "admin"'),
            "jwks-tool.toml:14: key_set in [admin.prod]: Digdir refuses admin grants signed with a registered key; "
            'write certificate = "virksomhet.p12" (the business certificate, or an Azure Key Vault certificate URL) '
            "instead, or set JWKS_TOOL_PORTAL_TOKEN",
        ),
        (
            ("[admin.prod]", "[admin.prd]"),
            "jwks-tool.toml:12: [admin.prd]: unknown environment 'prd'; use test or prod",
        ),
        (
            ("size = 3072", "size = 1024"),
            "jwks-tool.toml:4: size in [defaults] must be one of 2048, 3072, 4096; write size = 3072",
        ),
        (
            ("size = 3072", "size = 3072\n[oops"),
            "jwks-tool.toml:5: not valid TOML (Expected ']' at the end of a table declaration (at line 5, column "
            "6)); fix the syntax (see toml.io)",
        ),
    ],
)
def test_a_wrong_manifest_names_the_line_and_the_fix(edit: tuple[str, str], message: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_manifest(GOOD.replace(*edit, 1), "jwks-tool.toml")
    assert caught.value.diagnostics() == message


def test_a_client_declared_twice_is_refused() -> None:
    text = GOOD.replace('name = "reporting"\nenv = "test"', 'name = "invoice-sync"\nenv = "prod"')
    with pytest.raises(InputError) as caught:
        parse_manifest(text, "m.toml")
    assert caught.value.diagnostics() == (
        "m.toml:34: the client invoice-sync (prod) is declared twice (first at line 22); remove one of them"
    )


def test_api_registration_needs_the_environments_admin() -> None:
    text = GOOD.replace('env = "test"\nclient_id = "c-2"', 'env = "test"\nclient_id = "c-2"').replace(
        'register = "manual"', 'register = "api"'
    )
    with pytest.raises(InputError) as caught:
        parse_manifest(text, "m.toml")
    assert caught.value.diagnostics() == (
        "m.toml:39: client 'reporting' registers through the self-service API, but the manifest has no "
        '[admin.test]; add [admin.test] with client_id (the self-service client), or write register = "manual"'
    )


def test_a_bad_manifest_is_one_line_on_stderr_and_exit_3_before_anything_runs(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "jwks-tool.toml").write_text(GOOD.replace('alg = "RS256"', 'alg = "RS256"\nrotate = "90d"'))
    monkeypatch.chdir(tmp_path)
    for command in (["plan", "--offline"], ["apply", "--yes"]):
        result = run(*command)
        assert result.exit_code == 3
        assert result.stderr == (
            "jwks-tool: error: jwks-tool.toml:7: unknown key 'rotate' in [defaults]; did you mean 'rotate_after'?\n"
        )
    assert not (tmp_path / "store").exists()  # nothing ran: not even the store was made


def test_without_a_manifest_plan_says_how_to_get_one(run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = run("plan")
    assert result.exit_code == 3
    assert result.stderr == (
        "jwks-tool: error: no jwks-tool.toml in this folder; write one (README: Fleet) or pass --manifest FILE\n"
    )
    result = run("plan", "--manifest", str(tmp_path / "nope.toml"))
    assert result.exit_code == 3
    assert result.stderr == f"jwks-tool: error: the manifest {tmp_path / 'nope.toml'} does not exist; check the path\n"


# ---- review12: what a run would refuse later is refused when the manifest is read ----------------------------------
CLIENT = """\
[[clients]]
name = "acme"
env = "test"
client_id = "acme-id"
scopes = ["altinn:instances.read"]
register = "manual"
"""


def plan_offline(run: Run, tmp_path: Path, text: str) -> Result:
    (tmp_path / "m.toml").write_text(text)
    return run("plan", "--offline", "--manifest", str(tmp_path / "m.toml"))


@pytest.mark.parametrize(
    ("table", "key", "carries"),
    [
        ("endpoints.test", "token_url", "the grant"),
        ("endpoints.test", "api_url", "the admin token"),
        ("admin.test", "token_url", "the grant"),
    ],
)
def test_a_plain_http_endpoint_is_refused_at_load_with_its_line_and_a_fix_the_fleet_has(
    run: Run, tmp_path: Path, table: str, key: str, carries: str
) -> None:
    extra = 'client_id = "portal-admin"\n' if table.startswith("admin") else ""
    text = f'[{table}]\n{extra}{key} = "http://127.0.0.1:18777/x"\n\n' + CLIENT
    result = plan_offline(run, tmp_path, text)
    assert result.exit_code == 3
    line = 3 if extra else 2
    assert result.stderr == (
        f"jwks-tool: error: {tmp_path / 'm.toml'}:{line}: {key} in [{table}] http://127.0.0.1:18777/x is plain "
        f"http: {carries} would travel in clear; use an https:// URL in [{table}]\n"
    )
    assert not (tmp_path / "store").exists()


def test_an_http_audience_without_a_token_url_is_refused_at_load(run: Run, tmp_path: Path) -> None:
    result = plan_offline(run, tmp_path, '[endpoints.test]\naudience = "http://mp.example/"\n\n' + CLIENT)
    assert result.exit_code == 3
    assert result.stderr == (
        f"jwks-tool: error: {tmp_path / 'm.toml'}:2: the token endpoint of audience in [endpoints.test] "
        "http://mp.example/token is plain http: the grant would travel in clear; use an https:// URL in "
        "[endpoints.test]\n"
    )


DELIVERY = CLIENT + '\n[[clients.deliver]]\nfor = "nais"\n'


@pytest.mark.parametrize(
    ("delivery", "message"),
    [
        (
            'to = "kubernetes"\nsecret_name = "Bad Name!"\nout = "k.yaml"',
            "'Bad Name!' is not a valid Secret name in client 'acme' delivery #1 (to = 'kubernetes'); use lower-case "
            "letters, digits, - and . (a DNS subdomain, at most 253 characters)",
        ),
        (
            'to = "kubernetes"\nsecret_name = "ok"\nnamespace = "Apps"\nout = "k.yaml"',
            "'Apps' is not a valid namespace in client 'acme' delivery #1 (to = 'kubernetes'); use lower-case "
            "letters, digits and - (at most 63)",
        ),
        (
            'to = "dotenv"\nout = "a.env"\nprefix = "my-"',
            "'my-MASKINPORTEN_CLIENT_ID' is not an environment variable name in client 'acme' delivery #1 "
            "(to = 'dotenv'); use a prefix of letters, digits and _ (not starting with a digit)",
        ),
        (
            'to = "file"\nout = "folder"\nprefix = ".hidden-"',
            "'.hidden-MASKINPORTEN_CLIENT_ID' is not a plain file name in client 'acme' delivery #1 (to = 'file'); "
            "use a prefix of letters, digits, ., _ and -",
        ),
        (
            'to = "keyvault"\nvault = "https://kv.vault.azure.net/"\nprefix = "my_"',
            "invalid Key Vault secret name 'my_MASKINPORTEN-CLIENT-ID' in client 'acme' delivery #1 "
            "(to = 'keyvault'); use 1-127 characters of 0-9 A-Z a-z - (write -- where .NET configuration has :)",
        ),
        (
            'to = "aws"\nprefix = "a b/"\nregion = "eu-north-1"',
            "'a b/MASKINPORTEN-CLIENT-ID' is not a valid AWS Secrets Manager secret name in client 'acme' delivery "
            "#1 (to = 'aws'); use a prefix of A-Z a-z 0-9 / _ + = . @ - (names of at most 512 characters)",
        ),
        (
            'to = "aws"\nregion = "north"',
            "invalid AWS region 'north' in client 'acme' delivery #1 (to = 'aws'); give one like eu-north-1",
        ),
    ],
)
def test_a_delivery_its_destination_would_refuse_is_refused_at_load(
    run: Run, tmp_path: Path, delivery: str, message: str
) -> None:
    result = plan_offline(run, tmp_path, DELIVERY + delivery + "\n")
    assert result.exit_code == 3
    assert result.stderr == f"jwks-tool: error: {tmp_path / 'm.toml'}:8: {message}\n"
    assert not (tmp_path / "store").exists()


@pytest.mark.parametrize("out", ["../../escape.env", "/tmp/escape.env", "sub/../../escape.env"])
def test_an_out_outside_the_manifests_folder_needs_allow_outside(out: str) -> None:
    text = DELIVERY + f'to = "dotenv"\nout = "{out}"\n'
    with pytest.raises(InputError) as caught:
        parse_manifest(text, "m.toml")
    assert caught.value.diagnostics() == (
        f"m.toml:11: out of client 'acme' delivery #1 ({out}) is outside the manifest's folder: private keys would "
        "be written wherever it points; write a path inside the manifest's folder (no .., not absolute), or add "
        "allow_outside = true to this [[clients.deliver]]"
    )
    allowed = parse_manifest(text + "allow_outside = true\n", "m.toml")
    assert (allowed.clients[0].deliver[0].out, allowed.clients[0].deliver[0].allow_outside) == (out, True)
    inside = parse_manifest(DELIVERY + 'to = "dotenv"\nout = "env/a.env"\n', "m.toml")
    assert inside.clients[0].deliver[0].allow_outside is False


def test_the_plan_header_counts_one_client_in_the_singular(run: Run, tmp_path: Path) -> None:
    result = plan_offline(run, tmp_path, CLIENT)
    assert result.exit_code == 11
    assert result.stdout.splitlines()[0].endswith(f"for {tmp_path / 'm.toml'} (1 client): 1 with changes due")


def test_a_control_character_in_a_quoted_key_is_escaped_once_with_its_line() -> None:
    text = CLIENT + '"evil\\u001b[2J" = 1\n'
    with pytest.raises(InputError) as caught:
        parse_manifest(text, "m.toml")
    assert caught.value.diagnostics() == (
        "m.toml:7: unknown key 'evil\\x1b[2J' in [[clients]] #1; remove it; [[clients]] #1 takes name, env, "
        "client_id, scopes, register, deliver, size, profile, alg, rotate_after, renew_before, overlap, propagation"
    )


def test_an_over_long_name_says_how_long_it_may_be() -> None:
    with pytest.raises(InputError) as caught:
        parse_manifest(CLIENT.replace('"acme"', '"' + "a" * 200_000 + '"'), "m.toml")
    assert caught.value.diagnostics() == (
        "m.toml:2: name in [[clients]] #1 is 200,000 characters, at most 63; shorten name"
    )


def test_a_missing_certificate_names_the_manifests_key_and_line(run: Run, tmp_path: Path) -> None:
    text = '[admin.test]\nclient_id = "portal-admin"\ncertificate = "nope.p12"\n\n' + CLIENT.replace(
        'register = "manual"', 'register = "api"'
    )
    assert plan_offline(run, tmp_path, text).exit_code == 11  # offline: no sign-in, so no certificate is read
    line = (
        f"jwks-tool: error: cannot read the certificate file {tmp_path / 'nope.p12'}: No such file or directory; "
        f"check certificate in [admin.test] of {tmp_path / 'm.toml'} (line 3)\n"
    )
    for env in ({}, {"JWKS_TOOL_PORTAL_TOKEN": "t"}):  # the certificate named wins over a token got elsewhere
        result = run("apply", "--yes", "--manifest", str(tmp_path / "m.toml"), env=env)
        assert (result.exit_code, result.stderr) == (3, line)


QUERY_FIX = "remove it: write https://HOST/PATH (percent-encode a ? or # the path holds)"


@pytest.mark.parametrize(
    ("value", "problem", "fix"),
    [
        (
            "https://x.example/\\u001b[2J",
            "must be one line of printable text, not 'https://x.example/\\x1b[2J'",
            'write {key} = "..."',  # the manifest's own check of every text value
        ),
        (
            "https://x.example/a b",
            "https://x.example/a b holds a control character or a space",
            "write the URL on one line, with no spaces or control characters (percent-encode them)",
        ),
        (
            "https://user:s3cret@x.example/",
            "holds a user name or password before its host (user:pass@)",
            "remove it: the fleet signs in with the business certificate, never with a password in a URL",
        ),
        (
            "https://x.example:99999/",
            "https://x.example:99999/ has an invalid port",
            "give a port from 1 to 65535, or none (443)",
        ),
        ("https:///token", "https:///token has no host", "write https://HOST/PATH"),
        (
            "https://x.example:/",  # review12d: online it went to :443
            "https://x.example:/ has an invalid port",
            "give a port from 1 to 65535, or none (443)",
        ),
        *(
            (url, f"{url} has a query (?) or a fragment (#)", QUERY_FIX)
            for url in ("https://x.example/?x=1", "https://x.example/#f", "https://x.example/?")
        ),
    ],
)
@pytest.mark.parametrize(
    ("table", "key"),
    [
        ("endpoints.test", "token_url"),
        ("endpoints.test", "api_url"),
        ("endpoints.test", "audience"),
        ("admin.test", "token_url"),
    ],
)
def test_a_malformed_endpoint_url_is_refused_at_load_with_its_line(
    run: Run, tmp_path: Path, table: str, key: str, value: str, problem: str, fix: str
) -> None:
    """review12b N9: control characters, userinfo, a bad port or no host fail at load, not per client online."""
    extra = 'client_id = "portal-admin"\n' if table.startswith("admin") else ""
    result = plan_offline(run, tmp_path, f'[{table}]\n{extra}{key} = "{value}"\n\n' + CLIENT)
    assert result.exit_code == 3
    line = 3 if extra else 2
    assert (
        result.stderr
        == f"jwks-tool: error: {tmp_path / 'm.toml'}:{line}: {key} in [{table}] {problem}; {fix.format(key=key)}\n"
    )
    assert "s3cret" not in result.stderr  # the password is never shown
    assert not (tmp_path / "store").exists()


def test_a_ca_bundle_that_is_missing_or_not_pem_is_refused_at_load_with_its_line(run: Run, tmp_path: Path) -> None:
    """review12b N9: ``ca_bundle`` is checked as --ca-bundle is, at load (it failed online with no line)."""
    missing = tmp_path / "nonexistent.pem"
    result = plan_offline(run, tmp_path, f'[endpoints.test]\nca_bundle = "{missing}"\n\n' + CLIENT)
    assert result.exit_code == 3
    assert result.stderr == (
        f"jwks-tool: error: {tmp_path / 'm.toml'}:2: cannot read ca_bundle in [endpoints.test] {missing}: No such "
        "file or directory; check the path and its permissions\n"
    )
    text = tmp_path / "text.pem"
    text.write_text("not a certificate\n")
    result = plan_offline(
        run, tmp_path, f'[endpoints.test]\ntoken_url = "https://mp.example/token"\nca_bundle = "{text}"\n\n' + CLIENT
    )
    assert result.exit_code == 3
    assert result.stderr == (
        f"jwks-tool: error: {tmp_path / 'm.toml'}:3: ca_bundle in [endpoints.test] {text} holds no PEM certificate; "
        "give a PEM file of CA certificates (-----BEGIN CERTIFICATE----- blocks)\n"
    )


@pytest.mark.parametrize(
    ("first", "second", "place"),
    [
        (
            'to = "dotenv"\nfor = "nais"\nout = "app.env"',
            'to = "dotenv"\nfor = "nais"\nout = "./app.env"',
            "{dir}/app.env",
        ),
        (
            'to = "keyvault"\nfor = "apiclient"\nvault = "app-kv"',
            'to = "keyvault"\nvault = "https://APP-KV.vault.azure.net/"\n'
            'secret_name = "MaskinportenSettings--EncodedJwk"',
            "the secret MaskinportenSettings--EncodedJwk in https://app-kv.vault.azure.net",
        ),
        (
            'to = "kubernetes"\nfor = "nais"\nsecret_name = "mp"\nout = "a.yaml"',
            'to = "kubernetes"\nfor = "nais"\nsecret_name = "mp"\nout = "b.yaml"',
            "the Secret mp in namespace default",
        ),
    ],
    ids=["dotenv", "keyvault", "kubernetes"],
)
def test_two_deliveries_to_one_place_are_refused_at_load(
    run: Run, tmp_path: Path, first: str, second: str, place: str
) -> None:
    """review12c S1: each run rewrote the place with the other client's key, so its consumers' key changed hourly."""
    other = CLIENT.replace('"acme"', '"other"').replace('"acme-id"', '"other-id"')
    text = f"{CLIENT}[[clients.deliver]]\n{first}\n\n{other}[[clients.deliver]]\n{second}\n"
    result = plan_offline(run, tmp_path, text)
    first_line = text.splitlines().index("[[clients.deliver]]") + 1
    line = text.splitlines().index("[[clients.deliver]]", first_line) + 1
    assert (result.exit_code, result.stderr) == (
        3,
        f"jwks-tool: error: {tmp_path / 'm.toml'}:{line}: client 'other' delivery #1 (to = "
        f"{second.split(chr(10))[0].split(' = ')[1].strip(chr(34))!r}) writes {place.format(dir=tmp_path)}, as client "
        f"'acme' delivery #1 does (line {first_line}): each run would replace the other's key; give each delivery a "
        "place of "
        "its own (another out, secret_name, prefix or vault)\n",
    )


def test_a_vault_url_with_a_user_and_password_is_refused_at_load(run: Run, tmp_path: Path) -> None:
    """review12c: a keyvault delivery's vault took `user:pass@` (the endpoints refuse it) and failed online as "not
    signed in to Azure"; the password is never shown."""
    text = f'{CLIENT}[[clients.deliver]]\nto = "keyvault"\nfor = "apiclient"\nvault = "https://u:pw1@kv.example/"\n'
    result = plan_offline(run, tmp_path, text)
    assert result.exit_code == 3
    assert "pw1" not in result.stderr
    assert result.stderr.startswith(f"jwks-tool: error: {tmp_path / 'm.toml'}:7: the vault ")
    assert "in client 'acme' delivery #1 (to = 'keyvault')" in result.stderr


@pytest.mark.parametrize(
    ("vault", "problem", "fix"),
    [
        (
            "https://kv.example:/",
            "https://kv.example:/ has an invalid port",
            "give a port from 1 to 65535, or none (443)",
        ),
        ("https://kv.example/?x=1", "https://kv.example/?x=1 has a query (?) or a fragment (#)", QUERY_FIX),
        ("https://kv.example/#f", "https://kv.example/#f has a query (?) or a fragment (#)", QUERY_FIX),
    ],
)
def test_a_vault_url_with_an_empty_port_a_query_or_a_fragment_is_refused_at_load(
    run: Run, tmp_path: Path, vault: str, problem: str, fix: str
) -> None:
    """review12d: these passed load (plan printed "https://kv.example/?x=1/"; the query form slipped past the
    same-vault check)."""
    text = f'{CLIENT}[[clients.deliver]]\nto = "keyvault"\nfor = "apiclient"\nvault = "{vault}"\n'
    result = plan_offline(run, tmp_path, text)
    assert (result.exit_code, result.stderr) == (
        3,
        f"jwks-tool: error: {tmp_path / 'm.toml'}:7: the vault {problem} in client 'acme' delivery #1 "
        f"(to = 'keyvault'); {fix}\n",
    )
    assert not (tmp_path / "store").exists()


def test_an_empty_deliver_table_says_it_has_no_to(run: Run, tmp_path: Path) -> None:
    """review12d: it said "to must name a destination (...), not None" (Python's None)."""
    result = plan_offline(run, tmp_path, f"{CLIENT}[[clients.deliver]]\n")
    assert (result.exit_code, result.stdout) == (3, "")
    assert result.stderr == (
        f"jwks-tool: error: {tmp_path / 'm.toml'}:7: client 'acme' delivery #1 has no to (the destination: "
        'keyvault, kubernetes, dotenv, file or a plug-in\'s); write to = "keyvault"\n'
    )


@pytest.mark.parametrize(
    ("key", "fix"),
    [
        ("reloader", "write reloader = true"),
        ("allow_outside", "write allow_outside = true (out may be outside the manifest's folder) or remove it"),
        ("adopt", "write adopt = true (replace what jwks-tool did not write) or remove it"),
    ],
)
def test_a_true_or_false_key_holding_anything_else_is_refused_with_its_line(
    run: Run, tmp_path: Path, key: str, fix: str
) -> None:
    delivery = '[[clients.deliver]]\nto = "kubernetes"\nfor = "nais"\nsecret_name = "mp"\nout = "s.yaml"\n'
    result = plan_offline(run, tmp_path, f'{CLIENT}{delivery}{key} = "yes"\n')
    assert (result.exit_code, result.stderr) == (
        3,
        f"jwks-tool: error: {tmp_path / 'm.toml'}:12: client 'acme' delivery #1: {key} must be true or false; {fix}\n",
    )
