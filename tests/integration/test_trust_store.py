"""Trust in the store (issue #10): a wrong passphrase never seals a key, the protection record cannot be downgraded
or edited unseen, permissions cover every file and folder, and what is read from a store is checked as input is."""

from __future__ import annotations

import json
import os
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from jwks_tool.core import keys as keymod
from jwks_tool.core.sealing import PassphraseSealer, new_passphrase_protection, open_protection
from jwks_tool.errors import PassphraseError, StoreCorruptError
from tests.conftest import PASSPHRASE

pytestmark = pytest.mark.integration
Run = Callable[..., Result]
WRONG = {"JWKS_TOOL_PASSPHRASE": "not the passphrase"}
WRONG_LINE = (
    "jwks-tool: error: wrong passphrase for this store; check JWKS_TOOL_PASSPHRASE or the file given to "
    "--passphrase-file\n"
)


def one_error(result: Result, code: int) -> str:
    assert result.exit_code == code, (result.exit_code, result.stderr, result.stdout)
    assert result.stderr.startswith("jwks-tool: error: "), result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    return result.stderr


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def config(store_dir: Path) -> dict[str, Any]:
    return dict(json.loads((store_dir / "store.json").read_text()))


def write_config(store_dir: Path, data: dict[str, Any]) -> None:
    (store_dir / "store.json").write_text(json.dumps(data, indent=2))


@pytest.fixture
def made(run: Run, store_dir: Path) -> Path:
    """A store holding one sealed key, acme (test)."""
    assert run("generate", "acme", "--size", "2048", "--kid", "k1").exit_code == 0
    return store_dir


@pytest.fixture
def count_generated(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = keymod.generate_private_jwk

    def counting(**kwargs: Any) -> dict[str, Any]:
        calls.append(1)
        return real(**kwargs)

    monkeypatch.setattr(keymod, "generate_private_jwk", counting)
    return calls


# ---- 1. a wrong passphrase -----------------------------------------------------------------------------------------
def test_bulk_generate_with_a_wrong_passphrase_makes_and_writes_nothing(
    run: Run, store_dir: Path, count_generated: list[int]
) -> None:
    assert run("init").exit_code == 0
    before = snapshot(store_dir)
    result = run("generate", "a", "b", "c", "d", "e", "f", "--size", "2048", "--workers", "4", env=WRONG)
    assert one_error(result, 8) == WRONG_LINE
    assert count_generated == []  # found before any worker made a key
    assert snapshot(store_dir) == before


@pytest.mark.parametrize("command", ["generate", "rotate", "import"])
def test_a_wrong_passphrase_writes_nothing_on_any_path(
    run: Run, made: Path, command: str, tmp_path: Path, rfc7517_rsa: dict[str, Any]
) -> None:
    args = {
        "generate": ("generate", "other", "--size", "2048"),
        "rotate": ("rotate", "acme"),
        "import": ("import", "imp", str(tmp_path / "key.json")),
    }[command]
    (tmp_path / "key.json").write_text(json.dumps(rfc7517_rsa))
    before = snapshot(made)
    assert one_error(run(*args, env=WRONG), 8) == WRONG_LINE
    assert snapshot(made) == before


def test_a_sealer_with_a_wrong_passphrase_never_seals_from_any_thread() -> None:
    protection, _ = new_passphrase_protection("right", iterations=1000)
    for _ in range(5):
        sealer = open_protection(protection, lambda confirm: "wrong")
        barrier = threading.Barrier(8)
        outcomes: list[object] = []

        def seal(sealer: Any = sealer, barrier: threading.Barrier = barrier, outcomes: list[object] = outcomes) -> None:
            barrier.wait()
            try:
                outcomes.append(sealer.seal({"k": "v"}, context={"kid": "x"}))
            except BaseException as exc:
                outcomes.append(exc)

        threads = [threading.Thread(target=seal) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(outcomes) == 8
        assert all(isinstance(outcome, PassphraseError) for outcome in outcomes), outcomes


def test_a_sealer_whose_check_failed_stays_failed() -> None:
    protection, _ = new_passphrase_protection("right", iterations=1000)
    answers = iter(["wrong", "right"])
    sealer = open_protection(protection, lambda confirm: next(answers))
    for _ in range(3):
        with pytest.raises(PassphraseError, match="wrong passphrase"):
            sealer.seal({"k": "v"}, context={"kid": "x"})


def test_a_wrong_passphrase_on_a_key_vault_store_writes_no_secret(run: Run, kv: Any) -> None:
    from tests.integration.test_keyvault_store import cli_url, reader

    url = cli_url(kv)
    assert run("generate", "acme", "--size", "2048", "--store", url).exit_code == 0
    names = sorted(str(p.name) for p in reader(kv).list_properties_of_secrets())
    assert one_error(run("generate", "other", "--size", "2048", "--store", url, env=WRONG), 8) == WRONG_LINE
    assert one_error(run("rotate", "acme", "--store", url, env=WRONG), 8) == WRONG_LINE
    assert sorted(str(p.name) for p in reader(kv).list_properties_of_secrets()) == names


@pytest.fixture
def kv(vault: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    for name, value in vault.identity_env().items():
        monkeypatch.setenv(name, value)
    return vault


# ---- 2. a damaged check value ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "damage",
    [
        lambda check: "not a JWE",
        lambda check: ".".join(check.split(".")[:4]),  # a part missing
        lambda check: "eyJub3QiOiJqc29u" + check[check.index(".") :],  # a header that is not JSON
        lambda check: check.split(".", 1)[0] + "." + check.split(".", 1)[1].replace(".", ".AAAA", 1),  # a bad key size
    ],
    ids=["not-a-jwe", "four-parts", "header-not-json", "wrapped-key-size"],
)
def test_a_damaged_check_value_is_damage_not_a_wrong_passphrase(
    run: Run, made: Path, damage: Callable[[str], str]
) -> None:
    data = config(made)
    data["protection"]["check"] = damage(data["protection"]["check"])
    write_config(made, data)
    error = one_error(run("export", "acme", "--private", "--yes"), 5)
    assert "check value" in error


@pytest.mark.parametrize("part", [2, 3, 4], ids=["iv", "ciphertext", "tag"])
def test_a_check_value_damaged_after_its_wrapped_key_is_damage(run: Run, made: Path, part: int) -> None:
    data = config(made)
    parts = data["protection"]["check"].split(".")
    parts[part] = parts[part][:5] + ("A" if parts[part][5] != "A" else "B") + parts[part][6:]
    data["protection"]["check"] = ".".join(parts)
    write_config(made, data)
    before = snapshot(made)
    for args in (("generate", "other", "--size", "2048"), ("export", "acme", "--private", "--yes")):
        assert one_error(run(*args), 5) == (
            "jwks-tool: error: the store's passphrase check value is damaged (its content does not authenticate); "
            "restore store.json (or the store's configuration) from a backup\n"
        )
    assert one_error(run("generate", "other", "--size", "2048", env=WRONG), 8) == WRONG_LINE  # still told apart
    assert snapshot(made) == before


def test_a_check_value_that_does_not_open_is_a_wrong_passphrase(run: Run, made: Path) -> None:
    assert one_error(run("export", "acme", "--private", "--yes", env=WRONG), 8) == WRONG_LINE


@pytest.mark.parametrize("command", ["generate", "rotate", "import"])
def test_another_stores_config_with_the_same_passphrase_is_found_before_a_write(
    run: Run, made: Path, tmp_path: Path, command: str, rfc7517_rsa: dict[str, Any]
) -> None:
    other = tmp_path / "other"
    assert run("init", "--store", str(other)).exit_code == 0  # same passphrase, another salt
    (made / "store.json").write_bytes((other / "store.json").read_bytes())
    key = tmp_path / "key.json"
    key.write_text(json.dumps(rfc7517_rsa))
    args = {
        "generate": ("generate", "acme", "--size", "2048"),
        "rotate": ("rotate", "acme", "--size", "2048"),
        "import": ("import", "acme", str(key)),
    }[command]
    before = snapshot(made)
    assert one_error(run(*args), 5) == (
        "jwks-tool: error: the sealed key k1 of acme (test) does not open with the store's protection record: the "
        "store's configuration (store.json) was replaced, or the set comes from another store; nothing was written; "
        "restore store.json (or the store's configuration) from a backup\n"
    )
    assert snapshot(made) == before


# ---- 3. no silent downgrade --------------------------------------------------------------------------------------
def plaintext_protection(store_dir: Path) -> dict[str, Any]:
    return {"scheme": "plaintext", "opted_in_at": "2026-01-01T00:00:00Z", "opted_in_by": "me@here"}


@pytest.mark.parametrize("how", ["edited", "copied"])
def test_a_store_with_sealed_keys_refuses_plaintext(run: Run, made: Path, tmp_path: Path, how: str) -> None:
    if how == "edited":
        data = config(made)
        data["protection"]["scheme"] = "plaintext"
    else:
        other = tmp_path / "plain"
        assert run("init", "--plaintext", "--store", str(other)).exit_code == 0
        data = config(other)
    write_config(made, data)
    before = snapshot(made)
    for args in (("rotate", "acme"), ("generate", "other", "--size", "2048")):
        error = one_error(run(*args), 5)
        assert "holds sealed keys" in error
        assert "JWKS_TOOL_ALLOW_PLAINTEXT=1" in error
    assert snapshot(made) == before


def test_plaintext_with_the_opt_in_writes_and_says_so(run: Run, made: Path) -> None:
    data = config(made)
    data["protection"] = plaintext_protection(made)
    write_config(made, data)
    result = run("generate", "other", "--size", "2048", env={"JWKS_TOOL_ALLOW_PLAINTEXT": "1"})
    assert result.exit_code == 0, result.stderr
    assert result.stderr == (
        f"jwks-tool: warning: private keys are written unencrypted: the store {made} uses the plaintext scheme\n"
    )


def test_a_plaintext_store_says_so_on_every_write(run: Run, store_dir: Path) -> None:
    assert run("init", "--plaintext").exit_code == 0
    result = run("generate", "acme", "--size", "2048")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == (
        f"jwks-tool: warning: private keys are written unencrypted: the store {store_dir} uses the plaintext scheme\n"
    )
    shown = run("show", "acme")
    assert shown.exit_code == 0
    assert shown.stderr == ""


@pytest.mark.parametrize(
    ("member", "value"),
    [("salt", "AAAAAAAAAAAAAAAAAAAAAA"), ("iterations", 600_001), ("kdf", "PBKDF2-HMAC-SHA1"), ("extra", "x")],
)
def test_an_edited_protection_record_is_damage(run: Run, made: Path, member: str, value: object) -> None:
    data = config(made)
    data["protection"][member] = value
    write_config(made, data)
    error = one_error(run("export", "acme", "--private", "--yes"), 5)
    assert "protection record" in error


def test_a_store_of_the_previous_release_keeps_working(run: Run, store_dir: Path) -> None:
    """The legacy check value (no binding to the protection record) is accepted, and left as it is."""
    from jwks_tool.core.b64 import b64url_encode

    protection, _ = new_passphrase_protection(PASSPHRASE, iterations=1000)
    legacy = PassphraseSealer(salt=os.urandom(16), iterations=1000, passphrase=lambda confirm: PASSPHRASE)
    protection["salt"] = b64url_encode(legacy._salt)
    protection["check"] = legacy.seal({"check": True}, context={"purpose": "passphrase-check"})
    store_dir.mkdir(mode=0o700)
    document = {"format": "jwks-tool-store", "schema": 1, "created": "2026-01-01T00:00:00Z", "protection": protection}
    (store_dir / "store.json").write_text(json.dumps(document))
    os.chmod(store_dir / "store.json", 0o600)
    assert run("generate", "acme", "--size", "2048").exit_code == 0
    assert run("export", "acme", "--private", "--yes").exit_code == 0
    assert one_error(run("export", "acme", "--private", "--yes", env=WRONG), 8) == WRONG_LINE
    assert config(store_dir)["protection"] == protection


def test_key_vault_config_with_a_disabled_first_version_is_tampering(run: Run, kv: Any) -> None:
    from tests.integration.test_keyvault_store import cli_url, reader

    url = cli_url(kv)
    assert run("generate", "acme", "--size", "2048", "--store", url).exit_code == 0
    client = reader(kv)
    first = next(iter(client.list_properties_of_secret_versions("jwks-tool-store")))
    plain = {"format": "jwks-tool-store", "schema": 1, "created": "2026-01-01T00:00:00Z"}
    client.update_secret_properties("jwks-tool-store", first.version, enabled=False)
    client.set_secret("jwks-tool-store", json.dumps(plain | {"protection": {"scheme": "plaintext"}}))
    for args in (("rotate", "acme"), ("export", "acme", "--private", "--yes")):
        error = one_error(run(*args, "--store", url), 5)
        assert "disabled" in error


def test_key_vault_store_without_a_config_but_with_sets_is_tampering(run: Run, kv: Any) -> None:
    from tests.integration.test_keyvault_store import cli_url, reader

    url = cli_url(kv)
    assert run("generate", "acme", "--size", "2048", "--store", url).exit_code == 0
    client = reader(kv)
    client.begin_delete_secret("jwks-tool-store").wait()
    client.purge_deleted_secret("jwks-tool-store")
    error = one_error(run("generate", "other", "--size", "2048", "--store", url), 5)
    assert "no configuration" in error


# ---- 4. permissions ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "mode"),
    [("store.json", 0o666), ("sets", 0o777), ("sets/test", 0o777), ("sets/test/acme.json", 0o666), (".", 0o770)],
)
def test_a_store_file_or_folder_others_can_write_is_refused(run: Run, made: Path, path: str, mode: int) -> None:
    os.chmod(made / path, mode)
    for args in (("list",), ("show", "acme"), ("export", "acme")):
        error = one_error(run(*args), 5)
        assert "can be written by other users" in error


def test_a_store_file_owned_by_another_user_is_refused(run: Run, made: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("chown needs root")
    os.chown(made / "sets" / "test" / "acme.json", 4242, 4242)
    error = one_error(run("show", "acme"), 5)
    assert "owned by another user" in error


def test_a_parent_folder_others_can_write_is_refused_unless_sticky(run: Run, tmp_path: Path) -> None:
    parent = tmp_path / "shared"
    parent.mkdir()
    store = parent / "store"
    assert run("generate", "acme", "--size", "2048", "--store", str(store)).exit_code == 0
    os.chmod(parent, 0o777)  # noqa: S103 - what is refused
    error = one_error(run("list", "--store", str(store)), 5)
    assert "can be written by other users" in error
    assert str(parent) in error
    os.chmod(parent, 0o777 | stat.S_ISVTX)  # noqa: S103 - as /tmp
    assert run("list", "--store", str(store)).exit_code == 0


@pytest.mark.parametrize(
    ("path", "commands"),
    [
        ("sets/test/acme.json", [("list",), ("export", "acme"), ("rotate", "acme", "--size", "2048")]),
        ("store.json", [("list",), ("export", "acme"), ("rotate", "acme", "--size", "2048")]),
        ("audit.jsonl", [("log",), ("check",), ("rotate", "acme", "--size", "2048")]),
        (".lock", [("rotate", "acme", "--size", "2048")]),
        ("sets", [("list",), ("export", "acme"), ("rotate", "acme", "--size", "2048")]),
        ("sets/test", [("list",), ("export", "acme"), ("rotate", "acme", "--size", "2048")]),
    ],
)
def test_a_symbolic_link_inside_the_store_is_refused(
    run: Run, made: Path, tmp_path: Path, path: str, commands: list[tuple[str, ...]]
) -> None:
    elsewhere = tmp_path / "ww"
    elsewhere.mkdir()
    os.chmod(elsewhere, 0o777)  # noqa: S103 - anyone could change what the link points to
    target = elsewhere / Path(path).name
    os.replace(made / path, target)
    os.symlink(target, made / path)
    what = "folder" if target.is_dir() else "file"
    before = snapshot(elsewhere)
    for args in commands:
        assert one_error(run(*args), 5) == (
            f"jwks-tool: error: the store {what} {made / path} is a symbolic link; put the real {what} in its place "
            f"(a link can lead to a {what} others can change)\n"
        ), args
    assert snapshot(elsewhere) == before


# ---- 5. KDF rounds ---------------------------------------------------------------------------------------------------
def test_kdf_rounds_above_the_maximum_are_refused_at_once(run: Run, made: Path) -> None:
    data = config(made)
    data["protection"]["iterations"] = 2_000_000_000
    write_config(made, data)
    error = one_error(run("export", "acme", "--private", "--yes"), 5)
    assert "2,000,000,000 KDF rounds" in error
    assert "10,000,000" in error


def test_open_protection_refuses_too_many_rounds() -> None:
    protection, _ = new_passphrase_protection("pw", iterations=1000)
    with pytest.raises(StoreCorruptError, match="KDF rounds"):
        open_protection(protection | {"iterations": 10_000_001}, lambda confirm: "pw")


# ---- 6. what is read from a store is checked -----------------------------------------------------------------------
def edit_set(made: Path, change: Callable[[dict[str, Any]], None], name: str = "acme") -> None:
    path = made / "sets" / "test" / f"{name}.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def flip(text: str) -> str:
    return text[:10] + ("A" if text[10] != "A" else "B") + text[11:]


def test_a_damaged_public_key_is_refused_by_every_read(run: Run, made: Path) -> None:
    def damage(data: dict[str, Any]) -> None:
        data["keys"][0]["public_jwk"]["n"] = flip(data["keys"][0]["public_jwk"]["n"])

    edit_set(made, damage)
    for args in (("export", "acme"), ("show", "acme"), ("list",), ("export", "acme", "--format", "jwks")):
        error = one_error(run(*args), 5)
        assert "does not match its thumbprint" in error, args
    checked = run("check")  # a failing set-damaged finding (tests/integration/test_damaged_sets.py)
    assert checked.exit_code == 2
    assert "ERROR: acme (test): damaged: key 'k1': its public JWK does not match its thumbprint" in checked.stdout


def weak_public_key(kid: str) -> dict[str, Any]:
    """A real RSA-1024 public JWK for use "enc": what an attacker who can write the set file might swap in."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    members = keymod.public_key_to_jwk(rsa.generate_private_key(65537, 1024).public_key())  # noqa: S505
    return {"kty": "RSA", "use": "enc", "kid": kid, "alg": "RS256", **members}


def swap_in_a_weak_key(data: dict[str, Any]) -> None:
    key = data["keys"][0]
    weak = weak_public_key(key["kid"]) | {"exp": key["public_jwk"]["exp"]}
    key["public_jwk"], key["thumbprint"] = weak, keymod.thumbprint(weak)  # size stays 2048, use is "enc"


def swap_in_a_weak_key_and_its_size(data: dict[str, Any]) -> None:
    swap_in_a_weak_key(data)
    data["keys"][0]["public_jwk"]["use"] = "sig"
    data["keys"][0]["size"] = 1024


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (swap_in_a_weak_key, "its modulus has 1024 bits, its record says 2048"),
        (swap_in_a_weak_key_and_its_size, "RSA 1024 is too weak"),
        (lambda data: data["keys"][0].update(size=4096), "its modulus has 2048 bits, its record says 4096"),
        (lambda data: data["keys"][0]["public_jwk"].update(use="enc"), "for use 'enc', not sig"),
        (lambda data: data["keys"][0]["public_jwk"].update(key_ops=["verify", "encrypt"]), "key_ops"),
        (lambda data: data["keys"][0]["public_jwk"].update(x5u="https://evil.example/c.pem"), "has x5u"),
        (lambda data: data["keys"][0]["public_jwk"].update(x5c=["MIIB"]), "has x5c"),
        (lambda data: data["keys"][0]["public_jwk"].update(jku="https://evil.example/jwks"), "has jku"),
        (lambda data: data["keys"][0]["public_jwk"].update(alg="RS512"), "alg 'RS512', its record says 'RS256'"),
        (lambda data: data["keys"][0].update(alg="ES256"), "alg 'ES256' is not an RSA signing algorithm"),
        (lambda data: data["keys"][0].update(kty="EC"), "kty 'RSA', its record says 'EC'"),
        (lambda data: data["keys"][0].update(expires="2099-01-01T00:00:00Z"), "is not its recorded expiry"),
        (lambda data: data["keys"][0]["public_jwk"].update(exp=4070908800), "is not its recorded expiry"),
        (lambda data: data.update(profile="lenient"), "names the unknown profile 'lenient'"),
    ],
    ids=[
        "weak-key-swapped",
        "weak-key-and-size",
        "size",
        "use",
        "key_ops",
        "x5u",
        "x5c",
        "jku",
        "public-alg",
        "record-alg",
        "kty",
        "expires",
        "exp",
        "profile",
    ],
)
def test_a_record_that_does_not_say_what_its_public_key_is_is_refused_by_every_read(
    run: Run, made: Path, change: Callable[[dict[str, Any]], None], says: str
) -> None:
    edit_set(made, change)
    for args in (("export", "acme"), ("show", "acme"), ("list",), ("export", "acme", "--format", "jwks")):
        error = one_error(run(*args), 5)
        assert says in error, (args, error)
    checked = run("check")  # a failing set-damaged finding naming the same problem
    assert checked.exit_code == 2
    assert checked.stdout.startswith("ERROR: acme (test): damaged: ")
    assert says in checked.stdout


def test_an_ec_key_in_a_maskinporten_set_is_damage(run: Run, store_dir: Path) -> None:
    assert run("generate", "ec", "--profile", "generic", "--kty", "EC").exit_code == 0
    edit_set(store_dir, lambda data: data.update(profile="maskinporten"), name="ec")
    assert "which the maskinporten profile does not take" in one_error(run("export", "ec"), 5)


def test_a_set_file_copied_to_another_environment_is_refused(run: Run, made: Path) -> None:
    data = json.loads((made / "sets" / "test" / "acme.json").read_text())
    data["env"] = "prod"
    (made / "sets" / "prod").mkdir(mode=0o700)
    (made / "sets" / "prod" / "acme.json").write_text(json.dumps(data))
    os.chmod(made / "sets" / "prod" / "acme.json", 0o600)
    error = one_error(run("export", "acme", "--env", "prod"), 5)
    assert error == (
        "jwks-tool: error: key 'k1' in acme (prod): its sealed half was sealed for set 'acme/test', not 'acme/prod' "
        "(the set file was copied or changed); restore the set from a backup\n"
    )
    assert run("export", "acme").exit_code == 0  # the original is fine


@pytest.mark.parametrize("kid", ["k1\n", "k 1", ""])
def test_a_bad_kid_in_the_store_is_damage(run: Run, made: Path, kid: str) -> None:
    def rename(data: dict[str, Any]) -> None:
        data["keys"][0]["kid"] = kid
        data["keys"][0]["public_jwk"]["kid"] = kid

    edit_set(made, rename)
    error = one_error(run("show", "acme"), 5)
    assert "kid" in error


def test_a_kid_that_differs_from_its_public_jwk_is_damage(run: Run, made: Path) -> None:
    edit_set(made, lambda data: data["keys"][0]["public_jwk"].update(kid="other"))
    assert "kid" in one_error(run("export", "acme"), 5)


def test_a_bad_set_name_in_the_store_is_damage(run: Run, made: Path) -> None:
    path = made / "sets" / "test" / "acme.json"
    data = json.loads(path.read_text())
    data["name"] = "evil\n"
    (made / "sets" / "test" / "evil\n.json").write_text(json.dumps(data))
    os.chmod(made / "sets" / "test" / "evil\n.json", 0o600)
    assert "set name" in one_error(run("list"), 5)


# ---- 7. a trailing newline -----------------------------------------------------------------------------------------
def test_a_name_or_kid_with_a_trailing_newline_is_refused(run: Run, store_dir: Path) -> None:
    one_error(run("generate", "evil\n", "--size", "2048"), 3)
    result = run("generate", "acme", "--size", "2048", "--kid", "k1\n")
    assert result.exit_code in (3, 4), result.stderr
    assert not (store_dir / "sets").exists() or not any((store_dir / "sets").rglob("*.json"))


def test_validating_regexes_match_whole_strings() -> None:
    from jwks_tool.core.b64 import b64url_decode
    from jwks_tool.core.model import KID_RE, SET_NAME_RE, SetRef
    from jwks_tool.errors import InputError
    from jwks_tool.integrations.azure.connection import SECRET_NAME_RE
    from jwks_tool.stores.keyvault import decode_set_name

    for pattern in (SET_NAME_RE, KID_RE, SECRET_NAME_RE):
        assert pattern.fullmatch("abc")
        assert not pattern.fullmatch("abc\n")
        assert not pattern.match("abc\n")  # also for callers that still call match
    with pytest.raises(InputError):
        SetRef.parse("acme\n")
    with pytest.raises(Exception, match="base64"):
        b64url_decode("AQ\n")
    assert decode_set_name("acme") == "acme"


def test_no_validating_regex_uses_a_dollar_anchor() -> None:
    package = Path(keymod.__file__).parent
    offenders = [
        f"{path.relative_to(package)}:{number}"
        for path in package.rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if ("re.compile(" in line or "re.match(" in line) and '$"' in line
    ]
    assert offenders == []


# ---- 8. no crash hook in the product, no stale temp file ----------------------------------------------------------
def test_the_package_ships_no_crash_hook() -> None:
    package = Path(keymod.__file__).parent
    for path in package.rglob("*.py"):
        text = path.read_text()
        assert "JWKS_TOOL_TEST_CRASH_AT" not in text, path
        assert "_crash_point" not in text, path
        if "testing" not in path.parts:
            assert "os.kill(" not in text, path


def test_a_write_sweeps_stale_temp_files_from_every_store_folder(run: Run, made: Path) -> None:
    stale = [
        made / ".store.json.x1.tmp",
        made / "sets" / "test" / ".other.json.x2.tmp",
        made / "sets" / "prod" / ".acme.json.x3.tmp",
        made / "sets" / ".x4.tmp",
    ]
    (made / "sets" / "prod").mkdir(mode=0o700)
    for path in stale:
        path.write_text('{"d": "private key material"}')
        os.chmod(path, 0o600)
    assert run("rotate", "acme").exit_code == 0
    assert [path for path in stale if path.exists()] == []


@pytest.mark.parametrize(
    ("member", "value"),
    [
        ("salt", "AAAAAAAAAAAAAAAAAAAAAA"),
        ("iterations", 2_000_000_000),
        ("kdf", "PBKDF2-HMAC-SHA1"),
        ("scheme", "plaintext"),
    ],
)
def test_check_fails_on_an_edited_protection_record(run: Run, made: Path, member: str, value: object) -> None:
    """check needs no passphrase, but it sees what every write would refuse: a tampered protection record."""
    data = config(made)
    data["protection"][member] = value
    write_config(made, data)
    result = run("check", "--json")
    assert result.exit_code == 2, result.stderr
    findings = json.loads(result.stdout)["findings"]
    assert [f["code"] for f in findings] == ["store-damaged"]
    assert "protection record" in findings[0]["message"] or "marked plaintext" in findings[0]["message"]
    assert run("check").stdout.startswith("ERROR: ")
