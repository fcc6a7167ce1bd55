"""The contract in the README is the code's: the exit-code table, the command table, --json errors, -v anywhere.

The walk of every command through its outcomes against servers is tests/integration/test_contract.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import Result

from jwks_tool.cli.main import (
    COMMANDS,
    ERROR_SLUGS,
    EXIT_CHANGES_DUE,
    EXIT_CODES,
    EXIT_FINDINGS,
    EXIT_OK,
    EXIT_STEP_FAILED,
    EXIT_WAITING,
    EXIT_WARNINGS,
    OTHER_ERRORS,
    cli,
)

Run = Callable[..., Result]
ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
SCHEMAS = ROOT / "jwks_tool" / "schemas"


def table_after(heading: str) -> list[list[str]]:
    """The rows (cells, stripped) of the first Markdown table after ``heading``, without its header."""
    lines = README[README.index(heading) :].splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("|"))
    rows = []
    for line in lines[first + 2 :]:
        if not line.startswith("|"):
            break
        cells = re.split(r"(?<!\\)\|", line.strip())[1:-1]
        rows.append([cell.strip() for cell in cells])
    return rows


def error_document(result: Result) -> dict[str, Any]:
    import jsonschema

    document = json.loads(result.stdout)
    jsonschema.validate(document, json.loads((SCHEMAS / "error.json").read_text()))
    assert isinstance(document, dict)
    return dict(document["error"])


def one_error_line(result: Result, error: dict[str, Any]) -> None:
    hint = f"; {error['hint']}" if error["hint"] else ""
    prefix = "jwks-tool: " if error["code"] == "interrupted" else "jwks-tool: error: "
    assert result.stderr == f"{prefix}{error['message']}{hint}\n"


def test_the_readme_exit_code_table_is_the_codes_mapping() -> None:
    rows = table_after("### Exit codes")
    documented = {int(row[0]): row[1].strip("`") for row in rows}
    slugs = {slug: EXIT_CODES[cls] for cls, slug in ERROR_SLUGS.items()} | OTHER_ERRORS
    assert {slug: code for code, slug in documented.items() if slug} == slugs
    outcomes = {EXIT_OK, EXIT_WARNINGS, EXIT_FINDINGS, EXIT_CHANGES_DUE, EXIT_STEP_FAILED, EXIT_WAITING}
    assert set(documented) == {*outcomes, *EXIT_CODES.values(), *OTHER_ERRORS.values()}
    assert all(row[2] for row in rows), "every code says what it means"


def leaves() -> dict[str, click.Command]:
    context = click.Context(cli)
    found: dict[str, click.Command] = {}
    for name in COMMANDS:
        command = cli.get_command(context, name)
        assert command is not None
        if isinstance(command, click.Group):
            found.update({f"{name} {sub}": one for sub, one in command.commands.items()})
        else:
            found[name] = command
    return found


def test_the_readme_command_table_is_the_commands_help() -> None:
    """Each row of the README's command table starts with the command's one-line help, and every command has one."""
    rows: dict[str, str] = {}
    for row in table_after("## Commands"):
        usage = row[0].strip("`")
        words = " ".join(word for word in usage.split() if re.fullmatch(r"[a-z]+", word))
        rows.setdefault(words, row[1])  # the first row of a command (export NAME --private follows export NAME)
    commands = leaves()
    assert set(rows) == set(commands)
    for name, command in commands.items():
        short = command.get_short_help_str(limit=1000)
        assert rows[name].startswith(short), f"README's {name} row does not start with its help: {short!r}"


@pytest.mark.parametrize(
    ("args", "where"),
    [
        (("show", "acme", "--bogus", "--json"), "jwks-tool show"),
        (("--bogus", "show", "acme", "--json"), "jwks-tool"),
        (("show", "acme", "--env", "nope", "--json"), "jwks-tool show"),
        (("show", "--json"), "jwks-tool show"),
        (("keyvault", "status", "acme", "--json"), "jwks-tool keyvault status"),
        (("grant", "acme", "--json", "--client-id", "c", "--scope", "s", "--timeout", "0"), "jwks-tool grant"),
    ],
)
def test_a_usage_error_with_json_is_a_json_error(run: Run, args: tuple[str, ...], where: str) -> None:
    result = run(*args)
    assert result.exit_code == 2
    error = error_document(result)
    assert (error["code"], error["exit"]) == ("usage", 2)
    assert error["hint"] == f"see `{where} --help`"
    one_error_line(result, error)


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ("show", "acme", "--bogus"),
            "No such option '--bogus'. Did you mean '--verbose'?; see `jwks-tool show --help`",
        ),
        (("bogus",), "No such command 'bogus'; see `jwks-tool --help`"),
        (("show",), "Missing argument 'NAME'; see `jwks-tool show --help`"),
        (("keyvault", "status", "acme"), "Missing option '--vault'; see `jwks-tool keyvault status --help`"),
    ],
)
def test_a_usage_error_without_json_is_one_line_too(run: Run, args: tuple[str, ...], line: str) -> None:
    result = run(*args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == f"jwks-tool: error: {line}\n"


@pytest.mark.parametrize("args", [(), ("keyvault",)])
def test_a_group_with_no_arguments_shows_its_help(run: Run, args: tuple[str, ...]) -> None:
    result = run(*args)
    assert result.exit_code == 2
    assert result.stderr.startswith("Usage: ")
    assert "Commands:" in result.stderr


def test_json_after_a_double_dash_is_an_argument_not_the_option(run: Run) -> None:
    result = run("inspect", "--", "--json")
    assert result.exit_code == 2
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("raised", "code", "exit_code", "line"),
    [
        (KeyboardInterrupt(), "interrupted", 130, "jwks-tool: interrupted; each store write is whole or not made at "),
        (RuntimeError("boom"), "internal", 70, "jwks-tool: error: internal error RuntimeError: boom; run with -v for"),
        (PermissionError(13, "Permission denied", "/x/y"), "io", 74, "jwks-tool: error: Permission denied /x/y; check"),
    ],
)
def test_an_interrupt_or_a_crash_with_json_is_a_json_error(
    run: Run, monkeypatch: pytest.MonkeyPatch, raised: BaseException, code: str, exit_code: int, line: str
) -> None:
    def fail(*_args: Any, **_kwargs: Any) -> None:
        raise raised

    monkeypatch.setattr("jwks_tool.services.key_service.KeyService.get_set", fail)
    plain = run("show", "acme")
    assert plain.exit_code == exit_code
    assert plain.stdout == ""
    assert plain.stderr.startswith(line)
    assert plain.stderr.count("\n") == 1
    result = run("show", "acme", "--json")
    assert result.exit_code == exit_code
    error = error_document(result)
    assert (error["code"], error["exit"]) == (code, exit_code)
    assert result.stderr == plain.stderr
    one_error_line(result, error)


@pytest.mark.parametrize("as_json", [False, True])
def test_ctrl_c_at_the_passphrase_prompt_exits_130(run: Run, monkeypatch: pytest.MonkeyPatch, as_json: bool) -> None:
    def interrupted(_prompt: str) -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr("jwks_tool.cli.main.is_terminal", lambda _stream: True)
    monkeypatch.setattr("click.termui.hidden_prompt_func", interrupted)
    result = run("generate", "acme", *(["--json"] if as_json else []), env={"JWKS_TOOL_PASSPHRASE": ""})
    assert result.exit_code == 130
    assert result.stderr.endswith(
        "jwks-tool: interrupted; each store write is whole or not made at all: `jwks-tool list` shows what is there\n"
    )
    assert "Aborted" not in result.output
    if as_json:
        assert error_document(result)["code"] == "interrupted"
    else:
        assert result.stdout == ""


def test_verbose_after_the_subcommand_shows_the_traceback(run: Run) -> None:
    for args in (
        ("render", "runbook", "nosuch", "-v"),
        ("keyvault", "status", "nosuch", "--vault", "https://x.vault.azure.net/", "--verbose"),
        ("-v", "show", "nosuch"),
    ):
        result = run(*args)
        assert result.exit_code == 6, args
        assert result.stderr.startswith("Traceback (most recent call last):\n"), args
        assert result.stderr.splitlines()[-1].startswith("jwks-tool: error: no key set nosuch (test) in "), args
    quiet = run("render", "runbook", "nosuch")
    assert "Traceback" not in quiet.stderr
    assert quiet.stderr.count("\n") == 1


def test_every_command_takes_verbose(run: Run) -> None:
    for name in leaves():
        result = run(*name.split(), "--help")
        assert "-v, --verbose" in result.output, name


def test_log_of_a_set_nobody_knows_is_not_found(run: Run, store_dir: Path) -> None:
    assert run("generate", "acme", "--size", "2048").exit_code == 0
    missing = run("log", "nosuch")
    assert missing.exit_code == 6
    assert missing.stderr == (
        f"jwks-tool: error: no key set nosuch in {store_dir}, and the audit log names none; run `jwks-tool list` "
        "to see the sets, or `jwks-tool log` for every change\n"
    )
    assert run("log", "acme", "--env", "prod").exit_code == 6  # acme is a test set only
    assert run("log", "nosuch", "--json").exit_code == 6
    (store_dir / "audit.jsonl").unlink()  # a set whose log is empty: its history still tells
    assert run("log", "acme").exit_code == 0
    assert run("generate", "gone", "--size", "2048").exit_code == 0
    (store_dir / "sets" / "test" / "gone.json").unlink()  # a set that is gone: the log still tells its story
    gone = run("log", "gone", "--json")
    assert gone.exit_code == 0, gone.stderr
    assert [event["set"] for event in json.loads(gone.stdout)["events"]] == ["gone"]


def test_an_empty_set_log_is_not_an_error(run: Run, store_dir: Path) -> None:
    """A store that exists with a set but an empty audit log: log NAME still shows what the set's history holds."""
    assert run("generate", "acme", "--size", "2048").exit_code == 0
    (store_dir / "audit.jsonl").write_text("")
    result = run("log", "acme", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["events"][0]["set"] == "acme"


def test_every_path_the_readme_names_exists() -> None:
    named = set(re.findall(r"`((?:jwks_tool|tests|scripts|benchmarks|samples)/[^`\s<]*)`", README))
    assert "jwks_tool/core/text.py" in named
    missing = []
    for name in sorted(named):
        path, _, function = name.partition("::")
        found = sorted(ROOT.glob(path)) if "*" in path else [ROOT / path] if (ROOT / path).exists() else []
        if not found or (function and not re.search(rf"^def {function}\(", found[0].read_text(), re.MULTILINE)):
            missing.append(name)
    assert missing == []
