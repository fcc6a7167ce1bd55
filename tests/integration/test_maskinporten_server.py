"""The Maskinporten test server over real HTTPS: JWT grants made with PyJWT and with cryptography directly."""

from __future__ import annotations

import base64
import functools
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.servers.maskinporten import (
    ASSERTION_FAILED,
    DCR_READ,
    DCR_WRITE,
    JWT_BEARER_GRANT,
    PROD_AUDIENCE,
    TEST_AUDIENCE,
    MaskinportenServer,
    validate_jwks,
)

pytestmark = pytest.mark.integration

CLIENT = "test-client"
SCOPE = "digdir:test"
ADMIN = "admin-client"
P = ASSERTION_FAILED
HASHES: dict[str, hashes.HashAlgorithm] = {"RS256": hashes.SHA256(), "RS384": hashes.SHA384(), "RS512": hashes.SHA512()}


# --------------------------------------------------------------------------------------------------------------------
# Keys, JWTs and requests
# --------------------------------------------------------------------------------------------------------------------


@functools.cache
def rsa_key(name: str, bits: int = 2048) -> rsa.RSAPrivateKey:
    """One RSA key per name for the whole session (key generation is the slow part)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_int(value: int) -> str:
    return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def public_jwk(key: rsa.RSAPrivateKey, kid: str, alg: str = "RS256", **extra: Any) -> dict[str, Any]:
    numbers = key.public_key().public_numbers()
    jwk = {"kty": "RSA", "kid": kid, "alg": alg, "use": "sig", "n": b64url_int(numbers.n), "e": b64url_int(numbers.e)}
    return {**jwk, **extra}


def private_jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    numbers = key.private_numbers()
    return {
        **public_jwk(key, kid),
        "d": b64url_int(numbers.d),
        "p": b64url_int(numbers.p),
        "q": b64url_int(numbers.q),
        "dp": b64url_int(numbers.dmp1),
        "dq": b64url_int(numbers.dmq1),
        "qi": b64url_int(numbers.iqmp),
    }


def claims(**overrides: Any) -> dict[str, Any]:
    """Good grant claims for CLIENT (a value of None removes the claim)."""
    now = int(time.time())
    base: dict[str, Any] = {
        "aud": TEST_AUDIENCE,
        "iss": CLIENT,
        "scope": SCOPE,
        "iat": now,
        "exp": now + 100,
        "jti": str(uuid.uuid4()),
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def pyjwt_grant(
    key: rsa.RSAPrivateKey | None = None, *, kid: str | None = "k1", alg: str = "RS256", **overrides: Any
) -> str:
    headers = {"kid": kid} if kid is not None else None
    return jwt.encode(claims(**overrides), key or rsa_key("client"), algorithm=alg, headers=headers)


def raw_jwt(header: dict[str, Any], payload: dict[str, Any], key: rsa.RSAPrivateKey | None, alg: str = "RS256") -> str:
    """A compact JWS made with cryptography directly (no signature when key is None)."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}"
    signature = b"" if key is None else key.sign(signing_input.encode(), padding.PKCS1v15(), HASHES[alg])
    return f"{signing_input}.{b64url(signature)}"


def post_token(mp: MaskinportenServer, assertion: str | None, grant_type: str | None = JWT_BEARER_GRANT) -> Any:
    data = {k: v for k, v in (("grant_type", grant_type), ("assertion", assertion)) if v is not None}
    return requests.post(mp.token_url, data=data, verify=mp.ca_path, timeout=10)


def token_for(mp: MaskinportenServer, client_id: str, kid: str, key: rsa.RSAPrivateKey, scope: str) -> str:
    response = post_token(mp, pyjwt_grant(key, kid=kid, iss=client_id, scope=scope))
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def assert_error(response: requests.Response, status: int, error: str, description: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json() == {"error": error, "error_description": description}


@pytest.fixture
def mp() -> Iterator[MaskinportenServer]:
    with MaskinportenServer() as server:
        server.register_client(CLIENT, [SCOPE, "digdir:other"], {"keys": [public_jwk(rsa_key("client"), "k1")]})
        yield server


# --------------------------------------------------------------------------------------------------------------------
# Good grants
# --------------------------------------------------------------------------------------------------------------------


def test_good_pyjwt_grant_gets_token_verifiable_with_jwk(mp: MaskinportenServer) -> None:
    assert mp.url == f"https://127.0.0.1:{mp.port}/"
    assert mp.token_url == mp.url + "token"
    assert mp.api_url == mp.url + "api/v1/"
    grant = pyjwt_grant()
    response = post_token(mp, grant)
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
    assert (body["token_type"], body["expires_in"], body["scope"]) == ("Bearer", 120, SCOPE)

    jwks = requests.get(mp.url + "jwk", verify=mp.ca_path, timeout=10).json()
    header = jwt.get_unverified_header(body["access_token"])
    (jwk,) = [k for k in jwks["keys"] if k["kid"] == header["kid"]]
    decoded = jwt.decode(
        body["access_token"], jwt.PyJWK(jwk).key, algorithms=["RS256"], issuer=mp.issuer, options={"verify_aud": False}
    )
    assert decoded["iss"] == TEST_AUDIENCE
    assert decoded["client_id"] == CLIENT
    assert decoded["scope"] == SCOPE
    assert decoded["consumer"] == {"authority": "iso6523-actorid-upis", "ID": "0192:999888777"}
    assert decoded["exp"] - decoded["iat"] == 120
    assert abs(decoded["iat"] - time.time()) < 5
    uuid.UUID(decoded["jti"])

    (issued,) = mp.issued_tokens
    assert issued.access_token == body["access_token"]
    assert issued.grant_jti == jwt.decode(grant, options={"verify_signature": False})["jti"]
    token_request = mp.find_requests("POST", "^/token$")[-1]
    assert (token_request.status, token_request.error, token_request.client_id) == (200, None, CLIENT)


def test_cryptography_grant_rs512_with_resource_and_consumer_org(mp: MaskinportenServer) -> None:
    key = rsa_key("rs512")
    mp.register_client("rs512-client", [SCOPE], [public_jwk(key, "rs512.key-1", alg="RS512")], org_number="111222333")
    payload = claims(iss="rs512-client", resource="https://api.example.no/", consumer_org="444555666")
    response = post_token(mp, raw_jwt({"alg": "RS512", "kid": "rs512.key-1", "typ": "JWT"}, payload, key, "RS512"))
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]

    # Verify the access token with cryptography directly against /jwk.
    signing_input, _, signature = token.rpartition(".")
    (jwk,) = requests.get(mp.url + "jwk", verify=mp.ca_path, timeout=10).json()["keys"]
    n, e = (int.from_bytes(base64.urlsafe_b64decode(jwk[m] + "=" * (-len(jwk[m]) % 4)), "big") for m in "ne")
    public = rsa.RSAPublicNumbers(e, n).public_key()
    public.verify(
        base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)),
        signing_input.encode(),
        padding.PKCS1v15(),
        hashes.SHA256(),
    )
    decoded = jwt.decode(token, options={"verify_signature": False})
    assert decoded["aud"] == "https://api.example.no/"
    assert decoded["consumer"]["ID"] == "0192:444555666"
    assert decoded["supplier"]["ID"] == "0192:111222333"


def test_production_audience_and_not_yet_expired_key() -> None:
    with MaskinportenServer(audience=PROD_AUDIENCE) as prod:
        key = public_jwk(rsa_key("client"), "k1", exp=int(time.time()) + 3600)
        prod.register_client(CLIENT, SCOPE, {"keys": [key]})
        assert post_token(prod, pyjwt_grant(aud=PROD_AUDIENCE)).status_code == 200
        assert_error(
            post_token(prod, pyjwt_grant(aud=TEST_AUDIENCE)),
            400,
            "invalid_grant",
            f"Invalid audience: expected {PROD_AUDIENCE}",
        )


# --------------------------------------------------------------------------------------------------------------------
# Refused grants
# --------------------------------------------------------------------------------------------------------------------


def _now() -> int:
    return int(time.time())


REFUSED: list[tuple[str, dict[str, Any], str, str]] = [
    ("unknown kid", {"kid": "nope"}, "invalid_grant", P + "Unknown key identifier (kid): nope"),
    ("missing kid", {"kid": None}, "invalid_grant", P + "Missing key identifier (kid) in the JWT header"),
    (
        "lifetime 180 s",
        {"iat": "now", "exp": 180},
        "invalid_grant",
        "The jwt lifetime (exp - iat) is longer than 120 seconds",
    ),
    (
        "iat 30 s ahead",
        {"iat": 30, "exp": 60},
        "invalid_grant",
        "Invalid iat: the clock differs by more than 10 seconds",
    ),
    ("expired grant", {"iat": -200, "exp": -100}, "invalid_grant", "The JWT has expired"),
    ("exp before iat", {"iat": "now", "exp": -5}, "invalid_grant", "Invalid exp: exp must be later than iat"),
    ("wrong aud", {"aud": PROD_AUDIENCE}, "invalid_grant", f"Invalid audience: expected {TEST_AUDIENCE}"),
    ("no aud", {"aud": None}, "invalid_grant", f"Invalid audience: expected {TEST_AUDIENCE}"),
    ("unknown client", {"iss": "ghost"}, "invalid_client", P + "Unknown client (iss): ghost"),
    ("no iss", {"iss": None}, "invalid_grant", "Missing or invalid claim: iss"),
    (
        "scope not allowed",
        {"scope": f"{SCOPE} altinn:secret"},
        "invalid_scope",
        f"Scope(s) not allowed for client {CLIENT}: altinn:secret",
    ),
    ("no scope", {"scope": None}, "invalid_scope", "Missing or invalid claim: scope"),
    ("string iat", {"iat": "yesterday"}, "invalid_grant", "Missing or invalid claim: iat"),
    (
        "x5c without a trusted CA",
        {"kid": None, "x5c": ["MIIB"]},
        "invalid_grant",
        P + "Business certificates (x5c) are not accepted: the server trusts no certificate CA",
    ),
    (
        "kid for the self-service scopes",
        {"scope": DCR_READ},
        "invalid_grant",
        P + "The scopes idporten:dcr.* need the business certificate (x5c) in the JWT header; a registered key "
        "(kid) is not accepted",
    ),
    (
        "alg mismatch",
        {"alg": "RS384"},
        "invalid_grant",
        P + "The JWT alg RS384 does not match the alg RS256 of the key with kid k1",
    ),
    (
        "bad consumer_org",
        {"consumer_org": "12"},
        "invalid_request",
        "Invalid consumer_org: must be a 9-digit organization number",
    ),
]


@pytest.mark.parametrize(("change", "error", "description"), [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED])
def test_refused_grant(mp: MaskinportenServer, change: dict[str, Any], error: str, description: str) -> None:
    now = _now()
    overrides = dict(change)
    kid = overrides.pop("kid", "k1")
    alg = overrides.pop("alg", "RS256")
    header_extra = {"x5c": overrides.pop("x5c")} if "x5c" in overrides else {}
    for name in ("iat", "exp"):  # relative seconds (exp relative to iat when iat is "now")
        if name in overrides and isinstance(overrides[name], int):
            overrides[name] += now
        elif overrides.get(name) == "now":
            overrides[name] = now
    headers = {**({"kid": kid} if kid is not None else {}), **header_extra}
    grant = jwt.encode(claims(**overrides), rsa_key("client"), algorithm=alg, headers=headers or None)
    response = post_token(mp, grant)
    assert_error(response, 400, error, description)
    record = mp.requests[-1]
    assert (record.method, record.path, record.status, record.error, record.error_description) == (
        "POST",
        "/token",
        400,
        error,
        description,
    )
    assert mp.issued_tokens == []


def test_invalid_signature(mp: MaskinportenServer) -> None:
    assert_error(post_token(mp, pyjwt_grant(rsa_key("stranger"))), 400, "invalid_grant", P + "Invalid JWT signature")
    # A good grant whose claims were changed after signing.
    header, _, signature = pyjwt_grant().split(".")
    forged = b64url(json.dumps(claims(scope="digdir:other")).encode())
    assert_error(post_token(mp, f"{header}.{forged}.{signature}"), 400, "invalid_grant", P + "Invalid JWT signature")


def test_expired_registered_key(mp: MaskinportenServer) -> None:
    old = public_jwk(rsa_key("old"), "old-key", exp=_now() - 60)
    mp.register_client(CLIENT, [SCOPE], {"keys": [public_jwk(rsa_key("client"), "k1"), old]})
    response = post_token(mp, pyjwt_grant(rsa_key("old"), kid="old-key"))
    assert_error(response, 400, "invalid_grant", P + "The key with kid old-key has expired")
    assert post_token(mp, pyjwt_grant()).status_code == 200


def test_replayed_jti(mp: MaskinportenServer) -> None:
    grant = pyjwt_grant()
    assert post_token(mp, grant).status_code == 200
    assert_error(post_token(mp, grant), 400, "invalid_grant", "JWT ID (jti) has already been used")
    no_jti = pyjwt_grant(jti=None)
    assert post_token(mp, no_jti).status_code == 200
    assert_error(post_token(mp, no_jti), 400, "invalid_grant", "The JWT has already been used")
    assert len(mp.issued_tokens) == 2


def test_concurrent_replays_issue_exactly_one_token(mp: MaskinportenServer) -> None:
    grant = pyjwt_grant()
    statuses: list[int] = []
    lock = threading.Lock()

    def send() -> None:
        status = post_token(mp, grant).status_code
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] + [400] * 7


@pytest.mark.parametrize(
    ("header", "alg_text"),
    [({"alg": "HS256", "kid": "k1"}, "HS256"), ({"alg": "none", "kid": "k1"}, "none"), ({"alg": "PS256"}, "PS256")],
    ids=["HS256-pyjwt", "none", "PS256"],
)
def test_refused_algorithms(mp: MaskinportenServer, header: dict[str, Any], alg_text: str) -> None:
    if alg_text == "HS256":
        grant = jwt.encode(claims(), "a-shared-secret-of-32-bytes-long!", algorithm="HS256", headers={"kid": "k1"})
    else:
        grant = raw_jwt(header, claims(), None)
    description = P + f"Unsupported signing algorithm (alg): {alg_text}. Allowed: RS256, RS384, RS512"
    assert_error(post_token(mp, grant), 400, "invalid_grant", description)


def test_missing_alg(mp: MaskinportenServer) -> None:
    grant = raw_jwt({"kid": "k1"}, claims(), rsa_key("client"))
    assert_error(post_token(mp, grant), 400, "invalid_grant", P + "Missing signing algorithm (alg) in the JWT header")


def test_unsupported_grant_type_and_missing_parameters(mp: MaskinportenServer) -> None:
    assert_error(
        post_token(mp, pyjwt_grant(), grant_type="client_credentials"),
        400,
        "unsupported_grant_type",
        f"Unsupported grant_type: client_credentials. Use {JWT_BEARER_GRANT}",
    )
    assert_error(post_token(mp, None), 400, "invalid_request", "Missing required parameter: assertion")
    assert_error(post_token(mp, ""), 400, "invalid_request", "Missing required parameter: assertion")
    assert_error(
        post_token(mp, pyjwt_grant(), grant_type=None), 400, "invalid_request", "Missing required parameter: grant_type"
    )
    duplicate = f"grant_type={JWT_BEARER_GRANT}&assertion=a.b.c&assertion=d.e.f"
    response = requests.post(
        mp.token_url,
        data=duplicate,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        verify=mp.ca_path,
        timeout=10,
    )
    assert_error(response, 400, "invalid_request", "Duplicate parameter: assertion")
    as_json = requests.post(
        mp.token_url, json={"grant_type": JWT_BEARER_GRANT, "assertion": pyjwt_grant()}, verify=mp.ca_path, timeout=10
    )
    assert_error(as_json, 400, "invalid_request", "Content-Type must be application/x-www-form-urlencoded")
    get = requests.get(mp.token_url, verify=mp.ca_path, timeout=10)
    assert_error(get, 405, "invalid_request", "The token endpoint only accepts POST")


THREE_PARTS = 'Malformed JWT: expected three base64url-encoded parts separated by "."'
_GOOD_HEADER = b64url(b'{"alg":"RS256","kid":"k1"}')
_GOOD_CLAIMS = b64url(b'{"iss":"test-client"}')
_DUPLICATE_HEADER = b64url(b'{"alg":"RS256","alg":"none"}')
_NAN_CLAIMS = b64url(b'{"exp":NaN}')
_STRING_CLAIMS = b64url(b'"text"')


@pytest.mark.parametrize(
    ("assertion", "description"),
    [
        ("not-a-jwt", THREE_PARTS),
        (f"{_GOOD_HEADER}.{_GOOD_CLAIMS}", THREE_PARTS),
        (f"{_GOOD_HEADER}.{_GOOD_CLAIMS}.c2ln.ZXh0cmE", THREE_PARTS),
        (f"{_GOOD_HEADER}.{_GOOD_CLAIMS}.sig+nature", THREE_PARTS),
        (f"{_GOOD_HEADER}=.{_GOOD_CLAIMS}.c2ln", THREE_PARTS),
        (f".{_GOOD_CLAIMS}.c2ln", THREE_PARTS),
        (f"{b64url(b'not json')}.{_GOOD_CLAIMS}.c2ln", "Malformed JWT: the header is not base64url-encoded JSON"),
        (
            f"{_DUPLICATE_HEADER}.{_GOOD_CLAIMS}.c2ln",
            "Malformed JWT: the header is not base64url-encoded JSON",
        ),
        (f"{b64url(b'[1,2]')}.{_GOOD_CLAIMS}.c2ln", "Malformed JWT: the header is not a JSON object"),
        (f"{_GOOD_HEADER}.{_NAN_CLAIMS}.c2ln", "Malformed JWT: the claims are not base64url-encoded JSON"),
        (f"{_GOOD_HEADER}.{_STRING_CLAIMS}.c2ln", "Malformed JWT: the claims are not a JSON object"),
    ],
    ids=[
        "one-part",
        "two-parts",
        "four-parts",
        "non-base64url",
        "padding",
        "empty-header",
        "header-not-json",
        "duplicate-member",
        "header-array",
        "nan",
        "claims-string",
    ],
)
def test_malformed_jwt(mp: MaskinportenServer, assertion: str, description: str) -> None:
    assert_error(post_token(mp, assertion), 400, "invalid_request", description)


def test_clock_offset_simulates_skew(mp: MaskinportenServer) -> None:
    mp.clock_offset = 30.0
    assert_error(
        post_token(mp, pyjwt_grant()), 400, "invalid_grant", "Invalid iat: the clock differs by more than 10 seconds"
    )
    mp.clock_offset = 5.0
    response = post_token(mp, pyjwt_grant())
    assert response.status_code == 200
    assert mp.issued_tokens[-1].issued_at >= int(time.time()) + 4
    mp.clock_offset = 200.0
    assert_error(post_token(mp, pyjwt_grant()), 400, "invalid_grant", "The JWT has expired")


# --------------------------------------------------------------------------------------------------------------------
# Fault injection
# --------------------------------------------------------------------------------------------------------------------


def test_faults_on_the_token_endpoint(mp: MaskinportenServer) -> None:
    mp.faults.server_error(503, path="^/token$")
    assert_error(post_token(mp, pyjwt_grant()), 503, "temporarily_unavailable", "Injected fault: HTTP 503")
    assert post_token(mp, pyjwt_grant()).status_code == 200  # once only

    mp.faults.drop_connection(path="^/token$")
    with pytest.raises(requests.ConnectionError):
        post_token(mp, pyjwt_grant())
    mp.faults.latency(0.3, path="^/token$", count=1)
    started = time.monotonic()
    assert post_token(mp, pyjwt_grant()).status_code == 200
    assert time.monotonic() - started >= 0.3
    assert requests.get(mp.url + "jwk", verify=mp.ca_path, timeout=10).status_code == 200  # other paths unaffected

    token_records = mp.find_requests("POST", "^/token$")
    assert [(r.status, r.fault) for r in token_records] == [
        (503, "error"),
        (200, None),
        (None, "drop"),
        (200, "latency"),
    ]


# --------------------------------------------------------------------------------------------------------------------
# The JWKS self-service API
# --------------------------------------------------------------------------------------------------------------------


@pytest.fixture
def admin(mp: MaskinportenServer) -> dict[str, str]:
    """Authorization headers with an access token (from /token) that has idporten:dcr.write."""
    mp.register_client(ADMIN, [DCR_READ, DCR_WRITE, "other:scope"], [public_jwk(rsa_key("admin"), "admin-1")])
    token = mp.issue_access_token(ADMIN, [DCR_WRITE])  # grants for idporten:dcr.* need a business certificate
    return {"Authorization": f"Bearer {token}"}


def jwks_url(mp: MaskinportenServer, client_id: str = CLIENT) -> str:
    return f"{mp.api_url}clients/{client_id}/jwks"


def test_jwks_put_then_get_round_trip(mp: MaskinportenServer, admin: dict[str, str]) -> None:
    new_keys = {
        "keys": [
            public_jwk(rsa_key("rotated"), "2025-01.rotated"),
            public_jwk(rsa_key("next"), "next_key-2", alg="RS384", exp=_now() + 86_400),
        ]
    }
    put = requests.put(jwks_url(mp), json=new_keys, headers=admin, verify=mp.ca_path, timeout=10)
    assert put.status_code == 200, put.text
    assert put.json() == new_keys
    get = requests.get(jwks_url(mp), headers=admin, verify=mp.ca_path, timeout=10)
    assert get.status_code == 200
    assert get.json() == new_keys == mp.registered_jwks(CLIENT)

    # The replaced set is what /token now uses.
    assert post_token(mp, pyjwt_grant(rsa_key("rotated"), kid="2025-01.rotated")).status_code == 200
    assert post_token(mp, pyjwt_grant(rsa_key("next"), kid="next_key-2", alg="RS384")).status_code == 200
    assert_error(post_token(mp, pyjwt_grant()), 400, "invalid_grant", P + "Unknown key identifier (kid): k1")
    assert [r.status for r in mp.find_requests(path="^/api/")] == [200, 200]
    assert mp.find_requests("PUT")[0].client_id == CLIENT

    empty = requests.put(jwks_url(mp), json={"keys": []}, headers=admin, verify=mp.ca_path, timeout=10)
    assert empty.json() == {"keys": []} == mp.registered_jwks(CLIENT)


def _six_keys() -> dict[str, Any]:
    return {"keys": [public_jwk(rsa_key("client"), f"k{i}") for i in range(6)]}


def _key(**changes: Any) -> dict[str, Any]:
    key = public_jwk(rsa_key("client"), "k1")
    key.update(changes)
    return {k: v for k, v in key.items() if v is not None}


@pytest.mark.parametrize(
    ("body", "description"),
    [
        (_six_keys, "Too many keys: 6. A client can have at most 5 keys"),
        (
            lambda: {"keys": [private_jwk(rsa_key("client"), "k1")]},
            "keys[0] contains private key members (d, p, q, dp, dq, qi): register public keys only",
        ),
        (lambda: {"keys": [_key(use=None, n=None)]}, "keys[0] is missing required member(s): use, n"),
        (lambda: {"keys": [_key(kty="EC")]}, "keys[0]: kty must be RSA, not EC"),
        (lambda: {"keys": [_key(alg="PS256")]}, "keys[0]: alg must be one of RS256, RS384, RS512, not PS256"),
        (lambda: {"keys": [_key(use="enc")]}, "keys[0]: use must be sig, not enc"),
        (lambda: {"keys": [_key(kid="my key")]}, 'keys[0]: kid "my key" must be 1-255 characters from [A-Za-z0-9._-]'),
        (lambda: {"keys": [_key(), _key()]}, "Duplicate kid: k1"),
        (lambda: {"keys": [_key(e=7)]}, "keys[0]: e must be a string"),
        (
            lambda: {"keys": [public_jwk(rsa_key("small", 1024), "small")]},
            "keys[0]: the RSA key has 1024 bits; at least 2048 are required",
        ),
        (lambda: [_key()], 'The JWKS must be a JSON object with a "keys" array'),
    ],
    ids=["six-keys", "private", "missing", "kty", "alg", "use", "kid-chars", "duplicate", "e-type", "small", "list"],
)
def test_jwks_put_refused(mp: MaskinportenServer, admin: dict[str, str], body: Any, description: str) -> None:
    before = mp.registered_jwks(CLIENT)
    response = requests.put(jwks_url(mp), json=body(), headers=admin, verify=mp.ca_path, timeout=10)
    assert_error(response, 400, "invalid_request", description)
    assert mp.registered_jwks(CLIENT) == before
    with pytest.raises(ValueError, match=re.escape(description)):
        validate_jwks(body())


def test_jwks_api_authentication(mp: MaskinportenServer, admin: dict[str, str]) -> None:
    url, ca = jwks_url(mp), mp.ca_path
    body = mp.registered_jwks(CLIENT)

    no_token = requests.get(url, verify=ca, timeout=10)
    assert_error(no_token, 401, "invalid_token", "Missing bearer token")
    assert no_token.headers["WWW-Authenticate"].startswith("Bearer")
    assert_error(
        requests.put(url, json=body, headers={"Authorization": "Bearer forged"}, verify=ca, timeout=10),
        401,
        "invalid_token",
        "The access token was not issued by this server",
    )

    read_only = {"Authorization": f"Bearer {mp.issue_access_token(ADMIN, [DCR_READ])}"}
    assert requests.get(url, headers=read_only, verify=ca, timeout=10).json() == body
    assert_error(
        requests.put(url, json=body, headers=read_only, verify=ca, timeout=10),
        403,
        "insufficient_scope",
        "The access token lacks the scope idporten:dcr.write",
    )
    unrelated = {"Authorization": f"Bearer {token_for(mp, ADMIN, 'admin-1', rsa_key('admin'), 'other:scope')}"}
    assert_error(
        requests.get(url, headers=unrelated, verify=ca, timeout=10),
        403,
        "insufficient_scope",
        "The access token lacks the scope idporten:dcr.read or idporten:dcr.write",
    )

    assert_error(
        requests.get(jwks_url(mp, "no-such-client"), headers=admin, verify=ca, timeout=10),
        404,
        "not_found",
        "Unknown client: no-such-client",
    )
    assert_error(
        requests.put(jwks_url(mp, "no-such-client"), json=body, headers=admin, verify=ca, timeout=10),
        404,
        "not_found",
        "Unknown client: no-such-client",
    )

    mp.clock_offset = 121.0  # access tokens live 120 s
    assert_error(
        requests.get(url, headers=admin, verify=ca, timeout=10), 401, "invalid_token", "The access token has expired"
    )
    assert [(r.status, r.error) for r in mp.find_requests(path="^/api/")] == [
        (401, "invalid_token"),
        (401, "invalid_token"),
        (200, None),
        (403, "insufficient_scope"),
        (403, "insufficient_scope"),
        (404, "not_found"),
        (404, "not_found"),
        (401, "invalid_token"),
    ]


def test_direct_registration_is_validated() -> None:
    server = MaskinportenServer()  # not started: direct state access works without HTTP
    with pytest.raises(ValueError, match="Too many keys: 6"):
        server.register_client(CLIENT, [SCOPE], _six_keys())
    server.register_client(CLIENT, f"{SCOPE} {DCR_READ}", None)
    assert server.registered_jwks(CLIENT) == {"keys": []}
    assert server.client_scopes(CLIENT) == frozenset({SCOPE, DCR_READ})
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.url


# --------------------------------------------------------------------------------------------------------------------
# The command line
# --------------------------------------------------------------------------------------------------------------------


def test_cli_serves_until_sigterm(tmp_path: Path) -> None:
    jwks_file = tmp_path / "public.jwks.json"
    jwks_file.write_text(json.dumps({"keys": [public_jwk(rsa_key("client"), "k1")]}))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.servers.maskinporten",
            "--client",
            CLIENT,
            "--scope",
            SCOPE,
            "--jwks",
            str(jwks_file),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        while not lines or "Press Ctrl-C" not in lines[-1]:
            line = proc.stdout.readline()
            assert line, f"server exited early: {''.join(lines)}"
            lines.append(line)
        output = "".join(lines)
        token_url = re.search(r"token endpoint: (\S+)", output)
        ca_path = re.search(r"CA certificate: (\S+)", output)
        assert token_url is not None
        assert ca_path is not None
        grant = pyjwt_grant()
        response = requests.post(
            token_url.group(1),
            data={"grant_type": JWT_BEARER_GRANT, "assertion": grant},
            verify=ca_path.group(1),
            timeout=10,
        )
        assert response.status_code == 200, response.text
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert "stopped" in proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
