"""``jwks-tool doctor``: check one key set end to end and give a verdict per check.

    >>> from jwks_tool.services.doctor import Check, Outcome
    >>> Check("grant", Outcome.OK, "signed and verified").line()
    'ok    grant: signed and verified'

Checks: the set has an active key; its public JWK passes the profile's lint; its expiry is far enough away; the
registered set (a file, or Digdir's self-service API) holds its kid; the Key Vault secret (when a vault is named)
decodes to it; a grant made now verifies with the published public key; and, with a scope, Maskinporten issues a
token. Checks that cannot run (no file, no vault given) are skipped, never passed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import timedelta
from enum import StrEnum
from typing import Any

from jwks_tool.core.model import KeyRecord, KeySet
from jwks_tool.errors import JwksToolError


class Outcome(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"


@dataclasses.dataclass(frozen=True)
class Check:
    name: str
    outcome: Outcome
    detail: str

    def line(self) -> str:
        return f"{self.outcome.value:<5} {self.name}: {self.detail}"

    def to_dict(self) -> dict[str, str]:
        return {"check": self.name, "outcome": self.outcome.value, "detail": self.detail}


@dataclasses.dataclass(frozen=True)
class DoctorOptions:
    warn: timedelta = timedelta(days=60)
    fail: timedelta = timedelta(days=14)
    registered: list[dict[str, Any]] | None = None
    """The registered keys (from a file or the self-service API), or None to skip that check."""
    registered_source: str = ""
    keyvault: Callable[[KeyRecord], tuple[bool, str]] | None = None
    """Compares the vault's secret with the active key: (matches, detail)."""
    token: Callable[[KeyRecord], str] | None = None
    """Gets a token with the active key; returns a detail line or raises."""


def examine(keyset: KeySet, svc: Any, options: DoctorOptions, signer_for: Callable[[KeyRecord], Any]) -> list[Check]:
    from jwks_tool.core.keys import public_jwk
    from jwks_tool.core.profiles import Severity, get_profile

    checks: list[Check] = []
    active = keyset.active
    if active is None:
        checks.append(Check("active-key", Outcome.FAIL, "no active key: clients of this set cannot sign"))
        return checks
    checks.append(Check("active-key", Outcome.OK, f"{active.kid} ({active.describe()}, {active.alg})"))

    now = svc.now()
    findings = get_profile(keyset.profile).lint_jwk(public_jwk(dict(active.public_jwk)), expect_public=True, now=now)
    if any(f.severity is Severity.ERROR for f in findings):
        checks.append(Check("lint", Outcome.FAIL, "; ".join(f.message for f in findings)))
    elif findings:
        checks.append(Check("lint", Outcome.WARN, "; ".join(f.message for f in findings)))
    else:
        checks.append(Check("lint", Outcome.OK, f"the public JWK passes the {keyset.profile} profile"))

    left = active.expires - now
    detail = f"expires {active.expires:%Y-%m-%d}, in {left.days} days"
    if left <= options.fail:
        checks.append(Check("expiry", Outcome.FAIL, detail + ": rotate now (jwks-tool rotate)"))
    elif left <= options.warn:
        checks.append(Check("expiry", Outcome.WARN, detail + ": plan a rotation"))
    else:
        checks.append(Check("expiry", Outcome.OK, detail))

    if options.registered is None:
        checks.append(Check("registered", Outcome.SKIP, "no registered set given (--registered FILE or --client-id)"))
    else:
        kids = [str(key.get("kid")) for key in options.registered]
        match = next((key for key in options.registered if key.get("kid") == active.kid), None)
        source = options.registered_source
        if match is None:
            checks.append(
                Check("registered", Outcome.FAIL, f"{source} lacks {active.kid} (has {', '.join(kids) or 'none'})")
            )
        elif (match.get("n"), match.get("x")) != (active.public_jwk.get("n"), active.public_jwk.get("x")):
            checks.append(Check("registered", Outcome.FAIL, f"{source} has a different key under {active.kid}"))
        else:
            checks.append(Check("registered", Outcome.OK, f"{source} holds {active.kid}"))

    if options.keyvault is None:
        checks.append(Check("keyvault", Outcome.SKIP, "no vault given (--vault)"))
    else:
        try:
            matches, detail = options.keyvault(active)
            checks.append(Check("keyvault", Outcome.OK if matches else Outcome.FAIL, detail))
        except JwksToolError as exc:
            checks.append(Check("keyvault", Outcome.FAIL, exc.diagnostics()))

    checks.append(_grant_check(keyset, active, signer_for))

    if options.token is None:
        checks.append(Check("token", Outcome.SKIP, "no --scope: Maskinporten not asked"))
    else:
        try:
            checks.append(Check("token", Outcome.OK, options.token(active)))
        except JwksToolError as exc:
            checks.append(Check("token", Outcome.FAIL, exc.diagnostics()))
    return checks


def _grant_check(keyset: KeySet, active: KeyRecord, signer_for: Callable[[KeyRecord], Any]) -> Check:
    from jwks_tool.core.b64 import b64url_decode
    from jwks_tool.core.keys import public_key_from_jwk
    from jwks_tool.core.signing import compact_jws

    try:
        signer = signer_for(active)
        token = compact_jws({"alg": active.alg, "kid": active.kid}, {"iss": "jwks-tool-doctor"}, signer)
        head, body, signature = token.split(".")
        _verify(public_key_from_jwk(active.public_jwk), active.alg, f"{head}.{body}".encode(), b64url_decode(signature))
    except JwksToolError as exc:
        return Check("grant", Outcome.FAIL, exc.diagnostics())
    except Exception as exc:  # cryptography's InvalidSignature carries no message
        return Check("grant", Outcome.FAIL, f"a grant signed with {active.kid} does not verify ({type(exc).__name__})")
    return Check("grant", Outcome.OK, f"a grant signed now verifies with the published {active.kid}")


def _verify(key: Any, alg: str, data: bytes, signature: bytes) -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, utils

    chosen = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}[alg[2:]]
    if alg.startswith("RS"):
        key.verify(signature, data, padding.PKCS1v15(), chosen)
        return
    half = len(signature) // 2
    der = utils.encode_dss_signature(int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big"))
    key.verify(der, data, ec.ECDSA(chosen))


def verdict(checks: list[Check]) -> Outcome:
    outcomes = {check.outcome for check in checks}
    if Outcome.FAIL in outcomes:
        return Outcome.FAIL
    return Outcome.WARN if Outcome.WARN in outcomes else Outcome.OK
