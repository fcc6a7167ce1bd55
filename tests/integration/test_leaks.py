"""The leak scan: no private key material and no passphrase anywhere it does not belong.

One scenario (module-scoped, so the PBKDF2 work is done once) makes a store with known keys — generated ones, the
RFC 7517 A.2 RSA key imported as a JWK and an RSA key imported from an encrypted PEM — takes every key's private
members with ``export --private --format jwk`` while the key still has them, then runs every command, with and
without ``--json``: init, generate, import, export (public formats), list, show, inspect, rotate (every step),
revoke, status, check, log, report (html, md), render (every template), grant, doctor, and a few failing commands.
The tests then look for the private members (verbatim, a 32-character piece of each, in hex, in decimal, and inside
anything base64) and for every passphrase in:

* the stdout and stderr of every command except the deliberate private exports;
* the audit log and every file of the store, where private members may only live inside ``sealed_private``, which
  must be JWE compact strings that open with the passphrase-derived key and with no other;
* the files public exports, reports and renders wrote with ``--out``.

And the other way round: the deliberate private exports (jwk, base64, pem --unencrypted) do hold the key. Files and
folders of the store stay 0600/0700 after every change, private ``--out`` files are 0600, and a store folder that
others can write to is refused (exit 5) without being touched.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import json
import os
import re
import shutil
import stat
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from jwks_tool.cli.main import cli
from tests.servers.aws import AwsServer

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parents[1] / "data"
RFC_RSA = DATA / "rfc7517-a2-rsa-private.json"
ENCRYPTED_PEM = DATA / "nasty" / "encrypted-pkcs8.pem"
STORE_PASSPHRASE = "leak-scan store passphrase Qx7"
EXPORT_PASSPHRASE = "leak-scan export passphrase Vb2"
KEY_PASSPHRASE = "nasty key passphrase"
WRONG_PASSPHRASE = "leak-scan wrong passphrase Zt9"
PASSPHRASES = (STORE_PASSPHRASE, EXPORT_PASSPHRASE, KEY_PASSPHRASE, WRONG_PASSPHRASE)
PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi")
REMOTE_ONLY = {
    "keyvault": "talks to Azure Key Vault",
    "portal": "talks to Digdir's self-service API",
    "token": "talks to Maskinporten",
    "apply": "talks to Maskinporten, Digdir's self-service API and Key Vault (tests/integration/test_fleet*.py)",
}
"""Commands the scan does not run, and why. A new command fails test_the_scan_runs_every_command until it is
added to the scenario (or, if it needs a remote service, here)."""
COMPACT_JWE = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")
B64_STD_RUN = re.compile(r"[A-Za-z0-9+/]{24,}={0,2}")
B64_URL_RUN = re.compile(r"[A-Za-z0-9_-]{24,}")


# ---- the secrets and how to find them --------------------------------------------------------------------------
def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclasses.dataclass
class Secrets:
    """What must not leak: each key's private members, and the passphrases."""

    members: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)
    """kid -> private member -> base64url value."""

    def add(self, kid: str, jwk: Mapping[str, Any]) -> None:
        found = {name: str(jwk[name]) for name in PRIVATE_MEMBERS if name in jwk}
        assert "d" in found, f"the private export of {kid} holds no private member"
        self.members[kid] = found

    def needles(self) -> Iterator[tuple[str, str]]:
        """(what, text) pairs: every private value whole, as its first 32 characters, in hex and in decimal; every
        passphrase."""
        for kid, members in self.members.items():
            for name, value in members.items():
                raw = b64url_decode(value)
                yield f"{kid}.{name}", value
                yield f"{kid}.{name}[:32]", value[:32]
                yield f"{kid}.{name} (hex)", raw[8:40].hex()
                yield f"{kid}.{name} (HEX)", raw[8:40].hex().upper()
                yield f"{kid}.{name} (decimal)", str(int.from_bytes(raw, "big"))[:40]
        for passphrase in PASSPHRASES:
            yield "a passphrase", passphrase

    def raw_needles(self) -> Iterator[tuple[str, bytes]]:
        """32 bytes from the middle of each private integer, as they appear in DER or any binary encoding."""
        for kid, members in self.members.items():
            for name, value in members.items():
                raw = b64url_decode(value)
                yield f"{kid}.{name} (bytes)", raw[8:40]

    def leaks(self, text: str) -> list[str]:
        """What of the secrets ``text`` holds: verbatim, or inside a base64 (standard or URL-safe) run."""
        found = [what for what, needle in self.needles() if needle in text]
        if "PRIVATE KEY-----" in text:
            found.append("a PEM private key")
        compact = "".join(text.split())
        decoded: list[bytes] = []
        for pattern, decode in ((B64_STD_RUN, base64.b64decode), (B64_URL_RUN, b64url_decode)):
            for match in pattern.finditer(compact):
                run = match.group(0).rstrip("=")
                for shift in range(4):
                    piece = run[shift:]
                    piece = piece[: len(piece) - len(piece) % 4]
                    if len(piece) < 24:
                        continue
                    try:
                        decoded.append(decode(piece))
                    except (binascii.Error, ValueError):
                        continue
        for blob in decoded:
            found.extend(what for what, needle in self.raw_needles() if needle in blob)
            as_text = blob.decode("latin-1")
            found.extend(
                f"{what} (base64)" for what, needle in self.needles() if len(needle) >= 16 and needle in as_text
            )
        return sorted(set(found))


# ---- the scenario ----------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Ran:
    args: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str
    private_export: bool

    @property
    def label(self) -> str:
        return "jwks-tool " + " ".join(self.args)


@dataclasses.dataclass
class Scenario:
    root: Path
    store: Path
    secrets: Secrets = dataclasses.field(default_factory=Secrets)
    runs: list[Ran] = dataclasses.field(default_factory=list)
    public_files: list[Path] = dataclasses.field(default_factory=list)
    private_files: list[Path] = dataclasses.field(default_factory=list)
    permissions: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    """After each change: the store entries whose mode is not 0600 (files) or 0700 (folders)."""
    private_exports: dict[str, str] = dataclasses.field(default_factory=dict)
    """format -> what ``export --private`` printed, for the acme key that is active at the end."""
    store_states: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)
    """After each change: every file of the store, by path (scanned at the end, once every secret is known)."""
    counter: int = 0

    def env(self, **extra: str | None) -> dict[str, str | None]:
        env: dict[str, str | None] = {name: None for name in os.environ if name.startswith("JWKS_TOOL_")}
        env.update(
            JWKS_TOOL_STORE=str(self.store),
            JWKS_TOOL_PASSPHRASE=STORE_PASSPHRASE,
            JWKS_TOOL_EXPORT_PASSPHRASE=EXPORT_PASSPHRASE,
            JWKS_TOOL_KEY_PASSPHRASE=KEY_PASSPHRASE,
            XDG_DATA_HOME=str(self.root / "xdg"),
        )
        env.update(extra)
        return env

    def run(
        self,
        *args: str,
        expect: int | Sequence[int] = 0,
        private_export: bool = False,
        env: Mapping[str, str | None] | None = None,
    ) -> Result:
        result = CliRunner().invoke(cli, list(args), env={**self.env(), **(env or {})}, catch_exceptions=False)
        codes = (expect,) if isinstance(expect, int) else tuple(expect)
        assert result.exit_code in codes, f"jwks-tool {' '.join(args)}: {result.exit_code}\n{result.output}"
        self.runs.append(Ran(tuple(args), result.exit_code, result.stdout, result.stderr, private_export))
        return result

    def both(self, *args: str, expect: int | Sequence[int] = 0) -> dict[str, Any]:
        """The command as text, then with --json (whose output is returned, parsed)."""
        self.run(*args, expect=expect)
        return dict(json.loads(self.run(*args, "--json", expect=expect).stdout))

    def out(self, name: str) -> Path:
        self.counter += 1
        return self.root / "out" / f"{self.counter:02d}-{name}"

    def check_permissions(self, step: str) -> None:
        """Record the modes and the content of the store after a change."""
        self.permissions[step] = wrong_modes(self.store)
        self.store_states[step] = {
            str(path.relative_to(self.store)): path.read_text(encoding="utf-8") for path in store_files(self.store)
        }

    def kids(self, name: str) -> list[str]:
        shown = json.loads(self.run("show", name, "--json").stdout)
        return [str(key["kid"]) for key in shown["keys"]]

    def take_private(self, name: str) -> None:
        """Record the private members of every key of the set that still has its private half."""
        shown = json.loads(self.run("show", name, "--json").stdout)
        for key in shown["keys"]:
            if key["has_private"] and key["kid"] not in self.secrets.members:
                exported = self.run(
                    "export", name, "--kid", key["kid"], "--private", "--format", "jwk", private_export=True
                )
                self.secrets.add(key["kid"], json.loads(exported.stdout))

    def read_only_commands(self, tag: str) -> None:
        """Every command that reads the store, each with and without --json, and every public output to a file."""
        self.both("list")
        for name in ("acme", "beta", "gamma", "edge"):
            self.both("show", name)
        self.both("status", expect=(0, 1, 2))
        self.both("status", "acme", expect=(0, 1, 2))
        self.both("check", expect=(0, 1, 2))
        self.both("check", "acme", expect=(0, 1, 2))
        self.both("log")
        self.both("log", "acme")
        self.run("report", "--json")
        manifest = self.root / "jwks-tool.toml"
        if not manifest.exists():
            manifest.write_text(
                "".join(
                    f'[[clients]]\nname = "{name}"\nenv = "test"\nclient_id = "{name}-id"\nscopes = ["s:r"]\n'
                    'register = "manual"\n\n'
                    for name in ("acme", "beta", "gamma", "edge")
                )
            )
        self.both("plan", "--offline", "--manifest", str(manifest), expect=(0, 11))
        for fmt in ("html", "md"):
            self.run("report", "--format", fmt)
            path = self.out(f"{tag}-report.{fmt}")
            self.run("report", "--format", fmt, "--out", str(path))
            self.public_files.append(path)
        for template in ("appsettings", "altinn-app", "portal", "runbook"):
            args = ("render", template, "acme", "--client-id", "leak-client", "--scope", "altinn:x", "--vault", "kv1")
            self.both(*args)
            path = self.out(f"{tag}-render-{template}")
            self.run(*args, "--out", str(path))
            self.public_files.append(path)
        for name in ("acme", "beta", "edge"):
            for fmt in ("jwk", "jwks", "jwks-array", "pem"):
                self.both("export", name, "--format", fmt)
                path = self.out(f"{tag}-{name}.{fmt}")
                self.run("export", name, "--format", fmt, "--out", str(path))
                self.public_files.append(path)
                self.both("inspect", str(path), expect=(0, 1, 2))
                json_path = self.out(f"{tag}-{name}-json.{fmt}")
                self.run("export", name, "--format", fmt, "--out", str(json_path), "--json")
                self.public_files.append(json_path)
                if fmt == "jwks":
                    self.both("doctor", name, "--registered", str(path), expect=(0, 1, 2))
        self.both("doctor", "gamma", expect=(0, 1, 2))


def wrong_modes(store: Path) -> list[str]:
    wrong: list[str] = []
    for folder, dirs, files in os.walk(store):
        for name in [folder, *(os.path.join(folder, d) for d in dirs)]:
            mode = stat.S_IMODE(os.stat(name).st_mode)
            if mode != 0o700:
                wrong.append(f"{name}/ is {mode:04o}")
        for name in files:
            path = os.path.join(folder, name)
            mode = stat.S_IMODE(os.stat(path).st_mode)
            if mode != 0o600:
                wrong.append(f"{path} is {mode:04o}")
    return sorted(set(wrong))


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    root = tmp_path_factory.mktemp("leaks")
    (root / "out").mkdir()
    scene = Scenario(root=root, store=root / "store")

    # a store, and keys: generated, and imported ones whose private values are known
    scene.run("init")
    scene.check_permissions("init")
    other = root / "other-store"
    scene.run("init", "--json", "--store", str(other))
    scene.run("generate", "acme", "--size", "2048")
    scene.check_permissions("generate")
    scene.run("generate", "edge", "--profile", "generic", "--kty", "EC", "--json")
    scene.check_permissions("generate --json")
    scene.run("import", "beta", str(RFC_RSA))
    scene.check_permissions("import")
    scene.run("import", "gamma", str(ENCRYPTED_PEM), "--json")
    scene.check_permissions("import --json")
    for name in ("acme", "beta", "gamma", "edge"):
        scene.take_private(name)
    rfc = json.loads(RFC_RSA.read_text(encoding="utf-8"))
    assert scene.secrets.members[rfc["kid"]]["d"] == rfc["d"], "the imported RFC key is not the known one"

    # inspect of private files says what they are, never what is in them
    for fmt in ("jwk", "base64"):
        path = scene.out(f"acme-private.{fmt}")
        scene.run("export", "acme", "--private", "--format", fmt, "--out", str(path))
        scene.private_files.append(path)
        scene.both("inspect", str(path), expect=(0, 1, 2))
        scene.both("inspect", str(path), "--expect", "keyvault", expect=(0, 1, 2))
    scene.both("inspect", str(ENCRYPTED_PEM))

    scene.read_only_commands("before")
    scene.both("grant", "acme", "--client-id", "leak-client", "--scope", "altinn:x")

    # rotation, every step, taking each new key's private members before anything retires it
    scene.run("rotate", "acme")
    scene.check_permissions("rotate")
    scene.take_private("acme")
    scene.run("rotate", "acme", "--promote", "--json")
    scene.check_permissions("rotate --promote")
    scene.run("rotate", "acme", "--finish", "--overlap", "0", "--force")
    scene.check_permissions("rotate --finish")
    path = scene.out("edge-register.json")
    scene.run("rotate", "edge", "--single", "--out", str(path))
    scene.public_files.append(path)
    scene.take_private("edge")
    scene.run("rotate", "edge", "--all-steps", "--overlap", "0", "--force", "--json")
    scene.check_permissions("rotate --all-steps")
    path = scene.out("beta-register.json")
    scene.run("rotate", "beta", "--all-steps", "--overlap", "0", "--force", "--out", str(path), "--json")
    scene.public_files.append(path)
    scene.take_private("beta")
    scene.both("grant", "beta", "--client-id", "leak-client", "--scope", "altinn:x")

    # revocation
    gamma = scene.kids("gamma")
    scene.run("revoke", "gamma", "--kid", gamma[0], "--reason", "leaked in a CI log")
    scene.check_permissions("revoke")
    acme = scene.kids("acme")
    scene.run("revoke", "acme", "--kid", acme[0], "--reason", "old laptop", "--json")
    scene.check_permissions("revoke --json")
    scene.run("prune", "gamma", "--older-than", "0d")  # the revoked key leaves the set, its events stay in the log
    scene.check_permissions("prune")
    scene.run("prune", "acme", "--json")  # nothing old enough: the set stays as it is
    scene.check_permissions("prune --json")

    scene.read_only_commands("after")

    # failures: their one-line errors must not hold secrets either
    wrong = {"JWKS_TOOL_PASSPHRASE": WRONG_PASSPHRASE}
    scene.run("export", "acme", "--private", expect=8, env=wrong)
    scene.run("-v", "export", "acme", "--private", "--format", "base64", expect=8, env=wrong)
    scene.run("grant", "acme", "--client-id", "c", "--scope", "s", "--json", expect=8, env=wrong)
    scene.run("import", "beta", str(RFC_RSA), expect=7)
    scene.run("import", "delta", str(ENCRYPTED_PEM), expect=8, env={"JWKS_TOOL_KEY_PASSPHRASE": WRONG_PASSPHRASE})
    scene.run("export", "acme", "--private", "--format", "pem", expect=8, env={"JWKS_TOOL_EXPORT_PASSPHRASE": None})
    scene.run("init", expect=7)
    wrong_file, empty_file = root / "wrong-passphrase.txt", root / "empty-passphrase.txt"
    wrong_file.write_text(WRONG_PASSPHRASE + "\n", encoding="utf-8")
    empty_file.write_text("", encoding="utf-8")
    no_env = {"JWKS_TOOL_PASSPHRASE": None}
    scene.run("export", "acme", "--private", "--passphrase-file", str(wrong_file), expect=8, env=no_env)
    scene.run("rotate", "acme", "--passphrase-file", str(empty_file), "--json", expect=8, env=no_env)
    scene.run("export", "acme", "--private", expect=8, env=no_env)
    scene.check_permissions("failures")

    # the deliberate private exports of acme's active key: stdout, --out and --out with --json
    for fmt in ("jwk", "base64", "pem-unencrypted", "pem"):
        args = ["export", "acme", "--private", "--format", fmt.removesuffix("-unencrypted")]
        if fmt == "pem-unencrypted":
            args.append("--unencrypted")
        scene.private_exports[fmt] = scene.run(*args, private_export=True).stdout
        for extra in ((), ("--json",)):
            path = scene.out(f"acme-private-{fmt}{'-json' if extra else ''}")
            scene.run(*args, "--out", str(path), *extra)  # stdout is a message or JSON, without the key
            scene.private_files.append(path)

    # deliver: dry runs (text and --json) redact; a write's message names files, never the key; a refusal is one line
    who = ("--client-id", "leak-client", "--scope", "altinn:x")
    for to, options in (("dotenv", ()), ("file", ()), ("kubernetes", ("--secret-name", "leak"))):
        for preset in ("apiclient", "altinn-app", "pymaskinporten", "nais", "altinn-studio"):
            if to == "dotenv" and preset == "altinn-studio":
                continue
            args = ["deliver", "acme", "--to", to, "--for", preset, *who, *options]
            if to != "kubernetes":
                args += ["--out", str(scene.out(f"deliver-{to}-{preset}"))]
            scene.run(*args, "--dry-run")
            json_out = ("--out", str(scene.out(f"deliver-json-{preset}.yaml"))) if to == "kubernetes" else ()
            scene.run(*args, "--dry-run", "--json", *json_out)  # --json to stdout leaves no room for a manifest
            scene.run(*args, private_export=to == "kubernetes")
    scene.run("deliver", "acme", "--to", "dotenv", "--for", "nais", "--out", str(scene.out("refused")), expect=3)
    # deliver --to aws: the same outputs, and every name, description, tag and version id written to Secrets Manager
    with AwsServer() as aws:
        aws_env: dict[str, str | None] = {**aws.env()}
        for preset in ("apiclient", "altinn-app", "pymaskinporten", "nais", "altinn-studio"):
            args = ["deliver", "acme", "--to", "aws", "--for", preset, *who, "--prefix", f"leak/{preset}/"]
            scene.run(*args, "--dry-run", env=aws_env)
            scene.run(*args, "--dry-run", "--json", env=aws_env)
            scene.run(*args, env=aws_env)
            scene.run(*args, "--json", env=aws_env)  # unchanged
        scene.run(
            "deliver", "acme", "--to", "aws", "--for", "nais", *who, "--prefix", "bad prefix", expect=3, env=aws_env
        )
        client = aws.client()
        described = [client.describe_secret(SecretId=s["ARN"]) for s in client.list_secrets()["SecretList"]]
        assert len(described) == 2 + 3 + 4 + 7 + 1
        metadata = scene.out("aws-secrets-metadata.json")
        metadata.write_text(json.dumps(described, default=str), encoding="utf-8")
        scene.public_files.append(metadata)
    return scene


# ---- outputs ---------------------------------------------------------------------------------------------------
def test_the_scan_runs_every_command(scenario: Scenario) -> None:
    ran = {run.args[0] for run in scenario.runs} | {run.args[1] for run in scenario.runs if run.args[0] == "-v"}
    assert set(cli.commands) - set(REMOTE_ONLY) <= ran, "a command the leak scan does not run yet"
    with_json = {run.args[0] for run in scenario.runs if "--json" in run.args}
    assert set(cli.commands) - set(REMOTE_ONLY) <= with_json, "a command the leak scan does not run with --json"


def stored_sets(store: Path) -> dict[str, dict[str, Any]]:
    return {path.stem: json.loads(path.read_text(encoding="utf-8")) for path in sorted(store.glob("sets/*/*.json"))}


def test_the_scan_knows_every_key(scenario: Scenario) -> None:
    stored = {key["kid"] for keyset in stored_sets(scenario.store).values() for key in keyset["keys"]}
    logged = {json.loads(line)["kid"] for line in (scenario.store / "audit.jsonl").read_text().splitlines()}
    assert stored | logged == set(scenario.secrets.members)  # the pruned key is only in the log now
    assert len(logged - stored) == 1
    assert len(scenario.secrets.members) == 7


def test_the_scanner_finds_what_it_looks_for(scenario: Scenario) -> None:
    """The scan of the deliberate exports finds the key: the scanner works (see also the tests below)."""
    assert scenario.secrets.leaks(scenario.private_exports["jwk"])
    assert any("(base64)" in what for what in scenario.secrets.leaks(scenario.private_exports["base64"]))
    assert any("(bytes)" in what for what in scenario.secrets.leaks(scenario.private_exports["pem-unencrypted"]))
    assert scenario.secrets.leaks(f"x {STORE_PASSPHRASE} y") == ["a passphrase"]
    assert scenario.secrets.leaks("no secret here: " + "A" * 200) == []


def test_no_command_output_holds_a_secret(scenario: Scenario) -> None:
    scanned = 0
    for run in scenario.runs:
        if run.private_export:
            continue
        for stream, text in (("stdout", run.stdout), ("stderr", run.stderr)):
            assert not scenario.secrets.leaks(text), f"{run.label} ({stream}) leaks {scenario.secrets.leaks(text)}"
        scanned += 1
    assert scanned > 150


def test_errors_are_one_line_and_hold_no_secret(scenario: Scenario) -> None:
    failed = [run for run in scenario.runs if run.exit_code >= 3 and run.args[0] != "plan"]  # plan: 11 = changes due
    assert len(failed) >= 7
    for run in failed:
        lines = run.stderr.splitlines()
        if run.args[0] == "-v":
            assert lines[-1].startswith("jwks-tool: error: "), run.stderr
        else:
            assert len(lines) == 1, run.stderr
            assert lines[0].startswith("jwks-tool: error: "), run.stderr
        assert WRONG_PASSPHRASE not in run.stderr + run.stdout


def test_no_public_output_file_holds_a_secret(scenario: Scenario) -> None:
    assert len(scenario.public_files) > 40
    for path in scenario.public_files:
        text = path.read_text(encoding="utf-8")
        assert text.strip(), path
        assert not scenario.secrets.leaks(text), f"{path.name} leaks {scenario.secrets.leaks(text)}"


# ---- the store -------------------------------------------------------------------------------------------------
def store_files(store: Path) -> list[Path]:
    return sorted(path for path in store.rglob("*") if path.is_file())


def test_the_store_holds_only_its_own_files(scenario: Scenario) -> None:
    names = {str(path.relative_to(scenario.store)) for path in store_files(scenario.store)}
    sets = {f"sets/test/{name}.json" for name in ("acme", "beta", "gamma", "edge")}
    assert names == {"store.json", "audit.jsonl", ".lock", *sets}, "a stray file (a temporary copy?) in the store"


def test_the_audit_log_holds_no_secret(scenario: Scenario) -> None:
    text = (scenario.store / "audit.jsonl").read_text(encoding="utf-8")
    assert len(text.splitlines()) >= 10
    assert not scenario.secrets.leaks(text), scenario.secrets.leaks(text)
    for line in text.splitlines():
        event = json.loads(line)
        assert not set(event) & set(PRIVATE_MEMBERS), event


def without_sealed(value: Any, sealed: list[str]) -> Any:
    """The document with each ``sealed_private`` string taken out (and collected); any other place fails the scan."""
    if isinstance(value, dict):
        kept: dict[str, Any] = {}
        for name, item in value.items():
            if name == "sealed_private" and isinstance(item, str):
                sealed.append(item)
                kept[name] = "<sealed>"
            else:
                kept[name] = without_sealed(item, sealed)
        return kept
    if isinstance(value, list):
        return [without_sealed(item, sealed) for item in value]
    return value


def test_store_files_hold_private_values_only_sealed(scenario: Scenario) -> None:
    """In the store as it was after each change, and as it is at the end."""
    sealed: list[str] = []
    final = {
        str(path.relative_to(scenario.store)): path.read_text(encoding="utf-8") for path in store_files(scenario.store)
    }
    for step, files in [*scenario.store_states.items(), ("the end", final)]:
        for name, raw in files.items():
            rest = json.dumps(without_sealed(json.loads(raw), sealed)) if name.endswith(".json") else raw
            leaks = scenario.secrets.leaks(rest)
            assert not leaks, f"after {step}, {name} holds {leaks} outside sealed_private"
    assert len(set(sealed)) >= 7
    for item in sealed:
        assert COMPACT_JWE.match(item), f"sealed_private is not a compact JWE: {item[:40]}..."
        header = json.loads(b64url_decode(item.split(".")[0]))
        assert (header["alg"], header["enc"]) == ("A256KW", "A256GCM"), header
        assert not scenario.secrets.leaks(item)


def test_retired_and_revoked_keys_keep_no_private_half(scenario: Scenario) -> None:
    seen = set()
    for path in (scenario.store / "sets" / "test").glob("*.json"):
        for key in json.loads(path.read_text(encoding="utf-8"))["keys"]:
            seen.add(key["state"])
            if key["state"] in ("retired", "revoked"):
                assert key["sealed_private"] is None, f"{key['kid']} ({key['state']}) still has its private half"
            else:
                assert isinstance(key["sealed_private"], str), key["kid"]
    assert {"retired", "revoked", "active"} <= seen


def open_sealed(item: str, kek: bytes) -> dict[str, Any]:
    from jwcrypto import jwe, jwk

    token = jwe.JWE()
    token.deserialize(item, key=jwk.JWK(kty="oct", k=base64.urlsafe_b64encode(kek).rstrip(b"=").decode()))
    return dict(json.loads(token.payload))


def test_sealed_keys_open_with_the_passphrase_and_nothing_else(scenario: Scenario) -> None:
    from jwcrypto.common import JWException

    protection = json.loads((scenario.store / "store.json").read_text(encoding="utf-8"))["protection"]
    assert protection["kdf"] == "PBKDF2-HMAC-SHA256"
    assert protection["iterations"] >= 600_000
    salt = b64url_decode(protection["salt"])

    def kek(passphrase: str) -> bytes:
        return hashlib.pbkdf2_hmac("sha256", passphrase.encode(), salt, protection["iterations"], 32)

    right, wrong = kek(STORE_PASSPHRASE), kek(WRONG_PASSPHRASE)
    opened = 0
    for path in (scenario.store / "sets" / "test").glob("*.json"):
        for key in json.loads(path.read_text(encoding="utf-8"))["keys"]:
            if key["sealed_private"] is None:
                continue
            for other in (wrong, bytes(32), hashlib.sha256(STORE_PASSPHRASE.encode()).digest()):
                with pytest.raises(JWException):
                    open_sealed(key["sealed_private"], other)
            members = open_sealed(key["sealed_private"], right)
            expected = scenario.secrets.members[key["kid"]]
            assert {name: members[name] for name in expected} == expected, key["kid"]
            opened += 1
    assert opened == 3  # the active keys of acme, beta and edge; the others were retired or revoked


# ---- the deliberate private exports ----------------------------------------------------------------------------
def active_acme(scenario: Scenario) -> dict[str, str]:
    (active,) = [key["kid"] for key in stored_sets(scenario.store)["acme"]["keys"] if key["state"] == "active"]
    return scenario.secrets.members[str(active)]


def test_private_exports_hold_the_private_key(scenario: Scenario) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    secrets = active_acme(scenario)
    jwk = json.loads(scenario.private_exports["jwk"])
    assert {name: jwk[name] for name in PRIVATE_MEMBERS} == secrets
    value = json.loads(base64.b64decode(scenario.private_exports["base64"].strip(), validate=True))
    assert {name: value[name] for name in PRIVATE_MEMBERS} == secrets
    for fmt, password in (("pem-unencrypted", None), ("pem", EXPORT_PASSPHRASE.encode())):
        key = serialization.load_pem_private_key(scenario.private_exports[fmt].encode(), password)
        assert isinstance(key, rsa.RSAPrivateKey)
        assert key.private_numbers().d == int.from_bytes(b64url_decode(secrets["d"]), "big"), fmt
    encrypted = scenario.private_exports["pem"]
    assert "ENCRYPTED PRIVATE KEY" in encrypted
    assert EXPORT_PASSPHRASE not in encrypted
    assert not [what for what in scenario.secrets.leaks(encrypted) if what != "a PEM private key"]


def test_private_output_files_hold_the_key_and_are_0600(scenario: Scenario) -> None:
    secrets = active_acme(scenario)
    d = int.from_bytes(b64url_decode(secrets["d"]), "big")
    assert len(scenario.private_files) == 10
    for path in scenario.private_files:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == 0o600, f"{path.name} is {mode:04o}"
        text = path.read_text(encoding="utf-8")
        if "pem" in path.name:
            from cryptography.hazmat.primitives import serialization
            from cryptography.hazmat.primitives.asymmetric import rsa

            password = None if "unencrypted" in path.name else EXPORT_PASSPHRASE.encode()
            key = serialization.load_pem_private_key(text.encode(), password)
            assert isinstance(key, rsa.RSAPrivateKey)
            assert key.private_numbers().d == d, path.name
        else:
            assert scenario.secrets.leaks(text), f"{path.name} does not hold the private key"


# ---- permissions -----------------------------------------------------------------------------------------------
def test_store_files_are_0600_and_folders_0700_after_every_change(scenario: Scenario) -> None:
    expected_steps = {
        "init",
        "generate",
        "generate --json",
        "import",
        "import --json",
        "rotate",
        "rotate --promote",
        "rotate --finish",
        "rotate --all-steps",
        "revoke",
        "revoke --json",
        "prune",
        "prune --json",
        "failures",
    }
    assert set(scenario.permissions) == expected_steps
    wrong = {step: modes for step, modes in scenario.permissions.items() if modes}
    assert not wrong, wrong
    assert wrong_modes(scenario.store) == []


# ---- a store that others can write to ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def writable_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("writable")
    store = root / "store"
    env: dict[str, str | None] = {name: None for name in os.environ if name.startswith("JWKS_TOOL_")}
    env.update(JWKS_TOOL_PASSPHRASE=STORE_PASSPHRASE, JWKS_TOOL_STORE=str(store))
    result = CliRunner().invoke(cli, ["generate", "acme", "--size", "2048"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return store


WRITABLE_COMMANDS = [
    ("list",),
    ("status",),
    ("check",),
    ("report",),
    ("export", "acme", "--private"),
    ("generate", "acme", "--size", "2048"),
    ("import", "beta", str(RFC_RSA)),
    ("rotate", "acme"),
    ("rotate", "acme", "--promote"),
    ("rotate", "acme", "--finish", "--force"),
    ("revoke", "acme", "--kid", "KID", "--reason", "test"),
    ("prune", "acme"),
    ("grant", "acme", "--client-id", "c", "--scope", "s"),
    ("init",),
    ("show", "acme"),
    ("export", "acme"),
    ("export", "acme", "--format", "jwks"),
    ("log",),
    ("render", "portal", "acme"),
]


def writable_params() -> list[Any]:
    return [pytest.param(args, id=" ".join(args[:4])) for args in WRITABLE_COMMANDS]


@pytest.mark.parametrize("args", writable_params())
def test_a_store_others_can_write_to_is_refused(args: tuple[str, ...], writable_template: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    shutil.copytree(writable_template, store)
    kid = json.loads(next((store / "sets" / "test").glob("acme.json")).read_text())["keys"][0]["kid"]
    store.chmod(0o777)
    before = {str(p.relative_to(store)): (p.read_bytes(), p.stat().st_mode) for p in store.rglob("*") if p.is_file()}
    env: dict[str, str | None] = {name: None for name in os.environ if name.startswith("JWKS_TOOL_")}
    env.update(JWKS_TOOL_PASSPHRASE=STORE_PASSPHRASE, JWKS_TOOL_STORE=str(store))
    argv = [kid if arg == "KID" else arg for arg in args]
    result = CliRunner().invoke(cli, argv, env=env, catch_exceptions=False)
    assert result.exit_code == 5, f"{result.exit_code}\n{result.output}"
    assert result.stdout == ""
    assert result.stderr.startswith("jwks-tool: error: the store folder ")
    assert result.stderr.count("\n") == 1
    assert "can be written by other users" in result.stderr
    after = {str(p.relative_to(store)): (p.read_bytes(), p.stat().st_mode) for p in store.rglob("*") if p.is_file()}
    assert after == before, "a refused command changed the store"
    assert stat.S_IMODE(store.stat().st_mode) == 0o777


def test_doctor_fails_on_a_store_others_can_write_to(writable_template: Path, tmp_path: Path) -> None:
    """doctor reports every problem as a failed check (exit 2) rather than stopping at the first (exit 5)."""
    store = tmp_path / "store"
    shutil.copytree(writable_template, store)
    store.chmod(0o777)
    before = {str(p.relative_to(store)): p.read_bytes() for p in store.rglob("*") if p.is_file()}
    env: dict[str, str | None] = {name: None for name in os.environ if name.startswith("JWKS_TOOL_")}
    env.update(JWKS_TOOL_PASSPHRASE=STORE_PASSPHRASE, JWKS_TOOL_STORE=str(store))
    result = CliRunner().invoke(cli, ["doctor", "acme"], env=env, catch_exceptions=False)
    assert result.exit_code in (2, 5), result.output
    assert "can be written by other users" in result.stdout + result.stderr
    assert {str(p.relative_to(store)): p.read_bytes() for p in store.rglob("*") if p.is_file()} == before
