"""Every command through click's CliRunner, with exact output and exit codes."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import Result

from jwks_tool import __version__
from jwks_tool.cli.main import EXIT_CODES, cli
from jwks_tool.errors import AbortedError

Run = Callable[..., Result]
ALTINN_MEMBERS = ["kty", "use", "kid", "alg", "n", "e", "d", "p", "q", "dp", "dq", "qi", "exp"]
"""The Key Vault value's members, in order; exp (the key's expiry) goes into AdditionalData of .NET's JsonWebKey."""
PRIVATE = ("d", "p", "q", "dp", "dq", "qi")


def write_json(path: Path, value: Any) -> Path:
    path.write_text(json.dumps(value))
    return path


@pytest.fixture
def imported(run: Run, tmp_path: Path, rfc7517_rsa: dict[str, Any], fixed_now: Any) -> dict[str, Any]:
    """The RFC 7517 A.2 RSA key imported as set 'acme' (test) at the fixed time."""
    del rfc7517_rsa["kid"]
    source = write_json(tmp_path / "key.json", rfc7517_rsa)
    result = run("import", "acme", str(source))
    assert result.exit_code == 0, result.output
    return rfc7517_rsa


def test_version(run: Run) -> None:
    result = run("--version")
    assert result.exit_code == 0
    assert result.output == f"jwks-tool, version {__version__}\n"


def test_every_command_has_help(run: Run) -> None:
    context = click.Context(cli)
    names = cli.list_commands(context)
    assert set(names) >= {"init", "generate", "import", "export", "list", "show", "inspect", "keyvault"}
    leaves: list[tuple[str, ...]] = []
    for name in names:
        command = cli.get_command(context, name)
        assert command is not None, name
        assert command.help, name
        assert len(command.help) > 40, name
        if isinstance(command, click.Group):
            leaves.extend((name, sub) for sub in command.commands)
        else:
            leaves.append((name,))
    for path in leaves:
        result = run(*path, "--help")
        assert result.exit_code == 0, path
        assert "--json" in result.output, f"{path} lacks --json"


def test_import_output_is_golden(
    run: Run, tmp_path: Path, rfc7517_rsa: dict[str, Any], fixed_now: Any, golden: Any
) -> None:
    del rfc7517_rsa["kid"]
    result = run("import", "acme", str(write_json(tmp_path / "key.json", rfc7517_rsa)), "--store", str(tmp_path / "s"))
    assert result.exit_code == 0
    golden("import.txt", result.output.replace(str(tmp_path), "<tmp>"))


def test_show_and_list_are_golden(run: Run, imported: dict[str, Any], golden: Any, store_dir: Path) -> None:
    show = run("show", "acme")
    assert show.exit_code == 0
    golden("show.txt", show.output.replace(str(store_dir), "<store>"))
    listing = run("list")
    assert listing.exit_code == 0
    golden("list.txt", listing.output)
    show_json = run("show", "acme", "--json")
    golden("show.json", show_json.output.replace(str(store_dir), "<store>"))


HEAVY = {"azure", "boto3", "botocore", "cryptography", "filelock", "jinja2", "jwcrypto"}
"""Imports no command that only reads the store's documents may pay for."""
LAZY_IMPORTS = HEAVY | {"pathlib", "platformdirs", "tempfile", "_hashlib"}
"""... nor these: each costs start-up time, and list is benchmarked against python -c "import click" (``_hashlib``
loads OpenSSL: about 2 ms; the thumbprint check of every read uses the built-in SHA-256)."""


@pytest.mark.parametrize(
    ("args", "store"),
    [
        (("--help",), "set"),
        (("list",), "set"),
        (("list",), "default"),
        (("list", "--json"), "set"),
        (("show", "acme", "--json"), "set"),
        (("show", "acme", "--json"), "default"),
    ],
)
def test_read_only_commands_import_little(
    run: Run,
    rfc7517_rsa: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: tuple[str, ...],
    store: str,
) -> None:
    """Checked in a fresh interpreter, by sys.modules (python -X importtime misses importlib.import_module).
    ``default``: no JWKS_TOOL_STORE, the store in the user data folder (what most users run)."""
    if store == "default":
        monkeypatch.delenv("JWKS_TOOL_STORE")
    del rfc7517_rsa["kid"]
    assert run("import", "acme", str(write_json(tmp_path / "key.json", rfc7517_rsa))).exit_code == 0
    if store == "default":
        assert (tmp_path / "xdg-data" / "jwks-tool" / "store" / "store.json").is_file()
    env = dict(os.environ)
    code = (
        "import sys\n"
        "from jwks_tool.cli.main import main\n"
        f"sys.argv = ['jwks-tool', *{list(args)!r}]\n"
        "try:\n"
        "    main()\n"
        "finally:\n"
        "    print(*sys.modules, file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "acme" in done.stdout or args == ("--help",)
    loaded = {name.split(".")[0] for name in done.stderr.split()}
    assert {"jwks_tool", "click"} <= loaded
    assert not loaded & LAZY_IMPORTS, loaded & LAZY_IMPORTS


def test_show_never_holds_key_material(run: Run, imported: dict[str, Any]) -> None:
    for args in (("show", "acme"), ("show", "acme", "--json"), ("list",), ("list", "--json")):
        output = run(*args).output
        for member in PRIVATE:
            assert imported[member] not in output
        assert imported["n"] not in output


def test_export_public_formats_are_golden(run: Run, imported: dict[str, Any], golden: Any) -> None:
    for fmt in ("jwk", "jwks", "jwks-array", "pem"):
        result = run("export", "acme", "--format", fmt)
        assert result.exit_code == 0, fmt
        golden(f"export-public.{fmt}", result.output)
        for member in PRIVATE:
            assert f'"{member}"' not in result.output
    jwk = json.loads(run("export", "acme").output)
    assert jwk == {
        "kty": "RSA",
        "use": "sig",
        "kid": "acme-test-20260115-NzbLsXh8",
        "alg": "RS256",
        "n": imported["n"],
        "e": "AQAB",
        "exp": 1800005400,
    }


def test_export_private_base64_is_altinns_encoded_jwk(run: Run, imported: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "kv.txt"
    result = run("export", "acme", "--private", "--format", "base64", "--out", str(out))
    assert result.exit_code == 0
    assert result.output == ""
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    raw = base64.b64decode(out.read_text().strip(), validate=True)
    decoded = json.loads(raw.decode("utf-8"), object_pairs_hook=list)
    assert [name for name, _ in decoded] == ALTINN_MEMBERS
    as_dict = dict(decoded)
    for member in ("n", "e", *PRIVATE):
        assert as_dict[member] == imported[member]
    assert as_dict["kid"] == "acme-test-20260115-NzbLsXh8"
    assert raw == json.dumps(as_dict, separators=(",", ":")).encode()  # compact


def test_export_private_jwk_to_pipe(run: Run, imported: dict[str, Any]) -> None:
    result = run("export", "acme", "--private")  # CliRunner's stdout is not a terminal: no question asked
    assert result.exit_code == 0
    jwk = json.loads(result.output)
    assert jwk["d"] == imported["d"]
    assert jwk["exp"] == 1800005400


def test_private_export_to_a_terminal_asks(run: Run, imported: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("jwks_tool.cli.main.is_terminal", lambda stream: True)
    monkeypatch.setattr("jwks_tool.cli.keys.is_terminal", lambda stream: True)
    result = run("export", "acme", "--private", input="n\n")
    assert result.exit_code == EXIT_CODES[AbortedError] == 9
    assert imported["d"] not in result.output
    assert result.stderr == (
        "Print the PRIVATE key acme-test-20260115-NzbLsXh8 to this terminal? [y/N]: n\n"
        "jwks-tool: error: nothing exported; use --out FILE to write it to a file instead\n"
    )
    result = run("export", "acme", "--private", input="y\n")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["d"] == imported["d"]
    assert run("export", "acme", "--private", "--yes").exit_code == 0


def test_unencrypted_needs_pem(run: Run, imported: dict[str, Any]) -> None:
    result = run("export", "acme", "--private", "--format", "jwk", "--unencrypted")
    assert result.exit_code == 3
    assert result.stderr == "jwks-tool: error: --unencrypted goes with --format pem; drop --unencrypted\n"


def test_base64_is_private_only(run: Run, imported: dict[str, Any]) -> None:
    result = run("export", "acme", "--format", "base64")
    assert result.exit_code == 3
    assert result.stderr == (
        "jwks-tool: error: --format base64 is a private format; add --private for the Key Vault value\n"
    )


def test_generate_then_export_round_trip(run: Run, tmp_path: Path) -> None:
    result = run("generate", "svc", "--size", "2048", "--json")
    assert result.exit_code == 0
    made = json.loads(result.output)["key"]
    assert made["state"] == "active"
    assert made["size"] == 2048
    assert made["alg"] == "RS256"
    assert made["kid"].startswith("svc-test-")
    public = json.loads(run("export", "svc").output)
    assert public["kid"] == made["kid"]
    assert set(public) == {"kty", "use", "kid", "alg", "n", "e", "exp"}
    second = json.loads(run("generate", "svc", "--size", "2048", "--alg", "RS512", "--json").output)["key"]
    assert second["state"] == "next"
    jwks = json.loads(run("export", "svc", "--format", "jwks").output)
    assert [key["kid"] for key in jwks["keys"]] == [made["kid"], second["kid"]]
    assert json.loads(run("export", "svc").output)["kid"] == second["kid"]  # the newest
    assert json.loads(run("export", "svc", "--kid", made["kid"]).output)["kid"] == made["kid"]


def test_prod_and_test_are_separate_sets(run: Run) -> None:
    assert run("generate", "svc", "--size", "2048", "--env", "prod").exit_code == 0
    result = run("show", "svc")
    assert result.exit_code == 6
    assert result.stderr == (
        f"jwks-tool: error: no key set svc (test) in {Path(__import__('os').environ['JWKS_TOOL_STORE'])}; "
        "it exists in prod: pass --env\n"
    )


def test_kid_styles(run: Run, tmp_path: Path, rfc7517_rsa: dict[str, Any]) -> None:
    source = write_json(tmp_path / "key.json", {k: v for k, v in rfc7517_rsa.items() if k != "kid"})
    result = run("import", "t", str(source), "--kid-style", "thumbprint", "--json")
    assert json.loads(result.output)["key"]["kid"] == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    result = run("generate", "t", "--size", "2048", "--kid", "my.key_1-a", "--json")
    assert json.loads(result.output)["key"]["kid"] == "my.key_1-a"


@pytest.mark.parametrize(
    ("args", "code", "line"),
    [
        (
            ("generate", "a", "--kty", "EC"),
            4,
            "the maskinporten profile does not take EC keys (Maskinporten takes RSA keys with RS256, RS384 or RS512 "
            "only); use --profile generic for a key that other OAuth servers accept",
        ),
        (
            ("generate", "a", "--kid", "bad kid!"),
            3,
            "invalid kid 'bad kid!'; use 1-255 characters of A-Z a-z 0-9 . _ - (Maskinporten's rule, kept for every "
            "profile)",
        ),
        (  # a malformed kid is bad input under every profile: only a profile's own rules give 4
            ("generate", "a", "--kid", "bad kid!", "--profile", "generic"),
            3,
            "invalid kid 'bad kid!'; use 1-255 characters of A-Z a-z 0-9 . _ - (Maskinporten's rule, kept for every "
            "profile)",
        ),
        (
            ("generate", "a", "--expires-in", "400d"),
            4,
            "the maskinporten profile allows keys to live at most 365 days; use --expires-in 365d or less",
        ),
        (
            ("generate", "a", "--expires-in", "soon"),
            3,
            "invalid duration 'soon'; write a number and a unit: 30s, 15m, 24h, 90d, 12w, 1y",
        ),
        (
            ("generate", "bad/name"),
            3,
            "invalid key set name 'bad/name'; use 1-63 characters of A-Z a-z 0-9 . _ -, starting with a letter or "
            "digit",
        ),
        (
            ("generate", "a", "--kty", "EC", "--profile", "generic", "--alg", "RS256"),
            3,
            "alg RS256 does not go with curve P-256; use --alg ES256",
        ),
        (("show", "nothing"), 6, None),
        (("export", "nothing"), 6, None),
    ],
)
def test_bad_input_is_one_line_and_an_exit_code(run: Run, args: tuple[str, ...], code: int, line: str | None) -> None:
    result = run(*args)
    assert result.exit_code == code
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("jwks-tool: error: ")
    assert "Traceback" not in result.stderr
    if line is not None:
        assert result.stderr == f"jwks-tool: error: {line}\n"


def test_duplicate_kid_is_refused_and_store_unchanged(run: Run, store_dir: Path) -> None:
    assert run("generate", "a", "--size", "2048", "--kid", "k1").exit_code == 0
    before = (store_dir / "sets" / "test" / "a.json").read_bytes()
    result = run("generate", "a", "--size", "2048", "--kid", "k1")
    assert result.exit_code == 7
    assert result.stderr == "jwks-tool: error: key set a (test) already has a key with kid 'k1'; pass another --kid\n"
    assert (store_dir / "sets" / "test" / "a.json").read_bytes() == before


def test_wrong_passphrase_changes_nothing(run: Run, store_dir: Path) -> None:
    assert run("generate", "a", "--size", "2048").exit_code == 0
    before = (store_dir / "sets" / "test" / "a.json").read_bytes()
    result = run("generate", "a", "--size", "2048", env={"JWKS_TOOL_PASSPHRASE": "not it"})
    assert result.exit_code == 8
    assert result.stderr == (
        "jwks-tool: error: wrong passphrase for this store; check JWKS_TOOL_PASSPHRASE or the file given to "
        "--passphrase-file\n"
    )
    assert (store_dir / "sets" / "test" / "a.json").read_bytes() == before
    assert run("export", "a", "--private", env={"JWKS_TOOL_PASSPHRASE": "not it"}).exit_code == 8


def test_passphrase_file_and_missing_passphrase(run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JWKS_TOOL_PASSPHRASE")
    result = run("generate", "a", "--size", "2048")
    assert result.exit_code == 8
    assert result.stderr == (
        "jwks-tool: error: the key store needs its passphrase; set JWKS_TOOL_PASSPHRASE or pass --passphrase-file "
        "(stdin is not a terminal to ask on)\n"
    )
    secret = tmp_path / "pass.txt"
    secret.write_text("from a file\n")
    assert run("generate", "a", "--size", "2048", "--passphrase-file", str(secret)).exit_code == 0
    assert run("export", "a", "--private", "--passphrase-file", str(secret)).exit_code == 0
    monkeypatch.setenv("JWKS_TOOL_PASSPHRASE", "from a file")
    assert run("export", "a", "--private").exit_code == 0


def test_read_only_commands_need_no_passphrase(
    run: Run, imported: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JWKS_TOOL_PASSPHRASE")
    for args in (("list",), ("show", "acme"), ("export", "acme"), ("export", "acme", "--format", "pem")):
        assert run(*args).exit_code == 0, args


def test_verbose_shows_the_traceback(run: Run) -> None:
    result = run("-v", "show", "nothing")
    assert result.exit_code == 6
    assert "Traceback" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("jwks-tool: error: no key set nothing (test)")


def test_init_plaintext_is_recorded(run: Run, store_dir: Path) -> None:
    result = run("init", "--plaintext")
    assert result.exit_code == 0
    assert result.output == f"Created key store {store_dir} (private keys: NOT encrypted, by explicit choice)\n"
    config = json.loads((store_dir / "store.json").read_text())
    assert config["protection"]["scheme"] == "plaintext"
    assert config["protection"]["opted_in_by"]
    assert run("generate", "p", "--size", "2048", env={"JWKS_TOOL_PASSPHRASE": ""}).exit_code == 0
    again = run("init")
    assert again.exit_code == 7
    assert again.stderr == (
        f"jwks-tool: error: the store {store_dir} exists already; it is ready to use (`jwks-tool list` shows its "
        "sets); pass another --store for a new one\n"
    )


def test_a_missing_passphrase_file_names_the_fix(run: Run, tmp_path: Path) -> None:
    result = run("generate", "a", "--size", "2048", "--passphrase-file", str(tmp_path / "nope"))
    assert result.exit_code == 3
    assert result.stderr == (
        f"jwks-tool: error: cannot read the passphrase file {tmp_path / 'nope'}: No such file or directory; check "
        "the path and its permissions (the passphrase goes on the file's first line)\n"
    )


def test_a_bad_audit_line_names_the_fix(run: Run, store_dir: Path) -> None:
    assert run("generate", "a", "--size", "2048").exit_code == 0
    audit = store_dir / "audit.jsonl"
    lines = audit.read_text().count("\n")
    with audit.open("a") as handle:
        handle.write("not json\n")
    result = run("log")
    assert result.exit_code == 5
    assert result.stderr == (
        f"jwks-tool: error: {audit} line {lines + 1} is not JSON; restore {audit} from a backup, or remove line "
        f"{lines + 1} (the event it held is lost)\n"
    )


def test_store_files_are_encrypted(run: Run, store_dir: Path) -> None:
    result = run("generate", "enc", "--size", "2048")
    assert result.exit_code == 0
    exported = json.loads(run("export", "enc", "--private").output)
    text = (store_dir / "sets" / "test" / "enc.json").read_text()
    for member in PRIVATE:
        assert exported[member] not in text
    sealed = json.loads(text)["keys"][0]["sealed_private"]
    header = json.loads(base64.urlsafe_b64decode(sealed.split(".")[0] + "=="))
    assert header == {
        "alg": "A256KW",
        "enc": "A256GCM",
        "cty": "jwk+json",
        "jwks-tool.set": "enc/test",
        "jwks-tool.kid": exported["kid"],
    }
    config = json.loads((store_dir / "store.json").read_text())
    assert config["protection"]["kdf"] == "PBKDF2-HMAC-SHA256"
    assert config["protection"]["iterations"] == 600_000


def test_import_pem_and_base64(run: Run, tmp_path: Path) -> None:
    assert run("generate", "src", "--size", "2048").exit_code == 0
    pem = run("export", "src", "--private", "--format", "pem", "--unencrypted").output
    assert pem.startswith("-----BEGIN PRIVATE KEY-----\n")
    b64 = run("export", "src", "--private", "--format", "base64").output
    src_thumb = json.loads(run("show", "src", "--json").output)["keys"][0]["thumbprint"]
    result = run("import", "dst", "-", input=pem, env={"JWKS_TOOL_STORE": str(tmp_path / "other")})
    assert result.exit_code == 0, result.stderr
    shown = json.loads(run("show", "dst", "--json", env={"JWKS_TOOL_STORE": str(tmp_path / "other")}).output)
    assert shown["keys"][0]["thumbprint"] == src_thumb
    assert shown["keys"][0]["origin"] == "imported"
    result = run("import", "dst2", "-", input=b64, env={"JWKS_TOOL_STORE": str(tmp_path / "other")})
    assert result.exit_code == 0
    again = run("import", "dst2", "-", input=b64, env={"JWKS_TOOL_STORE": str(tmp_path / "other")})
    assert again.exit_code == 7
    assert "this key is already in dst2 (test)" in again.stderr


def test_import_refuses_public_and_multi(run: Run, tmp_path: Path, rfc7517_rsa: dict[str, Any]) -> None:
    public = {k: v for k, v in rfc7517_rsa.items() if k not in PRIVATE}
    result = run("import", "x", str(write_json(tmp_path / "pub.json", public)))
    assert result.exit_code == 3
    assert "holds only a public key" in result.stderr
    result = run("import", "x", str(write_json(tmp_path / "two.json", {"keys": [rfc7517_rsa, rfc7517_rsa]})))
    assert result.exit_code == 3
    assert "holds 2 keys; import takes one" in result.stderr


def test_import_refuses_a_broken_private_key(run: Run, tmp_path: Path, rfc7517_rsa: dict[str, Any]) -> None:
    rfc7517_rsa["d"] = rfc7517_rsa["d"][:-4] + "AAAA"
    result = run("import", "x", str(write_json(tmp_path / "bad.json", rfc7517_rsa)))
    assert result.exit_code == 3
    assert result.stderr.startswith("jwks-tool: error: the private JWK is not a valid key")


def test_inspect_exit_codes(run: Run, tmp_path: Path, rfc7517_rsa: dict[str, Any], fixed_now: Any, golden: Any) -> None:
    public = {k: v for k, v in rfc7517_rsa.items() if k not in PRIVATE}
    public["use"] = "sig"
    ok = run("inspect", str(write_json(tmp_path / "ok.json", public)))
    assert ok.exit_code == 0
    golden("inspect-ok.txt", ok.output.replace(str(tmp_path), "<tmp>"))
    del public["use"]
    bad = run("inspect", str(write_json(tmp_path / "bad.json", public)))
    assert bad.exit_code == 2
    golden("inspect-missing-use.txt", bad.output.replace(str(tmp_path), "<tmp>"))
    warn = run("inspect", str(tmp_path / "bad.json"), "--profile", "generic")
    assert warn.exit_code == 1
    as_json = json.loads(run("inspect", str(tmp_path / "bad.json"), "--json").output)
    assert as_json["verdict"] == "errors"
    assert [f["code"] for f in as_json["findings"]] == ["missing-use"]


def test_lazy_command_table_is_true() -> None:
    """--help lists commands from a static table (so it imports no command module): it must match the commands."""
    import importlib

    from jwks_tool.cli.main import COMMANDS

    for name, (module, short) in COMMANDS.items():
        importlib.import_module(module)
        command = cli.commands[name]
        assert command.callback is not None
        assert command.callback.__module__ == module, name
        assert command.get_short_help_str(limit=1000) == short, name
    assert set(cli.commands) == set(COMMANDS)


def test_generate_many_sets_at_once(run: Run) -> None:
    result = run("generate", "a1", "a2", "a3", "a4", "--size", "2048", "--workers", "2", "--json")
    assert result.exit_code == 0, result.stderr
    keys = json.loads(result.output)["keys"]
    assert [key["kid"].split("-")[0] for key in keys] == ["a1", "a2", "a3", "a4"]
    assert {key["state"] for key in keys} == {"active"}
    listing = json.loads(run("list", "--json").output)
    assert sorted(s["name"] for s in listing["sets"]) == ["a1", "a2", "a3", "a4"]
    refused = run("generate", "b1", "b2", "--kid", "same")
    assert refused.exit_code == 3
    assert "--kid names one key" in refused.stderr


def test_review_findings_stay_fixed(run: Run, store_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a zero lifetime is refused, not silently a year
    zero = run("generate", "z", "--size", "2048", "--expires-in", "0d")
    assert zero.exit_code == 3
    assert "the key's lifetime must be positive" in zero.stderr
    # one next key per set: export and promote always mean the same key
    assert run("generate", "n", "--size", "2048").exit_code == 0
    assert run("generate", "n", "--size", "2048").exit_code == 0
    third = run("generate", "n", "--size", "2048")
    assert third.exit_code == 7
    assert "already has a next key waiting" in third.stderr
    # a store written by a newer jwks-tool is refused by read-only commands too
    config = json.loads((store_dir / "store.json").read_text())
    (store_dir / "store.json").write_text(json.dumps({**config, "schema": 99}))
    for args in (("list",), ("show", "n"), ("export", "n"), ("status",), ("log",)):
        result = run(*args)
        assert result.exit_code == 5, args
        assert "newer jwks-tool" in result.stderr
    # a refused passphrase leaves no store folder behind
    fresh = tmp_path / "never-made"
    monkeypatch.delenv("JWKS_TOOL_PASSPHRASE")
    refused = run("generate", "x", "--size", "2048", env={"JWKS_TOOL_STORE": str(fresh)})
    assert refused.exit_code == 8
    assert not fresh.exists()


def test_the_key_vault_value_carries_the_expiry_inspect_shows(run: Run, tmp_path: Path) -> None:
    """Altinn's libraries read the value with .NET's JsonWebKey, which keeps an unknown member such as exp in
    AdditionalData, so the value keeps the key's expiry and inspect of it no longer says "expires -"."""
    assert run("generate", "acme", "--size", "2048").exit_code == 0
    expires = json.loads(run("show", "acme", "--json").stdout)["keys"][0]["expires"]
    out = tmp_path / "kv.txt"
    assert run("export", "acme", "--private", "--format", "base64", "--out", str(out)).exit_code == 0
    value = json.loads(base64.b64decode(out.read_text().strip(), validate=True))
    public = json.loads(run("export", "acme").stdout)
    assert value["exp"] == public["exp"]
    inspected = run("inspect", str(out), "--expect", "keyvault")
    assert inspected.exit_code == 0, inspected.output
    assert f", expires {expires[:10]}\n" in inspected.stdout
    assert json.loads(run("inspect", str(out), "--json").stdout)["keys"][0]["expires"] == expires
