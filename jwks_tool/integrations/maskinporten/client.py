"""Maskinporten: JWT grants exactly as Maskinporten requires them, and the token request.

    >>> from jwks_tool.integrations.maskinporten.client import GrantRequest
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

from jwks_tool.core.b64 import b64url_decode
from jwks_tool.core.environments import audience_for
from jwks_tool.core.model import KeyRecord, KeyState
from jwks_tool.core.signing import Signer, compact_jws
from jwks_tool.core.text import printable
from jwks_tool.errors import InputError, ProfileError, RemoteError
from jwks_tool.integrations.network import is_loopback

MAX_LIFETIME = 120
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
MASKINPORTEN_ALGS = ("RS256", "RS384", "RS512")


@dataclasses.dataclass(frozen=True)
class GrantRequest:
    """What a JWT grant asks Maskinporten for: the client, its scopes, and optional audience, resource, consumer org."""

    client_id: str
    scope: str
    audience: str | None = None
    lifetime: int = MAX_LIFETIME
    resource: str | None = None
    consumer_org: str | None = None


def check_signing_key(record: KeyRecord, now: datetime, *, profile: str, rotate: str = "NAME") -> None:
    """Refuse keys Maskinporten would refuse, before anything is signed or sent. ``rotate``: the set, as the hint's
    ``jwks-tool rotate`` command names it (``acme --env prod``)."""
    if record.state in (KeyState.RETIRED, KeyState.REVOKED):
        raise ProfileError(
            f"key {record.kid} is {record.state.value}: it is no longer registered",
            hint="sign with the active key (leave out --kid)",
        )
    if record.expires <= now:
        raise ProfileError(
            f"key {record.kid} expired on {record.expires:%Y-%m-%d}",
            hint=f"rotate: jwks-tool rotate {rotate} --all-steps --overlap 0, then register the new key",
        )
    if profile == "maskinporten" and record.alg not in MASKINPORTEN_ALGS:
        raise ProfileError(f"Maskinporten does not take {record.alg} grants", hint="use an RSA key (RS256/384/512)")


ORG_NUMBER_WEIGHTS = (3, 2, 7, 6, 5, 4, 3, 2)
"""Brønnøysundregistrene's weights for the modulus-11 check digit (the ninth) of an organisation number."""


def check_org_number(value: str, *, option: str = "--consumer-org") -> str:
    """``value`` if it is a Norwegian organisation number: nine digits whose last is the modulus-11 check digit of
    the first eight (weights 3 2 7 6 5 4 3 2; remainder 0 gives 0, remainder 1 no valid number), else InputError.

    >>> check_org_number("974760673")
    '974760673'
    """
    shown = printable(repr(value), limit=40)
    if not (len(value) == 9 and value.isascii() and value.isdigit()):
        raise InputError(
            f"{option} {shown} is not an organisation number",
            hint="give the nine digits of the Norwegian organisation number (orgnr), without spaces or prefix",
        )
    remainder = sum(int(digit) * weight for digit, weight in zip(value, ORG_NUMBER_WEIGHTS, strict=False)) % 11
    expected = 0 if remainder == 0 else 11 - remainder
    if expected == 10 or int(value[8]) != expected:
        raise InputError(
            f"{option} {shown} is not an organisation number: its check digit is wrong",
            hint="check the number in Enhetsregisteret (brreg.no); a typo changes the check digit",
        )
    return value


def grant_claims(request: GrantRequest, *, env: str, now: datetime) -> dict[str, Any]:
    """The grant's claims (aud, iss, scope, iat, exp, jti, ...); InputError for an empty client id or scope, or a
    lifetime outside 1-120 seconds, or a ``consumer_org`` that is not an organisation number."""
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
    if request.consumer_org is not None:
        claims["consumer_org"] = check_org_number(request.consumer_org)
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
        "the registered set lacks this kid: register it (jwks-tool export {set} --format jwks, or jwks-tool portal "
        "push {set} --client-id ID)",
    ),
    (
        "has expired",
        "the registered key has expired in Maskinporten: rotate (jwks-tool rotate {set}) and register the new key",
    ),
    ("Invalid JWT signature", "the registered key with this kid is a different key: register the set again"),
    ("clock differs", "this machine's clock is off by more than 10 seconds: synchronise it (NTP)"),
    ("already been used", "a grant works once: make a new one for each token request"),
    ("longer than 120 seconds", "exp - iat must be at most 120 seconds"),
    ("Invalid audience", "aud must be the environment's Maskinporten identifier: check --env or --audience"),
    ("Unknown client", "the client id is not known in this environment: check --client-id and --env"),
    ("not allowed for client", "the client lacks this scope: add it to the client in the portal"),
)


def explain(error: str, description: str, *, keyset: str = "NAME") -> str:
    """What a Maskinporten error means and what to do about it; ``keyset`` names the set in the commands it gives
    (``acme --env prod``)."""
    for needle, advice in _EXPLANATIONS:
        if needle.lower() in description.lower():
            return advice.replace("{set}", keyset)
    if error == "invalid_scope":
        return "the client lacks a requested scope: add it to the client in the portal"
    return "see Maskinporten's documentation of the /token endpoint"


@dataclasses.dataclass(frozen=True)
class TokenResult:
    """An access token from Maskinporten; the token itself is never in repr."""

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


MAX_RESPONSE_BYTES = 1024 * 1024
"""The most of an answer read from the token endpoint or the self-service API: honest answers are a few KB."""
HTTP_LOOPBACK_FLAG = "--allow-http-loopback"


def check_url(url: str, *, what: str, carries: str, allow_http_loopback: bool = False) -> str:
    """Refuse a URL a grant or an admin token must not be sent to: anything but https, except plain http to this
    machine when ``allow_http_loopback`` (test servers)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        parts, host = None, ""
    scheme = parts.scheme.lower() if parts is not None else ""
    shown = printable(url, limit=200)
    if scheme == "https" and host:
        return url
    if scheme == "http" and host:
        if allow_http_loopback and is_loopback(host):
            return url
        raise InputError(
            f"{what} {shown} is plain http: {carries} would travel in clear",
            hint=f"use an https:// URL (for a test server on this machine: {HTTP_LOOPBACK_FLAG})",
        )
    raise InputError(f"{what} {shown} is not an https:// URL", hint="use an https:// URL")


def _slow_hint(timeout: float, timeout_option: str | None) -> str:
    """The fix for no answer in time: raise the caller's timeout option, if it has one."""
    if timeout_option:
        return f"check the network or proxy, or raise {timeout_option}"
    return f"check the network or proxy (jwks-tool waits {timeout:g} s)"


def _http(doing: str, func: Any, slow_hint: str = "check the network or proxy") -> Any:
    import requests

    try:
        return func()
    except requests.exceptions.SSLError as exc:
        raise RemoteError(
            f"cannot {doing}: TLS verification failed",
            hint="for a private CA, pass --ca-bundle FILE holding the CA that signed this server's certificate (it "
            "is used instead of the system's CAs)",
        ) from exc
    except requests.exceptions.Timeout as exc:
        raise RemoteError(f"cannot {doing}: no answer in time", hint=slow_hint) from exc
    except requests.exceptions.ConnectionError as exc:
        raise RemoteError(
            f"cannot {doing}: cannot connect", hint="check the URL, the network and HTTPS_PROXY / NO_PROXY"
        ) from exc
    except requests.exceptions.RequestException as exc:
        raise RemoteError(f"cannot {doing}: {printable(exc, limit=300)}") from exc


@dataclasses.dataclass(frozen=True)
class Answer:
    """An HTTP answer read whole (at most :data:`MAX_RESPONSE_BYTES`)."""

    status: int
    reason: str
    body: bytes = dataclasses.field(repr=False)

    def json(self) -> Any:
        """The body as JSON, or {} when it is not JSON."""
        import json

        try:
            return json.loads(self.body)
        except ValueError:  # includes UnicodeDecodeError
            return {}


def exchange(
    doing: str,
    session: Any,
    method: str,
    url: str,
    *,
    timeout: float,
    verify: str | bool,
    timeout_option: str | None = None,
    **kwargs: Any,
) -> Answer:
    """One HTTP call with one deadline (``timeout`` seconds for connecting, sending and reading the whole answer; a
    server that trickles bytes cannot stretch it), no redirects (a 3xx is an error naming where it points) and at
    most :data:`MAX_RESPONSE_BYTES` read. ``timeout_option`` is the caller's option that sets ``timeout`` (named
    in the hint when the time runs out), None if it has none."""
    import threading
    import time

    deadline = time.monotonic() + timeout
    state: dict[str, Any] = {}
    done = threading.Event()

    def work() -> None:
        try:
            state["answer"] = _http(
                doing,
                lambda: _fetch(doing, session, method, url, deadline, timeout, verify, kwargs, state),
                _slow_hint(timeout, timeout_option),
            )
        except BaseException as exc:  # handed to the caller's thread
            state["error"] = exc
        finally:
            done.set()

    worker = threading.Thread(target=work, name="jwks-tool-http", daemon=True)
    worker.start()
    if not done.wait(max(deadline - time.monotonic(), 0.0) + 0.05):
        state["late"] = True
        _interrupt(state.get("response"), session)
        raise RemoteError(
            f"cannot {doing}: no complete answer within {timeout:g} s",
            hint=_slow_hint(timeout, timeout_option),
        )
    error = state.get("error")
    if error is not None:
        raise error
    answer: Answer = state["answer"]
    return answer


def _fetch(
    doing: str,
    session: Any,
    method: str,
    url: str,
    deadline: float,
    timeout: float,
    verify: str | bool,
    kwargs: dict[str, Any],
    state: dict[str, Any],
) -> Answer:
    import time
    from urllib.parse import urljoin, urlsplit

    if is_loopback(urlsplit(url).hostname or ""):  # never through a proxy: it would see a plain-http grant in clear
        kwargs = {**kwargs, "proxies": dict.fromkeys(("http", "https", "all"), None)}
    response = session.request(
        method, url, allow_redirects=False, stream=True, timeout=timeout, verify=verify, **kwargs
    )
    state["response"] = response
    try:
        if 300 <= response.status_code < 400:
            location = response.headers.get("Location", "")
            try:
                host = urlsplit(urljoin(url, location)).hostname or "an unnamed place"
            except ValueError:
                host = "an unreadable place"
            raise RemoteError(
                f"cannot {doing}: it redirects (HTTP {response.status_code}) to {printable(host, limit=200)}",
                hint="jwks-tool does not follow redirects with grants and tokens: give the final https:// URL",
            )
        too_big = RemoteError(
            f"cannot {doing}: its answer is larger than {MAX_RESPONSE_BYTES // (1024 * 1024)} MiB",
            hint="check the URL: no honest answer is that large",
        )
        declared = response.headers.get("Content-Length", "")
        if declared.strip().isdigit() and int(declared) > MAX_RESPONSE_BYTES:
            raise too_big
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_content(16384):
            if state.get("late") or time.monotonic() > deadline:
                raise RemoteError(f"cannot {doing}: no complete answer within {timeout:g} s")
            size += len(chunk)
            if size > MAX_RESPONSE_BYTES:
                raise too_big
            chunks.append(chunk)
        return Answer(response.status_code, str(response.reason or ""), b"".join(chunks))
    finally:
        response.close()


def _interrupt(response: Any, session: Any) -> None:
    """Past the deadline: wake the worker blocked on a slow server (it gives up at its next read) and free the
    connection."""
    import contextlib
    import socket

    if response is not None:
        with contextlib.suppress(Exception):
            response.raw.connection.sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(Exception):
        session.close()


def decode_unverified(token: str) -> dict[str, Any]:
    """A JWT's claims, for display; an opaque token gives {}."""
    import json

    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        value = json.loads(b64url_decode(parts[1]))
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def request_token(
    token_url: str,
    grant: str,
    *,
    ca_bundle: str | None,
    timeout: float,
    allow_http_loopback: bool = False,
    keyset: str = "NAME",
    timeout_option: str | None = None,
) -> TokenResult:
    """POST the grant; a refusal becomes a RemoteError with Maskinporten's code, message and the fix (its commands
    name ``keyset``, the set that signed the grant: ``acme --env prod``). The URL must be https (plain http only to
    this machine with ``allow_http_loopback``); redirects are errors. A hint names ``timeout_option`` (the caller's
    option that sets ``timeout``) when the time runs out."""
    check_url(token_url, what="the token endpoint", carries="the grant", allow_http_loopback=allow_http_loopback)
    response = exchange(
        "reach the token endpoint",
        _session(ca_bundle),
        "POST",
        token_url,
        data={"grant_type": GRANT_TYPE, "assertion": grant},
        timeout=timeout,
        verify=_verify(ca_bundle),
        timeout_option=timeout_option,
    )
    body = response.json()
    if not isinstance(body, dict):
        body = {}
    if response.status != 200:
        error = printable(body.get("error", f"HTTP {response.status}"), limit=100)
        description = printable(body.get("error_description", response.reason or ""), limit=300)
        raise RemoteError(
            f"Maskinporten refused the grant: {error}: {description}", hint=explain(error, description, keyset=keyset)
        )
    token = str(body.get("access_token", ""))
    try:
        expires_in = int(body.get("expires_in", 0))
    except (TypeError, ValueError):
        expires_in = 0
    return TokenResult(token, expires_in, str(body.get("scope", "")), decode_unverified(token))


# ---- the self-service API ----------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class PortalDiff:
    """How the keys registered in Maskinporten differ from the set's registered keys, by kid."""

    missing: tuple[str, ...]
    """In the store's registered set, not in Maskinporten: register them."""
    extra: tuple[str, ...]
    """In Maskinporten, not registered in the store (retired, revoked or foreign): remove them."""
    expiring: tuple[str, ...]
    """Registered in Maskinporten with an exp within the warning window."""

    @property
    def in_sync(self) -> bool:
        """Whether Maskinporten holds exactly the set's registered keys (expiring ones do not count)."""
        return not self.missing and not self.extra

    def to_dict(self) -> dict[str, Any]:
        """The difference as JSON output shows it."""
        return {
            "missing": list(self.missing),
            "extra": list(self.extra),
            "expiring": list(self.expiring),
            "in_sync": self.in_sync,
        }


class PortalClient:
    """Digdir's self-service API for a client's keys: GET/PUT /clients/{id}/jwks with an admin bearer token."""

    def __init__(
        self,
        api_url: str,
        token: str,
        *,
        ca_bundle: str | None = None,
        timeout: float = 30.0,
        allow_http_loopback: bool = False,
        scope: str | None = None,
    ) -> None:
        """``scope``: the scope the token was asked for, named in the hint of a 401/403 (default: the one each call
        needs, idporten:dcr.read for GET and idporten:dcr.write for PUT)."""
        check_url(
            api_url, what="the self-service API", carries="the admin token", allow_http_loopback=allow_http_loopback
        )
        self._scope = scope
        self.api_url = api_url if api_url.endswith("/") else api_url + "/"
        self._token = token
        self._session = _session(ca_bundle)
        self._verify = _verify(ca_bundle)
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"PortalClient({self.api_url!r})"

    def _call(self, method: str, client_id: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        from urllib.parse import quote

        url = f"{self.api_url}clients/{quote(client_id, safe='')}/jwks"
        headers = {"Authorization": f"Bearer {self._token}"}
        response = exchange(
            f"{method} {url}",
            self._session,
            method,
            url,
            json=body,
            headers=headers,
            timeout=self._timeout,
            verify=self._verify,
        )
        data = response.json()
        if response.status >= 400:
            if not isinstance(data, dict):
                data = {}
            message = printable(data.get("error_description") or data.get("error") or response.reason, limit=300)
            needs = self._scope or ("idporten:dcr.read" if method == "GET" else "idporten:dcr.write")
            hints = {
                401: f"the admin token is missing or expired: get one with a client that has {needs}",
                403: f"the admin client lacks {needs}",
                404: "no such client in this environment: check --client-id and --env",
            }
            raise RemoteError(
                f"the self-service API answered {response.status}: {message}",
                hint=hints.get(
                    response.status,
                    "the service failed: try again later" if response.status >= 500 else "check what the message says",
                ),
            )
        return data if isinstance(data, dict) else {}

    def get_jwks(self, client_id: str) -> list[dict[str, Any]]:
        """The keys registered for the client (GET /clients/{id}/jwks)."""
        keys = self._call("GET", client_id).get("keys", [])
        return [key for key in keys if isinstance(key, dict)] if isinstance(keys, list) else []

    def put_jwks(self, client_id: str, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Replace the client's registered keys with ``keys`` (PUT); returns what the API answers it now holds."""
        result = self._call("PUT", client_id, {"keys": keys}).get("keys", keys)
        return [key for key in result if isinstance(key, dict)] if isinstance(result, list) else []


def diff_registered(
    store_keys: list[dict[str, Any]], portal_keys: list[dict[str, Any]], *, now: datetime, warn_days: int
) -> PortalDiff:
    """Compare the store's registered keys with Maskinporten's by kid; ``expiring`` lists theirs whose ``exp`` is
    within ``warn_days`` of ``now``."""
    ours = {str(key.get("kid")): key for key in store_keys}
    theirs = {str(key.get("kid")): key for key in portal_keys}
    horizon = now.timestamp() + warn_days * 86400
    expiring = sorted(kid for kid, key in theirs.items() if isinstance(key.get("exp"), int) and key["exp"] <= horizon)
    return PortalDiff(tuple(sorted(set(ours) - set(theirs))), tuple(sorted(set(theirs) - set(ours))), tuple(expiring))
