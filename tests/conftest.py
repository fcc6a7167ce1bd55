"""Shared fixtures: an isolated store and passphrase per test, a CLI runner, fixed RFC keys, golden files."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from jwks_tool.cli.main import cli
from tests.servers.keyvault import KeyVaultServer

HERE = Path(__file__).parent
DATA = HERE / "data"
GOLDEN = HERE / "golden"
PASSPHRASE = "test passphrase 1"
FIXED_NOW = datetime(2026, 1, 15, 9, 30, 0, tzinfo=UTC)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-goldens", action="store_true", help="Rewrite tests/golden/* from the current output.")


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test touches the user's real store or inherits their passphrases."""
    for name in list(os.environ):
        if name.startswith("JWKS_TOOL_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("JWKS_TOOL_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("JWKS_TOOL_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def run() -> Callable[..., Result]:
    """Run the CLI in-process: run("generate", "acme", input=..., env=...)."""
    runner = CliRunner()

    def invoke(*args: str, input: str | bytes | None = None, env: dict[str, str] | None = None) -> Result:
        return runner.invoke(cli, list(args), input=input, env=env, catch_exceptions=False)

    return invoke


@pytest.fixture
def fixed_now(monkeypatch: pytest.MonkeyPatch) -> datetime:
    """Freeze the clocks of the service (creation times, kids) and of inspect (expiry lint) at FIXED_NOW."""
    monkeypatch.setattr("jwks_tool.services.key_service.utcnow", lambda: FIXED_NOW)
    monkeypatch.setattr("jwks_tool.services.inspecting.utcnow", lambda: FIXED_NOW)
    return FIXED_NOW


def load_json(name: str) -> Any:
    return json.loads((DATA / name).read_text())


@pytest.fixture
def rfc7517_rsa() -> dict[str, Any]:
    """The RSA private key of RFC 7517 Appendix A.2 (kid 2011-04-29)."""
    return dict(load_json("rfc7517-a2-rsa-private.json"))


@pytest.fixture
def rfc7517_ec() -> dict[str, Any]:
    """The EC P-256 private key of RFC 7517 Appendix A.2 (kid 1)."""
    return dict(load_json("rfc7517-a2-ec-private.json"))


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Callable[[str, str], None]:
    """golden("name.txt", text): compare with tests/golden/name.txt (or rewrite it with --update-goldens)."""
    update = bool(request.config.getoption("--update-goldens"))

    def check(name: str, text: str) -> None:
        path = GOLDEN / name
        if update:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        assert path.exists(), f"no golden file {path}; run pytest --update-goldens once and review it"
        assert text == path.read_text(), f"{name} differs from the golden file (pytest --update-goldens to accept)"

    return check


# ---- the Key Vault-compatible server ------------------------------------------------------------------------------
_USED_PORTS: set[int] = set()
"""Each Azure SDK package caches challenges per host:port for the life of the process: never reuse a port."""


def _fresh_server(**kwargs: Any) -> KeyVaultServer:
    rejected: list[KeyVaultServer] = []
    try:
        for _ in range(20):
            server = KeyVaultServer(**kwargs).start()
            if server.port not in _USED_PORTS:
                _USED_PORTS.add(server.port)
                return server
            rejected.append(server)  # keep it bound so the next start gets another port
    finally:
        for server in rejected:
            server.close()
    raise RuntimeError("could not get a fresh port")


@pytest.fixture
def make_vault() -> Iterator[Callable[..., KeyVaultServer]]:
    """make_vault(**KeyVaultServer options): a started server on a port no earlier server in this process used."""
    servers: list[KeyVaultServer] = []

    def factory(**kwargs: Any) -> KeyVaultServer:
        server = _fresh_server(**kwargs)
        servers.append(server)
        return server

    yield factory
    for server in servers:
        server.close()


@pytest.fixture
def vault(make_vault: Callable[..., KeyVaultServer]) -> KeyVaultServer:
    return make_vault(resource_matches_host=True)
