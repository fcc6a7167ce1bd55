"""Run jwks-tool with a crash point, for the crash-safety tests only: ``python tests/faultrunner.py ARGS...``.

``JWKS_TOOL_TEST_CRASH_AT`` names the point at which the process SIGKILLs itself; the shipped package has no such
hook (tests/integration/test_trust_store.py::test_the_package_ships_no_crash_hook):

- ``before-rename``: a store file's temp file is written and fsynced, but not yet renamed over the file
- ``set-written``: a key set was written (before the audit append)
- ``fleet-effect``: ``apply`` made its Nth change outside the store or in it (``JWKS_TOOL_TEST_CRASH_AFTER`` = N):
  a key generated or started, a registered set PUT, a token got, a promote, a Key Vault write, a finish; killed
  right after it, before its audit event

``JWKS_TOOL_TEST_CLOCK_OFFSET`` (seconds) moves the fleet's clock, as the simulated clock of the tests does (the
Maskinporten test server is given the same offset by the test).
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

CRASH_AT = "JWKS_TOOL_TEST_CRASH_AT"
RUNNER = Path(__file__).resolve()
POINTS = ("before-rename", "set-written", "fleet-effect")
CRASH_AFTER = "JWKS_TOOL_TEST_CRASH_AFTER"
CLOCK_OFFSET = "JWKS_TOOL_TEST_CLOCK_OFFSET"


def command(args: tuple[str, ...] | list[str], env: dict[str, str]) -> list[str]:
    """The command line that runs ``jwks-tool ARGS``: through this runner when ``env`` names a crash point."""
    if env.get(CRASH_AT) or env.get(CLOCK_OFFSET):
        return [sys.executable, str(RUNNER), *args]
    return [sys.executable, "-m", "jwks_tool", *args]


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def install(point: str) -> None:
    from jwks_tool.stores.file import FileStore

    if point == "before-rename":
        real_replace = os.replace

        def replace(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
            if os.path.basename(os.fspath(src)).endswith(".tmp"):  # atomic_write's temp file
                _die()
            real_replace(src, dst, *args, **kwargs)

        os.replace = replace
    elif point == "set-written":
        real_write = FileStore.write_set

        def write_set(self: FileStore, *args: Any, **kwargs: Any) -> Any:
            stored = real_write(self, *args, **kwargs)
            _die()
            return stored

        FileStore.write_set = write_set  # type: ignore[method-assign]
    elif point == "fleet-effect":
        _install_fleet_effects(int(os.environ.get(CRASH_AFTER, "1")))
    else:
        raise SystemExit(f"faultrunner: unknown crash point {point!r} (known: {', '.join(POINTS)})")


def _install_fleet_effects(after: int) -> None:
    from jwks_tool.services.fleet import adapters
    from jwks_tool.services.key_service import KeyService
    from jwks_tool.services.rotation import Rotation

    done = [0]
    depth = [0]  # a step inside a step (start generates a key) counts once, when the outer one returns

    def counted(owner: Any, name: str) -> None:
        real = getattr(owner, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            depth[0] += 1
            try:
                result = real(*args, **kwargs)
            finally:
                depth[0] -= 1
            if depth[0] == 0:
                done[0] += 1
                if done[0] == after:
                    _die()
            return result

        setattr(owner, name, wrapper)

    for owner, name in (
        (KeyService, "generate"),
        (Rotation, "start"),
        (Rotation, "promote"),
        (Rotation, "finish"),
        (adapters.PortalRegistrar, "put"),
        (adapters.TokenProver, "prove"),
        (adapters.KeyVaultDeliverer, "deliver"),
    ):
        counted(owner, name)


def _install_clock(offset: float) -> None:
    from datetime import timedelta

    from jwks_tool.core.model import utcnow
    from jwks_tool.services.fleet import ports

    ports.SystemClock.now = lambda self: (utcnow() + timedelta(seconds=offset)).replace(microsecond=0)  # type: ignore[method-assign]
    ports.SystemClock.sleep = lambda self, seconds, stop=None: None  # type: ignore[method-assign]


def main() -> None:
    if os.environ.get(CLOCK_OFFSET):
        _install_clock(float(os.environ[CLOCK_OFFSET]))
    point = os.environ.get(CRASH_AT, "")
    if point:
        install(point)
    from jwks_tool.cli.main import main as cli_main

    sys.argv = ["jwks-tool", *sys.argv[1:]]
    cli_main()


if __name__ == "__main__":
    main()
