"""Real processes: concurrent writers, crashes at write points, lazy imports, the installed entry points."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.faultrunner import command

pytestmark = pytest.mark.integration


def tool(*args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command(args, env), env=env, capture_output=True, text=True, timeout=120, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"{args} exited {result.returncode}: {result.stderr}")
    return result


@pytest.fixture
def env(store_dir: Path) -> dict[str, str]:
    return {**os.environ, "JWKS_TOOL_STORE": str(store_dir), "JWKS_TOOL_PASSPHRASE": "pw"}


def kids(env: dict[str, str], name: str) -> list[str]:
    shown = json.loads(tool("show", name, "--json", env=env).stdout)
    return [key["kid"] for key in shown["keys"]]


def test_concurrent_generates_all_land(env: dict[str, str]) -> None:
    """Six processes at once, two per set: every key lands; in each set one is active and one next."""
    tool("generate", "seed", "--size", "2048", env=env)  # the store exists first
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "jwks_tool", "generate", f"conc{i % 3}", "--size", "2048", "--kid", f"k{i}"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(6)
    ]
    outcomes = [proc.communicate(timeout=120) for proc in procs]
    assert [proc.returncode for proc in procs] == [0] * 6, outcomes
    for s in range(3):
        shown = json.loads(tool("show", f"conc{s}", "--json", env=env).stdout)["keys"]
        assert sorted(key["kid"] for key in shown) == [f"k{s}", f"k{s + 3}"]
        assert sorted(key["state"] for key in shown) == ["active", "next"]


def test_two_first_generates_on_a_new_store_share_one_passphrase_setup(env: dict[str, str]) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "jwks_tool", "generate", f"new{i}", "--size", "2048"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    outcomes = [proc.communicate(timeout=120) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], outcomes
    for i in range(2):
        assert tool("export", f"new{i}", "--private", env=env).returncode == 0


@pytest.mark.parametrize("point", ["before-rename", "set-written"])
def test_a_kill_at_a_write_point_loses_nothing(env: dict[str, str], store_dir: Path, point: str) -> None:
    tool("generate", "crash", "--size", "2048", "--kid", "first", env=env)
    before = (store_dir / "sets" / "test" / "crash.json").read_bytes()
    killed = tool(
        "generate",
        "crash",
        "--size",
        "2048",
        "--kid",
        "second",
        env={**env, "JWKS_TOOL_TEST_CRASH_AT": point},
        check=False,
    )
    assert killed.returncode == -9
    after = (store_dir / "sets" / "test" / "crash.json").read_bytes()
    if point == "before-rename":
        assert after == before
        assert kids(env, "crash") == ["first"]
        tool("generate", "crash", "--size", "2048", "--kid", "second", env=env)  # a re-run converges
    assert kids(env, "crash") == ["first", "second"]
    assert [p.name for p in (store_dir / "sets" / "test").iterdir()] == ["crash.json"]  # no stray temp file
    for kid in ("first", "second"):
        assert tool("export", "crash", "--kid", kid, "--private", env=env).returncode == 0


def test_console_script_and_module_agree(env: dict[str, str]) -> None:
    script = Path(sys.executable).with_name("jwks-tool")
    assert script.exists(), "pip install -e . installs the jwks-tool command"
    a = subprocess.run([str(script), "--version"], capture_output=True, text=True, check=True, env=env)
    b = tool("--version", env=env)
    assert a.stdout == b.stdout


def test_prompted_passphrase_in_a_real_terminal(store_dir: Path, tmp_path: Path) -> None:
    """The passphrase is asked on a terminal (twice for a new store) and never echoed."""
    pexpect = pytest.importorskip("pexpect")
    env = {k: v for k, v in os.environ.items() if not k.startswith("JWKS_TOOL_")}
    env["JWKS_TOOL_STORE"] = str(store_dir)
    child = pexpect.spawn(sys.executable, ["-m", "jwks_tool", "generate", "tty", "--size", "2048"], env=env, timeout=60)
    child.expect("New store passphrase: ")
    child.sendline("typed secret")
    child.expect("Repeat for confirmation: ")
    child.sendline("typed secret")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert b"typed secret" not in (child.before or b"")
    assert tool("export", "tty", "--private", env={**env, "JWKS_TOOL_PASSPHRASE": "typed secret"}).returncode == 0


@pytest.mark.parametrize("point", ["before-rename", "set-written"])
@pytest.mark.parametrize("step", ["start", "promote", "finish"])
def test_rotation_steps_converge_after_a_kill(env: dict[str, str], step: str, point: str) -> None:
    tool("generate", "rot", "--size", "2048", "--kid", "k1", env=env)
    args = {"start": [], "promote": ["--promote"], "finish": ["--finish", "--overlap", "0"]}
    order = ["start", "promote", "finish"]
    for earlier in order[: order.index(step)]:
        tool("rotate", "rot", *args[earlier], env=env)
    crashed = tool("rotate", "rot", *args[step], env={**env, "JWKS_TOOL_TEST_CRASH_AT": point}, check=False)
    assert crashed.returncode == -9
    tool("rotate", "rot", *args[step], env=env)  # the re-run converges
    shown = json.loads(tool("show", "rot", "--json", env=env).stdout)
    got = {key["kid"]: key["state"] for key in shown["keys"]}
    assert len(got) == 2, got
    assert got["k1"] == {"start": "active", "promote": "retiring", "finish": "retired"}[step]
    new = next(kid for kid in got if kid != "k1")
    assert got[new] == {"start": "next", "promote": "active", "finish": "active"}[step]
    assert list(got.values()).count("active") == 1
    assert tool("export", "rot", "--kid", new, "--private", env=env).returncode == 0
