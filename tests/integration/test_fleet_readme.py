"""The README's fleet walk runs as written (issue #12's "done when"): against `scripts/try-local.sh`, a manifest for
two clients, `plan` (exit 11), `apply` (0: registered, proven, delivered), `plan` again (0), `plan --at +100d` (11),
the summary and the delivered secret, each command with the exit code its `# exit N` comment gives."""

from __future__ import annotations

import re
import stat
import time
from pathlib import Path

import pytest

from tests.integration.test_try_local import (
    README,
    READY_SECONDS,
    Command,
    clean_env,
    run_commands,
    start_servers,
    stop,
    wait_for,
)

pytestmark = pytest.mark.integration

INTRO = "Against the test servers (`bash scripts/try-local.sh --env-file try-local.env` in another terminal"
EXIT_COMMENT = re.compile(r"#\s*exit (\d+)(?::\s*(.*?))?\s*$")


def fleet_walk() -> list[Command]:
    """The ```sh block after the fleet section's intro: a heredoc is one command, every other line one command."""
    text = README.read_text(encoding="utf-8")
    start = text.index(INTRO)
    block = re.search(r"^```sh\n(.*?)^```", text[start:], flags=re.MULTILINE | re.DOTALL)
    assert block is not None, "no sh block after the fleet walk's intro"
    commands: list[Command] = []
    lines = iter(block.group(1).splitlines())
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if "<<EOF" in line:
            body = [line]
            for more in lines:
                body.append(more)
                if more == "EOF":
                    break
            commands.append(Command("\n".join(body), 0, None))
            continue
        found = EXIT_COMMENT.search(line)
        code = int(found.group(1)) if found else 0
        quoted = re.search(r'"([^"]*)"', found.group(2) or "") if found else None  # a quote is a claim on the output
        commands.append(Command(line, code, quoted.group(1) if quoted else None))
    return commands


def says(comment: str, output: str) -> bool:
    """Whether the output says what the README's comment quotes: its pieces between "..." in order, spacing aside."""
    text = " ".join(output.split())
    at = 0
    for piece in (" ".join(part.split()) for part in comment.split("...")):
        found = text.find(piece, at)
        if found == -1:
            return False
        at = found + len(piece)
    return True


def test_the_fleet_walk_is_found() -> None:
    commands = fleet_walk()
    assert commands[0].text == "source try-local.env"
    assert any("cat > jwks-tool.toml <<EOF" in command.text for command in commands)
    assert [c.exit_code for c in commands if c.text.startswith("jwks-tool plan")] == [11, 0, 11]
    assert [c.says for c in commands if c.text.startswith("jwks-tool plan")][
        -1
    ] == "start  age 100d >= rotate_after 90d"
    assert says("ok  active ...; next: start at ...", "a (test)  ok   active k1; next: start at 2027")
    assert not says("ok  active ...; next: start at ...", "a (test)  start   age 100d")


def test_the_readme_fleet_walk_runs_as_written(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    env = clean_env(home)
    process, lines, reader = start_servers("bash scripts/try-local.sh --env-file try-local.env", tmp_path, env)
    seen: list[str] = []
    try:
        wait_for(lines, "ready", time.monotonic() + READY_SECONDS, seen)
        commands = fleet_walk()
        started = time.monotonic()
        results = run_commands(commands, tmp_path, env)
        took = time.monotonic() - started
        report = "\n".join(
            f"$ {command.text}\n[exit {code}, README says {command.exit_code}]\n{output}"
            for command, (code, output) in zip(commands, results, strict=True)
        )
        assert [code for code, _ in results] == [command.exit_code for command in commands], report
        assert not any("Traceback" in output for _, output in results), report
        outputs = dict(zip((command.text for command in commands), (output for _, output in results), strict=True))
        applied = next(output for text, output in outputs.items() if text.startswith("jwks-tool apply"))
        assert "Signing in to Digdir with " in applied, report
        assert "the business certificate of organisation 999888777" in applied, report
        for client in ("demo-client", "acme-client"):
            assert f"{client} (test): converged (generated {client}-test-" in applied, report
        assert "; delivered demo-client-test-" in applied, report
        summary = tmp_path / "summary.md"
        assert stat.S_IMODE(summary.stat().st_mode) == 0o600
        assert "| demo-client | test | converged |" in summary.read_text(), report
        for command, (_, output) in zip(commands, results, strict=True):
            if command.says is not None:
                assert says(command.says, output), f"{command.text}: {command.says!r} not in the output\n{report}"
        assert took < 120, f"the walk took {took:.0f} s"
    finally:
        stop(process)
        reader.join(10)
