"""``jwks-tool inspect``: say what a key file is and lint it against a profile.

    >>> from jwks_tool.services.inspecting import inspect_bytes, Expect
    >>> from jwks_tool.core.profiles import get_profile
    >>> report = inspect_bytes(b'{"kty":"RSA","n":"AQAB","e":"AQAB"}', get_profile("maskinporten"), Expect.ANY)
    >>> report.kind, report.verdict.value
    ('public JWK', 'errors')

Findings are errors (the authorization server or Altinn will refuse it, or it is unsafe) or warnings (it works but
is risky or incomplete). The verdict is the worst finding; the command line turns it into the exit code.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from jwks_tool.core.findings import Finding, Severity, Verdict
from jwks_tool.core.keys import (
    EC_PRIVATE_ORDER,
    MAX_RSA_BITS,
    RSA_PRIVATE_ORDER,
    PassphraseCallback,
    public_key_problems,
    thumbprint,
    validate_private_jwk,
)
from jwks_tool.core.model import utcnow
from jwks_tool.core.profiles import Profile, duplicate_kids, rsa_bits
from jwks_tool.core.reading import FoundInput, FoundKey, read_input
from jwks_tool.errors import JwksToolError


class Expect(StrEnum):
    """What the user means to hold; changes which findings are errors."""

    ANY = "any"
    PUBLIC = "public"
    """A public JWK or JWKS to register with the authorization server."""
    PRIVATE = "private"
    """A private key (to import or keep)."""
    KEYVAULT = "keyvault"
    """A Key Vault value for Altinn: base64 of one private JWK with all the members Altinn validates."""


@dataclasses.dataclass(frozen=True)
class KeySummary:
    """What inspect shows of one key: never key material."""

    kid: str | None
    kty: str
    size: int | None
    crv: str | None
    alg: str | None
    use: str | None
    private: bool
    thumbprint: str | None
    expires: datetime | None

    def to_dict(self) -> dict[str, Any]:
        """The summary as JSON (``expires`` in UTC, ISO 8601)."""
        return {
            "kid": self.kid,
            "kty": self.kty,
            "size": self.size,
            "crv": self.crv,
            "alg": self.alg,
            "use": self.use,
            "private": self.private,
            "thumbprint": self.thumbprint,
            "expires": None if self.expires is None else self.expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }


@dataclasses.dataclass(frozen=True)
class InspectReport:
    """What inspect found in one input: its format, the keys in it and the findings against the profile."""

    source: str
    code: str
    kind: str
    encoding: str
    profile: str
    expect: Expect
    keys: tuple[KeySummary, ...]
    findings: tuple[Finding, ...]

    @property
    def verdict(self) -> Verdict:
        """The worst of the findings: ok, warnings or errors."""
        return Verdict.of(self.findings)

    def to_dict(self) -> dict[str, Any]:
        """The report as inspect's --json prints it."""
        return {
            "source": self.source,
            "format": self.code,
            "kind": self.kind,
            "encoding": self.encoding,
            "profile": self.profile,
            "expect": self.expect.value,
            "verdict": self.verdict.value,
            "keys": [key.to_dict() for key in self.keys],
            "findings": [finding.to_dict() for finding in self.findings],
        }


def inspect_bytes(
    data: bytes,
    profile: Profile,
    expect: Expect,
    *,
    source: str = "-",
    passphrase: PassphraseCallback | None = None,
    now: datetime | None = None,
) -> InspectReport:
    """Read ``data`` (PEM, JWK, JWKS, base64 JWK, ...) and check it against ``profile`` and what the user means to
    hold (``expect``); an encrypted key without ``passphrase`` is reported as a warning, its contents unchecked."""
    found = read_input(data, passphrase=passphrase)
    moment = now or utcnow()
    findings: list[Finding] = []
    if found.locked:
        findings.append(
            Finding(
                Severity.WARNING,
                "encrypted",
                "the key is encrypted and no passphrase was given, so the key inside was not checked "
                "(set JWKS_TOOL_KEY_PASSPHRASE)",
            )
        )
    findings.extend(_container_findings(found, profile, expect))
    summaries: list[KeySummary] = []
    for index, key in enumerate(found.keys):
        where = f"keys[{index}]" if found.container in ("jwks", "array") else ""
        summary, key_findings = _inspect_key(key, profile, expect, where, moment)
        summaries.append(summary)
        findings.extend(key_findings)
    return InspectReport(
        source=source,
        code=found.code,
        kind=found.kind,
        encoding=found.encoding,
        profile=profile.name,
        expect=expect,
        keys=tuple(summaries),
        findings=tuple(findings),
    )


def _container_findings(found: FoundInput, profile: Profile, expect: Expect) -> list[Finding]:
    findings: list[Finding] = []
    one_expected = expect is Expect.KEYVAULT or (expect is Expect.ANY and found.encoding.startswith("base64"))
    if found.container in ("jwks", "array") and one_expected:
        findings.append(
            Finding(
                Severity.ERROR,
                "jwks-not-jwk",
                f"a {found.kind} where one JWK is expected: Altinn's EncodedJwk/JwkBase64 decode one private JWK",
            )
        )
    if found.container == "array":
        findings.append(
            Finding(
                Severity.WARNING,
                "bare-array",
                'a bare JSON array of JWKs; the standard JWKS form is {"keys": [...]} (export --format jwks)',
            )
        )
    if found.container in ("jwks", "array"):
        if not found.keys:
            findings.append(Finding(Severity.ERROR, "empty-set", "the set holds no keys"))
        if profile.max_registered is not None and len(found.keys) > profile.max_registered:
            findings.append(
                Finding(
                    Severity.ERROR,
                    "too-many-keys",
                    f"{len(found.keys)} keys; {profile.name} holds at most {profile.max_registered} per client",
                )
            )
        duplicates = duplicate_kids(key.jwk for key in found.keys)
        if duplicates:
            findings.append(
                Finding(Severity.ERROR, "duplicate-kid", f"kid used more than once: {', '.join(duplicates)}")
            )
    if expect in (Expect.PRIVATE, Expect.KEYVAULT) and found.keys and not any(key.private for key in found.keys):
        findings.append(Finding(Severity.ERROR, "not-private", "only public keys, where a private key is expected"))
    if found.encoding == "base64url" and expect in (Expect.ANY, Expect.KEYVAULT):
        findings.append(
            Finding(
                Severity.ERROR if expect is Expect.KEYVAULT else Severity.WARNING,
                "not-standard-base64",
                "URL-safe or unpadded base64: Altinn decodes Key Vault values with .NET's Convert.FromBase64String, "
                "which needs standard, padded base64 (export --private --format base64)",
            )
        )
    if expect is Expect.KEYVAULT and not found.encoding.startswith("base64"):
        findings.append(
            Finding(
                Severity.ERROR,
                "not-base64",
                f"a {found.kind}, not base64: Key Vault values for Altinn are base64 of the JWK's JSON "
                "(export --private --format base64)",
            )
        )
    return findings


def _inspect_key(
    key: FoundKey, profile: Profile, expect: Expect, where: str, now: datetime
) -> tuple[KeySummary, list[Finding]]:
    jwk = key.jwk
    kty = jwk.get("kty")
    label = " ".join(part for part in (where, f"kid={jwk['kid']}" if isinstance(jwk.get("kid"), str) else "") if part)
    findings: list[Finding] = []
    in_set = bool(where)
    expect_public = expect is Expect.PUBLIC or (in_set and expect is Expect.ANY)
    if key.from_pem:
        findings.extend(
            f
            for f in profile.lint_jwk(jwk, where=label, expect_public=False, now=now)
            if f.code not in ("missing-use", "missing-alg", "missing-kid")
        )
        if key.private and expect is Expect.PUBLIC:
            findings.append(
                Finding(Severity.ERROR, "private-members", "a private key where a public key belongs", label)
            )
    else:
        lint = profile.lint_jwk(jwk, where=label, expect_public=expect_public, now=now)
        if key.private and in_set and expect is Expect.ANY:
            lint = [
                dataclasses.replace(f, severity=Severity.WARNING) if f.code == "private-members" else f for f in lint
            ]
        findings.extend(lint)
    bits = rsa_bits(jwk) if kty == "RSA" else None
    if bits is not None and bits > MAX_RSA_BITS:
        findings.append(
            Finding(Severity.ERROR, "huge-key", f"RSA {bits} is beyond any sane size (at most {MAX_RSA_BITS})", label)
        )
    elif kty in ("RSA", "EC"):
        public = _check_public(jwk, label)  # every fault of the public half, each named
        findings.extend(public)
        if not public and key.private and not key.from_pem:
            findings.extend(_check_private(jwk, label))
    if expect is Expect.KEYVAULT and key.private:
        order = RSA_PRIVATE_ORDER if kty == "RSA" else EC_PRIVATE_ORDER
        missing = [member for member in order if member not in jwk]
        if missing:
            findings.append(
                Finding(
                    Severity.ERROR,
                    "altinn-members",
                    f"missing {', '.join(missing)}: Altinn requires {' '.join(order)} in the private JWK",
                    label,
                )
            )
    try:
        thumb: str | None = thumbprint(jwk)
    except JwksToolError:
        thumb = None
    exp = jwk.get("exp")
    expires = None
    if isinstance(exp, int) and not isinstance(exp, bool):
        try:
            expires = datetime.fromtimestamp(exp, UTC)
        except (OverflowError, OSError, ValueError):
            expires = None
    crv = jwk.get("crv")
    summary = KeySummary(
        kid=_str_or_none(jwk.get("kid")),
        kty=str(kty),
        size=bits if kty == "RSA" else ({"P-256": 256, "P-384": 384, "P-521": 521}.get(str(crv))),
        crv=_str_or_none(crv),
        alg=_str_or_none(jwk.get("alg")),
        use=_str_or_none(jwk.get("use")),
        private=key.private,
        thumbprint=thumb,
        expires=expires,
    )
    return summary, findings


def _check_public(jwk: dict[str, Any], where: str) -> list[Finding]:
    return [Finding(Severity.ERROR, code, message, where) for code, message in public_key_problems(jwk)]


def _check_private(jwk: dict[str, Any], where: str) -> list[Finding]:
    try:
        validate_private_jwk(jwk)
    except JwksToolError as exc:
        return [Finding(Severity.ERROR, "invalid-private-key", exc.message, where)]
    return []


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None
