"""token, portal push/pull against the local Maskinporten-compatible server: real HTTPS, real validation."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import jwt
import pytest
from click.testing import Result

from tests.servers.business_certs import TestPki
from tests.servers.maskinporten import MaskinportenServer

pytestmark = pytest.mark.integration
Run = Callable[..., Result]


@pytest.fixture
def mp(monkeypatch: pytest.MonkeyPatch) -> Iterator[MaskinportenServer]:
    # a system-wide CA bundle in the environment must not override --ca-bundle (a requests pitfall)
    import certifi

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    with MaskinportenServer() as server:
        yield server


def registered(run: Run, name: str = "acme") -> list[dict[str, object]]:
    return list(json.loads(run("export", name, "--format", "jwks").output)["keys"])


def token_args(mp: MaskinportenServer, *extra: str) -> list[str]:
    return [
        "--client-id",
        "client-1",
        "--scope",
        "altinn:instances.read",
        "--token-url",
        mp.token_url,
        "--ca-bundle",
        mp.ca_path,
        *extra,
    ]


def test_token_for_a_registered_key(run: Run, mp: MaskinportenServer) -> None:
    assert run("generate", "acme", "--size", "2048").exit_code == 0
    mp.register_client("client-1", ["altinn:instances.read"], {"keys": registered(run)})
    result = run("token", "acme", *token_args(mp))
    assert result.exit_code == 0, result.stderr
    assert result.output.splitlines()[0].startswith("Maskinporten issued a token for client-1 with key acme-test-")
    assert "  scope     altinn:instances.read" in result.output
    labels = [line[:12] for line in result.output.splitlines()[1:]]  # the values start in one column
    assert [label.rstrip() for label in labels][:3] == ["  scope", "  expires", "  iss"]
    assert "  client_id " in labels
    assert all(line[11] == " " and line[12] != " " for line in result.output.splitlines()[1:])
    assert mp.issued_tokens[0].access_token not in result.output  # only with --show-token
    shown = json.loads(run("token", "acme", *token_args(mp, "--show-token", "--json")).output)
    claims = jwt.decode(
        shown["access_token"],
        jwt.PyJWK(mp.public_jwks["keys"][0]).key,
        algorithms=["RS256"],
        options={"verify_aud": False},
    )
    assert claims["client_id"] == "client-1"


def test_unregistered_kid_is_explained(run: Run, mp: MaskinportenServer) -> None:
    assert run("generate", "acme", "--size", "2048").exit_code == 0
    mp.register_client("client-1", ["altinn:instances.read"], {"keys": []})
    result = run("token", "acme", *token_args(mp))
    assert result.exit_code == 10
    assert result.stderr.startswith(
        "jwks-tool: error: Maskinporten refused the grant: invalid_grant: Invalid assertion. Client authentication "
        "failed. Unknown key identifier (kid): acme-test-"
    )
    assert "the registered set lacks this kid" in result.stderr
    assert result.stderr.count("\n") == 1


def test_expired_registered_key_is_explained(run: Run, mp: MaskinportenServer) -> None:
    assert run("generate", "acme", "--size", "2048").exit_code == 0
    keys = registered(run)
    keys[0]["exp"] = 1_000_000_000  # expired in Maskinporten's registration (2001)
    mp.register_client("client-1", ["altinn:instances.read"], {"keys": keys})
    result = run("token", "acme", *token_args(mp))
    assert result.exit_code == 10
    assert "has expired" in result.stderr
    assert "rotate" in result.stderr


def test_three_minute_grant_is_refused_before_sending(run: Run, mp: MaskinportenServer) -> None:
    assert run("generate", "acme", "--size", "2048").exit_code == 0
    mp.register_client("client-1", ["altinn:instances.read"], {"keys": registered(run)})
    result = run("token", "acme", *token_args(mp, "--lifetime", "180"))
    assert result.exit_code == 3
    assert "a grant lives 1-120 seconds, not 180" in result.stderr
    assert mp.requests == []


def test_replayed_grant_and_clock_skew_are_explained(run: Run, mp: MaskinportenServer) -> None:
    from jwks_tool.integrations.maskinporten.client import request_token

    assert run("generate", "acme", "--size", "2048").exit_code == 0
    mp.register_client("client-1", ["altinn:instances.read"], {"keys": registered(run)})
    grant = run("grant", "acme", "--client-id", "client-1", "--scope", "altinn:instances.read").output.strip()
    request_token(mp.token_url, grant, ca_bundle=mp.ca_path, timeout=10)
    from jwks_tool.errors import RemoteError

    with pytest.raises(RemoteError) as replay:
        request_token(mp.token_url, grant, ca_bundle=mp.ca_path, timeout=10)
    assert "JWT ID (jti) has already been used" in replay.value.message
    assert replay.value.hint == "a grant works once: make a new one for each token request"
    mp.clock_offset = 60.0
    skewed = run("token", "acme", *token_args(mp))
    assert skewed.exit_code == 10
    assert "synchronise it (NTP)" in skewed.stderr


def test_unreachable_endpoint_is_one_clear_line(run: Run) -> None:
    assert run("generate", "acme", "--size", "2048").exit_code == 0
    result = run(
        "token",
        "acme",
        "--client-id",
        "c",
        "--scope",
        "s",
        "--token-url",
        "https://127.0.0.1:9/token",
        "--timeout",
        "3",
    )
    assert result.exit_code == 10
    assert result.stderr.startswith("jwks-tool: error: cannot reach the token endpoint: cannot connect")


def test_portal_push_and_pull_round_trip(run: Run, mp: MaskinportenServer, tmp_path: Path) -> None:
    pki = TestPki.make()
    mp.certificate_cas = (pki.root,)
    certificate = tmp_path / "virksomhet.p12"
    certificate.write_bytes(pki.issue(mp.org_number).pkcs12(None))
    mp.register_client("admin-client", ["idporten:dcr.write", "idporten:dcr.read"])
    mp.register_client("client-1", ["altinn:instances.read"], {"keys": []})
    assert run("generate", "acme", "--size", "2048", "--kid", "k1").exit_code == 0
    portal = [
        "--client-id",
        "client-1",
        "--api-url",
        mp.api_url,
        "--certificate",
        str(certificate),
        "--admin-client-id",
        "admin-client",
        "--token-url",
        mp.token_url,
        "--ca-bundle",
        mp.ca_path,
    ]

    pulled = run("portal", "pull", "acme", *portal, "--json")
    assert pulled.exit_code == 2
    assert json.loads(pulled.output)["missing"] == ["k1"]

    pushed = run("portal", "push", "acme", *portal)
    assert pushed.exit_code == 0, pushed.stderr
    assert pushed.output.splitlines()[1:] == ["Registered 1 key for client-1: k1"]
    assert [k["kid"] for k in mp.registered_jwks("client-1")["keys"]] == ["k1"]
    assert run("portal", "pull", "acme", *portal).exit_code == 0
    assert run("token", "acme", *token_args(mp)).exit_code == 0

    assert run("rotate", "acme", "--all-steps", "--overlap", "0").exit_code == 0
    stale = json.loads(run("portal", "pull", "acme", *portal, "--json").output)
    new = json.loads(run("show", "acme", "--json").output)["active"]
    assert stale["missing"] == [new]
    assert stale["extra"] == ["k1"]
    pushed = run("portal", "push", "acme", *portal)  # k1 is the set's own retired key: it goes without a question
    assert pushed.exit_code == 0, pushed.stderr
    assert pushed.output.splitlines()[-1] == "  removed k1 (retired)"
    assert [k["kid"] for k in mp.registered_jwks("client-1")["keys"]] == [new]
    assert run("token", "acme", *token_args(mp)).exit_code == 0


def test_portal_needs_an_admin_token(run: Run, mp: MaskinportenServer) -> None:
    assert run("generate", "acme", "--size", "2048").exit_code == 0
    result = run("portal", "push", "acme", "--client-id", "c", "--api-url", mp.api_url)
    assert result.exit_code == 3
    assert "needs an admin token" in result.stderr
    bad = run(
        "portal",
        "pull",
        "acme",
        "--client-id",
        "c",
        "--api-url",
        mp.api_url,
        "--ca-bundle",
        mp.ca_path,
        env={"JWKS_TOOL_PORTAL_TOKEN": "nope"},
    )
    assert bad.exit_code == 10
    assert "answered 401" in bad.stderr


def test_a_three_minute_grant_made_elsewhere_is_explained(run: Run, mp: MaskinportenServer) -> None:
    """jwks-tool never makes one (see above), but a grant from another tool with exp - iat = 180 s is explained."""
    import time

    from jwks_tool.errors import RemoteError
    from jwks_tool.integrations.maskinporten.client import request_token

    assert run("generate", "acme", "--size", "2048").exit_code == 0
    mp.register_client("client-1", ["altinn:instances.read"], {"keys": registered(run)})
    private = json.loads(run("export", "acme", "--private").output)
    now = int(time.time())
    claims = {
        "aud": mp.audience,
        "iss": "client-1",
        "scope": "altinn:instances.read",
        "iat": now,
        "exp": now + 180,
        "jti": "j1",
    }
    grant = jwt.encode(claims, jwt.PyJWK(private).key, algorithm="RS256", headers={"kid": private["kid"]})
    with pytest.raises(RemoteError) as refused:
        request_token(mp.token_url, grant, ca_bundle=mp.ca_path, timeout=10)
    assert "The jwt lifetime (exp - iat) is longer than 120 seconds" in refused.value.message
    assert refused.value.hint == "exp - iat must be at most 120 seconds"
