"""The AWS Secrets Manager store against moto's server mode, over HTTPS (tests/servers/aws.py), with the real boto3.

The conformance suite, the CLI end to end on ``secretsmanager://eu-north-1/jwks-tool`` (boto3 finds the endpoint and
the CA through AWS_ENDPOINT_URL_SECRETS_MANAGER and AWS_CA_BUNDLE, as a user's would), concurrent writers (the
compare-and-swap on AWSCURRENT), throttling, lost replies, a server that is down and values edited outside jwks-tool.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import Result

from jwks_tool.core.model import Env, KeyState, SetRef
from jwks_tool.errors import ConflictError, StoreCorruptError, StoreError
from jwks_tool.stores import store_class_for
from jwks_tool.stores.interface import KeyStore
from jwks_tool.stores.secretsmanager import (
    CONFIG_VERSION,
    MAX_SECRET_BYTES,
    SecretsManagerStore,
    connection_from_url,
)
from jwks_tool.testing.store_conformance import StoreConformance, sample_record, sample_set
from tests.servers.aws import AwsServer

pytestmark = pytest.mark.integration
Run = Callable[..., Result]
URL = "secretsmanager://eu-north-1/jwks-tool"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def aws_server() -> Iterator[AwsServer]:
    with AwsServer() as server:
        yield server


@pytest.fixture
def aws(aws_server: AwsServer, monkeypatch: pytest.MonkeyPatch) -> AwsServer:
    """The server, emptied, with the environment that points boto3 at it."""
    aws_server.start()  # again, after a test that stopped its front
    aws_server.reset()
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


class TestSecretsManagerStore(StoreConformance):
    @pytest.fixture
    def store(self, aws: AwsServer) -> KeyStore:
        return SecretsManagerStore.from_url(URL)


# ---- URLs (no server) -----------------------------------------------------------------------------------------------
def test_urls_and_options() -> None:
    assert store_class_for(URL) is SecretsManagerStore
    store = SecretsManagerStore.from_url(f"{URL}/team-a?endpoint=https://vpce.example:8443&max_attempts=3&ca_bundle=/c")
    assert store.describe() == "secretsmanager://eu-north-1/jwks-tool/team-a"
    assert store.connection.endpoint_url == "https://vpce.example:8443"
    assert store.connection.max_attempts == 3
    assert store.connection.ca_bundle == "/c"
    assert store.set_secret(SetRef("Acme.api_1", Env.PROD)) == "jwks-tool/team-a/set/prod/Acme.api_1.json"
    for bad, message in [
        ("secretsmanager://EU/x", "no valid AWS region"),
        ("secretsmanager://eu-north-1/", "invalid secret name prefix ''"),
        ("secretsmanager://eu-north-1/a//b", "invalid secret name prefix"),
        ("secretsmanager://eu-north-1/a b", "invalid secret name prefix"),
        ("secretsmanager://eu-north-1/x?colour=blue", "unknown option 'colour'"),
        ("secretsmanager://eu-north-1/x?max_attempts=0", "max_attempts='0'"),
        ("secretsmanager://eu-north-1/x?endpoint=ftp://h", "endpoint='ftp://h'"),
    ]:
        with pytest.raises(StoreError, match=message):
            connection_from_url(bad)


def test_a_bad_url_is_one_line_exit_5(run: Run) -> None:
    result = run("list", "--store", "secretsmanager://eu-north-1/a//b")
    assert result.exit_code == 5
    assert one_line_error(result) == (
        "jwks-tool: error: invalid secret name prefix 'a//b' in the store URL; use 1-256 characters of "
        "A-Z a-z 0-9 / _ + = . @ -, no / at either end or twice in a row"
    )


# ---- the CLI on a Secrets Manager store -----------------------------------------------------------------------------
def test_cli_end_to_end(run: Run, aws: AwsServer) -> None:
    assert run("generate", "acme", "--size", "2048", "--kid", "k1", "--store", URL).exit_code == 0
    listing = run("list", "--store", URL)
    assert listing.exit_code == 0, listing.stderr
    assert "acme" in listing.output
    shown = run("show", "acme", "--json", "--store", URL)
    assert shown.exit_code == 0, shown.stderr
    assert [key["kid"] for key in json.loads(shown.output)["keys"]] == ["k1"]
    public = json.loads(run("export", "acme", "--store", URL).output)
    assert public["kid"] == "k1"
    assert "d" not in public
    first = json.loads(run("export", "acme", "--private", "--yes", "--store", URL).output)
    rotated = run("rotate", "acme", "--all-steps", "--overlap", "0", "--store", URL)
    assert rotated.exit_code == 0, rotated.stderr
    second = json.loads(run("export", "acme", "--private", "--yes", "--store", URL).output)
    assert second["kid"] != "k1"
    log = run("log", "--store", URL)
    assert log.exit_code == 0, log.stderr
    assert [line.split()[3:6] for line in log.output.splitlines()] == [
        ["k1", "new", "->"],
        [second["kid"], "new", "->"],
        ["k1", "active", "->"],
        [second["kid"], "next", "->"],
        ["k1", "retiring", "->"],
    ]
    assert run("check", "--store", URL).exit_code == 0

    # the layout: three secrets, tags without key material, no private member in any version of any secret
    client = aws.client()
    secrets = {entry["Name"]: entry for entry in client.list_secrets()["SecretList"]}
    audit = next(name for name in secrets if name.startswith("jwks-tool/audit/"))
    assert sorted(secrets) == sorted([audit, "jwks-tool/set/test/acme.json", "jwks-tool/store.json"])
    assert {t["Key"]: t["Value"] for t in secrets["jwks-tool/set/test/acme.json"]["Tags"]} == {
        "jwks-tool": "key-set",
        "set": "acme",
        "env": "test",
    }
    config = client.get_secret_value(SecretId="jwks-tool/store.json")
    assert config["VersionId"] == CONFIG_VERSION
    # (moto answers a GetSecretValue without a stage from its first version, not AWSCURRENT: name the stage)
    current = client.get_secret_value(SecretId="jwks-tool/set/test/acme.json", VersionStage="AWSCURRENT")
    document = json.loads(current["SecretString"])
    assert document["revision"] == 4  # generate, then rotate's three steps
    keys = {key["kid"]: key for key in document["keys"]}
    assert keys["k1"]["state"] == "retired"
    assert keys["k1"]["sealed_private"] is None
    assert keys[second["kid"]]["sealed_private"].count(".") == 4  # a compact JWE, inline
    private_values = [jwk[member] for jwk in (first, second) for member in ("d", "p", "q", "dp", "dq", "qi")]
    for name, entry in secrets.items():
        assert not any(secret in json.dumps(entry, default=str) for secret in private_values), name
        for version in client.list_secret_version_ids(SecretId=name)["Versions"]:
            value = client.get_secret_value(SecretId=name, VersionId=version["VersionId"])["SecretString"]
            assert not any(secret in value for secret in private_values), name


def test_the_store_is_reached_over_https_with_the_environment_s_endpoint(run: Run, aws: AwsServer) -> None:
    """boto3 reads AWS_ENDPOINT_URL_SECRETS_MANAGER and AWS_CA_BUNDLE itself: without the CA, TLS fails."""
    assert run("generate", "acme", "--size", "2048", "--store", URL).exit_code == 0
    assert "ListSecrets" in aws.operations
    os.environ.pop("AWS_CA_BUNDLE")
    result = run("list", "--store", f"{URL}?max_attempts=1")
    assert result.exit_code == 10
    assert one_line_error(result).startswith("jwks-tool: error: cannot read the store configuration: TLS to AWS ")
    # the same server named in the URL instead: endpoint= and ca_bundle=
    os.environ.pop("AWS_ENDPOINT_URL_SECRETS_MANAGER")
    listed = run("list", "--store", f"{URL}?endpoint={aws.url}&ca_bundle={aws.ca_path}")
    assert listed.exit_code == 0, listed.stderr
    assert "acme" in listed.output


def test_a_plain_http_endpoint_is_refused_unless_loopback_and_allowed(
    run: Run, aws: AwsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store's documents and audit log must not travel in clear: http:// only to loopback, with the opt-in."""
    os.environ.pop("AWS_ENDPOINT_URL_SECRETS_MANAGER")
    aws.operations.clear()
    result = run("list", "--store", f"{URL}?endpoint={aws.plain_url}")
    assert result.exit_code == 3
    assert one_line_error(result) == (
        f"jwks-tool: error: the AWS endpoint {aws.plain_url} (endpoint= in the store URL) is plain http: secrets "
        "would travel in clear; set endpoint= in the store URL to an https:// URL (for a test server on this "
        "machine: JWKS_TOOL_ALLOW_HTTP_LOOPBACK=1)"
    )
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://203.0.113.5:8085")
    remote = run("list", "--store", URL, env={"JWKS_TOOL_ALLOW_HTTP_LOOPBACK": "1"})
    assert remote.exit_code == 3
    assert one_line_error(remote).startswith(
        "jwks-tool: error: the AWS endpoint http://203.0.113.5:8085 (AWS_ENDPOINT_URL) is plain http"
    )
    allowed = run("list", "--store", f"{URL}?endpoint={aws.plain_url}", env={"JWKS_TOOL_ALLOW_HTTP_LOOPBACK": "1"})
    assert allowed.exit_code == 6, allowed.stderr  # reached: moto answered that no store is there yet
    assert allowed.stderr.startswith("jwks-tool: error: there is no key store at secretsmanager://")
    assert aws.operations == []  # nothing reached the HTTPS front; the allowed one went to moto directly


# ---- concurrency ----------------------------------------------------------------------------------------------------
@dataclasses.dataclass
class Racer:
    wins: int = 0
    conflicts: int = 0
    errors: list[BaseException] = dataclasses.field(default_factory=list)


def test_two_writers_racing_many_rounds_lose_no_update(aws: AwsServer) -> None:
    """Each round, two writers (store objects of their own, as two machines) read the same revision and both write:
    exactly one wins, the other gets ConflictError, re-reads and writes again. No key is ever lost."""
    SecretsManagerStore.from_url(URL).write_set(sample_set("acme", Env.TEST, "k0"), expected_revision=0)
    ref = SetRef("acme", Env.TEST)
    rounds = 25
    barrier = threading.Barrier(2)
    racers = [Racer(), Racer()]

    def write(index: int) -> None:
        store = SecretsManagerStore.from_url(URL)
        racer = racers[index]
        try:
            for round_ in range(rounds):
                kid = f"r{round_}w{index}"
                barrier.wait(timeout=60)
                first_try = True
                while True:
                    current = store.read_set(ref)
                    assert current is not None
                    if first_try:
                        barrier.wait(timeout=60)  # both have read the same revision
                    try:
                        store.write_set(
                            current.replace_keys([*current.keys, sample_record(kid, KeyState.NEXT)]),
                            expected_revision=current.revision,
                        )
                    except ConflictError:
                        racer.conflicts += 1
                        first_try = False
                        continue
                    if first_try:
                        racer.wins += 1
                    break
        except BaseException as exc:  # re-raised in the test's thread
            racer.errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=write, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert [exc for racer in racers for exc in racer.errors] == []
    assert racers[0].wins + racers[1].wins == rounds  # exactly one first try won each round
    assert racers[0].conflicts + racers[1].conflicts == rounds  # and the other was refused
    final = SecretsManagerStore.from_url(URL).read_set(ref)
    assert final is not None
    assert sorted(key.kid for key in final.keys) == sorted(
        ["k0", *(f"r{r}w{w}" for r in range(rounds) for w in (0, 1))]
    )
    assert final.revision == 1 + 2 * rounds


RACER = """
import sys
from jwks_tool.core.model import Env, KeyState, SetRef
from jwks_tool.errors import ConflictError
from jwks_tool.stores.secretsmanager import SecretsManagerStore
from jwks_tool.testing.store_conformance import sample_record
store = SecretsManagerStore.from_url(sys.argv[1])
ref = SetRef("acme", Env.TEST)
conflicts = 0
for n in range(int(sys.argv[3])):
    while True:
        current = store.read_set(ref)
        try:
            store.write_set(current.replace_keys([*current.keys, sample_record(f"{sys.argv[2]}-{n}", KeyState.NEXT)]),
                            expected_revision=current.revision)
            break
        except ConflictError:
            conflicts += 1
print(conflicts)
"""


def test_two_processes_appending_keys_lose_none(aws: AwsServer) -> None:
    """Two processes add 15 keys each to one set as fast as they can, retrying on ConflictError: all 30 are there."""
    SecretsManagerStore.from_url(URL).write_set(sample_set("acme", Env.TEST, "k0"), expected_revision=0)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, URL, name, "15"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for name in ("a", "b")
    ]
    conflicts = 0
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()
        conflicts += int(out)
    final = SecretsManagerStore.from_url(URL).read_set(SetRef("acme", Env.TEST))
    assert final is not None
    assert sorted(key.kid for key in final.keys) == sorted(["k0", *(f"{p}-{n}" for p in "ab" for n in range(15))])
    assert final.revision == 31
    print(f"conflicts between the two processes: {conflicts}")


def test_audit_appends_from_two_writers_are_all_kept(aws: AwsServer) -> None:
    SecretsManagerStore.from_url(URL).append_audit([{"n": -1}])

    def append(start: int) -> None:
        store = SecretsManagerStore.from_url(URL)
        for n in range(start, start + 10):
            store.append_audit([{"n": n}])

    threads = [threading.Thread(target=append, args=(s,)) for s in (0, 100)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    events = SecretsManagerStore.from_url(URL).read_audit()
    assert sorted(event["n"] for event in events) == [-1, *range(10), *range(100, 110)]


# ---- faults ---------------------------------------------------------------------------------------------------------
def test_a_lost_reply_to_the_swap_is_not_reported_as_a_failure(aws: AwsServer) -> None:
    store = SecretsManagerStore.from_url(URL)
    first = store.write_set(sample_set("acme", Env.TEST, "k1"), expected_revision=0)
    rule = aws.faults.add("lose_reply", path="/UpdateSecretVersionStage", count=1)
    second = store.write_set(first.replace_keys([*first.keys, sample_record("k2")]), expected_revision=1)
    assert rule.hits == 1
    assert second.revision == 2
    read = SecretsManagerStore.from_url(URL).read_set(SetRef("acme", Env.TEST))
    assert read is not None
    assert [key.kid for key in read.keys] == ["k1", "k2"]
    assert read.revision == 2


def test_a_lost_reply_to_a_create_is_retried_with_the_same_token(aws: AwsServer) -> None:
    store = SecretsManagerStore.from_url(URL)
    rule = aws.faults.add("lose_reply", path="/CreateSecret", count=1)
    stored = store.write_set(sample_set("acme", Env.TEST, "k1"), expected_revision=0)
    assert rule.hits == 1
    assert stored.revision == 1
    assert aws.operations.count("CreateSecret") == 2  # the retry was answered as the same request


@pytest.mark.parametrize("status", [400, 429])
def test_throttling_is_retried(run: Run, aws: AwsServer, status: int) -> None:
    """ThrottlingException (400) and a bare 429 are retried with backoff; the command succeeds."""
    assert run("generate", "acme", "--size", "2048", "--store", URL).exit_code == 0
    rule = aws.faults.add("throttle", path="/GetSecretValue", count=2, status=status)
    result = run("show", "acme", "--store", URL)
    assert result.exit_code == 0, result.stderr
    assert rule.hits == 2


@pytest.mark.parametrize("status", [400, 429])
def test_throttling_that_does_not_stop_is_exit_10_after_bounded_retries(run: Run, aws: AwsServer, status: int) -> None:
    assert run("generate", "acme", "--size", "2048", "--store", URL).exit_code == 0
    rule = aws.faults.add("throttle", path="/GetSecretValue", count=None, status=status)
    result = run("show", "acme", "--store", f"{URL}?max_attempts=3")
    assert result.exit_code == 10
    code = "ThrottlingException" if status == 400 else "429"
    assert one_line_error(result) == (
        f"jwks-tool: error: cannot read the key set acme (test): AWS {URL} is throttling requests ({code}, HTTP "
        f"{status}) and retries ran out; wait a minute and run the command again (each step is safe to repeat)"
    )
    assert rule.hits == 3


def test_a_server_that_is_down_is_exit_10_one_line(run: Run, aws: AwsServer, tmp_path: Path) -> None:
    assert run("generate", "acme", "--size", "2048", "--store", URL).exit_code == 0
    ca = tmp_path / "ca.pem"  # the front removes its CA file when it stops; a missing CA bundle is exit 3 itself
    ca.write_bytes(Path(aws.ca_path).read_bytes())
    os.environ["AWS_CA_BUNDLE"] = str(ca)
    aws.stop_front()
    result = run("list", "--store", f"{URL}?max_attempts=2")
    assert result.exit_code == 10
    assert one_line_error(result) == (
        f"jwks-tool: error: cannot read the store configuration: AWS {URL} cannot be reached (Could not connect to the "
        f'endpoint URL: "{aws.url}/"); check the region, AWS_ENDPOINT_URL_SECRETS_MANAGER or endpoint=, your network '
        "or proxy"
    )


def test_a_set_edited_outside_jwks_tool_is_store_damage(run: Run, aws: AwsServer) -> None:
    assert run("generate", "acme", "--size", "2048", "--store", URL).exit_code == 0
    aws.client().put_secret_value(SecretId="jwks-tool/set/test/acme.json", SecretString="{not json")
    result = run("show", "acme", "--store", URL)
    assert result.exit_code == 5
    assert one_line_error(result).startswith(
        f"jwks-tool: error: the secret jwks-tool/set/test/acme.json in {URL} is not valid JSON (Expecting property "
        "name enclosed in double quotes); it was changed outside jwks-tool; restore the earlier version"
    )


def test_a_set_moved_to_another_name_is_store_damage(aws: AwsServer) -> None:
    store = SecretsManagerStore.from_url(URL)
    stored = store.write_set(sample_set("acme", Env.TEST, "k1"), expected_revision=0)
    aws.client().create_secret(Name="jwks-tool/set/prod/acme.json", SecretString=json.dumps(stored.to_dict()))
    with pytest.raises(StoreCorruptError, match=r"holds acme \(test\) revision 1, not acme \(prod\)"):
        store.read_set(SetRef("acme", Env.PROD))


def test_a_configuration_changed_outside_jwks_tool_is_store_damage(run: Run, aws: AwsServer) -> None:
    assert run("generate", "acme", "--size", "2048", "--store", URL).exit_code == 0
    client = aws.client()
    config = json.loads(client.get_secret_value(SecretId="jwks-tool/store.json")["SecretString"])
    config["protection"] = {"scheme": "plaintext"}
    client.put_secret_value(SecretId="jwks-tool/store.json", SecretString=json.dumps(config))
    result = run("generate", "beta", "--size", "2048", "--store", URL)
    assert result.exit_code == 5
    assert one_line_error(result).startswith(
        f"jwks-tool: error: the configuration jwks-tool/store.json in {URL} has a version jwks-tool did not write"
    )


def test_a_deleted_configuration_is_store_damage(aws: AwsServer) -> None:
    store = SecretsManagerStore.from_url(URL)
    store.init_config({"protection": {"scheme": "plaintext"}})
    store.write_set(sample_set("acme"), expected_revision=0)
    aws.client().delete_secret(SecretId="jwks-tool/store.json", ForceDeleteWithoutRecovery=True)
    with pytest.raises(StoreCorruptError, match="holds key sets but no configuration"):
        store.read_config()


def test_a_set_too_big_for_a_secret_is_refused_before_anything_is_sent(aws: AwsServer) -> None:
    store = SecretsManagerStore.from_url(URL)
    big = sample_set("acme", Env.TEST, *(f"k{i}" for i in range(60)))
    size, limit = store.set_size(big)
    assert limit == MAX_SECRET_BYTES
    assert size > limit
    with pytest.raises(StoreError, match="a Secrets Manager secret holds at most 65,536"):
        store.write_set(big, expected_revision=0)
    assert "CreateSecret" not in aws.operations


def test_without_boto3_the_error_names_the_extra(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "sys.modules['boto3'] = None\n"
        "sys.modules['botocore'] = None\n"
        "from jwks_tool.cli.main import main\n"
        f"sys.argv = ['jwks-tool', 'list', '--store', {URL!r}]\n"
        "main()\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 10
    assert done.stderr == (
        "jwks-tool: error: cannot read the store configuration: the AWS SDK (boto3) is not installed; "
        "install the AWS extra: pip install 'jwks-tool[aws]'\n"
    )
