"""The local file store (the default): a folder of JSON documents, private keys sealed inside them.

    >>> import tempfile, pathlib
    >>> from jwks_tool.stores.file import FileStore
    >>> store = FileStore.from_url("file:" + tempfile.mkdtemp())
    >>> store.read_config() is None
    True

Layout (``schema`` 1)::

    <root>/                    0700
      store.json               0600  format, schema, how private keys are protected (salt, KDF, check value)
      sets/<env>/<name>.json   0600  one key set: metadata, public JWKs, sealed private JWKs, state history
      audit.jsonl              0600  one JSON line per change: time, user, host, command, set, kid, states
      .lock                    0600  taken by every writer (filelock), so concurrent commands queue up
      .lock.holder             0600  while a writer holds .lock: its pid, user@host, command and since when (JSON),
                                     so a command that waits for the lock can say who holds it

Every write is a new file beside the old one, fsynced, then renamed over it (and the folder fsynced): a reader sees
the old document or the new one, never half of one, and a crash leaves the store as it was before the write.
Every file and folder of the store must be owned by this user (or root) and writable by no one else, and no folder
above it writable by others unless it is sticky (as ``/tmp``). Writers remove the temp files a killed writer left, in
every folder of the store, once they hold the lock.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import stat
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from jwks_tool.core.model import SET_NAME_RE, Env, KeySet, SetRef
from jwks_tool.errors import ConflictError, StoreCorruptError, StoreError, StoreLockedError
from jwks_tool.stores.interface import STORE_SCHEMA, KeyStore

if TYPE_CHECKING:
    from pathlib import Path

LOCK_TIMEOUT_SECONDS = 60.0
LOCK_NOTICE_SECONDS = 1.0
"""How long a writer waits for the lock before it says (through :attr:`KeyStore.on_lock_wait`) who holds it."""
HOLDER_FILE = ".lock.holder"
_WRITABLE_BY_OTHERS = stat.S_IWGRP | stat.S_IWOTH


def folder_from_url(url: str) -> str:
    """The folder of ``file:///abs``, ``file:/abs``, ``file:rel`` or a plain path, as a string: the read path
    (``jwks-tool list``) must start about as fast as click, and pathlib would add some 4 ms of imports (urllib.parse,
    ipaddress); writers use pathlib (:attr:`FileStore.root`)."""
    if url.startswith("file://"):
        rest = url[len("file://") :]
        if rest and not rest.startswith("/"):
            raise StoreError(f"file URLs name no host: {url}", hint="write file:///absolute/path or a plain path")
        return _tidy(rest)
    if url.startswith("file:"):
        return _tidy(os.path.expanduser(url[len("file:") :]))
    return _tidy(os.path.expanduser(url))


def _tidy(path: str) -> str:
    """The folder as the user spelled it, without a trailing separator (``.`` for nothing)."""
    return path.rstrip(os.sep) or (os.sep if path else ".")


def _json_names(folder: str) -> list[str]:
    """The ``*.json`` names in ``folder``; an unreadable folder holds none (as pathlib's glob)."""
    try:
        return [name for name in os.listdir(folder) if name.endswith(".json")]
    except OSError:
        return []


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def _link_error(path: str, what: str = "file") -> StoreError:
    return StoreError(
        f"the store {what} {path} is a symbolic link",
        hint=f"put the real {what} in its place (a link can lead to a {what} others can change)",
    )


def _open_no_link(path: str, flags: int, mode: int = 0o600, what: str = "file") -> int:
    """``os.open`` that never follows a symbolic link at the last step: a link is refused, naming it."""
    try:
        return os.open(path, flags | _NOFOLLOW, mode)
    except OSError:
        if os.path.islink(path):
            raise _link_error(path, what) from None
        raise


def _read_text(path: str) -> str:
    """A store file's text, after checking what was opened: not a symbolic link, a regular file (a FIFO would block:
    opened without waiting), owned by this user or root, that no one else can write."""
    fd = _open_no_link(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with open(fd, encoding="utf-8", closefd=True) as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise StoreCorruptError(f"{path} is not a regular file", hint="move it out of the store")
        _check_owner_and_mode(path, info, "file")
        return handle.read()


def _check_owner_and_mode(path: str, info: os.stat_result, what: str) -> None:
    """A store file or folder: owned by this user (or root), and no one else can write to it."""
    uid = _euid()
    if uid is not None and info.st_uid not in (uid, 0):
        raise StoreError(
            f"the store {what} {path} is owned by another user (uid {info.st_uid})",
            hint="run jwks-tool as that user, or `chown` it if you trust its content",
        )
    if info.st_mode & _WRITABLE_BY_OTHERS:
        fix = "chmod 700" if stat.S_ISDIR(info.st_mode) else "chmod 600"
        raise StoreError(
            f"the store {what} {path} can be written by other users",
            hint=f"run `{fix} {path}` if you trust its content",
        )


def _euid() -> int | None:
    return os.geteuid() if hasattr(os, "geteuid") else None


def _check_parents(folder: str) -> None:
    """Every folder above the store: one that other users can write to (without the sticky bit, as /tmp has) or
    that another user owns (root is fine) could swap the store for theirs."""
    uid = _euid()
    seen: set[str] = set()
    for start in (os.path.abspath(folder), os.path.realpath(folder)):
        path = os.path.dirname(start)
        while path not in seen:
            seen.add(path)
            try:
                info = os.stat(path)
            except FileNotFoundError:
                info = None
            except OSError as exc:
                raise StoreError(f"cannot check the folder {path} above the store: {exc.strerror}") from exc
            if info is not None:
                if uid is not None and info.st_uid not in (uid, 0):
                    raise StoreError(
                        f"the folder {path} above the store is owned by another user (uid {info.st_uid})",
                        hint="keep the store in a folder of your own (--store)",
                    )
                if info.st_mode & _WRITABLE_BY_OTHERS and not info.st_mode & stat.S_ISVTX:
                    raise StoreError(
                        f"the folder {path} above the store can be written by other users",
                        hint=f"run `chmod go-w {path}` or `chmod +t {path}`, or keep the store elsewhere (--store)",
                    )
            parent = os.path.dirname(path)
            if parent == path:
                break
            path = parent


def atomic_write(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Write ``data`` to ``path`` so that readers see the old or the new content, never a mix."""
    import tempfile

    make_private_dirs(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_folder(path.parent)


def make_private_dirs(path: Path) -> None:
    """Create ``path`` and any missing parents, each 0700."""
    missing: list[Path] = []
    while not path.exists():
        missing.append(path)
        if path.parent == path:
            break
        path = path.parent
    for folder in reversed(missing):
        folder.mkdir(mode=0o700, exist_ok=True)


def fsync_folder(path: str | os.PathLike[str]) -> None:
    """Make a rename or a new file in ``path`` durable (where the platform has folder descriptors)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def write_all(fd: int, data: bytes) -> None:
    """Write every byte of ``data`` to ``fd`` (``os.write`` may write less), then fsync it."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    os.fsync(fd)


class FileStore(KeyStore):
    """Key sets as JSON files in a folder on this machine."""

    def __init__(self, root: str | os.PathLike[str], url: str) -> None:
        self._root = _tidy(os.fspath(root))
        self.url = url
        self._verified = False
        self._parents_checked = False

    @property
    def root(self) -> Path:
        """The store folder."""
        from pathlib import Path

        return Path(self._root)

    @classmethod
    def supports(cls, url: str) -> bool:
        """``file:`` URLs and plain paths (a one-letter scheme is a Windows drive)."""
        if url.startswith("file:"):
            return True
        scheme = url.split(":", 1)[0] if ":" in url else ""
        # a plain path; a one-letter "scheme" is a Windows drive
        return not scheme or len(scheme) == 1 or "/" in scheme or "\\" in scheme

    @classmethod
    def from_url(cls, url: str) -> FileStore:
        """The store in the folder the URL or path names."""
        return cls(folder_from_url(url), url)

    def describe(self) -> str:
        """The store's folder."""
        return self._root

    # ---- paths ------------------------------------------------------------------------------------------------
    @property
    def _config_path(self) -> str:
        return os.path.join(self._root, "store.json")

    def _set_path(self, ref: SetRef) -> str:
        return os.path.join(self._root, "sets", ref.env.value, f"{ref.name}.json")

    def _check_root(self) -> None:
        """The store folder and its folders (owner, no one else can write), and once the folders above it."""
        if not self._parents_checked:
            _check_parents(self._root)
            self._parents_checked = True
        try:
            info = os.stat(self._root)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StoreError(f"cannot read the store folder {self._root}: {exc.strerror}") from exc
        if not stat.S_ISDIR(info.st_mode):
            raise StoreError(f"the store path {self._root} is not a folder", hint="give --store a folder")
        _check_owner_and_mode(self._root, info, "folder")
        sets = os.path.join(self._root, "sets")
        for folder in (sets, *(os.path.join(sets, env.value) for env in Env)):
            try:
                inner = os.lstat(folder)
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise StoreError(f"cannot read the store folder {folder}: {exc.strerror}") from exc
            if stat.S_ISLNK(inner.st_mode):
                raise _link_error(folder, "folder")
            if not stat.S_ISDIR(inner.st_mode):
                raise StoreCorruptError(f"{folder} in the store is not a folder", hint="move it out of the store")
            _check_owner_and_mode(folder, inner, "folder")

    def _read_json(self, path: str) -> Any:
        try:
            text = _read_text(path)
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise StoreCorruptError(f"cannot read {path}: {exc}") from exc
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise StoreCorruptError(
                f"{path} is not valid JSON ({exc.msg.removesuffix(' at')} at line {exc.lineno})"
            ) from exc

    # ---- the interface ----------------------------------------------------------------------------------------
    def read_config(self) -> dict[str, Any] | None:
        """store.json, checked; None for a new or empty folder, StoreCorruptError for a folder of other files."""
        self._check_root()
        data = self._read_json(self._config_path)
        if data is None:
            if os.path.isdir(self._root) and any(not _ours(name) for name in os.listdir(self._root)):
                raise StoreCorruptError(
                    f"{self._root} is not a jwks-tool store (no store.json)",
                    hint="give --store an empty or new folder",
                )
            return None
        return self.check_config_document(data, self._config_path, what="a jwks-tool store file")

    def init_config(self, config: Mapping[str, Any]) -> None:
        """Write store.json (the folder made private); ConflictError if it exists already."""
        self._check_root()
        root = self.root
        make_private_dirs(root)
        if (root / "store.json").exists():
            raise ConflictError(
                f"the store {root} exists already", hint="another jwks-tool made it; run the command again"
            )
        for stale in root.glob(".store.json.*.tmp"):  # left by a writer killed while creating the store
            stale.unlink(missing_ok=True)
        document = {"format": "jwks-tool-store", "schema": STORE_SCHEMA, **config}
        atomic_write(root / "store.json", _dump(document))

    def _verify(self) -> None:
        """Every read checks the folder's permissions; the first also checks store.json (a foreign file or a newer
        schema is refused before any set is read)."""
        self._check_root()
        if not self._verified:
            if os.path.exists(self._config_path):
                self.read_config()
            self._verified = True

    def list_refs(self) -> list[SetRef]:
        """Every key set file under sets/<env>/, sorted."""
        self._verify()
        refs: list[SetRef] = []
        for env in Env:
            folder = os.path.join(self._root, "sets", env.value)
            if os.path.isdir(folder):
                for name in _json_names(folder):
                    if not name.startswith("."):
                        refs.append(_ref_from_file(folder, name, env))
        return sorted(refs)

    def read_set(self, ref: SetRef) -> KeySet | None:
        """The set's file, checked to hold that set; None when there is none."""
        self._verify()
        path = self._set_path(ref)
        data = self._read_json(path)
        if data is None:
            return None
        keyset = KeySet.from_dict(data, path)
        if keyset.ref != ref:
            raise StoreCorruptError(f"{path} holds the key set {keyset.ref}, not {ref}")
        return keyset

    def damage_fix(self, ref: SetRef) -> str:
        """Restore the set's file or remove it."""
        path = self._set_path(ref)
        return (
            f"restore {path} from a backup, or remove it (`rm {path}`: its keys are lost, the audit log keeps their "
            "story)"
        )

    def write_set(self, keyset: KeySet, *, expected_revision: int) -> KeySet:
        """Replace the set's file atomically if the stored revision is still ``expected_revision``."""
        current = self.read_set(keyset.ref)
        revision = 0 if current is None else current.revision
        self.check_revision(keyset.ref, revision, expected_revision)
        stored = dataclasses.replace(keyset, revision=revision + 1)
        from pathlib import Path

        # a temp file a crashed writer left was swept when this writer took the lock (_sweep_temp_files)
        atomic_write(Path(self._set_path(keyset.ref)), _dump(stored.to_dict()))
        return stored

    def append_audit(self, events: Sequence[Mapping[str, Any]]) -> None:
        """Append one JSON line per event to audit.jsonl."""
        lines = [json.dumps(dict(event), ensure_ascii=False, separators=(",", ":")) + "\n" for event in events]
        _append_lines(self.root / "audit.jsonl", lines)

    def read_audit(self) -> list[dict[str, Any]]:
        """The events in audit.jsonl; a last line cut short by a crash is skipped."""
        self._verify()
        path = os.path.join(self._root, "audit.jsonl")
        try:
            text = _read_text(path)
        except FileNotFoundError:
            return []
        events: list[dict[str, Any]] = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                if number == len(text.splitlines()) and not text.endswith("\n"):
                    break  # a line cut short by a crash: the events before it stand
                raise StoreCorruptError(
                    f"{path} line {number} is not JSON",
                    hint=f"restore {path} from a backup, or remove line {number} (the event it held is lost)",
                ) from None
            if isinstance(event, dict):
                events.append(event)
        return events

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the store's .lock file (across processes); StoreLockedError after LOCK_TIMEOUT_SECONDS. After
        LOCK_NOTICE_SECONDS of waiting, :attr:`on_lock_wait` hears who holds it (read from ``.lock.holder``)."""
        from filelock import FileLock, Timeout

        self._check_root()
        make_private_dirs(self.root)
        for name in (".lock", "audit.jsonl", HOLDER_FILE):  # filelock would truncate what a link points to; a write
            if os.path.islink(os.path.join(self._root, name)):  # appends to the log: refused before anything is written
                raise _link_error(os.path.join(self._root, name))
        lock = FileLock(self.root / ".lock", timeout=LOCK_TIMEOUT_SECONDS, mode=0o600)
        try:
            try:
                lock.acquire(timeout=LOCK_NOTICE_SECONDS)
            except Timeout:
                if self.on_lock_wait is not None:
                    self.on_lock_wait(
                        f"waiting for the store lock {self.root / '.lock'}, held by {self._holder()}; "
                        f"giving up after {LOCK_TIMEOUT_SECONDS:.0f} s"
                    )
                lock.acquire(timeout=LOCK_TIMEOUT_SECONDS - LOCK_NOTICE_SECONDS)
        except Timeout as exc:
            raise StoreLockedError(
                f"another jwks-tool ({self._holder()}) has held the store lock {self.root / '.lock'} for "
                f"{LOCK_TIMEOUT_SECONDS:.0f} s",
                hint="wait for it to finish, or end it if it hangs",
            ) from exc
        holder = os.path.join(self._root, HOLDER_FILE)
        try:
            _sweep_temp_files(self._root)
            self._record_holder()
            yield
        finally:
            with contextlib.suppress(OSError):
                os.unlink(holder)
            lock.release()

    def _record_holder(self) -> None:
        """Write who holds the lock (pid, user@host, command, since when) for those who wait for it."""
        from datetime import UTC, datetime

        record = {
            "pid": os.getpid(),
            "user": self.lock_holder.get("user", ""),
            "command": self.lock_holder.get("command", ""),
            "since": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        data = json.dumps(record).encode("utf-8")
        with contextlib.suppress(OSError, StoreError):  # only a courtesy to waiters: never a reason to fail the write
            # written in place with one write (no temp file a kill could leave); a waiter that reads it half-written
            # says "another jwks-tool"
            fd = _open_no_link(os.path.join(self._root, HOLDER_FILE), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            try:
                os.fchmod(fd, 0o600)
                write_all(fd, data)
            finally:
                os.close(fd)

    def _holder(self) -> str:
        """Who holds the lock, as its holder recorded it (sanitised: another process wrote it), or a plain phrase."""
        from jwks_tool.core.text import printable

        try:
            fd = _open_no_link(os.path.join(self._root, HOLDER_FILE), os.O_RDONLY, what="lock holder file")
            try:
                data = os.read(fd, 4096)
            finally:
                os.close(fd)
            record = json.loads(data)
        except (OSError, StoreError, ValueError):
            return "another jwks-tool"
        if not isinstance(record, dict):
            return "another jwks-tool"
        pid, user, command, since = (
            printable(record.get(key, "?"), limit=100) for key in ("pid", "user", "command", "since")
        )
        return f"pid {pid} ({user}, `{command}`) since {since}"


def _ref_from_file(folder: str, name: str, env: Env) -> SetRef:
    stem = name[: -len(".json")]
    if not SET_NAME_RE.fullmatch(stem):
        raise StoreCorruptError(
            f"{os.path.join(folder, name)!r} is not named after a valid key set name",
            hint="move it out of the store",
        )
    return SetRef(stem, env)


def _sweep_temp_files(root: str) -> None:
    """Remove the temp files writers killed mid-write left in any folder of the store (callers hold the lock, so
    no writer is at work): a set's temp file may hold a sealed key, and must not outlive the next write."""
    sets = os.path.join(root, "sets")
    for folder in (root, sets, *(os.path.join(sets, env.value) for env in Env)):
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            if name.startswith(".") and name.endswith(".tmp"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(folder, name))


def _ours(name: str) -> bool:
    """The lock file, or a temp file a writer killed while creating the store left (the next write replaces it)."""
    return name in (".lock", HOLDER_FILE) or (name.startswith(".store.json.") and name.endswith(".tmp"))


def _append_lines(path: Path, lines: Sequence[str]) -> None:
    """Append whole lines (callers hold the lock). A last line cut short by a crash is dropped first, so it can
    never glue onto the new one; every byte is written before the fsync."""
    make_private_dirs(path.parent)
    fd = _open_no_link(str(path), os.O_RDWR | os.O_APPEND | os.O_CREAT | getattr(os, "O_NONBLOCK", 0), 0o600)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise StoreCorruptError(f"{path} is not a regular file", hint="move it out of the store")
        _check_owner_and_mode(str(path), info, "file")
        size = info.st_size
        if size:
            tail = os.pread(fd, min(size, 65536), max(0, size - 65536))
            if not tail.endswith(b"\n"):
                cut = tail.rfind(b"\n")
                os.ftruncate(fd, size - len(tail) + cut + 1 if cut >= 0 else (0 if size <= 65536 else size))
        write_all(fd, "".join(lines).encode("utf-8"))
    finally:
        os.close(fd)


def _dump(document: Mapping[str, Any]) -> bytes:
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
