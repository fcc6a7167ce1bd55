"""render's schedule templates: cron, GitHub Actions, Azure DevOps and a Kubernetes CronJob running apply."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

Run = Callable[..., Result]

MANIFEST = """\
store = "https://team-kv.vault.azure.net/"

[admin.prod]
client_id = "admin-prod"
certificate = "virksomhet-prod.p12"

[[clients]]
name = "invoice-sync"
env = "prod"
client_id = "c-1"
scopes = ["altinn:instances.read"]
"""


@pytest.mark.parametrize(
    ("template", "golden_name"),
    [
        ("cron", "render-cron.txt"),
        ("github-actions", "render-github-actions.yml"),
        ("azure-devops", "render-azure-devops.yml"),
        ("kubernetes", "render-kubernetes.yaml"),
    ],
)
def test_schedule_templates_run_apply(
    run: Run,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    golden: Callable[[str, str], None],
    template: str,
    golden_name: str,
) -> None:
    (tmp_path / "jwks-tool.toml").write_text(MANIFEST)
    monkeypatch.chdir(tmp_path)
    result = run("render", template, "jwks-tool.toml")
    assert result.exit_code == 0, result.stderr
    text = result.output.replace(str(tmp_path), "/srv/fleet")
    assert "jwks-tool apply --yes" in text or "jwks_tool apply --yes" in text
    assert "PASSPHRASE=" not in text.replace("--from-literal=JWKS_TOOL_PASSPHRASE=...", "")  # secrets never inline
    golden(golden_name, text)


def test_a_hostile_manifest_path_is_quoted(run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = 'fleet"; rm -rf ~ #.toml'
    (tmp_path / name).write_text(MANIFEST)
    monkeypatch.chdir(tmp_path)
    cron = run("render", "cron", name).output.splitlines()[-1]
    assert f"--manifest {shlex.quote(name)} " in cron
    actions = run("render", "github-actions", name).output
    assert '--manifest "fleet\\"; rm -rf ~ #.toml" --summary' in actions


def test_a_schedule_for_a_bad_manifest_is_refused(run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "jwks-tool.toml").write_text(MANIFEST + "colour = 1\n")
    monkeypatch.chdir(tmp_path)
    result = run("render", "kubernetes", "jwks-tool.toml")
    assert result.exit_code == 3
    assert result.stderr == (
        "jwks-tool: error: jwks-tool.toml:12: unknown key 'colour' in [[clients]] #1; remove it; [[clients]] #1 "
        "takes name, env, client_id, scopes, register, deliver, size, profile, alg, rotate_after, renew_before, "
        "overlap, propagation\n"
    )
