"""Every hint names an option the command that raises it actually has.

The hints are read from the package's source (every ``hint=`` argument, and both fixes a Key Vault connection can
name). A command line written into a hint (``jwks-tool rotate NAME --promote``) must be one jwks-tool accepts; an
option named bare ("pass --kid") must exist on every command that can raise that hint, as listed in
:data:`RAISED_BY` (kept by hand: a new hint naming an option fails here until its commands are listed).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from jwks_tool.cli.main import COMMANDS, cli

PACKAGE = Path(__file__).parents[2] / "jwks_tool"
OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
COMMAND_LINE = re.compile(r"\b(jwks-tool|az|aws)((?: [^`),;:]*)?)")
KEY_VAULT = ["doctor", "generate", "grant", "keyvault push", "keyvault status", "portal pull", "portal push"]
KEY_VAULT += ["revoke", "rotate", "token", "deliver"]
EVERY_STORE_COMMAND = [
    "check", "deliver", "doctor", "export", "generate", "grant", "import", "init", "keyvault push", "keyvault status",
    "list", "log", "portal pull", "portal push", "prune", "render", "report", "revoke", "rotate", "show", "status",
    "token",
]  # fmt: skip

RAISED_BY: dict[str, list[str]] = {
    # the azure connection's option fixes (a store URL's connection names ca_bundle= / verify_challenge_resource=)
    "--ca-bundle": [*KEY_VAULT],
    "--no-verify-challenge-resource": [*KEY_VAULT],
    "--credential": [*KEY_VAULT],
    # the store and its passphrase: every command that opens a store
    "--store": EVERY_STORE_COMMAND,
    "--passphrase-file": EVERY_STORE_COMMAND,
    # making and importing keys
    "--kid": ["generate", "import", "grant", "token"],
    "--alg": ["generate", "import"],
    "--expires-in": ["generate", "import"],
    "--profile": ["generate", "import"],
    "--kty": ["generate"],
    "--crv": ["generate"],
    "--size": ["generate"],
    "--in-vault": ["generate"],
    # render's schedule templates (a CI job whose store lasts)
    "--store-persists": ["render"],
    # export
    "--private": ["export"],
    "--format": ["export"],
    "--unencrypted": ["export"],
    "--yes": ["export"],
    "--out": ["export", "render", "report", "rotate"],
    # lifecycle
    "--force": ["rotate"],
    "--overlap": ["rotate"],
    "--reason": ["revoke"],
    "--warn": ["check", "status"],
    "--fail": ["check", "status"],
    "--template-dir": ["render", "report"],
    # Key Vault secrets
    "--for": ["keyvault push", "keyvault status", "doctor", "deliver"],
    "--secret-name": ["keyvault push", "keyvault status", "doctor", "deliver"],
    "--as": ["keyvault push"],
    # the fleet
    "--summary": ["apply"],
    "--max-changes": ["apply"],
    "--manifest": ["plan", "apply"],
    # delivery (keyvault push is one caller of the destinations)
    "--to": ["deliver"],
    "--prefix": ["keyvault push", "deliver"],
    "--adopt": ["keyvault push", "deliver"],
    "--vault": ["keyvault push", "keyvault status", "deliver"],
    "--region": ["deliver"],
    # Maskinporten
    "--client-id": ["grant", "token", "doctor", "portal push", "portal pull"],
    "--scope": ["grant", "token", "doctor"],
    "--certificate": ["portal push", "portal pull", "doctor"],
    "--cert-passphrase-file": ["portal push", "portal pull", "doctor"],
    "--admin-client-id": ["portal push", "portal pull", "doctor"],
    "--replace": ["portal push"],
}
"""Each option a hint names bare, and the commands that can raise such a hint."""


def _texts(node: ast.AST) -> Iterator[str]:
    """The strings of a hint expression: each literal, f-strings with their fields as X, each argument of a call
    (``connection.fix("--ca-bundle", "ca_bundle=")`` names one or the other) on its own."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node.value
    elif isinstance(node, ast.JoinedStr):
        yield "".join(part.value if isinstance(part, ast.Constant) else "X" for part in node.values)  # type: ignore[misc]
    elif isinstance(node, ast.BinOp):
        left, right = list(_texts(node.left)), list(_texts(node.right))
        yield from ([a + b for a in left for b in right] if left and right else left + right)
    elif isinstance(node, ast.Call):
        for arg in node.args:
            yield from _texts(arg)
    elif isinstance(node, ast.IfExp):
        yield from _texts(node.body)
        yield from _texts(node.orelse)


def hints() -> list[tuple[str, str]]:
    """(where, text) of every hint in the package."""
    found: list[tuple[str, str]] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.keyword) and node.arg == "hint":
                where = f"{path.relative_to(PACKAGE.parent)}:{node.value.lineno}"
                found.extend((where, text) for text in _texts(node.value))
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "fix":
                where = f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"
                found.extend((where, text) for text in _texts(node))
            elif isinstance(node, ast.FunctionDef) and node.name == "damage_fix":  # a store's fix for a damaged set
                for returned in ast.walk(node):
                    if isinstance(returned, ast.Return) and returned.value is not None:
                        where = f"{path.relative_to(PACKAGE.parent)}:{returned.lineno}"
                        found.extend((where, text) for text in _texts(returned.value))
    return found


def options_of(path: str) -> set[str]:
    """The long options of ``jwks-tool PATH`` (``keyvault push``)."""
    ctx = click.Context(cli)
    command: click.Command | None = cli
    for word in path.split():
        assert isinstance(command, click.Group), path
        command = command.get_command(ctx, word)
        assert command is not None, f"no command jwks-tool {path}"
    assert command is not None
    return {opt for param in command.params for opt in [*param.opts, *param.secondary_opts] if opt.startswith("--")}


def command_lines(text: str) -> Iterator[tuple[str, str]]:
    """(program, rest) of each command line a hint spells out."""
    for match in COMMAND_LINE.finditer(text):
        yield match.group(1), match.group(2).strip()


def test_the_scan_finds_the_hints() -> None:
    found = hints()
    assert len(found) > 100
    texts = [text for _, text in found]
    assert any(text.endswith("pass --no-verify-challenge-resource") for text in texts)  # a connection's fix()
    assert any(text.endswith("put verify_challenge_resource=false") for text in texts)


def test_command_lines_in_hints_are_ones_jwks_tool_accepts() -> None:
    checked = 0
    for where, text in hints():
        for program, rest in command_lines(text):
            if program != "jwks-tool" or not rest:
                continue
            words = rest.split()
            path = words[0]
            if words[0] in ("keyvault", "portal") and len(words) > 1:
                path = f"{words[0]} {words[1]}"
            if path.split()[0] not in COMMANDS:
                continue  # prose: "jwks-tool does not write through links"
            missing = set(OPTION.findall(rest)) - options_of(path)
            assert not missing, f"{where}: `jwks-tool {path}` has no {sorted(missing)} ({text!r})"
            checked += 1
    assert checked > 10


def test_options_named_in_hints_exist_on_every_command_that_can_raise_them() -> None:
    named: dict[str, list[str]] = {}
    for where, text in hints():
        bare = COMMAND_LINE.sub("", re.sub(r"`[^`]*`", "", text))
        for option in OPTION.findall(bare):
            named.setdefault(option, []).append(where)
    unlisted = {option: wheres for option, wheres in named.items() if option not in RAISED_BY}
    assert not unlisted, f"list the commands that can raise these hints in RAISED_BY: {unlisted}"
    for option, commands in RAISED_BY.items():
        assert option in named, f"{option} is in no hint any more: drop it from RAISED_BY"
        lacking = [command for command in commands if option not in options_of(command)]
        assert not lacking, f"{lacking} can raise a hint naming {option} ({named[option]}) but have no such option"


@pytest.mark.parametrize("command", ["list", "show", "status", "check", "log", "report", "prune", "export"])
def test_commands_without_azure_options_name_the_store_url_instead(command: str) -> None:
    """The Key Vault store's errors reach these commands; their fixes go in the store URL's query."""
    assert not options_of(command) & {"--ca-bundle", "--no-verify-challenge-resource", "--credential"}
    from jwks_tool.stores.keyvault import connection_from_url

    connection = connection_from_url("https://v.vault.azure.net/")
    assert connection.fix("pass --no-verify-challenge-resource", "put verify_challenge_resource=false") == (
        "put verify_challenge_resource=false in the store URL"
    )


PLACEHOLDER = re.compile(r"\b(NAME|VAULT|ENV|URL|KID)\b")
UNFILLABLE = {
    "jwks-tool generate NAME",  # there is no store, so no set name to give
    "jwks-tool keyvault push NAME --vault X --for apiclient",  # the set NAME is what was not given
    "jwks-tool keyvault push NAME --as key --vault X",
}
"""Command lines in hints whose placeholder stands for what the caller did not give."""


def test_command_lines_in_hints_have_no_placeholder_the_caller_could_fill() -> None:
    found = hints()
    assert any(
        where.startswith("jwks_tool/stores/keyvault.py") and "az keyvault secret delete --id X" in text
        for where, text in found
    )  # a store's damage_fix is scanned too
    unfilled = [
        (where, f"{program} {rest}")
        for where, text in found
        for program, rest in command_lines(text)
        if PLACEHOLDER.search(rest) and f"{program} {rest}" not in UNFILLABLE
    ]
    assert unfilled == []
    seen = {f"{program} {rest}" for _, text in found for program, rest in command_lines(text)}
    assert seen >= UNFILLABLE, "drop what no hint says any more from UNFILLABLE"
