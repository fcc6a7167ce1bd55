"""Independent implementations check what jwks-tool writes: openssl, PyJWT, jwcrypto, Python's strict base64.

Every jwks-tool call goes through the in-process `run` fixture; openssl runs as a subprocess. Keys are RSA 2048
(EC P-256 under the generic profile) unless the test is about something else, to keep the file fast.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
from click.testing import Result
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwcrypto.jwk import JWK

from jwks_tool.core.b64 import b64url_encode, b64url_to_int
from jwks_tool.core.keys import thumbprint
from jwks_tool.core.model import PRIVATE_MEMBERS

pytestmark = pytest.mark.integration

Run = Callable[..., Result]

ALTINN_MEMBERS = ["kty", "use", "kid", "alg", "n", "e", "d", "p", "q", "dp", "dq", "qi", "exp"]
"""The Key Vault value's members, in order; exp (the key's expiry) goes into AdditionalData of .NET's JsonWebKey."""
RFC7638_THUMBPRINT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
"""RFC 7638 section 3.1: the thumbprint of the RSA key of RFC 7517 Appendix A.1/A.2."""
PEM_PASSPHRASE = "export pem passphrase 1"
KEY_PASSPHRASE = "openssl key passphrase"
AUDIENCE = "https://test.maskinporten.no/"
CLAIMS: dict[str, Any] = {"iss": "acme-client", "aud": AUDIENCE, "scope": "altinn:serviceowner", "iat": 1_700_000_000}
RSA_2048 = ("--size", "2048")


# ---- helpers ------------------------------------------------------------------------------------------------------
def ok(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.stdout


def openssl(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["openssl", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def openssl_ok(*args: str, env: dict[str, str] | None = None) -> str:
    done = openssl(*args, env=env)
    assert done.returncode == 0, f"openssl {' '.join(args)}: {done.stderr}"
    return done.stdout


def generate(run: Run, name: str, *args: str) -> dict[str, Any]:
    """Generate a key in the set NAME and return `generate --json`'s record of it."""
    added = json.loads(ok(run("generate", name, *args, "--json")))
    key: dict[str, Any] = added["key"]
    return key


def show_key(run: Run, name: str, kid: str | None = None) -> dict[str, Any]:
    shown = json.loads(ok(run("show", name, "--json")))
    keys = [key for key in shown["keys"] if kid is None or key["kid"] == kid]
    assert len(keys) == 1, shown
    key: dict[str, Any] = keys[0]
    return key


def export_json(run: Run, name: str, *args: str) -> Any:
    return json.loads(ok(run("export", name, *args)))


def rfc7638(jwk: dict[str, Any]) -> str:
    """RFC 7638 written out here from the RFC (not jwks-tool's code): SHA-256 of the required members, sorted."""
    required = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y")}[jwk["kty"]]
    canonical = json.dumps({name: jwk[name] for name in required}, separators=(",", ":"), sort_keys=True)
    return b64url_encode(hashlib.sha256(canonical.encode("utf-8")).digest())


def sign(private_jwk: dict[str, Any]) -> str:
    key = jwt.PyJWK(private_jwk)
    return jwt.encode(CLAIMS, key.key, algorithm=private_jwk["alg"], headers={"kid": private_jwk["kid"]})


def verify(token: str, public_jwk: dict[str, Any]) -> dict[str, Any]:
    assert not set(public_jwk) & set(PRIVATE_MEMBERS)
    key = jwt.PyJWK(public_jwk)
    claims: dict[str, Any] = jwt.decode(token, key.key, algorithms=[public_jwk["alg"]], audience=AUDIENCE)
    return claims


def openssl_modulus(text: str) -> int:
    """The modulus from `openssl pkey -text`: hex bytes with colons after 'Modulus:' (public) or 'modulus:'."""
    match = re.search(r"^[Mm]odulus:\n(.*?)\n(?:Exponent|publicExponent):", text, re.DOTALL | re.MULTILINE)
    assert match is not None, text
    return int(re.sub(r"[\s:]", "", match.group(1)), 16)


# ---- openssl reads our PEM files ----------------------------------------------------------------------------------
def test_public_pem_loads_in_openssl_with_the_jwks_modulus(run: Run, tmp_path: Path) -> None:
    key = generate(run, "acme", *RSA_2048)
    pem = tmp_path / "acme.pub.pem"
    ok(run("export", "acme", "--format", "pem", "--out", str(pem)))
    jwk = export_json(run, "acme")
    text = openssl_ok("pkey", "-pubin", "-in", str(pem), "-noout", "-text")
    assert text.startswith("Public-Key: (2048 bit)\n")
    assert openssl_modulus(text) == b64url_to_int(jwk["n"])
    assert "Exponent: 65537 (0x10001)" in text
    assert jwk["kid"] == key["kid"]
    assert pem.read_text() == ok(run("export", "acme", "--format", "pem"))


def test_encrypted_private_pem_opens_in_openssl_with_pbkdf2_sha256_600000_aes256(run: Run, tmp_path: Path) -> None:
    generate(run, "acme", *RSA_2048)
    pem = tmp_path / "acme.key.pem"
    env = {"JWKS_TOOL_EXPORT_PASSPHRASE": PEM_PASSPHRASE}
    ok(run("export", "acme", "--private", "--format", "pem", "--out", str(pem), env=env))
    assert stat.S_IMODE(pem.stat().st_mode) == 0o600
    text = pem.read_text()
    assert text.startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----\n")
    assert text.endswith("-----END ENCRYPTED PRIVATE KEY-----\n")

    public_from_openssl = openssl_ok(
        "pkey", "-in", str(pem), "-passin", "env:PEM_PASS", "-pubout", env={"PEM_PASS": PEM_PASSPHRASE}
    )
    assert public_from_openssl == ok(run("export", "acme", "--format", "pem"))
    assert (
        openssl_ok(
            "pkey", "-in", str(pem), "-passin", "env:PEM_PASS", "-noout", "-check", env={"PEM_PASS": PEM_PASSPHRASE}
        )
        == "Key is valid\n"
    )
    wrong = openssl("pkey", "-in", str(pem), "-passin", "env:PEM_PASS", "-noout", env={"PEM_PASS": "wrong"})
    assert wrong.returncode != 0

    parsed = openssl_ok("asn1parse", "-in", str(pem))
    objects = re.findall(r"prim: OBJECT\s+:(\S+)", parsed)
    assert objects == ["PBES2", "PBKDF2", "hmacWithSHA256", "aes-256-cbc"]
    integers = [int(value, 16) for value in re.findall(r"prim: INTEGER\s+:([0-9A-F]+)", parsed)]
    assert integers == [600_000]
    salt_and_iv = re.findall(r"prim: OCTET STRING\s+\[HEX DUMP\]:([0-9A-F]+)", parsed)[:2]
    assert [len(value) // 2 for value in salt_and_iv] == [16, 16]


def test_encrypted_private_pem_is_fresh_each_time(run: Run, tmp_path: Path) -> None:
    """A new salt and IV per export: two exports of one key differ but open to the same key."""
    generate(run, "acme", *RSA_2048)
    env = {"JWKS_TOOL_EXPORT_PASSPHRASE": PEM_PASSPHRASE}
    first = ok(run("export", "acme", "--private", "--format", "pem", env=env))
    second = ok(run("export", "acme", "--private", "--format", "pem", env=env))
    assert first != second
    (tmp_path / "1.pem").write_text(first)
    (tmp_path / "2.pem").write_text(second)
    publics = {
        openssl_ok("pkey", "-in", str(tmp_path / name), "-passin", "env:P", "-pubout", env={"P": PEM_PASSPHRASE})
        for name in ("1.pem", "2.pem")
    }
    assert len(publics) == 1


def test_unencrypted_private_pem_loads_in_openssl(run: Run, tmp_path: Path) -> None:
    generate(run, "acme", *RSA_2048)
    pem = tmp_path / "acme.key.pem"
    ok(run("export", "acme", "--private", "--format", "pem", "--unencrypted", "--out", str(pem)))
    assert stat.S_IMODE(pem.stat().st_mode) == 0o600
    assert pem.read_text().startswith("-----BEGIN PRIVATE KEY-----\n")
    assert openssl_ok("pkey", "-in", str(pem), "-noout", "-check") == "Key is valid\n"
    text = openssl_ok("pkey", "-in", str(pem), "-noout", "-text")
    assert text.startswith("Private-Key: (2048 bit, 2 primes)\n")
    assert openssl_modulus(text) == b64url_to_int(export_json(run, "acme")["n"])
    assert openssl_ok("pkey", "-in", str(pem), "-pubout") == ok(run("export", "acme", "--format", "pem"))


def test_openssl_signature_verifies_with_the_exported_public_jwk(run: Run, tmp_path: Path) -> None:
    generate(run, "acme", *RSA_2048)
    pem = tmp_path / "acme.key.pem"
    ok(run("export", "acme", "--private", "--format", "pem", "--unencrypted", "--out", str(pem)))
    public = export_json(run, "acme")
    header = {"alg": "RS256", "kid": public["kid"], "typ": "JWT"}
    signing_input = ".".join(
        b64url_encode(json.dumps(part, separators=(",", ":")).encode()) for part in (header, CLAIMS)
    )
    (tmp_path / "input").write_text(signing_input)
    openssl_ok("dgst", "-sha256", "-sign", str(pem), "-out", str(tmp_path / "sig"), str(tmp_path / "input"))
    token = f"{signing_input}.{b64url_encode((tmp_path / 'sig').read_bytes())}"
    assert verify(token, public) == CLAIMS
    assert jwt.get_unverified_header(token)["kid"] == public["kid"]
    tampered = signing_input[:-2] + ("A" if signing_input[-2] != "A" else "B") + signing_input[-1]
    with pytest.raises(jwt.InvalidSignatureError):
        verify(f"{tampered}.{token.rsplit('.', 1)[1]}", public)


# ---- openssl's keys import with the right thumbprint --------------------------------------------------------------
OPENSSL_KEYS: dict[str, tuple[str, str, str]] = {
    "rsa-pkcs8": ("genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out {out}", "PRIVATE KEY", "maskinporten"),
    "rsa-pkcs1": ("genrsa -traditional -out {out} 2048", "RSA PRIVATE KEY", "maskinporten"),
    "rsa-pkcs8-encrypted": (
        "genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -aes256 -pass env:KEY_PASS -out {out}",
        "ENCRYPTED PRIVATE KEY",
        "maskinporten",
    ),
    "ec-p256-pkcs8": ("genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out {out}", "PRIVATE KEY", "generic"),
    "ec-p256-sec1": ("ecparam -genkey -name prime256v1 -noout -out {out}", "EC PRIVATE KEY", "generic"),
}
"""openssl commands that write a private key to {out}, the PEM label they write, and the profile to import with."""


def openssl_genkey(case: str, out: Path) -> None:
    command, _, _ = OPENSSL_KEYS[case]
    openssl_ok(*(arg.replace("{out}", str(out)) for arg in command.split()), env={"KEY_PASS": KEY_PASSPHRASE})


@pytest.mark.parametrize("case", sorted(OPENSSL_KEYS))
def test_openssl_key_imports_with_the_thumbprint_others_compute(run: Run, tmp_path: Path, case: str) -> None:
    _, label, profile = OPENSSL_KEYS[case]
    pem = tmp_path / f"{case}.pem"
    openssl_genkey(case, pem)
    data = pem.read_bytes()
    assert data.startswith(f"-----BEGIN {label}-----\n".encode())
    encrypted = "ENCRYPTED" in label
    password = KEY_PASSPHRASE.encode() if encrypted else None

    env = {"JWKS_TOOL_KEY_PASSPHRASE": KEY_PASSPHRASE} if encrypted else None
    imported = json.loads(ok(run("import", "acme", str(pem), "--profile", profile, "--json", env=env)))["key"]
    shown = show_key(run, "acme")

    by_jwcrypto = JWK.from_pem(data, password=password).thumbprint()
    key = serialization.load_pem_private_key(data, password=password)
    assert isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)
    if isinstance(key, rsa.RSAPrivateKey):
        by_pyjwt = rfc7638(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True))
    else:
        by_pyjwt = rfc7638(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key(), as_dict=True))
    assert imported["thumbprint"] == shown["thumbprint"] == by_jwcrypto == by_pyjwt
    assert imported["origin"] == "imported"
    assert imported["kty"] == ("RSA" if case.startswith("rsa") else "EC")

    public_pem = openssl_ok(
        "pkey",
        "-in",
        str(pem),
        "-pubout",
        *(["-passin", "env:KEY_PASS"] if encrypted else []),
        env={"KEY_PASS": KEY_PASSPHRASE},
    )
    assert public_pem == ok(run("export", "acme", "--format", "pem"))


def test_encrypted_openssl_key_with_a_wrong_passphrase_is_refused(run: Run, tmp_path: Path) -> None:
    pem = tmp_path / "key.pem"
    openssl_genkey("rsa-pkcs8-encrypted", pem)
    result = run("import", "acme", str(pem), env={"JWKS_TOOL_KEY_PASSPHRASE": "not it"})
    assert result.exit_code == 8, result.output
    assert result.stderr == "jwks-tool: error: wrong passphrase for the encrypted PEM key\n"
    assert run("list").exit_code == 6  # not even the store was made


# ---- PyJWT signs with our private JWK and verifies with our public JWK / JWKS ------------------------------------
ALGS: dict[str, tuple[str, ...]] = {
    "RS256": RSA_2048,
    "RS384": (*RSA_2048, "--alg", "RS384"),
    "RS512": (*RSA_2048, "--alg", "RS512"),
    "ES256": ("--profile", "generic", "--kty", "EC"),
}


@pytest.mark.parametrize("alg", sorted(ALGS))
def test_pyjwt_signs_with_the_private_jwk_and_verifies_with_the_public_one(run: Run, alg: str) -> None:
    generate(run, "acme", *ALGS[alg])
    private = export_json(run, "acme", "--private", "--format", "jwk")
    public = export_json(run, "acme")
    assert private["alg"] == public["alg"] == alg
    assert {name: value for name, value in private.items() if name not in PRIVATE_MEMBERS} == public
    token = sign(private)
    assert jwt.get_unverified_header(token) == {"alg": alg, "kid": public["kid"], "typ": "JWT"}
    assert verify(token, public) == CLAIMS

    (only,) = export_json(run, "acme", "--format", "jwks")["keys"]
    assert only == public
    assert verify(token, only) == CLAIMS
    keyset = jwt.PyJWKSet.from_dict(export_json(run, "acme", "--format", "jwks"))
    assert jwt.decode(token, keyset[public["kid"]].key, algorithms=[alg], audience=AUDIENCE) == CLAIMS


def test_every_key_of_the_jwks_verifies_its_own_tokens_only(run: Run) -> None:
    kids = [generate(run, "acme", *RSA_2048)["kid"], generate(run, "acme", *RSA_2048, "--alg", "RS512")["kid"]]
    jwks = export_json(run, "acme", "--format", "jwks")
    assert [key["kid"] for key in jwks["keys"]] == kids
    assert export_json(run, "acme", "--format", "jwks-array") == jwks["keys"]
    keyset = jwt.PyJWKSet.from_dict(jwks)
    for kid in kids:
        token = sign(export_json(run, "acme", "--private", "--kid", kid))
        header = jwt.get_unverified_header(token)
        assert header["kid"] == kid
        assert jwt.decode(token, keyset[kid].key, algorithms=[header["alg"]], audience=AUDIENCE) == CLAIMS
        (other,) = (key for key in jwks["keys"] if key["kid"] != kid)
        with pytest.raises(jwt.InvalidSignatureError):
            jwt.decode(token, jwt.PyJWK(other).key, algorithms=[header["alg"]], audience=AUDIENCE)


# ---- the Key Vault value (Altinn's EncodedJwk / JwkBase64) --------------------------------------------------------
def test_keyvault_value_is_standard_base64_of_one_compact_altinn_jwk(run: Run) -> None:
    key = generate(run, "acme", *RSA_2048)
    output = ok(run("export", "acme", "--private", "--format", "base64"))
    assert output.endswith("\n")
    assert output.count("\n") == 1
    value = output.rstrip("\n")
    raw = base64.b64decode(value, validate=True)
    assert base64.b64encode(raw).decode("ascii") == value  # canonical: padded, no line breaks
    text = raw.decode("utf-8")
    obj = json.loads(text)
    assert json.dumps(obj, separators=(",", ":"), ensure_ascii=False) == text
    assert list(obj) == ALTINN_MEMBERS
    assert (obj["kid"], obj["alg"], obj["use"]) == (key["kid"], "RS256", "sig")

    by_jwcrypto = JWK(**obj)
    assert by_jwcrypto.has_private
    assert by_jwcrypto.thumbprint() == key["thumbprint"]
    by_pyjwt = jwt.PyJWK(obj)
    assert isinstance(by_pyjwt.key, rsa.RSAPrivateKey)

    public = export_json(run, "acme")
    public_half = [(name, member) for name, member in obj.items() if name not in PRIVATE_MEMBERS]
    assert public_half == [(name, member) for name, member in public.items() if name != "exp"] + [
        ("exp", public["exp"])
    ]
    assert list(public) == [*ALTINN_MEMBERS[:6], "exp"]
    assert obj["exp"] == public["exp"]
    assert verify(sign(obj), public) == CLAIMS

    private_jwk = export_json(run, "acme", "--private", "--format", "jwk")
    assert {name: private_jwk[name] for name in ALTINN_MEMBERS} == obj


@pytest.fixture
def rfc_keyvault_values(run: Run, tmp_path: Path, rfc7517_rsa: dict[str, Any]) -> dict[int, str]:
    """The Key Vault value of the RFC 7517 A.2 key under three kids of consecutive lengths, by their '=' padding.

    The compact JSON's length mod 3 decides the padding, so the three cover no padding, '=' and '=='.
    """
    source = tmp_path / "rfc.json"
    source.write_text(json.dumps(rfc7517_rsa))
    values: dict[int, str] = {}
    for index, kid in enumerate(("kv-1", "kv-12", "kv-123")):
        ok(run("import", f"kv{index}", str(source), "--kid", kid))
        value = ok(run("export", f"kv{index}", "--private", "--format", "base64")).strip()
        values[len(value) - len(value.rstrip("="))] = value
    assert sorted(values) == [0, 1, 2]
    return values


def test_keyvault_values_with_any_padding_decode_strictly_and_inspect_clean(
    run: Run, tmp_path: Path, rfc_keyvault_values: dict[int, str]
) -> None:
    for padding, value in rfc_keyvault_values.items():
        obj = json.loads(base64.b64decode(value, validate=True))
        assert list(obj) == ALTINN_MEMBERS
        assert thumbprint(obj) == RFC7638_THUMBPRINT
        path = tmp_path / f"kv{padding}.txt"
        path.write_text(value + "\n")
        result = run("inspect", str(path), "--expect", "keyvault", "--json")
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        assert report["findings"] == []
        assert [(key["kid"], key["private"]) for key in report["keys"]] == [(obj["kid"], True)]


def test_own_keyvault_value_without_padding_is_reported_as_standard_base64(
    run: Run, tmp_path: Path, rfc_keyvault_values: dict[int, str]
) -> None:
    path = tmp_path / "kv.txt"
    path.write_text(rfc_keyvault_values[0] + "\n")
    report = json.loads(ok(run("inspect", str(path), "--expect", "keyvault", "--json")))
    assert (report["encoding"], report["kind"]) == ("base64", "standard base64 of a private JWK")


def test_inspect_keyvault_flags_a_value_strict_base64_refuses(
    run: Run, tmp_path: Path, rfc_keyvault_values: dict[int, str]
) -> None:
    unpadded = rfc_keyvault_values[1].rstrip("=")
    with pytest.raises(binascii.Error):
        base64.b64decode(unpadded, validate=True)
    path = tmp_path / "kv.txt"
    path.write_text(unpadded + "\n")
    result = run("inspect", str(path), "--expect", "keyvault", "--json")
    assert result.exit_code == 2, result.output
    report = json.loads(result.stdout)
    assert report["verdict"] == "errors"
    assert [f["code"] for f in report["findings"]] == ["not-standard-base64"]


# ---- RFC 7638 thumbprints -----------------------------------------------------------------------------------------
def test_rfc7638_vector_in_the_library(rfc7517_rsa: dict[str, Any]) -> None:
    assert thumbprint(rfc7517_rsa) == RFC7638_THUMBPRINT
    public = {name: value for name, value in rfc7517_rsa.items() if name not in PRIVATE_MEMBERS}
    assert thumbprint(public) == RFC7638_THUMBPRINT
    assert JWK(**rfc7517_rsa).thumbprint() == RFC7638_THUMBPRINT
    assert rfc7638(rfc7517_rsa) == RFC7638_THUMBPRINT


def test_rfc7638_vector_after_import_with_thumbprint_kids(
    run: Run, tmp_path: Path, rfc7517_rsa: dict[str, Any]
) -> None:
    source = tmp_path / "rfc.json"
    source.write_text(json.dumps(rfc7517_rsa))
    ok(run("import", "with-kid", str(source), "--kid-style", "thumbprint"))
    shown = show_key(run, "with-kid")
    assert shown["thumbprint"] == RFC7638_THUMBPRINT
    assert shown["kid"] == "2011-04-29"  # the JWK's own kid wins (see `import --help`)

    del rfc7517_rsa["kid"]
    source.write_text(json.dumps(rfc7517_rsa))
    ok(run("import", "no-kid", str(source), "--kid-style", "thumbprint"))
    shown = show_key(run, "no-kid")
    assert shown["thumbprint"] == RFC7638_THUMBPRINT
    assert shown["kid"] == RFC7638_THUMBPRINT
    assert export_json(run, "no-kid")["kid"] == RFC7638_THUMBPRINT


def test_ec_thumbprint_matches_jwcrypto(run: Run, rfc7517_ec: dict[str, Any]) -> None:
    assert thumbprint(rfc7517_ec) == JWK(**rfc7517_ec).thumbprint() == rfc7638(rfc7517_ec)
    key = generate(run, "ec", "--profile", "generic", "--kty", "EC", "--kid-style", "thumbprint")
    public = export_json(run, "ec")
    assert (public["crv"], public["alg"]) == ("P-256", "ES256")
    by_jwcrypto = JWK(**public).thumbprint()
    assert (
        key["thumbprint"] == show_key(run, "ec")["thumbprint"] == by_jwcrypto == thumbprint(public) == rfc7638(public)
    )
    assert key["kid"] == by_jwcrypto
