"""Every store passes the conformance suite; file-store specifics: layout, permissions, atomicity, versions."""

from __future__ import annotations

import importlib
import itertools
import json
import os
import stat
import sys
from pathlib import Path

import pytest

from jwks_tool.core.model import Env, SetRef
from jwks_tool.errors import ConflictError, StoreCorruptError, StoreError, StoreVersionError
from jwks_tool.stores import ENV_STORE, _xdg_data_home, default_store_url, open_store, store_class_for
from jwks_tool.stores.file import FileStore, atomic_write
from jwks_tool.stores.interface import KeyStore
from jwks_tool.stores.memory import MemoryStore
from jwks_tool.testing.store_conformance import StoreConformance, sample_set


class TestFileStore(StoreConformance):
    @pytest.fixture
    def store(self, tmp_path: Path) -> KeyStore:
        return FileStore.from_url(f"file:{tmp_path / 'fs'}")


class TestMemoryStore(StoreConformance):
    @pytest.fixture
    def store(self) -> KeyStore:
        return MemoryStore.from_url("memory:")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("memory:", MemoryStore),
        ("memory:team", MemoryStore),
        ("/var/lib/keys", FileStore),
        ("relative/folder", FileStore),
        ("file:/var/lib/keys", FileStore),
        ("file:///var/lib/keys", FileStore),
        ("C:\\keys", FileStore),
    ],
)
def test_store_is_picked_by_url(url: str, expected: type[KeyStore]) -> None:
    assert store_class_for(url) is expected


def test_unknown_url_scheme_is_a_clear_error() -> None:
    with pytest.raises(StoreError, match="no key store handles 'hsm://slot/1'"):
        store_class_for("hsm://slot/1")


def test_file_urls() -> None:
    assert FileStore.from_url("file:///srv/keys").root == Path("/srv/keys")
    assert FileStore.from_url("file:/srv/keys").root == Path("/srv/keys")
    assert FileStore.from_url("/srv/keys").root == Path("/srv/keys")
    with pytest.raises(StoreError, match="file URLs name no host"):
        FileStore.from_url("file://server/share")


def test_a_store_describes_itself_as_its_path(tmp_path: Path) -> None:
    for url in (f"{tmp_path}/s/", f"file://{tmp_path}/s/", f"file:{tmp_path}/s"):
        store = FileStore.from_url(url)
        assert store.describe() == str(tmp_path / "s")
        assert store.root == tmp_path / "s"
    assert FileStore(tmp_path / "s", "x").describe() == str(tmp_path / "s")
    assert FileStore.from_url("~/keys").describe() == str(Path.home() / "keys")
    assert FileStore.from_url("file:~/keys/").root == Path.home() / "keys"
    assert FileStore.from_url("").describe() == "."


def test_default_store_is_in_the_user_data_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("JWKS_TOOL_STORE")
    assert default_store_url() == str(tmp_path / "xdg-data" / "jwks-tool" / "store")
    monkeypatch.setenv("JWKS_TOOL_STORE", "memory:x")
    assert default_store_url() == "memory:x"
    assert isinstance(open_store(), MemoryStore)


SPELLINGS = ["", " ", "rel", "rel/dir", "/", "/abs", "/abs/", "/a//b", "/a/./b", "/a/../b", "//net", "~", "~/x"]


@pytest.mark.skipif(sys.platform != "linux", reason="the fast path is for Linux; elsewhere platformdirs decides")
def test_the_default_store_is_where_platformdirs_puts_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """The default store's folder is found without importing platformdirs (start-up time) where the XDG rule is
    plain; in every environment tried (each pair of spellings), it is the folder platformdirs names."""
    from platformdirs import user_data_path

    monkeypatch.delenv(ENV_STORE)
    fast = 0
    for xdg, home in itertools.product([None, *SPELLINGS], repeat=2):
        for name, value in (("XDG_DATA_HOME", xdg), ("HOME", home)):
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        fast += _xdg_data_home() is not None
        try:
            expected = str(user_data_path("jwks-tool", appauthor=False) / "store")
        except RuntimeError:  # platformdirs finds no home: the fast path must not claim one
            assert _xdg_data_home() is None, (xdg, home)
            continue
        assert default_store_url() == expected, (xdg, home)
    assert fast >= 50  # the common spellings take the fast path


@pytest.mark.skipif(sys.platform != "linux", reason="the fast path is for Linux; elsewhere platformdirs decides")
def test_the_fast_path_leaves_a_relative_xdg_to_platformdirs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(ENV_STORE)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert _xdg_data_home() == str(tmp_path / ".local" / "share")
    monkeypatch.setenv("XDG_DATA_HOME", "relative/data")  # platformdirs releases disagree: leave it to them
    assert _xdg_data_home() is None


def test_layout_and_permissions(tmp_path: Path) -> None:
    root = tmp_path / "a" / "b"
    store = FileStore.from_url(str(root))
    store.init_config({"created": "2026-01-01T00:00:00Z", "protection": {"scheme": "plaintext"}})
    store.write_set(sample_set("acme", Env.PROD, "k1"), expected_revision=0)
    with store.lock():
        pass
    for folder in (root, root / "sets", root / "sets" / "prod"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    for file in (root / "store.json", root / "sets" / "prod" / "acme.json", root / ".lock"):
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
    document = json.loads((root / "store.json").read_text())
    assert document["format"] == "jwks-tool-store"
    assert document["schema"] == 1
    assert sorted(p.name for p in (root / "sets" / "prod").iterdir()) == ["acme.json"]  # no temp files left


def test_refuses_a_folder_others_can_write(tmp_path: Path) -> None:
    root = tmp_path / "shared"
    root.mkdir()
    os.chmod(root, 0o777)  # noqa: S103 - the point of the test
    with pytest.raises(StoreError, match="can be written by other users"):
        FileStore.from_url(str(root)).list_refs()


def test_foreign_folder_is_not_a_store(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    os.chmod(tmp_path, 0o700)
    with pytest.raises(StoreCorruptError, match="is not a jwks-tool store"):
        FileStore.from_url(str(tmp_path)).read_config()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    store = FileStore.from_url(str(tmp_path / "s"))
    store.init_config({"created": "2026-01-01T00:00:00Z", "protection": {"scheme": "plaintext"}})
    config = json.loads((tmp_path / "s" / "store.json").read_text())
    config["schema"] = 99
    (tmp_path / "s" / "store.json").write_text(json.dumps(config))
    with pytest.raises(StoreVersionError, match="newer jwks-tool"):
        store.read_config()


def test_newer_set_schema_is_refused(tmp_path: Path) -> None:
    store = FileStore.from_url(str(tmp_path / "s"))
    store.write_set(sample_set("acme", Env.TEST, "k1"), expected_revision=0)
    path = tmp_path / "s" / "sets" / "test" / "acme.json"
    document = json.loads(path.read_text())
    document["schema"] = 2
    path.write_text(json.dumps(document))
    with pytest.raises(StoreVersionError, match="key set schema 2"):
        store.read_set(SetRef("acme", Env.TEST))


@pytest.mark.parametrize("content", ["{not json", '{"format": "something-else"}', "[]", ""])
def test_corrupt_set_file_is_a_clear_error(tmp_path: Path, content: str) -> None:
    store = FileStore.from_url(str(tmp_path / "s"))
    store.write_set(sample_set("acme", Env.TEST, "k1"), expected_revision=0)
    (tmp_path / "s" / "sets" / "test" / "acme.json").write_text(content)
    with pytest.raises(StoreCorruptError):
        store.read_set(SetRef("acme", Env.TEST))


def test_atomic_write_leaves_the_old_file_when_it_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "doc.json"
    atomic_write(target, b"old")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="No space"):
        atomic_write(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["doc.json"]


def test_built_in_stores_are_the_entry_points() -> None:
    """One registry: the fast path for built-ins lists exactly what the entry-point group (installed from
    pyproject.toml) lists, so a plug-in author and jwks-tool see the same set."""
    from importlib.metadata import entry_points

    from jwks_tool.stores import BUILT_IN_STORES

    installed = {entry.name: entry.value for entry in entry_points(group="jwks_tool.stores")}
    assert {name: installed.get(name) for name in BUILT_IN_STORES} == BUILT_IN_STORES
    for target in BUILT_IN_STORES.values():
        module, _, name = target.partition(":")
        assert issubclass(getattr(importlib.import_module(module), name), KeyStore)


def test_a_broken_store_plugin_is_reported_and_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib.metadata import EntryPoint

    from jwks_tool import stores
    from jwks_tool.errors import JwksToolWarning

    broken = EntryPoint("broken", "no_such_module_xyz:Store", "jwks_tool.stores")
    good = EntryPoint("mem2", "jwks_tool.stores.memory:MemoryStore", "jwks_tool.stores")
    monkeypatch.setattr("importlib.metadata.entry_points", lambda group: [broken, good])
    monkeypatch.setattr(MemoryStore, "supports", classmethod(lambda cls, url: url.startswith("mem2://")))
    with pytest.warns(JwksToolWarning, match="'broken'.*failed to load and was skipped"):
        assert stores.store_class_for("mem2://x") is MemoryStore


def test_a_broken_store_plugin_is_one_warning_line_on_the_command_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib.metadata import EntryPoint

    from click.testing import CliRunner

    from jwks_tool.cli.main import cli

    broken = EntryPoint("broken", "no_such_module_xyz:Store", "jwks_tool.stores")
    monkeypatch.setattr("importlib.metadata.entry_points", lambda group: [broken])
    result = CliRunner().invoke(cli, ["list", "--store", "nosuch://x"])
    assert result.exit_code == 5
    assert result.stderr.splitlines() == [
        "jwks-tool: warning: the store plug-in 'broken' (no_such_module_xyz:Store) failed to load and was skipped: "
        "No module named 'no_such_module_xyz'",
        "jwks-tool: error: no key store handles 'nosuch://x'; use a folder path, file:PATH, memory:, "
        "https://NAME.vault.azure.net/ (Azure Key Vault) or secretsmanager://REGION/PREFIX (AWS Secrets Manager)",
    ]


@pytest.mark.parametrize("kind", ["file", "memory"])
def test_a_stale_revision_is_refused_with_the_same_words_in_every_store(kind: str, tmp_path: Path) -> None:
    """The revision check lives once, in KeyStore.check_revision; each store's write_set calls it."""
    store = FileStore.from_url(str(tmp_path / "s")) if kind == "file" else MemoryStore.from_url("memory:")
    store.init_config({"created": "2026-01-01T00:00:00Z", "protection": {"scheme": "plaintext"}})
    store.write_set(sample_set("acme", Env.PROD, "k1"), expected_revision=0)
    with pytest.raises(ConflictError) as info:
        store.write_set(sample_set("acme", Env.PROD, "k2"), expected_revision=0)
    assert info.value.diagnostics() == (
        "key set acme (prod) changed while this command ran (revision 1, expected 0); run the command again"
    )


@pytest.mark.parametrize(
    ("document", "error", "message"),
    [
        ({"format": "other"}, StoreCorruptError, "{config} is not a jwks-tool store file"),
        ([1, 2], StoreCorruptError, "{config} is not a jwks-tool store file"),
        ({"format": "jwks-tool-store"}, StoreCorruptError, "{config} has no schema version"),
        ({"format": "jwks-tool-store", "schema": "1"}, StoreCorruptError, "{config} has no schema version"),
        (
            {"format": "jwks-tool-store", "schema": 2},
            StoreVersionError,
            "the store {root} was written by a newer jwks-tool (schema 2, this one reads 1); "
            "upgrade jwks-tool (pip install -U jwks-tool)",
        ),
    ],
)
def test_a_store_file_jwks_tool_cannot_read_is_refused_in_exact_words(
    tmp_path: Path, document: object, error: type[StoreError], message: str
) -> None:
    """The format and schema check lives once, in KeyStore.check_config_document; the file store names its file."""
    root = tmp_path / "s"
    store = FileStore.from_url(str(root))
    store.init_config({"created": "2026-01-01T00:00:00Z", "protection": {"scheme": "plaintext"}})
    (root / "store.json").write_text(json.dumps(document))
    with pytest.raises(error) as info:
        store.read_config()
    assert type(info.value) is error
    assert info.value.diagnostics() == message.format(config=root / "store.json", root=root)


def test_a_damaged_json_file_is_named_in_plain_words(tmp_path: Path) -> None:
    """json's own message ends in "at" ("Unterminated string starting at"): the error said "at at line 6"."""
    path = tmp_path / "broken.json"
    path.write_text('{\n"a": "unterminated')
    with pytest.raises(StoreCorruptError) as caught:
        FileStore(tmp_path, f"file:{tmp_path}")._read_json(str(path))
    assert "at at" not in caught.value.message
    assert caught.value.message.endswith("is not valid JSON (Unterminated string starting at line 2)")


def test_a_key_vault_stores_damage_fix_names_the_secret_to_delete() -> None:
    store = open_store("https://v.vault.azure.net/?verify_challenge_resource=false")
    assert store.damage_fix(SetRef("acme", Env.PROD)) == (
        "restore the secret jwks-tool-set-prod-acme in https://v.vault.azure.net/ from a backup, or delete it (az "
        "keyvault secret delete --id https://v.vault.azure.net/secrets/jwks-tool-set-prod-acme: its keys are lost, "
        "the audit log keeps their story)"
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "https://x.vault.azure.net/?credential=cli&credential=default",
            "the option 'credential' is given 2 times in the Key Vault store URL",
        ),
        ("https://x.vault.azure.net/?colour=blue", "unknown option 'colour' in the Key Vault store URL"),
        (
            "secretsmanager://eu-north-1/x?endpoint=a&endpoint=b",
            "the option 'endpoint' is given 2 times in the Secrets Manager store URL",
        ),
        ("secretsmanager://eu-north-1/x?col\x1bour=1", "unknown option 'col\\x1bour' in the Secrets Manager store URL"),
    ],
)
def test_a_remote_store_urls_options_are_known_and_given_once(url: str, message: str) -> None:
    """Both remote stores read their URL options with one function (stores.interface.url_options)."""
    from jwks_tool.errors import StoreError
    from jwks_tool.stores import keyvault, secretsmanager

    parse = keyvault.connection_from_url if url.startswith("https://") else secretsmanager.connection_from_url
    with pytest.raises(StoreError) as caught:
        parse(url)
    assert caught.value.message == message
