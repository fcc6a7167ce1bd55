"""doctor: a correct verdict on a healthy set and on each broken variant (real Key Vault and Maskinporten servers)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import Result

from tests.servers.keyvault import KeyVaultServer
from tests.servers.maskinporten import MaskinportenServer

pytestmark = pytest.mark.integration
Run = Callable[..., Result]


@pytest.fixture
def mp() -> Iterator[MaskinportenServer]:
    with MaskinportenServer() as server:
        yield server


@pytest.fixture
def kv(vault: KeyVaultServer, monkeypatch: pytest.MonkeyPatch) -> KeyVaultServer:
    for name, value in vault.identity_env().items():
        monkeypatch.setenv(name, value)
    return vault


@pytest.fixture
def bundle(tmp_path: Path, kv: KeyVaultServer, mp: MaskinportenServer) -> str:
    """One CA bundle for both test servers (as a private CA bundle would be)."""
    path = tmp_path / "cas.pem"
    path.write_text(Path(kv.ca_path).read_text() + Path(mp.ca_path).read_text())
    return str(path)


def outcomes(run: Run, *args: str) -> tuple[int, dict[str, str]]:
    result = run("doctor", "acme", *args, "--json")
    data = json.loads(result.stdout)
    return result.exit_code, {check["check"]: check["outcome"] for check in data["checks"]}


def healthy(run: Run, tmp_path: Path, kv: KeyVaultServer, mp: MaskinportenServer, bundle: str) -> list[str]:
    assert run("generate", "acme", "--size", "2048").exit_code == 0
    jwks = run("export", "acme", "--format", "jwks").output
    (tmp_path / "registered.json").write_text(jwks)
    mp.register_client("client-1", ["altinn:x"], json.loads(jwks))
    azure = ["--credential", "managed-identity", "--ca-bundle", bundle]
    assert run("keyvault", "push", "acme", "--vault", kv.url, "--for", "apiclient", *azure).exit_code == 0
    return [
        "--registered",
        str(tmp_path / "registered.json"),
        "--vault",
        kv.url,
        "--client-id",
        "client-1",
        "--scope",
        "altinn:x",
        "--token-url",
        mp.token_url,
        *azure,
    ]


def test_healthy_set(run: Run, tmp_path: Path, kv: KeyVaultServer, mp: MaskinportenServer, bundle: str) -> None:
    args = healthy(run, tmp_path, kv, mp, bundle)
    code, checks = outcomes(run, *args)
    assert checks == {
        "active-key": "ok",
        "lint": "ok",
        "expiry": "ok",
        "registered": "ok",
        "keyvault": "ok",
        "grant": "ok",
        "token": "ok",
    }
    assert code == 0
    text = run("doctor", "acme", *args).output
    assert text.splitlines()[-1] == "Healthy."


def test_offline_doctor_skips_what_it_cannot_check(run: Run) -> None:
    assert run("generate", "acme", "--size", "2048").exit_code == 0
    code, checks = outcomes(run)
    assert checks["registered"] == checks["keyvault"] == checks["token"] == "skip"
    assert checks["grant"] == "ok"
    assert code == 0
    with_client = json.loads(run("doctor", "acme", "--client-id", "demo-client", "--json").stdout)["checks"]
    assert next(c for c in with_client if c["check"] == "registered")["detail"] == (
        "no registered set given (--registered FILE, or --api-url with --client-id)"
    )


@pytest.mark.parametrize("broken", ["unregistered", "stale-vault", "expiring", "no-scope", "no-active", "wrong-key"])
def test_each_broken_variant(
    run: Run, tmp_path: Path, kv: KeyVaultServer, mp: MaskinportenServer, bundle: str, store_dir: Path, broken: str
) -> None:
    args = healthy(run, tmp_path, kv, mp, bundle)
    expected = {
        "unregistered": ("registered", "fail"),
        "stale-vault": ("keyvault", "fail"),
        "expiring": ("expiry", "warn"),
        "no-scope": ("token", "fail"),
        "no-active": ("active-key", "fail"),
        "wrong-key": ("grant", "fail"),
    }[broken]
    if broken == "unregistered":
        (tmp_path / "registered.json").write_text('{"keys": []}')
        mp.set_client_jwks("client-1", {"keys": []})
    elif broken == "stale-vault":
        assert run("rotate", "acme", "--all-steps", "--overlap", "0").exit_code == 0
        (tmp_path / "registered.json").write_text(run("export", "acme", "--format", "jwks").output)
        mp.set_client_jwks("client-1", json.loads(run("export", "acme", "--format", "jwks").output))
    elif broken == "expiring":
        args += ["--warn", "400d"]
    elif broken == "no-scope":
        args = [a if a != "altinn:x" else "altinn:other" for a in args]
    elif broken == "no-active":
        kid = json.loads(run("show", "acme", "--json").output)["active"]
        assert run("revoke", "acme", "--kid", kid, "--reason", "test").exit_code == 0
    elif broken == "wrong-key":
        path = store_dir / "sets" / "test" / "acme.json"
        document = json.loads(path.read_text())
        assert run("generate", "other", "--size", "2048").exit_code == 0
        other = json.loads(run("export", "other").output)
        document["keys"][0]["public_jwk"]["n"] = other["n"]
        path.write_text(json.dumps(document))
        refused = run("doctor", "acme")  # a public JWK that no longer matches its thumbprint is refused at once
        assert (refused.exit_code, refused.stderr.count("\n")) == (5, 1), refused.stderr
        assert "does not match its thumbprint" in refused.stderr
        document["keys"][0]["thumbprint"] = json.loads(run("show", "other", "--json").output)["keys"][0]["thumbprint"]
        path.write_text(json.dumps(document))  # consistent, but not the sealed private half's public key
    code, checks = outcomes(run, *args)
    name, outcome = expected
    assert checks[name] == outcome, checks
    assert code == (1 if outcome == "warn" else 2)
    others = {k: v for k, v in checks.items() if k != name and v not in ("skip",)}
    if broken not in ("no-active", "wrong-key", "unregistered"):
        assert set(others.values()) == {"ok"}, checks
