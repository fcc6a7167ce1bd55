"""JWT grants for Maskinporten, verified with an independent implementation (PyJWT)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from click.testing import Result

Run = Callable[..., Result]


def public_key(run: Run, name: str, kid: str | None = None) -> Any:
    args = ["export", name] + (["--kid", kid] if kid else [])
    return jwt.PyJWK(json.loads(run(*args).output))


def test_grant_follows_every_maskinporten_rule(run: Run) -> None:
    assert run("generate", "acme", "--size", "2048", "--alg", "RS384").exit_code == 0
    result = run(
        "grant", "acme", "--client-id", "my-client", "--scope", "altinn:a  altinn:b", "--resource", "https://api"
    )
    assert result.exit_code == 0, result.stderr
    token = result.output.strip()
    header = jwt.get_unverified_header(token)
    kid = json.loads(run("export", "acme").output)["kid"]
    assert header == {"alg": "RS384", "kid": kid, "typ": "JWT"}
    claims = jwt.decode(
        token,
        public_key(run, "acme").key,
        algorithms=["RS384"],
        audience="https://test.maskinporten.no/",
        issuer="my-client",
    )
    assert claims["scope"] == "altinn:a altinn:b"
    assert claims["exp"] - claims["iat"] == 120
    assert claims["resource"] == "https://api"
    assert len(claims["jti"]) == 36
    again = jwt.decode(
        run("grant", "acme", "--client-id", "my-client", "--scope", "s").output.strip(),
        options={"verify_signature": False},
    )
    assert again["jti"] != claims["jti"]


def test_prod_audience_and_json(run: Run) -> None:
    assert run("generate", "acme", "--size", "2048", "--env", "prod").exit_code == 0
    data = json.loads(run("grant", "acme", "--env", "prod", "--client-id", "c", "--scope", "s", "--json").output)
    assert data["claims"]["aud"] == "https://maskinporten.no/"
    assert data["grant"].count(".") == 2


def test_ec_grant_for_other_servers(run: Run) -> None:
    assert run("generate", "ec", "--kty", "EC", "--profile", "generic").exit_code == 0
    token = run("grant", "ec", "--client-id", "c", "--scope", "s", "--audience", "https://idp.example/").output.strip()
    claims = jwt.decode(token, public_key(run, "ec").key, algorithms=["ES256"], audience="https://idp.example/")
    assert claims["iss"] == "c"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("--lifetime", "180"), 3, "a grant lives 1-120 seconds, not 180"),
        (("--scope", " "), 3, "no scope"),
        (("--kid", "old"), 4, "key old is retired: it is no longer registered"),
    ],
)
def test_bad_grants_are_refused(run: Run, args: tuple[str, ...], code: int, message: str) -> None:
    assert run("generate", "acme", "--size", "2048", "--kid", "old").exit_code == 0
    assert run("rotate", "acme", "--all-steps", "--overlap", "0").exit_code == 0
    base = ["grant", "acme", "--client-id", "c", "--scope", "s"]
    result = run(*base, *args)
    assert result.exit_code == code
    assert message in result.stderr
    assert result.stderr.count("\n") == 1
