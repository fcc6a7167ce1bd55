"""The shipped samples: what `jwks-tool inspect` says about each file in samples/ (see samples/README.md).

samples/malformed/expected.json is the contract: for every file the profile and --expect to inspect it with, the
exit code and the exact finding codes, or, for input that is refused outright, exit 3 and the one-line error.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from jwks_tool.core.b64 import b64url_to_int
from jwks_tool.core.keys import public_key_from_jwk, thumbprint
from jwks_tool.core.model import PRIVATE_MEMBERS

Run = Callable[..., Result]

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
PUBLIC = SAMPLES / "public"
MALFORMED = SAMPLES / "malformed"
EXPECTED_FILE = MALFORMED / "expected.json"
EXPECTED: dict[str, dict[str, Any]] = json.loads(EXPECTED_FILE.read_text(encoding="utf-8"))
SAMPLES_NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
"""The day the samples were made; inspect's clock is pinned to it so the expiry findings never drift."""
VERDICTS = {0: "ok", 1: "warnings", 2: "errors"}
PUBLIC_FILES = sorted(path.name for path in PUBLIC.iterdir())
LINTED = sorted(name for name, entry in EXPECTED.items() if "codes" in entry)
REFUSED = sorted(name for name, entry in EXPECTED.items() if "error" in entry)
PUBLIC_NOT_CLEAN = {"maskinporten-two-keys.jwks-array.json": (1, ["bare-array"])}
"""A bare array is what older portal pages wanted; inspect always warns that {"keys": [...]} is the standard form."""
FINDING_LINE = re.compile(r"^  (error|warning): .* \(([a-z0-9-]+)\)$")


@pytest.fixture(autouse=True)
def _samples_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("jwks_tool.services.inspecting.utcnow", lambda: SAMPLES_NOW)


def inspect_args(path: Path, entry: dict[str, Any]) -> list[str]:
    args = ["inspect", str(path)]
    if "profile" in entry:
        args += ["--profile", entry["profile"]]
    if "expect" in entry:
        args += ["--expect", entry["expect"]]
    return args


def text_codes(output: str) -> list[str]:
    """The finding codes of inspect's text report: each finding line ends with its code in brackets."""
    return sorted(match.group(2) for line in output.splitlines() if (match := FINDING_LINE.match(line)))


def assert_refused(result: Result, error: str, *, as_json: bool = False) -> None:
    assert result.exit_code == 3, result.output
    if as_json:  # the error as one JSON document too (README "JSON output")
        assert json.loads(result.stdout)["error"]["code"] == "input"
        assert error in json.loads(result.stdout)["error"]["message"]
    else:
        assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("jwks-tool: error: ")
    assert error in lines[0]
    assert "Traceback" not in result.stderr


# ---- the contract file --------------------------------------------------------------------------------------------
def test_every_malformed_sample_has_an_expectation() -> None:
    on_disk = {path.name for path in MALFORMED.iterdir()} - {EXPECTED_FILE.name}
    assert on_disk == set(EXPECTED)


def test_expectations_are_well_formed() -> None:
    for name, entry in EXPECTED.items():
        if "error" in entry:
            assert entry["exit_code"] == 3, name
            assert set(entry) <= {"profile", "expect", "exit_code", "error"}, name
        else:
            assert set(entry) == {"profile", "expect", "exit_code", "codes"}, name
            assert entry["profile"] in ("maskinporten", "generic"), name
            assert entry["expect"] in ("any", "public", "private", "keyvault"), name
            assert entry["exit_code"] in (1, 2), name
            assert entry["codes"], name
            assert entry["codes"] == sorted(entry["codes"]), name


# ---- malformed samples: findings ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", LINTED)
def test_malformed_sample_text_report(run: Run, name: str) -> None:
    entry = EXPECTED[name]
    result = run(*inspect_args(MALFORMED / name, entry))
    assert result.exit_code == entry["exit_code"], result.output
    assert result.stderr == ""
    assert text_codes(result.stdout) == entry["codes"]
    verdict = {1: "Verdict: usable, with warnings", 2: "Verdict: NOT usable as it is"}[entry["exit_code"]]
    assert result.stdout.splitlines()[-1] == verdict
    assert result.stdout.startswith(f"{MALFORMED / name}: ")


@pytest.mark.parametrize("name", LINTED)
def test_malformed_sample_json_report(run: Run, name: str) -> None:
    entry = EXPECTED[name]
    result = run(*inspect_args(MALFORMED / name, entry), "--json")
    assert result.exit_code == entry["exit_code"], result.output
    assert result.stderr == ""
    report = json.loads(result.stdout)
    assert sorted(finding["code"] for finding in report["findings"]) == entry["codes"]
    assert report["verdict"] == VERDICTS[entry["exit_code"]]
    assert report["profile"] == entry["profile"]
    assert report["expect"] == entry["expect"]
    assert report["source"] == str(MALFORMED / name)
    severities = {finding["severity"] for finding in report["findings"]}
    assert ("error" in severities) == (entry["exit_code"] == 2)


@pytest.mark.parametrize("name", REFUSED)
@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_malformed_sample_is_refused_with_one_line(run: Run, name: str, as_json: bool) -> None:
    entry = EXPECTED[name]
    args = inspect_args(MALFORMED / name, entry) + (["--json"] if as_json else [])
    assert_refused(run(*args), entry["error"], as_json=as_json)


@pytest.mark.parametrize("name", REFUSED)
def test_refused_sample_is_refused_by_import_too(run: Run, name: str) -> None:
    result = run("import", "acme", str(MALFORMED / name))
    assert_refused(result, EXPECTED[name]["error"])


def test_findings_are_reported_where_they_are(run: Run) -> None:
    """In a set each finding names its key; too-many-keys is about the set, so it names none."""
    report = json.loads(run("inspect", str(MALFORMED / "too-many-keys.jwks.json"), "--json").stdout)
    assert len(report["keys"]) == 6
    (finding,) = report["findings"]
    assert finding == {
        "severity": "error",
        "code": "too-many-keys",
        "message": "6 keys; maskinporten holds at most 5 per client",
        "where": "",
    }
    report = json.loads(
        run("inspect", str(MALFORMED / "jwks-with-private-members.json"), "--expect", "public", "--json").stdout
    )
    (finding,) = report["findings"]
    assert finding["where"] == "keys[0] kid=throwaway-do-not-use-1"
    assert finding["message"].startswith("private members (d, p, q, dp, dq, qi) where a public key belongs")


def test_private_members_in_a_set_are_only_a_warning_without_expect(run: Run) -> None:
    """Without --expect, a JWKS holding a private key may be a private key store: warn, do not fail."""
    result = run("inspect", str(MALFORMED / "jwks-with-private-members.json"), "--json")
    assert result.exit_code == 1
    assert [(f["severity"], f["code"]) for f in json.loads(result.stdout)["findings"]] == [
        ("warning", "private-members")
    ]


def test_ec_sample_is_clean_under_the_generic_profile(run: Run) -> None:
    result = run("inspect", str(MALFORMED / "ec-p256-for-maskinporten.jwk.json"), "--profile", "generic")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "Verdict: OK for the generic profile"


def test_throwaway_private_keys_are_labelled(run: Run) -> None:
    """The only private keys in samples/ are the throw-away ones under malformed/, named so in their kid."""
    for name in ("jwks-with-private-members.json", "jwks-as-keyvault-value.b64.txt", "keyvault-missing-qi.b64.txt"):
        report = json.loads(run("inspect", str(MALFORMED / name), "--json").stdout)
        assert [key["private"] for key in report["keys"]] == [True], name
        assert report["keys"][0]["kid"].startswith("throwaway-do-not-use-"), name
    for path in sorted(MALFORMED.iterdir()):
        if path.name not in REFUSED and path.name != EXPECTED_FILE.name:
            report = json.loads(run("inspect", str(path), "--json").stdout)
            for key in report["keys"]:
                assert not key["private"] or key["kid"].startswith("throwaway-do-not-use-"), path.name


# ---- public samples -----------------------------------------------------------------------------------------------
def public_jwks() -> Iterator[dict[str, Any]]:
    """Every JWK in the JSON files of samples/public/."""
    for path in PUBLIC.glob("*.json"):
        value = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(value, dict) and "keys" in value:
            value = value["keys"]
        yield from value if isinstance(value, list) else [value]


def test_public_samples_are_the_four_forms() -> None:
    assert PUBLIC_FILES == [
        "maskinporten-rsa3072.jwk.json",
        "maskinporten-rsa3072.spki.pem",
        "maskinporten-two-keys.jwks-array.json",
        "maskinporten-two-keys.jwks.json",
    ]


@pytest.mark.parametrize("name", PUBLIC_FILES)
@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_public_sample_inspects_clean(run: Run, name: str, as_json: bool) -> None:
    exit_code, codes = PUBLIC_NOT_CLEAN.get(name, (0, []))
    result = run("inspect", str(PUBLIC / name), "--expect", "public", *(["--json"] if as_json else []))
    assert result.exit_code == exit_code, result.output
    assert result.stderr == ""
    if as_json:
        report = json.loads(result.stdout)
        assert [finding["code"] for finding in report["findings"]] == codes
        assert report["verdict"] == VERDICTS[exit_code]
        assert all(not key["private"] for key in report["keys"])
        assert all(key["kty"] == "RSA" and key["size"] == 3072 for key in report["keys"])
    else:
        assert text_codes(result.stdout) == codes
        if exit_code == 0:
            assert result.stdout.splitlines()[-1] == "Verdict: OK for the maskinporten profile"


def test_public_samples_hold_no_private_member() -> None:
    jwks = list(public_jwks())
    assert len(jwks) == 5
    for jwk in jwks:
        assert not set(jwk) & set(PRIVATE_MEMBERS)
    assert "PRIVATE" not in (PUBLIC / "maskinporten-rsa3072.spki.pem").read_text()


def test_public_samples_are_one_key_pair_in_four_forms() -> None:
    jwk = json.loads((PUBLIC / "maskinporten-rsa3072.jwk.json").read_text())
    jwks = json.loads((PUBLIC / "maskinporten-two-keys.jwks.json").read_text())
    array = json.loads((PUBLIC / "maskinporten-two-keys.jwks-array.json").read_text())
    assert list(jwk) == ["kty", "use", "kid", "alg", "n", "e"]
    assert jwks == {"keys": array}
    assert jwks["keys"][0] == jwk
    assert len({thumbprint(key) for key in array}) == 2
    assert all(key["kid"].startswith("sample-test-") for key in array)
    assert b64url_to_int(jwk["n"]).bit_length() == 3072

    from cryptography.hazmat.primitives import serialization

    pem = (PUBLIC / "maskinporten-rsa3072.spki.pem").read_bytes()
    loaded = serialization.load_pem_public_key(pem)
    expected = public_key_from_jwk(jwk).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert loaded.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo) == expected
    assert pem == expected


def test_readme_tables_say_what_expected_json_says() -> None:
    """samples/README.md's tables list every sample with the exit code and codes (or error) of expected.json."""
    rows: dict[str, list[str]] = {}
    for line in (SAMPLES / "README.md").read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        if line.startswith("| `") and cells[0].strip("`") not in rows:
            rows[cells[0].strip("`")] = cells
    assert set(rows) == set(EXPECTED) | set(PUBLIC_FILES)
    for name, entry in EXPECTED.items():
        *_, expect, exit_code, outcome = rows[name]
        assert int(exit_code) == entry["exit_code"], name
        if "error" in entry:
            assert outcome == f"error: `{entry['error']}`", name
        else:
            assert expect == f"`{entry['expect']}`", name
            assert sorted(code.strip("`") for code in outcome.split(", ")) == entry["codes"], name


def test_readme_store_layout_is_the_file_stores() -> None:
    """The layout in samples/README.md is copied from jwks_tool/stores/file.py's docstring: keep them the same."""
    import jwks_tool.stores.file

    doc = jwks_tool.stores.file.__doc__ or ""
    layout = doc.split("::\n\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert layout[0].strip() == "<root>/                    0700"
    readme = (SAMPLES / "README.md").read_text(encoding="utf-8").splitlines()
    assert [line for line in layout if line not in readme] == []
