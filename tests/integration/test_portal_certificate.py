"""portal push/pull signed in with the business certificate, against the Maskinporten-compatible server (which
checks x5c grants as Digdir does) and, for a Key Vault certificate, the Key Vault-compatible server through the real
Azure SDK: the vault signs, the key never leaves it."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from click.testing import Result
from cryptography.hazmat.primitives import serialization

from tests.servers.business_certs import BusinessCert, TestPki
from tests.servers.keyvault import KeyVaultServer
from tests.servers.maskinporten import ASSERTION_FAILED, DCR_READ, DCR_WRITE, JWT_BEARER_GRANT, MaskinportenServer

pytestmark = pytest.mark.integration
Run = Callable[..., Result]
ORG = "999888777"
PASSPHRASE = "p12 passphrase"


@cache
def pki() -> TestPki:
    return TestPki.make()


@cache
def good() -> BusinessCert:
    return pki().issue(ORG)


@pytest.fixture
def mp(monkeypatch: pytest.MonkeyPatch) -> Iterator[MaskinportenServer]:
    import certifi

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())  # --ca-bundle must win over the environment's
    with MaskinportenServer(org_number=ORG, certificate_cas=[pki().root]) as server:
        server.register_client("admin-client", [DCR_READ, DCR_WRITE])
        server.register_client("client-1", ["altinn:instances.read"], {"keys": []})
        yield server


def p12(tmp_path: Path, cert: BusinessCert | None = None, passphrase: str = PASSPHRASE) -> str:
    path = tmp_path / "virksomhet.p12"
    path.write_bytes((cert or good()).pkcs12(passphrase))
    return str(path)


def portal_args(mp: MaskinportenServer, certificate: str, ca_bundle: str | None = None) -> list[str]:
    return [
        "--client-id",
        "client-1",
        "--api-url",
        mp.api_url,
        "--certificate",
        certificate,
        "--admin-client-id",
        "admin-client",
        "--token-url",
        mp.token_url,
        "--ca-bundle",
        ca_bundle or mp.ca_path,
    ]


def kids(mp: MaskinportenServer) -> list[str]:
    return [k["kid"] for k in mp.registered_jwks("client-1")["keys"]]


def signed_in_line(cert: BusinessCert | None = None) -> str:
    cert = cert or good()
    return (
        f"Signed in with the business certificate of organisation {ORG} (CN=ACME AS,2.5.4.97=NTRNO-{ORG},O=ACME AS,"
        f"C=NO), valid {cert.leaf.not_valid_before_utc:%Y-%m-%d} to {cert.leaf.not_valid_after_utc:%Y-%m-%d}."
    )


def test_portal_push_and_pull_with_a_pkcs12_file(run: Run, mp: MaskinportenServer, tmp_path: Path) -> None:
    assert run("generate", "acme", "--size", "2048", "--kid", "k1").exit_code == 0
    env = {"JWKS_TOOL_CERT_PASSPHRASE": PASSPHRASE}
    args = portal_args(mp, p12(tmp_path))

    pulled = run("portal", "pull", "acme", *args, "--json", env=env)
    assert pulled.exit_code == 2, pulled.stderr
    body = json.loads(pulled.output)
    assert body["missing"] == ["k1"]
    assert body["certificate"]["org_number"] == ORG

    pushed = run("portal", "push", "acme", *args, env=env)
    assert pushed.exit_code == 0, pushed.stderr
    assert pushed.output == f"{signed_in_line()}\nRegistered 1 key for client-1: k1\n"
    assert kids(mp) == ["k1"]
    assert run("portal", "pull", "acme", *args, env=env).exit_code == 0

    grants = [t for t in mp.issued_tokens if t.client_id == "admin-client"]
    assert [t.scopes for t in grants] == [(DCR_READ,), (DCR_WRITE,), (DCR_READ,)]  # only what each call needs
    assert {t.consumer for t in grants} == {ORG}  # the admin token's consumer is the certificate's organisation


def test_the_passphrase_can_come_from_a_file(run: Run, mp: MaskinportenServer, tmp_path: Path) -> None:
    assert run("generate", "acme", "--size", "2048", "--kid", "k1").exit_code == 0
    secret = tmp_path / "pass.txt"
    secret.write_text(PASSPHRASE + "\n")
    result = run("portal", "push", "acme", *portal_args(mp, p12(tmp_path)), "--cert-passphrase-file", str(secret))
    assert result.exit_code == 0, result.stderr
    assert kids(mp) == ["k1"]


def test_a_wrong_passphrase_is_exit_8_and_nothing_is_sent(run: Run, mp: MaskinportenServer, tmp_path: Path) -> None:
    assert run("generate", "acme", "--size", "2048").exit_code == 0
    path = p12(tmp_path)
    result = run("portal", "push", "acme", *portal_args(mp, path), env={"JWKS_TOOL_CERT_PASSPHRASE": "wrong"})
    assert result.exit_code == 8
    assert result.stderr == (
        f"jwks-tool: error: cannot open the certificate file {path}: the passphrase is wrong (or the file is "
        "damaged); check JWKS_TOOL_CERT_PASSPHRASE or --cert-passphrase-file\n"
    )
    assert mp.requests == []


def test_a_passphrase_never_given_is_exit_8_and_says_how_to_give_it(
    run: Run, mp: MaskinportenServer, tmp_path: Path
) -> None:
    assert run("generate", "acme", "--size", "2048").exit_code == 0
    path = p12(tmp_path)
    result = run("portal", "pull", "acme", *portal_args(mp, path), "--json", env={"JWKS_TOOL_CERT_PASSPHRASE": None})
    assert result.exit_code == 8
    assert result.stderr == (
        f"jwks-tool: error: cannot open the certificate file {path}: it needs its passphrase, and none was given; "
        "set JWKS_TOOL_CERT_PASSPHRASE or pass --cert-passphrase-file (stdin is not a terminal to ask on)\n"
    )
    assert json.loads(result.stdout)["error"]["code"] == "passphrase"
    assert mp.requests == []


@pytest.mark.parametrize(("variant", "says"), [("expired", "expired "), ("not_yet_valid", "is not valid until ")])
def test_a_certificate_outside_its_dates_is_exit_3_before_any_request(
    run: Run, mp: MaskinportenServer, tmp_path: Path, variant: str, says: str
) -> None:
    assert run("generate", "acme", "--size", "2048").exit_code == 0
    path = p12(tmp_path, pki().issue(ORG, expired=variant == "expired", not_yet_valid=variant == "not_yet_valid"))
    result = run("portal", "push", "acme", *portal_args(mp, path), env={"JWKS_TOOL_CERT_PASSPHRASE": PASSPHRASE})
    assert result.exit_code == 3
    assert result.stderr.startswith(f"jwks-tool: error: the business certificate for {ORG} {says}")
    assert result.stderr.count("\n") == 1
    assert mp.requests == []


def test_a_certificate_without_an_org_number_is_exit_3(run: Run, mp: MaskinportenServer, tmp_path: Path) -> None:
    assert run("generate", "acme", "--size", "2048").exit_code == 0
    path = p12(tmp_path, pki().issue(None))
    result = run("portal", "pull", "acme", *portal_args(mp, path), env={"JWKS_TOOL_CERT_PASSPHRASE": PASSPHRASE})
    assert result.exit_code == 3
    assert result.stderr.startswith(
        "jwks-tool: error: the certificate CN=ACME AS,O=ACME AS,C=NO holds no Norwegian organisation number"
    )
    assert mp.requests == []


def test_admin_set_is_refused_naming_certificate(run: Run, mp: MaskinportenServer) -> None:
    assert run("generate", "acme", "--size", "2048").exit_code == 0
    result = run("portal", "push", "acme", "--client-id", "c", "--admin-set", "admin", "--admin-client-id", "a")
    assert result.exit_code == 3
    assert result.stderr == (
        "jwks-tool: error: --admin-set is gone: Digdir's self-service API takes only a grant signed with the "
        "organisation's business certificate; pass --certificate FILE.p12 (or a Key Vault certificate URL) and "
        "--admin-client-id\n"
    )
    assert mp.requests == []


def test_a_certificate_needs_the_admin_client_id(run: Run, mp: MaskinportenServer, tmp_path: Path) -> None:
    assert run("generate", "acme", "--size", "2048").exit_code == 0
    args = ["--client-id", "client-1", "--api-url", mp.api_url, "--certificate", p12(tmp_path)]
    result = run("portal", "push", "acme", *args)
    assert result.exit_code == 3
    assert result.stderr == (
        "jwks-tool: error: --certificate needs --admin-client-id; the admin client's id from the portal\n"
    )


def test_a_certificate_of_another_organisation_is_refused_by_the_server(
    run: Run, mp: MaskinportenServer, tmp_path: Path
) -> None:
    assert run("generate", "acme", "--size", "2048").exit_code == 0
    path = p12(tmp_path, pki().issue("111222333"))
    result = run("portal", "push", "acme", *portal_args(mp, path), env={"JWKS_TOOL_CERT_PASSPHRASE": PASSPHRASE})
    assert result.exit_code == 10
    assert result.stderr.startswith(
        "jwks-tool: error: Maskinporten refused the grant: invalid_client: Invalid assertion. Client authentication "
        "failed. The certificate's organization 111222333 does not own client admin-client"
    )
    assert kids(mp) == []


# ---- the server checks x5c grants as Digdir does ----------------------------------------------------------------
def x5c_of(*certs: Any, urlsafe: bool = False) -> list[str]:
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    return [encode(c.public_bytes(serialization.Encoding.DER)).decode() for c in certs]


def post_grant(mp: MaskinportenServer, key: Any, headers: dict[str, Any], scope: str = DCR_READ) -> Any:
    now = int(time.time())
    claims = {
        "aud": mp.audience,
        "iss": "admin-client",
        "scope": scope,
        "iat": now,
        "exp": now + 60,
        "jti": str(uuid.uuid4()),
    }
    grant = jwt.encode(claims, key, algorithm="RS256", headers=headers)
    answer = requests.post(
        mp.token_url, data={"grant_type": JWT_BEARER_GRANT, "assertion": grant}, verify=mp.ca_path, timeout=10
    )
    return answer.status_code, answer.json()


def test_the_server_accepts_a_good_x5c_grant(mp: MaskinportenServer) -> None:
    status, body = post_grant(mp, good().key, {"x5c": x5c_of(good().leaf, pki().intermediate)})
    assert status == 200, body
    assert body["scope"] == DCR_READ


@pytest.mark.parametrize(
    ("case", "description"),
    [
        (
            "kid",
            "The scopes idporten:dcr.* need the business certificate (x5c) in the JWT header; a registered key "
            "(kid) is not accepted",
        ),
        ("no header", "The scopes idporten:dcr.* need the business certificate (x5c) in the JWT header"),
        ("url-safe", "Invalid x5c[0]: not a base64 (standard, not url-safe) DER certificate"),
        ("other CA", "The certificate chain does not lead to a trusted CA"),
        ("missing intermediate", "The certificate chain does not lead to a trusted CA"),
        ("expired", "The certificate x5c[0] has expired"),
        ("no org", "The certificate has no organization number"),
        ("wrong key", "Invalid JWT signature"),
        ("empty", "Invalid x5c: must be an array of 1-10 certificates"),
    ],
)
def test_the_server_refuses_bad_certificate_grants(mp: MaskinportenServer, case: str, description: str) -> None:
    leaf, key, chain = good().leaf, good().key, [pki().intermediate]
    headers: dict[str, Any] = {}
    if case == "kid":
        headers = {"kid": "some-registered-key", "x5c": x5c_of(leaf, *chain)}
    elif case == "url-safe":
        headers = {"x5c": ["-_" + x5c_of(leaf)[0][2:], *x5c_of(*chain)]}
    elif case == "other CA":
        other = TestPki.make("Other").issue(ORG)
        leaf, key, chain = other.leaf, other.key, list(other.intermediates)
    elif case == "missing intermediate":
        chain = []
    elif case == "expired":
        expired = pki().issue(ORG, expired=True)
        leaf, key = expired.leaf, expired.key
    elif case == "no org":
        nameless = pki().issue(None)
        leaf, key = nameless.leaf, nameless.key
    elif case == "wrong key":
        key = pki().issue(ORG).key
    elif case == "empty":
        headers = {"x5c": []}
    if case != "no header":
        headers = headers or {"x5c": x5c_of(leaf, *chain)}
    status, body = post_grant(mp, key, headers)
    assert (status, body) == (400, {"error": "invalid_grant", "error_description": ASSERTION_FAILED + description})
    assert mp.issued_tokens == []


# ---- Azure Key Vault certificate ----------------------------------------------------------------------------------
@pytest.fixture
def kv(make_vault: Callable[..., KeyVaultServer], monkeypatch: pytest.MonkeyPatch) -> KeyVaultServer:
    server = make_vault(resource_matches_host=True)
    for name, value in server.identity_env().items():
        monkeypatch.setenv(name, value)
    return server


def test_portal_push_and_pull_with_a_key_vault_certificate(
    run: Run, mp: MaskinportenServer, kv: KeyVaultServer, tmp_path: Path
) -> None:
    kv.import_certificate("virksomhet", good().pkcs12(PASSPHRASE), PASSPHRASE, exportable=False)
    both = tmp_path / "cas.pem"
    both.write_bytes(Path(kv.ca_path).read_bytes() + Path(mp.ca_path).read_bytes())
    url = kv.url.rstrip("/") + "/certificates/virksomhet"
    assert run("generate", "acme", "--size", "2048", "--kid", "k1").exit_code == 0
    args = [*portal_args(mp, url, str(both)), "--credential", "managed-identity"]

    pushed = run("portal", "push", "acme", *args)
    assert pushed.exit_code == 0, pushed.stderr
    assert pushed.output == f"{signed_in_line()}\nRegistered 1 key for client-1: k1\n"
    assert kids(mp) == ["k1"]
    assert run("portal", "pull", "acme", *args).exit_code == 0

    signs = [r for r in kv.requests if r.method == "POST" and r.path.endswith("/sign")]
    assert len(signs) == 2  # each grant signed by the vault
    assert all(r.path.startswith("/keys/virksomhet/") for r in signs)
    secret = kv.secret_value("virksomhet")
    assert secret is not None
    assert "PRIVATE KEY" not in secret  # a non-exportable certificate's secret holds only its chain
    assert {t.consumer for t in mp.issued_tokens if t.client_id == "admin-client"} == {ORG}


def test_a_key_vault_certificate_that_does_not_exist_is_one_line(
    run: Run, mp: MaskinportenServer, kv: KeyVaultServer, tmp_path: Path
) -> None:
    assert run("generate", "acme", "--size", "2048").exit_code == 0
    url = kv.url.rstrip("/") + "/certificates/nothing-here"
    result = run("portal", "push", "acme", *portal_args(mp, url, kv.ca_path), "--credential", "managed-identity")
    assert result.exit_code == 10
    assert result.stderr.startswith(
        "jwks-tool: error: cannot read the certificate nothing-here: not found in the vault"
    )
    assert result.stderr.count("\n") == 1
    assert mp.requests == []


def test_the_passphrase_is_asked_on_a_terminal(
    run: Run, mp: MaskinportenServer, tmp_path: Path, store_dir: Path
) -> None:
    import os
    import sys

    pexpect = pytest.importorskip("pexpect")
    assert run("generate", "acme", "--size", "2048", "--kid", "k1").exit_code == 0
    env = {**os.environ, "JWKS_TOOL_STORE": str(store_dir), "NO_COLOR": "1"}
    args = ["-m", "jwks_tool", "portal", "push", "acme", *portal_args(mp, p12(tmp_path))]
    child = pexpect.spawn(sys.executable, args, env=env, timeout=60)
    child.expect("Certificate passphrase: ")
    child.sendline(PASSPHRASE)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    assert PASSPHRASE.encode() not in (child.before or b"")  # not echoed
    assert b"Registered 1 key for client-1: k1" in (child.before or b"")
    assert kids(mp) == ["k1"]


def test_doctor_reads_the_registration_with_the_certificate(run: Run, mp: MaskinportenServer, tmp_path: Path) -> None:
    assert run("generate", "acme", "--size", "2048", "--kid", "k1").exit_code == 0
    mp.set_client_jwks("client-1", {"keys": json.loads(run("export", "acme", "--format", "jwks").output)["keys"]})
    args = portal_args(mp, p12(tmp_path))
    result = run("doctor", "acme", *args, env={"JWKS_TOOL_CERT_PASSPHRASE": PASSPHRASE})
    assert result.exit_code == 0, result.output
    assert "Maskinporten's registration of client-1" in result.output
    assert [t.scopes for t in mp.issued_tokens] == [(DCR_READ,)]
    refused = run("doctor", "acme", "--admin-set", "admin")
    assert refused.exit_code == 3
    assert "--admin-set is gone" in refused.stderr


# ---- portal push reads the registered set first: Digdir's PUT replaces all of it (review12 F5) --------------------
EXP = 1893456000  # 2030-01-01


def other_store_key(run: Run, tmp_path: Path) -> dict[str, Any]:
    """The public key of another store's set, as Digdir holds it (with its exp)."""
    other = str(tmp_path / "other-store")
    assert run("generate", "acme", "--size", "2048", "--kid", "theirs", "--store", other).exit_code == 0
    (key,) = json.loads(run("export", "acme", "--format", "jwks", "--store", other).output)["keys"]
    return {**key, "exp": EXP}


def puts(mp: MaskinportenServer) -> list[str]:
    return [r.path for r in mp.requests if r.method == "PUT"]


def test_push_keeps_a_key_another_store_registered(run: Run, mp: MaskinportenServer, tmp_path: Path) -> None:
    mp.set_client_jwks("client-1", {"keys": [other_store_key(run, tmp_path)]})
    assert run("generate", "acme", "--size", "2048", "--kid", "k1").exit_code == 0
    env = {"JWKS_TOOL_CERT_PASSPHRASE": PASSPHRASE}
    result = run("portal", "push", "acme", *portal_args(mp, p12(tmp_path)), env=env)  # no terminal, no --yes
    assert result.exit_code == 0, result.stderr
    assert result.output == (
        f"{signed_in_line()}\nRegistered 2 keys for client-1: k1, theirs\n"
        "  kept theirs (unknown to the key set; --replace drops them)\n"
    )
    assert kids(mp) == ["k1", "theirs"]
    assert [t.scopes for t in mp.issued_tokens if t.client_id == "admin-client"] == [(DCR_WRITE,)]


def test_push_that_would_drop_another_stores_key_is_refused_off_a_terminal(
    run: Run, mp: MaskinportenServer, tmp_path: Path
) -> None:
    mp.set_client_jwks("client-1", {"keys": [other_store_key(run, tmp_path)]})
    assert run("generate", "acme", "--size", "2048", "--kid", "k1").exit_code == 0
    env = {"JWKS_TOOL_CERT_PASSPHRASE": PASSPHRASE}
    args = ["portal", "push", "acme", *portal_args(mp, p12(tmp_path)), "--replace"]
    refused = run(*args, env=env)
    assert refused.exit_code == 9
    assert refused.stderr == (
        "jwks-tool: error: the PUT would remove 1 registered key from client-1: theirs (exp 2030-01-01) unknown to "
        "the key set; nothing was registered; pass --yes to remove them (cron, CI), or run it on a terminal\n"
    )
    as_json = run(*args, "--json", env=env)
    assert as_json.exit_code == 9
    assert json.loads(as_json.stdout)["error"]["code"] == "declined"
    assert puts(mp) == []
    assert kids(mp) == ["theirs"]

    replaced = run(*args, "--yes", env=env)
    assert replaced.exit_code == 0, replaced.stderr
    assert replaced.output.endswith("Registered 1 key for client-1: k1\n  removed theirs (unknown to the key set)\n")
    assert kids(mp) == ["k1"]


def test_push_removes_the_sets_own_retired_and_revoked_keys_without_asking_and_says_which(
    run: Run, mp: MaskinportenServer, tmp_path: Path
) -> None:
    """What the key set's own lifecycle took out of use (rotate --finish, revoke) leaves the registered set without a
    question: `revoke && portal push` in an incident script must not stop at a prompt (exit 9) and leave a compromised
    key registered (review12b N4). Only keys the key set does not know need --yes (the tests above)."""
    assert run("generate", "acme", "--size", "2048", "--kid", "k1").exit_code == 0
    env = {"JWKS_TOOL_CERT_PASSPHRASE": PASSPHRASE}
    args = ["portal", "push", "acme", *portal_args(mp, p12(tmp_path))]
    assert run(*args, "--json", env=env).exit_code == 0
    rotated = run("rotate", "acme", "--all-steps", "--overlap", "0", "--size", "2048")
    assert rotated.exit_code == 0, rotated.stderr
    (k2,) = [key["kid"] for key in json.loads(run("show", "acme", "--json").output)["keys"] if key["kid"] != "k1"]
    done = run(*args, "--json", env=env)
    assert done.exit_code == 0, done.stderr
    assert json.loads(done.stdout) | {"certificate": None} == {
        "client_id": "client-1",
        "registered": [k2],
        "kept": [],
        "removed": ["k1"],
        "certificate": None,
    }
    assert kids(mp) == [k2]
    assert run("rotate", "acme", "--size", "2048").exit_code == 0  # a next key, registered beside k2
    (k3,) = [key["kid"] for key in json.loads(run("show", "acme", "--json").output)["keys"] if key["state"] == "next"]
    assert run(*args, env=env).exit_code == 0
    revoked = run("revoke", "acme", "--kid", k2, "--reason", "leaked in a CI log")
    assert revoked.exit_code == 0, revoked.stderr
    assert "jwks-tool portal push acme --env test --client-id CLIENT_ID" in revoked.stdout
    pulled = run("portal", "pull", *args[2:], env=env)
    assert f"  extra     {k2}  (revoked in the key set: `portal push` removes it)\n" in pulled.stdout
    pushed = run(*args, env=env)
    assert pushed.exit_code == 0, pushed.stderr
    assert pushed.stdout.splitlines()[-2:] == [f"Registered 1 key for client-1: {k3}", f"  removed {k2} (revoked)"]
    assert kids(mp) == [k3]


def test_push_over_five_keys_with_the_kept_ones_is_refused(run: Run, mp: MaskinportenServer, tmp_path: Path) -> None:
    theirs = other_store_key(run, tmp_path)
    mp.set_client_jwks("client-1", {"keys": [{**theirs, "kid": f"theirs-{n}"} for n in range(5)]})
    assert run("generate", "acme", "--size", "2048", "--kid", "k1").exit_code == 0
    result = run(
        "portal", "push", "acme", *portal_args(mp, p12(tmp_path)), env={"JWKS_TOOL_CERT_PASSPHRASE": PASSPHRASE}
    )
    assert result.exit_code == 4
    assert result.stderr == (
        "jwks-tool: error: the registered set would hold 6 keys (5 of them unknown to the key set), more than the 5 "
        "Digdir allows; pass --replace to drop the keys the key set does not know, or delete some in Digdir's portal\n"
    )
    assert puts(mp) == []


def test_push_asks_on_a_terminal_before_removing(
    run: Run, mp: MaskinportenServer, tmp_path: Path, store_dir: Path
) -> None:
    import os
    import sys

    pexpect = pytest.importorskip("pexpect")
    mp.set_client_jwks("client-1", {"keys": [other_store_key(run, tmp_path)]})
    assert run("generate", "acme", "--size", "2048", "--kid", "k1").exit_code == 0
    env = {**os.environ, "JWKS_TOOL_STORE": str(store_dir), "NO_COLOR": "1", "JWKS_TOOL_CERT_PASSPHRASE": PASSPHRASE}
    args = ["-m", "jwks_tool", "portal", "push", "acme", *portal_args(mp, p12(tmp_path)), "--replace"]
    for answer, status, registered in (("n", 9, ["theirs"]), ("y", 0, ["k1"])):
        child = pexpect.spawn(sys.executable, args, env=env, timeout=60)
        child.expect("it would remove:")
        child.expect(r"theirs \(exp 2030-01-01\)  \(unknown to the key set: another store's\?\)")
        child.expect(r"Remove them\? \[y/N\]: ")
        child.sendline(answer)
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == status, child.before
        assert kids(mp) == registered


def test_an_expired_portal_token_is_refused_before_it_is_sent(run: Run, mp: MaskinportenServer) -> None:
    assert run("generate", "acme", "--size", "2048").exit_code == 0

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    stale = f"{part({'alg': 'RS256'})}.{part({'exp': 1700000000, 'scope': DCR_WRITE})}.c2ln"  # 2023-11-14 22:13
    args = ["--client-id", "client-1", "--api-url", mp.api_url, "--ca-bundle", mp.ca_path]
    result = run("portal", "push", "acme", *args, env={"JWKS_TOOL_PORTAL_TOKEN": stale})
    assert result.exit_code == 3
    assert result.stderr == (
        "jwks-tool: error: JWKS_TOOL_PORTAL_TOKEN holds an admin token that expired at 2023-11-14 22:13 UTC; admin "
        "tokens are short-lived, so one cannot be kept in a secret; unset JWKS_TOOL_PORTAL_TOKEN and sign in with the "
        "business certificate: --certificate FILE.p12 (or a Key Vault certificate URL) and --admin-client-id\n"
    )
    assert mp.requests == []
    fresh = mp.issue_access_token("admin-client", [DCR_WRITE])
    assert run("portal", "push", "acme", *args, env={"JWKS_TOOL_PORTAL_TOKEN": fresh}).exit_code == 0
