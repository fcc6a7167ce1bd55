"""apply's progress bar on a terminal (issue #12: "progress bars on a terminal"): a real `jwks-tool apply` with its
stderr on a pseudo-terminal redraws one bar line in place, prints each client's line above it, and leaves no bar
behind; off a terminal (and with --json) there is no bar at all."""

from __future__ import annotations

import io
import os
import pty
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from jwks_tool.cli.fleet import _ProgressBar
from tests import faultrunner
from tests.fleet_world import ClientDef, World, fleet_env
from tests.servers.keyvault import KeyVaultServer

pytestmark = pytest.mark.integration

FAST = 'size = 2048\nrotate_after = "90d"\nrenew_before = "30d"\noverlap = "1h"\npropagation = "0s"'
BAR = re.compile(r"apply \[[#-]{24}\] (\d+)/3 clients")


@pytest.fixture
def world(tmp_path: Path, vault: KeyVaultServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    fleet_env(monkeypatch, vault)
    built = World(tmp_path, vault, [ClientDef("a"), ClientDef("b"), ClientDef("c", deliver=False)], defaults=FAST)
    yield built
    built.close()


def apply_on_a_terminal(world: World, *extra: str, stdout_too: bool = False) -> tuple[int, str, str]:
    """apply with stderr on a pseudo-terminal of 100 columns; stdout a pipe (as `apply | tee` would have it), or the
    same terminal with ``stdout_too``."""
    env = dict(os.environ, COLUMNS="100")
    args = ["apply", "--yes", "--manifest", str(world.manifest_path), "--credential", "managed-identity"]
    args += ["--ca-bundle", world.vault.ca_path, *extra]
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen(
            faultrunner.command(args, env),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=follower if stdout_too else subprocess.PIPE,
            stderr=follower,
        )
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the terminal's last writer closed it
                break
            if not chunk:
                break
            chunks.append(chunk)
        out = proc.stdout.read().decode() if proc.stdout else ""
        code = proc.wait(timeout=120)
    finally:
        os.close(leader)
    return code, out, b"".join(chunks).decode(errors="replace")


def test_apply_on_a_terminal_draws_a_bar_in_place_and_leaves_the_client_lines(world: World) -> None:
    code, out, terminal = apply_on_a_terminal(world)
    assert code == 0, out + terminal
    assert len(out.splitlines()) == 3  # stdout is the result, as ever
    shown = terminal.replace("\r\n", "\n")
    bars = BAR.findall(shown)
    assert bars, shown
    assert [int(n) for n in bars] == sorted(int(n) for n in bars)  # it only counts up
    assert bars[-1] == "3"
    doing = r"apply \[[#-]{24}\] \d/3 clients \| [abc] \(test\): (read|generate|register|prove|deliver)"
    assert re.search(doing, shown)
    for index in (1, 2, 3):
        assert re.search(rf"\r\x1b\[K\[{index}/3\] [abc] \(test\): converged \(generated ", shown), shown
    assert shown.endswith("\r\x1b[K"), repr(shown[-200:])  # the bar is erased at the end: only the lines stay
    assert all(len(line) <= 99 for line in re.split(r"\r|\n", shown) if line.startswith("apply ["))
    signed_in = shown.index("Signing in to Digdir with virksomhet.p12: ")
    assert signed_in == 0 or shown[signed_in - 4 : signed_in] == "\r\x1b[K", repr(shown[:300])  # never in the bar


def test_with_stdout_on_the_terminal_too_each_client_line_is_shown_once(world: World) -> None:
    code, _, terminal = apply_on_a_terminal(world, stdout_too=True)
    assert code == 0, terminal
    shown = terminal.replace("\r\n", "\n")
    assert BAR.findall(shown)
    assert "[1/3]" not in shown
    for name in "abc":
        assert shown.count(f"{name} (test): converged (generated ") == 1, shown


def test_no_bar_off_a_terminal_or_with_json(world: World) -> None:
    env = dict(os.environ)
    args = ["apply", "--yes", "--manifest", str(world.manifest_path), "--credential", "managed-identity"]
    args += ["--ca-bundle", world.vault.ca_path]
    piped = subprocess.run(faultrunner.command(args, env), env=env, capture_output=True, text=True, timeout=120)
    assert piped.returncode == 0, piped.stderr
    assert "apply [" not in piped.stderr
    assert "\x1b" not in piped.stderr
    code, _, terminal = apply_on_a_terminal(world, "--json")
    assert code == 0, terminal
    assert "apply [" not in terminal


def test_the_bar_escapes_what_it_shows_and_is_cut_to_the_width() -> None:
    stream = io.StringIO()
    bar = _ProgressBar(2, stream)
    client = SimpleNamespace(label="evil\x1b[2J (test)")
    bar.doing(client, "register")
    result = SimpleNamespace(
        client=SimpleNamespace(label="evil\x1b[2J (test)"),
        outcome=SimpleNamespace(value="failed"),
        steps=(),
        error="boom\x1b]0;title\x07",
        next=None,
    )
    bar.finished(result)
    bar.close()
    text = stream.getvalue()
    assert "\x1b[2J" not in text
    assert "\x1b]0" not in text
    assert "evil\\x1b[2J (test): register" in text
    assert "[1/2] evil\\x1b[2J (test): failed; boom\\x1b]0;title\\x07\n" in text
    assert "1/2 clients, 1 failed" in text
    assert text.endswith("\r\x1b[K")
