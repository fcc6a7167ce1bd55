"""--out writes only a regular file it was allowed to write (issue #10): no devices, pipes or links, no silent
overwrite, no folders made, no key left behind in a temp file; and a private export to a terminal always asks."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from jwks_tool.cli.main import OUT_TEMP_SUFFIX

pytestmark = pytest.mark.integration
Run = Callable[..., Result]
PRIVATE_B64 = ("export", "acme", "--private", "--format", "base64")


@pytest.fixture
def outdir(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


@pytest.fixture
def acme(run: Run) -> None:
    assert run("generate", "acme", "--size", "2048").exit_code == 0


def private_b64(run: Run) -> str:
    result = run(*PRIVATE_B64)
    assert result.exit_code == 0
    return result.stdout


def test_out_refuses_a_device(run: Run, acme: None) -> None:
    before = os.stat("/dev/null")
    result = run(*PRIVATE_B64, "--out", "/dev/null")
    assert result.exit_code == 3
    assert result.stderr == (
        "jwks-tool: error: /dev/null is not a regular file; --out writes regular files only (--out - is stdout)\n"
    )
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode)
    assert (after.st_ino, after.st_mode) == (before.st_ino, before.st_mode)


def test_out_refuses_a_fifo(run: Run, acme: None, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    result = run(*PRIVATE_B64, "--out", str(fifo), "--force")
    assert result.exit_code == 3
    assert result.stderr == (
        f"jwks-tool: error: {fifo} is not a regular file; --out writes regular files only (--out - is stdout)\n"
    )
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


@pytest.mark.parametrize("force", [False, True])
def test_out_refuses_a_symlink_and_does_not_follow_it(run: Run, acme: None, outdir: Path, force: bool) -> None:
    target = outdir / "target.txt"
    target.write_text("keep me\n")
    link = outdir / "link.txt"
    link.symlink_to(target)
    dangling = outdir / "dangling.txt"
    dangling.symlink_to(outdir / "nowhere.txt")
    for path in (link, dangling, Path("/dev/stdout")):
        result = run(*PRIVATE_B64, "--out", str(path), *(["--force"] if force else []))
        assert result.exit_code == 3, path
        assert result.stderr == (
            f"jwks-tool: error: {path} is a symbolic link; jwks-tool does not write through links: "
            "give the path of the file itself\n"
        )
    assert target.read_text() == "keep me\n"
    assert link.is_symlink()
    assert dangling.is_symlink()
    assert not (outdir / "nowhere.txt").exists()
    assert sorted(p.name for p in outdir.iterdir()) == ["dangling.txt", "link.txt", "target.txt"]


def test_out_never_overwrites_without_force(run: Run, acme: None, outdir: Path) -> None:
    out = outdir / "kv.txt"
    out.write_text("precious\n")
    result = run(*PRIVATE_B64, "--out", str(out))
    assert result.exit_code == 7
    assert result.stderr == f"jwks-tool: error: {out} exists; pass --force to replace it, or choose another path\n"
    assert out.read_text() == "precious\n"
    os.chmod(out, 0o644)
    assert run(*PRIVATE_B64, "--out", str(out), "--force").exit_code == 0
    assert out.read_text() == private_b64(run)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert sorted(p.name for p in outdir.iterdir()) == ["kv.txt"]


def test_out_asks_on_a_terminal_before_replacing(
    run: Run, acme: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("jwks_tool.cli.main.is_terminal", lambda stream: True)
    out = tmp_path / "kv.txt"
    out.write_text("precious\n")
    result = run(*PRIVATE_B64, "--out", str(out), input="n\n")
    assert result.exit_code == 9
    assert result.stderr == (
        f"{out} exists: replace it? [y/N]: n\n"
        f"jwks-tool: error: {out} was left as it was; pass --force to replace it, or choose another path\n"
    )
    assert out.read_text() == "precious\n"
    result = run(*PRIVATE_B64, "--out", str(out), input="y\n")
    assert result.exit_code == 0, result.stderr
    assert out.read_text() == private_b64(run)


def test_out_does_not_make_folders(run: Run, acme: None, tmp_path: Path) -> None:
    out = tmp_path / "missing" / "deeper" / "kv.txt"
    result = run(*PRIVATE_B64, "--out", str(out))
    assert result.exit_code == 3
    assert result.stderr == (
        f"jwks-tool: error: the folder {out.parent} does not exist; create it first (--out makes no folders)\n"
    )
    assert not (tmp_path / "missing").exists()
    afile = tmp_path / "afile"
    afile.write_text("")
    result = run(*PRIVATE_B64, "--out", str(afile / "kv.txt"))
    assert result.exit_code == 3
    assert result.stderr == f"jwks-tool: error: {afile} is not a folder; give --out a path in a folder\n"


def test_out_dash_is_stdout(run: Run, acme: None) -> None:
    result = run(*PRIVATE_B64, "--out", "-")
    assert result.exit_code == 0
    assert result.stdout == private_b64(run)
    assert not Path("-").exists()
    public = run("export", "acme", "--out", "-", "--json")
    assert json.loads(public.stdout)["value"].startswith("{")


def test_out_leaves_no_temp_and_clears_a_crashed_one(run: Run, acme: None, outdir: Path) -> None:
    out = outdir / "kv.txt"
    assert run(*PRIVATE_B64, "--out", str(out)).exit_code == 0
    assert sorted(p.name for p in outdir.iterdir()) == ["kv.txt"]
    # what a crash in the middle of a --force replacement would leave: the temp beside the file
    crashed = outdir / f".kv.txt{OUT_TEMP_SUFFIX}"
    crashed.write_text("a private key from the crashed run\n")
    assert run(*PRIVATE_B64, "--out", str(out), "--force").exit_code == 0
    assert sorted(p.name for p in outdir.iterdir()) == ["kv.txt"]
    # a refused run cleans it up too
    crashed.write_text("a private key from the crashed run\n")
    assert run(*PRIVATE_B64, "--out", str(out)).exit_code == 7
    assert sorted(p.name for p in outdir.iterdir()) == ["kv.txt"]


def test_every_out_command_refuses_to_overwrite(run: Run, acme: None, tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    out.write_text("precious\n")
    commands = {
        "rotate": (("rotate", "acme"), "--overwrite"),
        "report": (("report",), "--force"),
        "render": (("render", "runbook", "acme"), "--force"),
        "export": (("export", "acme", "--format", "jwks"), "--force"),
    }
    for args, flag in commands.values():
        result = run(*args, "--out", str(out))
        assert result.exit_code == 7, args
        assert result.stderr == (
            f"jwks-tool: error: {out} exists; pass {flag} to replace it, or choose another path\n"
        ), args
        assert out.read_text() == "precious\n"
    # the refused rotate changed nothing: checked before the step
    assert [key["state"] for key in json.loads(run("show", "acme", "--json").stdout)["keys"]] == ["active"]
    for args, flag in commands.values():
        assert run(*args, "--out", str(out), flag).exit_code == 0, args
        assert out.read_text() != "precious\n"
        out.write_text("precious\n")


def test_help_names_the_overwrite_flag(run: Run) -> None:
    for command, flag in (
        ("export", "--force"),
        ("report", "--force"),
        ("render", "--force"),
        ("rotate", "--overwrite"),
    ):
        text = " ".join(run(command, "--help").stdout.split())
        assert f"{flag}" in text
        assert "Replace an existing --out file" in text, command


def test_private_json_export_to_a_terminal_asks(run: Run, acme: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("jwks_tool.cli.main.is_terminal", lambda stream: True)
    monkeypatch.setattr("jwks_tool.cli.keys.is_terminal", lambda stream: True)
    result = run("export", "acme", "--private", "--json", input="n\n")
    assert result.exit_code == 9
    assert '"d"' not in result.stdout
    assert json.loads(result.stdout) == {  # declined: the error as one JSON document, no key
        "error": {
            "code": "declined",
            "exit": 9,
            "message": "nothing exported",
            "hint": "use --out FILE to write it to a file instead",
        }
    }
    assert result.stderr.endswith("jwks-tool: error: nothing exported; use --out FILE to write it to a file instead\n")
    assert '\\"d\\"' in run("export", "acme", "--private", "--json", "--yes").stdout


def test_private_json_export_asks_in_a_real_terminal(tmp_path: Path, store_dir: Path) -> None:
    import sys

    pexpect = pytest.importorskip("pexpect")

    env = {**os.environ, "JWKS_TOOL_STORE": str(store_dir), "NO_COLOR": "1"}
    gen = pexpect.spawn(sys.executable, ["-m", "jwks_tool", "generate", "acme", "--size", "2048"], env=env, timeout=60)
    gen.expect(pexpect.EOF)
    gen.close()
    assert gen.exitstatus == 0
    child = pexpect.spawn(
        sys.executable, ["-m", "jwks_tool", "export", "acme", "--private", "--json"], env=env, timeout=60
    )
    child.expect(r"Print the PRIVATE key acme-test-\S+ to this terminal\? \[y/N\]: ")
    child.sendline("n")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 9
    assert b'"d"' not in (child.before or b"")


def test_templates_are_never_given_a_private_half(run: Run, tmp_path: Path, store_dir: Path) -> None:
    """A user's own template could print whatever it is given: the sealed (or plaintext) private half is not."""
    assert run("generate", "acme", "--size", "2048").exit_code == 0
    stored = json.loads((store_dir / "sets" / "test" / "acme.json").read_text())
    sealed = stored["keys"][0]["sealed_private"]
    folder = tmp_path / "tpl"
    folder.mkdir()
    (folder / "leak.txt.j2").write_text(
        "{{ active.sealed_private }} {% for k in keyset.keys %}{{ k.sealed_private }}{% endfor %}"
    )
    result = run("render", "leak", "acme", "--template-dir", str(folder))
    assert result.exit_code == 0, result.stderr
    assert sealed[:40] not in result.stdout
    assert result.stdout.strip() == "None None"
