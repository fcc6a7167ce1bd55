"""Signing in to Digdir's self-service API with the organisation's business certificate.

    >>> from jwks_tool.integrations.maskinporten.admin import DCR_SCOPES, scope_for
    >>> scope_for("read")
    'idporten:dcr.read'
    >>> DCR_SCOPES
    ('idporten:dcr.read', 'idporten:dcr.modify', 'idporten:dcr.write')

Digdir takes an admin client's grant only when it carries the business certificate (virksomhetssertifikat): header
``alg`` RS256 and ``x5c`` = [leaf, intermediates...] in standard base64 DER, and no ``kid`` (with a ``kid``
Maskinporten looks for a registered key instead); claims ``aud``, ``iss`` = the admin client's id, ``scope``
(``idporten:dcr.*``), ``iat``, ``exp`` (at most 120 s later) and a fresh ``jti``; signed by the certificate's key
(Digdir's "JWT grant" documentation, felleslosninger/docs ``oidc_protocol_jwtgrant``). :func:`admin_token` checks the
certificate's dates before anything is signed or sent, and verifies its own signature with the leaf's public key
(a vault key that does not match its certificate is found here, not by Digdir).

    credential = load_pkcs12(data, passphrase)            # or open_vault_certificate(...) for Azure Key Vault
    token = admin_token(credential, AdminRequest(client_id, "read", env="test"), token_url=..., ca_bundle=...)
    PortalClient(api_url, token.access_token).get_jwks("my-client")
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from jwks_tool.core.certificates import AdminCredential
from jwks_tool.core.environments import audience_for, token_url_for
from jwks_tool.core.signing import compact_jws
from jwks_tool.errors import InputError
from jwks_tool.integrations.maskinporten.client import MAX_LIFETIME, TokenResult, request_token

DCR_SCOPES = ("idporten:dcr.read", "idporten:dcr.modify", "idporten:dcr.write")
"""The self-service API's scopes: read a client, change it, create and delete clients and keys."""

Operation = Literal["read", "modify", "write"]


def scope_for(operation: Operation) -> str:
    """The one scope an operation needs: ``read`` (GET), ``modify`` (PUT/PATCH of a client), ``write``."""
    return f"idporten:dcr.{operation}"


@dataclasses.dataclass(frozen=True)
class AdminRequest:
    """What the admin grant asks for: the admin client, the self-service scopes, which environment (or audience)."""

    client_id: str
    scope: str = "idporten:dcr.read idporten:dcr.write"
    env: str = "test"
    audience: str | None = None
    lifetime: int = MAX_LIFETIME


@dataclasses.dataclass(frozen=True)
class AdminGrant:
    """A signed admin grant, its header and claims (no secret: a grant is single-use and lives 120 s)."""

    token: str = dataclasses.field(repr=False)
    header: dict[str, Any]
    claims: dict[str, Any]


def admin_grant(credential: AdminCredential, request: AdminRequest, *, now: datetime | None = None) -> AdminGrant:
    """The JWT grant Digdir wants from a self-service client: ``x5c`` chain, RS256, no ``kid``.

    InputError (exit 3) for an empty client id, a scope outside ``idporten:dcr.*``, a lifetime outside 1-120 s, or a
    certificate outside its validity dates (checked against ``now``) or whose key does not sign for it.
    """
    moment = now or datetime.now(UTC)
    credential.certificate.check_valid(moment)
    client_id = request.client_id.strip()
    if not client_id or not client_id.isprintable():
        raise InputError("the admin client id is empty or not one printable line", hint="pass --admin-client-id")
    scopes = request.scope.split()
    if not scopes or any(scope not in DCR_SCOPES for scope in scopes):
        raise InputError(
            f"the admin grant asks for {' '.join(scopes) or 'no scope'}",
            hint=f"the self-service API's scopes are {', '.join(DCR_SCOPES)}",
        )
    if not 1 <= request.lifetime <= MAX_LIFETIME:
        raise InputError(f"a grant lives 1-{MAX_LIFETIME} seconds, not {request.lifetime}")
    if credential.alg != "RS256":
        raise InputError(f"a business-certificate grant is RS256, not {credential.alg}")
    iat = int(moment.timestamp())
    claims: dict[str, Any] = {
        "aud": request.audience or audience_for(request.env),
        "iss": client_id,
        "scope": " ".join(scopes),
        "iat": iat,
        "exp": iat + request.lifetime,
        "jti": str(uuid.uuid4()),
    }
    header: dict[str, Any] = {"alg": "RS256", "x5c": credential.certificate.x5c()}
    token = compact_jws(header, claims, credential)
    _check_signature(credential, token)
    return AdminGrant(token, header, claims)


def _check_signature(credential: AdminCredential, token: str) -> None:
    """Verify the grant with the leaf's public key: a vault key that is not the certificate's is caught here."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    from jwks_tool.core.b64 import b64url_decode

    signing_input, _, signature = token.rpartition(".")
    public = credential.certificate.leaf.public_key()
    mismatch = InputError(
        "the signing key does not belong to the business certificate",
        hint="use the certificate together with its own key (the Key Vault certificate's key of the same name)",
    )
    if not isinstance(public, rsa.RSAPublicKey):
        raise mismatch
    try:
        public.verify(b64url_decode(signature), signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature as exc:
        raise mismatch from exc


def admin_token(
    credential: AdminCredential,
    request: AdminRequest,
    *,
    token_url: str | None = None,
    ca_bundle: str | None = None,
    timeout: float = 30.0,
    allow_http_loopback: bool = False,
    now: datetime | None = None,
) -> TokenResult:
    """Make the admin grant and exchange it at Maskinporten's token endpoint (``token_url``, default the
    environment's) for an access token to the self-service API. RemoteError (exit 10) when Maskinporten refuses."""
    grant = admin_grant(credential, request, now=now)
    url = token_url or token_url_for(request.audience or audience_for(request.env))
    return request_token(
        url, grant.token, ca_bundle=ca_bundle, timeout=timeout, allow_http_loopback=allow_http_loopback
    )
