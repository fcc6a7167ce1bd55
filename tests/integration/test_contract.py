"""The contract scripts rely on, walked over every command (issue 14).

Every command with --json, through success and each documented failure it can have: stdout is one JSON document
that validates against the command's schema (jwks_tool/schemas/<command>.json) or the error schema, the exit code is
the one the README's "Exit codes" table gives, and stderr is one line (or nothing after a success). The list of
commands comes from COMMANDS, so a command added without a case here fails :func:`test_every_command_is_walked`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import Result

from jwks_tool.cli.main import COMMANDS, EXIT_CODES, OTHER_ERRORS, cli
from jwks_tool.errors import (
    AbortedError,
    ConflictError,
    InputError,
    NotFoundError,
    PassphraseError,
    ProfileError,
    RemoteError,
    StoreError,
)
from tests.servers.aws import AwsServer
from tests.servers.business_certs import TestPki
from tests.servers.keyvault import KeyVaultServer
from tests.servers.maskinporten import MaskinportenServer

pytestmark = pytest.mark.integration
Run = Callable[..., Result]
SCHEMAS = Path(__file__).resolve().parents[2] / "jwks_tool" / "schemas"
ORG = "999888777"
PKI = TestPki.make()
NO_PASSPHRASE = {"JWKS_TOOL_PASSPHRASE": ""}
WRONG_PASSPHRASE = {"JWKS_TOOL_PASSPHRASE": "not the passphrase"}


@dataclass(frozen=True)
class Case:
    """One run: the arguments after the command (``--json`` is added), what it should end in, and an environment."""

    args: tuple[str, ...]
    outcome: str
    """"result" (the command's schema, exit 0), "verdict:N" (the command's schema, exit N), or an error code."""
    env: dict[str, str] | None = None


def leaf_commands() -> list[str]:
    """Every runnable command, as its words: "list", "keyvault push", ... (from COMMANDS, so none is forgotten)."""
    context = click.Context(cli)
    leaves: list[str] = []
    for name in COMMANDS:
        command = cli.get_command(context, name)
        assert command is not None, name
        if isinstance(command, click.Group):
            leaves.extend(f"{name} {sub}" for sub in command.commands)
        else:
            leaves.append(name)
    return leaves


def error_exit(code: str) -> int:
    classes = {
        "input": InputError,
        "profile": ProfileError,
        "store": StoreError,
        "not-found": NotFoundError,
        "conflict": ConflictError,
        "passphrase": PassphraseError,
        "remote": RemoteError,
        "declined": AbortedError,
    }
    return EXIT_CODES[classes[code]] if code in classes else OTHER_ERRORS[code]


def schema_name(command: str) -> str:
    return command.replace(" ", "-") + ".json"


def validator(name: str) -> Any:
    import jsonschema

    schema = json.loads((SCHEMAS / name).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.fixture
def kv(make_vault: Callable[..., KeyVaultServer], monkeypatch: pytest.MonkeyPatch) -> KeyVaultServer:
    vault = make_vault(resource_matches_host=True)
    for name, value in vault.identity_env().items():
        monkeypatch.setenv(name, value)
    return vault


@pytest.fixture
def mp(kv: KeyVaultServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[MaskinportenServer]:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", kv.ca_path)  # the managed identity endpoint; --ca-bundle for the rest
    with MaskinportenServer(org_number=ORG, certificate_cas=[PKI.root]) as server:
        yield server


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsServer]:
    with AwsServer() as server:
        for name in list(os.environ):
            if name.startswith("AWS_"):
                monkeypatch.delenv(name)
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
        yield server


def cases(tmp: Path, kv: KeyVaultServer, mp: MaskinportenServer, run: Run) -> dict[str, list[Case]]:
    """Set up a store (sets acme, admin, stale, old) and the servers, and return every command's cases."""
    for name in ("acme", "admin", "stale", "old"):
        assert run("generate", name, "--size", "2048").exit_code == 0
    mp.register_client("admin-client", ["idporten:dcr.write", "idporten:dcr.read"])
    certificate = tmp / "virksomhet.p12"
    certificate.write_bytes(PKI.issue(ORG).pkcs12("p12 passphrase"))
    cert_passphrase = tmp / "p12-passphrase"
    cert_passphrase.write_text("p12 passphrase\n")
    wrong_cert_passphrase = tmp / "wrong-p12-passphrase"
    wrong_cert_passphrase.write_text("not the p12 passphrase\n")
    mp.register_client("client-1", ["altinn:instances.read"], {"keys": []})
    assert run("rotate", "old", "--all-steps", "--overlap", "0").exit_code == 0
    assert run("rotate", "stale", "--size", "2048").exit_code == 0
    assert run("rotate", "stale", "--promote").exit_code == 0  # its finish is too early (overlap 24h)
    old_kid = json.loads(run("show", "old", "--json").output)["keys"][0]["kid"]
    acme = json.loads(run("show", "acme", "--json").output)
    key = tmp / "key.jwk.json"
    key.write_text(run("export", "acme", "--private", "--format", "jwk").output)
    public = tmp / "public.jwk.json"
    public.write_text(run("export", "acme").output)
    garbage = tmp / "garbage.txt"
    garbage.write_text("not a key\n")
    a_file = tmp / "a-file"
    a_file.write_text("x")
    vault = ["--vault", kv.url, "--credential", "managed-identity", "--ca-bundle", kv.ca_path]
    grant = ["--client-id", "client-1", "--scope", "altinn:instances.read"]
    token = [*grant, "--token-url", mp.token_url, "--ca-bundle", mp.ca_path]
    portal = [
        *("--client-id", "client-1", "--api-url", mp.api_url, "--token-url", mp.token_url, "--ca-bundle", mp.ca_path),
        *("--certificate", str(certificate), "--cert-passphrase-file", str(cert_passphrase)),
        *("--admin-client-id", "admin-client"),
    ]
    empty_manifest = tmp / "empty.toml"
    empty_manifest.write_text("# no clients yet\n")
    manual_manifest = tmp / "manual.toml"
    manual_manifest.write_text(
        f'[endpoints.test]\ntoken_url = "{mp.token_url}"\nca_bundle = "{mp.ca_path}"\n\n'
        '[[clients]]\nname = "acme"\nenv = "test"\nclient_id = "client-1"\nscopes = ["altinn:instances.read"]\n'
        'register = "manual"\n'
    )
    bad_manifest = tmp / "bad.toml"
    bad_manifest.write_text('[defaults]\nrotate_after = "soon"\n')
    usage = Case(("--no-such-option",), "usage")
    return {
        "init": [
            Case(("--store", str(tmp / "new-store")), "result"),
            Case(("--store", str(tmp / "new-store")), "conflict"),
            Case(("--store", str(tmp / "other-store")), "passphrase", NO_PASSPHRASE),
            Case(("--store", str(a_file)), "store"),
            usage,
        ],
        "generate": [
            Case(("made", "--size", "2048"), "result"),
            Case(("bulk1", "bulk2", "--size", "2048", "--workers", "1"), "result"),
            Case(("x", "--expires-in", "soon"), "input"),
            Case(("x", "--kid", "bad kid!", "--profile", "generic"), "input"),
            Case(("x", "--kty", "EC"), "profile"),
            Case(("x", "--size", "2048"), "passphrase", WRONG_PASSPHRASE),
            Case(("acme", "--size", "2048", "--kid", acme["active"]), "conflict"),
            usage,
        ],
        "import": [
            Case(("imported", str(key), "--kid", "imported-1"), "result"),
            Case(("x", str(garbage)), "input"),
            Case(("x", str(public)), "input"),
            Case(("x2", str(key), "--kid", "x2-1"), "passphrase", NO_PASSPHRASE),
            usage,
        ],
        "export": [
            Case(("acme",), "result"),
            Case(("acme", "--format", "jwks"), "result"),
            Case(("acme", "--private", "--format", "base64"), "result"),
            Case(("nosuch",), "not-found"),
            Case(("acme", "--kid", "nosuch"), "not-found"),
            Case(("acme", "--private"), "passphrase", WRONG_PASSPHRASE),
            Case(("acme", "--unencrypted"), "input"),
            usage,
        ],
        "inspect": [
            Case((str(public), "--expect", "public"), "verdict:0"),
            Case((str(key), "--expect", "public"), "verdict:2"),
            Case((str(tmp / "missing.json"),), "usage"),
            usage,
        ],
        "list": [
            Case((), "result"),
            Case(("--store", str(a_file)), "store"),
            Case(("--store", str(tmp / "no-store")), "not-found"),
            usage,
        ],
        "show": [Case(("acme",), "result"), Case(("nosuch",), "not-found"), usage],
        "rotate": [
            Case(("acme", "--size", "2048"), "result"),
            Case(("stale", "--finish"), "conflict"),
            Case(("nosuch",), "not-found"),
            Case(("admin", "--size", "2048"), "passphrase", NO_PASSPHRASE),
            Case(("acme", "--overlap", "soon", "--finish"), "input"),
            usage,
        ],
        "revoke": [
            Case(("old", "--kid", old_kid, "--reason", "a test"), "result"),
            Case(("acme", "--kid", "nosuch", "--reason", "a test"), "not-found"),
            Case(("nosuch", "--kid", "x", "--reason", "a test"), "not-found"),
            Case(("revoke-me", "--kid", "x"), "usage"),
            Case(("acme", "--kid", "x", "--reason", "two\nlines"), "input"),
            usage,
        ],
        "prune": [
            Case(("old", "--older-than", "0d"), "result"),
            Case(("nosuch",), "not-found"),
            Case(("old", "--older-than", "soon"), "input"),
            usage,
        ],
        "status": [Case((), "result"), Case(("acme",), "result"), Case(("nosuch",), "not-found"), usage],
        "check": [
            Case(("--warn", "1d", "--fail", "1d"), "verdict:0"),
            Case(("--store", str(tmp / "no-store")), "verdict:2"),
            Case(("--warn", "soon"), "input"),
            usage,
        ],
        "log": [
            Case((), "result"),
            Case(("acme",), "result"),
            Case(("nosuch",), "not-found"),
            Case(("--store", str(tmp / "no-store")), "not-found"),
            usage,
        ],
        "report": [
            Case(("--format", "md"), "result"),
            Case(("--warn", "soon"), "input"),
            Case(("--store", str(a_file)), "store"),
            Case(("--store", str(tmp / "no-store")), "not-found"),
            usage,
        ],
        "render": [
            Case(("runbook", "acme"), "result"),
            Case(("appsettings", "acme", "--client-id", "c", "--scope", "s", "--vault", "my-kv"), "result"),
            Case(("runbook", "nosuch"), "not-found"),
            Case(("nosuch", "acme"), "input"),
            usage,
        ],
        "keyvault push": [
            Case(("acme", *vault, "--for", "apiclient"), "result"),
            Case(("acme", *vault, "--secret-name", "my-key", "--dry-run"), "result"),
            Case(("nosuch", *vault, "--for", "apiclient"), "not-found"),
            Case(("acme", *vault, "--secret-name", "bad:name"), "input"),
            Case(("acme", *vault, "--secret-name", "other-key"), "passphrase", NO_PASSPHRASE),
            usage,
        ],
        "deliver": [
            Case(("acme", "--to", "dotenv", "--for", "pymaskinporten", *grant, "--out", str(tmp / ".env")), "result"),
            Case(
                (
                    "acme",
                    "--to",
                    "kubernetes",
                    "--for",
                    "nais",
                    *grant,
                    "--secret-name",
                    "s",
                    "--out",
                    str(tmp / "s.yaml"),
                ),
                "result",
            ),
            Case(
                ("acme", "--to", "kubernetes", "--for", "nais", *grant, "--secret-name", "s"), "usage"
            ),  # the manifest needs --out
            Case(("nosuch", "--to", "dotenv", "--for", "nais", *grant, "--out", str(tmp / "n.env")), "not-found"),
            Case(("acme", "--to", "dotenv", "--for", "nais", *grant, "--out", str(a_file)), "conflict"),
            Case(("acme", "--to", "keyvault", "--for", "nais", *grant, *vault, "--prefix", "bad:"), "input"),
            Case(("acme", "--to", "aws", "--for", "pymaskinporten", *grant, "--prefix", "mp/"), "result"),
            Case(("acme", "--to", "aws", "--for", "nais", *grant, "--prefix", "bad prefix"), "input"),
            Case(("acme", "--to", "aws", "--for", "nais", *grant, "--region", "eu-north-1", "--dry-run"), "result"),
            Case(
                ("acme", "--to", "dotenv", "--for", "nais", *grant, "--out", str(tmp / "p.env")),
                "passphrase",
                NO_PASSPHRASE,
            ),
            usage,
        ],
        "keyvault status": [
            Case(("acme", *vault, "--for", "apiclient"), "verdict:0"),
            Case(("acme", *vault, "--for", "altinn-app"), "verdict:10"),
            Case(("nosuch", *vault), "not-found"),
            usage,
        ],
        "grant": [
            Case(("acme", *grant), "result"),
            Case(("nosuch", *grant), "not-found"),
            Case(("acme", *grant), "passphrase", WRONG_PASSPHRASE),
            Case(("acme", *grant, "--lifetime", "500"), "input"),
            usage,
        ],
        "token": [
            Case(("acme", *token), "remote"),  # not registered yet: Maskinporten refuses the kid
            Case(("nosuch", *token), "not-found"),
            Case(("acme", *token), "passphrase", NO_PASSPHRASE),
            usage,
        ],
        "plan": [
            Case(("--manifest", str(empty_manifest), "--offline"), "verdict:0"),
            Case(("--manifest", str(manual_manifest), "--offline"), "verdict:11"),
            Case(("--manifest", str(manual_manifest), "--offline"), "passphrase", {"JWKS_TOOL_PASSPHRASE": "wrong"}),
            Case(("--manifest", str(bad_manifest)), "input"),
            Case(("--manifest", str(tmp / "missing.toml")), "input"),
            usage,
        ],
        "apply": [
            Case(("--manifest", str(empty_manifest), "--yes"), "result"),
            Case(("--manifest", str(manual_manifest), "--yes", "--max-wait", "0s"), "verdict:13"),
            Case(("--manifest", str(bad_manifest), "--yes"), "input"),
            Case(("--manifest", str(manual_manifest), "--yes"), "passphrase", {"JWKS_TOOL_PASSPHRASE": "wrong"}),
            usage,
        ],
        "portal push": [
            Case(("acme", *portal), "result"),
            Case(("nosuch", *portal), "not-found"),
            Case(("acme", *portal, "--cert-passphrase-file", str(wrong_cert_passphrase)), "passphrase"),
            Case(("stale", *portal, "--replace"), "declined"),  # would drop acme's key: needs --yes off a terminal
            usage,
        ],
        "portal pull": [
            Case(("acme", *portal), "verdict:0"),
            Case(("stale", *portal), "verdict:2"),
            Case(("nosuch", *portal), "not-found"),
            usage,
        ],
        "doctor": [
            Case(("acme", *token), "verdict:0"),
            Case(("nosuch",), "not-found"),
            Case(("acme",), "passphrase", NO_PASSPHRASE),
            Case(("acme", "--warn", "soon"), "input"),
            usage,
        ],
    }


def test_every_command_is_walked(
    run: Run,
    tmp_path: Path,
    kv: KeyVaultServer,
    mp: MaskinportenServer,
    aws: AwsServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    table = cases(tmp_path, kv, mp, run)
    assert sorted(table) == sorted(leaf_commands()), "every command needs its cases here (and a schema)"
    errors = validator("error.json")
    problems: list[str] = []
    seen: dict[str, set[str]] = {}
    order = [*table, "token-after-push"]
    for command in order:
        if command == "token-after-push":
            token = next(c for c in table["token"] if c.outcome == "not-found").args[1:]
            walk = [("token", Case(("acme", *token), "result"))]
        else:
            walk = [(command, case) for case in table[command]]
        for name, case in walk:
            args = [*name.split(), *case.args, "--json"]
            result = run(*args, env=case.env)
            where = f"jwks-tool {' '.join(args)}"
            seen.setdefault(name, set()).add(case.outcome)
            try:
                document = json.loads(result.stdout)
            except ValueError:
                problems.append(f"{where}: stdout is not one JSON document: {result.stdout[:200]!r}")
                continue
            if case.outcome == "result" or case.outcome.startswith("verdict:"):
                want = 0 if case.outcome == "result" else int(case.outcome.split(":")[1])
                found = list(validator(schema_name(name)).iter_errors(document))
                if found:
                    problems.append(f"{where}: does not match {schema_name(name)}: {found[0].message}")
                if result.exit_code != want:
                    problems.append(f"{where}: exit {result.exit_code}, want {want}: {result.stderr}")
                if want == 0 and result.stderr:
                    problems.append(f"{where}: stderr after success: {result.stderr!r}")
                if want not in (0, 1, 2, 11, 12, 13) and result.stderr.count("\n") != 1:
                    problems.append(f"{where}: stderr is not one line: {result.stderr!r}")
                continue
            want = error_exit(case.outcome)
            found = list(errors.iter_errors(document))
            if found or not isinstance(document, dict) or "error" not in document:
                problems.append(f"{where}: not an error document: {found[0].message if found else document}")
                continue
            if document["error"]["code"] != case.outcome or document["error"]["exit"] != want:
                problems.append(f"{where}: {document['error']}, want code {case.outcome} exit {want}")
            if result.exit_code != want:
                problems.append(f"{where}: exit {result.exit_code}, want {want}")
            if not document["error"]["hint"]:
                problems.append(f"{where}: the error names no fix: {document['error']['message']!r}")
            if result.stderr.count("\n") != 1 or not result.stderr.startswith("jwks-tool: error: "):
                problems.append(f"{where}: stderr is not one error line: {result.stderr!r}")
            elif result.stderr != f"jwks-tool: error: {document['error']['message']}" + (
                f"; {document['error']['hint']}\n" if document["error"]["hint"] else "\n"
            ):
                problems.append(f"{where}: stderr says another thing than the JSON: {result.stderr!r}")
    assert not problems, "\n".join(problems)
    for name, outcomes in seen.items():
        assert "usage" in outcomes, f"{name} has no usage-error case"
        assert outcomes & {"result", "verdict:0"}, f"{name} has no success case"


def test_every_result_schema_is_shipped_and_sound() -> None:
    names = {schema_name(command) for command in leaf_commands()} | {"error.json"}
    assert {path.name for path in SCHEMAS.glob("*.json")} == names
    for name in names:
        validator(name)
