"""deliver --to aws: AWS Secrets Manager secrets, over moto's server behind HTTPS (tests/servers/aws.py), with the real
boto3 client; what was written is read the way each consumer reads it and a token is got with it.

pymaskinporten 2.1.0's ``load_config("aws", region=..., prefix=...)`` makes ``boto3.client("secretsmanager")`` (so
the endpoint and CA come from AWS_ENDPOINT_URL_SECRETS_MANAGER and AWS_CA_BUNDLE) and reads ``SecretString`` of
``prefix + field.replace("_", "-")`` for PRIVATE_KEY, MASKINPORTEN_CLIENT_ID, KID and SCOPE: run itself in a Python
3.13 venv where there is one, and by those rules in process always.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import jwt
import pytest
from click.testing import Result
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from jwks_tool.core.consumers import Consumer, Item
from jwks_tool.destinations.aws import IAM_ACTIONS, SecretsManagerSecrets, request_token
from jwks_tool.destinations.interface import Delivery, Target
from jwks_tool.errors import InputError
from tests.integration.test_deliver import CLIENT, PYMASKINPORTEN, SCOPES, _python_313, scope_args, token_with
from tests.servers.aws import REGION, AwsServer
from tests.servers.maskinporten import MaskinportenServer

pytestmark = pytest.mark.integration
Run = Callable[..., Result]
PYM_FIELDS = ["PRIVATE_KEY", "MASKINPORTEN_CLIENT_ID", "KID", "SCOPE"]


@pytest.fixture
def mp(monkeypatch: pytest.MonkeyPatch) -> Iterator[MaskinportenServer]:
    import certifi

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    with MaskinportenServer() as server:
        yield server


@pytest.fixture
def acme(run: Run, mp: MaskinportenServer) -> dict[str, Any]:
    """A set "acme" whose key is registered for CLIENT (as in test_deliver.py); its private JWK, to compare."""
    assert run("generate", "acme", "--size", "2048").exit_code == 0
    jwks = json.loads(run("export", "acme", "--format", "jwks").output)
    mp.register_client(CLIENT, SCOPES, jwks)
    return dict(json.loads(run("export", "acme", "--private").output))


@pytest.fixture(scope="module")
def aws_server() -> Iterator[AwsServer]:
    with AwsServer() as server:
        yield server


@pytest.fixture
def aws(aws_server: AwsServer, monkeypatch: pytest.MonkeyPatch) -> AwsServer:
    """The server, emptied, with the environment that points boto3 (jwks-tool's and the consumers') at it; it lists
    versions as AWS does (those without a staging label only in ListSecretVersionIds with IncludeDeprecated)."""
    aws_server.reset()
    aws_server.aws_version_listing = True
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    for name, value in aws_server.env().items():
        monkeypatch.setenv(name, value)
    return aws_server


def one_line_error(result: Result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def consumer_client() -> Any:
    """A Secrets Manager client made the way pymaskinporten makes it: boto3's defaults, from the environment."""
    return boto3.client("secretsmanager", region_name=REGION)


def read_like_pymaskinporten(prefix: str) -> dict[str, str]:
    """pymaskinporten 2.1.0 ``_load_aws_secrets``: ``SecretString`` of prefix + field with - for _, stripped."""
    client = consumer_client()
    out = {}
    for field in PYM_FIELDS:
        value = client.get_secret_value(SecretId=prefix + field.replace("_", "-")).get("SecretString")
        assert value is not None
        out[field] = value.strip()  # its model strips whitespace
    return out


def deliver(run: Run, preset: str, *extra: str, env: dict[str, str] | None = None) -> Result:
    args = scope_args() if preset != "altinn-studio" else ["--client-id", CLIENT]
    return run("deliver", "acme", "--to", "aws", "--for", preset, *args, *extra, env=env)


# ---- pymaskinporten ------------------------------------------------------------------------------------------------
def test_pymaskinporten_reads_the_secrets_by_its_rules_and_gets_a_token(
    run: Run, aws: AwsServer, mp: MaskinportenServer, acme: dict[str, Any]
) -> None:
    prefix = "maskinporten/test/"
    result = deliver(run, "pymaskinporten", "--prefix", prefix, "--region", REGION)
    assert result.exit_code == 0, result.stderr
    kid = acme["kid"]
    assert result.output.splitlines() == [
        f"created           {prefix}MASKINPORTEN-CLIENT-ID  kid {kid}",
        f"created           {prefix}KID  kid {kid}",
        f"created           {prefix}SCOPE  kid {kid}",
        f"created           {prefix}PRIVATE-KEY  kid {kid}",
    ]
    assert aws.operations == ["DescribeSecret"] * 4 + ["CreateSecret"] * 4
    read = read_like_pymaskinporten(prefix)
    assert read["PRIVATE_KEY"].startswith("-----BEGIN PRIVATE KEY-----\n")  # PKCS#8, unencrypted
    assert (read["KID"], read["MASKINPORTEN_CLIENT_ID"], read["SCOPE"]) == (kid, CLIENT, " ".join(SCOPES))
    token_with(mp, key=read["PRIVATE_KEY"], kid=read["KID"], client_id=CLIENT, scope=read["SCOPE"], aud=mp.audience)

    client = aws.client()
    key_secret = client.describe_secret(SecretId=f"{prefix}PRIVATE-KEY")
    tags = {tag["Key"]: tag["Value"] for tag in key_secret["Tags"]}
    assert {k: v for k, v in tags.items() if k != "expires"} == {
        "managed-by": "jwks-tool",
        "set": "acme",
        "env": "test",
        "kid": kid,
        "thumbprint": json.loads(run("show", "acme", "--json").output)["keys"][0]["thumbprint"],
    }
    assert key_secret["Description"] == "Maskinporten private key for pymaskinporten, from jwks-tool set acme (test)"
    pem = client.get_secret_value(SecretId=f"{prefix}PRIVATE-KEY")["SecretString"]
    version = request_token(f"{prefix}PRIVATE-KEY", pem)
    assert key_secret["VersionIdsToStages"] == {version: ["AWSCURRENT"]}
    for name in (f"{prefix}{field.replace('_', '-')}" for field in PYM_FIELDS):
        described = client.describe_secret(SecretId=name)
        shown = json.dumps([described["Name"], described["Description"], described["Tags"]])
        assert acme["d"] not in shown
        assert "PRIVATE KEY" not in shown


@pytest.fixture(scope="session")
def pymaskinporten_aws_python(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The python of a fresh venv (Python >= 3.13) with pymaskinporten[aws] installed."""
    interpreter = _python_313()
    if interpreter is None:
        pytest.skip("pymaskinporten needs Python >= 3.13 and none is installed here (pyenv install 3.13)")
    venv = tmp_path_factory.mktemp("pymaskinporten-aws-venv")
    made = subprocess.run([interpreter, "-m", "venv", str(venv)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot make a venv with {interpreter}: {made.stderr.strip()[-300:]}")
    python = str(venv / "bin" / "python")
    installed = subprocess.run(
        [python, "-m", "pip", "install", "-q", PYMASKINPORTEN.replace("==", "[aws]==")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if installed.returncode != 0:
        pytest.skip(f"cannot install {PYMASKINPORTEN}[aws] from PyPI: {installed.stderr.strip()[-300:]}")
    return python


READ_AND_ASK = """
import json, sys
from pymaskinporten.config import load_config
from pymaskinporten.request_token import request_maskinporten_token

region, prefix, token_url, audience = sys.argv[1:5]
cfg = load_config("aws", region=region, prefix=prefix)
token, expires_in = request_maskinporten_token("test", cfg, token_url=token_url, audience=audience)
print(json.dumps({"kid": cfg.KID, "client_id": cfg.MASKINPORTEN_CLIENT_ID, "scope": cfg.SCOPE, "token": token}))
"""


def test_pymaskinporten_itself_reads_aws_secrets_manager_and_gets_a_token(
    run: Run, aws: AwsServer, mp: MaskinportenServer, acme: dict[str, Any], pymaskinporten_aws_python: str
) -> None:
    prefix = "maskinporten/prod-like/"
    assert deliver(run, "pymaskinporten", "--prefix", prefix).exit_code == 0  # the region from AWS_DEFAULT_REGION
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy") and not k.startswith("JWKS_TOOL_")}
    env |= {"SSL_CERT_FILE": mp.ca_path, "NO_PROXY": "127.0.0.1,localhost", "STRICT_KEY_VALIDATION": "1"}
    done = subprocess.run(
        [pymaskinporten_aws_python, "-c", READ_AND_ASK, REGION, prefix, mp.token_url, mp.audience],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    read = json.loads(done.stdout)
    assert (read["kid"], read["client_id"], read["scope"]) == (acme["kid"], CLIENT, " ".join(SCOPES))
    assert read["token"] == mp.issued_tokens[-1].access_token


# ---- NAIS and Altinn.ApiClients.Maskinporten -----------------------------------------------------------------------
def test_nais_secrets_read_back_get_a_token(
    run: Run, aws: AwsServer, mp: MaskinportenServer, acme: dict[str, Any]
) -> None:
    assert deliver(run, "nais", "--prefix", "team-a/").exit_code == 0
    client = consumer_client()
    names = [s["Name"] for s in client.list_secrets()["SecretList"]]
    assert sorted(names) == sorted(
        f"team-a/MASKINPORTEN-{name}"
        for name in ("CLIENT-ID", "CLIENT-JWK", "SCOPES", "WELL-KNOWN-URL", "ISSUER", "JWKS-URI", "TOKEN-ENDPOINT")
    )

    def value(name: str) -> str:
        return str(client.get_secret_value(SecretId=f"team-a/MASKINPORTEN-{name}")["SecretString"])

    jwk = jwt.PyJWK(json.loads(value("CLIENT-JWK")))
    assert jwk.key_id == acme["kid"]
    assert value("ISSUER") == "https://test.maskinporten.no/"
    assert value("TOKEN-ENDPOINT") == "https://test.maskinporten.no/token"
    token_with(mp, key=jwk.key, kid=acme["kid"], client_id=value("CLIENT-ID"), scope=value("SCOPES"), aud=mp.audience)


def test_apiclient_secret_read_back_gets_a_token(
    run: Run, aws: AwsServer, mp: MaskinportenServer, acme: dict[str, Any]
) -> None:
    result = deliver(run, "apiclient")
    assert result.exit_code == 0, result.stderr
    assert result.output.splitlines() == [
        f"created           MaskinportenSettings--ClientId  kid {acme['kid']}",
        f"created           MaskinportenSettings--EncodedJwk  kid {acme['kid']}",
    ]
    client = consumer_client()
    encoded = client.get_secret_value(SecretId="MaskinportenSettings--EncodedJwk")["SecretString"]
    jwk = jwt.PyJWK(json.loads(base64.b64decode(encoded)))  # EncodedJwk: base64 of the private JWK's JSON
    client_id = client.get_secret_value(SecretId="MaskinportenSettings--ClientId")["SecretString"]
    token_with(mp, key=jwk.key, kid=acme["kid"], client_id=client_id, scope=SCOPES[0], aud=mp.audience)


# ---- idempotence, rotation, rollback -------------------------------------------------------------------------------
def test_a_re_push_writes_nothing_a_rotation_adds_versions_and_a_rollback_moves_awscurrent_back(
    run: Run, aws: AwsServer, acme: dict[str, Any]
) -> None:
    first = acme["kid"]
    assert deliver(run, "pymaskinporten").exit_code == 0
    first_operations = set(aws.operations)
    aws.operations.clear()
    again = deliver(run, "pymaskinporten")
    assert again.exit_code == 0, again.stderr
    assert [line.split()[0] for line in again.output.splitlines()] == ["unchanged"] * 4
    assert aws.operations == ["DescribeSecret"] * 4  # nothing written, no value read

    assert run("rotate", "acme", "--size", "2048").exit_code == 0
    assert run("rotate", "acme", "--promote").exit_code == 0  # the first key stays, with its private half
    second = json.loads(run("export", "acme").output)["kid"]
    assert second != first
    rotated = deliver(run, "pymaskinporten")
    assert rotated.exit_code == 0, rotated.stderr
    assert rotated.output.splitlines() == [
        f"unchanged         MASKINPORTEN-CLIENT-ID  kid {second}",
        f"new-version       KID  kid {second}",
        f"unchanged         SCOPE  kid {second}",
        f"new-version       PRIVATE-KEY  kid {second}",
    ]
    client = aws.client()
    described = client.describe_secret(SecretId="PRIVATE-KEY")
    assert sorted(map(tuple, described["VersionIdsToStages"].values())) == [("AWSCURRENT",), ("AWSPREVIOUS",)]
    assert {t["Key"]: t["Value"] for t in described["Tags"]}["kid"] == second
    assert client.get_secret_value(SecretId="KID")["SecretString"] == second

    back = deliver(run, "pymaskinporten", "--kid", first)  # the earlier key again: its versions are made current
    assert back.exit_code == 0, back.stderr
    assert [line.split()[0] for line in back.output.splitlines()] == [
        "unchanged", "made-current", "unchanged", "made-current"
    ]  # fmt: skip
    # AWS answers AWSCURRENT when no stage is named; moto 5.2 still answers the last written version then, so ask
    # for the stage by name here
    assert client.get_secret_value(SecretId="KID", VersionStage="AWSCURRENT")["SecretString"] == first
    pem = client.get_secret_value(SecretId="PRIVATE-KEY", VersionStage="AWSCURRENT")["SecretString"]
    loaded = serialization.load_pem_private_key(pem.encode(), None)
    assert isinstance(loaded, rsa.RSAPrivateKey)
    assert jwt.utils.to_base64url_uint(loaded.private_numbers().d).decode() == acme["d"]
    assert {t["Key"]: t["Value"] for t in client.describe_secret(SecretId="PRIVATE-KEY")["Tags"]}["kid"] == first
    assert len(client.list_secret_version_ids(SecretId="PRIVATE-KEY")["Versions"]) == 2
    called = {op for op in {*first_operations, *aws.operations} if op != "GetSecretValue"}  # ours: reads
    assert called == {action.removeprefix("secretsmanager:") for action in IAM_ACTIONS}  # every one, and no other
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    policy = readme.split("### AWS Secrets Manager secrets")[1].split("```json")[1].split("```")[0]
    assert sorted(json.loads(policy)["Statement"][0]["Action"]) == sorted(IAM_ACTIONS)


def test_a_rollback_to_a_value_three_versions_back_makes_that_version_current(
    run: Run, aws: AwsServer, acme: dict[str, Any]
) -> None:
    """c1 -> c2 -> c3 -> c4 -> c1: c1's version has no staging label any more, so AWS's DescribeSecret does not list
    it and a PutSecretValue with its token is ignored; it must be found and AWSCURRENT moved to it."""
    name = "MaskinportenSettings--ClientId"

    def client_id(value: str, *extra: str) -> Result:
        result = run("deliver", "acme", "--to", "aws", "--for", "apiclient", "--client-id", value, *extra)
        assert result.exit_code == 0, result.stderr
        return result

    for value in ("c1", "c2", "c3", "c4"):
        client_id(value)
    client = aws.client()
    assert len(client.describe_secret(SecretId=name)["VersionIdsToStages"]) == 2  # c3, c4: as AWS lists them
    assert client_id("c1", "--dry-run").output.splitlines()[0].split()[:2] == ["would-make-current", name]
    back = client_id("c1")
    assert back.output.splitlines() == [
        f"made-current      {name}  kid {acme['kid']}",
        f"unchanged         MaskinportenSettings--EncodedJwk  kid {acme['kid']}",
    ]
    assert client.get_secret_value(SecretId=name, VersionStage="AWSCURRENT")["SecretString"] == "c1"
    assert client.get_secret_value(SecretId=name, VersionStage="AWSPREVIOUS")["SecretString"] == "c4"
    versions = client.list_secret_version_ids(SecretId=name, IncludeDeprecated=True)["Versions"]
    assert len(versions) == 4  # no fifth version
    assert {v["VersionId"] for v in versions if "AWSCURRENT" in v["VersionStages"]} == {request_token(name, "c1")}
    assert client_id("c1").output.splitlines()[0].split()[0] == "unchanged"


def test_a_dry_run_redacts_and_writes_nothing(run: Run, aws: AwsServer, acme: dict[str, Any]) -> None:
    result = deliver(run, "pymaskinporten", "--dry-run", "--json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.output)
    assert document["to"] == "aws"
    assert [o["action"] for o in document["written"]] == ["would-create"] * 4
    shown = {item["name"]: item["value"] for item in document["items"]}
    assert shown["PRIVATE-KEY"].endswith("characters, redacted>")
    assert "PRIVATE KEY" not in result.output
    assert aws.operations == ["DescribeSecret"] * 4
    assert aws.client().list_secrets()["SecretList"] == []


def test_a_lost_reply_to_a_write_is_retried_as_the_same_request(run: Run, aws: AwsServer, acme: dict[str, Any]) -> None:
    assert deliver(run, "pymaskinporten").exit_code == 0
    assert run("rotate", "acme", "--all-steps", "--overlap", "0").exit_code == 0
    rule = aws.faults.add("lose_reply", path="/PutSecretValue", count=2)  # both writes land, both replies are lost
    result = deliver(run, "pymaskinporten")
    assert result.exit_code == 0, result.stderr
    assert rule.hits == 2
    assert aws.operations.count("PutSecretValue") == 4  # each sent twice: the same token, one version
    client = aws.client()
    for name in ("KID", "PRIVATE-KEY"):
        assert len(client.list_secret_version_ids(SecretId=name)["Versions"]) == 2


# ---- failures ----------------------------------------------------------------------------------------------------
def test_a_failure_part_way_names_what_was_written_and_a_re_run_completes(
    run: Run, aws: AwsServer, acme: dict[str, Any]
) -> None:
    ours = [{"Key": "managed-by", "Value": "jwks-tool"}]
    aws.client().create_secret(Name="SCOPE", SecretString="an older scope", Tags=ours)  # SCOPE needs a new version
    aws.faults.add("error", path="/PutSecretValue", status=400, count=None)
    result = deliver(run, "pymaskinporten")
    assert result.exit_code == 10
    assert one_line_error(result) == (
        "jwks-tool: error: cannot write a new version of the secret SCOPE: AWS Secrets Manager (eu-north-1) answered "
        "InternalServiceError (HTTP 400) (written before it: MASKINPORTEN-CLIENT-ID, KID; not written: SCOPE, "
        "PRIVATE-KEY); injected"
    )
    assert [s["Name"] for s in aws.client().list_secrets()["SecretList"]] == ["SCOPE", "MASKINPORTEN-CLIENT-ID", "KID"]
    aws.faults.clear()
    again = deliver(run, "pymaskinporten")
    assert again.exit_code == 0, again.stderr
    assert [line.split()[:2] for line in again.output.splitlines()] == [
        ["unchanged", "MASKINPORTEN-CLIENT-ID"],
        ["unchanged", "KID"],
        ["new-version", "SCOPE"],
        ["created", "PRIVATE-KEY"],
    ]
    assert read_like_pymaskinporten("")["SCOPE"] == " ".join(SCOPES)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ("--prefix", "team a/"),
            "'team a/MASKINPORTEN-CLIENT-ID' is not a valid AWS Secrets Manager secret name; use a --prefix of "
            "A-Z a-z 0-9 / _ + = . @ - (names of at most 512 characters)",
        ),
        (
            ("--prefix", "x" * 500),
            f"'{'x' * 97}...' is not a valid AWS Secrets Manager secret name; use a --prefix of "
            "A-Z a-z 0-9 / _ + = . @ - (names of at most 512 characters)",
        ),
        (("--region", "Stockholm"), "invalid AWS region 'Stockholm'; give one like eu-north-1"),
    ],
)
def test_a_bad_name_or_region_is_one_line_exit_3_before_any_request(
    run: Run, aws: AwsServer, acme: dict[str, Any], extra: tuple[str, ...], message: str
) -> None:
    result = deliver(run, "pymaskinporten", *extra)
    assert result.exit_code == 3
    assert one_line_error(result) == f"jwks-tool: error: {message}"
    assert aws.operations == []


def test_no_region_anywhere_is_one_line_exit_3(
    run: Run, aws: AwsServer, acme: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    result = deliver(run, "nais")
    assert result.exit_code == 3
    assert one_line_error(result) == (
        "jwks-tool: error: --to aws needs the AWS region; pass --region (e.g. eu-north-1) or set AWS_REGION"
    )
    assert aws.operations == []


def test_a_secret_scheduled_for_deletion_is_exit_7_before_any_write(
    run: Run, aws: AwsServer, acme: dict[str, Any]
) -> None:
    aws.client().create_secret(Name="PRIVATE-KEY", SecretString="old")
    aws.client().delete_secret(SecretId="PRIVATE-KEY", RecoveryWindowInDays=7)
    aws.operations.clear()
    result = deliver(run, "pymaskinporten")
    assert result.exit_code == 7
    assert one_line_error(result) == (
        "jwks-tool: error: the secret PRIVATE-KEY in AWS Secrets Manager (eu-north-1) is scheduled for deletion; "
        "restore it first: `aws secretsmanager restore-secret --secret-id PRIVATE-KEY`"
    )
    assert aws.operations == ["DescribeSecret"] * 4  # all read, none written


def test_a_plain_http_endpoint_is_refused_before_any_request(run: Run, aws: AwsServer, acme: dict[str, Any]) -> None:
    """The private key must not travel in clear: http:// is refused (exit 3), loopback only with the opt-in."""
    for name, url in [
        ("AWS_ENDPOINT_URL_SECRETS_MANAGER", aws.plain_url),
        ("AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://203.0.113.5:8085"),
    ]:
        result = deliver(run, "pymaskinporten", env={name: url})
        assert result.exit_code == 3
        assert one_line_error(result) == (
            f"jwks-tool: error: the AWS endpoint {url} ({name}) is plain http: secrets would travel in clear; "
            f"set {name} to an https:// URL (for a test server on this machine: JWKS_TOOL_ALLOW_HTTP_LOOPBACK=1)"
        )
    os.environ.pop("AWS_ENDPOINT_URL_SECRETS_MANAGER")
    generic = deliver(run, "pymaskinporten", env={"AWS_ENDPOINT_URL": aws.plain_url})
    assert generic.exit_code == 3
    assert "(AWS_ENDPOINT_URL) is plain http" in one_line_error(generic)
    remote = deliver(
        run, "pymaskinporten", env={"AWS_ENDPOINT_URL": "http://203.0.113.5:8085", "JWKS_TOOL_ALLOW_HTTP_LOOPBACK": "1"}
    )
    assert remote.exit_code == 3  # the opt-in is for this machine only
    assert aws.operations == []
    allowed = deliver(
        run, "pymaskinporten", env={"AWS_ENDPOINT_URL": aws.plain_url, "JWKS_TOOL_ALLOW_HTTP_LOOPBACK": "1"}
    )
    assert allowed.exit_code == 0, allowed.stderr
    assert [line.split()[0] for line in allowed.output.splitlines()] == ["created"] * 4


def test_a_secret_jwks_tool_did_not_make_is_refused_unless_adopt(
    run: Run, aws: AwsServer, acme: dict[str, Any]
) -> None:
    """A wrong --prefix in a shared account must not overwrite another team's secrets: exit 7 before any write."""
    aws.client().create_secret(Name="foreign/KID", SecretString="theirs", Tags=[{"Key": "owner", "Value": "team-b"}])
    aws.operations.clear()
    refused = deliver(run, "pymaskinporten", "--prefix", "foreign/")
    assert refused.exit_code == 7
    assert one_line_error(refused) == (
        "jwks-tool: error: the secret foreign/KID in AWS Secrets Manager (eu-north-1) was not made by jwks-tool "
        "(no managed-by=jwks-tool tag), so nothing was written; check --prefix, or pass --adopt to take it over"
    )
    assert aws.operations == ["DescribeSecret"] * 4
    assert aws.client().get_secret_value(SecretId="foreign/KID")["SecretString"] == "theirs"
    adopted = deliver(run, "pymaskinporten", "--prefix", "foreign/", "--adopt")
    assert adopted.exit_code == 0, adopted.stderr
    assert [line.split()[:2] for line in adopted.output.splitlines()][1] == ["new-version", "foreign/KID"]
    tags = {t["Key"]: t["Value"] for t in aws.client().describe_secret(SecretId="foreign/KID")["Tags"]}
    assert tags["managed-by"] == "jwks-tool"
    again = deliver(run, "pymaskinporten", "--prefix", "foreign/")  # now jwks-tool's: no --adopt needed
    assert [line.split()[0] for line in again.output.splitlines()] == ["unchanged"] * 4


def test_the_ca_bundle_option_is_used_for_tls(
    run: Run, aws: AwsServer, acme: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_CA_BUNDLE")
    result = deliver(run, "nais", "--ca-bundle", aws.ca_path)
    assert result.exit_code == 0, result.stderr
    refused = deliver(run, "nais")
    assert refused.exit_code == 10
    line = one_line_error(refused)
    assert "TLS to AWS Secrets Manager (eu-north-1) failed" in line
    assert line.endswith("; for a private CA pass --ca-bundle or set AWS_CA_BUNDLE")  # deliver's option, not a URL's
    missing = deliver(run, "nais", env={"AWS_CA_BUNDLE": "/nope.pem"})
    assert missing.exit_code == 3
    assert one_line_error(missing) == (
        "jwks-tool: error: the CA bundle /nope.pem is not a file; check AWS_CA_BUNDLE (a PEM file of CAs)"
    )


# ---- the library (no server) ---------------------------------------------------------------------------------------
def _delivery(*items: Item) -> Delivery:
    return Delivery(Consumer.NAIS, items, "acme", "test", "k1", "tp", datetime(2027, 1, 1), None)


def test_every_item_is_checked_before_anything_is_sent() -> None:
    destination = SecretsManagerSecrets.from_target(Target("aws", extra={"region": "eu-north-1"}))
    small = Item("client_id", "MASKINPORTEN-CLIENT-ID", "c", "text/plain", False)
    big = Item("jwk", "MASKINPORTEN-CLIENT-JWK", "x" * 65537, "application/jwk+json", True)
    with pytest.raises(InputError, match=r"MASKINPORTEN-CLIENT-JWK is 65,537 bytes; AWS Secrets Manager holds at most"):
        destination.deliver(_delivery(small, big))  # no client is made: no endpoint is configured here
    assert destination._client is None
    fits = Item("jwk", "MASKINPORTEN-CLIENT-JWK", "x" * 65536, "application/jwk+json", True)
    destination.check(_delivery(small, fits))
    bad_set = dataclasses_replace(_delivery(small), set_name="acme#1")
    with pytest.raises(InputError, match="the tag set='acme#1' is not valid"):
        destination.check(bad_set)


def dataclasses_replace(delivery: Delivery, **changes: Any) -> Delivery:
    import dataclasses

    return dataclasses.replace(delivery, **changes)


def test_plain_http_to_loopback_never_goes_through_a_proxy(run: Run, aws: AwsServer, acme: dict[str, Any]) -> None:
    """A proxy from HTTP_PROXY would see the private key in clear: loopback endpoints bypass it, as the Maskinporten
    client does (a listener stands in for the proxy and must get no connection)."""
    import socket

    proxy = socket.socket()
    proxy.bind(("127.0.0.1", 0))
    proxy.listen(8)
    proxy.settimeout(0.2)
    url = f"http://127.0.0.1:{proxy.getsockname()[1]}"
    unset = dict.fromkeys(("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "AWS_ENDPOINT_URL_SECRETS_MANAGER"))
    try:
        result = deliver(
            run,
            "pymaskinporten",
            env={
                "AWS_ENDPOINT_URL": aws.plain_url,
                "JWKS_TOOL_ALLOW_HTTP_LOOPBACK": "1",
                "HTTP_PROXY": url,
                "http_proxy": url,
                **unset,  # type: ignore[dict-item]
            },
        )
        with pytest.raises(TimeoutError):
            proxy.accept()[0].close()
    finally:
        proxy.close()
    assert result.exit_code == 0, result.output
    assert [line.split()[0] for line in result.output.splitlines()] == ["created"] * 4
