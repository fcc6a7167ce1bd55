"""render's schedule templates: cron, GitHub Actions, Azure DevOps and a Kubernetes CronJob running apply."""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
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
VAULT_MANIFEST = MANIFEST.replace(
    '"virksomhet-prod.p12"', '"https://team-kv.vault.azure.net/certificates/virksomhet-prod"'
)
"""The recommended sign-in: the business certificate in Key Vault (the vault signs; nothing to store in the CI)."""


TEMPLATES = [
    ("cron", "render-cron.txt"),
    ("github-actions", "render-github-actions.yml"),
    ("azure-devops", "render-azure-devops.yml"),
    ("kubernetes", "render-kubernetes.yaml"),
]


def rendered(run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, template: str, manifest: str) -> str:
    (tmp_path / "jwks-tool.toml").write_text(manifest)
    monkeypatch.chdir(tmp_path)
    result = run("render", template, "jwks-tool.toml")
    assert result.exit_code == 0, result.stderr
    return result.output.replace(str(tmp_path), "/srv/fleet")


@pytest.mark.parametrize("vault", [False, True], ids=["pkcs12-file", "key-vault-certificate"])
@pytest.mark.parametrize(("template", "golden_name"), TEMPLATES)
def test_schedule_templates_run_apply(
    run: Run,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    golden: Callable[[str, str], None],
    template: str,
    golden_name: str,
    vault: bool,
) -> None:
    text = rendered(run, tmp_path, monkeypatch, template, VAULT_MANIFEST if vault else MANIFEST)
    assert "jwks-tool apply --yes" in text or "jwks_tool apply --yes" in text
    assert "PASSPHRASE=" not in text.replace("PASSPHRASE=...", "")  # secrets never inline
    assert "TOKEN" not in text  # Digdir's self-service API takes only the business certificate
    assert ("cert-passphrase" in text.lower().replace("_", "-")) is not vault  # a vault certificate needs none
    stem, dot, ext = golden_name.partition(".")
    golden(f"{stem}-vault{dot}{ext}" if vault else golden_name, text)


def env_blocks(node: Any) -> Iterator[dict[str, Any]]:
    """Every ``env:`` mapping in a parsed workflow."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "env" and isinstance(value, dict):
                yield value
            yield from env_blocks(value)
    elif isinstance(node, list):
        for item in node:
            yield from env_blocks(item)


@pytest.mark.parametrize("vault", [False, True], ids=["pkcs12-file", "key-vault-certificate"])
def test_the_github_actions_workflow_parses_and_carries_the_certificate_not_a_token(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, vault: bool
) -> None:
    workflow = yaml.safe_load(
        rendered(run, tmp_path, monkeypatch, "github-actions", VAULT_MANIFEST if vault else MANIFEST)
    )
    steps = workflow["jobs"]["apply"]["steps"]
    variables = {name for block in env_blocks(workflow) for name in block}
    assert not [name for name in variables if "TOKEN" in name]
    assert all("${{" not in step.get("run", "") for step in steps)  # secrets reach a script only through env:
    assert workflow["permissions"] == {"id-token": "write", "contents": "read"}  # OIDC sign-in to Azure
    apply = next(step for step in steps if step.get("name") == "jwks-tool apply")
    if vault:
        assert variables == {"JWKS_TOOL_PASSPHRASE"}
        assert [step.get("name") for step in steps if "certificate" in step.get("name", "")] == []
        return
    assert apply["env"] == {
        "JWKS_TOOL_PASSPHRASE": "${{ secrets.JWKS_TOOL_PASSPHRASE }}",
        "JWKS_TOOL_CERT_PASSPHRASE": "${{ secrets.JWKS_TOOL_CERT_PASSPHRASE }}",
    }
    write = next(step for step in steps if step.get("name") == "business certificate (prod)")
    assert write["env"] == {"JWKS_TOOL_CERT_P12_PROD": "${{ secrets.JWKS_TOOL_CERT_P12_PROD }}"}
    assert write["run"] == "umask 077\nprintf '%s' \"$JWKS_TOOL_CERT_P12_PROD\" | base64 -d > virksomhet-prod.p12\n"
    names = [step.get("name") for step in steps]
    assert names.index("business certificate (prod)") < names.index("jwks-tool apply")
    assert steps[-1] == {
        "name": "remove the business certificate",
        "if": "always()",
        "run": "rm -f virksomhet-prod.p12\n",
    }


def test_the_kubernetes_cronjob_mounts_the_certificate_beside_the_manifest(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = MANIFEST.replace('"virksomhet-prod.p12"', '"certs/./virksomhet prod.p12"')
    job = yaml.safe_load(rendered(run, tmp_path, monkeypatch, "kubernetes", manifest))
    pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsUser"]  # the pod's user can read it
    (volume,) = pod["volumes"]
    assert volume["projected"]["sources"] == [
        {"configMap": {"name": "jwks-tool-manifest"}},
        {
            "secret": {
                "name": "jwks-tool-certificate",
                "items": [{"key": "virksomhet_prod.p12", "path": "certs/virksomhet prod.p12", "mode": 0o440}],
            }
        },
    ]
    assert pod["containers"][0]["volumeMounts"][0]["mountPath"] == "/etc/jwks-tool"


def test_a_certificate_outside_the_manifests_folder_is_not_mounted(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = MANIFEST.replace('"virksomhet-prod.p12"', '"../virksomhet-prod.p12"')
    text = rendered(run, tmp_path, monkeypatch, "kubernetes", manifest)
    assert "#   ../virksomhet-prod.p12 ([admin.prod]) is outside the manifest's folder" in text
    job = yaml.safe_load(text)
    (volume,) = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["volumes"]
    assert volume["projected"]["sources"] == [{"configMap": {"name": "jwks-tool-manifest"}}]


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
