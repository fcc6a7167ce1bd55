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


# ---- the token endpoint -------------------------------------------------------------------------------------------
PORTAL_APIS = {
    "test": "https://api.test.samarbeid.digdir.no/api/v1/",
    "prod": "https://api.samarbeid.digdir.no/api/v1/",
}

_EXPLANATIONS = (
    (
        "Unknown key identifier",
        "the registered set lacks this kid: register it (export NAME --format jwks, or jwks-tool portal push)",
    ),
    (
        "has expired",
        "the registered key has expired in Maskinporten: rotate (jwks-tool rotate NAME) and register the new key",
    ),
    ("Invalid JWT signature", "the registered key with this kid is a different key: register the set again"),
    ("clock differs", "this machine's clock is off by more than 10 seconds: synchronise it (NTP)"),
    ("already been used", "a grant works once: make a new one for each token request"),
    ("longer than 120 seconds", "exp - iat must be at most 120 seconds"),
    ("Invalid audience", "aud must be the environment's Maskinporten identifier: check --env or --audience"),
    ("Unknown client", "the client id is not known in this environment: check --client-id and --env"),
    ("not allowed for client", "the client lacks this scope: add it to the client in the portal"),
)


def explain(error: str, description: str) -> str:
    """What a Maskinporten error means and what to do about it."""
    for needle, advice in _EXPLANATIONS:
        if needle.lower() in description.lower():
            return advice
    if error == "invalid_scope":
        return "the client lacks a requested scope: add it to the client in the portal"
    return "see Maskinporten's documentation of the /token endpoint"


@dataclasses.dataclass(frozen=True)
class TokenResult:
    access_token: str = dataclasses.field(repr=False)
    expires_in: int
    scope: str
    claims: dict[str, Any]
    """The access token's claims, decoded without verification (for display only)."""


def _session(ca_bundle: str | None) -> Any:
    import requests

    session = requests.Session()
    session.headers["User-Agent"] = "jwks-tool"
    return session


def _verify(ca_bundle: str | None) -> str | bool:
    """Passed on every request: requests lets REQUESTS_CA_BUNDLE override a session's own CA, not a request's.
    Without --ca-bundle, True: the system's CAs (and REQUESTS_CA_BUNDLE) apply. Proxies come from the environment."""
    return ca_bundle if ca_bundle else True


def _http(doing: str, func: Any) -> Any:
    import requests

    from jwks_tool.errors import RemoteError

    try:
        return func()
    except requests.exceptions.SSLError as exc:
        raise RemoteError(f"cannot {doing}: TLS verification failed", hint="pass --ca-bundle for a private CA") from exc
    except requests.exceptions.Timeout as exc:
        raise RemoteError(
            f"cannot {doing}: no answer in time", hint="check the network or proxy, or raise --timeout"
        ) from exc
    except requests.exceptions.ConnectionError as exc:
        raise RemoteError(
            f"cannot {doing}: cannot connect", hint="check the URL, the network and HTTPS_PROXY / NO_PROXY"
        ) from exc
    except requests.exceptions.RequestException as exc:
        raise RemoteError(f"cannot {doing}: {exc}") from exc


def decode_unverified(token: str) -> dict[str, Any]:
    """A JWT's claims, for display; an opaque token gives {}."""
    import json

    from jwks_tool.b64 import b64url_decode

    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        value = json.loads(b64url_decode(parts[1]))
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def request_token(token_url: str, grant: str, *, ca_bundle: str | None, timeout: float) -> TokenResult:
    """POST the grant; a refusal becomes a RemoteError with Maskinporten's code, message and the fix."""
    from jwks_tool.errors import RemoteError

    session = _session(ca_bundle)
    response = _http(
        "reach the token endpoint",
        lambda: session.post(
            token_url,
            data={"grant_type": GRANT_TYPE, "assertion": grant},
            timeout=timeout,
            verify=_verify(ca_bundle),
        ),
    )
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code != 200:
        error = str(body.get("error", f"HTTP {response.status_code}"))
        description = str(body.get("error_description", response.reason or ""))
        raise RemoteError(f"Maskinporten refused the grant: {error}: {description}", hint=explain(error, description))
    token = str(body.get("access_token", ""))
    return TokenResult(token, int(body.get("expires_in", 0)), str(body.get("scope", "")), decode_unverified(token))


# ---- the self-service API ----------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class PortalDiff:
    missing: tuple[str, ...]
    """In the store's registered set, not in Maskinporten: register them."""
    extra: tuple[str, ...]
    """In Maskinporten, not registered in the store (retired, revoked or foreign): remove them."""
    expiring: tuple[str, ...]
    """Registered in Maskinporten with an exp within the warning window."""

    @property
    def in_sync(self) -> bool:
        return not self.missing and not self.extra

    def to_dict(self) -> dict[str, Any]:
        return {
            "missing": list(self.missing),
            "extra": list(self.extra),
            "expiring": list(self.expiring),
            "in_sync": self.in_sync,
        }


class PortalClient:
    """Digdir's self-service API for a client's keys: GET/PUT /clients/{id}/jwks with an admin bearer token."""

    def __init__(self, api_url: str, token: str, *, ca_bundle: str | None = None, timeout: float = 30.0) -> None:
        self.api_url = api_url if api_url.endswith("/") else api_url + "/"
        self._token = token
        self._session = _session(ca_bundle)
        self._verify = _verify(ca_bundle)
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"PortalClient({self.api_url!r})"

    def _call(self, method: str, client_id: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        from urllib.parse import quote

        from jwks_tool.errors import RemoteError

        url = f"{self.api_url}clients/{quote(client_id, safe='')}/jwks"
        headers = {"Authorization": f"Bearer {self._token}"}
        response = _http(
            f"{method} {url}",
            lambda: self._session.request(
                method, url, json=body, headers=headers, timeout=self._timeout, verify=self._verify
            ),
        )
        try:
            data = response.json()
        except ValueError:
            data = {}
        if response.status_code >= 400:
            message = data.get("error_description") or data.get("error") or response.reason
            hints = {
                401: "the admin token is missing or expired: get one with a client that has idporten:dcr.write",
                403: "the admin client lacks idporten:dcr.write (or dcr.read)",
                404: "no such client in this environment: check --client-id and --env",
            }
            raise RemoteError(
                f"the self-service API answered {response.status_code}: {message}",
                hint=hints.get(response.status_code, "check what the message says"),
            )
        return data if isinstance(data, dict) else {}

    def get_jwks(self, client_id: str) -> list[dict[str, Any]]:
        keys = self._call("GET", client_id).get("keys", [])
        return [key for key in keys if isinstance(key, dict)]

    def put_jwks(self, client_id: str, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        result = self._call("PUT", client_id, {"keys": keys}).get("keys", keys)
        return [key for key in result if isinstance(key, dict)]


def diff_registered(
    store_keys: list[dict[str, Any]], portal_keys: list[dict[str, Any]], *, now: datetime, warn_days: int
) -> PortalDiff:
    ours = {str(key.get("kid")): key for key in store_keys}
    theirs = {str(key.get("kid")): key for key in portal_keys}
    horizon = now.timestamp() + warn_days * 86400
    expiring = sorted(kid for kid, key in theirs.items() if isinstance(key.get("exp"), int) and key["exp"] <= horizon)
    return PortalDiff(tuple(sorted(set(ours) - set(theirs))), tuple(sorted(set(theirs) - set(ours))), tuple(expiring))
