"""Profiles: what an authorization server accepts, as rules for generating and a linter for reading keys.

    >>> from jwks_tool.core.profiles import get_profile
    >>> mp = get_profile("maskinporten")
    >>> [f.code for f in mp.lint_jwk({"kty": "EC", "crv": "P-256", "x": "..", "y": ".."})]
    ['unsupported-kty', 'missing-use', 'missing-alg', 'missing-kid']

``maskinporten`` follows Digdir's rules: RSA only (RS256/RS384/RS512), ``kty alg use n e`` required, kid characters
``[A-Za-z0-9._-]``, at most 5 registered keys, a key lives at most one year. ``generic`` takes RSA and EC keys for
other OAuth servers and only flags what is unsafe.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from jwks_tool.core.b64 import b64url_decode
from jwks_tool.core.findings import Finding, Severity
from jwks_tool.core.model import (
    EC_CURVE_ALGS,
    KID_RE,
    MIN_RSA_BITS,
    PRIVATE_MEMBERS,
    PROFILE_KEY_TYPES,
    RSA_ALGS,
)
from jwks_tool.errors import InputError, ProfileError

RSA_SIZES = (2048, 3072, 4096)


@dataclasses.dataclass(frozen=True)
class Profile:
    """The rules of one kind of authorization server."""

    name: str
    summary: str
    key_types: frozenset[str]
    rsa_algs: tuple[str, ...]
    ec_curves: Mapping[str, str]
    min_rsa_bits: int
    max_registered: int | None
    max_lifetime: timedelta | None
    strict_members: bool
    """Missing ``use``/``alg`` are errors (the server requires them), not warnings."""

    # ---- generating -------------------------------------------------------------------------------------------
    def check_new_key(self, *, kty: str, size: int, crv: str | None, alg: str, lifetime: timedelta) -> None:
        """Refuse a key this profile's server would reject, with the way out."""
        escape = "use --profile generic for a key that other OAuth servers accept"
        if kty not in self.key_types:
            raise ProfileError(f"the {self.name} profile does not take {kty} keys ({self.summary})", hint=escape)
        if kty == "RSA":
            if size < self.min_rsa_bits:
                raise ProfileError(
                    f"RSA {size} is too small for the {self.name} profile (at least {self.min_rsa_bits} bits)",
                    hint=f"use a key of {self.min_rsa_bits} bits or more ({RSA_SIZES[1]} recommended)",
                )
            if alg not in self.rsa_algs:
                raise ProfileError(
                    f"the {self.name} profile does not take alg {alg} for RSA keys",
                    hint=f"use --alg with one of {', '.join(self.rsa_algs)}",
                )
        elif crv not in self.ec_curves:
            raise ProfileError(f"the {self.name} profile does not take curve {crv}", hint=escape)
        if self.max_lifetime is not None and lifetime > self.max_lifetime:
            raise ProfileError(
                f"the {self.name} profile allows keys to live at most {self.max_lifetime.days} days",
                hint=f"use --expires-in {self.max_lifetime.days}d or less",
            )
        if lifetime <= timedelta(0):
            raise InputError("the key's lifetime must be positive", hint="use --expires-in 365d, for example")

    def check_kid(self, kid: str) -> None:
        """InputError unless ``kid`` is 1-255 characters of A-Z a-z 0-9 . _ - (Maskinporten's rule, kept for every
        profile, the store's too): a malformed kid is bad input (exit 3), not a profile's refusal (exit 4)."""
        if not KID_RE.fullmatch(kid) or len(kid) > 255:
            raise InputError(
                f"invalid kid {kid!r}",
                hint="use 1-255 characters of A-Z a-z 0-9 . _ - (Maskinporten's rule, kept for every profile)",
            )

    def default_alg(self, kty: str, crv: str | None) -> str:
        """The algorithm a new key gets: ES256/384/512 by curve for EC, the profile's first RSA one for RSA."""
        if kty == "EC":
            return EC_CURVE_ALGS[crv or "P-256"]
        return self.rsa_algs[0]

    # ---- linting ----------------------------------------------------------------------------------------------
    def lint_jwk(
        self,
        jwk: Mapping[str, Any],
        *,
        where: str = "",
        expect_public: bool = False,
        now: datetime | None = None,
    ) -> list[Finding]:
        """Check one JWK against this profile."""
        findings: list[Finding] = []

        def add(severity: Severity, code: str, message: str) -> None:
            findings.append(Finding(severity, code, message, where))

        missing = Severity.ERROR if self.strict_members else Severity.WARNING
        kty = jwk.get("kty")
        if not isinstance(kty, str) or kty not in ("RSA", "EC"):
            add(Severity.ERROR, "bad-kty", f"kty {kty!r} is not an RSA or EC key")
            return findings
        if kty not in self.key_types:
            add(
                Severity.ERROR,
                "unsupported-kty",
                f"{self.name} does not accept {kty} keys; it takes RSA only",
            )
        private = [member for member in PRIVATE_MEMBERS if member in jwk]
        if private and expect_public:
            add(
                Severity.ERROR,
                "private-members",
                f"private members ({', '.join(private)}) where a public key belongs: never publish or register these",
            )
        use = jwk.get("use")
        if use is None:
            add(missing, "missing-use", "no 'use' member (should be \"sig\")")
        elif use != "sig":
            add(Severity.ERROR, "bad-use", f'use is {use!r}; signing keys need "sig"')
        alg = jwk.get("alg")
        if alg is None:
            add(missing, "missing-alg", "no 'alg' member")
        elif kty == "RSA" and alg not in self.rsa_algs:
            add(
                Severity.ERROR,
                "bad-alg",
                f"alg {alg!r} is not accepted here (use one of {', '.join(self.rsa_algs)})",
            )
        elif kty == "EC" and alg != EC_CURVE_ALGS.get(str(jwk.get("crv"))):
            add(Severity.ERROR, "bad-alg", f"alg {alg!r} does not match curve {jwk.get('crv')!r}")
        kid = jwk.get("kid")
        if kid is None:
            add(
                Severity.WARNING,
                "missing-kid",
                "no 'kid' member: JWT grants must name the key in their header",
            )
        elif not isinstance(kid, str) or not KID_RE.fullmatch(kid):
            add(Severity.ERROR, "bad-kid", f"kid {kid!r} has characters outside A-Z a-z 0-9 . _ -")
        if kty == "RSA":
            bits = rsa_bits(jwk)
            if bits is None:
                add(Severity.ERROR, "bad-modulus", "'n' is missing or not base64url")
            elif bits < self.min_rsa_bits:
                add(Severity.ERROR, "weak-key", f"RSA {bits} is too weak (at least {self.min_rsa_bits} bits)")
            if not isinstance(jwk.get("e"), str):
                add(Severity.ERROR, "bad-exponent", "'e' is missing")
        elif not isinstance(jwk.get("crv"), str) or jwk.get("crv") not in EC_CURVE_ALGS:
            add(Severity.ERROR, "bad-curve", f"curve {jwk.get('crv')!r} is not P-256, P-384 or P-521")
        findings.extend(self._lint_expiry(jwk.get("exp"), where, now or datetime.now(UTC)))
        return findings

    def _lint_expiry(self, exp: object, where: str, now: datetime) -> list[Finding]:
        if exp is None:
            return []
        if not isinstance(exp, int) or isinstance(exp, bool):
            return [Finding(Severity.ERROR, "bad-exp", f"exp {exp!r} is not a number of seconds since 1970", where)]
        try:
            expires = datetime.fromtimestamp(exp, UTC)
        except (OverflowError, OSError, ValueError):
            return [Finding(Severity.ERROR, "bad-exp", f"exp {exp} is out of range", where)]
        if expires <= now:
            return [Finding(Severity.ERROR, "expired", f"the key expired on {expires:%Y-%m-%d}", where)]
        if self.max_lifetime is not None and expires - now > self.max_lifetime + timedelta(days=1):
            return [
                Finding(
                    Severity.WARNING,
                    "expiry-too-far",
                    f"exp {expires:%Y-%m-%d} is more than {self.max_lifetime.days} days away; "
                    f"{self.name} keys live at most a year",
                    where,
                )
            ]
        return []

    def lint_set(self, keys: Sequence[Mapping[str, Any]], *, expect_public: bool = True) -> list[Finding]:
        """Check a JWKS's keys one by one and as a set."""
        findings: list[Finding] = []
        for index, jwk in enumerate(keys):
            where = f"keys[{index}]" + (f" kid={jwk['kid']}" if isinstance(jwk.get("kid"), str) else "")
            findings.extend(self.lint_jwk(jwk, where=where, expect_public=expect_public))
        if self.max_registered is not None and len(keys) > self.max_registered:
            findings.append(
                Finding(
                    Severity.ERROR,
                    "too-many-keys",
                    f"{len(keys)} keys; {self.name} holds at most {self.max_registered} per client",
                )
            )
        duplicates = duplicate_kids(keys)
        if duplicates:
            findings.append(
                Finding(Severity.ERROR, "duplicate-kid", f"kid used more than once: {', '.join(duplicates)}")
            )
        return findings


def duplicate_kids(keys: Iterable[Mapping[str, Any]]) -> list[str]:
    """The kids (strings) used by more than one key, sorted; linear in the number of keys."""
    seen: set[str] = set()
    twice: set[str] = set()
    for jwk in keys:
        kid = jwk.get("kid")
        if isinstance(kid, str):
            (twice if kid in seen else seen).add(kid)
    return sorted(twice)


def rsa_bits(jwk: Mapping[str, Any]) -> int | None:
    """The modulus size of an RSA JWK, or None when ``n`` is unreadable."""
    n = jwk.get("n")
    if not isinstance(n, str):
        return None
    try:
        return int.from_bytes(b64url_decode(n), "big").bit_length()
    except ValueError:
        return None


MASKINPORTEN = Profile(
    name="maskinporten",
    summary="Maskinporten takes RSA keys with RS256, RS384 or RS512 only",
    key_types=PROFILE_KEY_TYPES["maskinporten"],
    rsa_algs=RSA_ALGS,
    ec_curves={},
    min_rsa_bits=MIN_RSA_BITS,
    max_registered=5,
    max_lifetime=timedelta(days=365),
    strict_members=True,
)

GENERIC = Profile(
    name="generic",
    summary="RSA and EC signing keys for any OAuth2/OIDC server",
    key_types=PROFILE_KEY_TYPES["generic"],
    rsa_algs=RSA_ALGS,
    ec_curves=EC_CURVE_ALGS,
    min_rsa_bits=MIN_RSA_BITS,
    max_registered=None,
    max_lifetime=None,
    strict_members=False,
)

PROFILES: dict[str, Profile] = {profile.name: profile for profile in (MASKINPORTEN, GENERIC)}
assert set(PROFILES) == set(PROFILE_KEY_TYPES), "the model's profile table names every profile"


def get_profile(name: str) -> Profile:
    """The profile named ``name`` (maskinporten, generic); InputError for any other name."""
    try:
        return PROFILES[name]
    except KeyError:
        raise InputError(f"unknown profile {name!r}", hint=f"use one of {', '.join(PROFILES)}") from None
