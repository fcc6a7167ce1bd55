"""Writing files for destinations: 0600 files in an existing (or new 0700) folder, all-or-nothing.

Every file is first written to a temp beside it (``.<name>.<random>.jwks-tool.tmp``, 0600, created exclusively,
fsynced); only when all are written are they renamed over their targets, so a failure while writing (disk full,
permissions) leaves every target as it was and removes its temps. A symbolic link, device, pipe or folder where a
file belongs is refused, and an existing file is replaced only when ``replace`` is given. A folder that other users
can write to (group or others, without the sticky bit ``/tmp`` has), or one above it, is refused as the file store
refuses it: anyone could later replace the key files an app reads from it.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Mapping
from pathlib import Path

from jwks_tool.core.text import printable
from jwks_tool.errors import ConflictError, InputError

TEMP_SUFFIX = ".jwks-tool.tmp"
_WRITABLE_BY_OTHERS = stat.S_IWGRP | stat.S_IWOTH


def check_folder(folder: Path) -> None:
    """Refuse ``folder`` (if it exists) or any folder above it that other users can write to without the sticky bit:
    they could swap the files written there (the rule :mod:`jwks_tool.stores.file` applies to the store)."""
    seen: set[str] = set()
    for start in (os.path.abspath(folder), os.path.realpath(folder)):
        path = start
        while path not in seen:
            seen.add(path)
            try:
                info = os.stat(path)
            except OSError:
                info = None
            if info is not None and info.st_mode & _WRITABLE_BY_OTHERS and not info.st_mode & stat.S_ISVTX:
                raise InputError(
                    f"the folder {printable(path, limit=200)} can be written by other users, who could replace "
                    "the key files",
                    hint=f"run `chmod go-w {printable(path, limit=200)}`, or write to a folder of your own",
                )
            parent = os.path.dirname(path)
            if parent == path:
                break
            path = parent


def check_target(path: Path, *, replace: bool, flag: str = "--force") -> bool:
    """Refuse a ``path`` that is a link or not a regular file, or that exists without ``replace``; whether it
    exists. Its folder must exist and be a folder."""
    folder = path.parent
    if folder.is_symlink():
        raise InputError(
            f"the folder {folder} is a symbolic link", hint="give a path in the folder itself: links are not followed"
        )
    if not folder.is_dir():
        raise InputError(f"the folder {folder} does not exist", hint="create it first (no folders are made)")
    check_folder(folder)
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return False
    if stat.S_ISLNK(mode):
        raise InputError(f"{path} is a symbolic link", hint="give the path of the file itself: links are not followed")
    if stat.S_ISDIR(mode):
        raise InputError(f"{path} is a folder", hint="remove it or give another path: a file goes there")
    if not stat.S_ISREG(mode):
        raise InputError(f"{path} is not a regular file", hint="give the path of a regular file")
    if not replace:
        raise ConflictError(f"{path} exists", hint=f"pass {flag} to replace it, or choose another path")
    return True


def read_if_regular(path: Path) -> bytes | None:
    """The content of ``path`` if it is a regular file (not through a link), else None."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    if not stat.S_ISREG(os.fstat(fd).st_mode):  # a folder cannot even be wrapped in a file object
        os.close(fd)
        return None
    with os.fdopen(fd, "rb") as handle:
        return handle.read()


def write_files(files: Mapping[Path, bytes]) -> None:
    """Write every file (checked by :func:`check_target` first), all temps before any rename."""
    temps: dict[Path, Path] = {}
    try:
        for path, data in files.items():
            temps[path] = _write_temp(path, data)
        for path, temp in temps.items():
            os.replace(temp, path)
    finally:
        for temp in temps.values():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
    for folder in {path.parent for path in files}:
        _fsync_folder(folder)


def _write_temp(path: Path, data: bytes) -> Path:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        temp = path.with_name(f".{path.name}.{os.urandom(6).hex()}{TEMP_SUFFIX}")
        try:
            fd = os.open(temp, flags, 0o600)
            break
        except FileExistsError:
            continue
    else:  # pragma: no cover - 100 collisions of 48 random bits
        raise ConflictError(f"cannot make a temp file beside {path}", hint="remove stale .*.jwks-tool.tmp files")
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), 0o600)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    return temp


def _fsync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
