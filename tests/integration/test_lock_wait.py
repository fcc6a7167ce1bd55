"""A command waiting for the store lock says who holds it, once, and goes on when the lock is free."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import PASSPHRASE

pytestmark = pytest.mark.integration

HOLD = """
import sys, time
from jwks_tool.services.key_service import KeyService
svc = KeyService.open(sys.argv[1], passphrase="unused", command="jwks-tool rotate acme\\x1b[31m")
with svc.store.lock():
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def test_a_waiting_command_names_who_holds_the_lock(tmp_path: Path) -> None:
    store = tmp_path / "store"
    env = {**os.environ, "JWKS_TOOL_STORE": str(store), "JWKS_TOOL_PASSPHRASE": PASSPHRASE}
    cli = [sys.executable, "-m", "jwks_tool"]
    assert subprocess.run([*cli, "generate", "acme", "--size", "2048"], env=env, check=False).returncode == 0
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(store), "4"], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "held\n"
        started = time.monotonic()
        waiter = subprocess.run(
            [*cli, "generate", "other", "--size", "2048"], env=env, capture_output=True, text=True, check=False
        )
        waited = time.monotonic() - started
    finally:
        holder.wait(timeout=30)
    assert waiter.returncode == 0, waiter.stderr
    assert 2.5 < waited < 30
    lines = waiter.stderr.splitlines()
    assert len(lines) == 1, waiter.stderr
    pattern = (
        r"jwks-tool: warning: waiting for the store lock (?P<lock>\S+), held by pid (?P<pid>\d+) "
        r"\((?P<user>[^,]+), `jwks-tool rotate acme\\x1b\[31m`\) since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ; "
        r"giving up after 60 s"
    )
    match = re.fullmatch(pattern, lines[0])
    assert match, lines[0]
    assert match["lock"] == str(store / ".lock")
    assert int(match["pid"]) == holder.pid
    assert match["user"].endswith("@" + os.uname().nodename)
    assert "\x1b" not in waiter.stderr
    assert not (store / ".lock.holder").exists()  # gone with its holder


def test_a_free_lock_is_taken_silently_and_its_holder_file_is_private(tmp_path: Path) -> None:
    from jwks_tool.services.key_service import KeyService

    svc = KeyService.open(str(tmp_path / "store"), passphrase=PASSPHRASE, command="jwks-tool generate")
    heard: list[str] = []
    svc.store.on_lock_wait = heard.append
    with svc.store.lock():
        holder = tmp_path / "store" / ".lock.holder"
        assert oct(holder.stat().st_mode & 0o777) == "0o600"
        assert f'"pid": {os.getpid()}' in holder.read_text()
    assert heard == []
