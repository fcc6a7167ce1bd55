"""The README's "Try it without Azure or Digdir" runs as written: its one command starts both test servers, and
every other command of the section, run with bash in a fresh HOME, exits as the README says."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import queue
import re
import signal
import stat
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
HEADING = "## Try it without Azure or Digdir"
SERVER_COMMAND = "bash scripts/try-local.sh "
READY_SECONDS = 60.0
EXPECTED_EXIT = re.compile(r"#\s*exits (\d+)(?::\s*(.*?))?\s*$")


@dataclass(frozen=True)
class Command:
    text: str
    exit_code: int
    says: str | None  # what the README's "# exits N: ..." comment promises the output contains


def readme_section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n{HEADING}\n") + 1
    end = text.find("\n## ", start)
    return text[start : end if end != -1 else len(text)]


def readme_commands(section: str) -> list[Command]:
    """The lines of the section's ```sh blocks: comments and blank lines skipped, continuations joined."""
    commands: list[Command] = []
    for block in re.findall(r"^```sh\n(.*?)^```", section, flags=re.MULTILINE | re.DOTALL):
        pending = ""
        for raw in block.splitlines():
            line = raw.strip()
            if not pending and (not line or line.startswith("#")):
                continue
            if line.endswith("\\"):
                pending += line[:-1].rstrip() + " "
                continue
            text, pending = pending + line, ""
            found = EXPECTED_EXIT.search(text)
            code = int(found.group(1)) if found else 0
            commands.append(Command(text, code, found.group(2) if found and found.group(2) else None))
        assert not pending, f"a continuation line ends the block: {pending!r}"
    return commands


def admin_token_claims(block: list[str]) -> dict[str, Any]:
    (line,) = [line for line in block if line.startswith("export JWKS_TOOL_PORTAL_TOKEN=")]
    payload = line.split("=", 1)[1].split()[0].split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return claims


def clean_env(home: Path) -> dict[str, str]:
    """A user's shell with nothing of ours: a fresh HOME, the system PATH, and a proxy that must not be used."""
    return {
        "HOME": str(home),
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "HTTPS_PROXY": "http://127.0.0.1:9",  # the env block's NO_PROXY keeps the test servers off it
    }


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir(mode=0o700)
    return path


def start_servers(
    command: str, cwd: Path, env: dict[str, str]
) -> tuple[subprocess.Popen[str], queue.Queue[str], threading.Thread]:
    script = command.replace(SERVER_COMMAND, f"bash {ROOT}/scripts/try-local.sh ", 1)
    process = subprocess.Popen(
        ["bash", "-c", script],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: the finally below can stop all of it
    )
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line.rstrip("\n"))

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    return process, lines, reader


def wait_for(lines: queue.Queue[str], wanted: str, deadline: float, seen: list[str]) -> None:
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            continue
        seen.append(line)
        if line == wanted:
            return
    raise AssertionError(f"no {wanted!r} line; the servers said:\n" + "\n".join(seen))


def stop(process: subprocess.Popen[str]) -> signal.Signals | None:
    """Ctrl-C (SIGINT) to the process group, then SIGTERM, then SIGKILL: no process is left behind.

    Returns the signal that ended it (None if it had ended already).
    """
    ended_by = None
    for sig, grace in ((signal.SIGINT, 15.0), (signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        if process.poll() is not None:
            break
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            continue
        ended_by = sig
        break
    with contextlib.suppress(ProcessLookupError):  # the group may outlive its leader: kill what remains of it
        os.killpg(process.pid, signal.SIGKILL)
    return ended_by


def run_commands(commands: list[Command], cwd: Path, env: dict[str, str]) -> list[tuple[int, str]]:
    """Run the commands in one bash session (exports carry over); each one's exit code and output."""
    out = cwd / ".outputs"
    out.mkdir()
    script = [
        f"{{\n{command.text}\n}} >{out}/{i}.txt 2>&1; echo $? >{out}/{i}.rc" for i, command in enumerate(commands)
    ]
    subprocess.run(["bash", "-c", "\n".join(script)], cwd=cwd, env=env, check=False, timeout=300)
    results = []
    for i in range(len(commands)):
        rc = out / f"{i}.rc"
        results.append((int(rc.read_text()) if rc.exists() else -1, (out / f"{i}.txt").read_text(errors="replace")))
    return results


def test_the_readme_section_is_found_and_starts_with_the_one_command() -> None:
    commands = readme_commands(readme_section())
    assert commands[0].text.startswith(SERVER_COMMAND + "--env-file "), commands[0]
    assert commands[1].text.startswith("source "), commands[1]
    assert len(commands) > 10


def test_try_it_without_azure_or_digdir_runs_as_written(tmp_path: Path, home: Path) -> None:
    server_command, *commands = readme_commands(readme_section())
    env_file = tmp_path / server_command.text.split("--env-file ", 1)[1].split()[0]
    env = clean_env(home)
    process, lines, reader = start_servers(server_command.text, tmp_path, env)
    seen: list[str] = []
    ended_by = None
    try:
        wait_for(lines, "ready", time.monotonic() + READY_SECONDS, seen)
        assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
        block = env_file.read_text(encoding="utf-8").splitlines()
        assert block == seen[seen.index(block[0]) : seen.index(block[0]) + len(block)], "printed != written"
        admin = admin_token_claims(block)
        assert admin["exp"] - admin["iat"] == 24 * 3600  # outlives a trial, unlike the server's 120 s tokens
        assert admin["scope"] == "idporten:dcr.read idporten:dcr.write"

        results = run_commands(commands, tmp_path, env)

        report = "\n".join(
            f"$ {command.text}\n[exit {code}, README says {command.exit_code}]\n{output}"
            for command, (code, output) in zip(commands, results, strict=True)
        )
        assert [code for code, _ in results] == [command.exit_code for command in commands], report
        for command, (_, output) in zip(commands, results, strict=True):
            if command.says is not None:
                assert command.says in output, report
        assert not any("Traceback" in output for _, output in results), report
    finally:
        ended_by = stop(process)
        reader.join(10)
    remaining = []
    while not lines.empty():
        remaining.append(lines.get())
    assert ended_by == signal.SIGINT, "Ctrl-C did not stop the servers"
    assert process.returncode == 0, "\n".join(seen + remaining)
    assert "Test servers stopped." in remaining
    assert not env_file.exists()  # removed with the servers: it named ports and tokens that are gone
