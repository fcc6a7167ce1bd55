"""#10 Trust: `inspect` and `import` build every key with cryptography and report each way it is impossible; sizes are
capped before expensive checks, every check is linear, and JSON's NaN/Infinity are refused."""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from jwks_tool.core.b64 import b64url_decode, b64url_encode, b64url_to_int, int_to_b64url

Run = Callable[..., Result]


def write(path: Path, value: Any) -> Path:
    path.write_text(value if isinstance(value, str) else json.dumps(value))
    return path


def inspect_codes(run: Run, path: Path, *args: str) -> tuple[int, list[tuple[str, str]]]:
    result = run("inspect", str(path), "--profile", "generic", "--json", *args)
    report = json.loads(result.stdout)
    return result.exit_code, [(f["severity"], f["code"]) for f in report["findings"]]


def public(jwk: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in jwk.items() if name not in ("d", "p", "q", "dp", "dq", "qi")}


# ---- impossible keys -----------------------------------------------------------------------------------------------
def test_an_ec_point_off_the_curve_is_an_error(run: Run, tmp_path: Path, rfc7517_ec: dict[str, Any]) -> None:
    bad = write(tmp_path / "ec.json", {"kty": "EC", "crv": "P-256", "x": "AQAB", "y": "AQAB", "use": "sig"})
    code, findings = inspect_codes(run, bad)
    assert code == 2
    assert ("error", "bad-coordinate") in findings
    assert ("error", "not-on-curve") in findings
    result = run("inspect", str(bad), "--profile", "generic")
    assert "x is 3 bytes; P-256 coordinates are 32 bytes" in result.stdout
    assert "the point (x, y) is not on P-256: this is not a key" in result.stdout
    # full-length coordinates, still off the curve
    moved = public(rfc7517_ec) | {"use": "sig", "alg": "ES256", "kid": "k"}
    moved["y"] = int_to_b64url(b64url_to_int(moved["y"]) ^ 1).rjust(43, "A")
    code, findings = inspect_codes(run, write(tmp_path / "ec2.json", moved))
    assert (code, findings) == (2, [("error", "not-on-curve")])
    good = public(rfc7517_ec) | {"use": "sig", "alg": "ES256", "kid": "k"}
    assert inspect_codes(run, write(tmp_path / "ec3.json", good)) == (0, [])


def test_rsa_exponent_and_modulus_are_checked(run: Run, tmp_path: Path, rfc7517_rsa: dict[str, Any]) -> None:
    base = public(rfc7517_rsa) | {"alg": "RS256", "use": "sig"}
    assert inspect_codes(run, write(tmp_path / "ok.json", base)) == (0, [])
    n = b64url_to_int(base["n"])
    cases = {
        "e1": (base | {"e": "AQ"}, ["bad-exponent"], "e is 1; it must be odd and at least 3 (65537 is usual)"),
        "e-even": (base | {"e": int_to_b64url(65536)}, ["bad-exponent"], "e is even; it must be odd"),
        "n-even": (base | {"n": int_to_b64url(n - 1)}, ["even-modulus"], "n is even: it is not an RSA modulus"),
        "both": (base | {"n": int_to_b64url(n - 1), "e": "AQ"}, ["bad-exponent", "even-modulus"], None),
        "e-big": (base | {"e": int_to_b64url(n + 2)}, ["bad-exponent"], "e is not smaller than n"),
    }
    for name, (jwk, codes, text) in cases.items():
        path = write(tmp_path / f"{name}.json", jwk)
        code, findings = inspect_codes(run, path)
        assert code == 2, name
        assert sorted(c for s, c in findings) == codes, (name, findings)
        assert {s for s, c in findings} == {"error"}
        if text is not None:
            assert text in run("inspect", str(path), "--profile", "generic").stdout, name


def test_rsa_numbers_in_minimal_octets_and_without_small_factors(
    run: Run, tmp_path: Path, rfc7517_rsa: dict[str, Any], store_dir: Path
) -> None:
    base = public(rfc7517_rsa) | {"alg": "RS256", "use": "sig"}
    n = b64url_to_int(base["n"])
    padded = b64url_encode(b"\0" + b64url_decode(base["n"]))
    by_three = n - n % 3  # a multiple of 3 of the same size, odd (an even one is the even-modulus check)
    by_three -= 3 if by_three % 2 == 0 else 0
    cases = {
        "n-zero": (base | {"n": padded}, "non-minimal-modulus", "n has a leading zero octet"),
        "e-zero": (base | {"e": "AAEAAQ"}, "non-minimal-exponent", "e has a leading zero octet"),
        "by-3": (base | {"n": int_to_b64url(by_three)}, "small-factor", "n is divisible by 3: it is not a product"),
        "by-997": (base | {"n": int_to_b64url(997 * 1009**100 * 1013)}, "small-factor", "n is divisible by 997"),
    }
    for profile in ("generic", "maskinporten"):
        for name, (jwk, code, text) in cases.items():
            path = write(tmp_path / f"{name}.json", jwk)
            status, findings = inspect_codes(run, path, "--profile", profile)
            assert status == 2, (profile, name)
            assert ("error", code) in findings, (profile, name, findings)
            assert text in run("inspect", str(path), "--profile", profile).stdout, (profile, name)
    for member, value in (("n", b64url_encode(b"\0" + b64url_decode(rfc7517_rsa["n"]))), ("e", "AAEAAQ")):
        path = write(tmp_path / f"private-{member}.json", rfc7517_rsa | {member: value})
        result = run("import", "acme", str(path), "--profile", "generic")
        assert result.exit_code == 3, result.stderr
        assert result.stderr == (
            f"jwks-tool: error: the RSA key is unsafe: {member} has a leading zero octet; RFC 7518 requires the "
            "minimum number of octets; use a key generated by a sound tool\n"
        )
    assert not (store_dir / "sets").exists()


def test_import_refuses_impossible_private_keys(
    run: Run, tmp_path: Path, rfc7517_rsa: dict[str, Any], rfc7517_ec: dict[str, Any], store_dir: Path
) -> None:
    ec = rfc7517_ec | {"use": "sig", "alg": "ES256", "x": "AQAB", "y": "AQAB"}
    result = run("import", "a", str(write(tmp_path / "ec.json", ec)), "--profile", "generic")
    assert result.exit_code == 3
    assert result.stderr.startswith("jwks-tool: error: ")
    assert result.stderr.count("\n") == 1
    rsa = rfc7517_rsa | {"e": "AQ"}
    result = run("import", "a", str(write(tmp_path / "rsa.json", rsa)), "--profile", "generic")
    assert result.exit_code == 3
    assert result.stderr.count("\n") == 1
    result = run("import", "a", str(write(tmp_path / "pub.json", public(ec))), "--profile", "generic")
    assert result.exit_code == 3
    assert not (store_dir / "sets").exists()


# ---- costs ---------------------------------------------------------------------------------------------------------
def test_a_5000_key_jwks_inspects_in_linear_time(run: Run, tmp_path: Path, rfc7517_ec: dict[str, Any]) -> None:
    key = public(rfc7517_ec) | {"use": "sig", "alg": "ES256"}
    jwks = {"keys": [key | {"kid": f"k{index % 4000}"} for index in range(5000)]}  # 1,000 kids used twice
    path = write(tmp_path / "big.json", jwks)
    assert path.stat().st_size < 1024 * 1024
    started = time.perf_counter()
    code, findings = inspect_codes(run, path)
    elapsed = time.perf_counter() - started
    assert code == 2
    assert findings == [("error", "duplicate-kid")]
    assert elapsed < 2.0, f"inspect of 5,000 keys took {elapsed:.1f} s"
    from jwks_tool.core.profiles import GENERIC

    started = time.perf_counter()
    assert [f.code for f in GENERIC.lint_set(jwks["keys"], expect_public=True)] == ["duplicate-kid"]
    assert time.perf_counter() - started < 2.0


def test_a_jwks_of_30000_small_keys_inspects_in_linear_time(run: Run, tmp_path: Path) -> None:
    """Just under 1 MiB of tiny JWKs: the quadratic duplicate-kid check took 7 s here.

    Measured as a ratio against a tenth of the keys (linear: about 10x; the quadratic check was about 100x), so a
    busy machine slows both sides and the test stays honest (an absolute 3 s limit failed under load).
    """

    def timed(count: int) -> float:
        path = write(tmp_path / f"many-{count}.json", {"keys": [{"kty": "EC", "kid": f"k{i}"} for i in range(count)]})
        assert path.stat().st_size < 1024 * 1024
        best = float("inf")
        for _ in range(2):
            started = time.perf_counter()
            result = run("inspect", str(path), "--profile", "generic", "--json")
            best = min(best, time.perf_counter() - started)
            assert result.exit_code == 2
            assert "duplicate-kid" not in result.stdout
        return best

    small, large = timed(3_000), timed(30_000)
    assert large / small < 30, f"30,000 keys took {large / small:.0f}x as long as 3,000 ({large:.2f} s, {small:.2f} s)"


def huge_rsa_private(bits: int) -> dict[str, Any]:
    """A private JWK with members of a ``bits``-bit key: not a key, but what the full RSA check would chew on."""

    def odd(size: int) -> str:
        return int_to_b64url(secrets.randbits(size) | (1 << (size - 1)) | 1)

    half = bits // 2
    return {
        "kty": "RSA",
        "use": "sig",
        "alg": "RS256",
        "n": odd(bits),
        "e": "AQAB",
        "d": odd(bits - 1),
        "p": odd(half),
        "q": odd(half),
        "dp": odd(half - 1),
        "dq": odd(half - 1),
        "qi": odd(half - 1),
    }


def test_a_huge_rsa_key_is_refused_before_any_check(run: Run, tmp_path: Path, store_dir: Path) -> None:
    jwk = huge_rsa_private(40_000)
    path = write(tmp_path / "huge.json", jwk)
    assert 25_000 < path.stat().st_size < 40_000
    started = time.perf_counter()
    result = run("import", "a", str(path), "--profile", "generic")
    assert time.perf_counter() - started < 1.0
    assert result.exit_code == 3
    assert result.stderr == (
        "jwks-tool: error: the RSA key has a 40000-bit modulus; jwks-tool takes at most 16384 bits; "
        "use a key of 2048 to 4096 bits\n"
    )
    started = time.perf_counter()
    code, findings = inspect_codes(run, path)
    assert time.perf_counter() - started < 1.0
    assert (code, findings) == (2, [("warning", "missing-kid"), ("error", "huge-key")])
    b64 = write(tmp_path / "huge.b64", base64.b64encode(json.dumps(jwk).encode()).decode())
    assert run("import", "a", str(b64), "--profile", "generic").exit_code == 3
    assert not (store_dir / "sets").exists()


def test_a_member_longer_than_the_modulus_is_refused_before_any_check(
    run: Run, tmp_path: Path, rfc7517_rsa: dict[str, Any]
) -> None:
    jwk = rfc7517_rsa | {"p": huge_rsa_private(40_000)["p"]}
    started = time.perf_counter()
    result = run("import", "a", str(write(tmp_path / "p.json", jwk)), "--profile", "generic")
    assert time.perf_counter() - started < 1.0
    assert result.exit_code == 3
    assert result.stderr == (
        "jwks-tool: error: the RSA private member 'p' is longer than the modulus; this is not an RSA key\n"
    )


def test_a_huge_rsa_pem_is_refused_before_the_key_check(run: Run, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    # a real 17,408-bit key would take minutes to make: n is the product of two odd numbers of 8,704 bits instead
    jwk = huge_rsa_private(17_408)
    p, q = b64url_to_int(jwk["p"]) | 3 << 8702, b64url_to_int(jwk["q"]) | 3 << 8702
    numbers = rsa.RSAPrivateNumbers(
        p=p,
        q=q,
        d=b64url_to_int(jwk["d"]),
        dmp1=b64url_to_int(jwk["dp"]),
        dmq1=b64url_to_int(jwk["dq"]),
        iqmp=b64url_to_int(jwk["qi"]),
        public_numbers=rsa.RSAPublicNumbers(65537, p * q),
    )
    key = numbers.private_key(unsafe_skip_rsa_key_validation=True)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    path = write(tmp_path / "huge.pem", pem)
    started = time.perf_counter()
    result = run("import", "a", str(path), "--profile", "generic")
    assert time.perf_counter() - started < 1.0
    assert result.exit_code == 3
    assert result.stderr == (
        "jwks-tool: error: the RSA key has a 17408-bit modulus; jwks-tool takes at most 16384 bits; "
        "use a key of 2048 to 4096 bits\n"
    )
    started = time.perf_counter()
    assert run("inspect", str(path)).exit_code == 3
    assert time.perf_counter() - started < 1.0


# ---- NaN and Infinity ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity", "1e999"])
@pytest.mark.parametrize("encoding", ["json", "base64"])
def test_json_constants_are_refused(
    run: Run, tmp_path: Path, rfc7517_rsa: dict[str, Any], constant: str, encoding: str
) -> None:
    text = json.dumps(rfc7517_rsa | {"use": "sig", "alg": "RS256"})[:-1] + f', "exp": {constant}}}'
    if encoding == "base64":
        text = base64.b64encode(text.encode()).decode()
    path = write(tmp_path / "key.txt", text)
    for command in (("inspect", str(path)), ("import", "a", str(path))):
        result = run(*command)
        assert result.exit_code == 3, (command, result.stdout)
        problem = f"holds {constant}, which JSON does not allow"
        if constant == "1e999":
            problem = "number 1e999 is out of range"
        assert result.stderr == f"jwks-tool: error: the JSON {problem}; write a finite number\n"


# ---- import: what it changes, it says; what is not a signing key, it refuses ----------------------------------------
def test_import_says_when_it_shortens_the_expiry(
    run: Run, tmp_path: Path, rfc7517_rsa: dict[str, Any], fixed_now: Any
) -> None:
    far = int(fixed_now.timestamp()) + 3 * 365 * 86400
    path = write(tmp_path / "key.json", rfc7517_rsa | {"use": "sig", "alg": "RS256", "exp": far})
    result = run("import", "acme", str(path))
    assert result.exit_code == 0, result.stderr
    assert result.stderr == (
        "jwks-tool: warning: the JWK's exp (2029-01-14) is further away than the maskinporten profile allows "
        "(365 days): the key expires on 2027-01-15 instead; pass --expires-in to choose a shorter lifetime\n"
    )
    as_json = run("import", "beta", str(path), "--json")
    assert as_json.exit_code == 0
    assert json.loads(as_json.stdout)["warnings"] == [
        {
            "code": "exp-shortened",
            "message": "the JWK's exp (2029-01-14) is further away than the maskinporten profile allows (365 days): "
            "the key expires on 2027-01-15 instead; pass --expires-in to choose a shorter lifetime",
            "given_exp": "2029-01-14T09:30:00Z",
            "expires": "2027-01-15T09:30:00Z",
        }
    ]
    near = write(tmp_path / "near.json", rfc7517_rsa | {"exp": int(fixed_now.timestamp()) + 86400 * 30})
    quiet = run("import", "gamma", str(near), "--json")
    assert quiet.exit_code == 0
    assert quiet.stderr == ""
    assert json.loads(quiet.stdout)["warnings"] == []


@pytest.mark.parametrize("profile", ["maskinporten", "generic"])
def test_import_refuses_a_key_that_is_not_for_signing(
    run: Run, tmp_path: Path, rfc7517_rsa: dict[str, Any], profile: str, store_dir: Path
) -> None:
    cases: list[tuple[dict[str, Any], int, str | None]] = [
        (
            {"use": "enc"},
            4,
            'the key is marked "use": "enc" (encryption), and jwks-tool keeps signing keys; import a signing key, '
            'or set "use": "sig" if this key is meant to sign',
        ),
        (
            {"key_ops": ["encrypt", "decrypt"]},
            4,
            'the key\'s key_ops ["encrypt", "decrypt"] do not include "sign", and jwks-tool keeps signing keys; '
            "import a "
            'signing key, or add "sign" to key_ops if this key is meant to sign',
        ),
        ({"key_ops": "sign"}, 3, 'the JWK\'s key_ops is not an array of strings; write it as ["sign", "verify"]'),
        ({"alg": "RSA-OAEP"}, 4, None),
    ]
    for extra, code, line in cases:
        path = write(tmp_path / "key.json", rfc7517_rsa | extra)
        result = run("import", "acme", str(path), "--profile", profile)
        assert result.exit_code == code, (extra, result.stderr)
        assert result.stderr.count("\n") == 1
        if line is not None:
            assert result.stderr == f"jwks-tool: error: {line}\n"
    assert not (store_dir / "sets").exists()
    signing = write(tmp_path / "sig.json", rfc7517_rsa | {"use": "sig", "key_ops": ["sign", "verify"]})
    assert run("import", "acme", str(signing), "--profile", profile).exit_code == 0


@pytest.mark.parametrize(
    ("extra", "line"),
    [
        (
            {"key_ops": ["sign", "encrypt"]},
            'the key\'s key_ops ["sign", "encrypt"] allow encrypt, and jwks-tool keeps signing keys; import a signing '
            'key, or set key_ops to ["sign", "verify"] if this key is meant only to sign',
        ),
        (
            {"nbf": 4102444800},
            "the key is not valid before 2100-01-01T00:00:00Z (its nbf); import it once it is valid, or drop nbf",
        ),
    ],
    ids=["key_ops-encrypt", "future-nbf"],
)
def test_import_refuses_other_key_ops_and_a_future_nbf(
    run: Run, tmp_path: Path, rfc7517_rsa: dict[str, Any], store_dir: Path, extra: dict[str, Any], line: str
) -> None:
    for profile in ("maskinporten", "generic"):
        result = run("import", "acme", str(write(tmp_path / "key.json", rfc7517_rsa | extra)), "--profile", profile)
        assert result.exit_code == 4, result.stderr
        assert result.stderr == f"jwks-tool: error: {line}\n"
    assert not (store_dir / "sets").exists()
    past = write(tmp_path / "past.json", rfc7517_rsa | {"nbf": 1_600_000_000})
    assert run("import", "acme", str(past)).exit_code == 0


def test_import_refuses_an_ec_alg_that_does_not_fit_the_curve(
    run: Run, tmp_path: Path, rfc7517_ec: dict[str, Any]
) -> None:
    path = write(tmp_path / "ec.json", rfc7517_ec | {"use": "sig", "alg": "ES384"})
    result = run("import", "acme", str(path), "--profile", "generic")
    assert result.exit_code == 4
    assert result.stderr == "jwks-tool: error: alg ES384 does not go with curve P-256; use --alg ES256\n"
