"""Review #14's output findings: stored text never reaches a terminal raw (reports, user templates), badly typed
audit lines are skipped with a warning, JSON output is strict, --json --out writes the file, a missing store is not
an empty one, template errors name file and line, --json before the command."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import Result

pytestmark = pytest.mark.integration
Run = Callable[..., Result]


def generate(run: Run, *names: str) -> None:
    for name in names:
        result = run("generate", name, "--size", "2048")
        assert result.exit_code == 0, result.output


# ---- F4: audit lines are checked; JSON is strict -------------------------------------------------------------------
BAD_LINES = {
    "types": ('{"time": "garbage", "set": 5, "kid": ["x"], "from": 7}', "its time is not a valid time: 'garbage'"),
    "infinity": (
        '{"time": "2026-01-15T09:30:00Z", "user": "u@h", "command": "c", "set": "acme", "env": "test", '
        '"kid": "k", "from": null, "to": "active", "reason": "r", "revision": 1e400}',
        "its revision is not a whole number: Infinity",
    ),
    "kid": (
        '{"time": "2026-01-15T09:30:00Z", "set": "acme", "env": "test", "kid": ["x"], "to": "active"}',
        "its kid is not a string",
    ),
}


@pytest.mark.parametrize(("line", "problem"), BAD_LINES.values(), ids=BAD_LINES.keys())
def test_a_badly_typed_audit_line_is_skipped_with_a_warning(run: Run, store_dir: Path, line: str, problem: str) -> None:
    generate(run, "acme")
    with (store_dir / "audit.jsonl").open("a") as log:
        log.write(line + "\n")
    warning = (
        f"jwks-tool: warning: entry 2 of the audit log of {store_dir} is damaged ({problem}) and is not shown; "
        "restore the log from a backup, or remove that entry\n"
    )
    text = run("log")
    assert (text.exit_code, text.stderr) == (0, warning)
    assert "acme" in text.stdout
    as_json = run("log", "--json")
    assert (as_json.exit_code, as_json.stderr) == (0, warning)
    events = json.loads(as_json.stdout, parse_constant=lambda name: pytest.fail(f"not strict JSON: {name}"))["events"]
    assert [(event["set"], event["to"]) for event in events] == [("acme", "active")]
    report = run("report", "--json")
    assert (report.exit_code, report.stderr) == (0, warning)
    assert len(json.loads(report.stdout)["audit"]) == 1
    md = run("report", "--format", "md")
    assert (md.exit_code, md.stderr) == (0, warning)


def test_json_output_is_strict_and_escapes_what_a_terminal_acts_on() -> None:
    from jwks_tool.core.formats import to_json

    value = {"a": "x\x1b\x9b\u202e\U000e0001\ud800 é\n"}
    text = to_json(value)
    assert text == '{\n  "a": "x\\u001b\\u009b\\u202e\\udb40\\udc01\\ud800 é\\n"\n}\n'
    assert json.loads(text) == value
    with pytest.raises(ValueError, match="not JSON compliant"):
        to_json({"revision": float("inf")})


# ---- F6: a store that is not there is not an empty one ---------------------------------------------------------------
@pytest.mark.parametrize("command", [("list",), ("log",), ("log", "acme"), ("report",), ("status",)])
def test_a_missing_store_is_not_found_not_empty(run: Run, tmp_path: Path, command: tuple[str, ...]) -> None:
    typo = tmp_path / "no-store"
    line = (
        f"jwks-tool: error: there is no key store at {typo}; check --store and $JWKS_TOOL_STORE, or run "
        "`jwks-tool generate NAME` to make one\n"
    )
    result = run(*command, "--store", str(typo))
    assert (result.exit_code, result.stdout, result.stderr) == (6, "", line)
    as_json = run(*command, "--store", str(typo), "--json")
    assert (as_json.exit_code, as_json.stderr) == (6, line)
    assert json.loads(as_json.stdout)["error"]["code"] == "not-found"
    assert not typo.exists()


# ---- F16: --json before the command ----------------------------------------------------------------------------------
def test_json_before_the_command_is_the_commands_json(run: Run) -> None:
    generate(run, "acme")
    before, after = run("--json", "show", "acme"), run("show", "acme", "--json")
    assert (before.exit_code, before.stdout, before.stderr) == (0, after.stdout, "")
    assert json.loads(before.stdout)["name"] == "acme"
    missing = run("--json", "show", "nosuch")
    assert missing.exit_code == 6
    assert json.loads(missing.stdout)["error"]["code"] == "not-found"
    assert missing.stderr.startswith("jwks-tool: error: no key set nosuch (test) in ")
    usage = run("--json", "show", "acme", "--bogus")
    assert usage.exit_code == 2
    assert usage.stderr.startswith("jwks-tool: error: No such option '--bogus'.")
    assert json.loads(usage.stdout)["error"]["code"] == "usage"
    nested = run("--json", "keyvault", "status", "nosuch", "--vault", "https://kv.example/")
    assert nested.exit_code == 6
    assert json.loads(nested.stdout)["error"]["code"] == "not-found"


# ---- F5: --json --out FILE writes the file ---------------------------------------------------------------------------
def test_report_and_render_with_json_and_out_write_the_file(run: Run, tmp_path: Path, fixed_now: datetime) -> None:
    # The clock is fixed: two reports a second apart may count a new key's days left as 365 and 364 (CI saw it).
    generate(run, "acme")
    html = tmp_path / "rep.html"
    report = run("report", "--json", "--out", str(html), "--format", "html")
    assert (report.exit_code, report.stderr) == (0, "")
    result = json.loads(report.stdout)
    assert (result["verdict"], result["out"]) == ("ok", str(html))
    assert html.read_text().startswith("<!DOCTYPE html>")
    assert html.read_text() == run("report", "--format", "html").stdout
    runbook = tmp_path / "rb.md"
    render = run("render", "runbook", "acme", "--json", "--out", str(runbook))
    assert (render.exit_code, render.stderr) == (0, "")
    rendered = json.loads(render.stdout)
    assert rendered["out"] == str(runbook)
    assert runbook.read_text() == rendered["text"] == run("render", "runbook", "acme").stdout
    again = run("render", "runbook", "acme", "--json", "--out", str(runbook))  # an existing file: refused as ever
    assert again.exit_code == 7
    assert json.loads(again.stdout)["error"]["code"] == "conflict"
    assert "out" not in json.loads(run("report", "--json").stdout)


# ---- F1, F2: stored and template text never reaches a terminal raw ---------------------------------------------------
HOSTILE = "oops\x1b]0;PWN\x07\x1b[2Jgone\u202e"
SHOWN = "oops\\x1b]0;PWN\\x07\\x1b[2Jgone\\u202e"


def hostile_event(store_dir: Path) -> None:
    """An audit line as a team member with write access to a shared store can leave it (revoke --reason does)."""
    event = {
        "time": "2026-01-15T09:30:00Z",
        "user": "mallory" + HOSTILE,
        "command": "jwks-tool " + HOSTILE,
        "set": "acme",
        "env": "test",
        "kid": "k",
        "from": "active",
        "to": "revoked",
        "reason": HOSTILE,
        "revision": 2,
    }
    with (store_dir / "audit.jsonl").open("a") as log:
        log.write(json.dumps(event, ensure_ascii=False) + "\n")


@pytest.mark.parametrize("fmt", ["html", "md"])
def test_the_report_escapes_control_characters_from_the_store(
    run: Run, store_dir: Path, tmp_path: Path, fmt: str
) -> None:
    generate(run, "acme")
    hostile_event(store_dir)
    result = run("report", "--format", fmt)
    assert (result.exit_code, result.stderr) == (0, "")
    assert all(char.isprintable() or char in "\n\t" for char in result.stdout)
    if fmt == "html":
        assert f"mallory{SHOWN}" in result.stdout
        assert f"<td>{SHOWN}</td>" in result.stdout
    else:
        assert "oops\\\\x1b\\]0;PWN" in result.stdout  # Markdown backslashes its own punctuation too
    file = tmp_path / f"r.{fmt}"
    assert run("report", "--format", fmt, "--out", str(file)).exit_code == 0
    assert file.read_text() == result.stdout


def user_template(tmp_path: Path) -> Path:
    folder = tmp_path / "tpl"
    folder.mkdir()
    (folder / "esc.txt.j2").write_text('a\n{{ "\\x1b]0;PWN\\x07\\x1b[31m" }}red\t{{ keyset.ref.name }}\n')
    return folder


def test_a_user_templates_output_is_escaped_on_a_terminal_only(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    generate(run, "acme")
    folder = user_template(tmp_path)
    exact = "a\n\x1b]0;PWN\x07\x1b[31mred\tacme\n"
    piped = run("render", "esc", "acme", "--template-dir", str(folder))  # (click.echo drops colour codes off a tty)
    assert (piped.exit_code, piped.stdout) == (0, "a\n\x1b]0;PWN\x07red\tacme\n")  # a pipe: as the template made
    file = tmp_path / "out.txt"
    assert run("render", "esc", "acme", "--template-dir", str(folder), "--out", str(file)).exit_code == 0
    assert file.read_text() == exact
    monkeypatch.setattr("jwks_tool.cli.lifecycle.is_terminal", lambda stream: True)
    shown = run("render", "esc", "acme", "--template-dir", str(folder))
    assert (shown.exit_code, shown.stdout) == (0, "a\n\\x1b]0;PWN\\x07\\x1b[31mred\tacme\n")


def test_a_user_template_on_a_real_terminal(run: Run, tmp_path: Path, store_dir: Path) -> None:
    import os
    import sys

    pexpect = pytest.importorskip("pexpect")
    generate(run, "acme")
    folder = user_template(tmp_path)
    env = {**os.environ, "JWKS_TOOL_STORE": str(store_dir)}
    child = pexpect.spawn(
        sys.executable,
        ["-m", "jwks_tool", "render", "esc", "acme", "--template-dir", str(folder)],
        env=env,
        timeout=60,
        encoding="utf-8",
    )
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert "\x1b" not in child.before
    assert "\\x1b]0;PWN\\x07\\x1b[31mred" in child.before


# ---- F11: template errors name the file and line ---------------------------------------------------------------------
TEMPLATE_ERRORS = {
    "undefined": ("a\nhello {{ x.y }}\n", "bad.txt.j2:2 cannot be rendered: 'x' is undefined"),
    "syntax": (
        "a\nb\n{% if %}x{% endif %}\n",
        "bad.txt.j2:3 cannot be rendered: Expected an expression, got 'end of statement block'",
    ),
    "runtime": ("1\n2\n3\n{{ 1 / 0 }}\n", "bad.txt.j2:4 failed: ZeroDivisionError: division by zero"),
    "included": ('{% include "part.j2" %}\n', "part.j2:2 cannot be rendered: 'x' is undefined"),
}


@pytest.mark.parametrize(("text", "problem"), TEMPLATE_ERRORS.values(), ids=TEMPLATE_ERRORS.keys())
def test_a_template_error_names_the_file_and_line(run: Run, tmp_path: Path, text: str, problem: str) -> None:
    generate(run, "acme")
    folder = tmp_path / "tpl"
    folder.mkdir()
    (folder / "bad.txt.j2").write_text(text)
    (folder / "part.j2").write_text("a\n{{ x.y }}\n")
    result = run("render", "bad", "acme", "--template-dir", str(folder))
    assert (result.exit_code, result.stdout) == (3, "")
    assert result.stderr == f"jwks-tool: error: the template {folder}/{problem}; fix the template\n"
    (folder / "report.md.j2").write_text(text)
    report = run("report", "--format", "md", "--template-dir", str(folder))
    assert report.exit_code == 3
    assert (
        report.stderr
        == f"jwks-tool: error: the template {folder}/{problem.replace('bad.txt', 'report.md')}; fix the template\n"
    )
