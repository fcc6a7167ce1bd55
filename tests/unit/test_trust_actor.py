"""The audit's user is the OS account, not $USER (issue #10)."""

from __future__ import annotations

import json
import os
import pwd
import socket
from collections.abc import Callable

import pytest
from click.testing import Result

from jwks_tool.services.key_service import actor

Run = Callable[..., Result]


def test_actor_ignores_user_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("USER", "LOGNAME", "LNAME", "USERNAME"):
        monkeypatch.setenv(name, "mallory")
    assert actor() == f"{pwd.getpwuid(os.getuid()).pw_name}@{socket.gethostname()}"


def test_actor_without_a_name_is_the_uid(monkeypatch: pytest.MonkeyPatch) -> None:
    def nameless(uid: int) -> pwd.struct_passwd:
        raise KeyError(uid)

    monkeypatch.setenv("USER", "mallory")
    monkeypatch.setattr(pwd, "getpwuid", nameless)
    assert actor() == f"{os.getuid()}@{socket.gethostname()}"


def test_the_log_records_the_account_not_user(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USER", "mallory")
    monkeypatch.setenv("LOGNAME", "mallory")
    assert run("generate", "acme", "--size", "2048").exit_code == 0
    events = json.loads(run("log", "--json").stdout)["events"]
    assert [event["user"] for event in events] == [f"{pwd.getpwuid(os.getuid()).pw_name}@{socket.gethostname()}"]
