"""Key Vault errors name what failed and a fix the command actually has, in one line on stderr.

The CLI runs as a real process (Python's last-resort logging prints to the process's stderr, which pytest's own log
capture would hide in-process), with the real Azure SDK against the Key Vault-compatible server.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from tests.conftest import PASSPHRASE
from tests.servers.keyvault import KeyVaultServer

pytestmark = pytest.mark.integration
Run = Callable[..., Result]
AZURE_VARIABLES = ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_FEDERATED_TOKEN_FILE")


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jwks_tool", *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture
def env(vault: KeyVaultServer, tmp_path: Path) -> dict[str, str]:
    """The process environment: a local store with one set, the vault's managed identity, no AZURE_* variables."""
    values = {k: v for k, v in os.environ.items() if k not in AZURE_VARIABLES and not k.startswith("JWKS_TOOL_")}
    values.update(vault.identity_env())
    values.update(JWKS_TOOL_STORE=str(tmp_path / "store"), JWKS_TOOL_PASSPHRASE=PASSPHRASE)
    assert cli("generate", "acme", "--size", "2048", env=values).returncode == 0
    return values


def status(vault: KeyVaultServer, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    return cli("keyvault", "status", "acme", "--vault", vault.url, "--ca-bundle", vault.ca_path, *extra, env=env)


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("jwks-tool: error: "), result.stderr
    return result.stderr


@pytest.mark.parametrize("credential", [[], ["--credential", "managed-identity"]])
def test_a_failing_identity_endpoint_is_named_not_the_vault(
    vault: KeyVaultServer, env: dict[str, str], credential: list[str]
) -> None:
    vault.faults.add("error", status=500, count=None, path="/msi/.*")
    result = status(vault, env, *credential)
    assert result.returncode == 10
    line = one_line(result)
    endpoint = env["IDENTITY_ENDPOINT"]
    assert f"the managed identity endpoint {endpoint} failed (" in line
    assert line.endswith(
        "; check IDENTITY_ENDPOINT and IDENTITY_HEADER (App Service, Functions) or that this machine has a managed "
        "identity, or use another --credential\n"
    )
    assert ("DefaultAzureCredential: " in line) == (not credential)
    assert "cannot be reached" not in line


@pytest.mark.parametrize("credential", [[], ["--credential", "managed-identity"]])
def test_an_identity_endpoint_on_a_closed_port_is_named(
    vault: KeyVaultServer, env: dict[str, str], credential: list[str]
) -> None:
    env["IDENTITY_ENDPOINT"] = "http://127.0.0.1:9/msi/token"
    result = status(vault, env, *credential)
    assert result.returncode == 10
    line = one_line(result)
    assert "the managed identity endpoint http://127.0.0.1:9/msi/token failed (" in line
    assert "Connection refused" in line
    assert "cannot be reached" not in line
    assert not any(r.path.startswith("/secrets") and r.status == 200 for r in vault.requests)


def test_no_way_to_sign_in_is_one_line_naming_the_choices(vault: KeyVaultServer, env: dict[str, str]) -> None:
    del env["IDENTITY_ENDPOINT"], env["IDENTITY_HEADER"]
    env["PATH"] = "/nonexistent"  # no az, azd or pwsh to ask
    line = one_line(status(vault, env))
    assert line == (
        "jwks-tool: error: cannot read the secret MaskinportenSettings--EncodedJwk: DefaultAzureCredential found no "
        "way to sign in (no az login, no AZURE_* variables, no managed identity); run `az login`, set "
        "AZURE_TENANT_ID/AZURE_CLIENT_ID/AZURE_CLIENT_SECRET, or run where a managed identity is "
        "(IDENTITY_ENDPOINT); --credential picks one\n"
    )


@pytest.mark.parametrize(
    ("credential", "expected"),
    [
        ("cli", "Azure CLI sign-in failed (Azure CLI not found on path); run `az login` (or use another --credential)"),
        ("environment", "the AZURE_* variables did not sign in ("),
    ],
)
def test_each_credential_is_named_when_it_fails(
    vault: KeyVaultServer, env: dict[str, str], credential: str, expected: str
) -> None:
    env["PATH"] = "/nonexistent"
    line = one_line(status(vault, env, "--credential", credential))
    assert f"cannot read the secret MaskinportenSettings--EncodedJwk: {expected}" in line


def test_minus_v_shows_what_the_sdk_said(vault: KeyVaultServer, env: dict[str, str]) -> None:
    env["IDENTITY_ENDPOINT"] = "http://127.0.0.1:9/msi/token"
    result = cli("-v", "keyvault", "status", "acme", "--vault", vault.url, "--ca-bundle", vault.ca_path, env=env)
    assert result.returncode == 10
    assert "DefaultAzureCredential failed to retrieve a token" in result.stderr
    assert "Traceback" in result.stderr


def test_a_store_url_hint_names_the_store_url_option(
    run: Run, make_vault: Callable[..., KeyVaultServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``list`` has no --no-verify-challenge-resource: on a store URL the fix is the URL's own option."""
    vault = make_vault()  # its challenge names https://vault.azure.net, as Azure's does
    for name, value in vault.identity_env().items():
        monkeypatch.setenv(name, value)
    url = f"{vault.url}?store=keyvault&credential=managed-identity&ca_bundle={vault.ca_path}"
    result = run("list", "--store", url)
    assert result.exit_code == 10
    assert result.stderr == (
        "jwks-tool: error: cannot read the store configuration: the vault's authentication challenge names another "
        "resource; for emulators and private endpoints put verify_challenge_resource=false in the store URL\n"
    )
    fixed = run("list", "--store", url + "&verify_challenge_resource=false")
    assert fixed.exit_code == 6  # reached: an empty vault holds no store (yet)
    assert fixed.stderr.startswith("jwks-tool: error: there is no key store at ")


def test_a_command_option_hint_names_the_option(
    run: Run, make_vault: Callable[..., KeyVaultServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    vault = make_vault()
    for name, value in vault.identity_env().items():
        monkeypatch.setenv(name, value)
    assert run("generate", "acme", "--size", "2048").exit_code == 0
    args = ["keyvault", "status", "acme", "--vault", vault.url, "--ca-bundle", vault.ca_path]
    result = run(*args)
    assert result.exit_code == 10
    assert result.stderr.endswith(
        "the vault's authentication challenge names another resource; for emulators and private endpoints pass "
        "--no-verify-challenge-resource\n"
    )
    fixed = run(*args, "--no-verify-challenge-resource")  # reaches the vault, which holds no secret yet
    assert "challenge" not in fixed.stderr
    assert any(r.path.startswith("/secrets/MaskinportenSettings--EncodedJwk") for r in vault.requests)


def test_an_unreachable_store_vault_names_the_store_url_option(run: Run) -> None:
    result = run("list", "--store", "https://127.0.0.1:9/?store=keyvault&credential=managed-identity&retry_total=0")
    assert result.exit_code == 10
    assert result.stderr.startswith(
        "jwks-tool: error: cannot read the store configuration: the vault https://127.0.0.1:9/ cannot be reached ("
    )
    assert result.stderr.endswith(
        "; check the vault URL, your network or proxy, and ca_bundle= in the store URL for private endpoints\n"
    )
