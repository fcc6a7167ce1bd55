"""Maskinporten: JWT grants exactly as Maskinporten requires them, and the token request.

    >>> from jwks_tool.maskinporten import audience_for, GrantRequest
    >>> audience_for("prod")
    'https://maskinporten.no/'
    >>> GrantRequest(client_id="c", scope="a:b").lifetime
    120

A grant (RFC 7523): header ``alg`` (RS256/384/512 from the key) and ``kid``; claims ``aud`` (the environment's
Maskinporten identifier), ``iss`` = client id, ``scope``, ``iat``, ``exp`` (at most 120 s after ``iat``), a fresh
``jti``, and optionally ``resource`` and ``consumer_org``. It is POSTed as ``grant_type=urn:ietf:params:oauth:
grant-type:jwt-bearer&assertion=<grant>`` to ``<authority>token``.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime
from typing import Any

from jwks_tool.errors import InputError, ProfileError
from jwks_tool.model import KeyRecord, KeyState
from jwks_tool.signing import Signer, compact_jws

AUDIENCES = {"test": "https://test.maskinporten.no/", "prod": "https://maskinporten.no/"}
MAX_LIFETIME = 120
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
MASKINPORTEN_ALGS = ("RS256", "RS384", "RS512")


def audience_for(env: str) -> str:
    return AUDIENCES[env]


def token_url_for(audience: str) -> str:
    return audience.rstrip("/") + "/token"


@dataclasses.dataclass(frozen=True)
class GrantRequest:
    client_id: str
    scope: str
    audience: str | None = None
    lifetime: int = MAX_LIFETIME
    resource: str | None = None
    consumer_org: str | None = None


def check_signing_key(record: KeyRecord, now: datetime, *, profile: str) -> None:
    """Refuse keys Maskinporten would refuse, before anything is signed or sent."""
    if record.state in (KeyState.RETIRED, KeyState.REVOKED):
        raise ProfileError(
            f"key {record.kid} is {record.state.value}: it is no longer registered",
            hint="sign with the active key (leave out --kid)",
        )
    if record.expires <= now:
        raise ProfileError(
            f"key {record.kid} expired on {record.expires:%Y-%m-%d}", hint="rotate: jwks-tool rotate NAME"
        )
    if profile == "maskinporten" and record.alg not in MASKINPORTEN_ALGS:
        raise ProfileError(f"Maskinporten does not take {record.alg} grants", hint="use an RSA key (RS256/384/512)")


def grant_claims(request: GrantRequest, *, env: str, now: datetime) -> dict[str, Any]:
    if not request.client_id.strip():
        raise InputError("the client id is empty", hint="pass --client-id from the portal")
    scope = " ".join(request.scope.split())
    if not scope:
        raise InputError("no scope", hint='pass --scope "altinn:instances.read ..."')
    if not 1 <= request.lifetime <= MAX_LIFETIME:
        raise InputError(
            f"a grant lives 1-{MAX_LIFETIME} seconds, not {request.lifetime}",
            hint="Maskinporten refuses exp - iat > 120",
        )
    iat = int(now.timestamp())
    claims: dict[str, Any] = {
        "aud": request.audience or audience_for(env),
        "iss": request.client_id,
        "scope": scope,
        "iat": iat,
        "exp": iat + request.lifetime,
        "jti": str(uuid.uuid4()),
    }
    if request.resource:
        claims["resource"] = request.resource
    if request.consumer_org:
        claims["consumer_org"] = request.consumer_org
    return claims


def make_grant(
    signer: Signer, record: KeyRecord, request: GrantRequest, *, env: str, now: datetime
) -> tuple[str, dict[str, Any]]:
    """The signed grant and its claims."""
    claims = grant_claims(request, env=env, now=now)
    header = {"alg": record.alg, "kid": record.kid, "typ": "JWT"}
    return compact_jws(header, claims, signer), claims
