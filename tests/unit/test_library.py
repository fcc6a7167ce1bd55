"""Library units: model, keys, sealing, profiles, formats (every member), reading."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from jwks_tool.core import keys as keymod
from jwks_tool.core.formats import PrivateFormat, PublicFormat, ReportFormat, render_private, render_public
from jwks_tool.core.model import KID_RE, Env, KeySet, KeyState, SetRef
from jwks_tool.core.profiles import GENERIC, MASKINPORTEN, get_profile
from jwks_tool.core.reading import read_input
from jwks_tool.core.sealing import new_passphrase_protection, new_plaintext_protection, open_protection
from jwks_tool.core.timeutil import format_duration, parse_duration
from jwks_tool.errors import InputError, KeyMaterialError, PassphraseError, ProfileError, StoreCorruptError
from jwks_tool.services.key_service import GenerateRequest, KeyService
from jwks_tool.stores.memory import MemoryStore
from jwks_tool.testing.store_conformance import sample_record

PRIVATE = ("d", "p", "q", "dp", "dq", "qi")


def test_rfc7638_thumbprint_vector(rfc7517_rsa: dict[str, Any]) -> None:
    assert keymod.thumbprint(rfc7517_rsa) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    assert keymod.thumbprint(keymod.public_jwk(rfc7517_rsa)) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_ec_thumbprint_matches_jwcrypto(rfc7517_ec: dict[str, Any]) -> None:
    from jwcrypto.jwk import JWK

    assert keymod.thumbprint(rfc7517_ec) == JWK(**rfc7517_ec).thumbprint()


def test_rfc7517_keys_round_trip(rfc7517_rsa: dict[str, Any], rfc7517_ec: dict[str, Any]) -> None:
    for jwk in (rfc7517_rsa, rfc7517_ec):
        canonical = keymod.validate_private_jwk(jwk)
        assert {k: v for k, v in jwk.items() if k in canonical} == canonical


def test_readable_kid_stays_in_maskinportens_alphabet() -> None:
    when = datetime(2026, 1, 2, tzinfo=UTC)
    kid = keymod.readable_kid("acme.prod_x", "prod", when, "-_ab-_cdEF12345xyz")
    assert kid == "acme.prod_x-prod-20260102-abcdEF12"
    assert KID_RE.match(kid)


def test_altinn_private_jwk_member_order(rfc7517_rsa: dict[str, Any], rfc7517_ec: dict[str, Any]) -> None:
    rsa = keymod.altinn_private_jwk(rfc7517_rsa, kid="k", alg="RS256")
    assert list(rsa) == ["kty", "use", "kid", "alg", "n", "e", "d", "p", "q", "dp", "dq", "qi"]
    ec = keymod.altinn_private_jwk(rfc7517_ec, kid="k", alg="ES256")
    assert list(ec) == ["kty", "use", "kid", "alg", "crv", "x", "y", "d"]
    encoded = keymod.encode_b64_jwk(rsa)
    assert json.loads(base64.b64decode(encoded, validate=True)) == rsa


def test_ec_private_jwk_with_wrong_public_point(rfc7517_ec: dict[str, Any]) -> None:
    rfc7517_ec["x"], rfc7517_ec["y"] = rfc7517_ec["y"], rfc7517_ec["x"]
    with pytest.raises(KeyMaterialError):
        keymod.validate_private_jwk(rfc7517_ec)


def test_record_repr_shows_kid_and_thumbprint_only() -> None:
    record = sample_record("k1")
    assert repr(record) == f"KeyRecord(kid='k1', thumbprint='{record.thumbprint}')"
    assert str(record) == repr(record)
    assert "sealed" not in repr(record)


def test_found_key_repr_hides_members(rfc7517_rsa: dict[str, Any]) -> None:
    found = read_input(json.dumps(rfc7517_rsa).encode(), passphrase=None)
    text = repr(found)
    for member in PRIVATE:
        assert rfc7517_rsa[member] not in text


def test_set_ref_validation() -> None:
    assert SetRef.parse("a.b_c-1", "prod") == SetRef("a.b_c-1", Env.PROD)
    for bad in ("", "-x", "a/b", "a b", "x" * 64, "ø"):
        with pytest.raises(InputError):
            SetRef.parse(bad)
    with pytest.raises(InputError, match="invalid environment"):
        SetRef.parse("a", "staging")


def test_newest_prefers_live_keys() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    old = sample_record("old")
    new = sample_record("new", KeyState.NEXT)
    gone = sample_record("gone", KeyState.RETIRED)
    import dataclasses

    new = dataclasses.replace(new, created=t0 + timedelta(days=1))
    gone = dataclasses.replace(gone, created=t0 + timedelta(days=2))
    keyset = KeySet(SetRef("a", Env.TEST), "maskinporten", (old, new, gone))
    assert keyset.newest is new
    assert keyset.active is old
    assert [key.kid for key in keyset.registered] == ["old", "new"]


def test_keyset_document_rejects_private_members_in_public_jwk() -> None:
    document = KeySet(SetRef("a", Env.TEST), "maskinporten", (sample_record("k"),)).to_dict()
    document["keys"][0]["public_jwk"]["d"] = "secret"
    with pytest.raises(StoreCorruptError, match="not a public JWK"):
        KeySet.from_dict(document, "doc")


def test_durations() -> None:
    assert parse_duration("90d") == timedelta(days=90)
    assert parse_duration("1y") == timedelta(days=365)
    assert parse_duration("12w") == timedelta(weeks=12)
    assert format_duration(timedelta(days=365)) == "365d"
    assert format_duration(timedelta(hours=2)) == "2h"
    with pytest.raises(InputError):
        parse_duration("-1d")


# ---- sealing ------------------------------------------------------------------------------------------------------
def test_seal_round_trip_and_context_binding() -> None:
    protection, _ = new_passphrase_protection("pw-1", iterations=1000)
    sealer = open_protection(protection, lambda confirm: "pw-1")
    sealed = sealer.seal({"kty": "oct", "k": "AA"}, context={"set": "a/test", "kid": "k1"})
    assert sealer.unseal(sealed, context={"set": "a/test", "kid": "k1"}) == {"kty": "oct", "k": "AA"}
    with pytest.raises(StoreCorruptError, match="belongs to another kid"):
        sealer.unseal(sealed, context={"set": "a/test", "kid": "k2"})
    tampered = sealed[:-6] + ("AAAAAA" if not sealed.endswith("AAAAAA") else "BBBBBB")
    with pytest.raises(StoreCorruptError):
        sealer.unseal(tampered, context={"set": "a/test", "kid": "k1"})


def test_wrong_passphrase_is_detected_before_any_key() -> None:
    protection, _ = new_passphrase_protection("right", iterations=1000)
    sealer = open_protection(protection, lambda confirm: "wrong")
    with pytest.raises(PassphraseError, match="wrong passphrase for this store"):
        sealer.seal({"k": "v"}, context={"kid": "x"})


def test_sealed_key_opens_with_any_jose_library() -> None:
    """The format is plain JWE: jwcrypto opens it with the PBKDF2-derived key, no jwks-tool code involved."""
    from jwcrypto import jwe, jwk

    from jwks_tool.core.b64 import b64url_decode, b64url_encode
    from jwks_tool.core.sealing import derive_kek

    protection, sealer = new_passphrase_protection("open sesame", iterations=1000)
    sealed = sealer.seal({"kty": "oct", "k": "AA"}, context={"kid": "k"})
    kek = derive_kek("open sesame", b64url_decode(protection["salt"]), protection["iterations"])
    token = jwe.JWE()
    token.deserialize(sealed, key=jwk.JWK(kty="oct", k=b64url_encode(kek)))
    assert json.loads(token.payload) == {"kty": "oct", "k": "AA"}


def test_plaintext_protection() -> None:
    sealer = open_protection(new_plaintext_protection("2026-01-01T00:00:00Z", "me@here"), lambda confirm: "")
    assert sealer.unseal(sealer.seal({"a": "b"}, context={}), context={}) == {"a": "b"}
    with pytest.raises(StoreCorruptError):
        open_protection({"scheme": "rot13"}, lambda confirm: "")


def test_kdf_runs_once_per_service(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    import jwks_tool.core.sealing as sealing

    real = sealing.derive_kek

    def counting(passphrase: str, salt: bytes, iterations: int) -> bytes:
        calls.append(iterations)
        return real(passphrase, salt, iterations)

    monkeypatch.setattr(sealing, "derive_kek", counting)
    store = MemoryStore()
    svc = KeyService(store, lambda confirm: "pw")
    for _ in range(2):  # an active key, then a next one
        svc.generate(GenerateRequest(name="many", size=2048, profile="generic"))
    svc.generate(GenerateRequest(name="other", size=2048))
    assert calls == [600_000]
    reader = KeyService(store, lambda confirm: "pw")
    for name in ("many", "other"):
        keyset = reader.get_set(name)
        for record in keyset.keys:
            reader.private_jwk(keyset, record)
    assert calls == [600_000, 600_000]


def test_read_only_service_never_asks_for_the_passphrase() -> None:
    store = MemoryStore()
    KeyService(store, lambda confirm: "pw").generate(GenerateRequest(name="a", size=2048))

    def refuse(confirm: bool) -> str:
        raise AssertionError("asked for the passphrase")

    reader = KeyService(store, refuse)
    keyset = reader.get_set("a")
    assert reader.list_sets()[0].ref == keyset.ref
    for fmt in PublicFormat:
        assert reader.export_public(keyset, None, fmt)


# ---- profiles -----------------------------------------------------------------------------------------------------
def test_maskinporten_refuses_what_maskinporten_rejects() -> None:
    ok = dict(kty="RSA", size=2048, crv=None, alg="RS256", lifetime=timedelta(days=365))
    MASKINPORTEN.check_new_key(**ok)  # type: ignore[arg-type]
    for change in ({"kty": "EC", "crv": "P-256", "alg": "ES256"}, {"alg": "PS256"}, {"lifetime": timedelta(days=366)}):
        with pytest.raises(ProfileError):
            MASKINPORTEN.check_new_key(**{**ok, **change})  # type: ignore[arg-type]
    GENERIC.check_new_key(kty="EC", size=256, crv="P-256", alg="ES256", lifetime=timedelta(days=900))
    with pytest.raises(ProfileError, match="too small"):
        GENERIC.check_new_key(kty="RSA", size=1024, crv=None, alg="RS256", lifetime=timedelta(days=1))
    with pytest.raises(InputError, match="unknown profile"):
        get_profile("okta")


def test_lint_finds_each_problem(rfc7517_rsa: dict[str, Any]) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    good = {**keymod.public_jwk(rfc7517_rsa), "use": "sig"}
    assert MASKINPORTEN.lint_jwk(good, now=now) == []
    cases = {
        "private-members": {**rfc7517_rsa, "use": "sig"},
        "bad-kid": {**good, "kid": "a b"},
        "bad-use": {**good, "use": "enc"},
        "bad-alg": {**good, "alg": "PS256"},
        "expired": {**good, "exp": int((now - timedelta(days=1)).timestamp())},
        "expiry-too-far": {**good, "exp": int((now + timedelta(days=500)).timestamp())},
        "bad-exp": {**good, "exp": "tomorrow"},
    }
    for code, jwk in cases.items():
        codes = [f.code for f in MASKINPORTEN.lint_jwk(jwk, expect_public=True, now=now)]
        assert codes == [code], (code, codes)


# ---- formats: every member renders --------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", list(PublicFormat))
def test_every_public_format_renders_without_private_members(fmt: PublicFormat, rfc7517_rsa: dict[str, Any]) -> None:
    text = render_public([rfc7517_rsa], fmt)
    for member in PRIVATE:
        assert rfc7517_rsa[member] not in text


@pytest.mark.parametrize("fmt", list(PrivateFormat))
def test_every_private_format_renders(fmt: PrivateFormat, rfc7517_rsa: dict[str, Any]) -> None:
    import dataclasses

    record = dataclasses.replace(sample_record("k"), public_jwk=keymod.public_jwk(rfc7517_rsa))
    text = render_private(record, keymod.validate_private_jwk(rfc7517_rsa), fmt, pem_passphrase="pw", trusted=False)
    found = read_input(text.encode(), passphrase=lambda prompt: "pw")
    assert found.keys[0].private
    assert keymod.thumbprint(found.keys[0].jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_report_formats_are_all_known() -> None:
    assert [fmt.value for fmt in ReportFormat] == ["text", "json"]


def test_the_built_in_sha256_of_thumbprints_is_hashlibs() -> None:
    """Thumbprints use CPython's built-in SHA-256 (start-up); it must give exactly hashlib's digest (RFC 7638 A.1)."""
    import hashlib

    from jwks_tool.core import model

    data = b'{"e":"AQAB","kty":"RSA","n":"0vx7"}'
    assert getattr(model, "_sha256")(data).digest() == hashlib.sha256(data).digest()  # noqa: B009
    rfc7638 = {
        "kty": "RSA",
        "e": "AQAB",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZC"
        "iFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d"
        "0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-cs"
        "FCur-kEgU8awapJzKnqDKgw",
    }
    assert model.thumbprint(rfc7638) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
