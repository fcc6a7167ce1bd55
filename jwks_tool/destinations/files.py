"""A folder with one file per item, as a Kubernetes Secret volume or .NET's key-per-file configuration reads it.

    >>> from jwks_tool.destinations import destination_class
    >>> destination_class("file").naming.value
    'file'

``--to file --out DIR``: the folder is made 0700 when missing (its parent must exist); each item is the file named as
the item (``PRIVATE_KEY``, ``maskinporten-settings.json``, ``MaskinportenSettings__EncodedJwk``), 0600, holding the
value exactly (no newline added). One file per item rather than one JSON document because that is what the
consumers read: Altinn Studio's operator mounts ``maskinporten-settings.json`` as a file, .NET's KeyPerFile provider
and Spring's configtree read a folder of files named as settings, and ``kubectl create secret generic
--from-file=DIR`` makes a Secret of it. Every file is written to a temp first and renamed only when all are written;
existing files are replaced only with ``replace`` (``--force``); unchanged files are left alone; other files in the
folder are not touched.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from jwks_tool.core.consumers import Naming
from jwks_tool.destinations._files import check_folder, check_target, read_if_regular, write_files
from jwks_tool.destinations.interface import Delivery, Destination, Outcome, Target
from jwks_tool.errors import InputError

_FILE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,199}")


def check_name(name: str) -> None:
    """InputError unless ``name`` is a plain file name (no folder, no leading dot)."""
    if not _FILE_NAME.fullmatch(name):
        raise InputError(f"{name!r} is not a plain file name", hint="use a --prefix of letters, digits, ., _ and -")


class FileFolder(Destination):
    """Write a delivery to the folder ``path``, one 0600 file per item."""

    name = "file"
    naming = Naming.FILE

    def __init__(self, path: str | Path, *, replace: bool = False) -> None:
        self.path = Path(path)
        self.replace = replace

    @classmethod
    def from_target(cls, target: Target, *, connect: Callable[[str], Any] | None = None) -> FileFolder:
        """``out`` is the folder."""
        if not target.out or target.out == "-":
            raise InputError("--to file needs the folder to write", hint="pass --out DIR")
        return cls(target.out, replace=target.replace)

    @classmethod
    def check_target(cls, target: Target, names: Sequence[str]) -> None:
        """A folder to write, and names that are plain file names."""
        cls.from_target(target)
        for name in names:
            check_name(name)

    def check(self, delivery: Delivery) -> None:
        """Each name must be a plain file name (no folder, no leading dot); the folder as :meth:`preflight`."""
        for item in delivery.items:
            check_name(item.name)
        self.preflight()

    def preflight(self) -> None:
        """The folder is a folder (not a link) only its owner can write to, or is missing in an existing one."""
        try:
            mode = os.lstat(self.path).st_mode
        except FileNotFoundError:
            if not self.path.parent.is_dir():
                raise InputError(
                    f"the folder {self.path.parent} does not exist",
                    hint="create it first (only the last folder is made)",
                ) from None
            check_folder(self.path.parent)
            return
        if stat.S_ISLNK(mode):
            raise InputError(
                f"{self.path} is a symbolic link", hint="give --out the folder itself: links are not followed"
            )
        if not stat.S_ISDIR(mode):
            raise InputError(f"{self.path} is not a folder", hint="give --out the path of a folder (made if missing)")
        check_folder(self.path)

    def deliver(self, delivery: Delivery, *, dry_run: bool = False) -> list[Outcome]:
        """Write the files that differ (all temps before any rename); say which were unchanged."""
        self.check(delivery)
        outcomes: list[Outcome] = []
        files: dict[Path, bytes] = {}
        for item in sorted(delivery.items, key=lambda item: item.sensitive):
            path = self.path / item.name
            data = item.value.encode("utf-8")
            if read_if_regular(path) == data:
                outcomes.append(Outcome(str(path), "unchanged", delivery.kid))
                continue
            exists = self.path.is_dir() and check_target(path, replace=self.replace)
            action = "replaced" if exists else "created"
            outcomes.append(Outcome(str(path), f"would-{action[:-1]}" if dry_run else action))
            files[path] = data
        if dry_run or not files:
            return outcomes
        if not self.path.is_dir():
            self.path.mkdir(mode=0o700)
        write_files(files)
        return outcomes
