"""``jwks-tool doctor``: check one key set end to end and give a verdict per check.

    >>> from jwks_tool.core.findings import Verdict
    >>> from jwks_tool.services.doctor import Check
    >>> Check("grant", Verdict.OK, "signed and verified").line()
    'ok    grant: signed and verified'

Checks: the set has an active key; its public JWK passes the profile's lint; its expiry is far enough away; the
registered set (a file, or Digdir's self-service API) holds its kid; the Key Vault secret (when a vault is named)
decodes to it; a grant made now verifies with the published public key; and, with a scope, Maskinporten issues a
token. Checks that cannot run (no file, no vault given) are skipped, never passed.

Each check is graded with the toolkit's one :class:`~jwks_tool.core.findings.Verdict` (a skipped check has none);
doctor's own words for them (ok, warn, fail, skip) are kept in its output. The vault and the token endpoint are
reached through two small ports, :class:`SecretReader` and :class:`TokenRequester`; :class:`KeyVaultSecrets` and
:class:`MaskinportenTokens` implement them over :mod:`jwks_tool.integrations`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol, cast

from jwks_tool.core.b64 import b64url_decode
from jwks_tool.core.findings import Severity, Verdict
from jwks_tool.core.keys import public_jwk, public_key_from_jwk
from jwks_tool.core.model import KeyRecord, KeySet
from jwks_tool.core.profiles import get_profile
from jwks_tool.core.signing import compact_jws
from jwks_tool.core.text import printable
from jwks_tool.core.timeutil import expiry_phrase
from jwks_tool.errors import JwksToolError, PassphraseError
from jwks_tool.integrations.azure import secrets
from jwks_tool.integrations.azure.connection import Connection, secret_client
from jwks_tool.integrations.maskinporten.client import GrantRequest, request_token
from jwks_tool.services.key_service import KeyService

if TYPE_CHECKING:  # a type alias of cryptography's key classes, defined for type checkers only
    from jwks_tool.core.keys import PublicKey

WORDS: dict[Verdict | None, str] = {Verdict.OK: "ok", Verdict.WARNINGS: "warn", Verdict.ERRORS: "fail", None: "skip"}
"""Doctor's words for a check's verdict (None: skipped), in its text and JSON output."""


@dataclasses.dataclass(frozen=True)
class Check:
    """One check of doctor: its name, its verdict (None when it was skipped) and what it found."""

    name: str
    verdict: Verdict | None
    detail: str

    @property
    def outcome(self) -> str:
        """ok, warn, fail or skip."""
        return WORDS[self.verdict]

    def line(self) -> str:
        """The check as one line of text."""
        return f"{self.outcome:<5} {self.name}: {self.detail}"

    def to_dict(self) -> dict[str, str]:
        """The check's stable JSON shape."""
        return {"check": self.name, "outcome": self.outcome, "detail": self.detail}


@dataclasses.dataclass(frozen=True)
class VaultSecret:
    """What a vault's secret holds, as doctor sees it."""

    name: str
    exists: bool
    kid: str | None
    matches_active: bool


class SecretReader(Protocol):
    """Port: reads the Key Vault secret that should hold the active key."""

    @property
    def vault_url(self) -> str:
        """The vault, for messages."""
        ...

    def read(self, active: KeyRecord) -> VaultSecret:
        """The secret, compared with ``active``."""
        ...


@dataclasses.dataclass(frozen=True)
class IssuedToken:
    """What a token endpoint granted."""

    scope: str
    expires_in: int


class TokenRequester(Protocol):
    """Port: asks a token endpoint for an access token with a signed JWT grant."""

    def request(self, grant: str) -> IssuedToken:
        """The token issued for ``grant``, or a :class:`~jwks_tool.errors.JwksToolError`."""
        ...


@dataclasses.dataclass(frozen=True)
class KeyVaultSecrets:
    """:class:`SecretReader` over Azure Key Vault (:mod:`jwks_tool.integrations.azure.secrets`)."""

    connection: Connection
    secret_name: str

    @property
    def vault_url(self) -> str:
        """The vault's URL."""
        return self.connection.vault_url

    def read(self, active: KeyRecord) -> VaultSecret:
        """Read the secret and compare it with ``active``."""
        status = secrets.status(secret_client(self.connection), self.secret_name, active, vault=self.vault_url)
        return VaultSecret(status.name, status.exists, status.kid, status.matches_active)


@dataclasses.dataclass(frozen=True)
class MaskinportenTokens:
    """:class:`TokenRequester` over Maskinporten's token endpoint (:mod:`jwks_tool.integrations.maskinporten`)."""

    token_url: str
    ca_bundle: str | None = None
    timeout: float = 30.0
    allow_http_loopback: bool = False
    keyset: str = "NAME"
    """The set that signs the grants, as Maskinporten's error hints name it (``acme --env prod``)."""

    def request(self, grant: str) -> IssuedToken:
        """Post the grant; the issued token's scope and lifetime."""
        result = request_token(
            self.token_url,
            grant,
            ca_bundle=self.ca_bundle,
            timeout=self.timeout,
            allow_http_loopback=self.allow_http_loopback,
            keyset=self.keyset,
        )
        return IssuedToken(result.scope, result.expires_in)


@dataclasses.dataclass(frozen=True)
class DoctorOptions:
    """What doctor checks beyond the store: the expiry limits, the registered set, the vault, the token."""

    warn: timedelta = timedelta(days=60)
    fail: timedelta = timedelta(days=14)
    registered: list[dict[str, Any]] | None = None
    """The registered keys (from a file or the self-service API), or None to skip that check."""
    registered_source: str = ""
    vault: SecretReader | None = None
    """The vault whose secret should hold the active key, or None to skip that check."""
    token: TokenRequester | None = None
    """The token endpoint to ask with a grant of the active key, or None to skip that check."""
    client_id: str = ""
    scope: str = ""
    """The client and scope of that grant."""


@dataclasses.dataclass(frozen=True)
class DoctorReport:
    """Every check of one set, and their verdict."""

    keyset: KeySet
    checks: tuple[Check, ...]

    @property
    def verdict(self) -> Verdict:
        """The worst check (skipped checks do not count)."""
        return verdict(self.checks)

    def to_dict(self) -> dict[str, Any]:
        """The stable JSON shape (with the set's name and environment)."""
        return {
            "set": self.keyset.ref.name,
            "env": self.keyset.ref.env.value,
            "verdict": WORDS[self.verdict],
            "checks": [check.to_dict() for check in self.checks],
        }


def diagnose(svc: KeyService, name: str, env: str, options: DoctorOptions) -> DoctorReport:
    """Run every check on the set ``name`` of ``env`` (``jwks-tool doctor``)."""
    keyset = svc.get_set(name, env)
    return DoctorReport(keyset, tuple(examine(keyset, svc, options)))


def examine(keyset: KeySet, svc: KeyService, options: DoctorOptions) -> list[Check]:
    """Every check on ``keyset``, in order; a check that cannot run is skipped, one that breaks fails."""
    checks: list[Check] = []
    active = keyset.active
    if active is None:
        checks.append(Check("active-key", Verdict.ERRORS, "no active key: clients of this set cannot sign"))
        return checks
    checks.append(Check("active-key", Verdict.OK, f"{active.kid} ({active.describe()}, {active.alg})"))

    now = svc.now()
    findings = get_profile(keyset.profile).lint_jwk(public_jwk(dict(active.public_jwk)), expect_public=True, now=now)
    if findings:
        checks.append(Check("lint", Verdict.of(findings), "; ".join(f.message for f in findings)))
    else:
        checks.append(Check("lint", Verdict.OK, f"the public JWK passes the {keyset.profile} profile"))

    left = active.expires - now
    detail = f"{expiry_phrase(active.expires, now)} ({active.expires:%Y-%m-%d})"
    if left <= options.fail:
        checks.append(
            Check(
                "expiry",
                Severity.ERROR.verdict,
                detail + f": rotate now (jwks-tool rotate {keyset.ref.name} --env {keyset.ref.env.value})",
            )
        )
    elif left <= options.warn:
        checks.append(Check("expiry", Severity.WARNING.verdict, detail + ": plan a rotation"))
    else:
        checks.append(Check("expiry", Verdict.OK, detail))

    if options.registered is None:
        checks.append(
            Check("registered", None, "no registered set given (--registered FILE, or --api-url with --client-id)")
        )
    else:
        kids = [str(key.get("kid")) for key in options.registered]
        match = next((key for key in options.registered if key.get("kid") == active.kid), None)
        source = options.registered_source
        if match is None:
            checks.append(
                Check("registered", Verdict.ERRORS, f"{source} lacks {active.kid} (has {', '.join(kids) or 'none'})")
            )
        elif (match.get("n"), match.get("x")) != (active.public_jwk.get("n"), active.public_jwk.get("x")):
            checks.append(Check("registered", Verdict.ERRORS, f"{source} has a different key under {active.kid}"))
        else:
            checks.append(Check("registered", Verdict.OK, f"{source} holds {active.kid}"))

    if options.vault is None:
        checks.append(Check("keyvault", None, "no vault given (--vault)"))
    else:
        checks.append(_vault_check(options.vault, active))

    checks.append(_grant_check(svc, keyset, active))

    if options.token is None:
        checks.append(Check("token", None, "no --scope: Maskinporten not asked"))
    else:
        checks.append(_token_check(svc, keyset, active, options))
    return checks


def _vault_check(vault: SecretReader, active: KeyRecord) -> Check:
    try:
        secret = vault.read(active)
    except JwksToolError as exc:
        return Check("keyvault", Verdict.ERRORS, exc.diagnostics())
    if not secret.exists:
        return Check("keyvault", Verdict.ERRORS, f"{secret.name} is missing in {vault.vault_url}")
    if secret.matches_active:
        return Check("keyvault", Verdict.OK, f"{secret.name} decodes to the active key")
    return Check("keyvault", Verdict.ERRORS, f"{secret.name} holds {secret.kid}, not the active key")


def _token_check(svc: KeyService, keyset: KeySet, active: KeyRecord, options: DoctorOptions) -> Check:
    assert options.token is not None
    try:
        grant = svc.grant(
            keyset.ref.name, keyset.ref.env.value, GrantRequest(options.client_id, options.scope), kid=active.kid
        )
        issued = options.token.request(grant.token)
    except PassphraseError:
        raise  # the passphrase is needed to run the check, not a finding about the set (exit 8, as everywhere)
    except JwksToolError as exc:
        return Check("token", Verdict.ERRORS, exc.diagnostics())
    return Check(
        "token", Verdict.OK, f"Maskinporten issued a token (scope {printable(issued.scope)}, {issued.expires_in} s)"
    )


def _grant_check(svc: KeyService, keyset: KeySet, active: KeyRecord) -> Check:
    try:
        signer = svc.signer_for(keyset, active)
        token = compact_jws({"alg": active.alg, "kid": active.kid}, {"iss": "jwks-tool-doctor"}, signer)
        head, body, signature = token.split(".")
        _verify(public_key_from_jwk(active.public_jwk), active.alg, f"{head}.{body}".encode(), b64url_decode(signature))
    except PassphraseError:
        raise  # the passphrase is needed to run the check, not a finding about the set (exit 8, as everywhere)
    except JwksToolError as exc:
        return Check("grant", Verdict.ERRORS, exc.diagnostics())
    except Exception as exc:  # cryptography's InvalidSignature carries no message
        return Check(
            "grant", Verdict.ERRORS, f"a grant signed with {active.kid} does not verify ({type(exc).__name__})"
        )
    return Check("grant", Verdict.OK, f"a grant signed now verifies with the published {active.kid}")


def _verify(key: PublicKey, alg: str, data: bytes, signature: bytes) -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

    chosen = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}[alg[2:]]
    if alg.startswith("RS"):  # by the key's alg: a key that does not match it fails to verify
        cast("rsa.RSAPublicKey", key).verify(signature, data, padding.PKCS1v15(), chosen)
        return
    half = len(signature) // 2
    der = utils.encode_dss_signature(int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big"))
    cast("ec.EllipticCurvePublicKey", key).verify(der, data, ec.ECDSA(chosen))


def verdict(checks: Iterable[Check]) -> Verdict:
    """The worst verdict of ``checks`` (skipped checks do not count)."""
    return Verdict.worst(check.verdict for check in checks if check.verdict is not None)
