"""render's schedule templates: cron, GitHub Actions, Azure DevOps and a Kubernetes CronJob running apply."""

from __future__ import annotations

import base64
import os
import shlex
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import Result

from jwks_tool import __version__
from tests.conftest import PASSPHRASE

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


PROGRAM = "/opt/jwks-tool/bin/jwks-tool"
"""The jwks-tool that renders the goldens (the crontab line names it by its path)."""


def rendered(run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, template: str, manifest: str) -> str:
    (tmp_path / "jwks-tool.toml").write_text(manifest)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [PROGRAM])
    result = run("render", template, "jwks-tool.toml")
    assert result.exit_code == 0, result.stderr
    return result.output.replace(str(tmp_path), "/srv/fleet").replace(
        __version__, "VERSION"
    )  # goldens outlive a release


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


LOCAL = MANIFEST.replace('store = "https://team-kv.vault.azure.net/"', 'store = "/var/lib/jwks-tool/fleet"')
NO_STORE = MANIFEST.replace('store = "https://team-kv.vault.azure.net/"\n', "")
CI = ["github-actions", "azure-devops", "kubernetes"]
HOSTILE = "q\"$(id)`x` 'a' 100% a: b #c.toml"
"""A manifest name holding what a shell, YAML and cron each take for syntax."""


def render_in(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, manifest: str, *args: str
) -> Result:
    (tmp_path / name).write_text(manifest)
    monkeypatch.chdir(tmp_path)
    return run("render", *args, name)


@pytest.mark.parametrize(
    ("manifest", "shown"),
    [(LOCAL, "names the local store /var/lib/jwks-tool/fleet"), (NO_STORE, "names no store")],
    ids=["local-store", "no-store"],
)
@pytest.mark.parametrize("template", CI)
def test_a_ci_schedule_refuses_a_store_that_dies_with_the_job(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, template: str, manifest: str, shown: str
) -> None:
    result = render_in(run, tmp_path, monkeypatch, "jwks-tool.toml", manifest, template)
    assert result.exit_code == 3
    assert result.stdout == ""
    assert result.stderr == (
        f"jwks-tool: error: the manifest jwks-tool.toml {shown}, which is lost when the {template} job ends (each "
        "run would make a new key and fail at 6 registered keys); name a remote store in the manifest (store = "
        '"https://NAME.vault.azure.net/" or store = "secretsmanager://REGION/PREFIX"), or pass --store-persists if '
        "the job's disk keeps it (a self-hosted runner, a PersistentVolumeClaim)\n"
    )


@pytest.mark.parametrize("template", [*CI, "cron"])
def test_an_aws_store_is_remote(run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, template: str) -> None:
    manifest = LOCAL.replace("/var/lib/jwks-tool/fleet", "secretsmanager://eu-north-1/jwks-tool")
    result = render_in(run, tmp_path, monkeypatch, "jwks-tool.toml", manifest, template)
    assert result.exit_code == 0, result.stderr
    if template != "cron":
        assert f"jwks-tool[aws]=={__version__}" in result.stdout


def test_cron_keeps_a_local_store(run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for manifest in (LOCAL, NO_STORE):
        result = render_in(run, tmp_path, monkeypatch, "jwks-tool.toml", manifest, "cron")
        assert result.exit_code == 0, result.stderr


@pytest.mark.parametrize("template", [*CI, "cron"])
def test_a_memory_store_is_refused_even_when_said_to_persist(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, template: str
) -> None:
    manifest = LOCAL.replace("/var/lib/jwks-tool/fleet", "memory:")
    result = render_in(run, tmp_path, monkeypatch, "jwks-tool.toml", manifest, template, "--store-persists")
    assert result.exit_code == 3
    assert result.stderr == (
        "jwks-tool: error: the manifest's store is memory:, which is gone when the run ends; name a lasting store "
        '(store = "https://NAME.vault.azure.net/" or a folder)\n'
    )


def test_store_persists_targets_a_machine_that_keeps_it(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    actions = render_in(run, tmp_path, monkeypatch, "jwks-tool.toml", LOCAL, "github-actions", "--store-persists")
    assert actions.exit_code == 0, actions.stderr
    assert yaml.safe_load(actions.stdout)["jobs"]["apply"]["runs-on"] == "self-hosted"
    devops = run("render", "azure-devops", "--store-persists", "jwks-tool.toml")
    assert devops.exit_code == 0, devops.stderr
    assert yaml.safe_load(devops.stdout)["pool"] == {"name": "Default"}
    remote = run("render", "github-actions", "--store-persists", "jwks-tool.toml")
    (tmp_path / "jwks-tool.toml").write_text(MANIFEST)
    remote = run("render", "github-actions", "--store-persists", "jwks-tool.toml")
    assert yaml.safe_load(remote.stdout)["jobs"]["apply"]["runs-on"] == "ubuntu-latest"  # a remote store: no need


@pytest.mark.parametrize(
    ("manifest", "mount", "env"),
    [
        (LOCAL, "/var/lib/jwks-tool", []),
        (NO_STORE, "/var/lib/jwks-tool", [{"name": "JWKS_TOOL_STORE", "value": "/var/lib/jwks-tool/store"}]),
    ],
    ids=["local-store", "no-store"],
)
def test_kubernetes_with_a_lasting_store_mounts_its_claim(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, manifest: str, mount: str, env: list[Any]
) -> None:
    result = render_in(run, tmp_path, monkeypatch, "jwks-tool.toml", manifest, "kubernetes", "--store-persists")
    assert result.exit_code == 0, result.stderr
    pod = yaml.safe_load(result.stdout)["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["volumes"][-1] == {"name": "store", "persistentVolumeClaim": {"claimName": "jwks-tool-store"}}
    container = pod["containers"][0]
    assert container["volumeMounts"][-1] == {"name": "store", "mountPath": mount}
    assert container["env"] == [{"name": "HOME", "value": "/tmp"}, *env]


def test_kubernetes_refuses_a_relative_store_for_a_claim(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = LOCAL.replace("/var/lib/jwks-tool/fleet", "state/store")
    result = render_in(run, tmp_path, monkeypatch, "jwks-tool.toml", manifest, "kubernetes", "--store-persists")
    assert result.exit_code == 3
    assert result.stderr == (
        "jwks-tool: error: the manifest's store state/store is not an absolute folder below /, where a "
        'PersistentVolumeClaim could be mounted above it in the pod; name one (store = "/var/lib/jwks-tool/store"), '
        "or leave store out for that one\n"
    )


def fake_jwks_tool(tmp_path: Path) -> dict[str, str]:
    """An environment whose ``jwks-tool`` writes its argv (one per line, NUL-separated) to argv.out and does no more."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "jwks-tool"
    script.write_text('#!/bin/sh\nprintf \'%s\\0\' "$@" > "$ARGV_OUT"\n')
    script.chmod(0o700)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "ARGV_OUT": str(tmp_path / "argv.out")}


def argv_run(tmp_path: Path, command: str, env: dict[str, str]) -> list[str]:
    """Run ``command`` with sh as the job would, and what the (fake) jwks-tool got as argv."""
    subprocess.run(["sh", "-c", command], env=env, check=True, cwd=tmp_path, timeout=30)
    return (tmp_path / "argv.out").read_text().split("\0")[:-1]


def stand_in_jwks_tool(folder: Path, out: Path) -> Path:
    """A ``jwks-tool`` at ``folder``/jwks-tool that writes its argv (NUL-separated) to ``out``/argv.out, its
    ``$JWKS_TOOL_STORE`` (or ``unset``) to ``out``/store.out, a line to stderr, and exits 13."""
    folder.mkdir(parents=True)
    script = folder / "jwks-tool"
    script.write_text(
        "#!/bin/sh\n"
        f"printf '%s\\0' \"$@\" > {shlex.quote(str(out / 'argv.out'))}\n"
        f"printf '%s' \"${{JWKS_TOOL_STORE-unset}}\" > {shlex.quote(str(out / 'store.out'))}\n"
        "echo 'stand-in jwks-tool ran' >&2\n"
        "exit 13\n"
    )
    script.chmod(0o700)
    return script


def as_cron_runs_it(line: str, home: Path) -> subprocess.CompletedProcess[bytes]:
    """Run a crontab line's command as cron does: its own environment (HOME, PATH=/usr/bin:/bin, nothing of
    this shell's), ``/bin/sh -c``, with the ``\\%`` cron turns into ``%``."""
    command = line.split(" ", 5)[5]
    assert "%" not in command.replace("\\%", "")  # cron would cut the line at a bare %
    command = command.replace("\\%", "%")
    env = ["env", "-i", f"HOME={home}", "PATH=/usr/bin:/bin", "/bin/sh", "-c", command]
    return subprocess.run(env, check=False, capture_output=True, cwd="/", timeout=60)


def test_cron_passes_a_hostile_manifest_name_as_one_word(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "sp ace;$(touch PWNED)%x"
    folder.mkdir()
    program = stand_in_jwks_tool(tmp_path / "b'in %d", tmp_path)  # where jwks-tool is installed: quoted too
    monkeypatch.setattr(sys, "argv", [str(program)])
    result = render_in(run, folder, monkeypatch, HOSTILE, LOCAL, "cron")
    assert result.exit_code == 0, result.stderr
    home = tmp_path / "home"
    home.mkdir()
    done = as_cron_runs_it(result.stdout.splitlines()[-1], home)
    assert (done.returncode, done.stdout, done.stderr) == (13, b"", b"")  # apply's status; its output in the log
    assert (tmp_path / "argv.out").read_text().split("\0")[:-1] == [
        "apply",
        "--yes",
        "--manifest",
        HOSTILE,
        "--passphrase-file",
        f"{home}/.config/jwks-tool/passphrase",
        "--cert-passphrase-file",
        f"{home}/.config/jwks-tool/cert-passphrase",
    ]
    assert (tmp_path / "store.out").read_text() == "unset"  # the manifest names its store: nothing to add
    log = home / ".local" / "state" / "jwks-tool-apply.log"
    assert log.read_text() == "stand-in jwks-tool ran\n"
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert stat.S_IMODE(log.parent.stat().st_mode) == stat.S_IMODE(log.parent.parent.stat().st_mode) == 0o700
    assert not (tmp_path / "PWNED").exists()
    assert not (folder / "PWNED").exists()


@pytest.mark.parametrize("given", ["environment", "option"])
def test_cron_carries_the_store_the_environment_names_and_no_passphrase(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, given: str
) -> None:
    program = stand_in_jwks_tool(tmp_path / "bin", tmp_path)
    monkeypatch.setattr(sys, "argv", [str(program)])
    (tmp_path / "jwks-tool.toml").write_text(NO_STORE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("JWKS_TOOL_STORE", "stores/my 'fleet'")  # relative: made absolute, as apply here would
    args = ["--store", "stores/my 'fleet'"] if given == "option" else []
    if given == "option":
        monkeypatch.setenv("JWKS_TOOL_STORE", str(tmp_path / "another"))
    result = run("render", "cron", *args, "jwks-tool.toml")
    assert result.exit_code == 0, result.stderr
    assert PASSPHRASE not in result.stdout  # the test environment's $JWKS_TOOL_PASSPHRASE stays out of it
    assert f"# The store: {tmp_path}/stores/my 'fleet' (the manifest names none: the line sets JWKS_TOOL_STORE)." in (
        result.stdout
    )
    home = tmp_path / "home"
    home.mkdir()
    done = as_cron_runs_it(result.stdout.splitlines()[-1], home)
    assert (done.returncode, done.stderr) == (13, b"")
    assert (tmp_path / "store.out").read_text() == f"{tmp_path}/stores/my 'fleet'"
    assert (tmp_path / "argv.out").read_text().split("\0")[:3] == ["apply", "--yes", "--manifest"]


@pytest.mark.parametrize("given", ["~/fleet store", "file:~/fleet store"])
def test_cron_expands_a_tilde_in_the_store_as_jwks_tool_by_hand_does(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, given: str
) -> None:
    """review12d: JWKS_TOOL_STORE='~/x' became <manifest dir>/~/x on the line, while jwks-tool by hand opens $HOME/x."""
    program = stand_in_jwks_tool(tmp_path / "bin", tmp_path)
    monkeypatch.setattr(sys, "argv", [str(program)])
    (tmp_path / "jwks-tool.toml").write_text(NO_STORE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "me"))
    monkeypatch.setenv("JWKS_TOOL_STORE", given)
    result = run("render", "cron", "jwks-tool.toml")
    assert result.exit_code == 0, result.stderr
    store = f"{tmp_path}/me/fleet store"
    assert f"# The store: {store} (the manifest names none: the line sets JWKS_TOOL_STORE)." in result.stdout
    home = tmp_path / "home"
    home.mkdir()
    done = as_cron_runs_it(result.stdout.splitlines()[-1], home)
    assert (done.returncode, done.stderr) == (13, b"")
    assert (tmp_path / "store.out").read_text() == store


def test_cron_runs_the_real_jwks_tool_on_the_store_it_was_rendered_with(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The console script beside this Python (an in-process render), found with cron's PATH, reading the store
    named only in the rendering shell's environment, with the passphrase from the file the line names."""
    (tmp_path / "jwks-tool.toml").write_text(
        '[[clients]]\nname = "invoice-sync"\nenv = "test"\nclient_id = "c-1"\nscopes = ["altinn:x"]\n'
        'register = "manual"\n'
    )
    monkeypatch.chdir(tmp_path)
    store = tmp_path / "fleet store"
    monkeypatch.setenv("JWKS_TOOL_STORE", str(store))
    made = run("generate", "invoice-sync", "--env", "test")
    assert made.exit_code == 0, made.stderr
    result = run("render", "cron", "jwks-tool.toml")
    assert result.exit_code == 0, result.stderr
    line = result.stdout.splitlines()[-1]
    program = os.path.join(os.path.dirname(os.path.abspath(sys.executable)), "jwks-tool")
    assert f" {shlex.quote(program)} apply --yes " in line
    home = tmp_path / "home"
    (home / ".config" / "jwks-tool").mkdir(parents=True)
    (home / ".config" / "jwks-tool" / "passphrase").write_text(PASSPHRASE + "\n")
    (home / ".config" / "jwks-tool" / "passphrase").chmod(0o600)
    # plan --offline instead of apply: the same program, store and passphrase, and no network
    done = as_cron_runs_it(line.replace(" apply --yes ", " plan --offline "), home)
    log = (home / ".local" / "state" / "jwks-tool-apply.log").read_text()
    assert done.returncode == 11, log  # changes due: the manual registration of the key it found
    assert "invoice-sync (test)  manual    register invoice-sync-test-" in log  # the default store has no key


def test_github_actions_passes_a_hostile_manifest_name_as_one_word(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = MANIFEST.replace('"virksomhet-prod.p12"', '"c\'e rts/$(id)/v.p12"')
    result = render_in(run, tmp_path, monkeypatch, HOSTILE, manifest, "github-actions")
    assert result.exit_code == 0, result.stderr
    steps = yaml.safe_load(result.stdout)["jobs"]["apply"]["steps"]
    apply = next(step for step in steps if step.get("name") == "jwks-tool apply")["run"]
    assert shlex.split(apply) == [
        "jwks-tool",
        "apply",
        "--yes",
        "--credential",
        "cli",
        "--manifest",
        HOSTILE,
        "--summary",
        "$GITHUB_STEP_SUMMARY",
    ]
    env = {**fake_jwks_tool(tmp_path), "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md")}
    assert argv_run(tmp_path, apply, env)[4:] == ["--manifest", HOSTILE, "--summary", str(tmp_path / "summary.md")]
    write = next(step for step in steps if step.get("name") == "business certificate (prod)")["run"]
    env["JWKS_TOOL_CERT_P12_PROD"] = base64.b64encode(b"p12 bytes").decode()
    subprocess.run(["bash", "-c", write], env=env, check=True, cwd=tmp_path, timeout=30)
    written = tmp_path / "c'e rts" / "$(id)" / "v.p12"
    assert written.read_bytes() == b"p12 bytes"
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert stat.S_IMODE(written.parent.stat().st_mode) == stat.S_IMODE(written.parent.parent.stat().st_mode) == 0o700
    remove = steps[-1]["run"]
    subprocess.run(["bash", "-c", remove], env=env, check=True, cwd=tmp_path, timeout=30)
    assert not written.exists()


def test_azure_devops_writes_the_certificate_into_a_new_folder_and_quotes_the_manifest(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = "q\"`x` 'a' 100% a: b #c.toml"
    manifest = MANIFEST.replace('"virksomhet-prod.p12"', '"certs/virksomhet prod.p12"')
    result = render_in(run, tmp_path, monkeypatch, name, manifest, "azure-devops")
    assert result.exit_code == 0, result.stderr
    pipeline = yaml.safe_load(result.stdout)
    script = pipeline["steps"][-2]["inputs"]["inlineScript"].splitlines()[0]
    assert shlex.split(script)[:7] == ["jwks-tool", "apply", "--yes", "--credential", "cli", "--manifest", name]
    copy = next(step["script"] for step in pipeline["steps"] if "install -m 600" in step.get("script", ""))
    (tmp_path / "secure.p12").write_bytes(b"p12 bytes")
    copy = copy.replace("$(certificateProd.secureFilePath)", str(tmp_path / "secure.p12"))  # Azure's macro
    subprocess.run(["bash", "-c", copy], check=True, cwd=tmp_path, timeout=30)
    written = tmp_path / "certs" / "virksomhet prod.p12"
    assert written.read_bytes() == b"p12 bytes"
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert stat.S_IMODE(written.parent.stat().st_mode) == 0o700


@pytest.mark.parametrize(
    ("template", "name", "marker"),
    [("azure-devops", "$(System.AccessToken).toml", "$("), ("github-actions", "${{ github.token }}.toml", "${{")],
)
def test_a_name_the_platform_would_expand_is_refused(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, template: str, name: str, marker: str
) -> None:
    result = render_in(run, tmp_path, monkeypatch, name, MANIFEST, template)
    assert result.exit_code == 3
    assert result.stderr == (
        f"jwks-tool: error: the manifest's path {name} holds {marker}, which {template} expands before the shell; "
        "rename it, then render again\n"
    )


@pytest.mark.parametrize("template", [*CI, "cron"])
def test_a_manifest_name_with_a_newline_is_refused(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, template: str
) -> None:
    result = render_in(run, tmp_path, monkeypatch, "fleet\nrm -rf ~.toml", MANIFEST, template)
    assert result.exit_code == 3
    assert result.stderr == (
        "jwks-tool: error: the manifest's path fleet\\x0arm -rf ~.toml holds a control character (a newline, an "
        "escape, a tab); rename it, then render again\n"
    )


def test_the_kubernetes_commands_quote_a_hostile_manifest_name(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = render_in(run, tmp_path, monkeypatch, HOSTILE, MANIFEST, "kubernetes")
    assert result.exit_code == 0, result.stderr
    yaml.safe_load(result.stdout)
    line = next(line for line in result.stdout.splitlines() if "create configmap" in line)
    assert shlex.split(line.removeprefix("# ")) == [
        "kubectl",
        "create",
        "configmap",
        "jwks-tool-manifest",
        f"--from-file=jwks-tool.toml={HOSTILE}",
    ]


@pytest.mark.parametrize("template", CI)
def test_the_installed_jwks_tool_is_pinned_to_the_rendering_version(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, template: str
) -> None:
    text = render_in(run, tmp_path, monkeypatch, "jwks-tool.toml", MANIFEST, template).stdout
    installs = [line for line in text.splitlines() if "pip install" in line and not line.startswith("#")]
    assert len(installs) == 1
    assert f"jwks-tool=={__version__}" in installs[0]
    assert "--require-hashes" in text


LOCAL_DELIVERIES = (
    MANIFEST
    + """
[[clients.deliver]]
to = "keyvault"
vault = "https://app-kv.vault.azure.net/"
for = "apiclient"

[[clients.deliver]]
to = "dotenv"
out = "demo.env"
for = "pymaskinporten"

[[clients.deliver]]
to = "kubernetes"
secret_name = "demo"
out = "OUT"
allow_outside = true
for = "nais"

[[clients.deliver]]
to = "file"
out = "demofiles"
for = "altinn-app"
"""
)
"""A remote store, one remote delivery and three to local files (``OUT``: the kubernetes delivery's file)."""


@pytest.mark.parametrize("template", ["github-actions", "azure-devops"])
def test_a_ci_schedule_refuses_deliveries_to_files_the_job_loses(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, template: str
) -> None:
    manifest = LOCAL_DELIVERIES.replace("OUT", "/var/run/jwks/demo-secret.yaml")
    result = render_in(run, tmp_path, monkeypatch, "jwks-tool.toml", manifest, template)
    assert (result.exit_code, result.stdout) == (3, "")
    assert result.stderr == (
        "jwks-tool: error: the manifest jwks-tool.toml delivers invoice-sync (prod) to dotenv demo.env (and 2 more "
        f"local files), which the {template} job writes to its own disk and loses when it ends (nothing keeps or "
        'applies it; each run writes it again); deliver to a remote destination instead (to = "keyvault" or to = '
        '"aws"), or pass --store-persists if the job\'s disk keeps it (a self-hosted runner)\n'
    )
    kept = run("render", template, "--store-persists", "jwks-tool.toml")
    assert kept.exit_code == 0, kept.stderr
    remote = LOCAL_DELIVERIES.split('\n[[clients.deliver]]\nto = "dotenv"')[0]  # the keyvault delivery only
    (tmp_path / "jwks-tool.toml").write_text(remote)
    assert run("render", template, "jwks-tool.toml").exit_code == 0


@pytest.mark.parametrize("store_persists", [False, True], ids=["plain", "store-persists"])
def test_kubernetes_refuses_deliveries_into_its_read_only_manifest_folder(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store_persists: bool
) -> None:
    manifest = LOCAL_DELIVERIES.replace("OUT", "../demo-secret.yaml")  # /etc/demo-secret.yaml in the pod
    args = ["--store-persists"] if store_persists else []
    result = render_in(run, tmp_path, monkeypatch, "jwks-tool.toml", manifest, "kubernetes", *args)
    assert (result.exit_code, result.stdout) == (3, "")
    assert result.stderr == (
        "jwks-tool: error: the manifest jwks-tool.toml delivers invoice-sync (prod) to dotenv demo.env (and 2 more "
        "local files), relative to the manifest's folder, which in the CronJob is the read-only ConfigMap mount "
        '/etc/jwks-tool; deliver to a remote destination instead (to = "keyvault" or to = "aws"), apply a '
        "kubernetes delivery's Secret another way (a pipeline that runs deliver and kubectl apply), or give an "
        "absolute out (with allow_outside = true) on a volume the pod mounts writable\n"
    )


def test_kubernetes_refuses_a_delivery_to_an_absolute_path_unless_it_is_on_a_claim(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """review12d S2': an absolute out was rendered silently (exit 0), written to the pod's own disk and lost with it."""
    manifest = LOCAL_DELIVERIES.replace("OUT", "/var/run/jwks/demo-secret.yaml")
    result = render_in(run, tmp_path, monkeypatch, "jwks-tool.toml", manifest, "kubernetes")
    assert result.exit_code == 3
    assert result.stderr.startswith(
        "jwks-tool: error: the manifest jwks-tool.toml delivers invoice-sync (prod) to dotenv demo.env (and 1 more "
        "local file), relative"
    )
    only_absolute = manifest.replace('out = "demo.env"', 'out = "/run/a.env"\nallow_outside = true')
    only_absolute = only_absolute.replace('out = "demofiles"', 'out = "/run/files"\nallow_outside = true')
    (tmp_path / "jwks-tool.toml").write_text(only_absolute)
    result = run("render", "kubernetes", "jwks-tool.toml")
    assert (result.exit_code, result.stdout) == (3, "")
    assert result.stderr == (
        "jwks-tool: error: the manifest jwks-tool.toml delivers invoice-sync (prod) to dotenv /run/a.env (and 2 more "
        "local files), which the CronJob's pod writes to its own disk and loses when it ends (nothing keeps or "
        'applies it; each run writes it again); deliver to a remote destination instead (to = "keyvault" or to = '
        '"aws"), or put it on a PersistentVolumeClaim the pod mounts and pass --store-persists\n'
    )
    result = run("render", "kubernetes", "--store-persists", "jwks-tool.toml")
    assert result.exit_code == 0, result.stderr
    assert (
        "# --store-persists: apply writes these deliveries in the pod, where its own disk is lost when the pod ends; "
        "each\n#   path must be on a PersistentVolumeClaim mounted writable there (add it to volumeMounts and volumes "
        'below):\n#   /run/a.env (invoice-sync (prod), to = "dotenv"): mount a claim above it\n'
        '#   /var/run/jwks/demo-secret.yaml (invoice-sync (prod), to = "kubernetes"): mount a claim above it\n'
        '#   /run/files (invoice-sync (prod), to = "file"): mount a claim above it\n'
    ) in result.stdout
    yaml.safe_load(result.stdout)


def test_kubernetes_says_which_absolute_delivery_is_on_the_stores_claim(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = NO_STORE + '\n[[clients.deliver]]\nto = "dotenv"\nout = "/var/lib/jwks-tool/app.env"\n'
    manifest += 'allow_outside = true\nfor = "pymaskinporten"\n'
    result = render_in(run, tmp_path, monkeypatch, "jwks-tool.toml", manifest, "kubernetes", "--store-persists")
    assert result.exit_code == 0, result.stderr
    assert (
        '#   /var/lib/jwks-tool/app.env (invoice-sync (prod), to = "dotenv"): on the claim jwks-tool-store\n'
    ) in result.stdout


def test_cron_takes_deliveries_to_files(run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = render_in(run, tmp_path, monkeypatch, "jwks-tool.toml", LOCAL_DELIVERIES.replace("OUT", "s.yaml"), "cron")
    assert result.exit_code == 0, result.stderr


def test_cron_names_python_m_jwks_tool_when_no_console_script_runs_it(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    python = tmp_path / "py thon" / "bin" / "python3"  # no jwks-tool beside it
    python.parent.mkdir(parents=True)
    python.write_text("")
    monkeypatch.setattr(sys, "executable", str(python))
    monkeypatch.setattr(sys, "argv", ["/srv/venv/lib/python3.12/site-packages/jwks_tool/__main__.py"])
    result = render_in(run, tmp_path, monkeypatch, "jwks-tool.toml", LOCAL, "cron")
    assert result.exit_code == 0, result.stderr
    line = result.stdout.splitlines()[-1]
    assert f" && '{python}' -m jwks_tool apply --yes --manifest jwks-tool.toml " in line
