"""Fuzzing `inspect` and `import`: the fixed corpus in tests/data/nasty/ and hypothesis mutations of valid inputs.

The invariants, for every input:

* never a traceback; run in-process with ``catch_exceptions=True``, the only exception is a ``SystemExit``;
* the exit code is documented: 0, or 1 2 3 4 6 7 8 (70, an internal error, is a bug); inspect exits 1 or 2 only
  when its report holds findings of that severity (its ``--json`` verdict agrees), import never exits 1 or 2;
* an error prints nothing on stdout and exactly one line on stderr, starting ``jwks-tool: error: ``;
* a failed import leaves the store byte for byte and mode for mode as it was; a successful one adds exactly one key,
  whose RFC 7638 thumbprint (computed here, independently) is that of the key in the input;
* (hypothesis) no output holds a private member of the key an input was made from.

Stores here use PBKDF2 with 1,000 rounds (the least jwks-tool accepts) so that the many imports stay fast. The
seven bugs these tests found (huge numbers, out-of-range or non-integer exp, unhashable kty/crv, lone-surrogate and
control-character kids, unchecked store reads) are fixed; their inputs stay in the corpus and the strategies.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from jwks_tool.cli.main import cli
from jwks_tool.core.sealing import new_passphrase_protection
from jwks_tool.stores.file import FileStore

pytestmark = pytest.mark.integration

NASTY = Path(__file__).resolve().parents[1] / "data" / "nasty"
RFC_RSA = Path(__file__).resolve().parents[1] / "data" / "rfc7517-a2-rsa-private.json"
STORE_PASSPHRASE = "fuzz store passphrase"
KEY_PASSPHRASE = "nasty key passphrase"
SET = "fuzzset"
DOCUMENTED = frozenset({0, 1, 2, 3, 4, 6, 7, 8})
VERDICTS = {0: "ok", 1: "warnings", 2: "errors"}
PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi")
BASE_ENV: dict[str, str | None] = {
    "JWKS_TOOL_PASSPHRASE": STORE_PASSPHRASE,
    "JWKS_TOOL_KEY_PASSPHRASE": None,
    "JWKS_TOOL_EXPORT_PASSPHRASE": None,
    "JWKS_TOOL_STORE": None,
}

Snapshot = dict[str, tuple[bytes, int]]


# ---- running and checking --------------------------------------------------------------------------------------
def invoke(args: Sequence[str], *, env: Mapping[str, str | None] | None = None, stdin: bytes | None = None) -> Result:
    """The CLI in-process, catching exceptions so that a non-SystemExit one can be reported as a bug."""
    return CliRunner().invoke(cli, list(args), input=stdin, env={**BASE_ENV, **(env or {})}, catch_exceptions=True)


def describe(result: Result) -> str:
    lines = [f"exit {result.exit_code}", f"stdout: {result.stdout[:2000]!r}", f"stderr: {result.stderr[:2000]!r}"]
    if result.exc_info is not None and result.exception is not None and not isinstance(result.exception, SystemExit):
        lines.append("".join(traceback.format_exception(*result.exc_info)))
    return "\n".join(lines)


def assert_sane(result: Result, *, importing: bool, as_json: bool = False) -> None:
    """The invariants every run of inspect or import keeps, whatever the input."""
    why = describe(result)
    assert result.exception is None or isinstance(result.exception, SystemExit), why
    assert "Traceback" not in result.stdout + result.stderr, why
    assert result.exit_code in DOCUMENTED, why
    if importing:
        assert result.exit_code not in (1, 2), why
    if result.exit_code >= 3:
        if as_json:  # the error as one JSON document, saying what stderr says (README "JSON output")
            error = json.loads(result.stdout)["error"]
            assert error["exit"] == result.exit_code, why
            hint = f"; {error['hint']}" if error["hint"] else ""
            assert result.stderr == f"jwks-tool: error: {error['message']}{hint}\n", why
        else:
            assert result.stdout == "", why
        assert result.stderr.startswith("jwks-tool: error: "), why
        assert result.stderr.endswith("\n"), why
        assert result.stderr.count("\n") == 1, why
    else:
        assert result.stderr == "", why
        if not importing:
            assert result.stdout.strip(), why


def assert_verdict_agrees(text: Result, as_json: Result) -> None:
    """inspect --json exits like inspect, and its report explains an exit of 0, 1 or 2."""
    assert_sane(as_json, importing=False, as_json=True)
    assert as_json.exit_code == text.exit_code, describe(as_json)
    if text.exit_code not in VERDICTS:
        return
    report = json.loads(as_json.stdout)
    severities = [finding["severity"] for finding in report["findings"]]
    assert report["verdict"] == VERDICTS[text.exit_code], report
    if text.exit_code == 0:
        assert severities == [], report
    elif text.exit_code == 1:
        assert severities, report
        assert set(severities) == {"warning"}, report
    else:
        assert "error" in severities, report
    for finding in report["findings"]:
        assert finding["code"] in text.stdout, text.stdout


def snapshot(root: Path) -> Snapshot:
    """Every file under ``root``: its bytes and mode (folders by mode alone)."""
    found: Snapshot = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            path = Path(folder, name)
            found[str(path.relative_to(root)) + "/"] = (b"", path.stat().st_mode)
        for name in files:
            path = Path(folder, name)
            found[str(path.relative_to(root))] = (path.read_bytes(), path.stat().st_mode)
    return found


def stored_thumbprints(root: Path) -> list[str]:
    path = root / "sets" / "test" / f"{SET}.json"
    return [str(key["thumbprint"]) for key in json.loads(path.read_text(encoding="utf-8"))["keys"]]


def assert_import_outcome(result: Result, store: Path, before: Snapshot, expected_thumbprint: str | None) -> None:
    """A failed import changed nothing; a successful one added one key, the input's (when it is known)."""
    if result.exit_code != 0:
        assert snapshot(store) == before, f"a failed import changed the store\n{describe(result)}"
        return
    old = json.loads(before[f"sets/test/{SET}.json"][0])
    old_thumbprints = [str(key["thumbprint"]) for key in old["keys"]]
    now = stored_thumbprints(store)
    assert now[: len(old_thumbprints)] == old_thumbprints, describe(result)
    assert len(now) == len(old_thumbprints) + 1, describe(result)
    if expected_thumbprint is not None:
        assert now[-1] == expected_thumbprint, f"import took a key that is not the input's\n{describe(result)}"
    assert before["store.json"] == snapshot(store)["store.json"]


def b64url_int(value: int) -> str:
    return base64.urlsafe_b64encode(value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")).rstrip(b"=").decode()


def b64url_to_int(text: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)), "big")


def rfc7638_rsa(n: int, e: int) -> str:
    """The RFC 7638 thumbprint of an RSA key, written out here rather than taken from jwks_tool."""
    canonical = json.dumps({"e": b64url_int(e), "kty": "RSA", "n": b64url_int(n)}, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def pem_thumbprint(data: bytes, passphrase: str | None) -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = serialization.load_pem_private_key(data, None if passphrase is None else passphrase.encode())
    assert isinstance(key, rsa.RSAPrivateKey)
    numbers = key.public_key().public_numbers()
    return rfc7638_rsa(numbers.n, numbers.e)


# ---- stores ----------------------------------------------------------------------------------------------------
def light_store(root: Path) -> Path:
    """An empty store whose PBKDF2 runs 1,000 rounds (the least jwks-tool accepts), so that imports stay fast."""
    protection, _ = new_passphrase_protection(STORE_PASSPHRASE, iterations=1000)
    FileStore.from_url(str(root)).init_config({"created": "2026-01-15T09:30:00Z", "protection": protection})
    return root


@pytest.fixture(scope="module")
def template_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A light store with the set 'fuzzset' holding one generated RSA 2048 key: what every import goes into."""
    root = light_store(tmp_path_factory.mktemp("fuzz-template") / "store")
    result = invoke(["generate", SET, "--size", "2048", "--store", str(root)])
    assert result.exit_code == 0, describe(result)
    return root


@pytest.fixture
def store(template_store: Path, tmp_path: Path) -> Path:
    """A fresh copy of the template store, modes kept."""
    root = tmp_path / "fuzz-store"
    shutil.copytree(template_store, root)
    return root


def import_args(source: str, store: Path) -> list[str]:
    return ["import", SET, source, "--store", str(store)]


# ---- the corpus ------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Case:
    """What inspect and import of one corpus file must exit with; a known bug names the file's xfail."""

    inspect: frozenset[int]
    import_: frozenset[int]
    inspect_bug: str | None = None
    import_bug: str | None = None


def case(inspect: int | set[int], import_: int | set[int], **bugs: str) -> Case:
    def codes(value: int | set[int]) -> frozenset[int]:
        return frozenset({value} if isinstance(value, int) else value)

    return Case(codes(inspect), codes(import_), **bugs)


CORPUS: dict[str, Case] = {
    "base64-broken-json.b64.txt": case(3, 3),
    "base64-non-utf8.b64.txt": case(3, 3),
    "base64-not-json.b64.txt": case(3, 3),
    "binary-junk.bin": case(3, 3),
    "bom-private.jwk.json": case(0, 0),
    "crv-object.jwk.json": case(2, {3, 4}),
    "d-empty.jwk.json": case(2, 3),
    "deep-nesting-10000.json": case(3, 3),
    "deep-nesting-in-member.jwk.json": case(3, 3),
    "duplicate-d.jwk.json": case(3, 3),
    "duplicate-keys.jwks.json": case(3, 3),
    "ec-private-for-maskinporten.jwk.json": case(2, 4),
    "ed25519-private.pem": case(3, 3),
    "empty.txt": case(3, 3),
    "encrypted-pkcs1-legacy.pem": case(1, 8),
    "encrypted-pkcs8.pem": case(1, 8),
    "exp-1e308.jwk.json": case(2, 3),
    "exp-float.jwk.json": case(2, 3),
    "exp-huge-int.jwk.json": case(2, {3, 4}),
    "exp-nan.jwk.json": case(3, 3),
    "exp-negative.jwk.json": case(2, 4),
    "exp-string.jwk.json": case(2, 3),
    "garbage-base64.pem": case(3, 3),
    "garbage-certificate.pem": case(3, 3),
    "json-42.json": case(3, 3),
    "json-null.json": case(3, 3),
    "json-string.json": case(3, 3),
    "json-true.json": case(3, 3),
    "jwks-empty.jwks.json": case(2, 3),
    "jwks-number-item.jwks.json": case(3, 3),
    "keys-object.jwks.json": case(3, 3),
    "kid-array.jwk.json": case(2, 3),
    "kid-control-chars.jwk.json": case(2, 3),
    "kid-lone-surrogate.jwk.json": case(2, 3),
    "kty-array.jwk.json": case(2, 3),
    "kty-null.jwk.json": case(2, 3),
    "n-number.jwk.json": case(2, 3),
    "n-standard-base64.jwk.json": case(2, 3),
    "oct-key.jwk.json": case(2, 3),
    "rsa-1024-private.pem": case(2, 4),
    "rsa-e-10000-digit-number.jwk.json": case({2, 3}, 3),
    "rsa-pq-mismatch.jwk.json": case(2, 3),
    "truncated-body.pem": case(3, 3),
    "truncated.pem": case(3, 3),
    "two-blocks.pem": case(3, 3),
    "unknown-label.pem": case(3, 3),
    "utf16-private.jwk.json": case(0, 0),  # UTF-16 with a BOM (Windows PowerShell 5 Out-File) is read
    "whitespace-only.txt": case(3, 3),
    # made at test time (too big to keep in the repository)
    "rsa-n-100000-chars.jwk.json": case(2, 3),
    "ten-mib.json": case(3, 3),
}
LEGIT = {"bom-private.jwk.json", "utf16-private.jwk.json"}
"""Real keys in odd clothes: import takes them (the encrypted PEMs too, given their passphrase)."""
TEN_MIB = 10 * 1024 * 1024


def rfc_private(**changes: Any) -> dict[str, Any]:
    jwk: dict[str, Any] = {"kty": "RSA", "use": "sig", "kid": "nasty-1", "alg": "RS256"}
    rfc = json.loads(RFC_RSA.read_text(encoding="utf-8"))
    jwk.update({name: rfc[name] for name in ("n", "e", *PRIVATE_MEMBERS)})
    jwk.update(changes)
    return jwk


GENERATED: dict[str, Callable[[], bytes]] = {
    "rsa-n-100000-chars.jwk.json": lambda: json.dumps(rfc_private(n="A" + "x" * 99_999)).encode(),
    "ten-mib.json": lambda: (json.dumps(rfc_private(kid="ten-mib")) + " " * TEN_MIB).encode(),
}


def corpus_file(name: str, folder: Path) -> Path:
    if name in GENERATED:
        path = folder / name
        path.write_bytes(GENERATED[name]())
        return path
    return NASTY / name


def expected_thumbprint(name: str) -> str | None:
    if name in LEGIT:
        jwk = json.loads((NASTY / name).read_bytes().removeprefix(b"\xef\xbb\xbf"))
        return rfc7638_rsa(b64url_to_int(jwk["n"]), b64url_to_int(jwk["e"]))
    return None


def params(which: str) -> list[Any]:
    chosen = []
    for name, entry in CORPUS.items():
        bug = entry.inspect_bug if which == "inspect" else entry.import_bug
        marks = [pytest.mark.xfail(strict=True, reason=bug)] if bug else []
        chosen.append(pytest.param(name, id=name, marks=marks))
    return chosen


def test_the_corpus_and_its_readme_list_every_file() -> None:
    on_disk = {path.name for path in NASTY.iterdir()} - {"README.md"}
    assert on_disk == set(CORPUS) - set(GENERATED)
    readme = (NASTY / "README.md").read_text(encoding="utf-8")
    for name in CORPUS:
        assert f"`{name}`" in readme, f"{name} is not described in {NASTY / 'README.md'}"
    for path in NASTY.iterdir():
        assert path.stat().st_size < 32 * 1024, f"{path.name} is big: make it at test time instead"


@pytest.mark.parametrize("name", params("inspect"))
def test_inspect_of_nasty_input(name: str, tmp_path: Path) -> None:
    path = corpus_file(name, tmp_path)
    text = invoke(["inspect", str(path)])
    assert_sane(text, importing=False)
    assert text.exit_code in CORPUS[name].inspect, describe(text)
    assert_verdict_agrees(text, invoke(["inspect", "--json", str(path)]))


@pytest.mark.parametrize("name", params("import"))
def test_import_of_nasty_input(name: str, store: Path, tmp_path: Path) -> None:
    path = corpus_file(name, tmp_path)
    before = snapshot(store)
    result = invoke(import_args(str(path), store))
    assert_sane(result, importing=True)
    assert result.exit_code in CORPUS[name].import_, describe(result)
    if name not in LEGIT:
        assert result.exit_code != 0, f"import took junk\n{describe(result)}"
    assert_import_outcome(result, store, before, expected_thumbprint(name))


@pytest.mark.parametrize("name", ["json-null.json", "binary-junk.bin", "duplicate-d.jwk.json", "ten-mib.json"])
def test_import_of_nasty_input_on_stdin(name: str, store: Path, tmp_path: Path) -> None:
    data = corpus_file(name, tmp_path).read_bytes()
    before = snapshot(store)
    result = invoke(import_args("-", store), stdin=data)
    assert_sane(result, importing=True)
    assert result.exit_code == 3, describe(result)
    assert_import_outcome(result, store, before, None)


@pytest.mark.parametrize("command", ["inspect", "import"])
def test_ten_mib_on_stdin_of_a_real_process(command: str, store: Path) -> None:
    """10 MiB on the stdin of a real process. (In-process, ``inspect -`` cannot run: click's test stdin has no
    ``name``, by which inspect names its source.)"""
    data = GENERATED["ten-mib.json"]()
    args = ["inspect", "-"] if command == "inspect" else import_args("-", store)
    env = {key: value for key, value in os.environ.items() if not key.startswith("JWKS_TOOL_")}
    env["JWKS_TOOL_PASSPHRASE"] = STORE_PASSPHRASE
    before = snapshot(store)
    done = subprocess.run(
        [sys.executable, "-m", "jwks_tool", *args], input=data, capture_output=True, env=env, timeout=60, check=False
    )
    stderr = done.stderr.decode()
    assert done.returncode == 3, stderr
    assert done.stdout == b""
    assert stderr.startswith("jwks-tool: error: the input is 1,048,577 bytes"), stderr
    assert stderr.count("\n") == 1, stderr
    assert snapshot(store) == before


@pytest.mark.parametrize("name", ["encrypted-pkcs8.pem", "encrypted-pkcs1-legacy.pem"])
@pytest.mark.parametrize(
    ("passphrase", "inspect_code", "import_code"), [(None, 1, 8), ("right", 0, 0), ("wrong", 8, 8)]
)
def test_encrypted_pem(name: str, passphrase: str | None, inspect_code: int, import_code: int, store: Path) -> None:
    secret = {None: None, "right": KEY_PASSPHRASE, "wrong": "not the passphrase"}[passphrase]
    env = {"JWKS_TOOL_KEY_PASSPHRASE": secret}
    path = NASTY / name
    text = invoke(["inspect", str(path)], env=env)
    assert_sane(text, importing=False)
    assert text.exit_code == inspect_code, describe(text)
    assert_verdict_agrees(text, invoke(["inspect", "--json", str(path)], env=env))
    if passphrase is None:
        assert "(encrypted)" in text.stdout
    before = snapshot(store)
    result = invoke(import_args(str(path), store), env=env)
    assert_sane(result, importing=True)
    assert result.exit_code == import_code, describe(result)
    expected = pem_thumbprint(path.read_bytes(), KEY_PASSPHRASE) if passphrase == "right" else None
    assert_import_outcome(result, store, before, expected)
    for output in (text.stdout, text.stderr, result.stdout, result.stderr):
        assert KEY_PASSPHRASE not in output


def test_inspect_does_not_let_a_kid_inject_lines() -> None:
    result = invoke(["inspect", str(NASTY / "kid-control-chars.jwk.json")])
    assert result.exit_code == 2, describe(result)
    assert not any(line.startswith("jwks-tool: error:") for line in result.stdout.splitlines()), result.stdout


# ---- hypothesis: mutations of valid inputs -----------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Base:
    """A valid input made with jwks-tool, and what is known about its key."""

    name: str
    data: bytes
    encoding: str
    """``json``, ``base64`` (of JSON) or ``pem``."""
    thumbprint: str
    secrets: tuple[str, ...]
    """The key's private members (base64url), which no output may show."""


@pytest.fixture(scope="module")
def bases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Base]:
    """A public JWK, a JWKS, a private JWK, a public and a private PEM and a base64 JWK of one key, made by jwks-tool
    itself in a store of their own (so that importing them into a fuzz store adds a key)."""
    root = light_store(tmp_path_factory.mktemp("fuzz-bases") / "store")
    made: dict[str, bytes] = {}
    for name, args in {
        "generate": ["generate", "src", "--size", "2048"],
        "public-jwk": ["export", "src", "--format", "jwk"],
        "jwks": ["export", "src", "--format", "jwks"],
        "private-jwk": ["export", "src", "--private", "--format", "jwk"],
        "public-pem": ["export", "src", "--format", "pem"],
        "private-pem": ["export", "src", "--private", "--format", "pem", "--unencrypted"],
        "base64-jwk": ["export", "src", "--private", "--format", "base64"],
    }.items():
        result = invoke([*args, "--store", str(root)])
        assert result.exit_code == 0, describe(result)
        made[name] = result.stdout_bytes
    private = json.loads(made["private-jwk"])
    thumb = rfc7638_rsa(b64url_to_int(private["n"]), b64url_to_int(private["e"]))
    secrets = tuple(str(private[name]) for name in PRIVATE_MEMBERS)
    encodings = {"public-pem": "pem", "private-pem": "pem", "base64-jwk": "base64"}
    return {
        name: Base(name, made[name], encodings.get(name, "json"), thumb, secrets)
        for name in ("public-jwk", "jwks", "private-jwk", "public-pem", "private-pem", "base64-jwk")
    }


MEMBER_NAMES = ("kty", "use", "kid", "alg", "n", "e", "d", "p", "q", "dp", "dq", "qi", "exp", "crv", "x", "y", "k")
SCALARS = (
    st.none()
    | st.booleans()
    # huge integers (an exp past year 9999, 5,000-digit numbers) were bugs; the corpus covers them, and they are
    # in range here too
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats()
    | st.text(max_size=24)
    | st.sampled_from(["RSA", "EC", "oct", "sig", "enc", "RS256", "ES256", "P-256", "", "AQAB", "A" * 400])
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=8,
)


def value_for(member: str) -> st.SearchStrategy[Any]:
    return JSON_VALUES  # arrays and objects as kty or crv once crashed inspect; they are fair game now


@st.composite
def byte_mutation(draw: st.DrawFn, data: bytes) -> bytes:
    """Flip a few bytes, cut the input short, or drop a slice of it."""
    how = draw(st.sampled_from(["flip", "truncate", "drop"]))
    if how == "truncate":
        return data[: draw(st.integers(0, len(data) - 1))]
    if how == "drop":
        start = draw(st.integers(0, len(data) - 1))
        return data[:start] + data[start + draw(st.integers(1, 64)) :]
    mutable = bytearray(data)
    for _ in range(draw(st.integers(1, 6))):
        mutable[draw(st.integers(0, len(data) - 1))] ^= draw(st.integers(1, 255))
    return bytes(mutable)


@st.composite
def member_mutation(draw: st.DrawFn, document: Any) -> Any:
    """Delete members, change their types or insert random JSON values (in the JWK; in a JWKS, in its first key or
    the set itself)."""
    document = json.loads(json.dumps(document))
    target = document
    if isinstance(document, dict) and isinstance(document.get("keys"), list) and document["keys"]:
        target = draw(st.sampled_from([document, document["keys"][0]]))
    for _ in range(draw(st.integers(1, 3))):
        how = draw(st.sampled_from(["delete", "retype", "insert"]))
        names = sorted(target)
        if how == "insert" or not names:
            member = draw(st.sampled_from(MEMBER_NAMES) | st.text(max_size=6))
            target[member] = draw(value_for(member))
        elif how == "delete":
            del target[draw(st.sampled_from(names))]
        else:
            member = draw(st.sampled_from(names))
            target[member] = draw(value_for(member))
    return document


@st.composite
def mutated(draw: st.DrawFn, base: Base) -> bytes:
    if base.encoding == "pem" or draw(st.booleans()):
        return draw(byte_mutation(base.data))
    if base.encoding == "base64":
        document = json.loads(base64.b64decode(base.data))
        changed = draw(member_mutation(document))
        return base64.b64encode(json.dumps(changed, separators=(",", ":")).encode()) + b"\n"
    changed = draw(member_mutation(json.loads(base.data)))
    return json.dumps(changed, indent=draw(st.sampled_from([None, 2]))).encode()


def assert_no_secret(result: Result, base: Base) -> None:
    for output in (result.stdout, result.stderr):
        for secret in base.secrets:
            assert secret[:32] not in output, (
                f"a private member of the input's key is in the output\n{describe(result)}"
            )


FUZZ_SETTINGS = settings(
    max_examples=1000,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Room for the hypothesis examples, each in a folder of its own (function fixtures do not reset per example)."""
    return tmp_path_factory.mktemp("fuzz-examples")


@FUZZ_SETTINGS
@given(data=st.data())
def test_inspect_of_mutated_input(data: st.DataObject, bases: dict[str, Base], scratch: Path) -> None:
    base = bases[data.draw(st.sampled_from(sorted(bases)), label="base")]
    payload = data.draw(mutated(base), label="input")
    folder = Path(tempfile.mkdtemp(dir=scratch))
    try:
        path = folder / "input"
        path.write_bytes(payload)
        text = invoke(["inspect", str(path)])
        event(f"inspect {base.name}: exit {text.exit_code}")
        assert_sane(text, importing=False)
        assert_no_secret(text, base)
        as_json = invoke(["inspect", "--json", str(path)])
        assert_verdict_agrees(text, as_json)
        assert_no_secret(as_json, base)
    finally:
        shutil.rmtree(folder)


@FUZZ_SETTINGS
@given(data=st.data())
def test_import_of_mutated_input(
    data: st.DataObject, bases: dict[str, Base], template_store: Path, scratch: Path
) -> None:
    base = bases[data.draw(st.sampled_from(sorted(bases)), label="base")]
    payload = data.draw(mutated(base), label="input")
    folder = Path(tempfile.mkdtemp(dir=scratch))
    try:
        path = folder / "input"
        path.write_bytes(payload)
        store = folder / "store"
        shutil.copytree(template_store, store)
        before = snapshot(store)
        result = invoke(import_args(str(path), store))
        event(f"import {base.name}: exit {result.exit_code}")
        assert_sane(result, importing=True)
        assert_no_secret(result, base)
        assert_import_outcome(result, store, before, base.thumbprint)
    finally:
        shutil.rmtree(folder)


def test_the_unmutated_bases_are_valid(bases: dict[str, Base], template_store: Path, tmp_path: Path) -> None:
    """The starting points of the mutations: inspect finds nothing, and import takes the private ones."""
    for base in bases.values():
        path = tmp_path / base.name
        path.write_bytes(base.data)
        text = invoke(["inspect", str(path)])
        assert text.exit_code == 0, describe(text)
        store = tmp_path / f"store-{base.name}"
        shutil.copytree(template_store, store)
        before = snapshot(store)
        result = invoke(import_args(str(path), store))
        assert result.exit_code == (0 if base.name.startswith(("private", "base64")) else 3), describe(result)
        assert_import_outcome(result, store, before, base.thumbprint)
