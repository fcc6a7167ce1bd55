"""Run jwks-tool with a crash point, for the crash-safety tests only: ``python tests/faultrunner.py ARGS...``.

``JWKS_TOOL_TEST_CRASH_AT`` names the point at which the process SIGKILLs itself; the shipped package has no such
hook (tests/integration/test_trust_store.py::test_the_package_ships_no_crash_hook):

- ``before-rename``: a store file's temp file is written and fsynced, but not yet renamed over the file
- ``set-written``: a key set was written (before the audit append)
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

CRASH_AT = "JWKS_TOOL_TEST_CRASH_AT"
RUNNER = Path(__file__).resolve()
POINTS = ("before-rename", "set-written")


def command(args: tuple[str, ...] | list[str], env: dict[str, str]) -> list[str]:
    """The command line that runs ``jwks-tool ARGS``: through this runner when ``env`` names a crash point."""
    if env.get(CRASH_AT):
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
    else:
        raise SystemExit(f"faultrunner: unknown crash point {point!r} (known: {', '.join(POINTS)})")


def main() -> None:
    point = os.environ.get(CRASH_AT, "")
    if point:
        install(point)
    from jwks_tool.cli.main import main as cli_main

    sys.argv = ["jwks-tool", *sys.argv[1:]]
    cli_main()


if __name__ == "__main__":
    main()
